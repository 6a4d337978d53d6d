//! Shuttle: the core's scenarios under PCT and random schedules (sampled), and a DFS
//! capped at `SHUTTLE_DFS_MAX` schedules (a sample too: it never finishes the space).
//! `SHUTTLE_ITERATIONS` and `SHUTTLE_DFS_MAX` set the depth.
#![cfg(sessionlock_shuttle)]

use sessionlock_model::checkers::{Strategy, shuttle};
use sessionlock_model::scenarios::*;
use sessionlock_model::{Mutant, Reach, Reachable, Subject};

fn core(scenario: &'static sessionlock_model::harness::Scenario, strategy: Strategy) -> Reach {
    let reach = shuttle(scenario, Subject::Core, strategy);
    println!("shuttle {strategy:?} {}: {reach:?}", scenario.name);
    reach.assert_reached(scenario.name, scenario.reaches);
    reach
}

/// Depth-first over the seed race's window: T1 releases while T2 acquires. Shuttle has
/// no partial-order reduction, so the space (tens of scheduling points per task) is far
/// too large to finish; `SHUTTLE_DFS_MAX` bounds it. Loom covers the window exhaustively
/// up to its preemption bound, stateright the protocol completely.
/// Checks: INV-1, INV-3, INV-5
#[test]
fn shuttle_dfs_seed_window() {
    core(&SEED_WINDOW, Strategy::Dfs);
}

/// Checks: INV-1, INV-3, INV-5, INV-7
#[test]
fn shuttle_pct_two_tasks() {
    core(&TWO_TASKS, Strategy::Pct { depth: 3 });
}

/// Checks: INV-1, INV-3, INV-5
#[test]
fn shuttle_random_three_tasks() {
    core(&THREE_TASKS_TWO_ROUNDS, Strategy::Random);
}

/// Checks: INV-1, INV-2, INV-3, INV-5
#[test]
fn shuttle_pct_two_processes() {
    core(&TWO_PROCESSES, Strategy::Pct { depth: 3 });
}

/// Checks: INV-1, INV-2, INV-4
#[test]
fn shuttle_pct_crash_takeover() {
    core(&CRASH_TAKEOVER, Strategy::Pct { depth: 3 });
}

/// Checks: INV-1, INV-2, INV-4
#[test]
fn shuttle_random_crash_two_breakers() {
    core(&CRASH_TWO_BREAKERS, Strategy::Random);
}

/// A holder past the stale age is waited for, never broken (H5, H6).
/// Checks: INV-1, INV-2, INV-5
#[test]
fn shuttle_random_age_takeover() {
    core(&AGE_TAKEOVER, Strategy::Random);
}

/// Releases and breakers bind by nonce where inode numbers drift (H17).
/// Checks: INV-1, INV-3, INV-5, INV-7
#[test]
fn shuttle_random_drift_two_tasks() {
    core(&DRIFT_TWO_TASKS, Strategy::Random);
}

/// A breaker takes over a dead holder's file where inode numbers drift (H17).
/// Checks: INV-1, INV-2, INV-4
#[test]
fn shuttle_pct_drift_crash_takeover() {
    core(&DRIFT_CRASH_TAKEOVER, Strategy::Pct { depth: 3 });
}

/// Where kernel locks prove nothing, a dead holder's file is broken by its dead pid.
/// Checks: INV-1, INV-2, INV-4
#[test]
fn shuttle_random_degraded_crash_takeover() {
    core(&DEGRADED_CRASH_TAKEOVER, Strategy::Random);
}

/// The shuttle suite as a whole reaches every interesting state.
#[test]
fn shuttle_reaches_every_state() {
    let mut all = Reach::default();
    all.add(&core(&TWO_TASKS, Strategy::Random));
    all.add(&core(&CRASH_TAKEOVER, Strategy::Random));
    all.assert_reached("shuttle suite", &Reachable::ALL);
}

/// Reproduces H1: shuttle finds the seed race.
/// Checks: INV-3
#[test]
#[should_panic(expected = "INV-3 NoSpuriousTimeout")]
fn shuttle_catches_h1_release_order() {
    shuttle(&TWO_TASKS, Subject::Mutant(Mutant::H1ReleaseOrder), Strategy::Pct { depth: 3 });
}

/// Reproduces H1's own-pid-orphan variant.
/// Checks: INV-2
#[test]
#[should_panic(expected = "INV-2 NoLiveRemoval")]
fn shuttle_catches_h1_own_pid_orphan() {
    shuttle(&TWO_TASKS, Subject::Mutant(Mutant::H1OwnPidOrphan), Strategy::Random);
}
