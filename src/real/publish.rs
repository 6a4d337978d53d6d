//! Atomic publication: a lock file appears complete and already kernel-locked, or not at all.
//!
//! 1. Create an inode no one else can see: `O_TMPFILE` in the lock's directory, or where
//!    that is unsupported a uniquely named `.<name>.<pid>.<n>.tmp` (`O_EXCL`).
//! 2. `flock(LOCK_EX|LOCK_NB)` it (it cannot be contended: no one else can reach it).
//! 3. Write the whole payload.
//! 4. `linkat` it to the lock path. `EEXIST` is contention, and the inode is discarded.
//!
//! Steps 1 and 4 are relative to an `O_PATH` descriptor on the lock's directory, which is
//! kept open once a second lock file has been published there, and reused while the
//! directory's path still names it (see `dir.rs`).
//!
//! ## The file's mode
//!
//! A lock file is created with mode [`LOCK_FILE_MODE`] (`0644`) masked by the umask, so
//! with the usual umask (`022`, `002`) every user can read it and only its creator can
//! write it. Readable by others is what matters: a contender of another uid opens the
//! file read-only to try its `flock` (a read-only descriptor takes an exclusive `flock`
//! as well), so it can wait for a live holder and prove a dead one gone. Nobody but the
//! publisher ever writes a lock file, so no write bit is given to others (the original
//! lock asks for `0666`; its group and other write bits would only let other users
//! corrupt a live holder's payload). The umask is honoured, as for every file a user
//! creates: under a umask that takes read access away from others (`077`), their
//! contenders cannot open the file, and their acquire fails with a typed error
//! (`FsOp::Open`, `EACCES`, naming the lock file) instead of waiting or removing it.
//!
//! The named fallback unlinks its temporary name after linking. A crash between its
//! `O_EXCL` create and that unlink leaves a stray `.tmp` beside the lock; it is never at
//! the lock path, so the protocol never sees it.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rustix::fs::{AtFlags, CWD, FlockOperation, Mode, OFlags, flock, fstat, linkat, openat};
use rustix::io::Errno;

use super::degraded::DirInfo;
use super::handle::{RealHandle, file_id};
use crate::fs::{LockPath, Published};

/// The mode a lock file is created with, before the umask (see the module docs).
pub(crate) const LOCK_FILE_MODE: u32 = 0o644;

/// Publishes `payload` at `path` (see the module docs).
pub(crate) fn publish(path: &LockPath, payload: &[u8]) -> io::Result<Published<RealHandle>> {
    let (dir, name) = split(path)?;
    let dir = super::dir::open(dir)?;
    let fresh = Fresh::create(dir.fd(), name)?;
    lock_and_fill(fresh.fd(), dir.info(), payload)?;
    let id = file_id(&fstat(fresh.fd())?);
    match fresh.link(dir.fd(), name)? {
        Some(fd) => {
            super::dir::published_in(&dir);
            let handle = RealHandle::new(fd, path.clone(), Arc::clone(dir.info()));
            Ok(Published::Created { handle, id })
        }
        None => Ok(Published::Exists),
    }
}

/// The directory and file name of a lock path.
pub(crate) fn split(path: &LockPath) -> io::Result<(&Path, &OsStr)> {
    let p = path.as_path();
    match (p.parent(), p.file_name()) {
        (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => Ok((dir, name)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("lock path {} names no file in a directory", p.display()),
        )),
    }
}

/// A new inode that only we can reach.
enum Fresh {
    /// From `O_TMPFILE`: it has no name at all.
    Anonymous(OwnedFd),
    /// From the fallback: it has a unique temporary name.
    Named { fd: OwnedFd, temp: OsString },
}

impl Fresh {
    fn create(dirfd: &OwnedFd, name: &OsStr) -> io::Result<Self> {
        let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
        match openat(dirfd, ".", flags, Mode::from_raw_mode(LOCK_FILE_MODE)) {
            Ok(fd) => Ok(Self::Anonymous(fd)),
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => Self::create_named(dirfd, name),
            Err(e) => Err(e.into()),
        }
    }

