//! Every crash point and every fault point of three scripts.
//!
//! For a [`Script`] and a [`Strike`], [`enumerate`] runs the script once for each
//! n = 0, 1, …, with the strike armed at the n-th primitive of the script's target
//! process, until the target finishes without reaching n. Each run, stepped one
//! primitive at a time on a [`Stepper`] with the clock still:
//! 1. sets the script up, arms the strike, and runs the script until it stalls;
//! 2. checks what the live processes' cycles did: a failure must be the honest report
//!    of a fault injected into it, and a failed acquire leaves no file it published
//!    (INV-3, INV-5); nothing may be left waiting (INV-3) or registered (INV-5);
//! 3. disarms the strike; if the target survived, another of its tasks acquires and
//!    releases at once (a failure never wedges its process: INV-3);
//! 4. two fresh processes contend at once, under the ghost: both acquire, breaking
//!    whatever was left as proven stale, and release (INV-4, INV-1, INV-2);
//! 5. nothing is left: no file, no entry (INV-5).

use std::rc::Rc;

use sessionlock::core::registry::HAND_OFF_MAX_AGE;
use sessionlock::core::{Locker, Owner};
use sessionlock::fs::Moment;
use std::sync::Arc;

use super::script::{Actor, Cycle};
use crate::exec::Stepper;
use crate::fs::{ModelClock, ModelFs};
use crate::harness::{FRESH_PID, Ghost, lock_path};
use crate::injection::{CrashAt, CrashWhen, Fault, FaultKind};
use crate::invariant::Invariant;
use crate::refine::record;
use crate::subject::{ModelGuard, ModelLocker, Subject};
use crate::world::{Pid, World};

/// No script runs this many primitives; reaching it means the target never finishes.
const MAX_POINTS: u64 = 64;

/// A scripted scenario whose every filesystem step a strike can hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script {
    /// Pid 100 holds a file older than the in-memory hand-off allows; it releases through
    /// the disk while a second task of it queues, then that task acquires and releases.
    /// Target: pid 100.
    HolderReleasing,
    /// Pid 100 held and died; pid 101 breaks its file, acquires and releases.
    /// Target: pid 101.
    BreakerOfDeadHolder,
    /// Pid 100 holds; pid 101 contends (waiting in the kernel), pid 100 releases, and
    /// pid 101 publishes and releases. Target: pid 101.
    ContenderPublishing,
}

impl Script {
    /// Every script.
    pub const ALL: [Self; 3] =
        [Self::HolderReleasing, Self::BreakerOfDeadHolder, Self::ContenderPublishing];

    /// The process whose primitives are struck.
    pub fn target(self) -> Pid {
        match self {
            Self::HolderReleasing => 100,
            Self::BreakerOfDeadHolder | Self::ContenderPublishing => 101,
        }
    }
}

/// What hits the target's n-th primitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strike {
    /// The target crashes there.
    Crash(CrashWhen),
    /// The primitive fails (counting only primitives the kind applies to).
    Fault(FaultKind),
}

/// What an enumeration exercised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PointsReport {
    /// Points at which the strike fired.
    pub points: u64,
    /// Of those, points after which a lock file was left for the fresh processes.
    pub left_behind: u64,
    /// Operations that failed, honestly reporting the strike.
    pub failed_ops: u64,
}

/// Runs `script` under `strike` at every point n = 0, 1, … the target reaches.
///
/// # Errors
/// `"INV-n Name: …"` with the point, for the first invariant broken.
pub fn enumerate(script: Script, strike: Strike) -> Result<PointsReport, String> {
    enumerate_on(Subject::Core, script, strike)
}

/// As [`enumerate`], against `subject`.
///
/// # Errors
/// As [`enumerate`].
pub fn enumerate_on(
    subject: Subject,
    script: Script,
    strike: Strike,
) -> Result<PointsReport, String> {
    let mut report = PointsReport::default();
    for n in 0..MAX_POINTS {
        let Some(stage) = run_point(subject, script, strike, n).map_err(|(inv, detail)| {
            format!("{inv}: {script:?} under {strike:?} at point {n}: {detail}")
        })?
        else {
            return Ok(report);
        };
        report.points += 1;
        report.left_behind += u64::from(stage.left_behind);
        report.failed_ops += stage.failed_ops;
    }
    Err(format!("{script:?} under {strike:?}: still reaching point {MAX_POINTS}"))
}

