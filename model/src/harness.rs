//! Threaded scenarios: each task of each simulated process runs a script of [`Op`]s on
//! its own thread, loom's, shuttle's or std's. The same function is the body of every
//! loom model, every shuttle schedule and every std run, with or without a fault plan
//! ([`run`], [`run_faulted`]).

use std::sync::{Arc, Mutex as GhostMutex, PoisonError};
use std::time::Duration;

use sessionlock::core::{AcquireError, Locker, Options, Owner, ReleaseError, Released, TryAcquire};
use sessionlock::fs::{FsOp, LockPath};

use crate::fault::explain::Failure;
use crate::fault::{Fault, FaultHits};
use crate::fs::{ModelClock, ModelFs};
use crate::invariant::{Invariant, Verdict};
use crate::observe::{Counter, Reach, Reachable};
use crate::op::Op;
use crate::refine::record::{self, Polled};
use crate::rt;
use crate::subject::{ModelGuard, ModelLocker, Subject};
use crate::world::{Pid, World};

/// A scenario: per process, per task, a script.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// Its name in reports.
    pub name: &'static str,
    /// Processes → tasks → script.
    pub processes: &'static [&'static [&'static [Op]]],
    /// The invariants it checks.
    pub checks: &'static [Invariant],
    /// Task 0 of process 0 acquires before any thread starts, so its script begins
    /// holding the lock.
    pub held_at_start: bool,
    /// Task 0 of process 0 runs its whole script before any other task starts: with a
    /// script that ends in a crash, every other process starts on a dead holder's file.
    pub runs_first: bool,
    /// Prepares the world before any process starts (a foreign file, inode drift).
    pub setup: fn(&World),
    /// The acquire timeout, when the scenario holds longer than the default 10 s.
    pub timeout: Option<std::time::Duration>,
    /// The states every full exploration of it must reach.
    pub reaches: &'static [Reachable],
}

/// The pid of the fresh process that proves recovery at the end of a run.
pub const FRESH_PID: Pid = 200;
/// The driver's task index of the fresh process's acquire, apart from every scenario's.
const FRESH_TASK: usize = 200;

/// The lock path every scenario uses.
pub fn lock_path() -> LockPath {
    LockPath::from_canonical("/sessions/s.jsonl.lock")
}

/// Ghost state: who is inside the critical section. Std, not facade: an oracle, not
/// part of the system under test, and never held across a scheduling point.
#[derive(Default)]
pub struct Ghost {
    /// Who is inside: process, task, and the owner the lock was granted to.
    inside: GhostMutex<Vec<(Pid, Owner, Owner)>>,
    /// The time the scenario's `Advance` ops have moved the clock by, kept here rather
    /// than read from the world so that checking adds no scheduling point.
    clock: GhostMutex<Duration>,
    /// The spans of that time that a task inside moved the clock across.
    held_through: GhostMutex<Vec<(Duration, Duration)>>,
}

impl Ghost {
    /// Task `task` of `pid` entered, holding the lock as `granted`. Returns the violation,
    /// if any: another task inside is INV-1, or INV-7 when both hold as the same owner
    /// (a stranger let in by re-entry).
    pub fn enter(&self, pid: Pid, task: Owner, granted: Owner) -> Option<(Invariant, String)> {
        let mut inside = self.inside.lock().unwrap_or_else(|e| e.into_inner());
        let clash = inside.iter().find(|(_, t, _)| *t != task).map(|(other_pid, other, as_owner)| {
            let inv =
                if *as_owner == granted { Invariant::Reentrancy } else { Invariant::MutualExclusion };
            let how = if inv == Invariant::Reentrancy { " by re-entry" } else { "" };
            (inv, format!("{task:?} of pid {pid} entered{how} while {other:?} of pid {other_pid} was inside"))
        });
        inside.push((pid, task, granted));
        clash
    }

    /// Task `task` is about to release one re-entry; returns how many remain after it.
    pub fn leave(&self, task: Owner) -> usize {
        let mut inside = self.inside.lock().unwrap_or_else(|e| e.into_inner());
        let at = inside.iter().position(|(_, t, _)| *t == task).expect("leave without enter");
        inside.remove(at);
        inside.iter().filter(|(_, t, _)| *t == task).count()
    }

    /// A task is about to move the clock by `by`, holding the lock throughout if
    /// `inside`. Returns the time before the move.
    pub fn advance(&self, by: Duration, inside: bool) -> Duration {
        let mut clock = self.clock.lock().unwrap_or_else(|e| e.into_inner());
        let from = *clock;
        *clock += by;
        if inside {
            self.held_through.lock().unwrap_or_else(|e| e.into_inner()).push((from, *clock));
        }
        from
    }