    fn create_named(dirfd: &OwnedFd, name: &OsStr) -> io::Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let flags = OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | OFlags::CLOEXEC;
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let temp = temp_name(name, std::process::id(), n);
            match openat(dirfd, &temp, flags, Mode::from_raw_mode(LOCK_FILE_MODE)) {
                Ok(fd) => return Ok(Self::Named { fd, temp }),
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Self::Anonymous(fd) | Self::Named { fd, .. } => fd.as_fd(),
        }
    }

    /// Links the inode at `name`. `None`: something is already there.
    fn link(self, dirfd: &OwnedFd, name: &OsStr) -> io::Result<Option<OwnedFd>> {
        let (fd, linked) = match self {
            Self::Anonymous(fd) => {
                let linked = link_anonymous(fd.as_fd(), dirfd, name);
                (fd, linked)
            }
            Self::Named { fd, temp } => {
                let linked = linkat(dirfd, &temp, dirfd, name, AtFlags::empty());
                if let Err(error) = rustix::fs::unlinkat(dirfd, &temp, AtFlags::empty()) {
                    tracing::warn!(temp = ?temp, %error, "could not remove a temporary lock file");
                }
                (fd, linked)
            }
        };
        match linked {
            Ok(()) => Ok(Some(fd)),
            Err(Errno::EXIST) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

fn temp_name(name: &OsStr, pid: u32, n: u64) -> OsString {
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(format!(".{pid}.{n}.tmp"));
    temp
}

/// Takes the fresh inode's kernel lock (uncontended by construction) and writes the payload.
fn lock_and_fill(fd: BorrowedFd<'_>, info: &DirInfo, payload: &[u8]) -> io::Result<()> {
    match flock(fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(e) if info.flock_unavailable(e) => {}
        Err(e) => return Err(e.into()),
    }
    write_all(fd, &info.payload(payload))
}

fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// `linkat(fd, "", dir, name, AT_EMPTY_PATH)`, or through `/proc/self/fd/N` where
/// `AT_EMPTY_PATH` needs a capability we lack (it then fails with `ENOENT`; the choice
/// is remembered for the process).
fn link_anonymous(fd: BorrowedFd<'_>, dirfd: &OwnedFd, name: &OsStr) -> rustix::io::Result<()> {
    static VIA_PROC: AtomicBool = AtomicBool::new(false);
    if !VIA_PROC.load(Ordering::Relaxed) {
        match linkat(fd, "", dirfd, name, AtFlags::EMPTY_PATH) {
            Err(Errno::NOENT) => VIA_PROC.store(true, Ordering::Relaxed),
            other => return other,
        }
    }
    link_via_proc(fd, dirfd, name)
}

fn link_via_proc(fd: BorrowedFd<'_>, dirfd: &OwnedFd, name: &OsStr) -> rustix::io::Result<()> {
    let magic = format!("/proc/self/fd/{}", fd.as_raw_fd());
    linkat(CWD, magic.as_str(), dirfd, name, AtFlags::SYMLINK_FOLLOW)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn dir() -> (tempfile::TempDir, OwnedFd) {
        let tmp = tempfile::tempdir().unwrap();
        let fd = openat(CWD, tmp.path(), OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).unwrap();
        (tmp, fd)
    }

    #[test]
    fn linking_through_proc_works_and_reports_contention() {
        let (tmp, dirfd) = dir();
        let fresh = Fresh::create(&dirfd, OsStr::new("a.lock")).unwrap();
        write_all(fresh.fd(), b"{}").unwrap();
        link_via_proc(fresh.fd(), &dirfd, OsStr::new("a.lock")).unwrap();
        assert_eq!(std::fs::read(tmp.path().join("a.lock")).unwrap(), b"{}");
        let again = link_via_proc(fresh.fd(), &dirfd, OsStr::new("a.lock"));
        assert_eq!(again, Err(Errno::EXIST));
    }

    #[test]
    fn the_named_fallback_links_and_leaves_no_temporary_name() {
        let (tmp, dirfd) = dir();
        let name = OsStr::new("b.lock");
        let fresh = Fresh::create_named(&dirfd, name).unwrap();
        write_all(fresh.fd(), b"{}").unwrap();
        assert!(fresh.link(&dirfd, name).unwrap().is_some());
        let second = Fresh::create_named(&dirfd, name).unwrap();
        assert!(second.link(&dirfd, name).unwrap().is_none(), "EEXIST");
        let names: Vec<_> =
            std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![OsString::from("b.lock")]);
    }

    #[test]
    fn temporary_names_are_hidden_and_unique() {
        let a = temp_name(OsStr::new("s.jsonl.lock"), 42, 7);
        assert_eq!(a.as_bytes(), b".s.jsonl.lock.42.7.tmp");
    }

    #[test]
    fn a_relative_or_rootless_path_is_refused() {
        assert!(split(&LockPath::from_canonical("x.lock")).is_err());
        assert!(split(&LockPath::from_canonical("/")).is_err());
        let path = LockPath::from_canonical("/a/x.lock");
        let (dir, name) = split(&path).unwrap();
        assert_eq!((dir, name), (Path::new("/a"), OsStr::new("x.lock")));
    }
}
