//! Shuttle under fault injection: the threaded scenarios, each schedule with its own
//! fault plan drawn from shuttle's random source (so a failing schedule replays with
//! its plan). An acquire or release may fail only as the honest report of a fault
//! injected into its process. `SHUTTLE_ITERATIONS` (default 1000) sets the depth.
#![cfg(sessionlock_shuttle)]

use sessionlock_model::checkers::Strategy;
use sessionlock_model::fault::shuttle::check;
use sessionlock_model::scenarios::{CRASH_TAKEOVER, TWO_PROCESSES, TWO_TASKS};
use sessionlock_model::{Mutant, Subject};

/// Two tasks of one process, one re-entering, under faults: failures are reported, a
/// failed release wedges no sibling, and a fresh process recovers.
/// Checks: INV-1, INV-3, INV-4, INV-5, INV-7
#[test]
fn shuttle_faults_two_tasks() {
    let hits = check(&TWO_TASKS, Subject::Core, Strategy::Pct { depth: 3 });
    println!("shuttle faults two-tasks: {hits:?}");
    assert!(hits.injected > 0 && hits.publish > 0 && hits.release > 0, "{hits:?}");
}

/// Two processes contending on disk under faults.
/// Checks: INV-1, INV-2, INV-3, INV-4, INV-5, INV-7
#[test]
fn shuttle_faults_two_processes() {
    let hits = check(&TWO_PROCESSES, Subject::Core, Strategy::Pct { depth: 3 });
    println!("shuttle faults two-processes: {hits:?}");
    hits.assert_exercised("shuttle faults two-processes");
}

/// A holder crashes while another process contends, under faults.
/// Checks: INV-1, INV-2, INV-4, INV-5
#[test]
fn shuttle_faults_crash_takeover() {
    let hits = check(&CRASH_TAKEOVER, Subject::Core, Strategy::Random);
    println!("shuttle faults crash-takeover: {hits:?}");
    assert!(hits.injected > 0 && hits.publish > 0 && hits.probe > 0, "{hits:?}");
}

/// H1, the seed race, is caught under faults too: the threaded driver runs the mutants
/// with a fault plan as it runs them without.
/// Checks: INV-3
#[test]
fn shuttle_faults_catch_h1_release_order() {
    let mutant = Subject::Mutant(Mutant::H1ReleaseOrder);
    let failure = sessionlock_model::failure::catch(|| {
        check(&TWO_TASKS, mutant, Strategy::Random);
    })
    .expect_err("the H1 mutant must fail under faults");
    assert!(failure.contains("INV-3"), "{failure}");
}
