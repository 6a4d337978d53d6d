//! Mixed with the original lock: our short-lived holder, our successor and one contender
//! of the original TypeScript lock ([`Original`]) on one lock path, in logical time.
//!
//! | process | pid | what it does |
//! |---|---|---|
//! | our holder | 100 | holds at the start; releases at `release_at`; its process stays alive for the `grace`, then exits (a `sessionlock run` whose payload pid stays unreaped, or a library user who waits before exiting) |
//! | our successor | 101 | acquires at the start, so it waits in the kernel on the holder's file and publishes the instant the holder releases; holds `hold`, releases, stays the `grace`, exits |
//! | the original | 200 | the original's loop, pausing `pause` between each read of a lock file and its judgement (its read-to-unlink window); holds `hold` once in, releases by path |
//!
//! One *schedule* fixes the holder's release instant relative to the original's first
//! read (every millisecond from 0 to `pause + grace + 1`) and which of them runs first
//! when two events fall on the same instant. [`explore`] runs them all.
//!
//! What can break is INV-1: the original is not a participant, so its unlink of our
//! successor's live file is not an INV-2 violation (INV-2 binds participants), but it lets
//! the original in beside our successor. The ghost records that overlap as INV-1, and our
//! successor's release must then report `Compromised`.
//!
//! | `pause` against `grace` | the original's judgement of a holder that released after its read | result |
//! |---|---|---|
//! | `pause < grace` | made before the holder's pid exits: alive, so it backs off | INV-1 unreachable |
//! | `pause > grace`, or no grace | can be made after the pid exited: dead, so it unlinks by path whatever the path names now, our successor's live file | INV-1 reachable (the residual risk) when a successor of ours is inside at that moment: here, with one successor, when `hold` is at least `pause − (release − read)`; with a stream of our holders, whenever one of them is |

use std::time::Duration;

use sessionlock::core::{Locker, Options, Owner, ReleaseError};
use sessionlock::fs::{Clock, Moment};

use crate::exec::Stepper;
use crate::fs::{ModelClock, ModelFs};
use crate::harness::{Ghost, lock_path};
use crate::invariant::Invariant;
use crate::original::Original;
use crate::subject::{ModelLocker, Subject};
use crate::world::{Pid, World};

/// The grace of the mitigation the runner checks: the same 100 ms as `sessionlock run`'s.
pub const GRACE: Duration = Duration::from_millis(100);

/// How our holder lets go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// Through the library, as a library user does: unlink, then close; the process stays
    /// alive for the grace, then exits.
    Own,
    /// As `sessionlock run` does: the command (the pid the payload names) exits, so its
    /// descriptors close and the kernel lock drops, but it stays a zombie; the supervisor
    /// then removes the file as a contender would, if it still can (our waiting successor
    /// may have broken it first), waits the grace and reaps. With `always: false` it waits
    /// the grace only when it removed the file itself.
    Supervised {
        /// Whether the grace is waited whoever removed the file.
        always: bool,
    },
}

/// The timing of the mixed scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How long our processes stay alive after their release (zero: they exit at once).
    pub grace: Duration,
    /// The original's read-to-unlink window.
    pub pause: Duration,
    /// How long our successor (and the original, once in) stays inside.
    pub hold: Duration,
    /// How our holder lets go.
    pub release: Release,
}

/// One schedule of the mixed scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// When our holder releases, after the original's first read (which is at zero).
    pub release_at: Duration,
    /// Whether the original runs first among events of the same instant.
    pub original_first: bool,
    /// Under [`Release::Supervised`]: whether the supervisor removes the file before our
    /// waiting successor, woken by the command's exit, breaks it.
    pub supervisor_first: bool,
}

/// What [`explore`] found over every schedule.
#[derive(Clone, Debug, Default)]
pub struct MixedReport {
    /// The timing explored.
    pub timing: Option<Timing>,
    /// Schedules run.
    pub schedules: u32,
    /// Schedules where the original judged a payload whose file was gone by then: the
    /// holder it read had released, and the window was open (reachability).
    pub outdated_reads: u32,
    /// Of those, schedules where it still judged that holder alive and backed off.
    pub outdated_but_alive: u32,
    /// Schedules where the original unlinked a live holder's file.
    pub live_removals: u32,
    /// Schedules where the original and our successor were inside at once (INV-1).
    pub overlaps: u32,
    /// Schedules where our successor's release reported `Compromised`.
    pub compromised: u32,
    /// Under [`Release::Supervised`]: schedules where our successor broke the exited
    /// command's file before the supervisor could remove it (reachability).
    pub supervisor_lost: u32,
    /// The first overlap, described.
    pub first_overlap: Option<String>,
    /// Anything else that went wrong: a timeout, a stall, a release error without an overlap.
    pub failures: Vec<String>,
}

