//! proptest-state-machine: the core against a sequential reference, stepped one
//! filesystem primitive at a time. `PROPTEST_CASES` (default 256) sets the depth;
//! failing seeds of the core are kept in `model/proptest-regressions/`.
#![cfg(not(any(sessionlock_loom, sessionlock_shuttle)))]

use sessionlock_model::machine::{MachineReport, check_machine};
use sessionlock_model::{Mutant, Reachable, Subject};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256)
}

fn mutant(mutant: Mutant) -> MachineReport {
    let report = check_machine(Subject::Mutant(mutant), cases());
    println!("proptest {}: {report:?}", mutant.name());
    report
}

/// The core matches the reference in every case, and the cases reach contention, a
/// releasing wait, a stale takeover after a crash, and a re-entry.
/// Checks: INV-1, INV-2, INV-3, INV-4, INV-5, INV-7
#[test]
fn proptest_core_matches_reference() {
    let report = check_machine(Subject::Core, cases());
    println!("proptest core: {report:?}");
    if let Some(failure) = &report.failure {
        panic!("{failure}");
    }
    report.reach.assert_reached("proptest", &Reachable::ALL);
}

/// Reproduces H1: the machine finds the seed race.
/// Checks: INV-3
#[test]
fn proptest_catches_h1_release_order() {
    let report = mutant(Mutant::H1ReleaseOrder);
    let failure = report.failure.expect("the H1 mutant must fail");
    assert!(failure.contains("INV-3"), "{failure}");
}

/// Reproduces H1's own-pid-orphan variant.
/// Checks: INV-2
#[test]
fn proptest_catches_h1_own_pid_orphan() {
    let report = mutant(Mutant::H1OwnPidOrphan);
    let failure = report.failure.expect("the H1 own-pid-orphan mutant must fail");
    assert!(failure.contains("INV-2"), "{failure}");
}

/// Reproduces H2: a breaker that lets go of its kernel lock before it unlinks by path.
/// Checks: INV-2
#[test]
fn proptest_catches_h2_unlocked_break() {
    let report = mutant(Mutant::H2UnlockedBreak);
    let failure = report.failure.expect("the H2 mutant must fail");
    assert!(failure.contains("INV-2"), "{failure}");
}

/// The tests above cover every mutant the stepped driver must catch.
#[test]
fn every_machine_mutant_has_a_test_here() {
    let tested = [Mutant::H1ReleaseOrder, Mutant::H1OwnPidOrphan, Mutant::H2UnlockedBreak];
    assert_eq!(tested, sessionlock_model::machine::MUTANTS);
}
