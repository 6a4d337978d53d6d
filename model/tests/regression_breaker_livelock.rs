//! Regression: two contenders of a crashed holder's file handed its kernel lock back and
//! forth forever, each closing the file unjudged after its kernel wait, so neither ever
//! broke it. Found by the proptest machine; fixed in `protocol::acquire_file`, which now
//! judges the file while it holds the lock it waited for.
#![cfg(not(any(sessionlock_loom, sessionlock_shuttle)))]

use sessionlock_model::machine::{Transition, replay};
use sessionlock_model::{Command, Op, Subject};

/// Reproduces the livelock: P1 (tasks 2, 3) waits in the kernel on P0's file; P0 crashes
/// and restarts; its new task probes the same dead file.
/// Checks: INV-4
#[test]
fn two_breakers_of_a_dead_holder_do_not_livelock() {
    let acquire = |task| Transition::Begin(Command { task, op: Op::Acquire });
    let script = [
        acquire(0),
        acquire(2),
        Transition::Settle,
        Transition::Crash(0),
        Transition::Restart(0),
        acquire(0),
        Transition::Step(0),
        Transition::Step(0),
    ];
    let reach = replay(Subject::Core, &script).expect("both contenders get the lock in turn");
    assert!(reach.stale_takeover > 0, "the dead holder's file was broken: {reach:?}");
}
