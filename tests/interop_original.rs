//! Interoperability with the original TypeScript lock, from its side: while we hold, the
//! original sees our lock file as a live, fresh holder and waits. Its rules:
//! `open(path, "wx")` must fail; the JSON payload's `pid` must be alive, its `starttime`
//! must match field 22 of `/proc/<pid>/stat`, and `createdAt` must be younger than 30 min.
//! (The other direction, judging the original's files, is in `real_truth_table`.)

#[path = "common/original.rs"]
mod original;

use original::{original_waits_for, starttime};
use sessionlock::{Owner, Released, SessionLock};

/// A lock file we hold reads, by the original's own rules, as a live and fresh holder.
/// Checks: INV-1, INV-2
#[test]
fn the_original_sees_our_lock_as_a_live_fresh_holder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let session = dir.path().join("s.jsonl");
    let lock = SessionLock::new();
    let guard = lock.acquire_blocking(&session, Owner::new()).expect("acquire");
    let lock_file = dir.path().join("s.jsonl.lock");
    let text = std::fs::read_to_string(&lock_file).expect("lock file");
    assert!(text.contains(&format!("\"pid\":{}", std::process::id())), "{text}");
    assert!(text.contains(".000Z\"") || text.contains("Z\""), "createdAt in ISO-8601 UTC: {text}");
    assert_eq!(original_waits_for(&lock_file), Ok(true), "{text}");
    guard.release_blocking().expect("release");
    assert!(!lock_file.exists());
}

/// A lock file handed off in memory between two threads of this process still reads, by
/// the original's rules, as a live and fresh holder: its pid is this process, which holds
/// the lock throughout, and its `createdAt` is when this process took it.
/// Checks: INV-9, INV-1
#[test]
fn the_original_sees_a_handed_off_lock_as_a_live_fresh_holder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let session = dir.path().join("s.jsonl");
    let lock_file = dir.path().join("s.jsonl.lock");
    let lock = SessionLock::new();
    let first = lock.acquire_blocking(&session, Owner::new()).expect("acquire");
    let text = std::fs::read_to_string(&lock_file).expect("lock file");
    let next = std::thread::spawn({
        let (lock, session) = (lock.clone(), session.clone());
        move || lock.acquire_blocking(&session, Owner::new()).expect("acquire")
    });
    while !queued(&lock, &session) {
        std::thread::yield_now();
    }
    assert_eq!(first.release_blocking().expect("release"), Released::HandedOff);
    let second = next.join().expect("second thread");
    assert_eq!(std::fs::read_to_string(&lock_file).expect("lock file"), text);
    assert_eq!(original_waits_for(&lock_file), Ok(true), "{text}");
    assert_eq!(second.release_blocking().expect("release"), Released::Removed);
    assert!(!lock_file.exists());
}

/// Whether a task waits in `lock`'s registry behind the hold on `session`.
fn queued(lock: &SessionLock, session: &std::path::Path) -> bool {
    let path = lock.lock_path(session).expect("lock path");
    lock.locker().registry().waiting(&path) > 0
}

/// The check has teeth: a file naming a dead pid, or a stale date, does not hold the
/// original off.
#[test]
fn the_original_rules_reject_dead_or_old_holders() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("x.lock");
    let me = std::process::id();
    let old = format!(
        r#"{{"pid":{me},"createdAt":"2020-01-01T00:00:00.000Z","starttime":{}}}"#,
        starttime(me)
    );
    std::fs::write(&file, old).expect("write");
    assert_eq!(original_waits_for(&file), Ok(false), "a 6-year-old lock is stale to the original");
    let dead = r#"{"pid":4194304,"createdAt":"2099-01-01T00:00:00.000Z"}"#;
    std::fs::write(&file, dead).expect("write");
    assert_eq!(original_waits_for(&file), Ok(false), "a pid above pid_max is dead");
}
