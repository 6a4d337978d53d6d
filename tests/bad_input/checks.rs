//! The checks the rows of `tests/bad_input.rs` share.

use std::path::Path;
use std::time::Duration;

use rustix::io::Errno;
use sessionlock::fs::{FileKind, FsOp};
use sessionlock::{AcquireError, Clock, Owner, Released, TryAcquire};
use sessionlock::{Holder, Reason};
use sessionlock::{SessionFs, SessionLock};

use super::snapshot::Snapshot;
use super::{foreign, short, with_lock_file};
use crate::common::{age_file, dead_pid, fds_on, lock_file, lock_path, recorded};

/// `try_acquire` of `s` must report a holder; returns it.
pub fn expect_held<F, C>(lock: &SessionLock<F, C>, s: &Path) -> Holder
where
    F: SessionFs,
    C: Clock,
{
    match lock.try_acquire_blocking(s, Owner::new()).unwrap() {
        TryAcquire::Held(holder) => *holder,
        TryAcquire::Acquired(guard) => {
            let path = guard.lock_path().clone();
            drop(guard);
            panic!("INV-2 NoLiveRemoval: took over {path}, which was not proved stale")
        }
    }
}

/// `err` must be `AcquireError::Fs` for `op`, failing with `errno`, naming `path` (also in
/// its message).
pub fn expect_fs_error(err: &AcquireError, op: FsOp, errno: Errno, path: &Path) {
    let AcquireError::Fs(e) = err else { panic!("expected an Fs error, got {err}") };
    assert_eq!(e.op, op, "{err}");
    assert_eq!(e.source.raw_os_error(), Some(errno.raw_os_error()), "{err}");
    assert_eq!(e.path, path, "{err}");
    let text = err.to_string();
    assert!(text.starts_with(&format!("{op} {}", path.display())), "{text}");
}

/// The registry of `lock` has no entry for `s`, and no descriptor on its lock path is
/// open (INV-5: a failed acquire leaves nothing behind).
pub fn assert_no_entry<F: SessionFs, C: Clock>(lock: &SessionLock<F, C>, s: &Path) {
    assert_no_entry_beyond(lock, s, 0);
}

/// [`assert_no_entry`], when the test itself holds `own` descriptors on the lock path.
pub fn assert_no_entry_beyond<F: SessionFs, C: Clock>(
    lock: &SessionLock<F, C>,
    s: &Path,
    own: usize,
) {
    let path = lock_path(s);
    assert_eq!(lock.locker().registry().phase(&path), None, "INV-5 NoLeak: entry left for {path}");
    let open = fds_on(path.as_path());
    assert_eq!(open, own, "INV-5 NoLeak: a handle left open on {path}");
}

/// Both entry points refuse `kind` at the lock path, naming it, and change nothing.
pub fn expect_refused(dir: &Path, s: &Path, kind: FileKind) {
    let before = Snapshot::of(dir);
    let own = fds_on(&lock_file(s));
    let lock = short().build();
    let refused = |e: &AcquireError| match e {
        AcquireError::NotALockFile { kind: k, path } => *k == kind && *path == lock_path(s),
        _ => false,
    };
    let err = lock.try_acquire_blocking(s, Owner::new()).unwrap_err();
    assert!(refused(&err), "{err}");
    let err = lock.acquire_blocking(s, Owner::new()).unwrap_err();
    assert!(refused(&err), "{err}");
    assert!(err.to_string().contains("left untouched"), "{err}");
    before.assert_same(dir, "refusing a non-lock file");
    assert_no_entry_beyond(&lock, s, own);
}

/// A fresh file is respected (`Held`, no pid, no reason) and changed in nothing; aged past
/// the grace, it is proved stale and taken over.
pub fn payloadless_rules_apply(bytes: &[u8]) {
    let (dir, s) = with_lock_file(bytes);
    let before = Snapshot::of(dir.path());
    let holder = expect_held(&short().build(), &s);
    assert_eq!((holder.pid(), holder.is_kernel_held(), holder.pid_state()), (None, false, None));
    assert!(holder.reasons().is_empty(), "{:?}", holder.reasons());
    before.assert_same(dir.path(), "try_acquire on a fresh payload-less file");
    age_file(&lock_file(&s), Duration::from_secs(60));
    let (lock, rec) = recorded(short());
    let guard = lock.acquire_blocking(&s, Owner::new()).unwrap();
    assert_eq!(rec.broken(), vec![vec![Reason::PayloadlessPastGrace]]);
    assert_eq!(guard.release_blocking().unwrap(), Released::Removed);
}

/// A foreign file naming a dead pid is taken over as `DeadPid`, whatever `created` says.
pub fn dead_pid_still_proves_death(created: &str) {
    let (_dir, s) = with_lock_file(&foreign(dead_pid(), created, ""));
    let (lock, rec) = recorded(short());
    lock.acquire_blocking(&s, Owner::new()).unwrap().release_blocking().unwrap();
    assert_eq!(rec.broken(), vec![vec![Reason::DeadPid]]);
}

/// `err` must be a `Resolve` error of `kind` naming the session path `s`.
pub fn expect_resolve_error(err: &AcquireError, kind: std::io::ErrorKind, s: &Path) {
    let AcquireError::Fs(e) = err else { panic!("expected an Fs error, got {err}") };
    assert_eq!((e.op, e.source.kind(), e.path.as_path()), (FsOp::Resolve, kind, s), "{err}");
    assert!(err.to_string().contains(&s.display().to_string()), "{err}");
}
