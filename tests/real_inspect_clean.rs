//! The library's `inspect` and `clean`, which the CLI's commands of those names call:
//! `inspect` changes nothing, even for a stale file; `clean` removes only a lock file
//! whose holder is proven gone, keeps a live one, and leaves anything else alone.
#![cfg(not(sessionlock_loom))]

mod common;

use common::{dead_pid, lock_file, lock_path, now_iso, session, write_foreign};
use sessionlock::fs::FileKind;
use sessionlock::{AcquireError, Cleaned, Owner, Reason, SessionLock};

/// A dead holder's file: `inspect` reports it stale and leaves it; `clean` removes it,
/// naming why; a second `clean` finds nothing.
/// Checks: INV-2, INV-4
#[test]
fn clean_removes_a_dead_holders_file_that_inspect_only_reports() {
    let (_dir, s) = session();
    write_foreign(&s, dead_pid(), &now_iso());
    let lock = SessionLock::new();
    let path = lock_path(&s);

    let holder = lock.inspect_blocking(&path).unwrap().expect("a lock file");
    assert!(holder.is_stale(), "{holder:?}");
    assert!(lock_file(&s).exists(), "inspect removed nothing");

    match lock.clean_blocking(&path).unwrap() {
        Cleaned::Removed(reasons) => assert_eq!(reasons, vec![Reason::DeadPid]),
        other => panic!("expected the dead holder's file removed, got {other:?}"),
    }
    assert!(!lock_file(&s).exists(), "clean removed it");
    assert!(matches!(lock.clean_blocking(&path).unwrap(), Cleaned::Missing));
    assert!(lock.inspect_blocking(&path).unwrap().is_none());
}

/// A live holder (a guard of this process): `clean` keeps its file, and the guard still
/// releases its own lock afterwards.
/// Checks: INV-2
#[test]
fn clean_keeps_a_live_holder() {
    let (_dir, s) = session();
    let lock = SessionLock::new();
    let guard = lock.acquire_blocking(&s, Owner::new()).unwrap();
    let path = lock.lock_path(&s).unwrap();

    let holder = lock.inspect_blocking(&path).unwrap().expect("a lock file");
    assert!(!holder.is_stale() && holder.is_kernel_held(), "{holder:?}");
    match lock.clean_blocking(&path).unwrap() {
        Cleaned::Kept(holder) => assert_eq!(holder.pid(), Some(std::process::id())),
        other => panic!("expected the live holder kept, got {other:?}"),
    }
    assert!(lock_file(&s).exists(), "a live holder's file stays");
    guard.release_blocking().unwrap();
    assert!(!lock_file(&s).exists());
}

/// Something other than a regular file at the lock path is reported, never removed.
/// Checks: INV-2
#[test]
fn clean_leaves_what_is_not_a_lock_file() {
    let (_dir, s) = session();
    std::fs::create_dir(lock_file(&s)).unwrap();
    let lock = SessionLock::new();
    let path = lock_path(&s);
    for outcome in [lock.clean_blocking(&path).map(drop), lock.inspect_blocking(&path).map(drop)] {
        match outcome {
            Err(AcquireError::NotALockFile { kind, .. }) => assert_eq!(kind, FileKind::Directory),
            other => panic!("expected NotALockFile, got {other:?}"),
        }
    }
    assert!(lock_file(&s).is_dir(), "the directory stays");
}
