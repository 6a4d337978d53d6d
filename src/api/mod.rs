//! The public lock API: one generic [`SessionLock`] over any [`LockFs`], as lock_api has
//! one `Mutex<R, T>` over any raw mutex.
//!
//! The real filesystem's instance is [`crate::SessionLock`] (an alias for
//! `SessionLock<RealFs, RealClock>`); other filesystems implement [`SessionFs`] and build
//! theirs with [`Builder::build_with`].
//!
//! Each entry point comes in two forms with the same behaviour:
//! - `acquire` / `try_acquire` are futures. Every wait inside them (the in-process
//!   queue, the kernel lock, a deadline) is a real wait that occupies no thread, and each
//!   filesystem step is a non-waiting system call, so they can be awaited on any
//!   executor, tokio included.
//! - `acquire_blocking` / `try_acquire_blocking` run the same future on the calling
//!   thread, parking it while it waits. They need no runtime. Do not call them from
//!   async code.
//!
//! Cancellation (H19): dropping an `acquire` future at any point leaves nothing behind. A
//! queued waiter withdraws, a task holding the path's turn hands it on, an open probe
//! handle is closed, and a lock file is only ever published in the same poll that hands
//! its guard to the caller, so no lock can be granted to a caller who is gone.

mod block_on;
mod guard;

use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

pub use block_on::block_on;
pub use guard::SessionGuard;

use crate::core::TryAcquire;
use crate::core::protocol::HeldFile;
use crate::core::{AcquireError, Locker, Observer, Options, Owner, Reentrancy, Registry};
use crate::fs::{Clock, FsError, FsOp, LockFs, LockPath};
use crate::sync::Arc;

/// A [`LockFs`] that can name the lock file of a session file.
pub trait SessionFs: LockFs {
    /// The canonical lock path of `session`: the realpath of its directory plus its file
    /// name plus `.lock`, the original lock's rule. Two session paths through aliased
    /// *directories* (a symlinked directory, `.` and `..`) give equal lock paths (H18);
    /// the file's name itself is never resolved, so a symlinked or hard-linked session
    /// file has a lock of its own, apart from its target's.
    ///
    /// # Errors
    /// Any I/O error met while resolving (or creating) the session's directory.
    fn lock_path_for(&self, session: &Path) -> io::Result<LockPath>;
}

/// A lock service for session files: acquire one with [`SessionLock::acquire`] or
/// [`SessionLock::acquire_blocking`].
///
/// Cheap to clone; clones share their options. Every `SessionLock` of one filesystem in a
/// process must share one registry, which the real filesystem's constructors do for you.
pub struct SessionLock<F: LockFs, C: Clock> {
    locker: Locker<F, C>,
}

impl<F: LockFs, C: Clock> Clone for SessionLock<F, C> {
    fn clone(&self) -> Self {
        Self { locker: self.locker.clone() }
    }
}

impl<F: LockFs, C: Clock> fmt::Debug for SessionLock<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLock")
            .field("options", self.locker.options())
            .finish_non_exhaustive()
    }
}

impl<F: SessionFs, C: Clock> SessionLock<F, C> {
    /// Wraps a [`Locker`].
    pub fn from_locker(locker: Locker<F, C>) -> Self {
        Self { locker }
    }

    /// The core locker underneath, for diagnostics.
    pub fn locker(&self) -> &Locker<F, C> {
        &self.locker
    }

    /// The canonical lock path of `session` (`<session>.lock`, directory resolved).
    ///
    /// # Errors
    /// [`AcquireError::Fs`] with [`FsOp::Resolve`] when the directory cannot be resolved.
    pub fn lock_path(&self, session: impl AsRef<Path>) -> Result<LockPath, AcquireError> {
        let session = session.as_ref();
        self.locker.fs().lock_path_for(session).map_err(|source| {
            AcquireError::Fs(FsError { op: FsOp::Resolve, path: session.to_owned(), source })
        })
    }

