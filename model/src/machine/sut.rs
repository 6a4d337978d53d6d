//! The system under test and the exact sequential model beside it.

use std::sync::Arc;
use std::time::Duration;

use sessionlock::core::{AcquireError, Locker, Options, Owner, ReleaseError, Released, TryAcquire};
use sessionlock::fs::{FileId, Moment};

use super::shape::{
    FIRST_PID, MAX_GUARDS, PROCESSES, SETTLE_BUDGET, TASKS_PER_PROCESS, Transition,
};
use crate::exec::{Output, Stepper};
use crate::fault::explain::{WitnessCell, witnessed};
use crate::fault::{Fault, FaultHits};
use crate::fs::{ModelClock, ModelFs};
use crate::harness::lock_path;
use crate::invariant::{Invariant, Verdict};
use crate::observe::{Counter, Reach};
use crate::op::{Command, Op};
use crate::refine::record::{Polled, Recording, Registry};
use crate::subject::{ModelGuard, ModelLocker, Subject};
use crate::world::{Pid, World};

pub(super) struct Proc {
    pub pid: Pid,
    /// `None` while crashed.
    pub locker: Option<ModelLocker>,
}

/// A task, and the reference's exact view of it.
pub(super) struct Task {
    pub process: usize,
    pub owner: Owner,
    /// Guards held: the task is inside while this is non-empty.
    pub guards: Vec<ModelGuard>,
    /// The lock file its first guard published, if it published one.
    pub file: Option<FileId>,
    pub running: Option<Running>,
}

/// An op in flight.
pub(super) struct Running {
    pub slot: usize,
    pub pending: Pending,
    /// Begun with no other task busy or inside, and no other op begun since.
    pub solo: bool,
    /// An acquire's deadline, known from its first poll (which reads the clock).
    pub deadline: Option<Moment>,
    /// Set when the deadline passes: whether a timeout would then be legitimate.
    pub excused: Option<bool>,
    /// The faults injected into its polls and the files it published.
    pub witness: WitnessCell,
}

pub(super) enum Pending {
    Acquire(Output<Result<ModelGuard, AcquireError>>),
    TryAcquire(Output<Result<TryAcquire<ModelGuard>, AcquireError>>),
    Release { out: Output<Result<Released, ReleaseError>>, remaining: usize },
}

/// The system under test: one world in step mode (with its fault plan, if any), its
/// processes and tasks, the stepper polling them, and the sequential model the checks
/// compare against.
pub struct Sut {
    pub(super) subject: Subject,
    pub(super) world: Arc<World>,
    counter: Arc<Counter>,
    pub(super) ex: Stepper<'static>,
    /// The task being polled, for the observers that record the core's events.
    polled: Polled,
    pub(super) procs: Vec<Proc>,
    pub(super) tasks: Vec<Task>,
    /// A crash may have left a lock file nobody holds.
    pub(super) stale_possible: bool,
    /// A fault plan was installed.
    pub(super) faulted: bool,
    /// Where the injected faults landed, over the ops that finished or died.
    pub(super) hits: FaultHits,
    next_owner: u64,
}

impl Sut {
    /// A fresh world with [`PROCESSES`] processes of [`TASKS_PER_PROCESS`] tasks, all idle.
    pub fn new(subject: Subject) -> Self {
        Self::with_faults(subject, Vec::new())
    }

    /// As [`Sut::new`], with `faults` installed once every process has started.
    pub fn with_faults(subject: Subject, faults: Vec<Fault>) -> Self {
        let world = World::new();
        world.set_strict(false);
        world.set_step_mode(true);
        let mut sut = Self {
            subject,
            world,
            counter: Arc::new(Counter::default()),
            ex: Stepper::new(),
            polled: Polled::default(),
            procs: Vec::new(),
            tasks: Vec::new(),
            stale_possible: false,
            faulted: !faults.is_empty(),
            hits: FaultHits::default(),
            next_owner: 1,
        };
        for p in 0..PROCESSES {
            sut.add_process(FIRST_PID + p as Pid, TASKS_PER_PROCESS);
        }
        sut.world.set_faults(faults);
        sut
    }

