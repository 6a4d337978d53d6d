//! The fault proptest's system under test: a sequential driver over a
//! [`Stepper`], with a fault plan installed in its world.
//!
//! Two processes (pid 100 with two tasks, pid 101 with one) contend for one lock path,
//! in step mode, so each poll of a task runs one primitive. A [`Move`] starts an
//! [`Op`] on a task (`Acquire`, `TryAcquire`, `Release` or `Crash`; an op on a busy task,
//! a release with no guard, or an op of a dead process's task before its restart is
//! ignored, so every subsequence the shrinker tries is valid), polls one task, or
//! settles all. The clock never moves, so no acquire may ever time out.
//!
//! | check | when | invariant |
//! |---|---|---|
//! | an acquire returns a guard while another task holds one | on completion | INV-1 |
//! | the world saw a bad unlink, or a task meet its own process's kernel lock | after every poll | INV-2, INV-3 |
//! | a failed acquire is a typed error naming the lock path and a fault injected into it | on completion | INV-3 (INV-4 after a crash) |
//! | a failed acquire leaves no entry (siblings idle) and no file it published | on completion | INV-5 |
//! | a try-acquire alone finds the lock held | on completion | INV-5 (INV-4 after a crash) |
//! | a release's count, or its failure unexplained by a fault injected into it | on completion | INV-7, INV-5 |
//! | after everything is released, a task still waits | teardown | INV-3 |
//! | each surviving process, then a fresh one, acquires at once | teardown | INV-3, INV-4 |
//! | a lock file or a registry entry remains | teardown | INV-5 |

use sessionlock::core::{AcquireError, Locker, Owner, ReleaseError, Released, TryAcquire};
use sessionlock::fs::FileId;
use std::sync::Arc;

use super::explain::{WitnessCell, witnessed};
use super::{Fault, FaultHits};
use crate::exec::{Output, Stepper};
use crate::fs::{ModelClock, ModelFs};
use crate::harness::lock_path;
use crate::invariant::{Invariant, Verdict};
use crate::machine::SETTLE_BUDGET;
use crate::op::{Command, Op};
use crate::subject::{ModelGuard, ModelLocker, Subject};
use crate::world::{Pid, World};

/// The processes, as (pid, tasks).
pub const PROCESSES: [(Pid, usize); 2] = [(100, 2), (101, 1)];
/// Tasks in all, numbered across processes in order.
pub const TASKS: usize = 3;
/// Guards one task holds at most; further acquires by it are ignored.
pub const MAX_GUARDS: usize = 3;

/// One move of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    /// Starts an op on a task (or crashes its process).
    Do(Command),
    /// Polls a task once: it runs at most one primitive.
    Poll(usize),
    /// Polls every task until all are stalled.
    Settle,
}

pub(super) struct Proc {
    pub pid: Pid,
    /// `None` while crashed.
    pub locker: Option<ModelLocker>,
}

pub(super) struct Task {
    pub process: usize,
    pub owner: Owner,
    pub guards: Vec<ModelGuard>,
    /// The lock file its first guard published.
    pub file: Option<FileId>,
    pub running: Option<Running>,
}

/// An op in flight.
pub(super) struct Running {
    pub slot: usize,
    pub pending: Pending,
    /// Begun with no other task busy or inside, and no other op begun since.
    pub solo: bool,
    pub witness: WitnessCell,
}

pub(super) enum Pending {
    Acquire(Output<Result<ModelGuard, AcquireError>>),
    TryAcquire(Output<Result<TryAcquire<ModelGuard>, AcquireError>>),
    Release { out: Output<Result<Released, ReleaseError>>, remaining: usize },
}

/// The world, its processes and tasks, and the stepper polling them.
pub struct Driver {
    subject: Subject,
    pub(super) world: Arc<World>,
    pub(super) ex: Stepper<'static>,
    pub(super) procs: Vec<Proc>,
    pub(super) tasks: Vec<Task>,
    pub(super) hits: FaultHits,
    /// A process crashed: a file nobody holds may be left.
    pub(super) crashed: bool,
    next_owner: u64,
}

