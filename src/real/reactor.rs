//! One background thread that turns kernel readiness and deadlines into task wake-ups.
//!
//! Every wait of the real adapter goes through here: [`Sleep`](super::registration::Sleep)
//! (the clock's deadlines and backoffs) and the inotify descriptor of a kernel-lock wait
//! ([`Watched`](super::registration::Watched), see `wait.rs`). The thread
//! blocks in `epoll_wait` with a timeout equal to the earliest deadline, so a waiting task
//! costs nothing while it waits, and no executor thread, tokio's or a blocking caller's,
//! ever blocks on our behalf. It works under any executor, including none: the blocking
//! API parks its own thread and is unparked by the waker this thread calls.
//!
//! | registration          | fires when                        | removed by                 |
//! |-----------------------|-----------------------------------|----------------------------|
//! | a key with a waker    | never on its own                  | [`Reactor::deregister`]    |
//! | + a deadline          | the deadline passes (`epoll_wait` times out) | re-arming with another deadline, or deregistering |
//! | + a descriptor        | it becomes readable (`EPOLLONESHOT`, re-armed on each wait) | deregistering |
//!
//! The reactor is started by the first wait that needs it. If it cannot be (no descriptor
//! left for its epoll instance or eventfd, or no thread), [`reactor`] returns a typed
//! error naming the step, closes what it had opened, and the next wait tries again; the
//! library never panics for it.
//!
//! This state lives outside the checked core and is never shared with it, so it uses
//! `std::sync` directly rather than the crate's sync facade.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::Waker;
use std::time::{Duration, Instant};

use rustix::event::{EventfdFlags, epoll, eventfd};
use rustix::io::Errno;

/// The only place the adapter reads the monotonic clock. It lives with the timers, the
/// lowest layer that needs it, so the clock, the registrations and the reactor point
/// one way: `clock` → `registration` → `reactor`.
#[allow(clippy::disallowed_methods)]
pub(crate) fn monotonic_now() -> Instant {
    Instant::now()
}

/// The key of the reactor's own wake-up descriptor.
const WAKE_KEY: u64 = 0;

/// The process-wide reactor.
pub(crate) struct Reactor {
    epoll: OwnedFd,
    wake: OwnedFd,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_key: u64,
    slots: HashMap<u64, Slot>,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    /// The deadline the reactor thread sleeps until; `None` when it sleeps indefinitely.
    thread_until: Option<Instant>,
}

struct Slot {
    waker: Waker,
    deadline: Option<Instant>,
}

/// Why the reactor could not be started: which step failed, and the system's error.
///
/// Carried inside the [`io::Error`] that [`reactor`] returns (its kind is the system
/// error's), so a kernel-lock wait reports it as `FsOp::LockUntil` on the lock path.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the sessionlock reactor: {step} failed: {source}")]
pub(crate) struct StartError {
    /// The step that failed: `epoll_create1`, `eventfd`, `epoll_ctl` or the thread spawn.
    step: &'static str,
    source: io::Error,
}

impl StartError {
    fn wrap(step: &'static str) -> impl FnOnce(io::Error) -> io::Error {
        move |source| io::Error::new(source.kind(), Self { step, source })
    }
}

/// The reactor, started on first use.
///
/// | state          | a call                                               |
/// |----------------|------------------------------------------------------|
/// | never started  | creates the epoll and eventfd and spawns the thread  |
/// | start failed   | tries again: nothing is kept from a failed start     |
/// | running        | returns it                                           |
///
/// # Errors
/// The step that failed, typically `EMFILE` when the process is out of descriptors.
/// Every descriptor of a failed start is closed again, so the next call, once
/// descriptors are free, starts it.
pub(crate) fn reactor() -> io::Result<&'static Reactor> {
    static REACTOR: OnceLock<Arc<Reactor>> = OnceLock::new();
    static STARTING: Mutex<()> = Mutex::new(());
    if let Some(reactor) = REACTOR.get() {
        return Ok(reactor);
    }
    let _one_at_a_time = STARTING.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(reactor) = REACTOR.get() {
        return Ok(reactor);
    }
    let reactor = Arc::new(Reactor::new()?);
    let thread = Arc::clone(&reactor);
    std::thread::Builder::new()
        .name("sessionlock-reactor".into())
        .spawn(move || thread.run())
        .map_err(StartError::wrap("spawning its thread"))?;
    Ok(REACTOR.get_or_init(|| reactor))
}

