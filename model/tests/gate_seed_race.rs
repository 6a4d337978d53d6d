//! The seed race (H1) as a scripted gate test: the fix waits in memory and acquires with
//! no filesystem polls and no time passing; the pre-fix order polls and times out.
#![cfg(not(sessionlock_loom))]

use sessionlock_model::gate::seed_race;
use sessionlock_model::{Mutant, Subject};

/// Reproduces H1 against the real core: zero polls, zero logical time, acquired.
/// Checks: INV-3, INV-5
#[test]
fn gate_h1_core_waits_in_memory() {
    assert_eq!(seed_race(Subject::Core).expect_fixed(), Ok(()));
}

/// Reproduces H1 against the pre-fix release order: polls, then times out after 10 s.
/// Checks: INV-3
#[test]
fn gate_h1_mutant_polls_then_times_out() {
    let outcome = seed_race(Subject::Mutant(Mutant::H1ReleaseOrder));
    assert_eq!(outcome.expect_seed_race(), Ok(()));
    assert!(outcome.polls_while_frozen > 0 && outcome.timed_out, "{outcome:?}");
}

/// A guard whose file was removed under it reports the compromise on release and leaves
/// the successor's file alone.
/// Checks: INV-6, INV-2
#[test]
fn script_stale_guard_is_harmless() {
    assert_eq!(sessionlock_model::gate::stale_guard(Subject::Core), Ok(()));
}

/// The original's path-based release deletes the successor's file.
/// Checks: INV-6
#[test]
fn script_stale_guard_catches_release_by_path() {
    let outcome = sessionlock_model::gate::stale_guard(Subject::Mutant(Mutant::H1OwnPidOrphan));
    assert!(outcome.as_ref().is_err_and(|e| e.contains("INV-")), "{outcome:?}");
}
