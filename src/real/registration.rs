//! The two ways to wait on the reactor: [`Sleep`] until a deadline, and [`Watched`] for a
//! descriptor to become readable (or a deadline). Both deregister when dropped, so both
//! are cancel-safe.
//!
//! When the reactor cannot be started (the process is out of descriptors, say),
//! [`Watched::arm`] returns the error, which a kernel-lock wait reports as a typed
//! failure. A [`Sleep`] has no error to give (`Clock::sleep_until` cannot fail), so it
//! says so through `tracing::error!` and blocks its thread until its deadline instead;
//! the core sleeps only for bounded backoffs (at most 1 s, and never past the acquire's
//! deadline), and the next sleep tries the reactor again.

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::reactor::{monotonic_now, reactor};

/// Resolves at a monotonic instant. Cancel-safe: dropping it deregisters it.
#[derive(Debug)]
pub(crate) struct Sleep {
    at: Instant,
    key: Option<u64>,
}

impl Sleep {
    /// Sleeps until `at`.
    pub(crate) fn until(at: Instant) -> Self {
        Self { at, key: None }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if monotonic_now() >= self.at {
            return Poll::Ready(());
        }
        let reactor = match reactor() {
            Ok(reactor) => reactor,
            Err(error) => {
                block_until(self.at, &error);
                return Poll::Ready(());
            }
        };
        let key = *self.key.get_or_insert_with(|| reactor.register(cx.waker()));
        reactor.arm(key, cx.waker(), Some(self.at));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        // A key exists only if the reactor was running, and a running reactor stays.
        if let Some(key) = self.key
            && let Ok(reactor) = reactor()
        {
            reactor.deregister(key, None);
        }
    }
}

/// The fallback of a [`Sleep`] without a reactor: blocks the calling thread until `at`.
fn block_until(at: Instant, error: &io::Error) {
    let left = at.saturating_duration_since(monotonic_now());
    tracing::error!(
        %error,
        ?left,
        "sessionlock: no reactor to wait on; blocking this thread for the backoff instead"
    );
    std::thread::sleep(left);
}

/// An owned descriptor watched by the reactor, with a deadline.
pub(crate) struct Watched {
    fd: Option<OwnedFd>,
    key: Option<u64>,
}

impl Watched {
    pub(crate) fn new(fd: OwnedFd) -> Self {
        Self { fd: Some(fd), key: None }
    }

    /// The descriptor.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_ref().expect("present until released").as_fd()
    }

    /// Arranges for `waker` to be woken when the descriptor is readable or at `deadline`.
    ///
    /// # Errors
    /// The reactor cannot be started ([`reactor`]), or `epoll_ctl` failed.
    pub(crate) fn arm(&mut self, waker: &Waker, deadline: Instant) -> io::Result<()> {
        let reactor = reactor()?;
        let first = self.key.is_none();
        let key = *self.key.get_or_insert_with(|| reactor.register(waker));
        reactor.arm(key, waker, Some(deadline));
        reactor.arm_fd(key, self.fd(), first)
    }

    /// Stops watching and hands the descriptor back.
    pub(crate) fn release(mut self) -> OwnedFd {
        self.deregister();
        self.fd.take().expect("present until released")
    }

    fn deregister(&mut self) {
        // A key exists only if the reactor was running, and a running reactor stays.
        if let (Some(key), Some(fd)) = (self.key.take(), &self.fd)
            && let Ok(reactor) = reactor()
        {
            reactor.deregister(key, Some(fd.as_fd()));
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.deregister();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::block_on;
    use std::time::Duration;

    #[test]
    fn sleep_waits_until_its_deadline() {
        let at = monotonic_now() + Duration::from_millis(20);
        block_on(Sleep::until(at));
        assert!(monotonic_now() >= at);
    }

    #[test]
    fn an_earlier_deadline_interrupts_a_later_one() {
        let far =
            std::thread::spawn(|| block_on(Sleep::until(monotonic_now() + Duration::from_secs(2))));
        std::thread::sleep(Duration::from_millis(5));
        let near = monotonic_now() + Duration::from_millis(10);
        block_on(Sleep::until(near));
        assert!(monotonic_now() >= near);
        assert!(!far.is_finished());
    }

    #[test]
    fn a_dropped_sleep_is_deregistered() {
        let reactor = reactor().unwrap();
        let mut sleep = Box::pin(Sleep::until(monotonic_now() + Duration::from_secs(60)));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        let key = sleep.key.expect("registered");
        drop(sleep);
        assert!(!reactor.is_registered(key));
    }
}