/// What one point's run found.
struct PointRun {
    left_behind: bool,
    failed_ops: u64,
}

/// Runs `script` with `strike` at point `n`; `None` if the target never reached it.
fn run_point(
    subject: Subject,
    script: Script,
    strike: Strike,
    n: u64,
) -> Result<Option<PointRun>, (Invariant, String)> {
    let mut stage = Stage::new(subject);
    let cycles = stage.act(script, strike, n);
    let fired = match strike {
        Strike::Crash(_) => stage.world.crash_points_fired() > 0,
        Strike::Fault(_) => stage.world.injected_count() > 0,
    };
    if !fired {
        return Ok(None);
    }
    stage.check_act(&cycles)?;
    let left_behind = stage.world.file_count() > 0;
    stage.world.clear_faults();
    stage.recover(script.target())?;
    let failed_ops = cycles.iter().map(Cycle::failures).sum();
    Ok(Some(PointRun { left_behind, failed_ops }))
}

/// One run's world, processes and stepper.
struct Stage {
    subject: Subject,
    world: Arc<World>,
    ex: Stepper<'static>,
    ghost: Rc<Ghost>,
    lockers: Vec<(Pid, ModelLocker)>,
    next_owner: u64,
    /// The clock when the script's setup ended: from then on nothing may need it to move.
    set_up_at: Moment,
}

impl Stage {
    fn new(subject: Subject) -> Self {
        let world = World::new();
        world.set_strict(false);
        world.set_step_mode(true);
        let (ex, ghost, lockers) = (Stepper::new(), Rc::default(), Vec::new());
        Self { subject, world, ex, ghost, lockers, next_owner: 1, set_up_at: Moment::ZERO }
    }

    /// Process `pid`'s locker, starting it (or a new incarnation, if it died) if needed.
    fn locker(&mut self, pid: Pid) -> ModelLocker {
        if let Some((_, l)) =
            self.lockers.iter().find(|(p, _)| *p == pid && self.world.is_alive(pid))
        {
            return l.clone();
        }
        self.lockers.retain(|(p, _)| *p != pid);
        let fs = ModelFs::spawn(&self.world, pid);
        let locker = Locker::new(fs, ModelClock::new(&self.world), self.subject.options());
        let locker = record::recorded(&self.world, pid, locker);
        self.lockers.push((pid, locker.clone()));
        locker
    }

    fn actor(&mut self, pid: Pid) -> Actor {
        let owner = Owner::from_raw(self.next_owner);
        self.next_owner += 1;
        let (world, locker, ghost) =
            (Arc::clone(&self.world), self.locker(pid), Rc::clone(&self.ghost));
        let task = usize::try_from(self.next_owner - 1).unwrap_or(usize::MAX);
        Actor { subject: self.subject, world, locker, pid, owner, task, ghost }
    }

    /// An actor of `pid` that already holds the lock, and is inside.
    fn holder(&mut self, pid: Pid) -> (Actor, ModelGuard) {
        let actor = self.actor(pid);
        let (subject, locker, owner) = (self.subject, actor.locker.clone(), actor.owner);
        let (world, task) = (Arc::clone(&self.world), actor.task);
        let acquire = async move {
            let path = lock_path();
            let acquire = subject.acquire(&locker, &path, owner);
            record::named(task, record::acquiring(&world, pid, task, acquire)).await
        };
        let guard = self.ex.block_on(acquire).expect("setup acquires");
        let _ = self.ghost.enter(pid, actor.owner, actor.owner);
        (actor, guard)
    }

