//! `sessionlock-spec`: an executable model of sessionlock's cross-process lock protocol,
//! checked exhaustively with [stateright](https://docs.rs/stateright/0.31).
//!
//! The model follows `spec/protocol.md` step by step (one stateright action per
//! atomic Linux operation, see [`actions`] for the atomicity assumptions):
//!
//! * **publish**: `O_TMPFILE` + `flock` + `write`, then `linkat(L)`; EEXIST is contention;
//! * **probe**: `open(L)`, then, as a *separate* step, `flock(LOCK_EX|LOCK_NB)`; success
//!   proves the holder dead; refused, the task keeps its handle and waits in the kernel
//!   until the flock is free, then holds it and judges the inode as after a success;
//! * **break**: holding the probed inode's flock, check that `L` still names it, `unlink(L)`,
//!   `close` (if `L` names something else: `close`, as its own step);
//! * with [`SpecConfig::deadlines`], **abandon**: a task gives up before it holds (deadline,
//!   cancellation) or drops its guard before the release's unlink; a queued waiter leaves
//!   the queue, a task with the turn hands it on;
//! * **release**: mark the registry entry releasing, check that `L` names the own inode,
//!   `unlink(L)`, `close`, hand the turn to the first queued in-process waiter (FIFO) or
//!   mark the entry idle; or, with a waiter queued, **hand off** the hold itself (inode,
//!   handle, flock) to it in memory, at most [`SpecConfig::hand_off_bound`] times in a row
//!   for one published file (INV-9);
//! * with [`SpecConfig::queue`], the **cross-process queue** of `spec/protocol.md` section
//!   11 (in the code behind `Options::queue`): a task with its process's turn lists the tickets beside `L`;
//!   with none it publishes `L`, else (or if it then finds `L` held) it publishes a ticket
//!   `L.q.<seq>.<id>` (`seq` = highest listed + 1), waits in the kernel on its
//!   predecessor's ticket only, removes it if its waiter died, and at the head publishes
//!   `L`; a release removes its ticket last;
//! * with [`SpecConfig::tries`] too, the queue's **try-acquire** (T1 to T3 of section 11):
//!   a task with its process's turn may list the tickets, try each listed ticket's flock
//!   once (removing a dead waiter's, giving up after a probe of `L` at a live one), then
//!   publish `L` without a ticket, and on EEXIST probe `L` and give up if its holder is
//!   alive;
//! * the environment **crashes** processes (handles close, files stay) and **reuses pids**.
//!
//! The first process runs several tasks (default 2) that share its in-process registry
//! entry, enough for the seed race H1; the others run one task each. Pids appear only in
//! payloads, which the real protocol never uses as proof, so INV-1/2/4 hold regardless of
//! pid reuse. In-process waiters queue in FIFO order ([`state::Proc::queue`]), as the
//! code's registry does. [`Mutant`]s re-introduce the historic failures (which close and
//! retry on a refused flock, as the historic code did) and three liveness bugs: `M3` (the
//! turn handed on, the waiter never woken), `lifo-hand-off`, and `breaker-livelock`, the
//! kernel wait above closing what it returned with unjudged; and `unbounded-hand-off`,
//! which hands a file on in memory past the bound; and two of the queue: `releaser-barges`
//! (a newcomer publishes `L` past the tickets) and `wakes-nobody` (a successor's wait on its
//! predecessor's ticket never returns). Each must be caught.
//!
//! The refinement check in `sessionlock-model` (`model/src/refine/`) replays the real
//! core's recorded steps in this model, one action per primitive.
//!
//! Properties ([`properties`], [`progress`]): always INV-1 MutualExclusion, INV-2
//! NoLiveRemoval, INV-4 Recovery, INV-6 StaleGuardHarmless and INV-9 BoundedBypass; the
//! progress check "INV-4 Progress"; and seven sometimes-properties (contention, a waiter
//! parked on a releasing entry, a crash while holding, a stale takeover after a crash, a
//! pid reused over a stale lock, two breakers racing on one dead inode, K in-memory
//! hand-offs of one file) that keep the check from passing vacuously. With the queue, also
//! always "INV-9 BoundedOvertaking" (a queued waiter is overtaken by at most N = P − 1
//! later arrivals) and three more sometimes-properties (two waiters queued across
//! processes, a waiter overtaken N times, a crashed waiter's ticket still queued), and with
//! the try-acquire two more (one about to remove a dead waiter's ticket, one that found the
//! queue busy).
//!
//! Liveness ([`liveness`]) is checked on the same model's explicit state graph, as fair-cycle
//! detection under weak fairness: INV-3 (a queued waiter is handed the turn, FIFO within a
//! process) and INV-4 (while someone wants the lock, someone gets it); cross-process
//! starvation is shown to be possible, as expected; with the queue, it is refuted for every
//! task ("INV-9 StarvationFree"). It is checked without
//! [`SpecConfig::deadlines`] (an abandon may come at any step, so it would lie on cycles).
//!
//! The fenced store over PostgreSQL (INV-8 FencedWrites) is a model of its own, in
//! [`fence`]: a holder that lost its lock without knowing it keeps writing, and the
//! store's check at commit must reject it.
//!
//! ```
//! let report = sessionlock_spec::check(&sessionlock_spec::SpecConfig::default());
//! assert!(report.violated.is_empty());
//! assert!(report.reached.iter().all(|(_, reached)| *reached));
//! ```

