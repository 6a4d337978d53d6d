//! The machine's shape: its processes and tasks, its transitions, its bounds, and what a
//! run reports.

use crate::fault::FaultHits;
use crate::observe::Reach;
use crate::op::Command;
use crate::subject::Mutant;
use crate::world::Pid;

/// Simulated processes.
pub const PROCESSES: usize = 2;
/// Tasks in each process.
pub const TASKS_PER_PROCESS: usize = 2;
/// Tasks in all, numbered across processes: task `t` belongs to process
/// `t / TASKS_PER_PROCESS`.
pub const TASKS: usize = PROCESSES * TASKS_PER_PROCESS;
/// The pid of process 0; process `p` has pid `FIRST_PID + p`.
pub const FIRST_PID: Pid = 100;
/// Polls one settle may make before it is judged to spin instead of waiting.
pub const SETTLE_BUDGET: usize = 10_000;
/// Guards one task holds at most; further acquires by it are not generated, and ignored.
pub const MAX_GUARDS: usize = 3;
/// How many transitions a case has at most.
pub const MAX_TRANSITIONS: usize = 128;

/// The historic failures the driver must catch, each with and without faults: the seed
/// race (H1, and its own-pid-orphan variant) and the breaker that lets go of its kernel
/// lock before it unlinks by path (H2).
pub const MUTANTS: [Mutant; 3] =
    [Mutant::H1ReleaseOrder, Mutant::H1OwnPidOrphan, Mutant::H2UnlockedBreak];

/// Where the core's failing seeds are kept (committed with the repository).
pub const REGRESSIONS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/proptest_core.txt");
/// Where the core's failing seeds under fault plans are kept.
pub const FAULT_REGRESSIONS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/proptest_faults.txt");

/// One step of the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Starts an [`Op`](crate::Op) (`Acquire`, `TryAcquire` or `Release`) on a task.
    /// Ignored if the task is busy or dead, or, for a release, holds no guard.
    Begin(Command),
    /// Polls a task once: it runs at most one filesystem primitive.
    Step(usize),
    /// Kills a process at once.
    Crash(usize),
    /// Brings a crashed process back as a new incarnation of the same pid.
    Restart(usize),
    /// Moves the clock forward by this many milliseconds.
    Advance(u64),
    /// Polls every task until all are stalled.
    Settle,
}

/// The process a task belongs to.
pub const fn process_of(task: usize) -> usize {
    task / TASKS_PER_PROCESS
}

/// What [`check_machine`](super::check_machine) or [`check_faults_on`](super::check_faults_on)
/// found.
#[derive(Clone, Debug, Default)]
pub struct MachineReport {
    /// Cases run, shrinking runs included.
    pub cases: u32,
    /// Transitions applied over all cases.
    pub transitions: u64,
    /// The interesting states reached, over all cases.
    pub reach: Reach,
    /// Faults the worlds injected, over all cases.
    pub faults_injected: u64,
    /// Where the faults landed, over all cases.
    pub hits: FaultHits,
    /// `"INV-n Name: …"` and the minimal failing sequence, if a case failed.
    pub failure: Option<String>,
}