    /// The time the scenario has moved the clock by so far.
    pub fn now(&self) -> Duration {
        *self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a deadline at `at` passed while a task inside moved the clock across it,
    /// so that an acquire giving up there timed out against a real holder.
    pub fn held_at(&self, at: Duration) -> bool {
        let spans = self.held_through.lock().unwrap_or_else(|e| e.into_inner());
        spans.iter().any(|&(from, to)| from < at && at <= to)
    }

    /// Process `pid` died: its tasks are out.
    pub fn crash(&self, pid: Pid) {
        self.inside.lock().unwrap_or_else(|e| e.into_inner()).retain(|(p, _, _)| *p != pid);
    }
}

/// Runs `scenario` once against `subject`; panics with `"INV-n …"` on a violation.
///
/// Tasks never panic: a violation is recorded in the world, the task that saw it winds
/// down normally, and this function panics once every thread has joined. (Unwinding
/// through a task would run drops that need the scheduler, which shuttle forbids.)
pub fn run(scenario: &Scenario, subject: Subject) -> Reach {
    drive(scenario, subject, Vec::new()).0
}

/// As [`run`], under `faults`, installed once the initial hold is taken and the task
/// that runs first has run, disarmed once every thread has joined. A failed acquire or
/// release is accepted when it is the honest report of a fault injected into its own
/// process, each injected fault explaining at most one failure; afterwards:
///
/// - no live process keeps a registry entry (INV-5);
/// - a lock file may remain only if a release failed or a process crashed, and then
///   only kernel-unlocked (INV-5);
/// - a fresh process acquires at once, with the clock still, and releases (INV-4).
///
/// Returns where the faults landed.
pub fn run_faulted(scenario: &Scenario, subject: Subject, faults: Vec<Fault>) -> FaultHits {
    drive(scenario, subject, faults).1
}

fn drive(scenario: &Scenario, subject: Subject, faults: Vec<Fault>) -> (Reach, FaultHits) {
    // Loom and shuttle report a deadlock by panicking out of a join here; the world and
    // the lockers hold checker-owned `Arc`s whose drop needs the (now stopped) scheduler,
    // and a panic in that drop would abort the whole test binary. Leak them instead.
    crate::interleaving::begin_run();
    let world = LeakOnUnwind::new(World::new());
    world.set_strict(false);
    (scenario.setup)(&world);
    let default_timeout = Options::default().timeout;
    let counter = std::sync::Arc::new(Counter::default());
    let shared = std::sync::Arc::new(Shared { faulted: !faults.is_empty(), ..Shared::default() });
    let mut faults = Some(faults).filter(|f| !f.is_empty());
    let mut lockers = LeakOnUnwind::new(Vec::new());
    let mut threads = Vec::new();
    // The core's events name the task that reports them, if the world records.
    let polled = Polled::default();
    let mut index = 0;
    for (p, tasks) in scenario.processes.iter().enumerate() {
        let pid = 100 + p as Pid;
        let fs = ModelFs::spawn(&world, pid);
        let options =
            Options { timeout: scenario.timeout.unwrap_or(default_timeout), ..subject.options() };
        let observer = record::observer(&world, pid, &polled, counter.clone());
        let locker = Locker::new(fs, ModelClock::new(&world), options).observed(observer);
        for (t, script) in tasks.iter().enumerate() {
            let owner = Owner::from_raw(((p as u64 + 1) << 8) + t as u64 + 1);
            let mut held = Vec::new();
            if scenario.held_at_start && (p, t) == (0, 0) {
                polled.enter(index);
                let path = lock_path();
                let acquire = subject.acquire(&locker, &path, owner);
                let guard = rt::block_on(record::acquiring(&world, pid, index, acquire));
                held.push(guard.expect("the first acquire of an empty world succeeds"));
                let _ = shared.ghost.enter(pid, owner, owner);
            }
            let task = Task {
                subject,
                locker: locker.clone(),
                world: Arc::clone(&world),
                shared: shared.clone(),
                pid,
                owner,
                index,
                polled: polled.clone(),
            };
            index += 1;
            if scenario.runs_first && (p, t) == (0, 0) {
                rt::run_alone(move || rt::block_on(task.run(script, held)));
            } else {
                if let Some(faults) = faults.take() {
                    world.set_faults(faults);
                }
                threads.push(rt::spawn(move || rt::block_on(task.run(script, held))));
            }
        }
        lockers.push((pid, locker));
    }
    threads.into_iter().for_each(rt::Join::join);
    let crashes = world.stats().crashes;
    if shared.faulted {
        world.clear_faults();
        conclude(&world, subject, &lockers, &shared);
    } else if crashes > 0 && subject == Subject::Queue {
        // Dead waiters' tickets are skipped at once: a fresh process gets in (INV-4).
        conclude(&world, subject, &lockers, &shared);
    } else if crashes == 0 && world.first_violation().is_none() {
        if world.file_count() != 0 {
            let detail = "a lock file remains after every guard was released";
            world.record(Invariant::NoLeak, detail.into());
        }
        if lockers.iter().any(|(_, l)| !l.registry().is_empty()) {
            let detail = "a registry entry remains after every guard was released";
            world.record(Invariant::NoLeak, detail.into());
        }
    }
    // Plain atomics, no scheduling point; `world.stats()` below takes the world's lock, so
    // it comes after the violation's panic, where the pinned schedules end.
    let waits: Vec<_> = lockers.iter().map(|(_, l)| l.fs().ticket_waits()).collect();
    drop(lockers.into_inner());
    let violations = world.violations();
    if let Some((inv, detail)) = violations.first() {
        let later: Vec<_> = violations[1..].iter().map(|(inv, _)| inv.id()).collect();
        let injected = match shared.faulted {
            true => format!(", faults injected: {:?}", world.injected()),
            false => String::new(),
        };
        inv.violated(format!("{detail} (later: {later:?}{injected})"));
    }
    let hits = match shared.faulted {
        true => shared.hits(&world),
        false => FaultHits::default(),
    };
    let reach = counter.reach(crashes).with_queue(&world.stats());
    (waits.iter().fold(reach, |r, w| r.with_ticket_waits(w)), hits)
}

/// What the tasks share besides the world: ghost state, invisible to the checkers.
#[derive(Default)]
struct Shared {
    ghost: Ghost,
    /// A fault plan was installed: only then may a fault explain a failure.
    faulted: bool,
    /// Which injected faults already explained a failure.
    claimed: GhostMutex<Vec<bool>>,
    /// Failures explained by a fault: of a release, of a probe step of an acquire.
    explained: GhostMutex<FaultHits>,
    release_failed: GhostMutex<bool>,
}

impl Shared {
    /// Claims the first unclaimed fault injected into `pid` that explains `failure`.
    fn claim(&self, world: &World, pid: Pid, failure: &Failure<'_>) -> bool {
        if !self.faulted {
            return false;
        }
        let injected = world.injected();
        let mut claimed = self.claimed.lock().unwrap_or_else(PoisonError::into_inner);
        claimed.resize(injected.len(), false);
        let path = lock_path();
        let found = (0..injected.len()).find(|&i| {
            !claimed[i] && injected[i].pid == pid && failure.explained_by(&injected[i], &path)
        });
        if let Some(i) = found {
            claimed[i] = true;
        }
        found.is_some()
    }

