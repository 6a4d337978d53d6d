//! Liveness under weak fairness, checked as fair-cycle detection on the explicit state graph.
//!
//! stateright's `eventually` is only sound on acyclic paths, and starvation and livelock are
//! cycles, so liveness is checked here on the whole reachable graph ([`graph::Graph`]), built
//! from the same model and configurations the safety search checks.
//!
//! # Fairness
//!
//! An execution is **weakly fair** if every task that is enabled from some point on takes a
//! step infinitely often. Environment actions (crash, pid reuse) are not required to happen;
//! they are budgeted, so none lies on a cycle, which [`check_liveness`] verifies (a failure
//! is reported as [`ENV_ON_CYCLE`]). A state in which no task can move may be the last state
//! of an execution (it stutters there forever): a deadlock is a fair cycle of its own.
//!
//! # Method
//!
//! A liveness property "whenever *waiting* holds, *good* eventually happens" is refuted by a
//! fair execution that ends in a cycle of states where *waiting* holds throughout and no
//! *good* transition is taken. Restrict the graph to the *waiting* states and the transitions
//! that are not *good*, and compute its strongly connected components (Tarjan). A component C
//! contains such a fair cycle exactly when it has a cycle (or a stuttering state) and every
//! task enabled in **all** states of C takes a step inside C: the cycle that tours all of C is
//! then fair, and no sub-cycle can be fair if some task is enabled throughout C and never
//! taken inside it. Weak fairness needs no further decomposition. A counterexample is printed
//! as a lasso: a shortest path from the initial state, then a cycle inside C that takes a
//! step of every task the fairness demands.
//!
//! # Properties
//!
//! | name | waiting | good | proved |
//! |---|---|---|---|
//! | [`INV3_HANDED_ON`] | task `w` is parked in memory | `w` leaves the queue | for every task of a process with two tasks or more: no fair run keeps `w` parked forever unless, from some point on, the task whose turn it waits behind stays in the cross-process acquire (that is INV-4's business) |
//! | [`INV3_FIFO`] | (safety) | | a waiter parked earlier is handed the turn before one of its process parked later |
//! | [`INV4_SOMEONE_PROGRESSES`] | some live task wants the lock | any task enters the critical section | no deadlock and no livelock: in every fair run, while someone wants the lock, someone gets it |
//! | [`STARVATION`] | the first task of the last process wants the lock | that task enters | **expected to fail** without the queue: cross-process starvation-freedom is not a property of today's protocol; the lasso shows how |
//! | [`INV9_STARVATION_FREE`] | (with [`ProtocolModel::queue`]) live task `w` wants the lock | `w` enters | for **every** task: cross-process starvation-freedom; no fair run keeps a live task wanting the lock forever (then [`STARVATION`] is not searched: it is this property for one task) |
//!
//! Liveness is checked without the deadlines setting ([`ProtocolModel::deadlines`]): an
//! abandon is unbudgeted, so with it on it would lie on cycles ([`ENV_ON_CYCLE`]). "Eventually
//! holds, or reaches its deadline" is thus checked in its stronger form without deadlines.

mod fifo;
pub mod graph;
mod lasso;

use crate::config::ProtocolModel;
use crate::config::SpecConfig;
use crate::mutant::Mutant;
use crate::state::{Entry, Pc, State, TaskId};
use graph::{Edge, Graph, NodeId, alive, pc};

#[cfg(test)]
mod tests;
use lasso::Lasso;

/// A parked waiter is eventually handed its process's turn (INV-3, in-process).
pub const INV3_HANDED_ON: &str = "INV-3 TurnHandedOn";
/// Within a process, waiters are handed the turn in the order they parked (INV-3).
pub const INV3_FIFO: &str = "INV-3 FifoWithinProcess";
/// While someone wants the lock, someone gets it: no deadlock, no livelock (INV-4).
pub const INV4_SOMEONE_PROGRESSES: &str = "INV-4 SomeoneProgresses";
/// The model breaks the fairness assumption: an environment action lies on a cycle.
pub const ENV_ON_CYCLE: &str = "environment action on a cycle";
/// Expected without the queue: a fair cycle starving one cross-process waiter.
pub const STARVATION: &str = "cross-process starvation (expected)";
/// With the queue: no live task that wants the lock is starved (INV-9).
pub const INV9_STARVATION_FREE: &str = "INV-9 StarvationFree";

/// Reachability: a live task is parked in memory.
pub const WAITER_PARKED: &str = "waiter parked in memory";
/// Reachability: a parked waiter is handed the turn.
pub const TURN_HANDED_ON: &str = "parked waiter handed the turn";
/// Reachability: two waiters of one process are parked at once (needs three tasks).
pub const TWO_QUEUED: &str = "two waiters queued in one process";
/// Reachability (queue): a live task waits in the kernel on its predecessor's ticket, and
/// such a wait returns.
pub const PREDECESSOR_WAIT: &str = "waiter woken by its predecessor's ticket";

