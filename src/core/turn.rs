//! The in-memory half of an acquire: the turn for a path, and the queue for it.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

use super::error::{AcquireError, Holder};
use super::guard::Guard;
use super::locker::Locker;
use super::protocol::HeldFile;
use super::registry::{Grant, Owner, Waiter};
use crate::fs::{Clock, LockFs, LockPath, Moment};
use crate::sync::Arc;

/// The outcome of [`Locker::admit`].
pub enum Admission<'a, F: LockFs, C: Clock> {
    /// The same owner held the lock; this is a counted re-entry.
    Reentered(Guard<F, C>),
    /// The caller has the path's turn and must run the filesystem half.
    Turn(Turn<'a, F, C>),
    /// The last holder handed its hold, published file and all, to the caller in memory:
    /// the caller holds the lock (INV-9).
    Handed(Guard<F, C>),
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
        let published = self.locker.clock().now();
        let generation = self.locker.registry().grant(&self.path, owner, file, published);
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
/// being handed the turn, it passes the turn on; dropped after being handed a hold, it
/// releases the hold.
pub(super) struct Queued<'a, F: LockFs, C: Clock> {
    pub(super) locker: &'a Locker<F, C>,
    pub(super) path: LockPath,
    pub(super) waiter: Arc<Waiter>,
    pub(super) settled: bool,
}

impl<'a, F: LockFs, C: Clock> Queued<'a, F, C> {
    /// Waits for the turn until `deadline`. In-memory only: woken by the task that ends
    /// the current turn, never by polling (INV-3). A hold handed off before the waiter
    /// could withdraw is the lock acquired, even at the deadline: it is already ours.
    pub(super) async fn wait(
        mut self,
        started: Moment,
        deadline: Moment,
    ) -> Result<Admission<'a, F, C>, AcquireError> {
        let locker = self.locker;
        let granted = race(self.waiter.turn(), locker.clock().sleep_until(deadline)).await;
        let late = match granted {
            Some(_) => None,
            None => locker.registry().withdraw(&self.path, &self.waiter),
        };
        self.settled = true;
        match (granted, late) {
            (Some(Grant::Turn), _) => {
                return Ok(Admission::Turn(Turn::new(locker, self.path.clone())));
            }
            (Some(Grant::Hold { generation }), _) | (None, Some(Grant::Hold { generation })) => {
                return Ok(Admission::Handed(self.handed(generation)));
            }
            (None, Some(Grant::Turn)) => locker.registry().abandon(&self.path),
            (None, None) => {}
        }
        Err(AcquireError::Timeout {
            path: self.path.clone(),
            waited: locker.clock().now().saturating_since(started),
            holder: Some(Box::new(Holder::in_process(&self.path, locker.fs().process().pid))),
        })
    }

    /// The guard of the hold with `generation`, handed off to this waiter.
    fn handed(&self, generation: u64) -> Guard<F, C> {
        let owner = self.waiter.owner();
        Guard::new(self.locker.clone(), self.path.clone(), owner, generation)
    }
}

impl<F: LockFs, C: Clock> Drop for Queued<'_, F, C> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        match self.locker.registry().withdraw(&self.path, &self.waiter) {
            None => {}
            Some(Grant::Turn) => self.locker.registry().abandon(&self.path),
            // Released by the guard's drop: handed on again, or through the disk.
            Some(Grant::Hold { generation }) => drop(self.handed(generation)),
        }
    }
}

/// Polls both futures; `first`'s output if it finished first (it is polled first on each
/// wake), `None` if `second` did.
async fn race<T>(first: impl Future<Output = T>, second: impl Future<Output = ()>) -> Option<T> {
    let mut first = pin!(first);
    let mut second = pin!(second);
    poll_fn(|cx| {
        if let Poll::Ready(out) = first.as_mut().poll(cx) {
            Poll::Ready(Some(out))
        } else if second.as_mut().poll(cx).is_ready() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    })
    .await
}
