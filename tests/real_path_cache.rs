//! The adapter remembers where a session's directory resolves to and keeps a descriptor
//! on it (`src/real/dir.rs`). Between two acquires of one `SessionLock`, the directory
//! is renamed, replaced, removed, or reached through a symlink that is retargeted; each
//! test checks that the second acquire publishes where a fresh resolution of the same
//! session path points now, so a locker that resolves afresh (another process) and this
//! one still exclude each other (H18).
#![cfg(not(sessionlock_loom))]

mod common;

use std::path::{Path, PathBuf};

use common::{helper_role, hold, report, spawn_helper};

use sessionlock::fs::Published;
use sessionlock::{LockFs, LockPath, Owner, RealFs, SessionLock, TryAcquire};

/// The lock file a fresh resolution of `session` names: the realpath of its directory,
/// taken now, plus the session's name and `.lock`.
fn fresh_lock_file(session: &Path) -> PathBuf {
    let dir = std::fs::canonicalize(session.parent().unwrap()).unwrap();
    dir.join(format!("{}.lock", session.file_name().unwrap().to_str().unwrap()))
}

/// Not a test: the body of the helper processes (named by `common::HELPER`). Does
/// nothing unless started by `spawn_helper`.
#[test]
#[ignore = "helper process for the cross-process tests"]
fn helper_process() {
    let Some((role, s)) = helper_role() else {
        return;
    };
    match role.as_str() {
        "hold" => hold(&s),
        "try" => {
            let outcome = SessionLock::new().try_acquire_blocking(&s, Owner::new()).unwrap();
            report("outcome", if matches!(outcome, TryAcquire::Held(_)) { "held" } else { "free" });
        }
        other => panic!("unknown role {other}"),
    }
}

/// Acquires and releases once, so the directory of `session` is remembered.
fn warm(lock: &SessionLock, session: &Path) {
    lock.acquire_blocking(session, Owner::new()).unwrap().release_blocking().unwrap();
}

/// Holds `session` through `lock` and checks that the lock file is where a fresh
/// resolution puts it, not at `stale` (where the directory used to be), and that another
/// owner reaching the session by its fresh path finds it held.
fn holds_where_fresh_resolution_points(lock: &SessionLock, session: &Path, stale: &Path) {
    let guard = lock.acquire_blocking(session, Owner::new()).unwrap();
    let fresh = fresh_lock_file(session);
    assert_eq!(guard.lock_path().as_path(), fresh, "the key is the fresh realpath");
    assert!(fresh.is_file(), "published where a fresh resolution looks");
    assert!(!stale.exists(), "nothing published in the old directory");
    let direct = fresh.with_file_name("s.jsonl");
    let other = SessionLock::new().try_acquire_blocking(&direct, Owner::new()).unwrap();
    assert!(matches!(other, TryAcquire::Held(_)), "the two lockers exclude each other");
    guard.release_blocking().unwrap();
    assert!(!fresh.exists());
}

/// Replaces the symlink at `link` with one to `target`, atomically.
fn retarget(link: &Path, target: &Path) {
    let next = link.with_extension("next");
    std::os::unix::fs::symlink(target, &next).unwrap();
    std::fs::rename(&next, link).unwrap();
}

/// A symlinked session directory is retargeted between two acquires: the second follows
/// the new target.
/// Checks: H18
#[test]
fn a_retargeted_symlink_is_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&a, &link).unwrap();
    let session = link.join("s.jsonl");
    let lock = SessionLock::new();
    warm(&lock, &session);
    assert_eq!(lock.lock_path(&session).unwrap().as_path(), fresh_lock_file(&session));
    retarget(&link, &b);
    holds_where_fresh_resolution_points(&lock, &session, &a.join("s.jsonl.lock"));
}

/// A symlink in the middle of the path is retargeted, the rest of the path being the same.
/// Checks: H18
#[test]
fn a_retargeted_symlink_above_the_directory_is_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(a.join("sub")).unwrap();
    std::fs::create_dir_all(b.join("sub")).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&a, &link).unwrap();
    let session = link.join("sub/s.jsonl");
    let lock = SessionLock::new();
    warm(&lock, &session);
    retarget(&link, &b);
    holds_where_fresh_resolution_points(&lock, &session, &a.join("sub/s.jsonl.lock"));
}

/// The session directory is renamed away and a new one made at its path: the second
/// acquire publishes in the new one.
/// Checks: H18
#[test]
fn a_directory_replaced_by_another_is_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    let session = dir.join("s.jsonl");
    let lock = SessionLock::new();
    warm(&lock, &session);
    let old = tmp.path().join("d.old");
    std::fs::rename(&dir, &old).unwrap();
    std::fs::create_dir(&dir).unwrap();
    holds_where_fresh_resolution_points(&lock, &session, &old.join("s.jsonl.lock"));
}

/// An ancestor of the session directory is renamed away and the path made again.
/// Checks: H18
#[test]
fn an_ancestor_replaced_by_another_is_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p/d");
    std::fs::create_dir_all(&dir).unwrap();
    let session = dir.join("s.jsonl");
    let lock = SessionLock::new();
    warm(&lock, &session);
    let old = tmp.path().join("p.old");
    std::fs::rename(tmp.path().join("p"), &old).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    holds_where_fresh_resolution_points(&lock, &session, &old.join("d/s.jsonl.lock"));
}

