//! The verified core: every decision the lock makes, and no I/O of its own.
//!
//! The core touches storage, processes and time only through [`LockFs`] and [`Clock`],
//! and shares memory only through [`crate::sync`], so the same code runs on Linux, in
//! the in-memory model, and under loom and shuttle.
//!
//! An acquire has two halves:
//! 1. **In memory** ([`registry`]): take the path's turn, re-enter, or queue FIFO and be
//!    woken by the task that ends the turn. The deadline covers this wait too.
//! 2. **On disk** ([`protocol`]), for the one task with the turn: publish a complete,
//!    kernel-locked file; on contention, probe the holder and wait in the kernel, or
//!    remove a proven-stale file bound to its inode.
//!
//! A release first marks the entry `releasing`, then removes the file (inode-bound), then
//! closes best-effort, then hands the turn on. When another task of the process waits, the
//! last release instead hands the hold itself on, file and all, in memory (a bounded run
//! of such hand-offs, INV-9).

pub mod error;
mod guard;
pub mod judge;
mod locker;
pub mod observe;
mod options;
pub mod protocol;
pub mod registry;
mod turn;

pub use error::{AcquireError, Found, Holder, ReleaseError};
pub use guard::{Guard, Released, release_hold};
pub use judge::{Place, Reason, Thresholds};
pub use locker::Locker;
pub use observe::{Event, OUTCOME_TARGET, Observer, SharedObserver};
pub use options::{Options, Reentrancy};
pub use registry::{Owner, PhaseKind, Registry};
pub use turn::{Admission, Turn};

use crate::fs::{Clock, LockFs, LockPath, Moment};
use protocol::Probe;
use registry::Entered;
use turn::Queued;

/// The outcome of a `try_acquire` ([`SessionLock::try_acquire`](crate::SessionLock::try_acquire)):
/// contention is an outcome, not an error.
///
/// Dropping an `Acquired` guard releases the lock at once, so the result must be used: a
/// bare `lock.try_acquire_blocking(..)?;` is a warning (an error under `deny`):
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// fn take(lock: &sessionlock::SessionLock) -> Result<(), sessionlock::AcquireError> {
///     lock.try_acquire_blocking("s.jsonl", sessionlock::Owner::new())?;
///     Ok(())
/// }
/// ```
///
/// Unlike the crate's other public enums it is exhaustive, on purpose: like a `Result`,
/// it has exactly two outcomes, and a caller's `match` needs no arm that cannot happen.
#[derive(Debug)]
#[must_use = "dropping `TryAcquire::Acquired` releases the lock at once"]
pub enum TryAcquire<G> {
    /// The lock is ours.
    Acquired(G),
    /// Someone holds it.
    Held(Box<Holder>),
}

/// The acquire, which builds [`Turn`]s and [`Guard`]s: here, above them, so that they
/// import nothing from this module (they hold a [`Locker`] from `locker.rs`).
impl<F: LockFs, C: Clock> Locker<F, C> {
    /// Acquires the lock at `path` for `owner`, waiting up to the configured timeout.
    ///
    /// # Errors
    /// [`AcquireError::Timeout`] when the deadline passes with the lock held by someone
    /// else (naming them); [`AcquireError::NotALockFile`] when something other than a
    /// regular file sits at `path`; [`AcquireError::Fs`] when a primitive fails. A failed
    /// acquire leaves no entry and no file of its own behind (INV-5).
    pub async fn acquire(
        &self,
        path: &LockPath,
        owner: Owner,
    ) -> Result<Guard<F, C>, AcquireError> {
        let owner = self.effective(owner);
        let (started, deadline) = self.window();
        let turn = match self.admit(path, owner, started, deadline).await? {
            Admission::Reentered(guard) | Admission::Handed(guard) => return Ok(guard),
            Admission::Turn(turn) => turn,
        };
        let payload = self.payload();
        let ctx = self.ctx();
        let file = match self.options().queue {
            true => protocol::acquire_queued(&ctx, path, payload, started, deadline).await,
            false => protocol::acquire_file(&ctx, path, payload, started, deadline).await,
        };
        let file = file.inspect_err(|e| {
                if matches!(e, AcquireError::Timeout { .. }) {
                    self.timed_out(path);
                }
            })?;
        let waited = self.clock().now().saturating_since(started);
        self.emit(Event::Acquired { path, waited });
        Ok(turn.grant(owner, file))
    }

