//! The drivers whose traces the refinement check replays: the proptest machine (with and
//! without fault plans), the scripts (the zoo's scripts, the seed-race gate), the crash
//! points and shuttle's random scheduler over every scenario; each records the core's
//! registry transitions too. With the cross-process queue on (the subject `Queue`), the
//! proptest machine and shuttle's random scheduler over the queue's scenarios, replayed
//! in the spec with its `queue` option. Loom's runs are not replayed: under its cfg the runner does
//! not run, and its suite runs under `cargo test`.

use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use proptest_state_machine::ReferenceStateMachine;

use super::record::{Step, collect};
use super::replay::{Replayed, replay, replay_queue};
use crate::machine::{MAX_TRANSITIONS, Reference};
use crate::subject::Subject;

/// Tasks per process in the spec a trace replays in: the machine's processes run two.
pub const TASKS: usize = 2;

/// Tasks per process in the spec `trace` replays in: [`TASKS`], or as many as the most
/// tasks of one process its events name (a shuttle scenario's process may run three).
fn tasks(trace: &[Step]) -> usize {
    let mut named: Vec<(crate::world::Pid, u8)> =
        trace.iter().filter_map(|s| Some((s.pid, s.task?))).collect();
    named.sort_unstable();
    named.dedup();
    let most = named.chunk_by(|a, b| a.0 == b.0).map(<[_]>::len).max().unwrap_or(0);
    most.max(TASKS)
}

/// What replaying one driver's traces found: how many traces were replayed or skipped,
/// and what the replayed ones reached, summed ([`Replayed::absorb`]; read through `Deref`).
#[derive(Clone, Debug, Default)]
pub struct Coverage {
    /// Traces replayed.
    pub traces: u64,
    /// Traces skipped (a step outside the spec).
    pub skipped: u64,
    /// What the replayed traces reached, summed; the frontier is the largest.
    pub reached: Replayed,
    /// The traces are the core's with the cross-process queue on: replayed in the spec
    /// with its `queue` option ([`replay_queue`]).
    pub queue: bool,
}

impl std::ops::Deref for Coverage {
    type Target = Replayed;

    fn deref(&self) -> &Replayed {
        &self.reached
    }
}

impl Coverage {
    /// No trace yet, of the core run as `subject`.
    pub fn of(subject: Subject) -> Self {
        Self { queue: subject == Subject::Queue, ..Self::default() }
    }

    fn add(&mut self, r: &Replayed) {
        if r.skipped.is_some() {
            self.skipped += 1;
            return;
        }
        self.traces += 1;
        self.reached.absorb(r);
    }

    /// Adds another driver's coverage.
    pub fn merge(&mut self, o: &Coverage) {
        self.traces += o.traces;
        self.skipped += o.skipped;
        self.reached.absorb(&o.reached);
    }

    /// Replays `traces`, adding what they reached; the first rejection, rendered.
    ///
    /// # Errors
    /// `"refinement: step N (process P …) is not enabled …"`, prefixed by `what`.
    pub fn replay_all(&mut self, what: &str, traces: &[Vec<Step>]) -> Result<(), String> {
        let replay = if self.queue { replay_queue } else { replay };
        for trace in traces {
            let replayed = replay(trace, tasks(trace)).map_err(|r| format!("{what}: {r}"))?;
            self.add(&replayed);
        }
        Ok(())
    }
}

/// Runs `cases` random proptest-machine cases against the core, replaying the trace of
/// each; proptest shrinks a case whose trace the spec rejects.
///
/// # Errors
/// The rejection, for the shrunk case, with its transitions.
pub fn machine(cases: u32) -> (Coverage, Result<(), String>) {
    machine_of(Subject::Core, cases)
}

/// As [`machine`], the core with the cross-process queue on, replayed in the spec with
/// its `queue` option.
///
/// # Errors
/// As [`machine`].
pub fn machine_queue(cases: u32) -> (Coverage, Result<(), String>) {
    machine_of(Subject::Queue, cases)
}

