//! Fair cycles and their lassos: a stem from the initial state, then a cycle.

use super::graph::{Edge, Graph, NodeId};
use crate::actions::Action;
use crate::state::{State, TaskId};
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

/// A fair execution that ends in a cycle.
pub struct Lasso {
    /// The state where the cycle starts and ends.
    entry: NodeId,
    /// The cycle's actions; empty when the run stutters in `entry` (no task can move).
    cycle: Vec<Action>,
}

impl Lasso {
    /// A fair cycle through states where `waiting` holds, taking no `good` transition and
    /// visiting a state where `witness` holds; the one whose entry is nearest the initial
    /// state. See the parent module for why a component check suffices.
    pub fn find(
        g: &Graph,
        waiting: impl Fn(&State) -> bool,
        good: impl Fn(&State, &Edge, &State) -> bool,
        witness: impl Fn(&State) -> bool,
    ) -> Option<Lasso> {
        let st = |v: NodeId| &g.states[v as usize];
        let follow = |v: NodeId, e: &Edge| !good(st(v), e, st(e.to));
        let comps = g.components(|v| waiting(st(v)), follow);
        let mut best: Option<Lasso> = None;
        for (id, members) in comps.members.iter().enumerate() {
            let inside =
                |v: NodeId, e: &Edge| comps.of[e.to as usize] == Some(id as u32) && follow(v, e);
            let (mut always, mut taken, mut cyclic) = (u32::MAX, 0u32, false);
            for &v in members {
                always &= g.enabled[v as usize];
                cyclic |= g.enabled[v as usize] == 0;
                for e in g.edges(v).iter().filter(|e| inside(v, e)) {
                    cyclic = true;
                    taken |= e.task().map_or(0, |t| 1 << t);
                }
            }
            let fair = always & !taken == 0;
            if !cyclic || !fair || !members.iter().any(|&v| witness(st(v))) {
                continue;
            }
            let lasso = Self::tour(g, members, taken, &inside, &|v| witness(st(v)));
            if best.as_ref().is_none_or(|b| lasso.entry < b.entry) {
                best = Some(lasso);
            }
        }
        best
    }

    /// A cycle through a fair component: stutter in a witness state where no task can move,
    /// if there is one; else from the component's first state, for every task enabled
    /// somewhere in it take a step of it (if one is `taken` inside) or visit a state where it
    /// cannot move, visit a witness state, and come back. The cycle itself is then fair: a
    /// task enabled in all of its states takes a step in it.
    fn tour(
        g: &Graph,
        members: &[NodeId],
        taken: u32,
        inside: &dyn Fn(NodeId, &Edge) -> bool,
        witness: &dyn Fn(NodeId) -> bool,
    ) -> Lasso {
        let stuck = members.iter().copied().filter(|&v| g.enabled[v as usize] == 0 && witness(v));
        if let Some(entry) = stuck.min() {
            return Lasso { entry, cycle: Vec::new() };
        }
        let entry = *members.iter().min().expect("components are not empty");
        let mut cycle: Vec<&Edge> = Vec::new();
        let last = |cycle: &[&Edge]| cycle.last().map_or(entry, |e| e.to);
        let somewhere = members.iter().fold(0, |m, &v| m | g.enabled[v as usize]);
        let disabled = |v: NodeId, t: TaskId| g.enabled[v as usize] & (1 << t) == 0;
        for t in (0..32).filter(|t| somewhere & (1 << t) != 0) {
            if taken & (1 << t) != 0 {
                cycle.extend(path(g, last(&cycle), inside, &|_, e| e.task() == Some(t)));
            } else if !disabled(entry, t) && !cycle.iter().any(|e| disabled(e.to, t)) {
                cycle.extend(path(g, last(&cycle), inside, &|_, e| disabled(e.to, t)));
            }
        }
        if !witness(entry) && !cycle.iter().any(|e| witness(e.to)) {
            cycle.extend(path(g, last(&cycle), inside, &|_, e| witness(e.to)));
        }
        if last(&cycle) != entry || cycle.is_empty() {
            cycle.extend(path(g, last(&cycle), inside, &|_, e| e.to == entry));
        }
        let cycle = cycle.into_iter().map(|e| e.action.clone()).collect();
        Lasso { entry, cycle }
    }

    /// The lasso as numbered actions (stem, then the cycle), then `what` and the state where
    /// the cycle starts, in the form of [`crate::trace::render`].
    pub fn render(&self, g: &Graph, what: &str) -> String {
        let stem = g.stem(self.entry);
        let mut out = String::new();
        for (i, action) in stem.iter().enumerate() {
            let _ = writeln!(out, "{:>3}. {action:?}", i + 1);
        }
        if self.cycle.is_empty() {
            let _ = writeln!(out, "  then no task can move, forever");
        } else {
            let _ = writeln!(out, "  then, forever:");
        }
        for (i, action) in self.cycle.iter().enumerate() {
            let _ = writeln!(out, "{:>3}. {action:?}", stem.len() + i + 1);
        }
        let _ =
            write!(out, "{what}; the cycle starts in state {:#?}", g.states[self.entry as usize]);
        out
    }
}

/// A shortest path inside the component from `from` that ends with an edge for which
/// `target` holds.
fn path<'g>(
    g: &'g Graph,
    from: NodeId,
    inside: &dyn Fn(NodeId, &Edge) -> bool,
    target: &dyn Fn(NodeId, &Edge) -> bool,
) -> Vec<&'g Edge> {
    let mut parent: HashMap<NodeId, (NodeId, &Edge)> = HashMap::new();
    let mut queue = VecDeque::from([from]);
    while let Some(v) = queue.pop_front() {
        for e in g.edges(v).iter().filter(|e| inside(v, e)) {
            if target(v, e) {
                let mut edges = vec![e];
                let mut at = v;
                while at != from {
                    let (p, pe) = parent[&at];
                    edges.push(pe);
                    at = p;
                }
                edges.reverse();
                return edges;
            }
            if e.to != from && !parent.contains_key(&e.to) {
                parent.insert(e.to, (v, e));
                queue.push_back(e.to);
            }
        }
    }
    unreachable!("a strongly connected component reaches every edge inside it")
}