/// The outcome of one liveness check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LivenessReport {
    /// What was checked, e.g. `"protocol/2p/2t"` (2 processes, the first with 2 tasks).
    pub name: String,
    /// Reachable states.
    pub states: usize,
    /// Transitions.
    pub transitions: usize,
    /// Strongly connected components of the whole graph.
    pub components: usize,
    /// Of which contain a cycle.
    pub cyclic: usize,
    /// The properties refuted (names above), in table order.
    pub violated: Vec<String>,
    /// Each reachability property, and whether it was reached.
    pub reached: Vec<(String, bool)>,
    /// The lasso refuting the first violated property.
    pub counterexample: Option<String>,
    /// The starvation lasso ([`STARVATION`]), if found: the expected weakness without the
    /// queue (with it, a starvation lasso is a violation of [`INV9_STARVATION_FREE`]).
    pub starvation: Option<String>,
}

/// Runs every liveness check of the table above on `config`'s model.
pub fn check_liveness(config: &SpecConfig) -> LivenessReport {
    let model = config.model();
    let g = Graph::explore(&model);
    let all = g.components(|_| true, |_, _| true);
    let cyclic = (0..all.members.len())
        .filter(|&c| {
            all.members[c]
                .iter()
                .any(|&v| g.edges(v).iter().any(|e| all.of[e.to as usize] == Some(c as u32)))
        })
        .count();
    let mut violated = Vec::new();
    let mut counterexample = None;
    let mut refute = |name: &str, found: Option<String>| {
        if let Some(text) = found {
            violated.push(name.to_owned());
            counterexample.get_or_insert(text);
        }
    };
    let env_cycle = g.environment_on_cycle(&all);
    refute(ENV_ON_CYCLE, env_cycle);
    let handed = queued_tasks(&model).into_iter().find_map(|w| turn_handed_on(&model, &g, w));
    refute(INV3_HANDED_ON, handed);
    let (fifo, two_queued) = fifo::check(&model, &g);
    refute(INV3_FIFO, fifo.err());
    refute(INV4_SOMEONE_PROGRESSES, someone_progresses(&model, &g));
    let starvation = if model.queue {
        let tasks = 0..TaskId::try_from(model.owner.len()).expect("few tasks");
        refute(INV9_STARVATION_FREE, tasks.into_iter().find_map(|w| starves(&model, &g, w)));
        None
    } else {
        model.owner.len().checked_sub(1).and_then(|last| {
            let w = model.owner.iter().position(|&p| p == model.owner[last])?;
            starves(&model, &g, TaskId::try_from(w).ok()?)
        })
    };
    let mut reached = vec![
        (
            WAITER_PARKED.to_owned(),
            g.states.iter().any(|s| parked_live(&model, s).next().is_some()),
        ),
        (TURN_HANDED_ON.to_owned(), turn_handed_on_reached(&model, &g)),
    ];
    let widest = (0..model.processes)
        .map(|p| model.owner.iter().filter(|&&o| usize::from(o) == p).count())
        .max();
    if widest >= Some(3) {
        reached.push((TWO_QUEUED.to_owned(), two_queued > 0));
    }
    if model.queue {
        reached.push((PREDECESSOR_WAIT.to_owned(), predecessor_wait_reached(&model, &g)));
    } else {
        reached.push((STARVATION.to_owned(), starvation.is_some()));
    }
    let what = config.mutant.map_or(if config.queue { "queue" } else { "protocol" }, Mutant::name);
    LivenessReport {
        name: format!("{what}/{}p/{}t", config.processes, config.tasks_in_first_process),
        states: g.states.len(),
        transitions: g.edge_count(),
        components: all.members.len(),
        cyclic,
        violated,
        reached,
        counterexample,
        starvation,
    }
}

/// The configuration a mutant's liveness is checked in: two processes, the first with three
/// tasks (two waiters can queue at once, which `lifo-hand-off` needs), one crash, one pid
/// reuse (the breaker livelock needs a kernel waiter on a holder that then crashes).
pub fn mutant_config(mutant: Mutant) -> SpecConfig {
    SpecConfig { mutant: Some(mutant), tasks_in_first_process: 3, ..SpecConfig::default() }
}

/// Whether a task at `pc` is in the acquire, in memory or on the filesystem (it wants the
/// lock): neither dead, nor holding, nor releasing.
pub fn wants(pc: Pc) -> bool {
    match pc {
        Pc::Want
        | Pc::Parked
        | Pc::Handed(_)
        | Pc::Publish
        | Pc::Contended
        | Pc::Opened(_)
        | Pc::Waiting(_)
        | Pc::Proved(_)
        | Pc::Checked(_)
        | Pc::Unbound(_)
        | Pc::Broke(_)
        | Pc::Stale(_)
        | Pc::Compared(_)
        | Pc::Orphan
        | Pc::Look
        | Pc::Join
        | Pc::Take(_)
        | Pc::Queued
        | Pc::Behind(_)
        | Pc::Scan => true,
        Pc::Dead
        | Pc::Held(_)
        | Pc::RelCheck(_)
        | Pc::RelUnlink(_)
        | Pc::RelClose(_)
        | Pc::RelDone
        | Pc::RelTicket
        | Pc::RelCloseFirst(_)
        | Pc::RelUnlinkByPath(_) => false,
    }
}

