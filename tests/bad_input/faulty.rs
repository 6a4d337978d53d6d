//! [`FaultyFs`]: the real filesystem with one primitive made to fail with a chosen errno,
//! and a record of every read. It stands in for what root cannot see here (file modes do
//! not stop root) and for a `LockFs` whose kernel lock is unavailable and that does not
//! degrade by itself.

use std::future::Future;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustix::io::Errno;
use sessionlock::fs::{FileId, FileMeta, FsError, FsOp, FsResult, Opened, PidState, ProcessId};
use sessionlock::fs::{Lease, Location, Published, Ticket};
use sessionlock::{Builder, LockFs, LockPath, Moment, RealClock, RealFs};
use sessionlock::{SessionFs, SessionLock};

/// The real filesystem's open lock file.
type RealHandle = <RealFs as LockFs>::Handle;

/// One `read` the core asked for: the limit it passed and how many bytes it got.
#[derive(Clone, Copy, Debug)]
pub struct ReadSeen {
    pub limit: usize,
    pub len: usize,
}

/// The real filesystem, with `fail`'s primitive failing with its errno.
pub struct FaultyFs {
    fail: Option<(FsOp, Errno)>,
    reads: Arc<Mutex<Vec<ReadSeen>>>,
}

impl FaultyFs {
    fn check(&self, op: FsOp, path: &LockPath) -> FsResult<()> {
        match self.fail {
            Some((failing, errno)) if failing == op => {
                Err(FsError::new(op, path, io::Error::from_raw_os_error(errno.raw_os_error())))
            }
            _ => Ok(()),
        }
    }
}

/// A lock over [`FaultyFs`] (its own registry), and the record of its reads.
pub fn faulty(
    builder: Builder,
    fail: Option<(FsOp, Errno)>,
) -> (SessionLock<FaultyFs, RealClock>, Arc<Mutex<Vec<ReadSeen>>>) {
    let reads = Arc::default();
    let fs = FaultyFs { fail, reads: Arc::clone(&reads) };
    (builder.build_with(fs, RealClock), reads)
}

impl LockFs for FaultyFs {
    type Handle = RealHandle;

    async fn publish(&self, path: &LockPath, payload: &[u8]) -> FsResult<Published<RealHandle>> {
        self.check(FsOp::Publish, path)?;
        RealFs.publish(path, payload).await
    }

    async fn open(&self, path: &LockPath) -> FsResult<Opened<RealHandle>> {
        self.check(FsOp::Open, path)?;
        RealFs.open(path).await
    }

    async fn try_lock(&self, handle: &RealHandle) -> FsResult<bool> {
        self.check(FsOp::TryLock, handle.path())?;
        RealFs.try_lock(handle).await
    }

    async fn lock_until(&self, handle: &RealHandle, deadline: Moment) -> FsResult<bool> {
        self.check(FsOp::LockUntil, handle.path())?;
        RealFs.lock_until(handle, deadline).await
    }

    async fn meta(&self, handle: &RealHandle) -> FsResult<FileMeta> {
        self.check(FsOp::Meta, handle.path())?;
        RealFs.meta(handle).await
    }

    async fn path_id(&self, path: &LockPath) -> FsResult<Option<FileId>> {
        self.check(FsOp::PathId, path)?;
        RealFs.path_id(path).await
    }

    async fn tickets(&self, lock: &LockPath) -> FsResult<Vec<(Ticket, FileId)>> {
        self.check(FsOp::Tickets, lock)?;
        RealFs.tickets(lock).await
    }

    async fn read(&self, handle: &RealHandle, limit: usize) -> FsResult<Vec<u8>> {
        self.check(FsOp::Read, handle.path())?;
        let bytes = RealFs.read(handle, limit).await?;
        self.reads.lock().unwrap().push(ReadSeen { limit, len: bytes.len() });
        Ok(bytes)
    }

    async fn unlink(&self, path: &LockPath, held: &RealHandle) -> FsResult<()> {
        self.check(FsOp::Unlink, path)?;
        RealFs.unlink(path, held).await
    }

    async fn close(&self, handle: RealHandle) -> FsResult<()> {
        RealFs.close(handle).await
    }

    async fn lease(&self, handle: &RealHandle) -> FsResult<Lease> {
        self.check(FsOp::Lease, handle.path())?;
        RealFs.lease(handle).await
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

impl SessionFs for FaultyFs {
    fn lock_path_for(&self, session: &Path) -> io::Result<LockPath> {
        sessionlock::SessionFs::lock_path_for(&sessionlock::RealFs, session)
    }
}
