//! Waiting for a kernel lock: woken by the kernel, retried with `flock(LOCK_NB)`.
//!
//! A holder's kernel lock goes away only when its open file description is torn down:
//! at its release (after the unlink) or when the kernel closes a dead holder's
//! descriptors. Linux reports that teardown to inotify as `IN_CLOSE_WRITE` or
//! `IN_CLOSE_NOWRITE` on the inode, so the waiter watches its own handle's inode
//! (through `/proc/self/fd/N`, which names the inode even once it is unlinked) and
//! retries `flock(LOCK_EX|LOCK_NB)` on every event.
//!
//! - The watch is added *before* the first retry, so a close between the core's probe
//!   and the wait is never missed.
//! - `__fput` queues the close event just before it drops the lock, so a retry can, in
//!   principle, still see the lock held; and network filesystems report nothing. A
//!   bounded backoff (1 ms doubling to 50 ms) retries anyway, as a safety net only.
//! - `IN_ATTRIB` (the holder's unlink) and `IN_DELETE_SELF` are not watched: the lock is
//!   still held at the unlink, and the inode cannot be freed while we hold it open, so
//!   both would only cost a wasted wake-up per hand-off.
//! - Closing an inotify instance whose marks are being torn down waits for an SRCU
//!   grace period (measured: 13–16 ms here), so instances are not closed after a wait
//!   but kept in a small pool: the watch is removed (`inotify_rm_watch` does not wait),
//!   the queue drained, and the instance reused by the next wait.
//! - If inotify is unavailable (no `/proc`, `max_user_instances` reached), the wait falls
//!   back to the backoff alone, with a warning.
//! - If the reactor cannot be started (out of descriptors: `EMFILE`), there is nothing
//!   to wait on: the wait fails with that error (the core reports it as
//!   `FsOp::LockUntil` on the lock path) rather than panicking or blocking a thread. The
//!   next wait tries to start the reactor again.
//!
//! The future blocks nothing: the reactor thread waits on the inotify descriptor and the
//! deadline. Dropping it (cancellation) closes the inotify descriptor and leaves the
//! handle as it was, unlocked by us.

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rustix::fs::inotify;
use rustix::io::Errno;

use super::clock::monotonic_now;
use super::handle::RealHandle;
use super::reactor::reactor;
use super::registration::{Sleep, Watched};

/// The first retry delay after an event; later ones double.
const FIRST_RETRY: Duration = Duration::from_millis(1);
/// The longest gap between two retries.
const MAX_RETRY: Duration = Duration::from_millis(50);
/// How many idle inotify instances are kept for reuse.
const POOL_MAX: usize = 8;

/// Idle inotify instances, with no watch and an empty queue.
static POOL: Mutex<Vec<OwnedFd>> = Mutex::new(Vec::new());

/// Resolves to `Ok(true)` once `handle` holds its inode's kernel lock, or `Ok(false)` at
/// `deadline`.
pub(crate) struct LockWait<'a> {
    handle: &'a RealHandle,
    deadline: Instant,
    watch: Option<Watch>,
    sleep: Option<Sleep>,
    backoff: Duration,
    next_try: Instant,
}

impl<'a> LockWait<'a> {
    pub(crate) fn new(handle: &'a RealHandle, deadline: Instant) -> Self {
        let watch = match Watch::new(handle) {
            Ok(watch) => Some(watch),
            Err(error) => {
                warn_no_inotify(&error);
                None
            }
        };
        Self {
            handle,
            deadline,
            watch,
            sleep: None,
            backoff: FIRST_RETRY,
            next_try: monotonic_now(),
        }
    }

    /// Drains the inotify queue; whether anything happened to the inode.
    fn drain(&self) -> bool {
        self.watch.as_ref().is_some_and(|w| drain(w.fd()))
    }

    /// Arranges to be polled again at `at` or on an inotify event. `false`: `at` has
    /// already passed.
    ///
    /// # Errors
    /// The reactor cannot be started.
    fn arm(&mut self, cx: &mut Context<'_>, at: Instant) -> io::Result<bool> {
        reactor()?; // every way of waiting below needs it
        if let Some(watch) = &mut self.watch {
            match watch.watched().arm(cx.waker(), at) {
                Ok(()) => return Ok(true),
                Err(error) => {
                    warn_no_inotify(&error);
                    self.watch = None;
                }
            }
        }
        let sleep = self.sleep.insert(Sleep::until(at));
        Ok(Pin::new(sleep).poll(cx).is_pending())
    }
}

impl Future for LockWait<'_> {
    type Output = io::Result<bool>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let event = self.drain();
            let now = monotonic_now();
            if event || now >= self.next_try {
                match self.handle.try_flock() {
                    Ok(true) => return Poll::Ready(Ok(true)),
                    Ok(false) => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
                self.backoff = match event {
                    true => FIRST_RETRY,
                    false => (self.backoff * 2).min(MAX_RETRY),
                };
                self.next_try = now + self.backoff;
            }
            if now >= self.deadline {
                return Poll::Ready(Ok(false));
            }
            let at = self.next_try.min(self.deadline);
            match self.arm(cx, at) {
                Ok(true) => return Poll::Pending,
                Ok(false) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// A watch, from a pooled inotify instance, on the close of every open file
/// description of the handle's inode.
struct Watch {
    watched: Option<Watched>,
    wd: i32,
}

impl Watch {
    fn new(handle: &RealHandle) -> io::Result<Self> {
        let pooled = POOL.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let fd = match pooled {
            Some(fd) => fd,
            None => inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)?,
        };
        let magic = format!("/proc/self/fd/{}", handle.fd().as_raw_fd());
        let mask = inotify::WatchFlags::CLOSE_WRITE | inotify::WatchFlags::CLOSE_NOWRITE;
        match inotify::add_watch(&fd, magic.as_str(), mask) {
            Ok(wd) => Ok(Self { watched: Some(Watched::new(fd)), wd }),
            Err(e) => {
                recycle(fd);
                Err(e.into())
            }
        }
    }

    fn watched(&mut self) -> &mut Watched {
        self.watched.as_mut().expect("present until dropped")
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.watched.as_ref().expect("present until dropped").fd()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let Some(watched) = self.watched.take() else {
            return;
        };
        let fd = watched.release();
        // `EINVAL`: the kernel already dropped the watch, as it does when the last other
        // name-holding reference to an unlinked inode goes (the holder's release).
        match inotify::remove_watch(&fd, self.wd) {
            Ok(()) | Err(Errno::INVAL) => recycle(fd),
            Err(_) => {}
        }
    }
}

/// Returns an instance with no watch to the pool, its queue drained.
fn recycle(fd: OwnedFd) {
    drain(fd.as_fd());
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    if pool.len() < POOL_MAX {
        pool.push(fd);
    }
}

/// Empties an inotify queue; whether it held anything.
fn drain(fd: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 4096];
    let mut any = false;
    loop {
        match rustix::io::read(fd, &mut buf) {
            Ok(n) if n > 0 => any = true,
            Err(Errno::INTR) => {}
            _ => return any,
        }
    }
}

fn warn_no_inotify(error: &io::Error) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::warn!(
            %error,
            "sessionlock: inotify is unavailable; waits for a kernel lock fall back to \
             retrying every 1-50 ms"
        );
    });
}
