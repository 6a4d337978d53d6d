//! Bad input, one test per case: what sits at the lock path, what a lock file holds, where
//! the session lives, and a filesystem without `flock`. Each row checks a typed error or a
//! documented outcome, and that nothing was removed that was not proved stale: the whole
//! directory (names, inodes, modes, mtimes, contents) is compared before and after.
//!
//! | case (test) | expected outcome | removed? |
//! |---|---|---|
//! | `socket_at_lock_path` | `NotALockFile { kind: Socket }` from acquire and try_acquire | no |
//! | `dangling_symlink_at_lock_path` | `NotALockFile { kind: Symlink }`; not followed: the target is not created | no |
//! | `non_empty_directory_at_lock_path` | `NotALockFile { kind: Directory }`; its content untouched | no |
//! | `fifo_at_lock_path_keeps_its_data` | `NotALockFile { kind: Fifo }`, no hang; bytes queued in it are not consumed | no |
//! | `device_node_at_lock_path` | `NotALockFile { kind: Other }` (skipped where `mknod` is refused) | no |
//! | `unreadable_lock_file_read_fails` (wrapper: `read` → EACCES) | `Fs { op: Read, path: lock path }`, even for a dead pid's file | no |
//! | `unreadable_lock_file_open_fails` (wrapper: `open` → EACCES) | `Fs { op: Open, path: lock path }` | no |
//! | `unreadable_lock_file_mode_000_unprivileged` (real, as `nobody`) | `Fs { op: Open, EACCES, path: lock path }` | no |
//! | `empty_file_judged_by_configured_grace` | respected under the default 30 s grace at 10 s old; taken over (`PayloadlessPastGrace`) with `payloadless_grace(5 s)` | only past the grace |
//! | `binary_garbage` | payload-less: `Held` while fresh; taken over past the grace | only past the grace |
//! | `truncated_json` | payload-less, as above | only past the grace |
//! | `ten_mib_payload` | payload-less although it names a dead pid; no read past `MAX_PAYLOAD_BYTES + 1`; taken over past the grace | only past the grace |
//! | `payload_at_and_past_the_cap` | at 64 KiB parsed (dead pid: `DeadPid`); one byte more: payload-less, `Held` | at the cap only |
//! | `payload_pid_zero` | `pid` dropped; payload-less rules | only past the grace |
//! | `payload_pid_negative` | `pid` dropped; payload-less rules | only past the grace |
//! | `payload_pid_huge` (2^22 + 1, 2^32 + 7) | `pid` dropped; payload-less rules | only past the grace |
//! | `payload_created_at_in_the_future` | kept (it parses); age reads 0 s, never `TooOld`; judged by pid: live → `Held`, dead → `DeadPid` | dead pid only |
//! | `payload_created_at_unparsable` | `createdAt` dropped (age unknown); judged by pid | dead pid only |
//! | `payload_starttime_not_a_number` | `starttime` dropped: a live pid is respected (a numeric mismatch would be `RecycledPid`) | no |
//! | `unwritable_directory_publish_fails` (wrapper: `publish` → EACCES) | `Fs { op: Publish, path: lock path }` | nothing created |
//! | `unwritable_directory_unprivileged` (real, as `nobody`) | `Fs { op: Publish, EACCES }` | nothing created |
//! | `missing_directory_under_unwritable_parent_unprivileged` (real) | `Fs { op: Resolve, PermissionDenied, path: session }` | nothing created |
//! | `session_directory_is_a_regular_file` (`<file>/s.jsonl`) | `Fs { op: Publish, ENOTDIR, path: <file>/s.jsonl.lock }` | no |
//! | `session_directory_below_a_regular_file` (`<file>/d/s.jsonl`) | `Fs { op: Resolve, NotADirectory, path: session }` | no |
//! | `session_directory_is_a_dangling_symlink` | `Fs { op: Resolve, AlreadyExists }`; the target is not created | no |
//! | `flock_error_from_lockfs_is_typed` (wrapper: `try_lock` → ENOLCK, EOPNOTSUPP) | `Fs { op: TryLock }`: an error is never read as "free", even for a dead pid's file | no |
//! | `publish_lock_step_error_from_lockfs_is_typed` (wrapper: `publish` → ENOLCK) | `Fs { op: Publish }` | nothing created |
//! | `flock_unavailable_degrades_loudly` (real: seccomp makes `flock` fail ENOLCK, EOPNOTSUPP, ENOSYS) | acquires; one `tracing` WARN per directory ("heuristics only"); publishes `"flock": false`; release removes it | own file only |
//! | `flock_unavailable_judges_by_pid` (real, both processes without `flock`) | a live holder is `Held` by pid; after its SIGKILL, `DeadPid` | after death only |
//! | `flock_failing_otherwise_is_an_error` (real: `flock` → EIO) | `Fs { op: Publish, EIO }`, no warning: not degraded | nothing created |
//! | `flock_unavailable_to_contender_only_respects_live_holder` (real) | `Held` by pid: where the contender's `flock` proves nothing, even a `"flock": true` file is judged by its pid (was a bug: removed as `KernelProvenDead`) | no |
//! | `another_users_live_holder_is_waited_for_then_taken_over` (real, as `nobody`) | root's live holder is waited for in the kernel (the file is 0644 before the umask); after its SIGKILL, `KernelProvenDead` (was: `Fs { op: Open, EACCES }`) | after death only |
//! | `another_users_dead_lock_in_own_directory_is_taken_over` (real, as `nobody`) | root's stale file in `nobody`'s directory is taken over (was: `Fs { op: Open, EACCES }` for good) | the stale file |
//! | `umask_077_lock_file_is_a_typed_error_for_another_user` (real, as `nobody`) | a 0600 file (umask 077) of a dead holder: `Fs { op: Open, EACCES, path: lock path }` | no |
//! | `sticky_directory_keeps_another_users_dead_lock_with_a_typed_error` (real, as `nobody`) | root's stale file in a 1777 directory: `Fs { op: Unlink, EPERM, path: lock path }` | no |
//! | `unprivileged_helper_runs_from_a_private_checkout` | the helpers as `nobody` run from a 0755 copy, so a copy of this binary under a 0700 directory passes `unwritable_directory_unprivileged` | — |
//! | `out_of_descriptors_is_an_error_and_the_reactor_recovers` (real, in a helper) | `Fs { op: LockUntil }` naming the reactor, never a panic; a later wait starts the reactor | no |
//!
//! Also covered in `real_truth_table.rs`, and not repeated here: acquire on a symlink to a
//! stale-looking file, an empty directory and a FIFO; a fresh and an old empty file under
//! the default grace; a session path with no file name.
#![cfg(not(sessionlock_loom))]