    /// Acquires the lock of `session` for `owner`, waiting up to the configured timeout.
    ///
    /// Re-entry by the same `owner` is counted (INV-7); every other owner, in this
    /// process or another, waits. Cancel-safe: see the [module docs](self).
    ///
    /// # Errors
    /// [`AcquireError::Timeout`] naming the holder; [`AcquireError::NotALockFile`] when
    /// something other than a regular file sits at the lock path (it is left alone);
    /// [`AcquireError::Fs`] when a system call fails.
    pub async fn acquire(
        &self,
        session: impl AsRef<Path>,
        owner: Owner,
    ) -> Result<SessionGuard<F, C>, AcquireError> {
        let path = self.lock_path(session)?;
        let guard = self.locker.acquire(&path, owner).await?;
        Ok(SessionGuard::new(guard))
    }

    /// [`SessionLock::acquire`] on the calling thread, which is parked while it waits.
    ///
    /// # Errors
    /// As [`SessionLock::acquire`].
    pub fn acquire_blocking(
        &self,
        session: impl AsRef<Path>,
        owner: Owner,
    ) -> Result<SessionGuard<F, C>, AcquireError> {
        block_on(self.acquire(session, owner))
    }

    /// Acquires the lock of `session` if that needs no waiting; otherwise says who holds
    /// it. A lock file whose holder is proven dead is removed and taken over.
    ///
    /// # Errors
    /// As [`SessionLock::acquire`], except that it never times out.
    pub async fn try_acquire(
        &self,
        session: impl AsRef<Path>,
        owner: Owner,
    ) -> Result<TryAcquire<SessionGuard<F, C>>, AcquireError> {
        let path = self.lock_path(session)?;
        Ok(match self.locker.try_acquire(&path, owner).await? {
            TryAcquire::Acquired(guard) => TryAcquire::Acquired(SessionGuard::new(guard)),
            TryAcquire::Held(holder) => TryAcquire::Held(holder),
        })
    }

    /// [`SessionLock::try_acquire`] on the calling thread.
    ///
    /// # Errors
    /// As [`SessionLock::try_acquire`].
    pub fn try_acquire_blocking(
        &self,
        session: impl AsRef<Path>,
        owner: Owner,
    ) -> Result<TryAcquire<SessionGuard<F, C>>, AcquireError> {
        block_on(self.try_acquire(session, owner))
    }
}

/// Options for a [`SessionLock`]. The defaults are the original lock's: a 10 s timeout,
/// a 30 min stale age (reported only), a 30 s grace for payload-less files, per-owner
/// reentrancy, no declared hold budget.
#[derive(Clone, Default)]
pub struct Builder {
    options: Options,
    observer: Option<std::sync::Arc<dyn Observer>>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("options", &self.options)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl Builder {
    /// The default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long an acquire may wait in all.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// The age past which a holder is reported as too old. Age never breaks a lock (H6).
    pub fn stale_age(mut self, age: Duration) -> Self {
        self.options.thresholds.stale_age = age;
        self
    }

    /// How old (by mtime) a foreign lock file without a usable payload must be before it
    /// is taken over (H9).
    pub fn payloadless_grace(mut self, grace: Duration) -> Self {
        self.options.thresholds.payloadless_grace = grace;
        self
    }

    /// Who may re-enter a held lock.
    pub fn reentrancy(mut self, reentrancy: Reentrancy) -> Self {
        self.options.reentrancy = reentrancy;
        self
    }

    /// A hold budget to declare in the lock file (`maxHoldMs`), for diagnostics (H16).
    pub fn max_hold(mut self, budget: Duration) -> Self {
        self.options.max_hold = Some(budget);
        self
    }

    /// Receives every event of the locks built from here.
    pub fn observer(mut self, observer: std::sync::Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The options so far.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Builds a lock over `fs` and `clock`, sharing `registry` with every other lock of
    /// this process over the same filesystem.
    pub fn build_with<F: SessionFs, C: Clock>(
        self,
        fs: F,
        clock: C,
        registry: Arc<Registry<HeldFile<F::Handle>>>,
    ) -> SessionLock<F, C> {
        let locker = Locker::with_registry(fs, clock, self.options, registry);
        let locker = match self.observer {
            Some(observer) => locker.observed(observer),
            None => locker,
        };
        SessionLock { locker }
    }
}
