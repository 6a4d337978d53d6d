//! The seed race (H1) as a scripted interleaving: freeze the releaser inside its removal
//! of the lock file, then run a second task of the same process and count what it does.

use std::time::Duration;

use sessionlock::core::{AcquireError, Locker, Options, Owner, PhaseKind};
use sessionlock::fs::FsOp;

use crate::exec::Stepper;
use crate::fs::{ModelClock, ModelFs};
use crate::harness::lock_path;
use crate::interleaving;
use crate::invariant::Invariant;
use crate::refine::record;
use crate::subject::Subject;
use crate::world::{Gate, World};

/// What the second task did while the first was frozen inside its release.
#[derive(Debug)]
pub struct GateOutcome {
    /// Filesystem primitives the second task ran while the first was frozen.
    pub polls_while_frozen: u64,
    /// Logical time from the second task's start to its outcome.
    pub elapsed: Duration,
    /// Whether it acquired (`Ok`) or how it failed.
    pub result: Result<(), String>,
    /// Whether it timed out.
    pub timed_out: bool,
    /// Violations the world recorded (it runs non-strict here).
    pub violations: Vec<Invariant>,
    /// Lock files and registry entries left once both tasks were done (INV-5).
    pub leftovers: usize,
}

impl GateOutcome {
    /// What the fixed core must do: wait in memory, then acquire at once.
    ///
    /// # Errors
    /// What it did instead.
    pub fn expect_fixed(&self) -> Result<(), String> {
        let ok = self.polls_while_frozen == 0
            && self.elapsed == Duration::ZERO
            && self.result.is_ok()
            && self.violations.is_empty()
            && self.leftovers == 0;
        if ok { Ok(()) } else { Err(format!("{}: {self:?}", Invariant::NoSpuriousTimeout)) }
    }

    /// What the pre-fix order does: poll the filesystem, then time out after 10 s.
    ///
    /// # Errors
    /// What it did instead.
    pub fn expect_seed_race(&self) -> Result<(), String> {
        let ok = self.polls_while_frozen > 0
            && self.timed_out
            && self.elapsed == Duration::from_secs(10)
            && self.violations.contains(&Invariant::NoSpuriousTimeout);
        if ok { Ok(()) } else { Err(format!("the seed race did not reproduce: {self:?}")) }
    }
}

