//! [`Locker`]: the lock service's state (filesystem, clock, registry, options, observer)
//! and what every part of an acquire or a release reads from it. The acquire itself, which
//! builds turns and guards, is in the parent; turns and guards hold a `Locker` from here,
//! so they import nothing from their parent.

use super::observe::{self, Event, SharedObserver};
use super::options::{Options, Reentrancy};
use super::protocol::{Ctx, HeldFile};
use super::registry::{Owner, Registry};
use crate::fs::{Clock, LockFs, LockPath, Moment};
use crate::payload::Payload;
use crate::sync::Arc;

/// A lock service over one filesystem, clock and per-process registry.
pub struct Locker<F: LockFs, C: Clock> {
    inner: Arc<Inner<F, C>>,
}

struct Inner<F: LockFs, C> {
    fs: F,
    clock: C,
    registry: Arc<Registry<HeldFile<F::Handle>>>,
    options: Options,
    observer: Option<SharedObserver>,
}

impl<F: LockFs, C: Clock> Clone for Locker<F, C> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
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
        Self { inner: Arc::new(Inner { fs, clock, registry, options, observer: None }) }
    }

    /// Returns this locker with `observer` receiving every [`Event`].
    pub fn observed(self, observer: SharedObserver) -> Self {
        let Inner { fs, clock, registry, options, .. } = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(_) => panic!("observed() must be called before the locker is shared"),
        };
        Self { inner: Arc::new(Inner { fs, clock, registry, options, observer: Some(observer) }) }
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
            here: self.inner.fs.location(),
            observer: self.inner.observer.as_deref(),
        }
    }

    /// Traces `event` and hands it to the observer (without building a whole [`Ctx`]).
    pub(super) fn emit(&self, event: Event<'_>) {
        observe::emit(self.inner.observer.as_deref(), &event);
    }

    /// The start and deadline of an acquire beginning now.
    pub fn window(&self) -> (Moment, Moment) {
        let started = self.inner.clock.now();
        (started, started.saturating_add(self.inner.options.timeout))
    }

    pub(super) fn timed_out(&self, path: &LockPath) {
        self.emit(Event::TimedOut { path });
    }

    pub(super) fn effective(&self, owner: Owner) -> Owner {
        match self.inner.options.reentrancy {
            Reentrancy::PerOwner => owner,
            Reentrancy::Process => Owner::PROCESS,
        }
    }

    /// The payload this process publishes: the original's fields plus our kernel-lock
    /// marker and a nonce unique to the publication.
    pub fn payload(&self) -> Payload {
        let me = self.inner.fs.process();
        let seq = next_publication();
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
            location: self.inner.fs.location().clone(),
        }
    }
}

/// A number this process never handed out before, for nonces: process-wide, so lockers
/// with separate registries still never share a nonce.
fn next_publication() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering}; // purity: ids only, not checked state
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
