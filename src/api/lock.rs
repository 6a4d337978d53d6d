//! [`SessionLock`] and its [`Builder`]: the entry points the [module docs](super)
//! describe.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use super::block_on::block_on;
use super::guard::SessionGuard;
use super::scoped::{self, WithError};

use crate::core::protocol::{self, HeldFile, Probe};
use crate::core::{AcquireError, Holder, Locker, Observer, Options, Owner, Reason, Reentrancy};
use crate::core::{Registry, TryAcquire};
use crate::fs::{Clock, FsError, FsOp, LockFs, LockPath, SessionFs};
use crate::real::{RealClock, RealFs};
use crate::sync::Arc;

/// What [`SessionLock::clean`] did with a lock file.
#[derive(Debug)]
#[non_exhaustive]
pub enum Cleaned {
    /// Its holder was proven gone, for these reasons: it was removed, bound to the inode
    /// judged (INV-2).
    Removed(Vec<Reason>),
    /// A live holder, or one not proven dead (merely old, H6): it was kept.
    Kept(Box<Holder>),
    /// Nothing was there (any more).
    Missing,
}

/// A lock service for session files: acquire one with [`SessionLock::acquire`] or
/// [`SessionLock::acquire_blocking`].
///
/// Cheap to clone; clones share their options. Every `SessionLock` of one filesystem in a
/// process must share one registry, which the real filesystem's constructors do for you.
///
/// The type parameters default to the real filesystem: `SessionLock` is
/// `SessionLock<RealFs, RealClock>`.
pub struct SessionLock<F: LockFs = RealFs, C: Clock = RealClock> {
    pub(super) locker: Locker<F, C>,
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
    /// The core locker underneath, for the model crate and the benchmarks.
    #[cfg(feature = "__model")]
    #[doc(hidden)]
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
    /// process or another, waits. Cancel-safe: see the [module docs](super).
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

    /// Acquires the lock of `session` for a fresh [`Owner`]: each call is its own owner,
    /// as each `lock` of a `tokio::sync::Mutex` is, so a second call while this guard
    /// lives waits for it, even from the same task. Use [`SessionLock::acquire`] with one
    /// owner where a caller must re-enter.
    ///
    /// # Errors
    /// As [`SessionLock::acquire`].
    pub async fn lock(
        &self,
        session: impl AsRef<Path>,
    ) -> Result<SessionGuard<F, C>, AcquireError> {
        self.acquire(session, Owner::new()).await
    }

    /// [`SessionLock::lock`] on the calling thread, which is parked while it waits.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let session = dir.path().join("s.jsonl");
    /// let lock = sessionlock::SessionLock::new();
    /// let guard = lock.lock_blocking(&session)?;
    /// // Another call is another owner: it does not re-enter.
    /// let again = lock.try_lock_blocking(&session)?;
    /// assert!(matches!(again, sessionlock::TryAcquire::Held(_)));
    /// guard.release_blocking()?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`SessionLock::acquire`].
    pub fn lock_blocking(
        &self,
        session: impl AsRef<Path>,
    ) -> Result<SessionGuard<F, C>, AcquireError> {
        block_on(self.lock(session))
    }

    /// [`SessionLock::try_acquire`] for a fresh [`Owner`] (see [`SessionLock::lock`]).
    ///
    /// # Errors
    /// As [`SessionLock::try_acquire`].
    pub async fn try_lock(
        &self,
        session: impl AsRef<Path>,
    ) -> Result<TryAcquire<SessionGuard<F, C>>, AcquireError> {
        self.try_acquire(session, Owner::new()).await
    }

    /// [`SessionLock::try_lock`] on the calling thread.
    ///
    /// # Errors
    /// As [`SessionLock::try_acquire`].
    pub fn try_lock_blocking(
        &self,
        session: impl AsRef<Path>,
    ) -> Result<TryAcquire<SessionGuard<F, C>>, AcquireError> {
        block_on(self.try_lock(session))
    }

    /// Runs `scope` holding the lock of `session` (for a fresh [`Owner`], as
    /// [`SessionLock::lock`]), releases it, and returns what `scope` returned.
    ///
    /// The lock is released whichever way `scope` ends:
    /// - it returns (an `Err` it returns, from `?` inside it, is a value like any other):
    ///   the lock is released, and a failed release comes back as
    ///   [`WithError::Release`] *carrying that value*, which is never dropped unseen;
    /// - it panics: the lock is released, then the panic goes on; a failed release is
    ///   logged, since the panic is what the caller will see;
    /// - this future is dropped while `scope` runs: the guard's drop releases, and can
    ///   only log a failure.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let session = dir.path().join("s.jsonl");
    /// let lock = sessionlock::SessionLock::new();
    /// let turns = lock
    ///     .with(&session, async |_guard| {
    ///         tokio::task::yield_now().await;
    ///         std::fs::write(&session, "{\"turn\":1}\n")?;
    ///         Ok::<_, std::io::Error>(1)
    ///     })
    ///     .await??;
    /// assert_eq!(turns, 1);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`WithError::Acquire`] when the lock could not be taken (`scope` did not run);
    /// [`WithError::Release`] when `scope` ran but the release reported a lock
    /// compromised while held.
    pub async fn with<T>(
        &self,
        session: impl AsRef<Path>,
        scope: impl AsyncFnOnce(&SessionGuard<F, C>) -> T,
    ) -> Result<T, WithError<T>> {
        let guard = self.lock(session).await.map_err(WithError::Acquire)?;
        let ran = scoped::CatchUnwind::new(std::pin::pin!(scope(&guard))).await;
        scoped::finish(ran, guard.release().await)
    }

