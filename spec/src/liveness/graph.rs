//! The explored state graph, built explicitly, and its strongly connected components.
//!
//! [`Graph::explore`] runs the same breadth-first search as stateright's checker over
//! [`ProtocolModel`]'s `init_states`, `actions` and `next_state`, but keeps every edge
//! (with its action) and, per state, the set of tasks that have a step enabled. States are
//! keyed by value, not by fingerprint, so no two states are ever merged by a collision.
//! [`Graph::components`] is Tarjan's algorithm, iterative (an explicit call stack, so the
//! depth of the graph never meets the thread's stack), over a subgraph chosen by a node
//! filter and an edge filter.

use crate::actions::Action;
use crate::config::ProtocolModel;
use crate::state::{Pc, State, TaskId};
use stateright::Model;
use std::collections::HashMap;

/// Index of a state in [`Graph::states`]; states are numbered in breadth-first order, so a
/// smaller index means a shorter path from the initial state.
pub type NodeId = u32;

/// A transition of the graph.
#[derive(Clone, Debug)]
pub struct Edge {
    /// The target state.
    pub to: NodeId,
    /// The action taken.
    pub action: Action,
}

impl Edge {
    /// The task that moves, or `None` for an environment action (crash, pid reuse, and a
    /// deadline's [`Action::Abandon`], which fairness does not demand).
    pub fn task(&self) -> Option<TaskId> {
        match self.action {
            Action::Step { task, .. } => Some(task),
            Action::Crash { .. } | Action::ReusePid { .. } | Action::Abandon { .. } => None,
        }
    }
}

/// Every reachable state of a model, with every transition.
pub struct Graph {
    /// The reachable states, in breadth-first order (the initial state first).
    pub states: Vec<State>,
    /// The breadth-first tree: how each state was first reached.
    pub parent: Vec<Option<(NodeId, Action)>>,
    /// Per state, the tasks with an enabled step, as a bit mask (bit `t` for task `t`).
    pub enabled: Vec<u32>,
    /// Outgoing edges of state `v`: `edges[first[v]..first[v + 1]]`.
    first: Vec<usize>,
    edges: Vec<Edge>,
}

/// The strongly connected components of a subgraph.
pub struct Components {
    /// The component of each state, `None` for states outside the subgraph.
    pub of: Vec<Option<u32>>,
    /// The states of each component.
    pub members: Vec<Vec<NodeId>>,
}

fn node(i: usize) -> NodeId {
    NodeId::try_from(i).expect("fewer than 2^32 states")
}

impl Graph {
    /// Explores every reachable state of `model`.
    pub fn explore(model: &ProtocolModel) -> Graph {
        assert!(model.owner.len() <= 32, "a task mask has 32 bits");
        let mut index: HashMap<State, NodeId> = HashMap::new();
        let mut g = Graph {
            states: Vec::new(),
            parent: Vec::new(),
            enabled: Vec::new(),
            first: vec![0],
            edges: Vec::new(),
        };
        for s in model.init_states() {
            if !index.contains_key(&s) {
                index.insert(s.clone(), node(g.states.len()));
                g.states.push(s);
                g.parent.push(None);
            }
        }
        let mut actions = Vec::new();
        let mut next = 0;
        while next < g.states.len() {
            model.actions(&g.states[next], &mut actions);
            let mut mask = 0;
            for action in actions.drain(..) {
                let Some(s) = model.next_state(&g.states[next], action.clone()) else {
                    continue;
                };
                if let Action::Step { task, .. } = action {
                    mask |= 1 << task;
                }
                let to = *index.entry(s).or_insert_with_key(|s| {
                    g.states.push(s.clone());
                    g.parent.push(Some((node(next), action.clone())));
                    node(g.states.len() - 1)
                });
                g.edges.push(Edge { to, action });
            }
            g.enabled.push(mask);
            g.first.push(g.edges.len());
            next += 1;
        }
        g
    }

    /// A graph given by its states and each state's outgoing edges (for tests of the
    /// algorithms on hand-made graphs); the first state is the initial one.
    #[cfg(test)]
    pub(crate) fn from_edges(states: Vec<State>, out: Vec<Vec<Edge>>) -> Graph {
        let mut g = Graph {
            parent: vec![None; states.len()],
            states,
            enabled: Vec::new(),
            first: vec![0],
            edges: Vec::new(),
        };
        let mut queue = std::collections::VecDeque::from([0]);
        let mut seen = vec![false; g.states.len()];
        seen[0] = true;
        while let Some(v) = queue.pop_front() {
            for e in &out[v as usize] {
                if !seen[e.to as usize] {
                    seen[e.to as usize] = true;
                    g.parent[e.to as usize] = Some((v, e.action.clone()));
                    queue.push_back(e.to);
                }
            }
        }
        for edges in out {
            g.enabled.push(edges.iter().filter_map(Edge::task).fold(0, |m, t| m | 1 << t));
            g.edges.extend(edges);
            g.first.push(g.edges.len());
        }
        g
    }

