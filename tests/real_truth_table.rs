//! The real-filesystem truth table, one test per scenario: in-process contention and
//! reentrancy, release and drop, foreign (original TypeScript) lock files, things that
//! are not lock files, path aliasing, and a lock file removed under its holder.
#![cfg(not(sessionlock_loom))]

mod common;

use std::time::Duration;

use common::{Recorder, Seen, age_file, dead_pid, lock_file, lock_path, now_iso, recorded};
use common::{session, write_foreign};
use sessionlock::Reason;
use sessionlock::fs::{FileKind, PidState};
use sessionlock::payload::Payload;
use sessionlock::{AcquireError, Builder, Owner, ReleaseError, Released, SessionLock};
use sessionlock::{Found, TryAcquire};

fn short() -> Builder {
    Builder::new().timeout(Duration::from_millis(300))
}

/// A second owner in the same process waits in memory and gets the lock at the release,
/// which hands it the held file in memory (INV-9); its own release then removes the file.
/// Checks: INV-1, INV-3, INV-9
#[test]
fn second_in_process_acquirer_waits() {
    let (_dir, s) = session();
    let (lock, rec) = recorded(Builder::new());
    let first = lock.acquire_blocking(&s, Owner::new()).unwrap();
    let waiter = {
        let (lock, s) = (lock.clone(), s.clone());
        std::thread::spawn(move || lock.acquire_blocking(&s, Owner::new()))
    };
    rec.wait_for(&Seen::Queued);
    assert!(!waiter.is_finished());
    assert_eq!(first.release_blocking().unwrap(), Released::HandedOff);
    let second = waiter.join().unwrap().unwrap();
    assert_eq!(rec.count(&Seen::KernelWait), 0, "waited in memory only");
    assert_eq!(rec.count(&Seen::Acquired), 2);
    assert_eq!(second.release_blocking().unwrap(), Released::Removed);
    assert!(!lock_file(&s).exists());
}

/// The same owner re-enters; the file goes only with the last guard.
/// Checks: INV-7, INV-5
#[test]
fn reentrant_acquire_counted() {
    let (_dir, s) = session();
    let (lock, rec) = recorded(Builder::new());
    let owner = Owner::new();
    let outer = lock.acquire_blocking(&s, owner).unwrap();
    let inner = lock.acquire_blocking(&s, owner).unwrap();
    assert_eq!(rec.count(&Seen::Reentered), 1);
    let remaining = inner.release_blocking().unwrap();
    assert_eq!(remaining, Released::StillHeld { remaining: 1 });
    assert!(lock_file(&s).exists());
    assert_eq!(outer.release_blocking().unwrap(), Released::Removed);
    assert!(!lock_file(&s).exists());
}

/// Another owner is not let in through reentrancy: try_acquire names the holder.
/// Checks: INV-7
#[test]
fn try_acquire_on_held_lock_reports_holder() {
    let (_dir, s) = session();
    let lock = SessionLock::new();
    let guard = lock.acquire_blocking(&s, Owner::new()).unwrap();
    match lock.try_acquire_blocking(&s, Owner::new()).unwrap() {
        TryAcquire::Held(holder) => {
            assert!(holder.is_in_process() && holder.is_alive());
            assert_eq!(holder.pid(), Some(std::process::id()));
            assert_eq!(*holder.path(), lock_path(&s));
        }
        TryAcquire::Acquired(_) => panic!("a second owner got in"),
    }
    guard.release_blocking().unwrap();
}

/// Release removes the lock file and the in-process entry; the file carried the
/// original format's fields while held.
/// Checks: INV-5
#[test]
fn release_removes_lock_file() {
    let (_dir, s) = session();
    let lock = Builder::new().max_hold(Duration::from_secs(60)).build();
    let guard = lock.acquire_blocking(&s, Owner::new()).unwrap();
    let payload = Payload::parse(&std::fs::read(lock_file(&s)).unwrap()).unwrap();
    assert_eq!(payload.pid, Some(std::process::id()));
    assert!(payload.created_at_ms.is_some() && payload.kernel_locked);
    assert_eq!(payload.max_hold_ms, Some(60_000));
    guard.verify_blocking().unwrap();
    assert_eq!(guard.release_blocking().unwrap(), Released::Removed);
    assert!(!lock_file(&s).exists());
    assert_eq!(lock.locker().registry().phase(&lock_path(&s)), None);
}

