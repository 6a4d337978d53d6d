//! [`RealFs`]: the [`LockFs`] primitives as Linux system calls.
//!
//! | primitive   | system calls                                                        |
//! |-------------|---------------------------------------------------------------------|
//! | `publish`   | `O_TMPFILE` (or `O_EXCL` temp name), `flock(LOCK_EX\|LOCK_NB)`, `write`, `linkat` |
//! | `open`      | `openat(O_PATH\|O_NOFOLLOW)`, `fstat`, then `/proc/self/fd/N` `O_RDONLY` |
//! | `try_lock`  | `flock(LOCK_EX\|LOCK_NB)`                                            |
//! | `lock_until`| inotify on the inode + `flock(LOCK_EX\|LOCK_NB)` (see `wait.rs`)     |
//! | `meta`      | `fstat`                                                             |
//! | `path_id`   | `lstat`                                                             |
//! | `tickets`   | `openat(O_DIRECTORY)` of the lock's directory, `getdents`, `fstatat(AT_SYMLINK_NOFOLLOW)` of each ticket |
//! | `read`      | `pread` from offset 0                                               |
//! | `unlink`    | `unlinkat`                                                          |
//! | `close`     | `close`, reporting its error                                        |
//! | `lease`     | `fcntl(F_SETSIG, SIGURG)`, `fcntl(F_SETLEASE, F_RDLCK)`, then `F_UNLCK` at once (see `lease.rs`) |
//! | `writers_closed_until` | inotify `IN_CLOSE_WRITE` on the inode + the lease probe (see `wait.rs`) |
//! | `location`  | `/proc/sys/kernel/hostname`, `/proc/sys/kernel/random/boot_id`, `stat /proc/self/ns/pid`, once per process |
//!
//! `publish` works relative to an `O_PATH` descriptor on the lock's directory, kept open
//! and checked with one `stat` before each use (see `dir.rs`); the other primitives name
//! the lock path itself.
//!
//! Every primitive but `lock_until` and `writers_closed_until` is one or a few
//! non-waiting system calls and completes on its first poll; none of them ever waits for
//! another process.

use std::io;
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{
    AtFlags, CWD, Dir, FileType, Mode, OFlags, fstat, lstat, openat, statat, unlinkat,
};
use rustix::io::Errno;

use super::clock::RealClock;
use super::degraded::dir_info;
use super::handle::{RealHandle, file_id, kind_of};
use super::proc;
use super::publish::{publish, split};
use super::wait::LockWait;
use crate::fs::{FileId, FileKind, FileMeta, FsError, FsOp, FsResult, LockFs, LockPath, Moment};
use crate::fs::{Lease, Location, Opened, PidState, ProcessId, Published, Ticket};

/// The Linux filesystem, processes and `flock`.
///
/// Stateless: what it learns about directories (see the degraded mode in
/// [`crate::real`], and the remembered lock directories in `dir.rs`) is process-wide.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

fn err(op: FsOp, path: &LockPath) -> impl FnOnce(io::Error) -> FsError + '_ {
    move |e| FsError::new(op, path, e)
}

impl LockFs for RealFs {
    type Handle = RealHandle;

    async fn publish(&self, path: &LockPath, payload: &[u8]) -> FsResult<Published<RealHandle>> {
        publish(path, payload).map_err(err(FsOp::Publish, path))
    }

    async fn open(&self, path: &LockPath) -> FsResult<Opened<RealHandle>> {
        open(path).map_err(err(FsOp::Open, path))
    }

    async fn try_lock(&self, handle: &RealHandle) -> FsResult<bool> {
        handle.try_flock().map_err(err(FsOp::TryLock, handle.path()))
    }

    /// `false` in a heuristics-only directory (NFS and other network filesystems, or
    /// where `flock` failed): a lock we got there proves nothing about other hosts or
    /// implementations (see `degraded.rs`).
    fn kernel_proof(&self, handle: &RealHandle) -> bool {
        !handle.heuristic_only()
    }

    async fn lock_until(&self, handle: &RealHandle, deadline: Moment) -> FsResult<bool> {
        LockWait::new(handle, RealClock::instant(deadline))
            .await
            .map_err(err(FsOp::LockUntil, handle.path()))
    }

    async fn meta(&self, handle: &RealHandle) -> FsResult<FileMeta> {
        handle.meta().map_err(err(FsOp::Meta, handle.path()))
    }

