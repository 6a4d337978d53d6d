//! The scoped forms' result: the closure's value, and what the release said.

use std::any::Any;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::core::{AcquireError, ReleaseError, Released};

/// Why [`SessionLock::with`](super::SessionLock::with) (or its blocking twin) failed.
///
/// | variant   | the closure              | its value                 |
/// |-----------|--------------------------|---------------------------|
/// | `Acquire` | did not run              | none                      |
/// | `Release` | ran, then the release failed | kept in `value`       |
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WithError<T> {
    /// The lock could not be taken; the closure did not run.
    #[error(transparent)]
    Acquire(AcquireError),
    /// The closure ran and returned `value`, but its release failed: with
    /// [`ReleaseError::Compromised`], another writer may have been in while it ran.
    #[error("{error} (the closure's value is kept)")]
    Release {
        /// What the closure returned.
        value: T,
        /// What the release reported.
        #[source]
        error: ReleaseError,
    },
}

impl<T> WithError<T> {
    /// The closure's value, when it ran.
    pub fn into_value(self) -> Option<T> {
        match self {
            Self::Acquire(_) => None,
            Self::Release { value, .. } => Some(value),
        }
    }
}

/// The closure's outcome and the release's, as the scoped forms return them. A panic
/// goes on once the lock is released; a release failure during it is logged, since the
/// panic is what the caller sees.
pub(super) fn finish<T>(
    ran: Result<T, Box<dyn Any + Send>>,
    released: Result<Released, ReleaseError>,
) -> Result<T, WithError<T>> {
    match (ran, released) {
        (Ok(value), Ok(_)) => Ok(value),
        (Ok(value), Err(error)) => Err(WithError::Release { value, error }),
        (Err(panicked), released) => {
            if let Err(error) = released {
                tracing::error!(%error, "release after a panic in the locked scope failed");
            }
            panic::resume_unwind(panicked)
        }
    }
}

/// A future that turns a panic inside `inner` into a value, so the lock can be
/// released before the panic goes on.
pub(super) struct CatchUnwind<'a, Fut> {
    inner: Pin<&'a mut Fut>,
}

impl<'a, Fut> CatchUnwind<'a, Fut> {
    pub(super) fn new(inner: Pin<&'a mut Fut>) -> Self {
        Self { inner }
    }
}

impl<Fut: Future> Future for CatchUnwind<'_, Fut> {
    type Output = Result<Fut::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        match panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(panicked) => Poll::Ready(Err(panicked)),
        }
    }
}