    fn explained(&self) -> std::sync::MutexGuard<'_, FaultHits> {
        self.explained.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where the faults landed: every one injected, those into a publish, and the
    /// failures of releases and probes they explained.
    fn hits(&self, world: &World) -> FaultHits {
        let injected = world.injected();
        let publish = injected.iter().filter(|i| i.op == FsOp::Publish).count() as u64;
        FaultHits { injected: world.stats().faults_injected, publish, ..*self.explained() }
    }

    fn release_failed(&self) -> bool {
        *self.release_failed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The end of a run under faults: no entry, no live or unexcused file, and recovery by a
/// fresh process.
fn conclude(world: &Arc<World>, subject: Subject, lockers: &[(Pid, ModelLocker)], shared: &Shared) {
    if world.first_violation().is_some() {
        return;
    }
    if let Some((pid, _)) =
        lockers.iter().find(|(pid, l)| world.is_alive(*pid) && !l.registry().is_empty())
    {
        world.record(
            Invariant::NoLeak,
            format!("pid {pid} keeps a registry entry after its tasks finished"),
        );
    }
    if world.live_tickets() != 0 {
        let detail = "a ticket is still kernel-locked after every task finished";
        world.record(Invariant::NoLeak, detail.into());
        return;
    }
    let excused = world.stats().crashes > 0 || shared.release_failed();
    match world.lock_file(lock_path().as_path()) {
        Some(file) if file.kernel_locked => {
            world.record(
                Invariant::NoLeak,
                format!("{file:?} is still kernel-locked after every task finished"),
            );
            return;
        }
        Some(file) if !excused => {
            let detail =
                format!("{:?} remains though nothing crashed and no release failed", file.id);
            world.record(Invariant::NoLeak, detail);
        }
        _ => {}
    }
    recover(world, subject);
}

/// INV-4: a fresh process acquires at once, breaking whatever was left, and releases.
fn recover(world: &Arc<World>, subject: Subject) {
    let fs = ModelFs::spawn(world, FRESH_PID);
    let locker = Locker::new(fs, ModelClock::new(world), subject.options());
    // Recorded, as a task of its own (numbered apart from every scenario's), so that its
    // acquire replays in the spec (`refine`).
    let locker = record::recorded(world, FRESH_PID, locker);
    let before = world.now();
    let owner = Owner::from_raw(FRESH_PID.into());
    let path = lock_path();
    let acquire = subject.acquire(&locker, &path, owner);
    match rt::block_on(record::named(
        FRESH_TASK,
        record::acquiring(world, FRESH_PID, FRESH_TASK, acquire),
    )) {
        Ok(_) if world.now() != before => {
            world
                .record(Invariant::Recovery, "a fresh process had to wait for time to pass".into());
        }
        Ok(guard) => {
            let released = rt::block_on(record::named(FRESH_TASK, subject.release(guard)));
            if let Err((inv, detail)) = check_release(released, 0) {
                world.record(inv, format!("the fresh process's release: {detail}"));
            }
            if world.file_count() != 0 {
                world.record(Invariant::NoLeak, "a lock file remains after recovery".into());
            }
        }
        Err(error) => {
            world.record(Invariant::Recovery, format!("a fresh process could not acquire: {error}"))
        }
    }
}

/// A value dropped normally, or leaked if it is dropped while the thread unwinds.
struct LeakOnUnwind<T>(Option<T>);

impl<T> LeakOnUnwind<T> {
    fn new(value: T) -> Self {
        Self(Some(value))
    }

    fn into_inner(mut self) -> T {
        self.0.take().expect("taken once")
    }
}

impl<T> std::ops::Deref for LeakOnUnwind<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_ref().expect("taken once")
    }
}

impl<T> std::ops::DerefMut for LeakOnUnwind<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.as_mut().expect("taken once")
    }
}

