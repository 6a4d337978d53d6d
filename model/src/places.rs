//! Holders whose pid we cannot see: the model's processes get a place (host, pid
//! namespace, and their pid as seen there, [`Whereabouts`]), so that INV-2 is checked
//! against holders a pid guess would misjudge.
//!
//! | check | world | holder | contender | must hold |
//! |---|---|---|---|---|
//! | [`Check::LeaseProbe`] | kernel locks prove something | an original-format file, no kernel lock, kept open for writing by a process in pid namespace 1 (pid 7 there; no pid 7 here) until it crashes | pid namespace 0: `acquire` | never removed while its writer lives (INV-2, by the world's unlink rule); taken over after the crash with no time passing (INV-4); never two inside (INV-1) |
//! | [`Check::ForeignNamespace`] | no `flock` ([`FlockScope::Nobody`]), no kernel proof | our format, in pid namespace 1 (pid 7 there) | pid namespace 0: `try_acquire`s; both sides take turns | a pid from another namespace is never judged: held, never removed (INV-2), never two inside (INV-1) |
//! | [`Check::RemoteHost`] | `flock` local to each host ([`FlockScope::Host`]), no kernel proof (NFS) | our format, on host 1, pid 100 there (the contender's own pid number) | host 0 | as above |
//!
//! Each check has a mutant: [`Mutation::IgnoreLease`] (every lease probe answers
//! `Unavailable`, so the original holder is judged by its pid, which here names nobody:
//! `DeadPid`) and [`Mutation::JudgeForeignPids`] (processes record no location, so a pid
//! from elsewhere is judged here). Both must be caught as INV-2.
//!
//! Reachability: a lease probe that found a writer and a takeover after the foreign
//! holder's death ([`Check::LeaseProbe`]); a `try_acquire` that found the lock held by a
//! holder elsewhere, and the file of a live holder elsewhere opened by a contender
//! (the others).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use sessionlock::core::{Event, Locker, Observer, Options, Owner, TryAcquire};
use std::sync::Arc;

use crate::fs::{ModelClock, ModelFs};
use crate::harness::lock_path;
use crate::invariant::Invariant;
use crate::rt;
use crate::world::{FlockScope, Pid, Whereabouts, World};

/// One of the checks of the module table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// An original-format holder in another pid namespace, proven alive by its writer.
    LeaseProbe,
    /// A holder of our format in another pid namespace, where `flock` proves nothing.
    ForeignNamespace,
    /// A holder of our format on another host (NFS).
    RemoteHost,
}

impl Check {
    /// Every check.
    pub const ALL: [Self; 3] = [Self::LeaseProbe, Self::ForeignNamespace, Self::RemoteHost];

    /// Its name in the runner's table.
    pub const fn name(self) -> &'static str {
        match self {
            Self::LeaseProbe => "lease probe",
            Self::ForeignNamespace => "foreign holder in another namespace",
            Self::RemoteHost => "holder on another host",
        }
    }

    /// The invariants it checks.
    pub const fn checks(self) -> &'static [Invariant] {
        match self {
            Self::LeaseProbe => {
                &[Invariant::MutualExclusion, Invariant::NoLiveRemoval, Invariant::Recovery]
            }
            _ => &[Invariant::MutualExclusion, Invariant::NoLiveRemoval],
        }
    }
}

/// What is put back wrong, for a mutant run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Nothing: the real core.
    None,
    /// The lease probe is ignored (always `Unavailable`).
    IgnoreLease,
    /// No location is recorded, so every pid is judged as if it lived here.
    JudgeForeignPids,
}

impl Mutation {
    /// Its name in the runner's mutant lines.
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::IgnoreLease => "no-lease",
            Self::JudgeForeignPids => "pid-elsewhere",
        }
    }
}

/// How often each interesting state was reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlaceReach {
    /// Executions run.
    pub executions: u64,
    /// Lease probes that found a writer.
    pub lease_writer: u64,
    /// Foreign files broken after their holder died.
    pub takeover: u64,
    /// `try_acquire`s that found the lock held by a holder elsewhere.
    pub held_elsewhere: u64,
    /// Opens of a live holder's file from another place.
    pub elsewhere_probes: u64,
}

