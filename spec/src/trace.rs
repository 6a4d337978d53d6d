//! Shortest counterexamples, rendered for humans.
//!
//! stateright's breadth-first checker records *a* failing path per property, but it keeps
//! overwriting it while it explores, so the recorded path is valid yet usually not the
//! shortest. Reports want the shortest one, so [`shortest_counterexample`] runs a plain
//! breadth-first search over the same [`Model`] that stops at the first state violating
//! any always-property. It is only run after stateright has found a violation.

use crate::actions::{Action, ProtocolModel};
use crate::state::State;
use stateright::{Expectation, Model};
use std::collections::HashMap;
use std::fmt::Write as _;

/// The shortest path from the initial state to a state violating an always-property,
/// as numbered actions followed by the violated property names and the violating state;
/// `None` if every reachable state satisfies every always-property.
pub fn shortest_counterexample(model: &ProtocolModel) -> Option<String> {
    shortest_violation(model, None)
}

/// Like [`shortest_counterexample`], restricted to the always-property named `property`
/// (e.g. [`crate::properties::INV1`]) if given.
pub fn shortest_violation(model: &ProtocolModel, property: Option<&str>) -> Option<String> {
    let always: Vec<_> = model
        .properties()
        .into_iter()
        .filter(|p| p.expectation == Expectation::Always)
        .filter(|p| property.is_none_or(|name| p.name == name))
        .collect();
    // `nodes` is both the BFS queue and the parent tree.
    let mut nodes: Vec<(State, Option<(usize, Action)>)> = Vec::new();
    let mut seen: HashMap<State, usize> = HashMap::new();
    for s in model.init_states() {
        seen.insert(s.clone(), nodes.len());
        nodes.push((s, None));
    }
    let mut next = 0;
    let mut actions = Vec::new();
    while next < nodes.len() {
        let broken: Vec<_> = always
            .iter()
            .filter(|p| !(p.condition)(model, &nodes[next].0))
            .map(|p| p.name)
            .collect();
        if !broken.is_empty() {
            return Some(render(&nodes, next, &broken));
        }
        model.actions(&nodes[next].0, &mut actions);
        for action in actions.drain(..) {
            let Some(s) = model.next_state(&nodes[next].0, action.clone()) else {
                continue;
            };
            if !seen.contains_key(&s) {
                seen.insert(s.clone(), nodes.len());
                nodes.push((s, Some((next, action))));
            }
        }
        next += 1;
    }
    None
}

fn render(nodes: &[(State, Option<(usize, Action)>)], last: usize, broken: &[&str]) -> String {
    let mut steps = Vec::new();
    let mut at = last;
    while let Some((parent, action)) = &nodes[at].1 {
        steps.push(action);
        at = *parent;
    }
    let mut out = String::new();
    for (i, action) in steps.iter().rev().enumerate() {
        let _ = writeln!(out, "{:>3}. {action:?}", i + 1);
    }
    let _ = write!(out, "violates {broken:?} in state {:#?}", nodes[last].0);
    out
}