mod common;
#[path = "bad_input/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::time::Duration;

use common::spawn_helper;
use common::{age_file, dead_pid, helper_role, hold, lock_file, now_iso, recorded, session};
use rustix::io::Errno;
use sessionlock::Reason;
use sessionlock::fs::{FileKind, FsOp, PidState};
use sessionlock::payload::{MAX_PAYLOAD_BYTES, Payload};
use sessionlock::{Owner, Released, TryAcquire};
use support::checks::{assert_no_entry, dead_pid_still_proves_death, expect_fs_error};
use support::checks::{expect_held, expect_refused, expect_resolve_error, payloadless_rules_apply};
use support::descriptors::{self, is_reactor_failure};
use support::faulty::faulty;
use support::noflock::{capture_warnings, deny_flock_here, without_flock};
use support::snapshot::Snapshot;
use support::unprivileged::{self, NOBODY, chmod, spawn_waiter_as_nobody, try_acquire_as_nobody};
use support::with_pid;
use support::{LiveProcess, dead_pids_file, foreign, iso_from_now, padded, short, with_lock_file};

/// Not a test: the body of the helper processes (named by `common::HELPER`). Does
/// nothing unless started by `spawn_helper` or `try_acquire_as_nobody`.
#[test]
#[ignore = "helper process for the tests that need another process"]
fn helper_process() {
    let Some((role, s)) = helper_role() else {
        return;
    };
    match role.as_str() {
        "hold" => hold(&s),
        "hold-without-flock" => {
            deny_flock_here(Errno::NOLCK);
            hold(&s)
        }
        "hold-umask-077" => {
            rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
            hold(&s)
        }
        unprivileged::ROLE => unprivileged::run(&s),
        unprivileged::WAIT_ROLE => unprivileged::wait(&s),
        descriptors::ROLE => descriptors::run(&s),
        other => panic!("unknown role {other}"),
    }
}

// ---- Something other than a regular file at the lock path ----

/// A Unix socket bound at the lock path (open fails with ENXIO) is refused, left bound.
/// Checks: INV-2, INV-5
#[test]
fn socket_at_lock_path() {
    let (dir, s) = session();
    let _listener = std::os::unix::net::UnixListener::bind(lock_file(&s)).unwrap();
    expect_refused(dir.path(), &s, FileKind::Socket);
}

/// A dangling symlink at the lock path is refused and not followed: publishing through it
/// would create its target.
/// Checks: INV-2, INV-5
#[test]
fn dangling_symlink_at_lock_path() {
    let (dir, s) = session();
    let target = dir.path().join("never-created");
    std::os::unix::fs::symlink(&target, lock_file(&s)).unwrap();
    expect_refused(dir.path(), &s, FileKind::Symlink);
    assert!(!target.exists());
}

/// A directory with content at the lock path is refused; its content is untouched.
/// Checks: INV-2, INV-5
#[test]
fn non_empty_directory_at_lock_path() {
    let (dir, s) = session();
    std::fs::create_dir(lock_file(&s)).unwrap();
    std::fs::write(lock_file(&s).join("inside"), b"keep").unwrap();
    expect_refused(dir.path(), &s, FileKind::Directory);
}

