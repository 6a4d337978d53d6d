//! The lock on the real filesystem, the default type parameters of [`SessionLock`] and
//! [`SessionGuard`]: its constructors, the session file, and the hand-off of a held lock
//! to a program about to `exec`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use super::block_on::block_on;
use super::guard::SessionGuard;
use super::lock::{Builder, SessionLock};
use crate::core::protocol;
use crate::core::{ReleaseError, release_hold};
use crate::fs::{FileId, FsError, FsOp, LockPath};
use crate::payload::{MAX_PAYLOAD_BYTES, Payload};
use crate::real::{RealClock, RealFs, registry, session_path_of};

impl SessionLock {
    /// A lock with the default options (see [`Builder`]).
    pub fn new() -> Self {
        Builder::new().build()
    }

    /// Options for a lock; finish with [`Builder::build`].
    pub fn builder() -> Builder {
        Builder::new()
    }
}

impl SessionGuard {
    /// The session file this guard's lock protects: the realpath of the session's
    /// directory plus the session's own name (the lock path without its `.lock`).
    pub fn session_path(&self) -> PathBuf {
        session_path_of(self.lock_path())
    }

    /// Opens the session file for appending (creating it if need be), after checking
    /// that the lock is still ours, as [`SessionGuard::verify`] does: this guard's hold
    /// is the current one in this process, and the lock path still names the lock file
    /// it published (the same inode, or the same publication nonce where inode numbers
    /// drift, H17).
    ///
    /// The check holds when the file is opened; it is not repeated on each write. Before
    /// a later write that must not interleave with another writer, call
    /// [`SessionGuard::verify`] again.
    ///
    /// ```
    /// use std::io::Write;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let session = dir.path().join("s.jsonl");
    /// let lock = sessionlock::SessionLock::new();
    /// let guard = lock.lock_blocking(&session)?;
    /// writeln!(guard.open_session_file_blocking()?, "{{\"turn\":1}}")?;
    /// guard.release_blocking()?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`ReleaseError::Compromised`] when the lock file was removed or replaced (someone
    /// else may hold the lock now; nothing was opened); [`ReleaseError::StaleGuard`] when
    /// the guard belongs to no current hold; [`ReleaseError::Fs`] when the lock path
    /// could not be examined, or, with [`FsOp::OpenSession`], the session file could not
    /// be opened.
    pub async fn open_session_file(&self) -> Result<File, ReleaseError> {
        self.verify().await?;
        let session = self.session_path();
        OpenOptions::new().append(true).create(true).open(&session).map_err(|source| {
            ReleaseError::Fs(FsError { op: FsOp::OpenSession, path: session, source })
        })
    }

    /// [`SessionGuard::open_session_file`] on the calling thread.
    ///
    /// # Errors
    /// As [`SessionGuard::open_session_file`].
    pub fn open_session_file_blocking(&self) -> Result<File, ReleaseError> {
        block_on(self.open_session_file())
    }
}

impl Default for SessionLock {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// Builds a lock on the real filesystem, sharing this process's one registry with
    /// every other lock built so.
    pub fn build(self) -> SessionLock {
        self.build_shared(RealFs, RealClock, registry())
    }
}

impl SessionGuard {
    /// Hands the lock over to the program this process is about to `exec` (as `flock(1)`
    /// hands its lock to its command): returns a new descriptor of the lock file's open
    /// file description, without `FD_CLOEXEC`, so the exec'd program inherits it and,
    /// with it, the kernel lock. The lock file names this process, and `exec` keeps the
    /// pid, so the file then names the program.
    ///
    /// For that hand-off only. The guard is consumed without releasing: the lock file
    /// stays, and this process's registry keeps the path held until the process execs
    /// or exits, so nothing else in it can take that path again. Every process started
    /// from here on inherits the descriptor and keeps the kernel lock held while it
    /// lives; the lock file is proven stale only once the last of them is gone, and
    /// then the next contender (or `sessionlock clean`) removes it.
    ///
    /// With [`Builder::queue`](crate::Builder::queue), the hold's ticket is removed first,
    /// as at the end of a release (R5q): the program inherits the lock, not the place in
    /// the queue, and a ticket it cannot remove would be left for a successor to prove
    /// dead. The next waiter, now at the head, waits in the kernel on the lock file itself
    /// (`spec/protocol.md`, section 11).
    ///
    /// # Errors
    /// When `dup` fails; the lock is then released as
    /// [`SessionGuard::release`] would.
    pub fn into_exec_fd(self) -> io::Result<OwnedFd> {
        let (locker, path, owner, generation) = self.into_inner().into_parts();
        let dup = locker.registry().with_held(&path, generation, |file| {
            rustix::io::dup(file.handle.fd()).map_err(io::Error::from)
        });
        if let Some(Ok(_)) = dup {
            let ticket = locker.registry().with_held_mut(&path, generation, |f| f.ticket.take());
            if let Some(ticket) = ticket.flatten() {
                block_on(protocol::leave_queue(&locker.ctx(), &path, ticket));
            }
        }
        let error = match dup {
            Some(Ok(fd)) => return Ok(fd),
            Some(Err(error)) => error,
            None => io::Error::other(format!("no lock of {path} is held by this guard")),
        };
        if let Err(release) = block_on(release_hold(&locker, &path, owner, generation)) {
            tracing::error!(%path, %release, "could not release after a failed hand-off");
        }
        Err(error)
    }
}

impl SessionLock {
    /// For a program that received a held lock from [`SessionGuard::into_exec_fd`] (or
    /// one that supervises it, with a descriptor of the same open file): checks that
    /// `lock` still names the lock file `fd` refers to. It does, when the path names the
    /// same inode, or, where inode numbers drift (H17), a file with the same publication
    /// nonce. The file's kernel lock is held through `fd` meanwhile, so no contender can
    /// remove or replace it while this looks.
    ///
    /// # Errors
    /// [`ReleaseError::Compromised`] when the path names nothing, or another file (someone
    /// else may hold the lock now); [`ReleaseError::Fs`] when `fd` or the path could not
    /// be read.
    pub fn verify_exec_fd(&self, lock: &LockPath, fd: &OwnedFd) -> Result<(), ReleaseError> {
        let (id, nonce) = published(lock, fd)?;
        let ctx = self.locker.ctx();
        match block_on(protocol::identify(&ctx, lock, id, nonce.as_deref()))? {
            None => Ok(()),
            Some(found) => Err(ReleaseError::Compromised { path: lock.clone(), found }),
        }
    }
}

/// The identity and publication nonce of the lock file `fd` refers to, read through it.
fn published(lock: &LockPath, fd: &OwnedFd) -> Result<(FileId, Option<String>), FsError> {
    let fail = |op| move |e: rustix::io::Errno| FsError::new(op, lock, e.into());
    let st = rustix::fs::fstat(fd.as_fd()).map_err(fail(FsOp::Meta))?;
    let id = FileId { dev: st.st_dev, ino: st.st_ino };
    let mut bytes = vec![0u8; MAX_PAYLOAD_BYTES + 1];
    let mut len = 0;
    while len < bytes.len() {
        match rustix::io::pread(fd, &mut bytes[len..], len as u64) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(fail(FsOp::Read)(e)),
        }
    }
    bytes.truncate(len);
    Ok((id, Payload::parse(&bytes).and_then(|p| p.nonce)))
}