    /// What this case reached so far.
    pub fn reach(&self) -> Reach {
        let stats = self.world.stats();
        self.counter.reach(stats.crashes).with_queue(&stats)
    }

    /// The faults injected into the tasks' ops so far, and where they landed.
    pub fn hits(&self) -> FaultHits {
        self.hits
    }

    /// Faults the world injected so far.
    pub fn faults_injected(&self) -> u64 {
        self.world.stats().faults_injected
    }

    /// Applies one transition and runs the checks it triggers.
    ///
    /// # Errors
    /// The first invariant broken.
    pub fn apply(&mut self, transition: Transition) -> Verdict {
        match transition {
            Transition::Begin(command) => self.begin(command)?,
            Transition::Step(task) => _ = self.poll_task(task)?,
            Transition::Crash(p) => self.crash(p),
            Transition::Restart(p) => self.restart(p),
            Transition::Advance(ms) => self.advance(Duration::from_millis(ms)),
            Transition::Settle => self.settle()?,
        }
        if self.world.file_count() == 0 {
            self.stale_possible = false;
        }
        self.check_world()
    }

    /// Adds a process with `tasks` idle tasks; returns its index.
    pub(super) fn add_process(&mut self, pid: Pid, tasks: usize) -> usize {
        let process = self.procs.len();
        self.procs.push(Proc { pid, locker: None });
        for _ in 0..tasks {
            let task = Task {
                process,
                owner: Owner::PROCESS,
                guards: Vec::new(),
                file: None,
                running: None,
            };
            self.tasks.push(task);
        }
        self.spawn(process);
        process
    }

    /// Starts (or restarts, reusing the pid) process `p` with a fresh locker and owners.
    fn spawn(&mut self, p: usize) {
        let fs = ModelFs::spawn(&self.world, self.procs[p].pid);
        let clock = ModelClock::new(&self.world);
        let recording = Recording::new(
            Arc::clone(&self.world),
            self.procs[p].pid,
            self.polled.clone(),
            self.counter.clone(),
        );
        let locker = Locker::new(fs, clock, self.subject.options()).observed(Arc::new(recording));
        self.procs[p].locker = Some(locker);
        for task in self.tasks.iter_mut().filter(|t| t.process == p) {
            task.owner = Owner::from_raw(self.next_owner);
            self.next_owner += 1;
        }
    }

    /// Spawns `command`'s op on its task, witnessed, if it applies.
    pub(super) fn begin(&mut self, Command { task: t, op }: Command) -> Verdict {
        let Some(task) = self.tasks.get_mut(t) else {
            return Ok(());
        };
        let Some(locker) = self.procs[task.process].locker.clone() else {
            return Ok(());
        };
        if task.running.is_some() {
            return Ok(());
        }
        let (owner, subject, path, witness) =
            (task.owner, self.subject, lock_path(), WitnessCell::default());
        let (world, at) = (&self.world, path.clone());
        let (slot, pending) = match op {
            Op::Acquire | Op::TryAcquire if task.guards.len() >= MAX_GUARDS => return Ok(()),
            Op::Acquire => {
                let future = async move { subject.acquire(&locker, &at, owner).await };
                let (slot, out) = self.ex.spawn(witnessed(world, path, &witness, future));
                (slot, Pending::Acquire(out))
            }
            Op::TryAcquire => {
                let future = async move { locker.try_acquire(&at, owner).await };
                let (slot, out) = self.ex.spawn(witnessed(world, path, &witness, future));
                (slot, Pending::TryAcquire(out))
            }
            Op::Release => {
                let Some(guard) = task.guards.pop() else {
                    return Ok(());
                };
                let remaining = task.guards.len();
                let future = subject.release(guard);
                let (slot, out) = self.ex.spawn(witnessed(world, path, &witness, future));
                (slot, Pending::Release { out, remaining })
            }
            Op::Crash | Op::Advance(_) => return Ok(()),
        };
        let solo = !self.others_busy_or_inside(t);
        for running in self.tasks.iter_mut().filter_map(|t| t.running.as_mut()) {
            running.solo = false;
        }
        self.tasks[t].running =
            Some(Running { slot, pending, solo, deadline: None, excused: None, witness });
        if matches!(op, Op::Acquire | Op::TryAcquire) {
            self.recorded(t, Registry::Begun);
        }
        Ok(())
    }

