//! The proof of holding a lock, and its release.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::error::ReleaseError;
use super::locker::Locker;
use super::observe::Event;
use super::protocol;
use super::registry::{Leave, Owner, Registry};
use crate::fs::{Clock, FileId, LockFs, LockPath};

/// What a successful release did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Released {
    /// That was the last re-entry: the lock file is removed and the lock is free.
    Removed,
    /// Other re-entries of the same owner remain; the lock is still held.
    StillHeld {
        /// How many guards remain.
        remaining: u32,
    },
    /// That was the last re-entry, and the hold passed, lock file and all, to the next task
    /// of this process waiting for it (an in-memory hand-off, INV-9): the lock is no longer
    /// this owner's, and the process still holds it.
    HandedOff,
}

/// Proof that an owner holds a lock. Release it with [`Guard::release`], which reports
/// what went wrong; dropping it releases too, as a fallback that can only log.
#[must_use = "a dropped guard releases the lock at once; call `release` to see failures"]
pub struct Guard<F: LockFs, C: Clock> {
    locker: Locker<F, C>,
    path: LockPath,
    owner: Owner,
    generation: u64,
    done: bool,
}

impl<F: LockFs, C: Clock> Guard<F, C> {
    pub(super) fn new(locker: Locker<F, C>, path: LockPath, owner: Owner, generation: u64) -> Self {
        Self { locker, path, owner, generation, done: false }
    }

    /// The lock path.
    pub fn path(&self) -> &LockPath {
        &self.path
    }

    /// The owner holding it.
    pub fn owner(&self) -> Owner {
        self.owner
    }

    /// The identity of the lock file this hold published (its fencing token), while the
    /// hold is current; `None` for a guard that belongs to no current hold.
    pub fn held_id(&self) -> Option<FileId> {
        self.locker.registry().with_held(&self.path, self.generation, |f| f.id)
    }

    /// Releases this re-entry; the last one removes the lock file, or hands it to the next
    /// task of this process that waits for it.
    ///
    /// The in-process entry is released whatever happens on disk, so a failed release never
    /// wedges later acquirers.
    ///
    /// # Errors
    /// [`ReleaseError::Compromised`] when the lock file was removed or replaced while held
    /// (someone else may have been in); [`ReleaseError::StaleGuard`] when the guard belongs
    /// to no current hold; [`ReleaseError::Fs`] when the unlink failed.
    pub async fn release(mut self) -> Result<Released, ReleaseError> {
        self.done = true;
        release_hold(&self.locker, &self.path, self.owner, self.generation).await
    }

    /// Checks that the lock file at the path is still the one this guard published.
    ///
    /// # Errors
    /// [`ReleaseError::Compromised`] when it was removed or replaced;
    /// [`ReleaseError::StaleGuard`] when the guard belongs to no current hold;
    /// [`ReleaseError::Fs`] when the path could not be examined.
    pub async fn verify(&self) -> Result<(), ReleaseError> {
        let registry = self.locker.registry();
        let held = registry.with_held(&self.path, self.generation, |f| (f.id, f.nonce.clone()));
        let Some((id, nonce)) = held else {
            return Err(ReleaseError::StaleGuard { path: self.path.clone() });
        };
        let ctx = self.locker.ctx();
        match protocol::identify(&ctx, &self.path, id, Some(&nonce)).await? {
            None => Ok(()),
            Some(found) => Err(ReleaseError::Compromised { path: self.path.clone(), found }),
        }
    }

    /// Takes the guard apart without releasing, for composing other release orders (the
    /// model's mutants do). The caller owns the hold from here on.
    pub fn into_parts(mut self) -> (Locker<F, C>, LockPath, Owner, u64) {
        self.done = true;
        (self.locker.clone(), self.path.clone(), self.owner, self.generation)
    }
}

impl<F: LockFs, C: Clock> std::fmt::Debug for Guard<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("path", &self.path).field("owner", &self.owner).finish()
    }
}

/// Releases one re-entry of the hold `(owner, generation)` on `path`.
///
/// # Errors
/// As [`Guard::release`].
pub async fn release_hold<F: LockFs, C: Clock>(
    locker: &Locker<F, C>,
    path: &LockPath,
    owner: Owner,
    generation: u64,
) -> Result<Released, ReleaseError> {
    match locker.registry().leave(path, owner, generation, locker.clock().now()) {
        Leave::Missing => Err(ReleaseError::StaleGuard { path: path.clone() }),
        Leave::Remaining(remaining) => Ok(Released::StillHeld { remaining }),
        Leave::HandedOff => {
            locker.emit(Event::HandedOff { path });
            Ok(Released::HandedOff)
        }
        Leave::Last(file) => {
            let _finish = FinishRelease { registry: locker.registry(), path };
            #[cfg(sessionlock_mutant = "m1_release_before_remove")] // H1: entry before file
            drop(_finish);
            protocol::remove_own(&locker.ctx(), path, file).await?;
            Ok(Released::Removed)
        }
    }
}

/// Ends the `releasing` phase when dropped: after the teardown, or if it is abandoned.
struct FinishRelease<'a, H> {
    registry: &'a Registry<H>,
    path: &'a LockPath,
}

impl<H> Drop for FinishRelease<'_, H> {
    fn drop(&mut self) {
        self.registry.finish_release(self.path);
    }
}

impl<F: LockFs, C: Clock> Drop for Guard<F, C> {
    /// The fallback release. It runs the release to its first wait; the real adapter's
    /// release never waits, so it completes here. If it cannot, the entry is still handed
    /// on and the handle closed, leaving a kernel-unlocked file for the next contender to
    /// remove as proven stale.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let release = release_hold(&self.locker, &self.path, self.owner, self.generation);
        let mut cx = Context::from_waker(Waker::noop());
        match pin!(release).poll(&mut cx) {
            Poll::Ready(Ok(_)) => {}
            Poll::Ready(Err(error)) => {
                tracing::error!(path = %self.path, %error, "dropped lock guard: release failed");
            }
            Poll::Pending => tracing::error!(
                path = %self.path,
                "dropped lock guard: release had to wait; lock file left for recovery"
            ),
        }
    }
}