    /// [`SessionLock::with`] on the calling thread, for a closure that does not wait.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let session = dir.path().join("s.jsonl");
    /// let lock = sessionlock::SessionLock::new();
    /// lock.with_blocking(&session, |_guard| std::fs::write(&session, "{\"turn\":1}\n"))??;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`SessionLock::with`].
    pub fn with_blocking<T>(
        &self,
        session: impl AsRef<Path>,
        scope: impl FnOnce(&SessionGuard<F, C>) -> T,
    ) -> Result<T, WithError<T>> {
        let guard = self.lock_blocking(session).map_err(WithError::Acquire)?;
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scope(&guard)));
        scoped::finish(ran, guard.release_blocking())
    }

    /// Who holds the lock file at `lock` (from [`SessionLock::lock_path`]), changing
    /// nothing: the file is opened, its kernel lock tried, to learn whether a live holder
    /// has it, and let go at once, and its payload judged. `None` when there is no lock
    /// file. Nothing is ever removed, even a stale file ([`Holder::is_stale`]).
    ///
    /// # Errors
    /// [`AcquireError::NotALockFile`] when something other than a regular file sits at
    /// `lock` (it is left alone); [`AcquireError::Fs`] when a system call fails.
    pub async fn inspect(&self, lock: &LockPath) -> Result<Option<Holder>, AcquireError> {
        protocol::inspect(&self.locker.ctx(), lock).await
    }

    /// [`SessionLock::inspect`] on the calling thread.
    ///
    /// # Errors
    /// As [`SessionLock::inspect`].
    pub fn inspect_blocking(&self, lock: &LockPath) -> Result<Option<Holder>, AcquireError> {
        block_on(self.inspect(lock))
    }

    /// Removes the lock file at `lock` if its holder is provably gone, exactly as a
    /// contender would: under the file's kernel lock, judged while holding it, and
    /// removed only if the path still names the inode judged (INV-2). A live holder, or
    /// one merely old (H6), is kept. Does not take the lock.
    ///
    /// # Errors
    /// As [`SessionLock::inspect`].
    pub async fn clean(&self, lock: &LockPath) -> Result<Cleaned, AcquireError> {
        let ctx = self.locker.ctx();
        Ok(match protocol::probe(&ctx, lock).await? {
            Probe::Broken(reasons) => Cleaned::Removed(reasons),
            Probe::Missing => Cleaned::Missing,
            Probe::Alive { holder, handle } => {
                if let Some(handle) = handle {
                    protocol::close_quietly(&ctx, lock, handle).await;
                }
                Cleaned::Kept(Box::new(holder))
            }
        })
    }

    /// [`SessionLock::clean`] on the calling thread.
    ///
    /// # Errors
    /// As [`SessionLock::inspect`].
    pub fn clean_blocking(&self, lock: &LockPath) -> Result<Cleaned, AcquireError> {
        block_on(self.clean(lock))
    }
}

/// Options for a [`SessionLock`]. The defaults are the original lock's: a 10 s timeout,
/// a 30 min stale age (reported only), a 30 s grace for payload-less files, per-owner
/// reentrancy, no declared hold budget, no cross-process queue.
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

    /// Whether waiters of different processes queue, first come, first served, each
    /// waiting on its predecessor only, instead of racing for the lock at each release.
    ///
    /// Off by default. With it, a process that finds the lock held, or other processes
    /// already queued, takes a ticket (a file `<lock>.q.<seq>.<id>` beside the lock file,
    /// kernel-locked like the lock file itself) and publishes the lock only at the head of
    /// the queue; a waiter that dies is skipped at once, through the kernel lock. A queued
    /// waiter is overtaken by at most one later arrival per other process (INV-9). The
    /// original lock's contenders ignore the queue and may still take the lock between a
    /// release and the head's publish.
    pub fn queue(mut self, queue: bool) -> Self {
        self.options.queue = queue;
        self
    }

    /// Receives every event of the locks built from here.
    pub fn observer(mut self, observer: std::sync::Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Builds a lock over another filesystem, `fs`, with `clock`.
    ///
    /// The lock keeps in memory which of this process's tasks holds or waits for each
    /// path of `fs`. Build it once per filesystem and process, and clone it: two locks
    /// built separately over one filesystem would each let a task of this process in.
    pub fn build_with<F: SessionFs, C: Clock>(self, fs: F, clock: C) -> SessionLock<F, C> {
        self.build_shared(fs, clock, Arc::default())
    }

    /// Builds a lock over `fs` and `clock`, sharing `registry` with every other lock of
    /// this process over the same filesystem.
    pub(crate) fn build_shared<F: SessionFs, C: Clock>(
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
