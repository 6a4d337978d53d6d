//! FIFO within a process, a safety property checked by a monitor on the graph.
//!
//! The monitor does not read the model's queue: it watches the tasks' program counters
//! only. For each ordered pair `(v, w)` of tasks of one process it remembers whether `w`
//! parked while `v` was already parked; the property fails on a transition that takes `w`
//! out of the queue while `v` is still in it. The product of the graph and the monitor is
//! searched breadth-first, so a counterexample is a shortest path.

use super::graph::{Graph, NodeId, alive, pc};
use crate::actions::Action;
use crate::config::ProtocolModel;
use crate::state::{Pc, State, TaskId};
use std::collections::VecDeque;
use std::fmt::Write as _;

/// Per monitor bit, how a product state was first reached: `Some(None)` for the initial
/// state, `Some(Some((state, bit, action)))` for a step from `(state, bit)`.
type Seen = [Option<Option<(NodeId, bool, Action)>>; 2];

fn parked(m: &ProtocolModel, s: &State, t: TaskId) -> bool {
    pc(s, t) == Pc::Parked && alive(m, s, t)
}

/// Checks every ordered pair of tasks of one process. Returns the verdict (a rendered
/// shortest path to an overtaking on failure) and how many product states had two waiters
/// queued in order (the reachability count: zero means the check was vacuous).
pub fn check(m: &ProtocolModel, g: &Graph) -> (Result<(), String>, usize) {
    let mut queued = 0;
    for v in 0..m.owner.len() {
        for w in (0..m.owner.len()).filter(|&w| w != v && m.owner[w] == m.owner[v]) {
            let pair = (TaskId::try_from(v).expect("few tasks"), TaskId::try_from(w).expect("few"));
            match pair_check(m, g, pair) {
                Ok(n) => queued += n,
                Err(trace) => return (Err(trace), queued),
            }
        }
    }
    (Ok(()), queued)
}

/// The monitor for `v` queued ahead of `w`.
fn pair_check(m: &ProtocolModel, g: &Graph, (v, w): (TaskId, TaskId)) -> Result<usize, String> {
    let n = g.states.len();
    // seen[state][ahead]: how the product state was first reached.
    let mut seen: Vec<Seen> = vec![[None, None]; n];
    let mut queue = VecDeque::new();
    seen[0][0] = Some(None);
    queue.push_back((0 as NodeId, false));
    let mut queued = 0;
    while let Some((x, ahead)) = queue.pop_front() {
        queued += usize::from(ahead);
        let s = &g.states[x as usize];
        for e in g.edges(x) {
            let to = &g.states[e.to as usize];
            let next = if ahead {
                if parked(m, to, v) && !parked(m, to, w) && alive(m, to, w) {
                    let mut out = render(&seen, (x, ahead));
                    let _ = write!(
                        out,
                        "{:>3}. {:?}\ntask {w} was handed the turn before task {v}, which parked \
                         first, in state {to:#?}",
                        depth(&seen, (x, ahead)) + 1,
                        e.action
                    );
                    return Err(out);
                }
                parked(m, to, v)
            } else {
                parked(m, s, v) && !parked(m, s, w) && parked(m, to, v) && parked(m, to, w)
            };
            let slot = &mut seen[e.to as usize][usize::from(next)];
            if slot.is_none() {
                *slot = Some(Some((x, ahead, e.action.clone())));
                queue.push_back((e.to, next));
            }
        }
    }
    Ok(queued)
}

fn depth(seen: &[Seen], (mut x, mut ahead): (NodeId, bool)) -> usize {
    let mut d = 0;
    while let Some(Some((p, pa, _))) = &seen[x as usize][usize::from(ahead)] {
        (x, ahead, d) = (*p, *pa, d + 1);
    }
    d
}

fn render(seen: &[Seen], (mut x, mut ahead): (NodeId, bool)) -> String {
    let mut steps = Vec::new();
    while let Some(Some((p, pa, action))) = &seen[x as usize][usize::from(ahead)] {
        steps.push(action);
        (x, ahead) = (*p, *pa);
    }
    let mut out = String::new();
    for (i, action) in steps.iter().rev().enumerate() {
        let _ = writeln!(out, "{:>3}. {action:?}", i + 1);
    }
    out
}
