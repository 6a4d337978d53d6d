//! Loom: every interleaving of the core's scenarios, up to a preemption bound.
//!
//! Run with `RUSTFLAGS="--cfg sessionlock_loom" cargo test --release -p sessionlock-model
//! --test loom_core`. `LOOM_MAX_PREEMPTIONS` sets the bound (default 2: the seed race
//! needs two; CI runs 3 on every test, figures in `.ci/run`). Every interleaving up to
//! that bound is explored: exhaustive for the bound, not beyond it. Where a shared
//! scenario is larger than its property needs, loom explores a smaller size of it
//! (`crash-two-breakers-dead`), so that bound 3 fits.
#![cfg(sessionlock_loom)]

use std::sync::{Arc, Mutex};

use sessionlock_model::failure;
use sessionlock_model::harness::{self, Scenario};
use sessionlock_model::scenarios::*;
use sessionlock_model::{Mutant, Reach, Reachable, Subject};

thread_local! {
    /// The scenario this test thread explores, for the panic hook.
    static EXPLORING: std::cell::Cell<&'static str> = const { std::cell::Cell::new("") };
}

/// Loom reports a deadlock by panicking inside the model; the unwinding then drops loom
/// objects whose drop needs the stopped scheduler, and the double panic aborts the test
/// binary before any `catch_unwind` sees it. So the verdict is written from the panic
/// hook, which runs first, straight to stdout (not the test harness's capture):
/// `loom SCENARIO FAILED: INV-3 …` for a deadlock, INV-4 for a branch budget overrun.
fn report_from_the_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| info.payload().downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            let named = failure::named(&message);
            if named != message {
                use std::io::Write as _;
                let scenario = EXPLORING.with(std::cell::Cell::get);
                let _ = writeln!(std::io::stdout(), "loom {scenario} FAILED: {named}");
            }
            previous(info);
        }));
    });
}

fn explore(scenario: &'static Scenario, subject: Subject) -> Reach {
    report_from_the_panic_hook();
    EXPLORING.with(|s| s.set(scenario.name));
    let total = Arc::new(Mutex::new(Reach::default()));
    let sink = Arc::clone(&total);
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    let checked = failure::catch(|| {
        builder.check(move || {
            let reach = harness::run(scenario, subject);
            sink.lock().unwrap_or_else(|e| e.into_inner()).add(&reach);
        });
    });
    if let Err(message) = checked {
        // A deadlock is a lost wake-up (INV-3), a branch budget overrun no progress
        // (INV-4); `model/mutants.sh` reads this line.
        println!("loom {} FAILED: {message}", scenario.name);
        std::panic::resume_unwind(Box::new(message));
    }
    let reach = *total.lock().unwrap_or_else(|e| e.into_inner());
    println!("loom {}: {reach:?}", scenario.name);
    reach
}

fn explore_core(scenario: &'static Scenario) {
    explore(scenario, Subject::Core).assert_reached(scenario.name, scenario.reaches);
}

fn explore_queue(scenario: &'static Scenario) {
    explore(scenario, Subject::Queue).assert_reached(scenario.name, scenario.reaches);
}

/// Checks: INV-1, INV-3, INV-5, INV-7
#[test]
fn loom_two_tasks_one_process() {
    explore_core(&TWO_TASKS);
}

/// The seed race's window: T1 releases while T2 acquires.
/// Checks: INV-1, INV-3, INV-5
#[test]
fn loom_seed_window() {
    explore_core(&SEED_WINDOW);
}

/// Checks: INV-1, INV-3, INV-5
#[test]
fn loom_three_tasks_one_process() {
    explore_core(&THREE_TASKS);
}

/// Checks: INV-1, INV-2, INV-3, INV-5
#[test]
fn loom_two_processes() {
    explore_core(&TWO_PROCESSES);
}