impl MixedReport {
    /// The mitigation holds: no overlap, no live file removed, every schedule finished with
    /// everyone in once, and the dangerous window was reached and survived.
    ///
    /// # Errors
    /// What happened instead.
    pub fn expect_safe(&self) -> Result<(), String> {
        if let Some(first) = &self.first_overlap {
            return Err(format!("{first} ({} of {} schedules)", self.overlaps, self.schedules));
        }
        if let Some(failure) = self.failures.first() {
            return Err(failure.clone());
        }
        if self.live_removals > 0 {
            return Err(format!(
                "the original removed a live file in {} schedules",
                self.live_removals
            ));
        }
        if self.outdated_but_alive == 0 {
            return Err(format!(
                "the original never judged a released holder: nothing reached ({self:?})"
            ));
        }
        Ok(())
    }

    /// The invariant the scenario reported broken, if any, for the mutant lines.
    pub fn reported(&self) -> Option<String> {
        let first = self.first_overlap.as_deref().or(self.failures.first().map(String::as_str));
        first.map(|f| {
            Invariant::in_message(f)
                .map_or("a failure without an invariant", Invariant::id)
                .to_owned()
        })
    }
}

/// Runs every schedule of `timing`.
pub fn explore(timing: Timing) -> MixedReport {
    let mut report = MixedReport { timing: Some(timing), ..MixedReport::default() };
    let last = (timing.pause + timing.grace).as_millis() as u64 + 1;
    let races: &[bool] = match timing.release {
        Release::Own => &[true],
        Release::Supervised { .. } => &[true, false],
    };
    for ms in 0..=last {
        for original_first in [true, false] {
            for &supervisor_first in races {
                let release_at = Duration::from_millis(ms);
                let schedule = Schedule { release_at, original_first, supervisor_first };
                run(schedule, timing, &mut report);
            }
        }
    }
    report
}

const HOLDER: Pid = 100;
const SUCCESSOR: Pid = 101;
const ORIGINAL: Pid = 200;

fn locker(world: &std::sync::Arc<World>, pid: Pid) -> ModelLocker {
    Locker::new(ModelFs::spawn(world, pid), ModelClock::new(world), Options::default())
}

/// Runs one schedule and adds what it saw to `report`.
pub fn run(schedule: Schedule, timing: Timing, report: &mut MixedReport) {
    let Timing { grace, pause, hold, release } = timing;
    let world = World::new();
    world.set_strict(false);
    let path = lock_path();
    let clock = ModelClock::new(&world);
    let ghost = Ghost::default();
    let (holder, successor) = (locker(&world, HOLDER), locker(&world, SUCCESSOR));
    let owners = [Owner::from_raw(1), Owner::from_raw(2), Owner::from_raw(3)];
    let original = Original::spawn(&world, ORIGINAL, path.as_path(), pause);
    let mut ex = Stepper::new();
    let first = ex.block_on(Subject::Core.acquire(&holder, &path, owners[0])).expect("empty world");
    let _ = ghost.enter(HOLDER, owners[0], owners[0]);
    let (clock, world_ref, ghost) = (&clock, &*world, &ghost);
    let enter = move |pid, owner| {
        if let Some((inv, detail)) = ghost.enter(pid, owner, owner) {
            world_ref.record(inv, detail);
        }
    };
    let exit_after_grace = move |pid| async move {
        clock.sleep_until(clock.now().saturating_add(grace)).await;
        world_ref.exit(pid);
    };
    let holder_task = async move {
        clock.sleep_until(Moment::from_duration(schedule.release_at)).await;
        ghost.leave(owners[0]);
        let Release::Supervised { always } = release else {
            let released = first.release().await;
            exit_after_grace(HOLDER).await;
            return released.map(|_| false);
        };
        let removed = supervised_exit(world_ref, first, schedule.supervisor_first).await;
        if always || removed {
            clock.sleep_until(clock.now().saturating_add(grace)).await;
        }
        world_ref.exit(HOLDER);
        Ok(!removed)
    };
    let (successor, original) = (&successor, &original);
    let successor_task = async move {
        let guard = Subject::Core.acquire(successor, &lock_path(), owners[1]).await;
        let guard = guard.map_err(|e| Ending::Failed(e.to_string()))?;
        enter(SUCCESSOR, owners[1]);
        clock.sleep_until(clock.now().saturating_add(hold)).await;
        ghost.leave(owners[1]);
        let released = guard.release().await;
        exit_after_grace(SUCCESSOR).await;
        match released {
            Ok(_) => Ok(()),
            Err(ReleaseError::Compromised { .. }) => Err(Ending::Compromised),
            Err(e) => Err(Ending::Failed(e.to_string())),
        }
    };
    let original_task = async move {
        let held = original.acquire().await;
        let held = held.map_err(|w| format!("the original timed out after {w:?}"))?;
        enter(ORIGINAL, owners[2]);
        clock.sleep_until(clock.now().saturating_add(hold)).await;
        ghost.leave(owners[2]);
        original.release(held);
        Ok::<(), String>(())
    };
    let (o, h, s);
    if schedule.original_first {
        o = ex.spawn(original_task);
        h = ex.spawn(holder_task);
        s = ex.spawn(successor_task);
    } else {
        h = ex.spawn(holder_task);
        s = ex.spawn(successor_task);
        o = ex.spawn(original_task);
    }
    let stalled = drive(&world, &mut ex, &[o.0, h.0, s.0]);
    tally(schedule, &world, original, stalled, report, (&o.1, &h.1, &s.1));
}

