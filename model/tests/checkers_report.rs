//! Checkers report, never crash: a deadlock or a step-budget overrun under shuttle is a
//! named invariant failure in the runner's row, and the thread leaves shuttle's scope,
//! so every later check still runs on std primitives.
#![cfg(all(feature = "shuttle", not(sessionlock_loom)))]

use sessionlock_model::checkers::Strategy;
use sessionlock_model::harness::{self, Scenario};
use sessionlock_model::{World, rt, runner, scenarios};

/// Two threads of the scenario wait for each other: the main one joins a thread that
/// waits for a lock the main one holds.
fn deadlock(_: &World) {
    let lock = sessionlock::sync::Arc::new(sessionlock::sync::Mutex::new(()));
    let held = lock.lock();
    let other = sessionlock::sync::Arc::clone(&lock);
    rt::spawn(move || drop(other.lock())).join();
    drop(held);
}

/// The main thread joins a thread that never stops yielding.
fn spin(_: &World) {
    rt::spawn(|| {
        loop {
            shuttle::thread::yield_now();
        }
    })
    .join();
}

const DEADLOCK: Scenario = Scenario { name: "deadlock", setup: deadlock, ..scenarios::SEED_WINDOW };
const SPIN: Scenario = Scenario { name: "spin", setup: spin, ..scenarios::SEED_WINDOW };

fn the_thread_is_back_outside_shuttle() {
    assert!(!sessionlock::sync::in_shuttle_scope(), "a failed shuttle run leaked its scope");
    // An ordinary run on std threads and std mutexes works on this thread afterwards.
    harness::run(&scenarios::TWO_TASKS, sessionlock_model::Subject::Core);
}

/// A shuttle deadlock is a waiter never woken: the row names INV-3, with shuttle's words.
/// Checks: INV-3
#[test]
fn a_shuttle_deadlock_is_reported_as_inv3_and_leaves_the_scope() {
    let row = runner::shuttle_row(&DEADLOCK, Strategy::Random);
    the_thread_is_back_outside_shuttle();
    let failure = row.result.expect_err("the scenario deadlocks");
    assert!(failure.starts_with("INV-3 NoSpuriousTimeout:"), "{failure}");
    assert!(failure.contains("deadlock"), "{failure}");
}

/// A schedule past the step budget is no progress: the row names INV-4.
/// Checks: INV-4
#[test]
fn a_shuttle_step_budget_overrun_is_reported_as_inv4_and_leaves_the_scope() {
    let row = runner::shuttle_row(&SPIN, Strategy::Pct { depth: 3 });
    the_thread_is_back_outside_shuttle();
    let failure = row.result.expect_err("the scenario never ends");
    assert!(failure.starts_with("INV-4 Recovery:"), "{failure}");
    assert!(failure.contains("max_steps"), "{failure}");
}