/// A FIFO with bytes queued in it is refused without hanging, and the bytes are still
/// there afterwards: nothing read it.
/// Checks: INV-2, INV-5
#[test]
fn fifo_at_lock_path_keeps_its_data() {
    let (dir, s) = session();
    let (mode, fifo) = (rustix::fs::Mode::from_raw_mode(0o600), rustix::fs::FileType::Fifo);
    rustix::fs::mknodat(rustix::fs::CWD, lock_file(&s).as_path(), fifo, mode, 0).unwrap();
    // O_RDWR on a FIFO does not wait for a peer on Linux; it keeps the queue alive.
    let mut pipe = std::fs::File::options().read(true).write(true).open(lock_file(&s)).unwrap();
    pipe.write_all(b"queued").unwrap();
    expect_refused(dir.path(), &s, FileKind::Fifo);
    let mut back = [0u8; 6];
    pipe.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"queued");
}

/// A character device at the lock path is refused as `Other`.
/// Checks: INV-2, INV-5
#[test]
fn device_node_at_lock_path() {
    let (dir, s) = session();
    let (mode, chr) =
        (rustix::fs::Mode::from_raw_mode(0o600), rustix::fs::FileType::CharacterDevice);
    let null = rustix::fs::makedev(1, 3);
    match rustix::fs::mknodat(rustix::fs::CWD, lock_file(&s).as_path(), chr, mode, null) {
        Ok(()) => expect_refused(dir.path(), &s, FileKind::Other),
        Err(Errno::PERM) => eprintln!("skipped: mknod of a device is not permitted here"),
        Err(e) => panic!("mknod: {e}"),
    }
}

// ---- An unreadable lock file ----

/// `read` failing with EACCES is a typed error naming the read and the lock path; the
/// file is not removed, although it names a dead pid, since it was never judged.
/// Checks: INV-2, INV-5
#[test]
fn unreadable_lock_file_read_fails() {
    let (dir, s) = dead_pids_file();
    let before = Snapshot::of(dir.path());
    let (lock, _) = faulty(short(), Some((FsOp::Read, Errno::ACCESS)));
    let err = lock.acquire_blocking(&s, Owner::new()).unwrap_err();
    expect_fs_error(&err, FsOp::Read, Errno::ACCESS, &lock_file(&s));
    let err = lock.try_acquire_blocking(&s, Owner::new()).unwrap_err();
    expect_fs_error(&err, FsOp::Read, Errno::ACCESS, &lock_file(&s));
    before.assert_same(dir.path(), "an acquire that could not read");
    assert_no_entry(&lock, &s);
}

/// `open` failing with EACCES (what a non-root contender meets on a mode-000 file) is a
/// typed error naming the open and the lock path.
/// Checks: INV-2, INV-5
#[test]
fn unreadable_lock_file_open_fails() {
    let (dir, s) = dead_pids_file();
    let before = Snapshot::of(dir.path());
    let (lock, _) = faulty(short(), Some((FsOp::Open, Errno::ACCESS)));
    let err = lock.acquire_blocking(&s, Owner::new()).unwrap_err();
    expect_fs_error(&err, FsOp::Open, Errno::ACCESS, &lock_file(&s));
    before.assert_same(dir.path(), "an acquire that could not open");
    assert_no_entry(&lock, &s);
}

/// For real: a mode-000 lock file in a world-writable directory, and a contender running
/// as `nobody`, gets EACCES from `open`, reported as such.
/// Checks: INV-2, INV-5
#[test]
fn unreadable_lock_file_mode_000_unprivileged() {
    let (dir, s) = dead_pids_file();
    chmod(dir.path(), 0o777);
    chmod(&lock_file(&s), 0o000);
    let before = Snapshot::of(dir.path());
    let outcome = try_acquire_as_nobody(&s);
    assert_eq!(outcome, format!("fs Open 13 {}", lock_file(&s).display()));
    before.assert_same(dir.path(), "an unprivileged acquire that could not open");
}

// ---- Lock files without a usable payload (H9) ----

/// An empty file is judged against the configured grace: a 10 s old one is respected
/// under the default 30 s, and taken over under `payloadless_grace(5 s)`.
/// Checks: INV-2, INV-4
#[test]
fn empty_file_judged_by_configured_grace() {
    let (dir, s) = with_lock_file(b"");
    age_file(&lock_file(&s), Duration::from_secs(10));
    let before = Snapshot::of(dir.path());
    assert!(expect_held(&short().build(), &s).reasons().is_empty());
    before.assert_same(dir.path(), "try_acquire within the default grace");
    let (lock, rec) = recorded(short().payloadless_grace(Duration::from_secs(5)));
    let guard = lock.acquire_blocking(&s, Owner::new()).unwrap();
    assert_eq!(rec.broken(), vec![vec![Reason::PayloadlessPastGrace]]);
    assert_eq!(guard.release_blocking().unwrap(), Released::Removed);
    assert!(!lock_file(&s).exists());
}

/// Binary garbage is payload-less.
/// Checks: INV-2, INV-4
#[test]
fn binary_garbage() {
    payloadless_rules_apply(b"\x00\xff\xfe{\"pid\":\x9f\x92\x96\n\x00");
}

