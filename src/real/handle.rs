//! [`RealHandle`]: an open lock file, and the primitives that act on one.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use rustix::fs::{FileType, FlockOperation, Stat, flock, fstat};
use rustix::io::Errno;

use super::degraded::DirInfo;
use crate::fs::{FileId, FileKind, FileMeta, LockPath};

/// An open file description of a lock file, from [`RealFs`](super::RealFs).
///
/// Dropping it closes the descriptor, which releases its `flock`; `RealFs::close` does the
/// same and reports the error `close(2)` returns.
pub struct RealHandle {
    fd: OwnedFd,
    path: LockPath,
    dir: Arc<DirInfo>,
}

impl fmt::Debug for RealHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RealHandle").field("fd", &self.fd).field("path", &self.path).finish()
    }
}

impl RealHandle {
    pub(crate) fn new(fd: OwnedFd, path: LockPath, dir: Arc<DirInfo>) -> Self {
        Self { fd, path, dir }
    }

    /// The descriptor, for the kernel-lock wait. Not public: a caller that unlocked or
    /// closed it would void the lock.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The lock path this handle was opened or published at.
    pub fn path(&self) -> &LockPath {
        &self.path
    }

    /// Whether locks in this handle's directory are judged by heuristics only.
    pub(crate) fn heuristic_only(&self) -> bool {
        self.dir.heuristic_only()
    }

    /// `flock(LOCK_EX|LOCK_NB)`. `Ok(false)`: another open file description holds it.
    /// Where `flock` is unavailable (see `degraded.rs`), `Ok(true)`, and
    /// [`RealHandle::heuristic_only`] turns true: there is no kernel lock to see, and
    /// `LockFs::kernel_proof` tells the judge to fall back to heuristics.
    pub(crate) fn try_flock(&self) -> io::Result<bool> {
        loop {
            return match flock(&self.fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => Ok(true),
                Err(Errno::WOULDBLOCK) => Ok(false),
                Err(Errno::INTR) => continue,
                Err(e) if self.dir.flock_unavailable(e) => Ok(true),
                Err(e) => Err(e.into()),
            };
        }
    }

    /// Whether any descriptor has this file open for writing (see `lease.rs`). Handles
    /// from `open` are read-only, as the probe needs.
    pub(crate) fn lease(&self) -> crate::fs::Lease {
        super::lease::probe(self.fd.as_fd())
    }

    /// `fstat`: the inode's identity and mtime.
    pub(crate) fn meta(&self) -> io::Result<FileMeta> {
        let st = fstat(&self.fd)?;
        Ok(FileMeta { id: file_id(&st), mtime_ms: mtime_ms(&st) })
    }

    /// Reads at most `limit` bytes from offset 0 (`pread`, so the offset is untouched).
    pub(crate) fn read(&self, limit: usize) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        while buf.len() < limit {
            buf.reserve_exact((limit - buf.len()).min(4096));
            let offset = buf.len() as u64;
            let spare = rustix::buffer::spare_capacity(&mut buf);
            match rustix::io::pread(&self.fd, spare, offset) {
                Ok(0) => break,
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        buf.truncate(limit);
        Ok(buf)
    }

    /// Closes the descriptor and reports what `close(2)` said. The descriptor is gone
    /// either way; `EINTR` is not an error on Linux (the descriptor is closed).
    pub(crate) fn close(self) -> io::Result<()> {
        super::sys::close(self.fd)
    }
}

pub(crate) fn file_id(st: &Stat) -> FileId {
    FileId { dev: st.st_dev, ino: st.st_ino }
}

#[allow(clippy::useless_conversion)] // the field types differ between targets
fn mtime_ms(st: &Stat) -> u64 {
    let secs = u64::try_from(st.st_mtime).unwrap_or(0);
    let nanos = u64::try_from(st.st_mtime_nsec).unwrap_or(0);
    secs.saturating_mul(1000).saturating_add(nanos / 1_000_000)
}

/// What a non-regular file at a lock path is.
pub(crate) fn kind_of(file_type: FileType) -> Option<FileKind> {
    Some(match file_type {
        FileType::RegularFile => return None,
        FileType::Directory => FileKind::Directory,
        FileType::Symlink => FileKind::Symlink,
        FileType::Fifo => FileKind::Fifo,
        FileType::Socket => FileKind::Socket,
        _ => FileKind::Other,
    })
}
