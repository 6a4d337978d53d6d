//! Recording: every step the core takes in the world, with the world's abstraction
//! after it.
//!
//! The recorder is ghost state of the [`World`]: it lives under the world's one mutex,
//! and each primitive logs itself from inside its atomic step, so a recorded trace is
//! the order in which the steps really happened, under every driver (the proptest
//! machine's stepper, shuttle's threads, the scripts' gates). It needs nothing from the
//! core: the core only calls [`LockFs`](sessionlock::fs::LockFs) primitives, and those are
//! what is recorded. Registry transitions are in-process and never touch the world: the
//! core reports them through its observe hook ([`Recording`]), and they are logged without
//! the world's lock (a shuttle scheduling point) into the same trace, by the driver's task
//! that took them ([`Polled`]); the replay infers the rest (see [`super::replay()`]).

use sessionlock::core::registry::PhaseKind;
use sessionlock::core::{Event, Observer, SharedObserver};

use crate::subject::ModelLocker;
use crate::trace::Recorder;
pub use crate::trace::{InodeView, Prim, Registry, Sink, Step, View, collect};
use crate::world::{Pid, World};

/// An [`Observer`] that logs the core's registry transitions into the world's trace (as
/// steps of process `pid`, by the driver's task that reports them, see [`Polled`]), then
/// passes every event on. Called right after the core's step, before its next primitive,
/// so the log keeps the order of the run (under shuttle, see [`World::log_registry`]).
pub struct Recording {
    /// The world whose trace gets the steps.
    pub world: std::sync::Arc<World>,
    /// The process whose locker this observes.
    pub pid: Pid,
    /// Its incarnation: a later one of the same pid has lockers of its own.
    pub incarnation: u32,
    /// The task the driver polls now (see [`Polled`]).
    pub polled: Polled,
    /// The observer every event is passed on to.
    pub inner: SharedObserver,
}

/// The driver's task that every event the core reports comes from. A stepped driver (the
/// proptest machine) sets the task it polls before each poll ([`Polled::set`]); under
/// shuttle, where every task runs on a thread of its own, each thread names its task once
/// ([`Polled::enter`]) and an event is by the task of the thread that reports it. Ghost
/// state (std, invisible to loom and shuttle), shared by a driver and the observers of its
/// processes.
#[derive(Clone, Debug, Default)]
pub struct Polled {
    /// The task polled now, plus one (zero: none said).
    polled: std::sync::Arc<std::sync::atomic::AtomicUsize>, // purity: ghost state
    /// Shuttle's id of each thread that named its task, and that task.
    threads: std::sync::Arc<std::sync::Mutex<Vec<(usize, u8)>>>, // purity: ghost state
}

impl Polled {
    /// Task `task` is polled next.
    pub fn set(&self, task: usize) {
        self.polled.store(task + 1, std::sync::atomic::Ordering::SeqCst);
    }

    /// The shuttle thread running this is task `task` (several threads may be one task:
    /// the one that starts the scenario, then the task's own). Outside shuttle, nothing.
    pub fn enter(&self, task: usize) {
        let (Some(thread), Ok(task)) = (shuttle_thread(), u8::try_from(task)) else { return };
        let mut threads = self.threads.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        threads.retain(|&(t, _)| t != thread);
        threads.push((thread, task));
    }

    /// The task reporting now: the current shuttle thread's, if it named one; else the
    /// task being polled, if the driver said (and it has a small index).
    pub fn get(&self) -> Option<u8> {
        if let Some(thread) = shuttle_thread() {
            let threads = self.threads.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(&(_, task)) = threads.iter().find(|&&(t, _)| t == thread) {
                return Some(task);
            }
        }
        let task = match POLLING.with(std::cell::Cell::get) {
            Some(task) => task,
            None => self.polled.load(std::sync::atomic::Ordering::SeqCst).checked_sub(1)?,
        };
        u8::try_from(task).ok()
    }
}

std::thread_local! {
    /// The driver's task whose future this thread polls now ([`named`]).
    static POLLING: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// `future`, as the driver's task `task`: while it is polled, the events the core reports
/// are by `task` (see [`Polled`]). How a stepped driver that polls its tasks' futures on
/// one thread (a script, the crash points) names them. Not under shuttle, whose threads
/// switch inside a poll: there each thread names its task ([`Polled::enter`]).
pub async fn named<F: std::future::Future>(task: usize, future: F) -> F::Output {
    /// Puts back the task named before, even if the poll unwinds.
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            POLLING.with(|p| p.set(self.0));
        }
    }
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        let _restore = Restore(POLLING.with(|p| p.replace(Some(task))));
        future.as_mut().poll(cx)
    })
    .await
}