/// The live tasks parked in memory in `s`.
fn parked_live<'a>(m: &'a ProtocolModel, s: &'a State) -> impl Iterator<Item = TaskId> + 'a {
    (0..s.tasks.len())
        .map(|t| TaskId::try_from(t).expect("few tasks"))
        .filter(move |&t| pc(s, t) == Pc::Parked && alive(m, s, t))
}

/// The tasks that can queue in memory: those of processes with two tasks or more.
fn queued_tasks(m: &ProtocolModel) -> Vec<TaskId> {
    (0..m.owner.len())
        .filter(|&t| m.owner.iter().filter(|&&p| p == m.owner[t]).count() > 1)
        .map(|t| TaskId::try_from(t).expect("few tasks"))
        .collect()
}

/// Whether edge `e` out of `s` is task `w`'s own step out of the queue.
fn leaves_queue(s: &State, e: &Edge, to: &State, w: TaskId) -> bool {
    e.task() == Some(w) && pc(s, w) == Pc::Parked && pc(to, w) != Pc::Parked
}

fn turn_handed_on_reached(m: &ProtocolModel, g: &Graph) -> bool {
    (0..g.states.len()).any(|v| {
        let s = &g.states[v];
        g.edges(v as NodeId).iter().any(|e| {
            e.task()
                .is_some_and(|w| alive(m, s, w) && leaves_queue(s, e, &g.states[e.to as usize], w))
        })
    })
}

/// Whether a live task's kernel wait on its predecessor's ticket returns somewhere.
fn predecessor_wait_reached(m: &ProtocolModel, g: &Graph) -> bool {
    (0..g.states.len()).any(|v| {
        let s = &g.states[v];
        g.edges(v as NodeId).iter().any(|e| {
            e.task().is_some_and(|w| {
                alive(m, s, w)
                    && matches!(pc(s, w), Pc::Behind(_))
                    && !matches!(pc(&g.states[e.to as usize], w), Pc::Behind(_))
            })
        })
    })
}

/// Whether the turn `w` waits behind is in the cross-process acquire: its process's entry
/// is acquiring for another task that is running the filesystem protocol.
fn turn_in_cross_process_acquire(m: &ProtocolModel, s: &State, w: TaskId) -> bool {
    match s.procs[usize::from(m.owner[usize::from(w)])].entry {
        Entry::Acquiring(h) => h != w && pc(s, h) != Pc::Parked,
        _ => false,
    }
}

/// INV-3, in-process, for waiter `w`.
fn turn_handed_on(m: &ProtocolModel, g: &Graph, w: TaskId) -> Option<String> {
    let waiting = |s: &State| pc(s, w) == Pc::Parked && alive(m, s, w);
    let good = |s: &State, e: &Edge, to: &State| leaves_queue(s, e, to, w);
    let witness = |s: &State| !turn_in_cross_process_acquire(m, s, w);
    let found = Lasso::find(g, waiting, good, witness)?;
    Some(found.render(g, &format!("task {w} stays parked while its process's turns go on")))
}

/// Whether the step `e` from `s` puts task `t` into the critical section.
fn enters(s: &State, e: &Edge, to: &State) -> bool {
    e.task().is_some_and(|t| !matches!(pc(s, t), Pc::Held(_)) && matches!(pc(to, t), Pc::Held(_)))
}

/// INV-4: while some live task wants the lock, some task eventually enters.
fn someone_progresses(m: &ProtocolModel, g: &Graph) -> Option<String> {
    let waiting = |s: &State| {
        (0..s.tasks.len()).any(|t| {
            let t = TaskId::try_from(t).expect("few tasks");
            alive(m, s, t) && wants(pc(s, t))
        })
    };
    let found = Lasso::find(g, waiting, enters, |_| true)?;
    Some(found.render(g, "someone wants the lock and nobody ever gets it"))
}

/// The expected weakness: a fair cycle in which task `w` wants the lock and never gets it.
fn starves(m: &ProtocolModel, g: &Graph, w: TaskId) -> Option<String> {
    let waiting = |s: &State| alive(m, s, w) && wants(pc(s, w));
    let good = |s: &State, e: &Edge, to: &State| e.task() == Some(w) && enters(s, e, to);
    let found = Lasso::find(g, waiting, good, |_| true)?;
    Some(found.render(g, &format!("task {w} wants the lock and never gets it")))
}