/// Runs the H1 script against `subject`.
///
/// 1. T1 acquires, then starts its release with a gate closed on its unlink.
/// 2. T2 starts acquiring and runs until it stalls; its primitives are counted.
/// 3. If T2 is parked, the gate opens and both run on, with no time passing.
///    Otherwise the clock advances in 50 ms steps until T2 finishes or 10 s pass,
///    and only then does the gate open.
pub fn seed_race(subject: Subject) -> GateOutcome {
    let world = World::new();
    world.set_strict(false);
    let fs = ModelFs::spawn(&world, 100);
    let locker = Locker::new(fs, ModelClock::new(&world), Options::default());
    let locker = record::recorded(&world, 100, locker);
    let path = lock_path();
    let gate = Gate { pid: 100, op: FsOp::Unlink };
    let mut ex = Stepper::new();
    let t1_acquires = subject.acquire(&locker, &path, Owner::from_raw(1));
    let t1_acquires = record::named(1, record::acquiring(&world, 100, 1, t1_acquires));
    let guard = ex.block_on(interleaving::task("T1", acquired, t1_acquires)).expect("T1 acquires");
    interleaving::driver(|| "closes the gate before pid 100's unlink".to_owned());
    world.close_gate(gate);
    let t1_releases = record::named(1, subject.release(guard));
    let (t1, _) = ex.spawn(interleaving::task("T1", released, t1_releases));
    ex.run_until_stalled();
    assert_eq!(world.parked_at(gate), 1, "T1 must be frozen inside its removal");
    let before = ops(&world);
    let started = world.now();
    let t2_acquires = subject.acquire(&locker, &path, Owner::from_raw(2));
    let t2_acquires = record::named(2, record::acquiring(&world, 100, 2, t2_acquires));
    let (t2, out) = ex.spawn(interleaving::task("T2", acquired, t2_acquires));
    ex.run_until_stalled();
    let mut polls_while_frozen = ops(&world) - before;
    if !ex.is_done(t2) && polls_while_frozen > 0 {
        for _ in 0..200 {
            world.advance(Duration::from_millis(50));
            ex.run_until_stalled();
            if ex.is_done(t2) {
                break;
            }
        }
        polls_while_frozen = ops(&world) - before;
    }
    let elapsed = world.now().saturating_since(started);
    interleaving::driver(|| "opens the gate".to_owned());
    world.open_gate(gate);
    ex.run_until_stalled();
    // A task still unfinished with the gate open and nothing else to wait for was never
    // woken.
    let finished = ex.is_done(t1) && ex.is_done(t2);
    Invariant::NoSpuriousTimeout.check(finished, || {
        "a task never finished once the gate opened: a waiter never woken".to_owned()
    });
    let result = out.borrow_mut().take().expect("T2 finished");
    let timed_out = matches!(result, Err(AcquireError::Timeout { .. }));
    let result = match result {
        Ok(guard) => {
            drop(ex.block_on(record::named(2, guard.release())));
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    };
    let violations = world.violations().into_iter().map(|(inv, _)| inv).collect();
    let leftovers = world.file_count() + locker.registry().len();
    GateOutcome { polls_while_frozen, elapsed, result, timed_out, violations, leftovers }
}

/// An acquire's result, as [`interleaving::task`] notes it.
pub fn acquired<G>(result: &Result<G, AcquireError>) -> String {
    match result {
        Ok(_) => "acquire returned a guard".to_owned(),
        Err(e) => format!("acquire failed: {e}"),
    }
}

/// A release's result, as [`interleaving::task`] notes it.
pub fn released<E: std::fmt::Display>(result: &Result<sessionlock::Released, E>) -> String {
    match result {
        Ok(r) => format!("release returned {r:?}"),
        Err(e) => format!("release failed: {e}"),
    }
}

fn ops(world: &World) -> u64 {
    world.stats().ops_by_pid.get(&100).copied().unwrap_or(0)
}

/// INV-6 as a script: P0's lock file is removed from outside while it holds; P1 then
/// acquires; P0's old guard is released. The release must report the compromise and
/// leave P1's file alone, and P1 must still release cleanly.
///
/// # Errors
/// The invariant broken, with what happened.
pub fn stale_guard(subject: Subject) -> Result<(), String> {
    let world = World::new();
    world.set_strict(false);
    let lockers: Vec<_> = [100, 101]
        .into_iter()
        .map(|pid| {
            Locker::new(ModelFs::spawn(&world, pid), ModelClock::new(&world), Options::default())
        })
        .collect();
    let path = lock_path();
    let mut ex = Stepper::new();
    let old = ex
        .block_on(subject.acquire(&lockers[0], &path, Owner::from_raw(1)))
        .map_err(|e| e.to_string())?;
    world.remove_externally(path.as_path());
    let new = ex
        .block_on(subject.acquire(&lockers[1], &path, Owner::from_raw(2)))
        .map_err(|e| e.to_string())?;
    let successor = world.file_at(path.as_path());
    let stale = ex.block_on(subject.release(old));
    let inv6 = Invariant::StaleGuardHarmless;
    if !matches!(stale, Err(sessionlock::ReleaseError::Compromised { .. })) {
        return Err(format!("{inv6}: the old guard's release gave {stale:?}, not Compromised"));
    }
    if world.file_at(path.as_path()) != successor {
        return Err(format!("{inv6}: the old guard's release touched the successor's file"));
    }
    let released = ex.block_on(subject.release(new));
    if !matches!(released, Ok(sessionlock::Released::Removed)) || world.file_count() != 0 {
        return Err(format!("{inv6}: the successor's release gave {released:?}"));
    }
    match world.violations().first() {
        Some((inv, detail)) => Err(format!("{inv}: {detail}")),
        None => Ok(()),
    }
}

/// INV-6 in memory, as a script: task A of one process acquires and releases; task B
/// acquires; then A's guard of the earlier hold (its owner and generation) is released
/// again through [`sessionlock::core::release_hold`]. That release must be refused as
/// `StaleGuard`, and B must still hold the lock, file and entry, and release cleanly.
///
/// # Errors
/// The invariant broken, with what happened.
pub fn stale_generation() -> Result<(), String> {
    let world = World::new();
    world.set_strict(false);
    let fs = ModelFs::spawn(&world, 100);
    let locker = Locker::new(fs, ModelClock::new(&world), Options::default());
    let path = lock_path();
    let (a, b) = (Owner::from_raw(1), Owner::from_raw(2));
    let mut ex = Stepper::new();
    let first = ex.block_on(locker.acquire(&path, a)).map_err(|e| e.to_string())?;
    let (_, _, _, generation) = first.into_parts();
    ex.block_on(sessionlock::core::release_hold(&locker, &path, a, generation))
        .map_err(|e| e.to_string())?;
    let second = ex.block_on(locker.acquire(&path, b)).map_err(|e| e.to_string())?;
    let held = world.file_at(path.as_path());
    let stale = ex.block_on(sessionlock::core::release_hold(&locker, &path, a, generation));
    let inv6 = Invariant::StaleGuardHarmless;
    if !matches!(stale, Err(sessionlock::ReleaseError::StaleGuard { .. })) {
        return Err(format!("{inv6}: a guard of an earlier hold released with {stale:?}"));
    }
    let phase = locker.registry().phase(&path);
    if phase != Some(PhaseKind::Held { owner: b, count: 1 })
        || world.file_at(path.as_path()) != held
    {
        return Err(format!("{inv6}: the current hold was changed by an old guard: {phase:?}"));
    }
    let released = ex.block_on(second.release());
    if !matches!(released, Ok(sessionlock::Released::Removed)) || world.file_count() != 0 {
        return Err(format!("{inv6}: the current holder's release gave {released:?}"));
    }
    Ok(())
}
