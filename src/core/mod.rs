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
//! closes best-effort, then hands the turn on.

pub mod error;
mod guard;
pub mod judge;
pub mod observe;
pub mod protocol;
pub mod registry;

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

pub use error::{AcquireError, Found, Holder, ReleaseError};
pub use guard::{Guard, Released};
pub use judge::{Reason, Thresholds};
pub use observe::{Event, Observer};
pub use registry::{Owner, PhaseKind, Registry};

use crate::fs::{Clock, LockFs, LockPath, Moment};
use crate::payload::Payload;
use crate::sync::Arc;
use protocol::{Ctx, HeldFile, Probe};
use registry::Entered;

/// Who may re-enter a held lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reentrancy {
    /// Only the same [`Owner`] re-enters; any other task waits (INV-7).
    #[default]
    PerOwner,
    /// Upstream-compatible and weaker: every task of the process is one owner, so any task
    /// re-enters a lock another task holds (H14). Only for code that relied on it.
    Process,
}

/// How a [`Locker`] behaves.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long an acquire may wait in all, in memory and on disk. Default 10 s.
    pub timeout: Duration,
    /// Heuristics for foreign lock files.
    pub thresholds: Thresholds,
    /// Who may re-enter.
    pub reentrancy: Reentrancy,
    /// A hold budget to declare in the payload (`maxHoldMs`), for diagnostics.
    pub max_hold: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            thresholds: Thresholds::default(),
            reentrancy: Reentrancy::default(),
            max_hold: None,
        }
    }
}

/// The outcome of [`Locker::try_acquire`]: contention is an outcome, not an error.
#[derive(Debug)]
pub enum TryAcquire<G> {
    /// The lock is ours.
    Acquired(G),
    /// Someone holds it.
    Held(Box<Holder>),
}

/// A lock service over one filesystem, clock and per-process registry.
pub struct Locker<F: LockFs, C: Clock> {
    inner: Arc<Inner<F, C>>,
}

struct Inner<F: LockFs, C> {
    fs: F,
    clock: C,
    registry: Arc<Registry<HeldFile<F::Handle>>>,
    options: Options,
    observer: Option<std::sync::Arc<dyn Observer>>, // purity: observers are outside the checked state
}

impl<F: LockFs, C: Clock> Clone for Locker<F, C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<F: LockFs, C: Clock> Locker<F, C> {
    /// A locker with its own registry. Every locker sharing one process's locks must share
    /// one registry: see [`Locker::with_registry`].
    pub fn new(fs: F, clock: C, options: Options) -> Self {
        Self::with_registry(fs, clock, options, Arc::new(Registry::default()))
    }

    /// A locker over an existing registry.
    pub fn with_registry(
        fs: F,
        clock: C,
        options: Options,
        registry: Arc<Registry<HeldFile<F::Handle>>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                fs,
                clock,
                registry,
                options,
                observer: None,
            }),
        }
    }

    /// Returns this locker with `observer` receiving every [`Event`]. (A std `Arc`: the
    /// observer is outside the checked state.)
    pub fn observed(self, observer: std::sync::Arc<dyn Observer>) -> Self {
        // purity: see above
        let Inner {
            fs,
            clock,
            registry,
            options,
            ..
        } = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(_) => panic!("observed() must be called before the locker is shared"),
        };
        Self {
            inner: Arc::new(Inner {
                fs,
                clock,
                registry,
                options,
                observer: Some(observer),
            }),
        }
    }

    /// The filesystem.
    pub fn fs(&self) -> &F {
        &self.inner.fs
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.inner.clock
    }

    /// The registry.
    pub fn registry(&self) -> &Registry<HeldFile<F::Handle>> {
        &self.inner.registry
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// The context protocol steps run in.
    pub fn ctx(&self) -> Ctx<'_, F, C> {
        Ctx {
            fs: &self.inner.fs,
            clock: &self.inner.clock,
            thresholds: &self.inner.options.thresholds,
            me: self.inner.fs.process(),
            observer: self.inner.observer.as_deref(),
        }
    }

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
            Admission::Reentered(guard) => return Ok(guard),
            Admission::Turn(turn) => turn,
        };
        let payload = self.payload();
        let file = protocol::acquire_file(&self.ctx(), path, &payload, started, deadline)
            .await
            .inspect_err(|e| {
                if matches!(e, AcquireError::Timeout { .. }) {
                    self.timed_out(path);
                }
            })?;
        let waited = self.inner.clock.now().saturating_since(started);
        self.ctx().emit(Event::Acquired { path, waited });
        Ok(turn.grant(owner, file))
    }

    /// The start and deadline of an acquire beginning now.
    pub fn window(&self) -> (Moment, Moment) {
        let started = self.inner.clock.now();
        (started, started.saturating_add(self.inner.options.timeout))
    }

    /// The in-memory half of an acquire: re-enter, or wait (until `deadline`) for the
    /// path's turn. The holder of the turn runs the filesystem half, then calls
    /// [`Turn::grant`].
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
        let waiter = match self.inner.registry.enter(path, owner) {
            Entered::Reentered { generation } => {
                return Ok(Admission::Reentered(
                    self.reentered(path, owner, generation),
                ));
            }
            Entered::Turn => return Ok(Admission::Turn(Turn::new(self, path.clone()))),
            Entered::Queued(waiter, behind) => {
                self.ctx().emit(Event::Queued { path, behind });
                waiter
            }
        };
        let queued = Queued {
            locker: self,
            path: path.clone(),
            waiter,
            settled: false,
        };
        let turn = queued
            .wait(started, deadline)
            .await
            .inspect_err(|_| self.timed_out(path))?;
        Ok(Admission::Turn(turn))
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
        let turn = match self.inner.registry.try_enter(path, owner) {
            Ok(Entered::Reentered { generation }) => {
                return Ok(TryAcquire::Acquired(
                    self.reentered(path, owner, generation),
                ));
            }
            Ok(_) => Turn::new(self, path.clone()),
            Err(_) => {
                let holder = Holder::in_process(path, self.inner.fs.process().pid);
                return Ok(TryAcquire::Held(Box::new(holder)));
            }
        };
        let ctx = self.ctx();
        let payload = self.payload();
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

    fn timed_out(&self, path: &LockPath) {
        self.ctx().emit(Event::TimedOut { path });
    }

    fn effective(&self, owner: Owner) -> Owner {
        match self.inner.options.reentrancy {
            Reentrancy::PerOwner => owner,
            Reentrancy::Process => Owner::PROCESS,
        }
    }

    fn reentered(&self, path: &LockPath, owner: Owner, generation: u64) -> Guard<F, C> {
        self.ctx().emit(Event::Reentered { path });
        Guard::new(self.clone(), path.clone(), owner, generation)
    }

    /// The payload this process publishes: the original's fields plus our kernel-lock
    /// marker and a nonce unique to the publication.
    pub fn payload(&self) -> Payload {
        let me = self.inner.fs.process();
        let seq = self.inner.registry.next_sequence();
        Payload {
            pid: Some(me.pid),
            created_at_ms: Some(self.inner.clock.wall_ms()),
            starttime: me.starttime,
            max_hold_ms: self
                .inner
                .options
                .max_hold
                .map(|d| d.as_millis().try_into().unwrap_or(u64::MAX)),
            kernel_locked: true,
            nonce: Some(format!("{}.{}.{seq}", me.pid, me.starttime.unwrap_or(0))),
        }
    }
}