impl Reactor {
    fn new() -> io::Result<Self> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)
            .map_err(|e| StartError::wrap("epoll_create1")(e.into()))?;
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(|e| StartError::wrap("eventfd")(e.into()))?;
        epoll::add(&epoll, &wake, epoll::EventData::new_u64(WAKE_KEY), epoll::EventFlags::IN)
            .map_err(|e| StartError::wrap("epoll_ctl")(e.into()))?;
        Ok(Self {
            epoll,
            wake,
            state: Mutex::new(State { next_key: WAKE_KEY + 1, ..State::default() }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh key, for [`Reactor::arm`] and [`Reactor::arm_fd`].
    pub(crate) fn register(&self, waker: &Waker) -> u64 {
        let mut state = self.lock();
        let key = state.next_key;
        state.next_key += 1;
        let slot = Slot { waker: waker.clone(), deadline: None };
        state.slots.insert(key, slot);
        key
    }

    /// Sets the waker of `key`, and the deadline at which it is woken (if any).
    pub(crate) fn arm(&self, key: u64, waker: &Waker, deadline: Option<Instant>) {
        let mut state = self.lock();
        let Some(slot) = state.slots.get_mut(&key) else {
            return;
        };
        if !slot.waker.will_wake(waker) {
            slot.waker = waker.clone();
        }
        if slot.deadline == deadline {
            return;
        }
        slot.deadline = deadline;
        let Some(at) = deadline else { return };
        state.timers.push(Reverse((at, key)));
        if state.thread_until.is_none_or(|until| at < until) {
            state.thread_until = Some(at);
            drop(state);
            self.interrupt();
        }
    }

    /// Wakes `key` once `fd` is readable (one shot: call again after each wake-up).
    /// `first` adds the descriptor; later calls re-arm it. The kernel reports readiness
    /// that already exists when it is armed, so no edge is lost between a drain and this.
    pub(crate) fn arm_fd(&self, key: u64, fd: BorrowedFd<'_>, first: bool) -> io::Result<()> {
        let data = epoll::EventData::new_u64(key);
        let flags = epoll::EventFlags::IN | epoll::EventFlags::ONESHOT;
        if first {
            epoll::add(&self.epoll, fd, data, flags)?;
        } else {
            epoll::modify(&self.epoll, fd, data, flags)?;
        }
        Ok(())
    }

    /// Forgets `key`; with `fd`, also stops watching the descriptor (call before closing it).
    pub(crate) fn deregister(&self, key: u64, fd: Option<BorrowedFd<'_>>) {
        if let Some(fd) = fd {
            // Fails only if the descriptor was never added; nothing to undo then.
            let _ = epoll::delete(&self.epoll, fd);
        }
        self.lock().slots.remove(&key);
    }

    /// Whether `key` is registered.
    #[cfg(test)]
    pub(crate) fn is_registered(&self, key: u64) -> bool {
        self.lock().slots.contains_key(&key)
    }

    fn interrupt(&self) {
        // An eventfd write fails only when the counter would overflow, which means the
        // thread has a wake-up pending anyway.
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }

    fn run(&self) {
        let mut events = Vec::with_capacity(32);
        loop {
            let timeout = self.fire_due();
            events.clear();
            let spare = rustix::buffer::spare_capacity(&mut events);
            match epoll::wait(&self.epoll, spare, timeout.as_ref()) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(error) => {
                    tracing::error!(%error, "sessionlock reactor: epoll_wait failed");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            for event in &events {
                self.dispatch(event.data.u64());
            }
        }
    }

    /// Wakes every slot whose deadline passed; returns how long the thread may sleep.
    fn fire_due(&self) -> Option<rustix::event::Timespec> {
        let now = monotonic_now();
        let mut due = Vec::new();
        let mut state = self.lock();
        while let Some(&Reverse((at, key))) = state.timers.peek() {
            let live = state.slots.get(&key).is_some_and(|s| s.deadline == Some(at));
            if live && at > now {
                break;
            }
            state.timers.pop();
            if let Some(slot) = state.slots.get_mut(&key).filter(|_| live) {
                slot.deadline = None;
                due.push(slot.waker.clone());
            }
        }
        let next = state.timers.peek().map(|&Reverse((at, _))| at);
        state.thread_until = next;
        drop(state);
        due.into_iter().for_each(Waker::wake);
        next.map(|at| timespec(at.saturating_duration_since(now)))
    }

    fn dispatch(&self, key: u64) {
        if key == WAKE_KEY {
            let mut buf = [0u8; 8];
            let _ = rustix::io::read(&self.wake, &mut buf);
            return;
        }
        let waker = self.lock().slots.get(&key).map(|s| s.waker.clone());
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A duration as a `Timespec`, rounded up to the microsecond so the thread never wakes
/// just before a deadline and spins.
fn timespec(d: Duration) -> rustix::event::Timespec {
    let d = d + Duration::from_micros(1);
    rustix::event::Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}