/// Dropping a guard releases the lock: the file goes and another owner gets in.
/// Checks: INV-5, INV-6
#[test]
fn dropping_the_guard_releases() {
    let (_dir, s) = session();
    let lock = SessionLock::new();
    drop(lock.acquire_blocking(&s, Owner::new()).unwrap());
    assert!(!lock_file(&s).exists());
    assert_eq!(lock.locker().registry().phase(&lock_path(&s)), None);
    match lock.try_acquire_blocking(&s, Owner::new()).unwrap() {
        TryAcquire::Acquired(g) => assert_eq!(g.release_blocking().unwrap(), Released::Removed),
        TryAcquire::Held(h) => panic!("still held by {h}"),
    }
}

fn expect_broken(lock: &SessionLock, rec: &Recorder, s: &std::path::Path, reason: Reason) {
    let guard = lock.acquire_blocking(s, Owner::new()).unwrap();
    assert_eq!(rec.broken(), vec![vec![reason]]);
    guard.release_blocking().unwrap();
}

/// A foreign lock file naming a dead pid is taken over at once.
/// Checks: INV-4
#[test]
fn foreign_dead_pid_taken_over() {
    let (_dir, s) = session();
    write_foreign(&s, dead_pid(), &now_iso());
    let (lock, rec) = recorded(short());
    expect_broken(&lock, &rec, &s, Reason::DeadPid);
}

/// A foreign lock file naming a live pid is respected: try_acquire names it, acquire
/// times out naming it, and the file stays.
/// Checks: INV-1, INV-2
#[test]
fn foreign_live_pid_respected() {
    let (_dir, s) = session();
    let mut live = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    write_foreign(&s, live.id(), &now_iso());
    let lock = short().build();
    let TryAcquire::Held(holder) = lock.try_acquire_blocking(&s, Owner::new()).unwrap() else {
        panic!("took a live foreign lock");
    };
    assert_eq!(holder.pid(), Some(live.id()));
    assert!(!holder.is_kernel_held());
    assert!(matches!(holder.pid_state(), Some(PidState::Alive { .. })));
    let err = lock.acquire_blocking(&s, Owner::new()).unwrap_err();
    let AcquireError::Timeout { holder, .. } = err else {
        panic!("{err}");
    };
    assert_eq!(holder.and_then(|h| h.pid()), Some(live.id()));
    assert!(lock_file(&s).exists());
    live.kill().unwrap();
    live.wait().unwrap();
}

/// A fresh payload-less file (a writer between create and write, H9) is respected.
/// Checks: INV-2
#[test]
fn fresh_payloadless_file_respected() {
    let (_dir, s) = session();
    std::fs::write(lock_file(&s), b"").unwrap();
    let lock = short().build();
    let outcome = lock.try_acquire_blocking(&s, Owner::new()).unwrap();
    assert!(matches!(outcome, TryAcquire::Held(_)));
    assert!(lock_file(&s).exists());
}

/// A payload-less file older than the grace is taken over.
/// Checks: INV-4
#[test]
fn old_payloadless_file_taken_over() {
    let (_dir, s) = session();
    std::fs::write(lock_file(&s), b"").unwrap();
    age_file(&lock_file(&s), Duration::from_secs(60));
    let (lock, rec) = recorded(short());
    expect_broken(&lock, &rec, &s, Reason::PayloadlessPastGrace);
}

/// A session reached through a symlinked directory maps to the same lock (H18).
/// Checks: INV-1
#[test]
fn symlinked_directory_reaches_same_lock() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("alias")).unwrap();
    let direct = dir.path().join("real/s.jsonl");
    let aliased = dir.path().join("alias/s.jsonl");
    let lock = SessionLock::new();
    assert_eq!(lock.lock_path(&direct).unwrap(), lock.lock_path(&aliased).unwrap());
    let guard = lock.acquire_blocking(&direct, Owner::new()).unwrap();
    let outcome = lock.try_acquire_blocking(&aliased, Owner::new()).unwrap();
    assert!(matches!(outcome, TryAcquire::Held(h) if h.is_in_process()));
    guard.release_blocking().unwrap();
}

