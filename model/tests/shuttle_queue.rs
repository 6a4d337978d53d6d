//! The cross-process queue (`spec/protocol.md`, section 11) under shuttle: the core with
//! `Options::queue` on, in the queue's scenarios. `SHUTTLE_ITERATIONS` sets the depth.
#![cfg(sessionlock_shuttle)]

use sessionlock_model::checkers::{self, Strategy};
use sessionlock_model::harness::Scenario;
use sessionlock_model::scenarios::{
    QUEUE_DRIFT, QUEUE_GIVE_UP, QUEUE_THREE_PROCESSES, QUEUE_WAITER_CRASH,
};
use sessionlock_model::{Reach, Subject};

fn shuttle(scenario: &'static Scenario, strategy: Strategy) -> Reach {
    let reach = checkers::shuttle(scenario, Subject::Queue, strategy);
    println!("shuttle queue {strategy:?} {}: {reach:?}", scenario.name);
    reach.assert_reached(scenario.name, scenario.reaches);
    reach
}

/// Three processes queue; releasers queue behind waiters.
/// Checks: INV-1, INV-2, INV-3, INV-5, INV-9
#[test]
fn shuttle_queue_three_processes() {
    shuttle(&QUEUE_THREE_PROCESSES, Strategy::Random);
    shuttle(&QUEUE_THREE_PROCESSES, Strategy::Pct { depth: 3 });
}

/// A process dies at any moment, queued waiters included; its successors skip its ticket
/// at once, and a fresh process then acquires without waiting.
/// Checks: INV-1, INV-2, INV-4, INV-9
#[test]
fn shuttle_queue_waiter_crash() {
    shuttle(&QUEUE_WAITER_CRASH, Strategy::Random);
}

/// Waiters with tickets time out behind a slow holder, give their tickets up, and leave
/// nothing behind.
/// Checks: INV-1, INV-3, INV-5, INV-9
#[test]
fn shuttle_queue_give_up() {
    shuttle(&QUEUE_GIVE_UP, Strategy::Random);
}

/// Where inode numbers drift between `lstat` and `fstat` (H17), every ticket is still
/// removed by its owner at the end of its release: nothing is left.
/// Checks: INV-1, INV-3, INV-5, INV-9
#[test]
fn shuttle_queue_drift() {
    shuttle(&QUEUE_DRIFT, Strategy::Random);
}