/// Where registry step `step` belongs in `steps` if the core reported it later than its
/// transition, `None` if it goes last.
///
/// Under shuttle, letting go of a mutex is a scheduling point, taken while it is still
/// held: the core reports a transition after it lets go of the registry's lock, and
/// while that report waits, other tasks run. Nothing of the same process can take the
/// registry's lock meanwhile, but two things need no registry lock, and may be logged
/// first:
///
/// | event | logged before it meanwhile | where it goes |
/// |---|---|---|
/// | `Queued` | the other tasks' primitives: a close that gives up a turn, before the turn is handed on (one step in the spec: `Abandon` with a handle) | before its process's last steps if they are closes |
/// | `HandedOff` | the `Acquired` of the waiter it handed the hold to (and the start of its next acquire) | before that `Acquired`, if it is the process's last registry transition (starts and ends of acquires aside): a grant no correct core reports while another task still holds |
///
/// A stepped driver polls a task until its next primitive, report included: its steps
/// are logged in order.
fn late_report(steps: &[Step], step: &Step) -> Option<usize> {
    let Prim::Registry(event) = step.prim else { return None };
    let of_process = |s: &Step| s.pid == step.pid && matches!(s.prim, Prim::Registry(_));
    match event {
        Registry::Queued { .. } => {
            let other = |s: &Step| s.pid == step.pid && s.prim != Prim::Close;
            Some(steps.iter().rposition(other).map_or(0, |i| i + 1))
        }
        Registry::HandedOff => {
            let transition = |s: &Step| {
                of_process(s)
                    && !matches!(s.prim, Prim::Registry(Registry::Begun | Registry::Ended))
            };
            let last = steps.iter().rposition(transition)?;
            let s = &steps[last];
            let handed = s.prim == Prim::Registry(Registry::Acquired)
                && s.task.is_some()
                && s.task != step.task;
            handed.then_some(last)
        }
        _ => None,
    }
}

/// The id of the shuttle thread running this, inside a shuttle execution that explores
/// schedules (not one that runs a stepped driver alone, [`crate::checkers::sequential`]).
fn shuttle_thread() -> Option<usize> {
    #[cfg(sessionlock_shuttle)]
    if crate::exploring::exploring() {
        return shuttle::current::try_get_current_task().map(usize::from);
    }
    None
}

impl Recording {
    /// A recording for the current incarnation of `pid` (started before this call).
    pub fn new(
        world: std::sync::Arc<World>,
        pid: Pid,
        polled: Polled,
        inner: SharedObserver,
    ) -> Self {
        // From the trace, not the world's state: its lock would be a scheduling point.
        let incarnation = world.last_view().and_then(|v| v.procs.get(&pid).map(|p| p.1));
        Self { world, pid, incarnation: incarnation.unwrap_or(0), polled, inner }
    }
}

impl Observer for Recording {
    fn event(&self, event: &Event<'_>) {
        let registry = match event {
            Event::Queued { behind, .. } => {
                Some(Registry::Queued { behind_releasing: *behind == PhaseKind::Releasing })
            }
            Event::Acquired { .. } => Some(Registry::Acquired),
            Event::Reentered { .. } => Some(Registry::Reentered),
            Event::Released { .. } => Some(Registry::Released),
            Event::HandedOff { .. } => Some(Registry::HandedOff),
            _ => None,
        };
        if let Some(r) = registry {
            self.world.log_registry(self.pid, Some(self.incarnation), self.polled.get(), r);
        }
        self.inner.event(event);
    }
}

impl World {
    /// Starts recording every step into a trace (see [`World::trace`]). Call it before
    /// any process starts.
    pub fn record_trace(&self) {
        let recorder = Recorder::default();
        _ = self.sink.set(std::sync::Arc::clone(&recorder.sink));
        self.state.lock().recorder = Some(recorder);
    }

