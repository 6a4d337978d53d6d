//! The protocol model's static configuration, which every other part of the spec reads:
//! who runs which tasks, the fault budgets and the mutant, and what a check asks for
//! ([`SpecConfig`]). The dynamic part is [`State`];
//! the transitions are in [`crate::actions`] and [`crate::model`].

use crate::mutant::Mutant;
use crate::state::{Inode, State};

/// The protocol model: static configuration; the dynamic part is [`State`].
#[derive(Clone, Debug)]
pub struct ProtocolModel {
    /// The process (pid) of each task.
    pub owner: Vec<u8>,
    /// Number of processes.
    pub processes: usize,
    /// The historic failure re-introduced, if any.
    pub mutant: Option<Mutant>,
    /// Crash budget.
    pub crashes: u8,
    /// Pid-reuse budget.
    pub respawns: u8,
    /// Whether tasks may abandon an acquire at any point before they hold (a deadline
    /// passing, a cancelled future), or a hold before its unlink (a dropped guard whose
    /// release cannot complete): [`Action::Abandon`](crate::actions::Action::Abandon).
    pub deadlines: bool,
    /// K: at most this many consecutive in-memory hand-offs of one published file
    /// ([`Op::HandOff`](crate::actions::Op::HandOff), INV-9); 0 disables them.
    pub hand_off_bound: u8,
    /// Whether the cross-process queue of `spec/protocol.md` section 11 is on: tickets
    /// beside `L`, a wait on the predecessor's ticket only, no barging. Off for today's
    /// protocol (and the refinement replay of today's code).
    pub queue: bool,
    /// Whether a task with its process's turn may go the try-acquire way with the queue
    /// (`Locker::try_acquire`, `spec/protocol.md` section 11, T1 to T3): list the tickets,
    /// try each one's flock once, and publish `L` without a ticket only if none is held,
    /// probing `L` and giving up where an acquire would wait. Only with [`Self::queue`].
    pub tries: bool,
}

impl ProtocolModel {
    /// Whether mutant `m` is active.
    pub fn is(&self, m: Mutant) -> bool {
        self.mutant == Some(m)
    }

    /// What a contender's liveness test on `inode` reports *now*: `true` means "dead,
    /// break it". The real protocol asks only the kernel: the flock is free.
    pub fn probe_reports_dead(&self, s: &State, inode: &Inode) -> bool {
        match self.mutant {
            Some(m) if m.judges_by_payload() => s.publisher_dead(inode),
            Some(Mutant::H7PidReuseTrust) => {
                !s.procs[usize::from(inode.pid)].alive && inode.flock.is_none()
            }
            _ => inode.flock.is_none(),
        }
    }
}

/// What to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecConfig {
    /// Number of processes (pids), 1 to 4. Default 2.
    pub processes: usize,
    /// The historic failure to re-introduce; `None` checks the real protocol.
    pub mutant: Option<Mutant>,
    /// Tasks in the first process (they share its registry entry). Default 2.
    pub tasks_in_first_process: usize,
    /// How many process crashes the environment may inject in total. Default 1.
    pub crashes: u8,
    /// How many times a dead pid may be reused by a new process. Default 1.
    pub pid_reuses: u8,
    /// Whether tasks may abandon an acquire before they hold (deadlines, cancellation).
    /// Default `false`.
    pub deadlines: bool,
    /// Step budget of the progress check ([`progress`](crate::progress), reported as
    /// [`progress::INV4_PROGRESS`](crate::progress::INV4_PROGRESS)); `None` skips it. Default `Some(64)`.
    pub progress_budget: Option<usize>,
    /// K, the bound on consecutive in-memory hand-offs of one published file (INV-9).
    /// Default 2: enough for a run of hand-offs to reach its bound in a process of two
    /// tasks and then release through the disk. (The code's bound is larger; the spec's
    /// argument does not depend on K, and the refinement check replays with the code's.)
    pub hand_off_bound: u8,
    /// Whether the cross-process queue (`spec/protocol.md`, section 11) is on. Default
    /// `false` (today's protocol); a mutant of the queue ([`Mutant::needs_queue`]) turns
    /// it on.
    pub queue: bool,
    /// Whether tasks may also try-acquire with the queue ([`ProtocolModel::tries`]).
    /// Default `false`; only with [`Self::queue`].
    pub tries: bool,
    /// Checker threads. Default 1. The search runs to completion, so the counts do not
    /// depend on it; the counterexample comes from a separate deterministic search.
    pub threads: usize,
}

impl Default for SpecConfig {
    fn default() -> Self {
        SpecConfig {
            processes: 2,
            mutant: None,
            tasks_in_first_process: 2,
            crashes: 1,
            pid_reuses: 1,
            deadlines: false,
            progress_budget: Some(64),
            hand_off_bound: 2,
            queue: false,
            tries: false,
            threads: 1,
        }
    }
}

impl SpecConfig {
    /// Builds the stateright model for this configuration.
    pub fn model(&self) -> ProtocolModel {
        assert!((1..=4).contains(&self.processes), "1 to 4 processes");
        assert!((1..=3).contains(&self.tasks_in_first_process), "1 to 3 tasks");
        let mut owner = vec![0; self.tasks_in_first_process];
        owner.extend((1..self.processes).map(|p| u8::try_from(p).expect("few processes")));
        ProtocolModel {
            owner,
            processes: self.processes,
            mutant: self.mutant,
            crashes: self.crashes,
            respawns: self.pid_reuses,
            deadlines: self.deadlines,
            hand_off_bound: self.hand_off_bound,
            queue: self.queue || self.mutant.is_some_and(Mutant::needs_queue),
            tries: self.tries && self.queue,
        }
    }

    /// The report's name: `protocol/2p`, `queue/3p` or the mutant's, e.g. `H1/2p`.
    pub(crate) fn name(&self) -> String {
        let queue = if self.queue && self.mutant.is_none() { "queue" } else { "protocol" };
        let what = self.mutant.map_or(queue, Mutant::name);
        format!("{what}/{}p", self.processes)
    }
}