/// The command holding through `guard` exits and stays a zombie: its descriptors close
/// (the kernel lock drops, waking our successor), nothing is unlinked, its pid lives on.
/// Then the supervisor removes the file as a contender would: only if the path still
/// names that file and nobody holds its kernel lock. Returns whether it removed it.
async fn supervised_exit(world: &World, guard: crate::subject::ModelGuard, first: bool) -> bool {
    let path = guard.path().as_path().to_owned();
    let published = world.file_at(&path).map(|f| f.ino);
    let (_locker, ..) = guard.into_parts(); // no release: the command just exits
    let wakers = {
        let mut st = world.state.lock();
        let own: Vec<u64> =
            st.handles.iter().filter(|(_, h)| h.pid == HOLDER).map(|(&id, _)| id).collect();
        own.into_iter().flat_map(|id| st.close(id)).collect::<Vec<_>>()
    };
    wakers.into_iter().for_each(std::task::Waker::wake);
    if !first {
        yield_once().await; // our successor, woken by the close, breaks the file first
    }
    let mut st = world.state.lock();
    let named = st.paths.get(&path).copied();
    let free = named.is_some_and(|ino| st.inodes.get(&ino).is_some_and(|i| i.lock.is_none()));
    if named.is_some() && named == published && free {
        st.paths.remove(&path);
        return true;
    }
    false
}

/// Lets every other runnable task run once before going on.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await;
}

type Out<T, V = ()> = crate::exec::Output<Result<V, T>>;

/// How our successor's turn ended, when not cleanly.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ending {
    /// Its release found its file removed or replaced.
    Compromised,
    /// Anything else.
    Failed(String),
}

fn tally(
    schedule: Schedule,
    world: &World,
    original: &Original,
    stalled: Result<(), String>,
    report: &mut MixedReport,
    (o, h, s): (&Out<String>, &Out<ReleaseError, bool>, &Out<Ending>),
) {
    report.schedules += 1;
    let trail = original.trail();
    let outdated = trail.judged.iter().filter(|j| j.outdated);
    report.outdated_reads += u32::from(outdated.clone().count() > 0);
    report.outdated_but_alive += u32::from(outdated.clone().any(|j| !j.stale));
    report.live_removals += u32::from(!trail.removed_live.is_empty());
    let compromised = matches!(&*s.borrow(), Some(Err(Ending::Compromised)));
    report.compromised += u32::from(compromised);
    report.supervisor_lost += u32::from(matches!(&*h.borrow(), Some(Ok(true))));
    let overlap =
        world.violations().into_iter().find(|(inv, _)| *inv == Invariant::MutualExclusion);
    if let Some((inv, detail)) = overlap {
        report.overlaps += 1;
        let reported = if compromised {
            "our successor's release reported Compromised"
        } else {
            "our successor's release did NOT report it"
        };
        report.first_overlap.get_or_insert(format!(
            "{inv}: the original unlinked a live file by path and entered beside our successor ({detail}); {reported}; {schedule:?}, {:?}",
            report.timing
        ));
        return;
    }
    let mut problems = Vec::new();
    if let Err(e) = stalled {
        problems.push(e);
    }
    if let Some(Err(e)) = o.borrow().as_ref() {
        problems.push(format!("the original: {e}"));
    }
    if let Some(Err(e)) = s.borrow().as_ref() {
        problems.push(format!("our successor: {e:?}"));
    }
    if let Some(Err(e)) = h.borrow().as_ref() {
        problems.push(format!("our holder: {e}"));
    }
    if let Some(p) = problems.first() {
        report.failures.push(format!("{p}; {schedule:?}"));
    }
}

/// Runs the tasks, advancing logical time to the next timer whenever all of them stall.
fn drive(world: &World, ex: &mut Stepper<'_>, ids: &[usize]) -> Result<(), String> {
    loop {
        ex.run_until_stalled();
        if ids.iter().all(|id| ex.is_done(*id)) {
            return Ok(());
        }
        let now = world.now().as_duration();
        let next = world.state.lock().timers.iter().map(|(at, _)| *at).filter(|at| *at > now).min();
        let Some(next) = next else {
            return Err(format!("every task is blocked with no timer at {now:?}"));
        };
        world.advance(next - now);
    }
}