fn machine_of(subject: Subject, cases: u32) -> (Coverage, Result<(), String>) {
    let what =
        if subject == Subject::Queue { "proptest queue machine" } else { "proptest machine" };
    let coverage = std::sync::Mutex::new(Coverage::of(subject));
    let config =
        Config { cases, failure_persistence: None, max_shrink_iters: 2_000, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let strategy = Reference::sequential_strategy(1..=MAX_TRANSITIONS);
    let result = runner.run(&strategy, |(_, transitions, seen)| {
        // Every transition runs, and its steps are in the trace: the shrinker may drop any.
        if let Some(seen) = seen {
            seen.fetch_add(transitions.len(), std::sync::atomic::Ordering::SeqCst);
        }
        // The machine's own verdict is the proptest row's business; here only the trace counts.
        let (_, traces) = collect(|| crate::machine::replay(subject, &transitions));
        let mut c = Coverage::of(subject);
        let outcome = c.replay_all(what, &traces);
        coverage.lock().unwrap_or_else(std::sync::PoisonError::into_inner).merge(&c);
        outcome.map_err(TestCaseError::fail)
    });
    let coverage = coverage.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let result = match result {
        Ok(()) => Ok(()),
        Err(TestError::Fail(reason, (_, transitions, _))) => {
            // The rejection of the minimal case itself (proptest keeps the first reason).
            let (_, traces) = collect(|| crate::machine::replay(subject, &transitions));
            let again = Coverage::of(subject).replay_all(what, &traces).err();
            Err(format!(
                "{}\nminimal case ({} transitions): {transitions:?}",
                again.as_deref().unwrap_or(reason.message()),
                transitions.len()
            ))
        }
        Err(TestError::Abort(reason)) => Err(format!("aborted: {}", reason.message())),
    };
    (coverage, result)
}

/// Runs `cases` random fault plans against the core (the fault-plan machine), replaying
/// the trace of every case; a primitive failed by an injected error is a stutter, and a
/// case with a race fault is skipped.
///
/// # Errors
/// The first rejection.
pub fn fault_plans(cases: u32) -> (Coverage, Result<(), String>) {
    let mut coverage = Coverage::default();
    let (_, traces) = collect(|| crate::failure::catch(|| crate::machine::check_faults(cases)));
    let result = coverage.replay_all("proptest fault plans", &traces);
    (coverage, result)
}

/// Runs the scripts against the core, replaying every world each creates: the zoo's
/// scripts and the seed-race gate.
///
/// # Errors
/// The first rejection, naming the script.
pub fn scripts() -> (Coverage, Result<(), String>) {
    let mut coverage = Coverage::default();
    let mut result = Ok(());
    for check in crate::zoo::core_scripts() {
        let (_, traces) =
            collect(|| crate::failure::catch(|| crate::zoo::run(&check, Subject::Core)));
        result = result.and(coverage.replay_all(check.name, &traces));
    }
    let (_, traces) = collect(|| crate::failure::catch(|| crate::gate::seed_race(Subject::Core)));
    result = result.and(coverage.replay_all("gate seed race", &traces));
    (coverage, result)
}

/// Runs the crash-point scripts against the core with a crash before and after every
/// primitive, replaying every world each creates.
///
/// # Errors
/// The first rejection, naming the script and the crash.
pub fn crash_points() -> (Coverage, Result<(), String>) {
    use crate::fault::CrashWhen;
    use crate::fault::points::{Script, Strike, enumerate};
    let mut coverage = Coverage::default();
    let mut result = Ok(());
    for script in Script::ALL {
        for when in [CrashWhen::Before, CrashWhen::After] {
            let (_, traces) = collect(|| enumerate(script, Strike::Crash(when)));
            let what = format!("crash points {script:?} {when:?}");
            result = result.and(coverage.replay_all(&what, &traces));
        }
    }
    (coverage, result)
}

/// Runs every shuttle scenario against the core under the random scheduler for
/// `iterations` schedules each, replaying the world of every schedule.
///
/// # Errors
/// The first rejection, naming the scenario.
pub fn shuttle(iterations: usize) -> (Coverage, Result<(), String>) {
    use crate::checkers::{Strategy, explore};
    let mut coverage = Coverage::default();
    let mut result = Ok(());
    for scenario in crate::scenarios::ALL.iter() {
        let body = move || {
            crate::harness::run(scenario, Subject::Core);
        };
        let (_, traces) =
            collect(|| crate::failure::catch(|| explore(body, Strategy::Random, iterations)));
        let what = format!("shuttle random {}", scenario.name);
        result = result.and(coverage.replay_all(&what, &traces));
    }
    (coverage, result)
}

/// Runs the queue's shuttle scenarios against the core with the cross-process queue on,
/// under the random scheduler for `iterations` schedules each, replaying the world of
/// every schedule in the spec with its `queue` option.
///
/// # Errors
/// The first rejection, naming the scenario.
pub fn shuttle_queue(iterations: usize) -> (Coverage, Result<(), String>) {
    use crate::checkers::{Strategy, explore};
    let mut coverage = Coverage::of(Subject::Queue);
    let mut result = Ok(());
    for scenario in crate::scenarios::QUEUE.iter() {
        let body = move || {
            crate::harness::run(scenario, Subject::Queue);
        };
        let (_, traces) =
            collect(|| crate::failure::catch(|| explore(body, Strategy::Random, iterations)));
        let what = format!("shuttle random {}", scenario.name);
        result = result.and(coverage.replay_all(&what, &traces));
    }
    (coverage, result)
}