/// The session directory is swapped with a symlink to another directory, so the spelling
/// the caller uses stops being canonical.
/// Checks: H18
#[test]
fn a_directory_replaced_by_a_symlink_is_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&dir).unwrap();
    std::fs::create_dir(&elsewhere).unwrap();
    let session = dir.join("s.jsonl");
    let lock = SessionLock::new();
    warm(&lock, &session);
    let old = tmp.path().join("d.old");
    std::fs::rename(&dir, &old).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &dir).unwrap();
    holds_where_fresh_resolution_points(&lock, &session, &old.join("s.jsonl.lock"));
    assert_eq!(fresh_lock_file(&session), elsewhere.canonicalize().unwrap().join("s.jsonl.lock"));
}

/// The session directory is removed between two acquires: it is made again, as on the
/// first acquire, instead of failing.
/// Checks: H18
#[test]
fn a_removed_directory_is_made_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let session = dir.join("s.jsonl");
    let lock = SessionLock::new();
    warm(&lock, &session);
    std::fs::remove_dir(&dir).unwrap();
    holds_where_fresh_resolution_points(&lock, &session, &tmp.path().join("gone"));
    assert!(dir.is_dir());
}

/// `publish` at a canonical lock path whose directory was replaced after earlier
/// publishes there: the file goes into the directory the path names now.
/// Checks: H18
#[test]
fn publish_follows_a_replaced_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().canonicalize().unwrap().join("d");
    std::fs::create_dir(&dir).unwrap();
    let path = LockPath::from_canonical(dir.join("x.lock"));
    let publish = |payload: &[u8]| match pollster::block_on(RealFs.publish(&path, payload)) {
        Ok(Published::Created { handle, .. }) => handle,
        other => panic!("expected a new lock file, got {other:?}"),
    };
    // Twice, so the directory is kept open (see `src/real/dir.rs`).
    for _ in 0..2 {
        drop(publish(b"{}"));
        std::fs::remove_file(path.as_path()).unwrap();
    }
    let old = tmp.path().join("d.old");
    std::fs::rename(&dir, &old).unwrap();
    std::fs::create_dir(&dir).unwrap();
    let handle = publish(b"{\"second\":true}");
    assert_eq!(std::fs::read(path.as_path()).unwrap(), b"{\"second\":true}");
    assert!(!old.join("x.lock").exists(), "nothing published in the old directory");
    drop(handle);
}

/// The session directory is renamed and a symlink to its new name left at its old path:
/// the caller's spelling reaches the same directory, but is no longer canonical. The
/// next acquire takes the new realpath as its key.
/// Checks: H18
#[test]
fn a_directory_renamed_behind_a_symlink_takes_its_new_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    let session = dir.join("s.jsonl");
    let lock = SessionLock::new();
    warm(&lock, &session);
    let moved = tmp.path().join("moved");
    std::fs::rename(&dir, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &dir).unwrap();
    holds_where_fresh_resolution_points(&lock, &session, &tmp.path().join("none"));
    assert_eq!(fresh_lock_file(&session), moved.canonicalize().unwrap().join("s.jsonl.lock"));
}

/// An *ancestor* of the session directory is renamed and a symlink to its new name left
/// at its old path. The remembered key is not refreshed (see `src/real/dir.rs`), but it
/// still names the same file as a fresh resolution, so the lockers exclude each other.
/// Checks: H18
#[test]
fn an_ancestor_renamed_behind_a_symlink_still_excludes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p/d");
    std::fs::create_dir_all(&dir).unwrap();
    let session = dir.join("s.jsonl");
    let lock = SessionLock::new();
    warm(&lock, &session);
    let moved = tmp.path().join("moved");
    std::fs::rename(tmp.path().join("p"), &moved).unwrap();
    std::os::unix::fs::symlink(&moved, tmp.path().join("p")).unwrap();
    let guard = lock.acquire_blocking(&session, Owner::new()).unwrap();
    let fresh = fresh_lock_file(&session);
    assert!(fresh.is_file(), "published where a fresh resolution looks");
    let direct = fresh.with_file_name("s.jsonl");
    let other = SessionLock::new().try_acquire_blocking(&direct, Owner::new()).unwrap();
    assert!(matches!(other, TryAcquire::Held(_)), "the two lockers exclude each other");
    guard.release_blocking().unwrap();
    assert!(!fresh.exists());
}

/// Across processes, by the very same session path: after the symlink is retargeted, a
/// process that remembered the old target and a process that resolves afresh exclude
/// each other, whichever holds.
/// Checks: H18, INV-1
#[test]
fn after_a_retarget_processes_exclude_each_other_by_the_same_path() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&a, &link).unwrap();
    let session = link.join("s.jsonl");
    let lock = SessionLock::new();
    warm(&lock, &session);
    retarget(&link, &b);

    // Another process holds; this one, which remembered `a`, must find it held.
    let mut holder = spawn_helper("hold", &session, &[]);
    holder.expect("held");
    assert!(b.join("s.jsonl.lock").is_file(), "the helper resolved afresh, to b");
    let outcome = lock.try_acquire_blocking(&session, Owner::new()).unwrap();
    assert!(matches!(outcome, TryAcquire::Held(ref h) if !h.is_in_process()), "{outcome:?}");
    holder.kill();

    // This one holds; another process, by the same path, must find it held.
    let guard = lock.acquire_blocking(&session, Owner::new()).unwrap();
    let mut tryer = spawn_helper("try", &session, &[]);
    assert_eq!(tryer.expect("outcome"), "held");
    guard.release_blocking().unwrap();
}