    /// Sets `script` up, arms `strike` at point `n`, and runs the script until it stalls.
    fn act(&mut self, script: Script, strike: Strike, n: u64) -> Vec<Cycle> {
        let target = script.target();
        let mut cycles = Vec::new();
        match script {
            Script::HolderReleasing => {
                let (holder, guard) = self.holder(100);
                // Past the in-memory hand-off's age bound (INV-9), so the release goes
                // through the disk with the sibling queued: the steps this script strikes.
                self.world.advance(HAND_OFF_MAX_AGE);
                self.set_up_at = self.world.now();
                let queued = self.actor(100);
                arm(&self.world, strike, n, target);
                cycles.push(holder.spawn(&mut self.ex, Some(guard)));
                cycles.push(queued.spawn(&mut self.ex, None));
            }
            Script::BreakerOfDeadHolder => {
                let (_, guard) = self.holder(100);
                self.world.crash(100);
                self.ghost.crash(100);
                drop(guard);
                let breaker = self.actor(101);
                arm(&self.world, strike, n, target);
                cycles.push(breaker.spawn(&mut self.ex, None));
            }
            Script::ContenderPublishing => {
                let (holder, guard) = self.holder(100);
                let contender = self.actor(101);
                arm(&self.world, strike, n, target);
                cycles.push(contender.spawn(&mut self.ex, None));
                self.ex.run_until_stalled();
                cycles.push(holder.spawn(&mut self.ex, Some(guard)));
            }
        }
        self.ex.run_until_stalled();
        if !self.world.is_alive(target) {
            self.ghost.crash(target);
        }
        cycles
    }

    /// Step 2: the live processes' cycles finished, honestly, leaving no entry.
    fn check_act(&self, cycles: &[Cycle]) -> Result<(), (Invariant, String)> {
        self.violations()?;
        for cycle in cycles.iter().filter(|c| self.world.is_alive(c.pid)) {
            if !self.ex.is_done(cycle.slot) {
                return Err((
                    Invariant::NoSpuriousTimeout,
                    format!("a cycle of pid {} is stuck", cycle.pid),
                ));
            }
            cycle.check(&self.world)?;
        }
        let registered = self
            .lockers
            .iter()
            .find(|(pid, l)| self.world.is_alive(*pid) && !l.registry().is_empty());
        if let Some((pid, _)) = registered {
            return Err((
                Invariant::NoLeak,
                format!("pid {pid} keeps a registry entry with no task active"),
            ));
        }
        Ok(())
    }

    /// Steps 3 to 5. A crashed target comes back (pid reuse) as a third fresh contender.
    fn recover(&mut self, target: Pid) -> Result<(), (Invariant, String)> {
        let survived = self.world.is_alive(target);
        if survived {
            let cycle = self.actor(target).spawn(&mut self.ex, None);
            self.ex.run_until_stalled();
            if !cycle.clean(false) {
                let detail = format!(
                    "after the strike, pid {target} could not acquire at once: {:?}",
                    cycle.log
                );
                return Err((Invariant::NoSpuriousTimeout, detail));
            }
        }
        let reborn = (!survived).then_some(target);
        let pids = reborn.into_iter().chain([FRESH_PID, FRESH_PID + 1]);
        let fresh: Vec<Cycle> = pids.map(|pid| self.actor(pid).spawn(&mut self.ex, None)).collect();
        self.ex.run_until_stalled();
        self.violations()?;
        if let Some(cycle) = fresh.iter().find(|c| !c.clean(false)) {
            let detail =
                format!("fresh pid {} could not acquire at once: {:?}", cycle.pid, cycle.log);
            return Err((Invariant::Recovery, detail));
        }
        if self.world.now() != self.set_up_at {
            return Err((Invariant::Recovery, "recovery needed the clock to move".into()));
        }
        if self.world.file_count() != 0 {
            return Err((Invariant::NoLeak, "a lock file remains after recovery".into()));
        }
        Ok(())
    }

    fn violations(&self) -> Result<(), (Invariant, String)> {
        self.world.first_violation().map_or(Ok(()), Err)
    }
}

/// Arms `strike` at the target's `n`-th primitive (of those a fault kind applies to).
fn arm(world: &World, strike: Strike, n: u64, target: Pid) {
    match strike {
        Strike::Crash(when) => world.set_crash_points(vec![CrashAt { at: n, pid: target, when }]),
        Strike::Fault(kind) => {
            world.set_faults(vec![Fault { at: n, pid: Some(target), op: None, kind }])
        }
    }
}