    /// The in-memory half of an acquire: re-enter, or wait (until `deadline`) for the
    /// path's turn, or for the hold itself, handed off by the last holder. The holder of the
    /// turn runs the filesystem half, then calls [`Turn::grant`].
    ///
    /// # Errors
    /// [`AcquireError::Timeout`] when the deadline passes in the queue.
    pub async fn admit(
        &self,
        path: &'_ LockPath,
        owner: Owner,
        started: Moment,
        deadline: Moment,
    ) -> Result<Admission<'_, F, C>, AcquireError> {
        let waiter = match self.registry().enter(path, owner) {
            Entered::Reentered { generation } => {
                return Ok(Admission::Reentered(self.reentered(path, owner, generation)));
            }
            Entered::Turn => return Ok(Admission::Turn(Turn::new(self, path.clone()))),
            Entered::Queued(waiter, behind) => {
                self.emit(Event::Queued { path, behind });
                waiter
            }
        };
        let queued = Queued { locker: self, path: path.clone(), waiter, settled: false };
        let admitted =
            queued.wait(started, deadline).await.inspect_err(|_| self.timed_out(path))?;
        if let Admission::Handed(_) = admitted {
            let waited = self.clock().now().saturating_since(started);
            self.emit(Event::Acquired { path, waited });
        }
        Ok(admitted)
    }

    /// Acquires the lock at `path` if that needs no waiting; otherwise says who holds it.
    ///
    /// A stale lock file is removed (inode-bound) and taken over, since that needs no wait.
    ///
    /// # Errors
    /// As [`Locker::acquire`], except that it never times out.
    pub async fn try_acquire(
        &self,
        path: &LockPath,
        owner: Owner,
    ) -> Result<TryAcquire<Guard<F, C>>, AcquireError> {
        let owner = self.effective(owner);
        let turn = match self.registry().try_enter(path, owner) {
            Ok(Entered::Reentered { generation }) => {
                return Ok(TryAcquire::Acquired(self.reentered(path, owner, generation)));
            }
            Ok(_) => Turn::new(self, path.clone()),
            Err(_) => {
                let holder = Holder::in_process(path, self.fs().process().pid);
                return Ok(TryAcquire::Held(Box::new(holder)));
            }
        };
        let ctx = self.ctx();
        let payload = self.payload();
        // With the queue, a waiter queued elsewhere goes first: report the lock taken.
        if self.options().queue && protocol::anyone_queued(&ctx, path).await? {
            let holder = match protocol::probe(&ctx, path).await? {
                Probe::Alive { holder, handle } => {
                    if let Some(handle) = handle {
                        protocol::close_quietly(&ctx, path, handle).await;
                    }
                    holder
                }
                Probe::Missing | Probe::Broken(_) => error::probed(path, None, true, Vec::new()),
            };
            return Ok(TryAcquire::Held(Box::new(holder)));
        }
        loop {
            if let Some(file) = protocol::publish(&ctx, path, &payload).await? {
                return Ok(TryAcquire::Acquired(turn.grant(owner, file)));
            }
            ctx.emit(Event::Contended { path });
            if let Probe::Alive { holder, handle } = protocol::probe(&ctx, path).await? {
                if let Some(handle) = handle {
                    protocol::close_quietly(&ctx, path, handle).await;
                }
                return Ok(TryAcquire::Held(Box::new(holder)));
            }
        }
    }

    fn reentered(&self, path: &LockPath, owner: Owner, generation: u64) -> Guard<F, C> {
        self.emit(Event::Reentered { path });
        Guard::new(self.clone(), path.clone(), owner, generation)
    }
}
