//! The cross-process queue (`spec/protocol.md`, section 11) under the model's drivers:
//! the core with `Options::queue` on.
#![cfg(not(sessionlock_loom))]

use sessionlock_model::checkers::{self, Strategy};
use sessionlock_model::harness::Scenario;
use sessionlock_model::machine::check_machine;
use sessionlock_model::scenarios::{QUEUE_GIVE_UP, QUEUE_THREE_PROCESSES, QUEUE_WAITER_CRASH};
use sessionlock_model::{Reach, Reachable, Subject};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256)
}

/// The core with the queue matches the sequential reference in every case of the stepped
/// driver, crashes of queued waiters included, and the cases reach what the core's do.
/// The world checks INV-9 at every entry: a queued waiter is overtaken by at most P - 1
/// later arrivals. The cases reach a queue of two tickets, a dead waiter's ticket removed
/// by its successor, and a give-up.
/// Checks: INV-1, INV-2, INV-3, INV-4, INV-5, INV-7, INV-9
#[test]
fn proptest_queue_matches_reference() {
    let report = check_machine(Subject::Queue, cases());
    println!("proptest queue: {report:?}");
    if let Some(failure) = &report.failure {
        panic!("{failure}");
    }
    report.reach.assert_reached("proptest queue", &Reachable::ALL);
    report.reach.assert_reached("proptest queue", &Reachable::QUEUE);
}

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