fn expect_not_a_lock_file(s: &std::path::Path, kind: FileKind) {
    let err = short().build().acquire_blocking(s, Owner::new()).unwrap_err();
    assert!(matches!(err, AcquireError::NotALockFile { kind: k, .. } if k == kind), "{err}");
    assert!(std::fs::symlink_metadata(lock_file(s)).is_ok(), "left untouched");
}

/// A directory at the lock path is refused and left alone.
/// Checks: INV-2
#[test]
fn directory_at_lock_path_is_not_a_lock_file() {
    let (_dir, s) = session();
    std::fs::create_dir(lock_file(&s)).unwrap();
    expect_not_a_lock_file(&s, FileKind::Directory);
}

/// A symlink at the lock path is refused, not followed, and left alone, even when it
/// points at a stale-looking lock file.
/// Checks: INV-2
#[test]
fn symlink_at_lock_path_is_not_a_lock_file() {
    let (dir, s) = session();
    let target = dir.path().join("elsewhere");
    let text = format!(r#"{{"pid":{},"createdAt":"{}"}}"#, dead_pid(), now_iso());
    std::fs::write(&target, text).unwrap();
    std::os::unix::fs::symlink(&target, lock_file(&s)).unwrap();
    expect_not_a_lock_file(&s, FileKind::Symlink);
    assert!(target.exists());
}

/// A FIFO at the lock path is refused without hanging, and left alone.
/// Checks: INV-2
#[test]
fn fifo_at_lock_path_is_not_a_lock_file() {
    let (_dir, s) = session();
    let mode = rustix::fs::Mode::from_raw_mode(0o600);
    let fifo = rustix::fs::FileType::Fifo;
    rustix::fs::mknodat(rustix::fs::CWD, lock_file(&s).as_path(), fifo, mode, 0).unwrap();
    expect_not_a_lock_file(&s, FileKind::Fifo);
}

/// A lock file removed under its holder is reported by verify and by release, and a
/// successor's file is never touched.
/// Checks: INV-2, INV-6
#[test]
fn lock_file_removed_under_holder_is_compromised() {
    let (_dir, s) = session();
    let (lock, rec) = recorded(Builder::new());
    let guard = lock.acquire_blocking(&s, Owner::new()).unwrap();
    std::fs::remove_file(lock_file(&s)).unwrap();
    let missing =
        |e: ReleaseError| matches!(e, ReleaseError::Compromised { found: Found::Missing, .. });
    assert!(missing(guard.verify_blocking().unwrap_err()));
    assert!(missing(guard.release_blocking().unwrap_err()));
    assert_eq!(rec.count(&Seen::Compromised), 1);
    assert_eq!(lock.locker().registry().phase(&lock_path(&s)), None);
}

/// A lock file replaced under its holder is reported, and the replacement stays.
/// Checks: INV-2, INV-6
#[test]
fn lock_file_replaced_under_holder_is_compromised() {
    let (_dir, s) = session();
    let lock = SessionLock::new();
    let guard = lock.acquire_blocking(&s, Owner::new()).unwrap();
    std::fs::remove_file(lock_file(&s)).unwrap();
    std::fs::write(lock_file(&s), b"successor").unwrap();
    let outcome = guard.release_blocking();
    assert!(matches!(outcome, Err(ReleaseError::Compromised { found: Found::Other(_), .. })));
    assert_eq!(std::fs::read(lock_file(&s)).unwrap(), b"successor");
}

/// A session path that names no file is refused with an error naming it.
#[test]
fn session_path_without_file_name_is_refused() {
    let err = SessionLock::new().acquire_blocking("/tmp/..", Owner::new()).unwrap_err();
    let AcquireError::Fs(e) = &err else { panic!("{err}") };
    assert_eq!(e.op, sessionlock::fs::FsOp::Resolve);
    assert!(err.to_string().contains("/tmp/.."), "{err}");
}