/// Checks: INV-1, INV-2, INV-4
#[test]
fn loom_crash_takeover() {
    explore_core(&CRASH_TAKEOVER);
}

/// A holder past the stale age is waited for, never broken (H5, H6).
/// Checks: INV-1, INV-2, INV-5
#[test]
fn loom_age_takeover() {
    explore_core(&AGE_TAKEOVER);
}

/// Release binds by nonce where inode numbers drift (H17).
/// Checks: INV-1, INV-3, INV-5, INV-7
#[test]
fn loom_drift_two_tasks() {
    explore_core(&DRIFT_TWO_TASKS);
}

/// A breaker takes over a dead holder's file where inode numbers drift (H17).
/// Checks: INV-1, INV-2, INV-4
#[test]
fn loom_drift_crash_takeover() {
    explore_core(&DRIFT_CRASH_TAKEOVER);
}

/// Where kernel locks prove nothing, a dead holder's file is broken by its dead pid.
/// Checks: INV-1, INV-2, INV-4
#[test]
fn loom_degraded_crash_takeover() {
    explore_core(&DEGRADED_CRASH_TAKEOVER);
}

/// Two breakers of one dead inode: the holder acquired and crashed before they started
/// (the crash's timing against a contender is crash-takeover's); only one may remove
/// the dead file, and both get the lock in turn. Every execution reaches the takeover.
/// Checks: INV-1, INV-2, INV-4
#[test]
fn loom_crash_two_breakers() {
    explore_core(&CRASH_TWO_BREAKERS_DEAD);
}

/// A try-acquire that meets another process's lock hands its turn to the sibling
/// queued behind it (H19).
/// Checks: INV-1, INV-2, INV-3, INV-5
#[test]
fn loom_try_acquire() {
    explore_core(&TRY_ACQUIRE);
}

/// Waiters in the kernel and in memory time out while the holder keeps the lock; the
/// turn is handed on and nothing is left behind.
/// Checks: INV-1, INV-3, INV-5
#[test]
fn loom_timeout_hand_on() {
    explore_core(&TIMEOUT_HAND_ON);
}

/// With the cross-process queue: a waiter takes a ticket behind a holder; the releaser,
/// wanting the lock again, queues behind that ticket, waits on it alone, and is woken by
/// the waiter's release (R5q). Every entry is checked against INV-9's bound.
/// Checks: INV-1, INV-2, INV-3, INV-5, INV-7, INV-9
#[test]
fn loom_queue_hand_on() {
    explore_queue(&QUEUE_HAND_ON);
}

/// With the cross-process queue: a queued waiter's process is killed at any moment; its
/// successor removes its ticket at once, under its flock, and a fresh process acquires
/// with the clock still.
/// Checks: INV-1, INV-2, INV-4, INV-9
#[test]
fn loom_queue_waiter_killed() {
    explore_queue(&QUEUE_WAITER_KILLED);
}

/// Reproduces H1: loom finds the seed race in the pre-fix release order.
/// Checks: INV-3
#[test]
#[should_panic(expected = "INV-3 NoSpuriousTimeout")]
fn loom_catches_h1_release_order() {
    explore(&TWO_TASKS, Subject::Mutant(Mutant::H1ReleaseOrder));
}

/// Reproduces H1 (own-pid-orphan variant): the sibling deletes the live file.
/// Checks: INV-2
#[test]
#[should_panic(expected = "INV-2 NoLiveRemoval")]
fn loom_catches_h1_own_pid_orphan() {
    explore(&TWO_TASKS, Subject::Mutant(Mutant::H1OwnPidOrphan));
}

/// The loom suite as a whole reaches every interesting state.
#[test]
fn loom_reaches_every_state() {
    let mut all = Reach::default();
    for scenario in [&TWO_TASKS, &CRASH_TAKEOVER] {
        all.add(&explore(scenario, Subject::Core));
    }
    all.assert_reached("loom suite", &Reachable::ALL);
}
