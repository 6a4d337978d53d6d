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
//! The same future waits for a foreign holder's *writers* to close
//! ([`LockWait::writers_closed`]): the original lock holds no kernel lock but keeps its
//! file open for writing while it holds, and closing it (at its release, or by the kernel
//! at its death) raises `IN_CLOSE_WRITE`. That wait watches `IN_CLOSE_WRITE` only (a
//! reader's close, such as another contender's probe, changes nothing) and, on each
//! event, asks the read-lease probe whether a writer is left. `__fput` raises the event
//! before it drops the write access, so after an event the probe is retried 1 ms
//! doubling to 64 ms; then the wait sleeps until the next event or the deadline, with no
//! polling. Without inotify it falls back to the 1–50 ms retries.
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

use super::handle::RealHandle;
use super::reactor::{monotonic_now, reactor};
use super::registration::{Sleep, Watched};
use crate::fs::Lease;

/// The first retry delay after an event; later ones double.
const FIRST_RETRY: Duration = Duration::from_millis(1);
/// The longest gap between two retries.
const MAX_RETRY: Duration = Duration::from_millis(50);
/// How many idle inotify instances are kept for reuse.
const POOL_MAX: usize = 8;

/// Idle inotify instances, with no watch and an empty queue.
static POOL: Mutex<Vec<OwnedFd>> = Mutex::new(Vec::new());

/// What a [`LockWait`] waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The handle holds its inode's kernel lock.
    Flock,
    /// No descriptor has the inode open for writing (the lease probe says so, or can no
    /// longer say anything).
    NoWriter,
}

/// Resolves to `Ok(true)` once `handle` holds its inode's kernel lock (or, from
/// [`LockWait::writers_closed`], once no writer has the file open), or `Ok(false)` at
/// `deadline`.
pub(crate) struct LockWait<'a> {
    handle: &'a RealHandle,
    target: Target,
    deadline: Instant,
    watch: Option<Watch>,
    sleep: Option<Sleep>,
    backoff: Duration,
    next_try: Instant,
}

impl<'a> LockWait<'a> {
    pub(crate) fn new(handle: &'a RealHandle, deadline: Instant) -> Self {
        Self::waiting_for(handle, deadline, Target::Flock)
    }

    /// Waits until no descriptor has `handle`'s file open for writing.
    pub(crate) fn writers_closed(handle: &'a RealHandle, deadline: Instant) -> Self {
        Self::waiting_for(handle, deadline, Target::NoWriter)
    }

    fn waiting_for(handle: &'a RealHandle, deadline: Instant, target: Target) -> Self {
        let mask = match target {
            Target::Flock => inotify::WatchFlags::CLOSE_WRITE | inotify::WatchFlags::CLOSE_NOWRITE,
            Target::NoWriter => inotify::WatchFlags::CLOSE_WRITE,
        };
        let watch = match Watch::new(handle, mask) {
            Ok(watch) => Some(watch),
            Err(error) => {
                warn_no_inotify(&error);
                None
            }
        };
        Self {
            handle,
            target,
            deadline,
            watch,
            sleep: None,
            backoff: FIRST_RETRY,
            next_try: monotonic_now(),
        }
    }

    /// One attempt: `Ok(true)` when what is waited for has happened.
    fn attempt(&self) -> io::Result<bool> {
        match self.target {
            Target::Flock => self.handle.try_flock(),
            Target::NoWriter => Ok(self.handle.lease() != Lease::Writer),
        }
    }

    /// When to attempt again without an event, `backoff` after `now`. A writer wait
    /// with a watch stops retrying once the backoff passes its cap: only the next
    /// close event (or the deadline) wakes it.
    fn retry_at(&self, now: Instant) -> Instant {
        match (self.target, &self.watch) {
            (Target::NoWriter, Some(_)) if self.backoff > MAX_RETRY => self.deadline,
            _ => now + self.backoff.min(MAX_RETRY),
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
                match self.attempt() {
                    Ok(true) => return Poll::Ready(Ok(true)),
                    Ok(false) => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
                self.backoff = match event {
                    true => FIRST_RETRY,
                    false => (self.backoff * 2).min(MAX_RETRY * 2),
                };
                self.next_try = self.retry_at(now);
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
    fn new(handle: &RealHandle, mask: inotify::WatchFlags) -> io::Result<Self> {
        let pooled = POOL.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let fd = match pooled {
            Some(fd) => fd,
            None => inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)?,
        };
        let magic = format!("/proc/self/fd/{}", handle.fd().as_raw_fd());
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