/// JSON cut short (a writer interrupted mid-write) is payload-less, although it names a
/// dead pid.
/// Checks: INV-2, INV-4
#[test]
fn truncated_json() {
    let text = format!(r#"{{"pid":{},"createdAt":"{}""#, dead_pid(), now_iso());
    payloadless_rules_apply(text.as_bytes());
}

/// A 10 MiB payload (valid JSON naming a dead pid) is past the cap: never read beyond
/// `MAX_PAYLOAD_BYTES + 1` bytes, never parsed, and judged payload-less.
/// Checks: INV-2, INV-4
#[test]
fn ten_mib_payload() {
    let (dir, s) = with_lock_file(&padded(dead_pid(), 10 << 20));
    let before = Snapshot::of(dir.path());
    let rec = std::sync::Arc::new(common::Recorder::default());
    let (lock, reads) = faulty(short().observer(rec.clone()), None);
    let holder = expect_held(&lock, &s);
    assert_eq!((holder.pid(), holder.age()), (None, None), "not parsed");
    before.assert_same(dir.path(), "try_acquire on a fresh 10 MiB file");
    age_file(&lock_file(&s), Duration::from_secs(60));
    let guard = lock.acquire_blocking(&s, Owner::new()).unwrap();
    assert_eq!(rec.broken(), vec![vec![Reason::PayloadlessPastGrace]]);
    guard.release_blocking().unwrap();
    let reads = reads.lock().unwrap().clone();
    assert!(
        reads.iter().all(|r| r.limit <= MAX_PAYLOAD_BYTES + 1 && r.len <= r.limit),
        "{reads:?}"
    );
    assert!(reads.iter().any(|r| r.len == MAX_PAYLOAD_BYTES + 1), "read up to the cap: {reads:?}");
}

/// A payload of exactly `MAX_PAYLOAD_BYTES` is parsed, so its dead pid proves it stale;
/// one byte more and it is payload-less, respected while fresh.
/// Checks: INV-2, INV-4
#[test]
fn payload_at_and_past_the_cap() {
    let (_dir, s) = with_lock_file(&padded(dead_pid(), MAX_PAYLOAD_BYTES));
    let (lock, rec) = recorded(short());
    lock.acquire_blocking(&s, Owner::new()).unwrap().release_blocking().unwrap();
    assert_eq!(rec.broken(), vec![vec![Reason::DeadPid]]);
    let (dir, s) = with_lock_file(&padded(dead_pid(), MAX_PAYLOAD_BYTES + 1));
    let before = Snapshot::of(dir.path());
    assert_eq!(expect_held(&short().build(), &s).pid(), None);
    before.assert_same(dir.path(), "try_acquire on a fresh file one byte past the cap");
}

// ---- Invalid fields: each is dropped and the file judged by what remains ----

/// `pid: 0` is dropped; with no pid left, the payload-less rules apply (by mtime).
/// Checks: INV-2, INV-4
#[test]
fn payload_pid_zero() {
    payloadless_rules_apply(&with_pid("0"));
}

/// A negative `pid` is dropped; the payload-less rules apply.
/// Checks: INV-2, INV-4
#[test]
fn payload_pid_negative() {
    payloadless_rules_apply(&with_pid("-1"));
    payloadless_rules_apply(&with_pid("-4242"));
}

/// A `pid` past `PID_MAX_LIMIT` (2^22), or past `u32`, is dropped; the payload-less rules
/// apply.
/// Checks: INV-2, INV-4
#[test]
fn payload_pid_huge() {
    payloadless_rules_apply(&with_pid(&((1u64 << 22) + 1).to_string()));
    payloadless_rules_apply(&with_pid(&((1u64 << 32) + 7).to_string()));
}

/// A `createdAt` an hour in the future parses, so it is kept, not dropped: the age reads
/// 0 s (clamped), `TooOld` can never fire, and the file is judged by its pid: a live one
/// is respected, a dead one is still proved dead.
/// Checks: INV-2, INV-4
#[test]
fn payload_created_at_in_the_future() {
    let live = LiveProcess::start();
    let future = iso_from_now(3_600_000);
    let (dir, s) = with_lock_file(&foreign(live.pid(), &future, ""));
    let before = Snapshot::of(dir.path());
    let holder = expect_held(&short().stale_age(Duration::from_millis(1)).build(), &s);
    assert_eq!(holder.pid(), Some(live.pid()));
    assert!(matches!(holder.pid_state(), Some(PidState::Alive { .. })), "{holder:?}");
    assert_eq!(holder.age(), Some(Duration::ZERO));
    assert!(holder.reasons().is_empty(), "{:?}", holder.reasons());
    before.assert_same(dir.path(), "try_acquire on a live holder's future-dated file");
    dead_pid_still_proves_death(&future);
}

/// An unparsable `createdAt` is dropped (the age is unknown); the file is judged by its
/// pid: a live one is respected, a dead one is still proved dead.
/// Checks: INV-2, INV-4
#[test]
fn payload_created_at_unparsable() {
    let live = LiveProcess::start();
    for created in ["yesterday", "2026-13-45T99:00:00.000Z", ""] {
        let (dir, s) = with_lock_file(&foreign(live.pid(), created, ""));
        let before = Snapshot::of(dir.path());
        let holder = expect_held(&short().build(), &s);
        assert_eq!((holder.pid(), holder.age()), (Some(live.pid()), None), "{created:?}");
        before.assert_same(dir.path(), "try_acquire on a live holder's undated file");
        dead_pid_still_proves_death(created);
    }
}

/// A `starttime` that is not a non-negative integer is dropped, so a live pid is
/// respected: without it, pid reuse cannot be told. (A numeric `starttime` that differs
/// from the live process's is `RecycledPid`, which shows the field is otherwise read.)
/// Checks: INV-2
#[test]
fn payload_starttime_not_a_number() {
    let live = LiveProcess::start();
    for starttime in [r#""12""#, "-5", "1.5", "null", "[12]"] {
        let extra = format!(r#","starttime":{starttime}"#);
        let (dir, s) = with_lock_file(&foreign(live.pid(), &now_iso(), &extra));
        let before = Snapshot::of(dir.path());
        let holder = expect_held(&short().build(), &s);
        assert_eq!(holder.pid(), Some(live.pid()), "{starttime}");
        assert!(holder.reasons().is_empty(), "{starttime}: {:?}", holder.reasons());
        before.assert_same(dir.path(), "try_acquire on a live holder with a bad starttime");
    }
    let (_dir, s) = with_lock_file(&foreign(live.pid(), &now_iso(), r#","starttime":12"#));
    let (lock, rec) = recorded(short());
    lock.acquire_blocking(&s, Owner::new()).unwrap().release_blocking().unwrap();
    assert_eq!(rec.broken(), vec![vec![Reason::RecycledPid]]);
}

// ---- Where the session lives ----

/// `publish` failing with EACCES (a directory we may not write) is a typed error naming
/// the publish and the lock path; nothing is created.
/// Checks: INV-5
#[test]
fn unwritable_directory_publish_fails() {
    let (dir, s) = session();
    let before = Snapshot::of(dir.path());
    let (lock, _) = faulty(short(), Some((FsOp::Publish, Errno::ACCESS)));
    let err = lock.acquire_blocking(&s, Owner::new()).unwrap_err();
    expect_fs_error(&err, FsOp::Publish, Errno::ACCESS, &lock_file(&s));
    before.assert_same(dir.path(), "an acquire that could not publish");
    assert_no_entry(&lock, &s);
}

/// For real: a contender running as `nobody` in a directory it may not write gets
/// EACCES from publishing (`O_TMPFILE`), and leaves no temporary file.
/// Checks: INV-5
#[test]
fn unwritable_directory_unprivileged() {
    let (dir, s) = session();
    chmod(dir.path(), 0o755);
    let before = Snapshot::of(dir.path());
    let outcome = try_acquire_as_nobody(&s);
    assert_eq!(outcome, format!("fs Publish 13 {}", lock_file(&s).display()));
    before.assert_same(dir.path(), "an unprivileged acquire that could not publish");
}

/// For real: a session whose directory is missing, under a parent `nobody` may not
/// write, cannot be resolved (the directory cannot be created); the error names the
/// session path.
/// Checks: INV-5
#[test]
fn missing_directory_under_unwritable_parent_unprivileged() {
    let (dir, _) = session();
    chmod(dir.path(), 0o755);
    let s = dir.path().join("missing/s.jsonl");
    let before = Snapshot::of(dir.path());
    let outcome = try_acquire_as_nobody(&s);
    assert_eq!(outcome, format!("fs Resolve PermissionDenied {}", s.display()));
    before.assert_same(dir.path(), "an unprivileged acquire that could not resolve");
}

/// A session whose "directory" is a regular file (`<file>/s.jsonl`) resolves (realpath
/// accepts a file) but cannot publish: ENOTDIR, naming the lock path under the file.
/// Checks: INV-2, INV-5
#[test]
fn session_directory_is_a_regular_file() {
    let (dir, _) = session();
    let file = dir.path().join("transcript");
    std::fs::write(&file, b"{\"turn\":1}\n").unwrap();
    let s = file.join("s.jsonl");
    let before = Snapshot::of(dir.path());
    let lock = short().build();
    let err = lock.acquire_blocking(&s, Owner::new()).unwrap_err();
    let lock_path = file.canonicalize().unwrap().join("s.jsonl.lock");
    expect_fs_error(&err, FsOp::Publish, Errno::NOTDIR, &lock_path);
    let err = lock.try_acquire_blocking(&s, Owner::new()).unwrap_err();
    expect_fs_error(&err, FsOp::Publish, Errno::NOTDIR, &lock_path);
    before.assert_same(dir.path(), "an acquire under a regular file");
    assert_no_entry(&lock, &s);
}

/// A session below a regular file (`<file>/d/s.jsonl`) cannot be resolved: ENOTDIR
/// names the session path, and no directory is created.
/// Checks: INV-2, INV-5
#[test]
fn session_directory_below_a_regular_file() {
    let (dir, _) = session();
    let file = dir.path().join("transcript");
    std::fs::write(&file, b"{\"turn\":1}\n").unwrap();
    let s = file.join("d/s.jsonl");
    let before = Snapshot::of(dir.path());
    let err = short().build().acquire_blocking(&s, Owner::new()).unwrap_err();
    expect_resolve_error(&err, std::io::ErrorKind::NotADirectory, &s);
    before.assert_same(dir.path(), "an acquire below a regular file");
}

/// A session whose directory is a dangling symlink cannot be resolved: the directory
/// cannot be created over the symlink (EEXIST), and the symlink's target is not created.
/// Checks: INV-2, INV-5
#[test]
fn session_directory_is_a_dangling_symlink() {
    let (dir, _) = session();
    let target = dir.path().join("gone");
    std::os::unix::fs::symlink(&target, dir.path().join("link")).unwrap();
    let s = dir.path().join("link/s.jsonl");
    let before = Snapshot::of(dir.path());
    let err = short().build().acquire_blocking(&s, Owner::new()).unwrap_err();
    expect_resolve_error(&err, std::io::ErrorKind::AlreadyExists, &s);
    before.assert_same(dir.path(), "an acquire through a dangling symlink");
    assert!(!target.exists());
}

// ---- A filesystem without flock ----

/// A `LockFs` whose `try_lock` fails (ENOLCK, EOPNOTSUPP) without degrading by itself:
/// the core reports a typed error and never reads the failure as a free kernel lock, so
/// even a dead pid's file is not removed.
/// Checks: INV-2, INV-5
#[test]
fn flock_error_from_lockfs_is_typed() {
    for errno in [Errno::NOLCK, Errno::OPNOTSUPP] {
        let (dir, s) = dead_pids_file();
        let before = Snapshot::of(dir.path());
        let (lock, _) = faulty(short(), Some((FsOp::TryLock, errno)));
        let err = lock.acquire_blocking(&s, Owner::new()).unwrap_err();
        expect_fs_error(&err, FsOp::TryLock, errno, &lock_file(&s));
        let err = lock.try_acquire_blocking(&s, Owner::new()).unwrap_err();
        expect_fs_error(&err, FsOp::TryLock, errno, &lock_file(&s));
        before.assert_same(dir.path(), "an acquire whose try_lock failed");
        assert_no_entry(&lock, &s);
    }
}

/// A `LockFs` whose publish fails at its lock step (ENOLCK): a typed error, nothing
/// created.
/// Checks: INV-5
#[test]
fn publish_lock_step_error_from_lockfs_is_typed() {
    let (dir, s) = session();
    let before = Snapshot::of(dir.path());
    let (lock, _) = faulty(short(), Some((FsOp::Publish, Errno::NOLCK)));
    let err = lock.acquire_blocking(&s, Owner::new()).unwrap_err();
    expect_fs_error(&err, FsOp::Publish, Errno::NOLCK, &lock_file(&s));
    before.assert_same(dir.path(), "an acquire whose publish failed");
    assert_no_entry(&lock, &s);
}

/// Where `flock` fails with ENOLCK, EOPNOTSUPP or ENOSYS (for real, through `RealFs`),
/// the lock still works but says so: one `tracing` WARN per directory naming it and
/// "heuristics only", and the published payload carries `"flock": false` so that no one
/// takes its free kernel lock as a proof of death. Release removes the file as usual.
/// Checks: INV-5
#[test]
fn flock_unavailable_degrades_loudly() {
    for errno in [Errno::NOLCK, Errno::OPNOTSUPP, Errno::NOSYS] {
        let (dir, s) = session();
        let ((), warnings) = without_flock(errno, move || {
            capture_warnings(|| {
                let lock = short().build();
                for _ in 0..2 {
                    let guard = lock.acquire_blocking(&s, Owner::new()).unwrap();
                    let bytes = std::fs::read(lock_file(&s)).unwrap();
                    let text = String::from_utf8_lossy(&bytes);
                    assert!(text.contains(r#""flock":false"#), "{errno:?}: {text}");
                    let payload = Payload::parse(&bytes).unwrap();
                    assert_eq!(payload.pid, Some(std::process::id()));
                    assert_eq!(guard.release_blocking().unwrap(), Released::Removed);
                }
                assert!(!lock_file(&s).exists());
            })
        });
        let dir = dir.path().canonicalize().unwrap();
        assert_eq!(warnings.matches("heuristics only").count(), 1, "{errno:?}: {warnings}");
        assert!(warnings.contains("WARN"), "{warnings}");
        assert!(warnings.contains(&dir.display().to_string()), "{warnings}");
    }
}

/// Where neither holder nor contender has `flock` (for real), a live holder in another
/// process is judged by its pid and respected; once it is SIGKILLed, its dead pid is
/// proof enough and the file is taken over.
/// Checks: INV-2, INV-4
#[test]
fn flock_unavailable_judges_by_pid() {
    let (dir, s) = session();
    let mut holder = spawn_helper("hold-without-flock", &s, &[]);
    let pid: u32 = holder.expect("held").parse().unwrap();
    let payload = Payload::parse(&std::fs::read(lock_file(&s)).unwrap()).unwrap();
    assert_eq!((payload.pid, payload.kernel_locked), (Some(pid), false));
    let before = Snapshot::of(dir.path());
    let s2 = s.clone();
    let seen = without_flock(Errno::NOLCK, move || expect_held(&short().build(), &s2));
    assert_eq!(seen.pid(), Some(pid));
    assert!(matches!(seen.pid_state(), Some(PidState::Alive { .. })), "{seen:?}");
    before.assert_same(dir.path(), "try_acquire on a live holder without flock");
    holder.kill();
    let broken = without_flock(Errno::NOLCK, move || {
        let (lock, rec) = recorded(short());
        lock.acquire_blocking(&s, Owner::new()).unwrap().release_blocking().unwrap();
        rec.broken()
    });
    assert_eq!(broken, vec![vec![Reason::DeadPid]]);
}

/// Where `flock` fails with an error that does not mean "unsupported" (EIO), nothing
/// degrades: the acquire fails with a typed error, warns of no degraded mode, and leaves
/// nothing behind.
/// Checks: INV-5
#[test]
fn flock_failing_otherwise_is_an_error() {
    let (dir, s) = session();
    let before = Snapshot::of(dir.path());
    let s2 = s.clone();
    let (err, warnings) = without_flock(Errno::IO, move || {
        capture_warnings(|| short().build().acquire_blocking(&s2, Owner::new()).unwrap_err())
    });
    expect_fs_error(&err, FsOp::Publish, Errno::IO, &lock_file(&s));
    assert!(!warnings.contains("heuristics only"), "{warnings}");
    before.assert_same(dir.path(), "an acquire whose flock failed with EIO");
}

/// Where `flock` fails (ENOLCK) for the contender only, while the holder, another live
/// process, really holds its file's kernel lock and published `"flock": true`: the holder
/// must be respected. degraded.rs says an unavailable flock "sends the judge to the same
/// heuristics", which find the holder's pid alive.
///
/// Bug: `RealHandle::try_flock` answers "free" (`Ok(true)`) when flock is unavailable, and
/// the judge takes a free kernel lock on a `"flock": true` payload as `KernelProvenDead`,
/// so the contender unlinks the live holder's file and takes the lock: two holders.
/// Checks: INV-2, INV-1
#[test]
fn flock_unavailable_to_contender_only_respects_live_holder() {
    let (dir, s) = session();
    let mut holder = spawn_helper("hold", &s, &[]);
    let pid: u32 = holder.expect("held").parse().unwrap();
    let before = Snapshot::of(dir.path());
    let s2 = s.clone();
    let outcome = without_flock(Errno::NOLCK, move || {
        let (lock, rec) = recorded(short());
        match lock.try_acquire_blocking(&s2, Owner::new()).unwrap() {
            TryAcquire::Held(seen) => Ok(seen.pid()),
            TryAcquire::Acquired(guard) => {
                guard.release_blocking().unwrap();
                Err(rec.broken())
            }
        }
    });
    let seen = outcome.unwrap_or_else(|broken| {
        panic!("INV-2 NoLiveRemoval: removed live pid {pid}'s lock file as {broken:?}")
    });
    assert_eq!(seen, Some(pid));
    before.assert_same(dir.path(), "try_acquire without flock on a live flock holder");
    holder.kill();
}

// ---- Another user's lock file ----

/// The umask of this process, from `/proc/self/status` (reading it with `umask(2)` would
/// change it for every thread for a moment).
fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:")).unwrap();
    u32::from_str_radix(line.trim(), 8).unwrap()
}

/// A root holder's (stale) lock file: a helper holds `s` as root and is SIGKILLed.
fn dead_roots_file(s: &std::path::Path) -> u64 {
    dead_holders_file(s, "hold")
}

/// A lock file left by a helper running `role` as root, SIGKILLed; returns its inode.
fn dead_holders_file(s: &std::path::Path, role: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut holder = spawn_helper(role, s, &[]);
    holder.expect("held");
    holder.kill();
    std::fs::metadata(lock_file(s)).unwrap().ino()
}

/// Another user's live holder is waited for, not an error. A lock file is created
/// readable by others (0644 before the umask), so a contender running as `nobody` opens
/// root's lock file read-only, finds its kernel lock held and waits in the kernel; the
/// file is untouched while it waits. When the holder is SIGKILLed, the contender takes
/// over at once (`KernelProvenDead`). It was: the file was 0600 and the contender failed
/// with `Fs { op: Open, EACCES }` (the CLI: "Permission denied", exit 1).
/// Checks: INV-2, INV-4
#[test]
fn another_users_live_holder_is_waited_for_then_taken_over() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let (dir, s) = session();
    chmod(dir.path(), 0o777);
    let mut holder = spawn_helper("hold", &s, &[]);
    holder.expect("held");
    let meta = std::fs::metadata(lock_file(&s)).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o644 & !umask(), "the lock file's mode");
    let mut waiter = spawn_waiter_as_nobody(&s);
    assert_eq!(waiter.helper.expect("waiting"), "kernel", "contention across users");
    let now = std::fs::metadata(lock_file(&s)).unwrap();
    assert_eq!((now.ino(), now.uid()), (meta.ino(), 0), "INV-2: the live holder's file");
    holder.kill();
    assert_eq!(waiter.helper.expect("outcome"), "acquired");
    assert_eq!(waiter.helper.expect("broken"), "[[KernelProvenDead]]", "a takeover");
    assert!(!lock_file(&s).exists(), "the contender released its own file");
}

/// A stale lock file left by root in a directory another user owns is that user's to
/// take over: it can read the file (0644 before the umask), so its kernel lock proves
/// the holder dead, and the directory is its own, so it may remove it. It was: EACCES
/// from `open`, for good.
/// Checks: INV-4
#[test]
fn another_users_dead_lock_in_own_directory_is_taken_over() {
    let (dir, s) = session();
    dead_roots_file(&s);
    std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    chmod(dir.path(), 0o755);
    assert_eq!(try_acquire_as_nobody(&s), "acquired");
    assert!(!lock_file(&s).exists(), "broken, then acquired and released");
}

/// Under a umask that takes read access away from others (077), a lock file is 0600 and
/// another user cannot open it, so it cannot judge it: its acquire fails with a typed
/// error naming the lock file and EACCES, and removes nothing, although the holder is
/// dead. (Documented: the umask is honoured.)
/// Checks: INV-2, INV-5
#[test]
fn umask_077_lock_file_is_a_typed_error_for_another_user() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, s) = session();
    chmod(dir.path(), 0o777);
    dead_holders_file(&s, "hold-umask-077");
    let mode = std::fs::metadata(lock_file(&s)).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "published under umask 077");
    let before = Snapshot::of(dir.path());
    let outcome = try_acquire_as_nobody(&s);
    assert_eq!(outcome, format!("fs Open 13 {}", lock_file(&s).display()));
    before.assert_same(dir.path(), "an unprivileged acquire that could not open");
}