pub mod actions;
pub mod config;
pub mod fence;
pub mod liveness;
pub mod model;
pub mod mutant;
pub mod progress;
pub mod properties;
pub mod state;
pub mod trace;

pub use actions::Action;
pub use config::{ProtocolModel, SpecConfig};
pub use mutant::Mutant;
pub use state::State;

use stateright::{Checker, Expectation, Model};

/// The outcome of one exhaustive check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecReport {
    /// What was checked, e.g. `"protocol/3p"` or `"H1/2p"`.
    pub name: String,
    /// Distinct states reached.
    pub unique_states: usize,
    /// States generated, repeats included (i.e. transitions explored, plus the initial state).
    pub state_count: usize,
    /// Names of the always-properties that have a counterexample, in declaration order,
    /// followed by [`progress::INV4_PROGRESS`] if the progress check failed.
    pub violated: Vec<String>,
    /// Each sometimes-property, and whether an example was reached.
    pub reached: Vec<(String, bool)>,
    /// A shortest path to a state violating an always-property: the numbered actions, the
    /// violated property names and the violating state (see [`trace`]).
    pub counterexample: Option<String>,
}

/// Runs stateright's breadth-first search over the whole state space, then (unless
/// disabled) the progress check of [`progress`], and reports the results. (stateright would stop early only once *every* property had a discovery,
/// which no configuration reaches: the real protocol violates nothing, and no mutant
/// violates all four always-properties.)
pub fn check(config: &SpecConfig) -> SpecReport {
    let model = config.model();
    let props = model.properties();
    let checker = model.checker().threads(config.threads.max(1)).spawn_bfs().join();
    let mut violated = Vec::new();
    let mut reached = Vec::new();
    for p in &props {
        let found = checker.discovery(p.name).is_some();
        match p.expectation {
            Expectation::Sometimes => reached.push((p.name.to_owned(), found)),
            _ if found => violated.push(p.name.to_owned()),
            _ => {}
        }
    }
    let mut counterexample =
        if violated.is_empty() { None } else { trace::shortest_counterexample(checker.model()) };
    if let Some(budget) = config.progress_budget
        && let Err(stuck) = progress::check_progress(checker.model(), budget)
    {
        violated.push(progress::INV4_PROGRESS.to_owned());
        counterexample.get_or_insert(stuck);
    }
    SpecReport {
        name: config.name(),
        unique_states: checker.unique_state_count(),
        state_count: checker.state_count(),
        violated,
        reached,
        counterexample,
    }
}