impl<T> Drop for LeakOnUnwind<T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            std::mem::forget(self.0.take());
        }
    }
}

struct Task {
    subject: Subject,
    locker: ModelLocker,
    world: Arc<World>,
    shared: std::sync::Arc<Shared>,
    pid: Pid,
    owner: Owner,
    /// Its index among the scenario's tasks, in the trace.
    index: usize,
    polled: Polled,
}

impl Task {
    async fn run(self, script: &[Op], mut guards: Vec<ModelGuard>) {
        let path = lock_path();
        self.polled.enter(self.index);
        let ghost = &self.shared.ghost;
        for op in script {
            if self.world.first_violation().is_some() || self.died() {
                return;
            }
            match op {
                Op::Acquire => {
                    match self.recorded(self.subject.acquire(&self.locker, &path, self.owner)).await
                    {
                        Ok(guard) => self.entered(guard, &mut guards),
                        Err(error) => self.failed_acquire(&error),
                    }
                }
                Op::TryAcquire => {
                    match self.recorded(self.locker.try_acquire(&path, self.owner)).await {
                        Ok(TryAcquire::Acquired(guard)) => self.entered(guard, &mut guards),
                        Ok(TryAcquire::Held(_)) => {}
                        Err(error) => self.failed_acquire(&error),
                    }
                }
                Op::Release => {
                    let Some(guard) = guards.pop() else { continue };
                    let remaining = ghost.leave(self.owner);
                    self.released(self.subject.release(guard).await, remaining);
                }
                Op::Crash => {
                    // Out of the critical section at the instant of death, before the
                    // kernel drops its locks and wakes anyone.
                    // (With the queue's scenarios, whose sibling tasks run on until the
                    // crash, only once it happened: a sibling may enter or leave while
                    // the crash waits for the world. Under loom the crash's wake-ups are
                    // scheduling points, so a successor may enter before the ghost hears
                    // of it: `entered` takes the dead out first.)
                    if self.subject != Subject::Queue {
                        ghost.crash(self.pid);
                    }
                    self.world.crash(self.pid);
                    ghost.crash(self.pid);
                    return;
                }
                Op::Advance(by) => {
                    // Recorded before the clock moves: a waiter woken by the move may
                    // judge its timeout at once.
                    ghost.advance(*by, !guards.is_empty());
                    self.world.advance(*by);
                }
            }
        }
    }

