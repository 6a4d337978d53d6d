//! Shortest counterexamples, rendered for humans.
//!
//! stateright's breadth-first checker records *a* failing path per property, but it keeps
//! overwriting it while it explores, so the recorded path is valid yet usually not the
//! shortest. Reports want the shortest one, so [`shortest_counterexample`] runs a plain
//! breadth-first search over the same [`Model`] that stops at the first state violating
//! any always-property. It is only run after stateright has found a violation.

use crate::actions::Action;
use crate::config::ProtocolModel;
use crate::state::State;
use stateright::{Expectation, Model};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hash, Hasher};

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
    let mut broken = Vec::new();
    let (nodes, found) = search(model, |s| {
        broken = always.iter().filter(|p| !(p.condition)(model, s)).map(|p| p.name).collect();
        !broken.is_empty()
    });
    found.map(|last| render(&nodes, last, &format!("violates {broken:?}")))
}

/// A breadth-first search node: a state and the (parent index, action) that reached it.
pub type Node = (State, Option<(usize, Action)>);

/// Breadth-first search from the initial states, in a deterministic order, stopping at the
/// first state for which `stop` holds. States are deduplicated by 64-bit fingerprint. Returns the nodes visited (a parent tree, in BFS
/// order) and the index of the stopping state, if any; without a stop it returns every
/// reachable state.
pub fn search(
    model: &ProtocolModel,
    mut stop: impl FnMut(&State) -> bool,
) -> (Vec<Node>, Option<usize>) {
    let mut nodes: Vec<Node> = Vec::new();
    let mut seen = HashSet::new();
    for s in model.init_states() {
        seen.insert(fingerprint(&s));
        nodes.push((s, None));
    }
    let mut next = 0;
    let mut actions = Vec::new();
    while next < nodes.len() {
        if stop(&nodes[next].0) {
            return (nodes, Some(next));
        }
        model.actions(&nodes[next].0, &mut actions);
        for action in actions.drain(..) {
            let Some(s) = model.next_state(&nodes[next].0, action.clone()) else {
                continue;
            };
            if seen.insert(fingerprint(&s)) {
                nodes.push((s, Some((next, action))));
            }
        }
        next += 1;
    }
    (nodes, None)
}

/// A 64-bit fingerprint of a state (as stateright itself uses); `DefaultHasher::new()`
/// has fixed keys, so the search order is deterministic.
fn fingerprint(s: &State) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// Renders the path to `nodes[last]` as numbered actions, then `what` and the state.
pub fn render(nodes: &[Node], last: usize, what: &str) -> String {
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
    let _ = write!(out, "{what} in state {:#?}", nodes[last].0);
    out
}
