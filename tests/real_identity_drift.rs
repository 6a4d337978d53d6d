//! Identity drift (H17): on some virtual filesystems `fstat` and `lstat` disagree on the
//! inode number of one file. A wrapper around the real filesystem reproduces that: it
//! reports a different inode from `publish` and `meta` (fstat) than from `path_id`
//! (lstat). The lock must still release its own file, break a dead holder's file, and
//! never remove a file it cannot bind.
#![cfg(not(sessionlock_loom))]

mod common;

use std::future::Future;
use std::io;
use std::path::Path;
use std::time::Duration;

use common::{Seen, dead_pid, lock_file, lock_path, now_iso, session, write_foreign};
use sessionlock::Reason;
use sessionlock::fs::{FileId, FileMeta, FsResult, Lease, Location, Opened, PidState, ProcessId};
use sessionlock::fs::{Published, Ticket};
use sessionlock::payload::Payload;
use sessionlock::{AcquireError, Builder, LockFs, LockPath, Moment, Owner, RealClock, RealFs};
use sessionlock::{Clock, Released};
use sessionlock::{SessionFs, SessionLock};

/// The real filesystem's open lock file.
type RealHandle = <RealFs as LockFs>::Handle;

/// The real filesystem, with `fstat` inode numbers that differ from `lstat`'s.
#[derive(Clone, Copy, Debug, Default)]
struct DriftFs;

fn drift(id: FileId) -> FileId {
    FileId { dev: id.dev, ino: id.ino ^ (1 << 40) }
}

impl LockFs for DriftFs {
    type Handle = RealHandle;

    async fn publish(&self, path: &LockPath, payload: &[u8]) -> FsResult<Published<RealHandle>> {
        Ok(match RealFs.publish(path, payload).await? {
            Published::Created { handle, id } => Published::Created { handle, id: drift(id) },
            other => other,
        })
    }

    fn open(&self, path: &LockPath) -> impl Future<Output = FsResult<Opened<RealHandle>>> + Send {
        RealFs.open(path)
    }

    fn try_lock(&self, handle: &RealHandle) -> impl Future<Output = FsResult<bool>> + Send {
        RealFs.try_lock(handle)
    }

    fn lock_until(
        &self,
        handle: &RealHandle,
        deadline: Moment,
    ) -> impl Future<Output = FsResult<bool>> + Send {
        RealFs.lock_until(handle, deadline)
    }

    async fn meta(&self, handle: &RealHandle) -> FsResult<FileMeta> {
        let meta = RealFs.meta(handle).await?;
        Ok(FileMeta { id: drift(meta.id), ..meta })
    }

    fn path_id(&self, path: &LockPath) -> impl Future<Output = FsResult<Option<FileId>>> + Send {
        RealFs.path_id(path)
    }

    fn tickets(
        &self,
        lock: &LockPath,
    ) -> impl Future<Output = FsResult<Vec<(Ticket, FileId)>>> + Send {
        RealFs.tickets(lock)
    }

    fn read(
        &self,
        handle: &RealHandle,
        limit: usize,
    ) -> impl Future<Output = FsResult<Vec<u8>>> + Send {
        RealFs.read(handle, limit)
    }

    fn unlink(
        &self,
        path: &LockPath,
        held: &RealHandle,
    ) -> impl Future<Output = FsResult<()>> + Send {
        RealFs.unlink(path, held)
    }

    fn close(&self, handle: RealHandle) -> impl Future<Output = FsResult<()>> + Send {
        RealFs.close(handle)
    }

    fn lease(&self, handle: &RealHandle) -> impl Future<Output = FsResult<Lease>> + Send {
        RealFs.lease(handle)
    }

    fn writers_closed_until(
        &self,
        handle: &RealHandle,
        deadline: Moment,
    ) -> impl Future<Output = FsResult<bool>> + Send {
        RealFs.writers_closed_until(handle, deadline)
    }

    fn process(&self) -> ProcessId {
        RealFs.process()
    }

    fn location(&self) -> &Location {
        RealFs.location()
    }

    fn pid_state(&self, pid: u32) -> impl Future<Output = PidState> + Send {
        RealFs.pid_state(pid)
    }
}

impl SessionFs for DriftFs {
    fn lock_path_for(&self, session: &Path) -> io::Result<LockPath> {
        sessionlock::SessionFs::lock_path_for(&sessionlock::RealFs, session)
    }
}

fn drifting(
    builder: Builder,
) -> (SessionLock<DriftFs, RealClock>, std::sync::Arc<common::Recorder>) {
    let recorder = std::sync::Arc::new(common::Recorder::default());
    let lock = builder.observer(recorder.clone()).build_with(DriftFs, RealClock);
    (lock, recorder)
}

/// Release still removes the holder's own file, recognised by its nonce, and verify
/// still accepts it.
/// Checks: INV-5, INV-2
#[test]
fn release_removes_own_file_despite_identity_drift() {
    let (_dir, s) = session();
    let (lock, rec) = drifting(Builder::new());
    let guard = lock.acquire_blocking(&s, Owner::new()).unwrap();
    guard.verify_blocking().unwrap();
    assert_eq!(guard.release_blocking().unwrap(), Released::Removed);
    assert!(!lock_file(&s).exists());
    assert_eq!(rec.count(&Seen::Compromised), 0);
}

/// A dead sessionlock holder's file (kernel lock free, nonce present) is still proven
/// dead and broken.
/// Checks: INV-4, INV-2
#[test]
fn dead_holders_file_broken_despite_identity_drift() {
    let (_dir, s) = session();
    let path = lock_path(&s);
    let payload = Payload {
        pid: Some(dead_pid()),
        created_at_ms: Some(RealClock.wall_ms()),
        kernel_locked: true,
        nonce: Some("dead.holder.1".into()),
        ..Payload::default()
    };
    match pollster::block_on(RealFs.publish(&path, &payload.to_bytes())).unwrap() {
        Published::Created { handle, .. } => drop(handle),
        other => panic!("fresh directory, yet {other:?}"),
    }
    let (lock, rec) = drifting(Builder::new());
    let guard = lock.acquire_blocking(&s, Owner::new()).unwrap();
    assert_eq!(rec.broken(), vec![vec![Reason::KernelProvenDead]]);
    guard.release_blocking().unwrap();
    assert!(!lock_file(&s).exists());
}

/// A foreign file without a nonce cannot be bound to the inode that was judged, so it
/// is never removed, however dead its pid: the acquire times out naming it.
/// Checks: INV-2
#[test]
fn unbindable_foreign_file_never_removed_under_identity_drift() {
    let (_dir, s) = session();
    write_foreign(&s, dead_pid(), &now_iso());
    let (lock, rec) = drifting(Builder::new().timeout(Duration::from_millis(300)));
    let err = lock.acquire_blocking(&s, Owner::new()).unwrap_err();
    assert!(matches!(err, AcquireError::Timeout { .. }), "{err}");
    assert!(lock_file(&s).exists());
    assert!(rec.broken().is_empty());
}