    /// `acquire`, its start and end recorded (if the world records).
    async fn recorded<G: record::Holds>(
        &self,
        acquire: impl std::future::Future<Output = Result<G, sessionlock::AcquireError>>,
    ) -> Result<G, sessionlock::AcquireError> {
        record::acquiring(&self.world, self.pid, self.index, acquire).await
    }

    fn entered(&self, guard: ModelGuard, guards: &mut Vec<ModelGuard>) {
        if self.subject == Subject::Queue {
            // One look at the world, as `died` takes: a process dead by now is out of the
            // critical section, though the sibling that killed it may not have told the
            // ghost yet (the kill wakes its successors before it returns).
            let dead: Vec<Pid> = {
                let st = self.world.state.lock();
                st.procs.iter().filter(|(_, p)| !p.alive).map(|(&pid, _)| pid).collect()
            };
            dead.iter().for_each(|&pid| self.shared.ghost.crash(pid));
            if dead.contains(&self.pid) {
                // Its process died holding: the kernel let go of the lock at the crash.
                // The guard is taken apart unreleased, not forgotten: a forgotten guard
                // keeps its locker's reference counts, which loom reports as leaked.
                return drop(guard.into_parts());
            }
        }
        if let Some((inv, clash)) = self.shared.ghost.enter(self.pid, self.owner, guard.owner()) {
            self.world.record(inv, clash);
        }
        guards.push(guard);
    }

    /// Whether this task's process was killed by a sibling task (the queue's scenarios
    /// crash a process while another of its tasks waits): its tasks stop, and what their
    /// primitives answered after the death is no failure. (Asked only there, so that the
    /// other scenarios' schedules keep their scheduling points.)
    fn died(&self) -> bool {
        self.subject == Subject::Queue && !self.world.is_alive(self.pid)
    }

    fn failed_acquire(&self, error: &AcquireError) {
        if self.died() {
            return;
        }
        // A timeout is an outcome, not a failure, when its deadline passed while another
        // task held the lock and moved the clock past it (the timeout scenarios).
        if let AcquireError::Timeout { waited, .. } = error {
            let ghost = &self.shared.ghost;
            let deadline = ghost.now().saturating_sub(*waited) + self.locker.options().timeout;
            if ghost.held_at(deadline) {
                return;
            }
        }
        let failure = Failure::of_acquire(error);
        if self.shared.claim(&self.world, self.pid, &failure) {
            self.shared.explained().probe += u64::from(!failure.is_publish());
            return;
        }
        let inv = match self.world.stats().crashes {
            0 => Invariant::NoSpuriousTimeout,
            _ => Invariant::Recovery,
        };
        self.world.record(inv, format!("acquire by {:?} failed: {error}", self.owner));
    }

    fn released(&self, released: Result<Released, ReleaseError>, remaining: usize) {
        if released.is_err() && self.died() {
            return;
        }
        if let Err(error) = &released
            && remaining == 0
            && self.shared.claim(&self.world, self.pid, &Failure::of_release(error))
        {
            self.shared.explained().release += 1;
            *self.shared.release_failed.lock().unwrap_or_else(PoisonError::into_inner) = true;
            return;
        }
        if let Err((inv, detail)) = check_release(released, remaining) {
            self.world.record(inv, detail);
        }
    }
}

/// Checks a release's outcome against the ghost's count of remaining re-entries (INV-7).
///
/// # Errors
/// The invariant broken, with what happened.
pub fn check_release(released: Result<Released, ReleaseError>, remaining: usize) -> Verdict {
    match released {
        Ok(Released::StillHeld { remaining: r }) if r as usize == remaining && remaining > 0 => {
            Ok(())
        }
        Ok(Released::Removed | Released::HandedOff) if remaining == 0 => Ok(()),
        Ok(other) => Err((
            Invariant::Reentrancy,
            format!("release gave {other:?} with {remaining} re-entries left"),
        )),
        // A release that cannot remove its own file leaves it behind. (A file removed by
        // someone else shows up first as that someone's INV-2 violation.)
        Err(error) => Err((Invariant::NoLeak, format!("release failed: {error}"))),
    }
}