    /// Polls task `t` once if it is runnable, then checks what that did. Returns whether
    /// it ran.
    pub(super) fn poll_task(&mut self, t: usize) -> Result<bool, (Invariant, String)> {
        let Some(running) = self.tasks.get_mut(t).and_then(|t| t.running.as_mut()) else {
            return Ok(false);
        };
        let slot = running.slot;
        if !self.ex.is_runnable(slot) {
            return Ok(false);
        }
        if matches!(running.pending, Pending::Acquire(_)) && running.deadline.is_none() {
            running.deadline = Some(self.world.now().saturating_add(Options::default().timeout));
        }
        self.polled.set(t);
        self.ex.poll(slot);
        self.check_world()?;
        if self.ex.is_done(slot) {
            self.complete(t)?;
        }
        Ok(true)
    }

    /// Polls every task, in order, until none is runnable.
    pub(super) fn settle(&mut self) -> Verdict {
        for _ in 0..SETTLE_BUDGET {
            let mut ran = false;
            for t in 0..self.tasks.len() {
                ran |= self.poll_task(t)?;
            }
            if !ran {
                return Ok(());
            }
        }
        let detail =
            format!("tasks kept running for {SETTLE_BUDGET} rounds without stalling (livelock)");
        Err((self.failure_invariant(), detail))
    }

    /// Kills process `p` at once; its tasks' guards and ops die with it.
    fn crash(&mut self, p: usize) {
        let Some(process) = self.procs.get_mut(p) else {
            return;
        };
        if process.locker.take().is_none() {
            return;
        }
        self.world.crash(process.pid);
        for task in self.tasks.iter_mut().filter(|t| t.process == p) {
            task.guards.clear();
            task.file = None;
            if let Some(running) = task.running.take() {
                let releasing = matches!(running.pending, Pending::Release { .. });
                running.witness.borrow().tally(&mut self.hits, releasing);
            }
        }
        self.stale_possible |= self.world.file_count() > 0;
    }

    fn restart(&mut self, p: usize) {
        if self.procs.get(p).is_some_and(|proc| proc.locker.is_none()) {
            self.spawn(p);
        }
    }

    /// Whether any task other than `t` is busy or inside.
    pub(super) fn others_busy_or_inside(&self, t: usize) -> bool {
        self.tasks
            .iter()
            .enumerate()
            .any(|(i, o)| i != t && (o.running.is_some() || !o.guards.is_empty()))
    }

    /// The invariant an unexplained failure breaks: INV-4 once a crash may have left a
    /// file behind, else INV-3.
    pub(super) fn failure_invariant(&self) -> Invariant {
        match self.stale_possible {
            true => Invariant::Recovery,
            false => Invariant::NoSpuriousTimeout,
        }
    }

    /// The first violation the world recorded, if any.
    pub(super) fn check_world(&self) -> Verdict {
        self.world.first_violation().map_or(Ok(()), Err)
    }

    /// Records that task `t`'s acquire began or ended (for the refinement check).
    pub(super) fn recorded(&self, t: usize, event: Registry) {
        let pid = self.procs[self.tasks[t].process].pid;
        self.world.log_registry(pid, None, u8::try_from(t).ok(), event);
    }

    /// Names task `t` in reports.
    pub(super) fn who(&self, t: usize) -> String {
        let task = &self.tasks[t];
        let pid = self.procs[task.process].pid;
        format!("task {t} ({:?} of pid {pid})", task.owner)
    }
}