/// The outcome of [`Locker::admit`].
pub enum Admission<'a, F: LockFs, C: Clock> {
    /// The same owner held the lock; this is a counted re-entry.
    Reentered(Guard<F, C>),
    /// The caller has the path's turn and must run the filesystem half.
    Turn(Turn<'a, F, C>),
}

/// The turn for a path: the right to run the filesystem acquire. Dropped unused (error,
/// timeout, cancellation), it passes to the next waiter (INV-5, H19).
pub struct Turn<'a, F: LockFs, C: Clock> {
    locker: &'a Locker<F, C>,
    path: LockPath,
    armed: bool,
}

impl<'a, F: LockFs, C: Clock> Turn<'a, F, C> {
    fn new(locker: &'a Locker<F, C>, path: LockPath) -> Self {
        Self {
            locker,
            path,
            armed: true,
        }
    }

    /// Ends the turn with the lock held by `owner`.
    pub fn grant(mut self, owner: Owner, file: HeldFile<F::Handle>) -> Guard<F, C> {
        self.armed = false;
        let generation = self.locker.inner.registry.grant(&self.path, owner, file);
        Guard::new(self.locker.clone(), self.path.clone(), owner, generation)
    }
}

impl<F: LockFs, C: Clock> Drop for Turn<'_, F, C> {
    fn drop(&mut self) {
        if self.armed {
            self.locker.inner.registry.abandon(&self.path);
        }
    }
}

/// A task queued for a path's turn. Dropped while queued, it withdraws; dropped after
/// being handed the turn, it passes the turn on.
struct Queued<'a, F: LockFs, C: Clock> {
    locker: &'a Locker<F, C>,
    path: LockPath,
    waiter: Arc<registry::Waiter>,
    settled: bool,
}

impl<'a, F: LockFs, C: Clock> Queued<'a, F, C> {
    /// Waits for the turn until `deadline`. In-memory only: woken by the task that ends
    /// the current turn, never by polling (INV-3).
    async fn wait(
        mut self,
        started: Moment,
        deadline: Moment,
    ) -> Result<Turn<'a, F, C>, AcquireError> {
        let inner = &self.locker.inner;
        let granted = race(self.waiter.turn(), inner.clock.sleep_until(deadline)).await;
        let has_turn = granted || !inner.registry.withdraw(&self.path, &self.waiter);
        self.settled = true;
        if granted {
            return Ok(Turn::new(self.locker, self.path.clone()));
        }
        if has_turn {
            inner.registry.abandon(&self.path);
        }
        Err(AcquireError::Timeout {
            path: self.path.clone(),
            waited: inner.clock.now().saturating_since(started),
            holder: Some(Box::new(Holder::in_process(
                &self.path,
                inner.fs.process().pid,
            ))),
        })
    }
}

impl<F: LockFs, C: Clock> Drop for Queued<'_, F, C> {
    fn drop(&mut self) {
        let registry = &self.locker.inner.registry;
        if !self.settled && !registry.withdraw(&self.path, &self.waiter) {
            registry.abandon(&self.path);
        }
    }
}

/// Polls both futures; `true` if `first` finished first (it is polled first on each wake).
async fn race(first: impl Future<Output = ()>, second: impl Future<Output = ()>) -> bool {
    let mut first = pin!(first);
    let mut second = pin!(second);
    poll_fn(|cx| {
        if first.as_mut().poll(cx).is_ready() {
            Poll::Ready(true)
        } else if second.as_mut().poll(cx).is_ready() {
            Poll::Ready(false)
        } else {
            Poll::Pending
        }
    })
    .await
}