impl PlaceReach {
    /// Adds another run's counts.
    pub fn add(&mut self, other: &Self) {
        self.executions += other.executions;
        self.lease_writer += other.lease_writer;
        self.takeover += other.takeover;
        self.held_elsewhere += other.held_elsewhere;
        self.elsewhere_probes += other.elsewhere_probes;
    }

    /// The states `check` must reach, with their counts.
    pub fn required(&self, check: Check) -> Vec<(&'static str, u64)> {
        match check {
            Check::LeaseProbe => {
                vec![("writer seen", self.lease_writer), ("takeover", self.takeover)]
            }
            _ => vec![
                ("held elsewhere", self.held_elsewhere),
                ("probe of a live file elsewhere", self.elsewhere_probes),
            ],
        }
    }

    /// Panics unless every state `check` requires was reached.
    #[track_caller]
    pub fn assert_reached(&self, check: Check) {
        let missing: Vec<_> =
            self.required(check).into_iter().filter(|(_, n)| *n == 0).map(|(s, _)| s).collect();
        assert!(
            missing.is_empty(),
            "{}: never reached {missing:?} in {} executions, so its pass proves nothing",
            check.name(),
            self.executions
        );
    }
}

/// Counts the contender's stale takeovers.
#[derive(Default)]
struct Takeovers(AtomicU64);

impl Observer for Takeovers {
    fn event(&self, event: &Event<'_>) {
        if let Event::BrokeStale { reasons, .. } = event
            && reasons.iter().any(|r| r.is_actionable())
        {
            self.0.fetch_add(1, Relaxed);
        }
    }
}

/// The contender: pid 100, at home.
const CONTENDER: Pid = 100;
/// The holder elsewhere.
const ELSEWHERE: Pid = 101;

/// Runs `check` once with `mutation`; panics with `"INV-n …"` on a violation.
pub fn run(check: Check, mutation: Mutation) -> PlaceReach {
    let world = World::new();
    world.set_strict(false);
    match mutation {
        Mutation::None => {}
        Mutation::IgnoreLease => world.set_leases_ignored(true),
        Mutation::JudgeForeignPids => world.set_locations_unrecorded(true),
    }
    let held_elsewhere = std::sync::Arc::new(AtomicU64::new(0));
    let takeovers = std::sync::Arc::new(Takeovers::default());
    match check {
        Check::LeaseProbe => lease_probe(&world, &takeovers),
        Check::ForeignNamespace | Check::RemoteHost => {
            let at = match check {
                Check::RemoteHost => {
                    world.set_flock_scope(FlockScope::Host);
                    Whereabouts { host: 1, pid_ns: 0, local_pid: CONTENDER }
                }
                _ => {
                    world.set_flock_scope(FlockScope::Nobody);
                    Whereabouts { host: 0, pid_ns: 1, local_pid: 7 }
                }
            };
            world.set_no_kernel_proof(true);
            world.place(ELSEWHERE, at);
            take_turns(&world, &held_elsewhere);
        }
    }
    let stats = world.stats();
    let violations = world.violations();
    // Nothing of the world may be dropped while unwinding (shuttle forbids it).
    drop(world);
    if let Some((inv, detail)) = violations.first() {
        inv.violated(detail.clone());
    }
    PlaceReach {
        executions: 1,
        lease_writer: stats.lease_writer,
        takeover: takeovers.0.load(Relaxed),
        held_elsewhere: held_elsewhere.load(Relaxed),
        elsewhere_probes: stats.elsewhere_probes,
    }
}

