//! Fault injection under proptest: generated (fault plan, moves) cases on a world
//! stepped one primitive at a time, and every fault point of three scripts.
//! `PROPTEST_CASES` (default 256) sets the depth; failing seeds are kept in
//! `model/proptest-regressions/proptest_faults.txt`.
#![cfg(not(any(sessionlock_loom, sessionlock_shuttle)))]

use std::io;

use sessionlock::fs::{FsOp, LockFs, Opened, Published};
use sessionlock_model::fault::points::{Script, Strike, enumerate};
use sessionlock_model::fault::{EIO, Fault, FaultKind};
use sessionlock_model::harness::lock_path;
use sessionlock_model::machine::{check_faults, check_faults_on};
use sessionlock_model::{Invariant, ModelFs, Mutant, Subject, World, rt};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256)
}

/// Under random fault plans, every failure is a typed error naming the lock path and
/// the injected primitive, a failed acquire leaves nothing behind, failed releases wedge
/// nobody, and the faults hit publishes, releases and probes.
/// Checks: INV-1, INV-2, INV-3, INV-4, INV-5, INV-7
#[test]
fn proptest_faults_keep_every_invariant() {
    let report = check_faults(cases());
    println!("proptest faults: {report:?}");
    if let Some(failure) = &report.failure {
        panic!("{failure}");
    }
    assert!(report.faults_injected > 0, "no fault was injected: {report:?}");
    report.hits.assert_exercised("proptest faults");
}

/// Every fault kind at every primitive of the three scripts (a holder releasing with a
/// sibling queued, a breaker of a dead holder's file, a contender publishing after a
/// live holder's release): the failure is reported honestly, nothing is left behind,
/// the struck process acquires again at once, and two fresh processes recover.
/// Checks: INV-1, INV-2, INV-3, INV-4, INV-5
#[test]
fn every_fault_point_is_reported_and_recovered() {
    let mut total = 0;
    for script in Script::ALL {
        for kind in FaultKind::ALL {
            let report = enumerate(script, Strike::Fault(kind)).unwrap_or_else(|e| panic!("{e}"));
            println!("fault points {script:?} {kind:?}: {report:?}");
            total += report.points;
            let must_fire = kind.applies_to(FsOp::Open) || kind.applies_to(FsOp::Publish);
            assert!(!must_fire || report.points > 0, "{script:?} {kind:?}: no point fired");
        }
    }
    println!("fault points exercised: {total}");
}

/// A release that fails at any of its steps reports it, and the sibling queued behind it
/// then acquires at once, breaking the file left kernel-unlocked as proven stale.
/// Checks: INV-3, INV-4, INV-5
#[test]
fn release_failure_never_wedges_a_queued_sibling() {
    for kind in [FaultKind::Io, FaultKind::NoSpace, FaultKind::Access, FaultKind::Interrupted] {
        let report = enumerate(Script::HolderReleasing, Strike::Fault(kind))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(report.failed_ops > 0 && report.left_behind > 0, "{kind:?}: {report:?}");
    }
}

/// Errors on a handle name the lock path it was opened at, not a placeholder.
/// Checks: INV-5
#[test]
fn handle_errors_name_the_lock_path() {
    let world = World::new();
    let fs = ModelFs::spawn(&world, 100);
    let Ok(Published::Created { handle, .. }) = rt::block_on(fs.publish(&lock_path(), b"{}"))
    else {
        panic!("publish on an empty world")
    };
    for op in [FsOp::TryLock, FsOp::Meta, FsOp::Read] {
        world.set_faults(vec![Fault { at: 0, pid: Some(100), op: Some(op), kind: FaultKind::Io }]);
        let error = match op {
            FsOp::TryLock => rt::block_on(fs.try_lock(&handle)).err(),
            FsOp::Meta => rt::block_on(fs.meta(&handle)).err(),
            _ => rt::block_on(fs.read(&handle, 64)).err(),
        }
        .expect("the fault fires");
        assert_eq!((error.op, error.path.as_path()), (op, lock_path().as_path()));
        assert_eq!(error.source.raw_os_error(), Some(EIO));
    }
    assert_eq!(world.stats().faults_injected, 3);
}

/// A short write fails the publish with `WriteZero` and leaves no file, handle or lock;
/// the races report a vanished file and a racing creator without touching the world.
/// Checks: INV-5
#[test]
fn short_write_and_races_leave_the_world_untouched() {
    let world = World::new();
    let fs = ModelFs::spawn(&world, 100);
    let path = lock_path();
    world.set_faults(vec![Fault { at: 0, pid: None, op: None, kind: FaultKind::ShortWrite }]);
    let error = rt::block_on(fs.publish(&path, b"{}")).expect_err("short write");
    assert_eq!((error.op, error.source.kind()), (FsOp::Publish, io::ErrorKind::WriteZero));
    assert_eq!(world.file_count(), 0);
    world.set_faults(vec![Fault {
        at: 0,
        pid: None,
        op: None,
        kind: FaultKind::AlreadyExistsRace,
    }]);
    assert!(matches!(rt::block_on(fs.publish(&path, b"{}")), Ok(Published::Exists)));
    assert_eq!(world.file_count(), 0);
    let Ok(Published::Created { handle: _held, .. }) = rt::block_on(fs.publish(&path, b"{}"))
    else {
        panic!("the race fired once")
    };
    world.set_faults(vec![Fault { at: 0, pid: None, op: None, kind: FaultKind::NotFoundRace }]);
    assert!(matches!(rt::block_on(fs.open(&path)), Ok(Opened::Missing)));
    assert_eq!(rt::block_on(fs.path_id(&path)).expect("path stat").map(|_| ()), Some(()));
    assert_eq!(world.injected().len(), 3);
}

/// Runs the fault plans against `mutant`; its failure must name `inv`, or another
/// invariant the mutant breaks under faults.
fn caught_under_faults(mutant: Mutant, inv: &str) {
    let report = check_faults_on(Subject::Mutant(mutant), cases());
    println!("proptest faults {}: {report:?}", mutant.name());
    let failure = report.failure.expect("the mutant must fail under faults");
    let named = Invariant::in_message(&failure).map(|found| found.id());
    assert_eq!(mutant.breaks().id(), inv, "the mutant's own invariant");
    let expected: Vec<_> = mutant.breaks_under_faults().iter().map(|i| i.id()).collect();
    assert!(named.is_some_and(|id| expected.contains(&id)), "expected {expected:?}: {failure}");
}

/// The harness has teeth: H2's breaker, which lets go of the kernel lock before it
/// unlinks by path, is caught under faults too.
/// Checks: INV-2
#[test]
fn proptest_faults_catch_h2_unlocked_break() {
    caught_under_faults(Mutant::H2UnlockedBreak, "INV-2");
}

/// H1, the seed race, is caught under faults too.
/// Checks: INV-3
#[test]
fn proptest_faults_catch_h1_release_order() {
    caught_under_faults(Mutant::H1ReleaseOrder, "INV-3");
}

/// H1's own-pid-orphan variant is caught under faults too (or, when a path stat told its
/// release the file vanished, as the file that release leaves behind).
/// Checks: INV-2, INV-5
#[test]
fn proptest_faults_catch_h1_own_pid_orphan() {
    caught_under_faults(Mutant::H1OwnPidOrphan, "INV-2");
}

/// The tests above cover every mutant the stepped driver must catch.
#[test]
fn every_machine_mutant_has_a_test_here() {
    let tested = [Mutant::H1ReleaseOrder, Mutant::H1OwnPidOrphan, Mutant::H2UnlockedBreak];
    assert_eq!(tested, sessionlock_model::machine::MUTANTS);
}
