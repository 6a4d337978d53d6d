//! The stepped driver: the core against a sequential reference, one filesystem
//! primitive at a time, with or without a fault plan.
//!
//! One [`World`](crate::World) in step mode holds two processes (pids 100 and 101) of
//! two tasks each, all on one lock path, polled by a single-threaded
//! [`Stepper`](crate::exec::Stepper). Each [`Transition`] starts an op on a task, polls
//! one task once (so it runs exactly one primitive), crashes or restarts a process (pid
//! reuse), moves the clock, or settles every task. Two runs drive it:
//!
//! | run | cases | the clock | faults |
//! |---|---|---|---|
//! | [`check_machine`] | sequences from the [`Reference`] | moves ([`Transition::Advance`]) | none |
//! | [`check_faults_on`] | one to three [`Fault`](crate::fault::Fault)s ([`FaultReference`]), then sequences as above | moves | installed in the world |
//!
//! **Two halves of the reference.** proptest-state-machine generates (and shrinks) a
//! whole sequence before the system runs, so its [`Reference`] cannot see when an op
//! completes. It holds what the sequence alone decides: which processes are alive, and a
//! *belief* about which tasks are busy and how many guards they hold, used to bias
//! generation and to keep shrunk sequences sensible. The exact sequential model (who is
//! inside, with how many guards, which task is busy with what) is kept by the [`Sut`],
//! updated as each op completes, and every check compares the core against it. A
//! transition that does not apply to the system's real state (an op begun on a busy
//! task, a release by a task holding no guard) is ignored, so every subsequence the
//! shrinker tries is valid.
//!
//! **One oracle.** Each op is polled inside a witness that records the faults injected
//! into its primitives and the files it published. A failure is allowed only as the
//! honest report of a fault injected into its own op (a typed error naming the lock
//! path, the injected primitive and the injected error), or as a timeout whose deadline
//! passed while something held the lock; with no plan installed, no fault explains
//! anything.
//!
//! | check | when | invariant |
//! |---|---|---|
//! | an acquire returns a guard while another task is inside | on completion | INV-1 |
//! | the world saw a bad unlink, or a task meet its own process's kernel lock | after every poll | INV-2, INV-3 |
//! | an acquire fails, unless it timed out though, when its deadline passed with every task stalled, no other task was busy or inside and no crash had left a file, or a fault injected into it explains the failure | on completion | INV-3 (INV-4 after a crash) |
//! | a failed acquire leaves an entry (siblings idle) or a file it published | on completion | INV-5 |
//! | a try-acquire with no other task busy or inside, kept so until it returns, finds the lock held | on completion | INV-4 (after a crash), INV-5 |
//! | a release reports a count other than the reference's, reports its file removed while it remains, or fails unexplained by a fault injected into it | on completion | INV-7, INV-5 |
//! | after releasing everything (faults still armed, then disarmed), a task is still waiting | teardown | INV-3 |
//! | each surviving process (under faults), then a fresh one, cannot acquire at once | teardown | INV-3, INV-4 |
//! | a lock file or a registry entry remains | teardown | INV-5 |
//!
//! Against [`Subject::Queue`](crate::Subject::Queue) (the core with the cross-process
//! queue) the same checks run, tickets counting as files at teardown, and the world adds
//! INV-9: no queued waiter is overtaken more than P − 1 times.

mod oracle;
mod plan;
mod runner;
mod shape;
mod sut;
mod teardown;

pub use plan::{Belief, FaultReference, Plan, Reference};
pub use runner::{check_faults, check_faults_on, check_machine, replay, replay_faults};
pub use shape::{
    FAULT_REGRESSIONS, FIRST_PID, MAX_GUARDS, MAX_TRANSITIONS, MUTANTS, MachineReport, PROCESSES,
    REGRESSIONS, SETTLE_BUDGET, TASKS, TASKS_PER_PROCESS, Transition, process_of,
};
pub use sut::Sut;