    async fn path_id(&self, path: &LockPath) -> FsResult<Option<FileId>> {
        match lstat(path.as_path()) {
            Ok(st) => Ok(Some(file_id(&st))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(FsError::new(FsOp::PathId, path, e.into())),
        }
    }

    async fn tickets(&self, lock: &LockPath) -> FsResult<Vec<(Ticket, FileId)>> {
        tickets(lock).map_err(err(FsOp::Tickets, lock))
    }

    async fn read(&self, handle: &RealHandle, limit: usize) -> FsResult<Vec<u8>> {
        handle.read(limit).map_err(err(FsOp::Read, handle.path()))
    }

    async fn unlink(&self, path: &LockPath, _held: &RealHandle) -> FsResult<()> {
        unlinkat(CWD, path.as_path(), AtFlags::empty())
            .map_err(|e| FsError::new(FsOp::Unlink, path, e.into()))
    }

    async fn close(&self, handle: RealHandle) -> FsResult<()> {
        let path = handle.path().clone();
        handle.close().map_err(|e| FsError::new(FsOp::Close, &path, e))
    }

    /// [`Lease::Unavailable`] in a heuristics-only directory: a lease there sees only this
    /// host's descriptors, as `flock` does.
    async fn lease(&self, handle: &RealHandle) -> FsResult<Lease> {
        if handle.heuristic_only() {
            return Ok(Lease::Unavailable);
        }
        Ok(handle.lease())
    }

    async fn writers_closed_until(&self, handle: &RealHandle, deadline: Moment) -> FsResult<bool> {
        LockWait::writers_closed(handle, RealClock::instant(deadline))
            .await
            .map_err(err(FsOp::WriterWait, handle.path()))
    }

    fn process(&self) -> ProcessId {
        proc::me()
    }

    fn location(&self) -> &Location {
        proc::location()
    }

    async fn pid_state(&self, pid: u32) -> PidState {
        proc::state(pid)
    }
}

/// Opens whatever `path` names, never following a symlink and never hanging on a FIFO.
fn open(path: &LockPath) -> io::Result<Opened<RealHandle>> {
    // Look first, through an `O_PATH` descriptor, which opens nothing: a FIFO's writer is
    // not released and a device's driver is not called for what is not a lock file.
    let look = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let at = match openat(CWD, path.as_path(), look, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(Opened::Missing),
        Err(e) => return Err(e.into()),
    };
    if let Some(kind) = kind_of(rustix::fs::FileType::from_raw_mode(fstat(&at)?.st_mode)) {
        return Ok(Opened::NotALockFile(kind));
    }
    // A regular file: open that very inode for reading (and `flock`) through the
    // descriptor's `/proc` link, so a replacement of the path in between cannot matter.
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let link = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&at));
    let fd = match openat(CWD, link.as_str(), flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return open_directly(path), // no /proc here
        Err(e) => return Err(e.into()),
    };
    file(fd, path)
}

/// A handle on the regular file open as `fd`, found at `path`.
fn file(fd: std::os::fd::OwnedFd, path: &LockPath) -> io::Result<Opened<RealHandle>> {
    let (dir, _) = split(path)?;
    let info = dir_info(dir, None::<&std::os::fd::OwnedFd>);
    Ok(Opened::File(RealHandle::new(fd, path.clone(), info)))
}

/// [`open`] without `/proc`: opens the path itself, then checks what it is.
fn open_directly(path: &LockPath) -> io::Result<Opened<RealHandle>> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let fd = match openat(CWD, path.as_path(), flags | OFlags::NOCTTY, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(Opened::Missing),
        Err(Errno::LOOP) => return Ok(Opened::NotALockFile(FileKind::Symlink)),
        Err(Errno::NXIO) => return not_openable(path),
        Err(e) => return Err(e.into()),
    };
    let st = fstat(&fd)?;
    if let Some(kind) = kind_of(rustix::fs::FileType::from_raw_mode(st.st_mode)) {
        return Ok(Opened::NotALockFile(kind));
    }
    file(fd, path)
}

/// Classifies what sits at `path` when it cannot even be opened (a socket: `ENXIO`).
fn not_openable(path: &LockPath) -> io::Result<Opened<RealHandle>> {
    match lstat(path.as_path()) {
        Ok(st) => Ok(Opened::NotALockFile(
            kind_of(rustix::fs::FileType::from_raw_mode(st.st_mode)).unwrap_or(FileKind::Other),
        )),
        Err(Errno::NOENT) => Ok(Opened::Missing),
        Err(e) => Err(e.into()),
    }
}

/// The tickets beside `lock`: one pass over its directory, then `lstat` of each ticket's
/// name for the identity `path_id` and `unlink_if` compare against. A name that went away
/// in between was removed during the listing, so leaving it out is a listing taken a
/// moment later; a name that is not a regular file is nobody's ticket.
fn tickets(lock: &LockPath) -> io::Result<Vec<(Ticket, FileId)>> {
    let (dir, _) = split(lock)?;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    // The stream owns the descriptor: `Dir::read_from` would open the directory again.
    let mut entries = Dir::new(openat(CWD, dir, flags, Mode::empty())?)?;
    let mut found = Vec::new();
    while let Some(entry) = entries.read() {
        let entry = entry?;
        let name = std::ffi::OsStr::from_bytes(entry.file_name().to_bytes());
        let Some(ticket) = Ticket::parse(lock, name) else { continue };
        match statat(entries.fd()?, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {
                found.push((ticket, file_id(&st)));
            }
            Ok(_) | Err(Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}