impl Driver {
    /// A world in step mode with [`PROCESSES`], all idle, running `subject`, with
    /// `faults` installed.
    pub fn new(subject: Subject, faults: Vec<Fault>) -> Self {
        let world = World::new();
        world.set_strict(false);
        world.set_step_mode(true);
        let mut driver = Self {
            subject,
            world,
            ex: Stepper::new(),
            procs: Vec::new(),
            tasks: Vec::new(),
            hits: FaultHits::default(),
            crashed: false,
            next_owner: 1,
        };
        for (pid, tasks) in PROCESSES {
            driver.add_process(pid, tasks);
        }
        driver.world.set_faults(faults);
        driver
    }

    /// The faults injected into the tasks' ops so far, and where they landed.
    pub fn hits(&self) -> FaultHits {
        self.hits
    }

    /// The world.
    pub fn world(&self) -> &Arc<World> {
        &self.world
    }

    /// Faults the world injected so far.
    pub fn faults_injected(&self) -> u64 {
        self.world.stats().faults_injected
    }

    /// Applies one move and runs the checks it triggers.
    ///
    /// # Errors
    /// The first invariant broken.
    pub fn apply(&mut self, mv: Move) -> Verdict {
        match mv {
            Move::Do(command) => self.begin(command)?,
            Move::Poll(t) => _ = self.poll_task(t)?,
            Move::Settle => self.settle()?,
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
        self.procs[p].locker = Some(Locker::new(fs, clock, self.subject.options()));
        for task in self.tasks.iter_mut().filter(|t| t.process == p) {
            task.owner = Owner::from_raw(self.next_owner);
            self.next_owner += 1;
        }
    }

    /// Starts `op` on task `t`, if it applies; a crash kills the task's process.
    pub(super) fn begin(&mut self, Command { task: t, op }: Command) -> Verdict {
        let Some(task) = self.tasks.get(t) else { return Ok(()) };
        let p = task.process;
        if task.running.is_some() || matches!(op, Op::Advance(_)) {
            return Ok(());
        }
        if op == Op::Crash {
            self.crash(p);
            return Ok(());
        }
        if self.procs[p].locker.is_none() {
            self.spawn(p);
        }
        let Some(pending) = self.spawn_op(t, op) else { return Ok(()) };
        let solo = !self.others_busy_or_inside(t);
        for running in self.tasks.iter_mut().filter_map(|t| t.running.as_mut()) {
            running.solo = false;
        }
        self.tasks[t].running = Some(Running { solo, ..pending });
        Ok(())
    }

    /// Spawns the future of `op` on task `t`, witnessed.
    fn spawn_op(&mut self, t: usize, op: Op) -> Option<Running> {
        let task = &mut self.tasks[t];
        let locker = self.procs[task.process].locker.clone()?;
        let (owner, path, witness) = (task.owner, lock_path(), WitnessCell::default());
        let subject = self.subject;
        let (world, at) = (&self.world, path.clone());
        let (slot, pending) = match op {
            Op::Acquire | Op::TryAcquire if task.guards.len() >= MAX_GUARDS => return None,
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
                let guard = task.guards.pop()?;
                let remaining = task.guards.len();
                let future = subject.release(guard);
                let (slot, out) = self.ex.spawn(witnessed(world, path, &witness, future));
                (slot, Pending::Release { out, remaining })
            }
            Op::Crash | Op::Advance(_) => return None,
        };
        Some(Running { slot, pending, solo: false, witness })
    }

    /// Polls task `t` once if it is runnable, then checks what that did. Returns
    /// whether it ran.
    pub(super) fn poll_task(&mut self, t: usize) -> Result<bool, (Invariant, String)> {
        let Some(slot) = self.tasks.get(t).and_then(|t| t.running.as_ref()).map(|r| r.slot) else {
            return Ok(false);
        };
        if !self.ex.is_runnable(slot) {
            return Ok(false);
        }
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
        let detail = format!("tasks kept running for {SETTLE_BUDGET} rounds (livelock)");
        Err((self.failure_invariant(), detail))
    }

    /// Kills process `p` at once; its tasks' guards and ops die with it.
    fn crash(&mut self, p: usize) {
        if self.procs[p].locker.take().is_none() {
            return;
        }
        self.world.crash(self.procs[p].pid);
        self.crashed = true;
        for task in self.tasks.iter_mut().filter(|t| t.process == p) {
            task.guards.clear();
            task.file = None;
            if let Some(running) = task.running.take() {
                let releasing = matches!(running.pending, Pending::Release { .. });
                running.witness.borrow().tally(&mut self.hits, releasing);
            }
        }
    }
}