    /// The steps recorded so far, empty if recording is off.
    pub fn trace(&self) -> Vec<Step> {
        let Some(sink) = self.sink.get() else { return Vec::new() };
        sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The world's abstraction after the last recorded step, if recording. Every step that
    /// changes it is recorded, so it is the world's abstraction now; read without the
    /// world's lock, so it adds no scheduling point.
    pub(crate) fn last_view(&self) -> Option<View> {
        let steps = self.sink.get()?.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(steps.last().map(|s| s.after.clone()).unwrap_or_default())
    }

    /// Logs registry transition `event` of `pid`, by the driver's task `task` where it is
    /// named, if recording: only while `pid` is alive (in `incarnation`, if given), for a
    /// dead process runs no code, and what its dropped futures report afterwards (a guard's
    /// fallback release handing off in memory) is the driver's teardown, even once a new
    /// incarnation of its pid runs.
    ///
    /// Taken without the world's lock, so that recording adds no scheduling point. The
    /// event lands where the core reports it: in a stepped driver, right after the
    /// transition; under shuttle, see `late_report`.
    pub fn log_registry(
        &self,
        pid: Pid,
        incarnation: Option<u32>,
        task: Option<u8>,
        event: Registry,
    ) {
        let Some(sink) = self.sink.get() else { return };
        let mut steps = sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let after = steps.last().map(|s| s.after.clone()).unwrap_or_default();
        let live = after
            .procs
            .get(&pid)
            .is_some_and(|&(alive, inc)| alive && incarnation.is_none_or(|i| i == inc));
        if !live {
            return;
        }
        let step = Step { pid, task, prim: Prim::Registry(event), ticket: false, after };
        let at = shuttle_thread().and_then(|_| late_report(&steps, &step)).unwrap_or(steps.len());
        steps.insert(at, step);
    }

    /// Logs that the driver's task `task` of `pid` began an acquire (or `try_acquire`).
    pub fn acquire_begun(&self, pid: Pid, task: usize) {
        self.log_registry(pid, None, u8::try_from(task).ok(), Registry::Begun);
    }

    /// Logs how the acquire of the driver's task `task` of `pid` ended: [`Registry::Ended`]
    /// if it ended without the lock.
    pub fn acquire_ended<G: Holds, E>(&self, pid: Pid, task: usize, outcome: &Result<G, E>) {
        if !outcome.as_ref().is_ok_and(Holds::holds) {
            self.log_registry(pid, None, u8::try_from(task).ok(), Registry::Ended);
        }
    }
}

/// Runs `acquire`, the driver's task `task` of `pid` acquiring, with its start and its end
/// logged ([`World::acquire_begun`], [`World::acquire_ended`]): how a driver that awaits
/// its acquires records them. An acquire dropped unfinished (cancelled) ended without the
/// lock: its end is logged once the acquire's own drop has run.
pub async fn acquiring<G: Holds, E, F: std::future::Future<Output = Result<G, E>>>(
    world: &World,
    pid: Pid,
    task: usize,
    acquire: F,
) -> Result<G, E> {
    world.acquire_begun(pid, task);
    let mut pending = Pending { world, pid, task, acquire: Some(Box::pin(acquire)) };
    let outcome = std::future::poll_fn(|cx| match pending.acquire.as_mut() {
        Some(acquire) => acquire.as_mut().poll(cx),
        None => std::task::Poll::Pending,
    })
    .await;
    pending.acquire = None;
    world.acquire_ended(pid, task, &outcome);
    outcome
}

/// An acquire [`acquiring`] awaits; dropped while it is still there, it was cancelled.
struct Pending<'w, F> {
    world: &'w World,
    pid: Pid,
    task: usize,
    acquire: Option<std::pin::Pin<Box<F>>>,
}

impl<F> Drop for Pending<'_, F> {
    fn drop(&mut self) {
        let cancelled = self.acquire.take();
        let unfinished = cancelled.is_some();
        drop(cancelled);
        if unfinished {
            self.world.log_registry(self.pid, None, u8::try_from(self.task).ok(), Registry::Ended);
        }
    }
}

/// The observer for the lockers of process `pid` (started before this call): a
/// [`Recording`] passing every event on to `inner` if `world` records, else `inner`.
pub fn observer(
    world: &std::sync::Arc<World>,
    pid: Pid,
    polled: &Polled,
    inner: SharedObserver,
) -> SharedObserver {
    if world.sink.get().is_none() {
        return inner;
    }
    let recording = Recording::new(std::sync::Arc::clone(world), pid, polled.clone(), inner);
    std::sync::Arc::new(recording)
}

/// `locker`, a fresh locker of process `pid` (started before this call), observed by a
/// [`Recording`] if `world` records: how a driver whose lockers have no observer of their
/// own records the core's events. The task of each event is the one [`named`] polls.
pub fn recorded(world: &std::sync::Arc<World>, pid: Pid, locker: ModelLocker) -> ModelLocker {
    if world.sink.get().is_none() {
        return locker;
    }
    let inner: SharedObserver = std::sync::Arc::new(crate::observe::Counter::default());
    locker.observed(observer(world, pid, &Polled::default(), inner))
}

/// What an acquire returns when it succeeds: whether that is the lock held.
pub trait Holds {
    /// The lock is held.
    fn holds(&self) -> bool;
}

impl Holds for crate::subject::ModelGuard {
    fn holds(&self) -> bool {
        true
    }
}

impl<G> Holds for sessionlock::core::TryAcquire<G> {
    fn holds(&self) -> bool {
        matches!(self, Self::Acquired(_))
    }
}
