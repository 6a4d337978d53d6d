//! [`SessionGuard`]: proof of holding a session's lock.

use std::fmt;

use super::block_on;
use crate::core::{Guard, Owner, ReleaseError, Released};
use crate::fs::{Clock, FileId, LockFs, LockPath};
use crate::real::{RealClock, RealFs};

/// Proof that an owner holds a session's lock.
///
/// Release it with [`SessionGuard::release`] (or [`SessionGuard::release_blocking`]),
/// which reports a lock that was compromised while held. Dropping it releases too, as a
/// fallback that can only log what went wrong.
///
/// The type parameters default to the real filesystem, as [`SessionLock`](super::SessionLock)'s do.
#[must_use = "a dropped guard releases the lock at once; call `release` to see failures"]
pub struct SessionGuard<F: LockFs = RealFs, C: Clock = RealClock> {
    guard: Guard<F, C>,
}

impl<F: LockFs, C: Clock> SessionGuard<F, C> {
    pub(super) fn new(guard: Guard<F, C>) -> Self {
        Self { guard }
    }

    /// The lock file's canonical path.
    pub fn lock_path(&self) -> &LockPath {
        self.guard.path()
    }

    /// The owner holding it.
    pub fn owner(&self) -> Owner {
        self.guard.owner()
    }

    /// The fencing token of this hold: the identity of the lock it published, or `None`
    /// once the guard belongs to no current hold.
    ///
    /// What it protects depends on the filesystem:
    /// - **PostgreSQL** (`pg::PgFs`, feature `postgres`): `ino` is the lock
    ///   row's generation, issued by a sequence and never reused, so it grows with every
    ///   new publication of a path (`dev` is 0). A store that checks it at commit rejects the
    ///   writes of a holder that was taken over: see `pg::append_fenced`.
    /// - **Real files** ([`RealFs`](crate::RealFs)): device and inode number of the lock
    ///   file. It names one publication while the file exists, but Linux reuses inode
    ///   numbers, so it is not monotonic: it can tell "still the same lock file" (as
    ///   [`SessionGuard::verify`] does) but cannot order two holders, and a store cannot
    ///   use it to reject a superseded writer.
    ///
    /// Either way it names the publication, not the task: a task handed the lock in memory
    /// by another task of its process (INV-9) holds the same publication, with the same
    /// token, and the old guard's token is `None` from then on. The fence orders holders
    /// of different publications (a takeover, another process); between the tasks of one
    /// process exclusion is the registry's, so a task that copied its token and writes
    /// after its own release is not rejected while its process still holds the
    /// publication.
    pub fn fencing_token(&self) -> Option<FileId> {
        self.guard.held_id()
    }

    /// Releases this re-entry; the last one removes the lock file, bound to its inode.
    ///
    /// # Errors
    /// [`ReleaseError::Compromised`] when the lock file was removed or replaced while
    /// held: another writer may have been in. [`ReleaseError::Fs`] when the unlink
    /// failed. The lock is released in this process either way.
    pub async fn release(self) -> Result<Released, ReleaseError> {
        self.guard.release().await
    }

    /// [`SessionGuard::release`] on the calling thread.
    ///
    /// # Errors
    /// As [`SessionGuard::release`].
    pub fn release_blocking(self) -> Result<Released, ReleaseError> {
        block_on(self.release())
    }

    /// Checks that the lock file is still the one this guard published: call it before a
    /// write that must not interleave with another writer (H10, H20).
    ///
    /// # Errors
    /// [`ReleaseError::Compromised`] when it was removed or replaced;
    /// [`ReleaseError::Fs`] when the path could not be examined.
    pub async fn verify(&self) -> Result<(), ReleaseError> {
        self.guard.verify().await
    }

    /// [`SessionGuard::verify`] on the calling thread.
    ///
    /// # Errors
    /// As [`SessionGuard::verify`].
    pub fn verify_blocking(&self) -> Result<(), ReleaseError> {
        block_on(self.verify())
    }

    /// The core guard inside.
    pub(crate) fn into_inner(self) -> Guard<F, C> {
        self.guard
    }
}

impl<F: LockFs, C: Clock> fmt::Debug for SessionGuard<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionGuard")
            .field("lock_path", self.lock_path())
            .field("owner", &self.owner())
            .finish()
    }
}
