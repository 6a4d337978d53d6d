//! The in-memory half of an acquire: the turn for a path, and the queue for it.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

use super::error::{AcquireError, Holder};
use super::guard::Guard;
use super::locker::Locker;
use super::protocol::HeldFile;
use super::registry::{Owner, Waiter};
use crate::fs::{Clock, LockFs, LockPath, Moment};
use crate::sync::Arc;

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
    pub(super) fn new(locker: &'a Locker<F, C>, path: LockPath) -> Self {
        Self { locker, path, armed: true }
    }

    /// Ends the turn with the lock held by `owner`.
    pub fn grant(mut self, owner: Owner, file: HeldFile<F::Handle>) -> Guard<F, C> {
        self.armed = false;
        let generation = self.locker.registry().grant(&self.path, owner, file);
        Guard::new(self.locker.clone(), self.path.clone(), owner, generation)
    }
}

impl<F: LockFs, C: Clock> Drop for Turn<'_, F, C> {
    fn drop(&mut self) {
        if self.armed {
            self.locker.registry().abandon(&self.path);
        }
    }
}

/// A task queued for a path's turn. Dropped while queued, it withdraws; dropped after
/// being handed the turn, it passes the turn on.
pub(super) struct Queued<'a, F: LockFs, C: Clock> {
    pub(super) locker: &'a Locker<F, C>,
    pub(super) path: LockPath,
    pub(super) waiter: Arc<Waiter>,
    pub(super) settled: bool,
}

impl<'a, F: LockFs, C: Clock> Queued<'a, F, C> {
    /// Waits for the turn until `deadline`. In-memory only: woken by the task that ends
    /// the current turn, never by polling (INV-3).
    pub(super) async fn wait(
        mut self,
        started: Moment,
        deadline: Moment,
    ) -> Result<Turn<'a, F, C>, AcquireError> {
        let locker = self.locker;
        let granted = race(self.waiter.turn(), locker.clock().sleep_until(deadline)).await;
        let has_turn = granted || !locker.registry().withdraw(&self.path, &self.waiter);
        self.settled = true;
        if granted {
            return Ok(Turn::new(self.locker, self.path.clone()));
        }
        if has_turn {
            locker.registry().abandon(&self.path);
        }
        Err(AcquireError::Timeout {
            path: self.path.clone(),
            waited: locker.clock().now().saturating_since(started),
            holder: Some(Box::new(Holder::in_process(&self.path, locker.fs().process().pid))),
        })
    }
}

impl<F: LockFs, C: Clock> Drop for Queued<'_, F, C> {
    fn drop(&mut self) {
        let registry = self.locker.registry();
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
