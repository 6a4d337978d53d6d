//! The threaded scenarios under a fault plan: the harness's tasks and ghost, with one
//! difference. A failed acquire or release is accepted when it is the honest report of
//! a fault injected into its own process: a typed error naming the lock path, the
//! injected primitive and the injected error. Each injected fault explains at most one
//! failure. Everything else is checked as the harness checks it (INV-1, INV-2, INV-5,
//! INV-7), and afterwards:
//!
//! - no live process keeps a registry entry (INV-5);
//! - a lock file may remain only if a release failed or a process crashed, and then
//!   only kernel-unlocked (INV-5);
//! - a fresh process acquires at once, with the clock still, and releases (INV-4).

use std::sync::{Mutex, PoisonError};

use sessionlock::core::{AcquireError, Locker, Options, Owner, ReleaseError, Released, TryAcquire};
use sessionlock::fs::FsOp;
use std::sync::Arc;

use super::explain::Failure;
use super::{Fault, FaultHits};
use crate::fs::{ModelClock, ModelFs};
use crate::harness::{FRESH_PID, Ghost, Scenario, check_release, lock_path};
use crate::invariant::Invariant;
use crate::op::Op;
use crate::rt;
use crate::subject::{ModelGuard, ModelLocker};
use crate::world::{Pid, World};

/// What the tasks share besides the world: ghost state, invisible to the checkers.
#[derive(Default)]
struct Shared {
    ghost: Ghost,
    /// Which injected faults already explained a failure.
    claimed: Mutex<Vec<bool>>,
    hits: Mutex<FaultHits>,
    release_failed: Mutex<bool>,
}

