//! Scripted interleavings for the histories that need a precise order or the passage of
//! time: each runs against any [`Subject`] and says which invariant broke, if any.

use std::time::Duration;

use sessionlock::core::{AcquireError, Locker, Options, Owner};
use sessionlock::fs::FsOp;
use std::sync::Arc;

use crate::exec::{Output, Stepper};
use crate::fs::{ModelClock, ModelFs};
use crate::harness::lock_path;
use crate::invariant::Invariant;
use crate::refine::record;
use crate::subject::{ModelGuard, ModelLocker, Subject};
use crate::world::{Gate, Pid, World};

/// What was on disk before the contender came (H7, H8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leftover {
    /// A file of the original lock naming a dead pid that an unrelated process now has.
    ForeignReusedPid,
    /// Our own file, left by this pid's previous incarnation, which crashed.
    OwnPreviousIncarnation,
}

fn world() -> Arc<World> {
    let world = World::new();
    world.set_strict(false);
    world
}

fn locker(world: &Arc<World>, pid: Pid, subject: Subject) -> ModelLocker {
    let locker = Locker::new(ModelFs::spawn(world, pid), ModelClock::new(world), subject.options());
    record::recorded(world, pid, locker)
}

/// Polls until `out` is filled, advancing the clock `step` at a time when all stall,
/// for at most `limit`. Returns the logical time it took.
fn drive<T>(
    world: &World,
    ex: &mut Stepper<'_>,
    out: &Output<T>,
    step: Duration,
    limit: Duration,
) -> Duration {
    let start = world.now();
    ex.run_until_stalled();
    while out.borrow().is_none() && world.now().saturating_since(start) < limit {
        world.advance(step);
        ex.run_until_stalled();
    }
    world.now().saturating_since(start)
}

/// An acquire that owns what it needs, so any [`Stepper`] can run it; in the trace, its
/// task is its owner.
fn acquiring(
    subject: Subject,
    locker: &ModelLocker,
    owner: u64,
) -> impl std::future::Future<Output = Result<ModelGuard, AcquireError>> + 'static {
    let locker = locker.clone();
    let task = usize::try_from(owner).unwrap_or(usize::MAX);
    async move {
        let (world, pid, path) = (Arc::clone(locker.fs().world()), locker.fs().pid(), lock_path());
        let acquire = subject.acquire(&locker, &path, Owner::from_raw(owner));
        record::named(task, record::acquiring(&world, pid, task, acquire)).await
    }
}

fn first_violation(world: &World) -> Result<(), String> {
    world.first_violation().map_or(Ok(()), |(inv, detail)| Err(format!("{inv}: {detail}")))
}

/// INV-4: a contender finds a dead holder's file and must take it over at once.
///
/// # Errors
/// The invariant broken.
pub fn recovers_at_once(subject: Subject, leftover: Leftover) -> Result<(), String> {
    let world = world();
    let path = lock_path();
    let mut ex = Stepper::new();
    let pid = match leftover {
        Leftover::ForeignReusedPid => {
            let original = br#"{"pid":777,"createdAt":"2026-02-13T10:00:00.000Z","starttime":5}"#;
            world.plant(path.as_path(), original, Duration::ZERO);
            ModelFs::spawn(&world, 777); // pid 777 reused by an unrelated process
            100
        }
        Leftover::OwnPreviousIncarnation => {
            let previous = locker(&world, 100, subject);
            let guard = ex.block_on(acquiring(subject, &previous, 1));
            std::mem::forget(guard.map_err(|e| e.to_string())?);
            world.crash(100);
            100
        }
    };
    let contender = locker(&world, pid, subject);
    let (_, out) = ex.spawn(acquiring(subject, &contender, 2));
    let took = drive(&world, &mut ex, &out, Duration::from_millis(100), Duration::from_secs(11));
    first_violation(&world)?;
    match out.borrow_mut().take() {
        Some(Ok(guard)) if took.is_zero() => drop(guard),
        other => {
            let outcome = other.map(|r| r.map(|_| "acquired"));
            let inv = Invariant::Recovery;
            return Err(format!("{inv}: after {took:?} the contender had {outcome:?}"));
        }
    }
    Ok(())
}