/// In a sticky directory owned by someone else (`/tmp`-like, mode 1777), another user
/// proves root's holder dead but may not unlink its file: the acquire fails with a typed
/// error (`Fs { op: Unlink, EPERM }`, naming the lock file), never hangs, and leaves the
/// file as it was. It was: EACCES from `open`, before any judgement.
/// Checks: INV-2, INV-5
#[test]
fn sticky_directory_keeps_another_users_dead_lock_with_a_typed_error() {
    let (dir, s) = session();
    chmod(dir.path(), 0o1777);
    dead_roots_file(&s);
    let before = Snapshot::of(dir.path());
    let outcome = try_acquire_as_nobody(&s);
    assert_eq!(outcome, format!("fs Unlink 1 {}", lock_file(&s).display()));
    before.assert_same(dir.path(), "an unprivileged acquire that could not unlink");
}

/// The unprivileged helper works from a private checkout: a copy of this test binary in
/// a directory of mode 0700 (where `nobody` cannot reach it, as for a clone into
/// `mktemp -d` or a home directory of mode 0700) runs
/// `unwritable_directory_unprivileged`, which passes. It failed: the helper was started
/// from the binary's own path, which `nobody` could not execute.
#[test]
fn unprivileged_helper_runs_from_a_private_checkout() {
    use std::os::unix::process::CommandExt;
    let private = tempfile::tempdir().unwrap();
    chmod(private.path(), 0o700);
    let copy = private.path().join("bad_input");
    std::fs::copy(std::env::current_exe().unwrap(), &copy).unwrap();
    let unreachable = std::process::Command::new(&copy).uid(NOBODY).gid(NOBODY).output();
    let denied = unreachable.expect_err("nobody must not reach the private copy");
    assert_eq!(denied.kind(), std::io::ErrorKind::PermissionDenied, "{denied}");
    let out = std::process::Command::new(&copy)
        .args(["--exact", "unwritable_directory_unprivileged", "--test-threads=1"])
        .env_remove("SESSIONLOCK_TEST_ROLE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("test result: ok. 1 passed"), "{stdout}");
}

// ---- Out of descriptors ----

/// A contended acquire in a process out of descriptors fails with a typed error and
/// never panics; the reactor, which cannot be started then, is started by a later wait
/// once descriptors are free. A helper fills its descriptor table and frees one
/// descriptor per round: the rounds fail (`EMFILE`) until one reaches the kernel wait
/// and fails there, naming the reactor (reachability), and the last one waits for the
/// live holder until its timeout, which needs the reactor. It was: a panic,
/// "cannot create the reactor's epoll/eventfd". The holder's file is untouched.
/// Checks: INV-2
#[test]
fn out_of_descriptors_is_an_error_and_the_reactor_recovers() {
    let (dir, s) = session();
    let mut holder = spawn_helper("hold", &s, &[]);
    holder.expect("held");
    let before = Snapshot::of(dir.path());
    let mut helper = spawn_helper(descriptors::ROLE, &s, &[]);
    let mut rounds = Vec::new();
    loop {
        let round = helper.expect("round");
        let last = round == "timeout";
        rounds.push(round);
        if last {
            break;
        }
    }
    helper.expect("done");
    assert!(rounds.iter().any(|r| is_reactor_failure(r)), "never reached the wait: {rounds:#?}");
    let (failed, [_timeout]) = rounds.split_at(rounds.len() - 1) else { unreachable!() };
    for round in failed {
        assert!(round.starts_with("fs ") && round.contains("os error 24"), "{rounds:#?}");
    }
    before.assert_same(dir.path(), "acquires out of descriptors");
    holder.kill();
}