impl Shared {
    /// Claims the first unclaimed fault injected into `pid` that explains `failure`.
    fn claim(&self, world: &World, pid: Pid, failure: &Failure<'_>) -> bool {
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

    fn hits(&self) -> std::sync::MutexGuard<'_, FaultHits> {
        self.hits.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs `scenario` once under `faults` (installed once any initial hold is taken);
/// panics with `"INV-n …"` on a violation. Returns where the faults landed.
pub fn run(scenario: &Scenario, faults: Vec<Fault>) -> FaultHits {
    let world = World::new();
    world.set_strict(false);
    (scenario.setup)(&world);
    let shared = std::sync::Arc::new(Shared::default());
    let (lockers, mut tasks) = prepare(scenario, &world, &shared);
    if scenario.runs_first && !tasks.is_empty() {
        let (task, script, held) = tasks.remove(0);
        rt::block_on(task.run(script, held));
    }
    world.set_faults(faults);
    let threads: Vec<_> = tasks
        .into_iter()
        .map(|(task, script, held)| rt::spawn(move || rt::block_on(task.run(script, held))))
        .collect();
    threads.into_iter().for_each(rt::Join::join);
    world.clear_faults();
    conclude(&world, &lockers, &shared);
    drop(lockers);
    if let Some((inv, detail)) = world.first_violation() {
        inv.violated(format!("{detail} (faults injected: {:?})", world.injected()));
    }
    let mut hits = *shared.hits();
    hits.injected = world.stats().faults_injected;
    hits.publish = world.injected().iter().filter(|i| i.op == FsOp::Publish).count() as u64;
    hits
}

/// A task, its script, and the guard it starts with.
type Prepared = (Task, &'static [Op], Vec<ModelGuard>);

/// The scenario's processes and tasks, with the initial hold taken if it has one.
fn prepare(
    scenario: &Scenario,
    world: &Arc<World>,
    shared: &std::sync::Arc<Shared>,
) -> (Vec<(Pid, ModelLocker)>, Vec<Prepared>) {
    let timeout = scenario.timeout.unwrap_or(Options::default().timeout);
    let (mut lockers, mut tasks) = (Vec::new(), Vec::new());
    for (p, scripts) in scenario.processes.iter().enumerate() {
        let pid = 100 + p as Pid;
        let options = Options { timeout, ..Options::default() };
        let locker = Locker::new(ModelFs::spawn(world, pid), ModelClock::new(world), options);
        for (t, script) in scripts.iter().enumerate() {
            let owner = Owner::from_raw(((p as u64 + 1) << 8) + t as u64 + 1);
            let mut held = Vec::new();
            if scenario.held_at_start && (p, t) == (0, 0) {
                let guard = rt::block_on(locker.acquire(&lock_path(), owner));
                held.push(guard.expect("the first acquire of an empty world succeeds"));
                let _ = shared.ghost.enter(pid, owner, owner);
            }
            let (world, shared) = (Arc::clone(world), shared.clone());
            let task = Task { locker: locker.clone(), world, shared, pid, owner };
            tasks.push((task, *script, held));
        }
        lockers.push((pid, locker));
    }
    (lockers, tasks)
}

/// The end of a run: no entry, no live or unexcused file, and recovery by a fresh process.
fn conclude(world: &Arc<World>, lockers: &[(Pid, ModelLocker)], shared: &Shared) {
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
    let excused = world.stats().crashes > 0
        || *shared.release_failed.lock().unwrap_or_else(PoisonError::into_inner);
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
    recover(world);
}

/// INV-4: a fresh process acquires at once, breaking whatever was left, and releases.
fn recover(world: &Arc<World>) {
    let locker =
        Locker::new(ModelFs::spawn(world, FRESH_PID), ModelClock::new(world), Options::default());
    let before = world.now();
    let acquired = rt::block_on(locker.acquire(&lock_path(), Owner::from_raw(FRESH_PID.into())));
    match acquired {
        Ok(_) if world.now() != before => {
            world
                .record(Invariant::Recovery, "a fresh process had to wait for time to pass".into());
        }
        Ok(guard) => {
            if let Err((inv, detail)) = check_release(rt::block_on(guard.release()), 0) {
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

struct Task {
    locker: ModelLocker,
    world: Arc<World>,
    shared: std::sync::Arc<Shared>,
    pid: Pid,
    owner: Owner,
}

impl Task {
    async fn run(self, script: &[Op], mut guards: Vec<ModelGuard>) {
        let path = lock_path();
        for op in script {
            if self.world.first_violation().is_some() {
                return;
            }
            match op {
                Op::Acquire => match self.locker.acquire(&path, self.owner).await {
                    Ok(guard) => self.entered(guard, &mut guards),
                    Err(error) => self.acquire_failed(&error),
                },
                Op::TryAcquire => match self.locker.try_acquire(&path, self.owner).await {
                    Ok(TryAcquire::Acquired(guard)) => self.entered(guard, &mut guards),
                    Ok(TryAcquire::Held(_)) => {}
                    Err(error) => self.acquire_failed(&error),
                },
                Op::Release => {
                    let Some(guard) = guards.pop() else { continue };
                    let remaining = self.shared.ghost.leave(self.owner);
                    self.released(guard.release().await, remaining);
                }
                Op::Crash => {
                    self.shared.ghost.crash(self.pid);
                    self.world.crash(self.pid);
                    return;
                }
                Op::Advance(by) => self.world.advance(*by),
            }
        }
    }

    fn entered(&self, guard: ModelGuard, guards: &mut Vec<ModelGuard>) {
        if let Some((inv, clash)) = self.shared.ghost.enter(self.pid, self.owner, guard.owner()) {
            self.world.record(inv, clash);
        }
        guards.push(guard);
    }

    fn acquire_failed(&self, error: &AcquireError) {
        let failure = Failure::of_acquire(error);
        if self.shared.claim(&self.world, self.pid, &failure) {
            self.shared.hits().probe += u64::from(!failure.is_publish());
            return;
        }
        let inv = match self.world.stats().crashes {
            0 => Invariant::NoSpuriousTimeout,
            _ => Invariant::Recovery,
        };
        self.world.record(
            inv,
            format!("acquire by {:?} failed, not by a fault injected into it: {error}", self.owner),
        );
    }

    fn released(&self, released: Result<Released, ReleaseError>, remaining: usize) {
        if let Err(error) = &released
            && remaining == 0
            && self.shared.claim(&self.world, self.pid, &Failure::of_release(error))
        {
            self.shared.hits().release += 1;
            *self.shared.release_failed.lock().unwrap_or_else(PoisonError::into_inner) = true;
            return;
        }
        if let Err((inv, detail)) = check_release(released, remaining) {
            self.world.record(inv, format!("{:?}: {detail}", self.owner));
        }
    }
}