/// INV-7: a nested acquire by the owner that holds is counted at once.
///
/// # Errors
/// The invariant broken.
pub fn nested_acquire(subject: Subject) -> Result<(), String> {
    let world = world();
    let locker = locker(&world, 100, subject);
    let mut ex = Stepper::new();
    let outer = ex.block_on(acquiring(subject, &locker, 1)).map_err(|e| e.to_string())?;
    let (_, out) = ex.spawn(acquiring(subject, &locker, 1));
    let took = drive(&world, &mut ex, &out, Duration::from_secs(1), Duration::from_secs(11));
    let inner = out.borrow_mut().take();
    let result = match inner {
        Some(Ok(inner)) if took.is_zero() => {
            let released = ex.block_on(subject.release(inner)).map_err(|e| e.to_string())?;
            Ok(released)
        }
        other => Err(format!(
            "{}: the owner's nested acquire waited for itself for {took:?}: {:?}",
            Invariant::Reentrancy,
            other.map(|r| r.map(|_| "acquired"))
        )),
    };
    drop(ex.block_on(subject.release(outer)));
    result.map(drop)
}

/// INV-1 across H9's window: P0 is frozen after creating its file and before writing it;
/// P1 comes, waits past the payload-less grace period, and acquires. Then P0 goes on.
///
/// # Errors
/// The invariant broken.
pub fn payloadless_window(subject: Subject) -> Result<(), String> {
    let world = world();
    let path = lock_path();
    // P1 waits past the 30 s grace period, so it needs more than the default 10 s.
    let patient = Options { timeout: Duration::from_secs(60), ..subject.options() };
    let p1 = Locker::new(ModelFs::spawn(&world, 101), ModelClock::new(&world), patient);
    let p1 = record::recorded(&world, 101, p1);
    let p0 = locker(&world, 100, subject);
    let mut ex = Stepper::new();
    let gate = Gate { pid: 100, op: FsOp::TryLock };
    world.close_gate(gate);
    let (_, first) = ex.spawn(acquiring(subject, &p0, 1));
    ex.run_until_stalled();
    let (_, second) = ex.spawn(acquiring(subject, &p1, 2));
    drive(&world, &mut ex, &second, Duration::from_secs(1), Duration::from_secs(40));
    world.open_gate(gate);
    ex.run_until_stalled();
    let held =
        |out: &Output<Result<ModelGuard, AcquireError>>| matches!(&*out.borrow(), Some(Ok(_)));
    if held(&first) && held(&second) {
        let inv = Invariant::MutualExclusion;
        return Err(format!("{inv}: both processes hold the lock on {}", path.as_path().display()));
    }
    first_violation(&world)
}

/// INV-5 under cancellation: a task of P0 that has the turn (it is waiting on P1's lock
/// file) is cancelled after `k` primitives, for every `k`; then P1 releases, and P0's
/// registry must be empty and another task must acquire at once.
///
/// # Errors
/// The invariant broken.
pub fn cancel_points(subject: Subject) -> Result<usize, String> {
    let mut points = 0;
    for k in 0.. {
        let world = world();
        let (p0, p1) = (locker(&world, 100, subject), locker(&world, 101, subject));
        let mut ex = Stepper::new();
        world.set_step_mode(true);
        let holder = ex.block_on(acquiring(subject, &p1, 9)).map_err(|e| e.to_string())?;
        let (id, _) = ex.spawn(acquiring(subject, &p0, 1));
        let ran = (0..=k).take_while(|_| ex.poll(id)).count();
        if ran <= k {
            return Ok(points);
        }
        ex.cancel(id);
        points += 1;
        drop(ex.block_on(subject.release(holder)));
        if !p0.registry().is_empty() {
            let inv = Invariant::NoLeak;
            return Err(format!(
                "{inv}: an acquire cancelled after {k} steps left its registry entry"
            ));
        }
        let next = ex.block_on(acquiring(subject, &p0, 2)).map_err(|e| e.to_string())?;
        drop(ex.block_on(subject.release(next)));
        first_violation(&world)?;
    }
    Ok(points)
}