    /// The first environment action (crash, pid reuse) that lies on a cycle, rendered; the
    /// fairness assumption needs there to be none.
    pub fn environment_on_cycle(&self, all: &Components) -> Option<String> {
        (0..node(self.states.len())).find_map(|v| {
            let on_cycle = |e: &&Edge| all.of[e.to as usize] == all.of[v as usize];
            let e = self.edges(v).iter().filter(|e| e.task().is_none()).find(on_cycle)?;
            Some(format!("{:?} lies on a cycle through state {v}", e.action))
        })
    }

    /// The outgoing edges of `v`.
    pub fn edges(&self, v: NodeId) -> &[Edge] {
        let v = v as usize;
        &self.edges[self.first[v]..self.first[v + 1]]
    }

    /// Number of transitions.
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// Tarjan's strongly connected components of the subgraph made of the states for
    /// which `keep` holds and the edges between them for which `follow` holds.
    pub fn components(
        &self,
        keep: impl Fn(NodeId) -> bool,
        follow: impl Fn(NodeId, &Edge) -> bool,
    ) -> Components {
        const NONE: u32 = u32::MAX;
        let n = self.states.len();
        let mut index = vec![NONE; n];
        let mut low = vec![0; n];
        let mut on_stack = vec![false; n];
        let mut stack: Vec<NodeId> = Vec::new();
        let mut calls: Vec<(NodeId, usize)> = Vec::new();
        let mut out = Components { of: vec![None; n], members: Vec::new() };
        let mut counter = 0;
        for root in 0..node(n) {
            if index[root as usize] != NONE || !keep(root) {
                continue;
            }
            macro_rules! visit {
                ($v:expr) => {{
                    let v: NodeId = $v;
                    index[v as usize] = counter;
                    low[v as usize] = counter;
                    counter += 1;
                    stack.push(v);
                    on_stack[v as usize] = true;
                    calls.push((v, 0));
                }};
            }
            visit!(root);
            while let Some((v, at)) = calls.last_mut() {
                let v = *v;
                if let Some(e) = self.edges(v).get(*at) {
                    *at += 1;
                    let w = e.to;
                    if !keep(w) || !follow(v, e) {
                        continue;
                    }
                    if index[w as usize] == NONE {
                        visit!(w);
                    } else if on_stack[w as usize] {
                        low[v as usize] = low[v as usize].min(index[w as usize]);
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(u, _)) = calls.last() {
                    low[u as usize] = low[u as usize].min(low[v as usize]);
                }
                if low[v as usize] == index[v as usize] {
                    let id = u32::try_from(out.members.len()).expect("few components");
                    let mut members = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w as usize] = false;
                        out.of[w as usize] = Some(id);
                        members.push(w);
                        if w == v {
                            break;
                        }
                    }
                    out.members.push(members);
                }
            }
        }
        out
    }

    /// The breadth-first path from the initial state to `v`, as actions.
    pub fn stem(&self, mut v: NodeId) -> Vec<Action> {
        let mut path = Vec::new();
        while let Some((p, action)) = &self.parent[v as usize] {
            path.push(action.clone());
            v = *p;
        }
        path.reverse();
        path
    }
}

/// Whether task `t`'s process is alive in `s`.
pub(super) fn alive(m: &ProtocolModel, s: &State, t: TaskId) -> bool {
    s.procs[usize::from(m.owner[usize::from(t)])].alive
}

/// Task `t`'s program counter in `s`.
pub(super) fn pc(s: &State, t: TaskId) -> Pc {
    s.tasks[usize::from(t)].pc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SpecConfig;

    /// Tarjan on the full graph partitions it, and every edge goes forward in the
    /// components' completion order (Tarjan emits components in reverse topological order).
    #[test]
    fn components_partition_the_graph_in_topological_order() {
        let g = Graph::explore(&SpecConfig { processes: 1, ..SpecConfig::default() }.model());
        let c = g.components(|_| true, |_, _| true);
        let total: usize = c.members.iter().map(Vec::len).sum();
        assert_eq!(total, g.states.len());
        assert!(c.members.len() > 1 && c.members.len() < g.states.len());
        for v in 0..node(g.states.len()) {
            for e in g.edges(v) {
                assert!(c.of[e.to as usize] <= c.of[v as usize], "edge goes back in the order");
            }
        }
    }
}