/// The original holder in pid namespace 1 keeps its file open for writing, then dies;
/// the contender acquires.
fn lease_probe(world: &Arc<World>, takeovers: &std::sync::Arc<Takeovers>) {
    world.place(ELSEWHERE, Whereabouts { host: 0, pid_ns: 1, local_pid: 7 });
    let original = br#"{"pid":7,"createdAt":"2026-02-13T10:00:00.000Z","starttime":1003}"#;
    world.plant_held(lock_path().as_path(), original, ELSEWHERE);
    let _holder = ModelFs::spawn(world, ELSEWHERE);
    let fs = ModelFs::spawn(world, CONTENDER);
    let locker =
        Locker::new(fs, ModelClock::new(world), Options::default()).observed(takeovers.clone());
    // Ghost: the foreign holder is inside until the instant of its death.
    let inside = std::sync::Arc::new(AtomicBool::new(true));
    let contender = {
        let (world, inside) = (Arc::clone(world), inside.clone());
        rt::spawn(move || {
            rt::block_on(async {
                match locker.acquire(&lock_path(), Owner::from_raw(1)).await {
                    Ok(guard) => {
                        if inside.load(Relaxed) {
                            let detail = "acquired while the original holder was alive";
                            world.record(Invariant::MutualExclusion, detail.into());
                        }
                        if let Err(e) = guard.release().await {
                            world.record(Invariant::NoLeak, format!("release failed: {e}"));
                        }
                    }
                    Err(e) => world.record(Invariant::Recovery, format!("acquire failed: {e}")),
                }
            });
        })
    };
    let holder = {
        let world = Arc::clone(world);
        rt::spawn(move || {
            // It holds for a few scheduling points, then dies (SIGKILL: no teardown).
            for _ in 0..3 {
                let _ = world.now();
            }
            inside.store(false, Relaxed);
            world.crash(ELSEWHERE);
        })
    };
    contender.join();
    holder.join();
}

/// Two processes, one at home and one elsewhere, each try to take the lock a few times,
/// hold it across a scheduling point, and let it go.
fn take_turns(world: &Arc<World>, held_elsewhere: &std::sync::Arc<AtomicU64>) {
    let inside = std::sync::Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for pid in [CONTENDER, ELSEWHERE] {
        let fs = ModelFs::spawn(world, pid);
        let locker = Locker::new(fs, ModelClock::new(world), Options::default());
        let (world, inside, held_elsewhere) =
            (Arc::clone(world), inside.clone(), held_elsewhere.clone());
        threads.push(rt::spawn(move || {
            rt::block_on(async {
                for _ in 0..3 {
                    match locker.try_acquire(&lock_path(), Owner::from_raw(u64::from(pid))).await {
                        Ok(TryAcquire::Acquired(guard)) => {
                            if inside.fetch_add(1, Relaxed) > 0 {
                                let detail = format!("pid {pid} entered while another was inside");
                                world.record(Invariant::MutualExclusion, detail);
                            }
                            let _ = world.now(); // a scheduling point while inside
                            inside.fetch_sub(1, Relaxed);
                            if let Err(e) = guard.release().await {
                                world.record(Invariant::NoLeak, format!("release failed: {e}"));
                            }
                        }
                        Ok(TryAcquire::Held(holder)) => {
                            if holder.place().is_elsewhere() {
                                held_elsewhere.fetch_add(1, Relaxed);
                            }
                        }
                        Err(e) => {
                            let detail = format!("try_acquire by pid {pid} failed: {e}");
                            world.record(Invariant::NoSpuriousTimeout, detail);
                        }
                    }
                }
            });
        }));
    }
    threads.into_iter().for_each(rt::Join::join);
}

/// Runs `check` under shuttle's random scheduler, `iterations` times, summing the reach;
/// panics on a violation, as [`crate::checkers::explore`] does (whose step budget applies).
#[cfg(sessionlock_shuttle)]
pub fn shuttle(check: Check, mutation: Mutation, iterations: usize) -> PlaceReach {
    use std::sync::Mutex;
    let total = std::sync::Arc::new(Mutex::new(PlaceReach::default()));
    let sink = std::sync::Arc::clone(&total);
    let body = move || {
        let reach = run(check, mutation);
        sink.lock().unwrap_or_else(|e| e.into_inner()).add(&reach);
    };
    crate::checkers::explore(body, crate::checkers::Strategy::Random, iterations);
    *total.lock().unwrap_or_else(|e| e.into_inner())
}
