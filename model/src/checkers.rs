//! Running scenarios under shuttle, with iteration counts from the environment.
//!
//! `SHUTTLE_ITERATIONS` (default 2000) sets the PCT and random schedule counts;
//! `SHUTTLE_DFS_MAX` (default 100000) caps the depth-first search, which is therefore a
//! sample of the schedules that share its first choices, not an exhaustive search (the
//! seed window's space is far larger than the cap);
//! `SHUTTLE_MAX_STEPS` (default 200000) bounds each schedule.

use std::sync::{Arc, Mutex};

use crate::harness::{self, Scenario};
use crate::observe::Reach;
use crate::subject::Subject;

/// A shuttle scheduling strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Probabilistic concurrency testing with the given bug depth.
    Pct {
        /// The bug depth (number of priority change points + 1).
        depth: usize,
    },
    /// Uniformly random schedules.
    Random,
    /// Schedules depth first, up to `SHUTTLE_DFS_MAX`: the first schedules of the tree,
    /// not all of them, unless the space is smaller than the cap.
    Dfs,
}

/// Reads a count from the environment, with a default.
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Explores `scenario` against `subject` under shuttle; panics on a violation.
///
/// A deadlock or a run past the step budget (`SHUTTLE_MAX_STEPS`, default 200000 steps
/// per schedule) panics too, named as an invariant by [`crate::failure::named`]; shuttle
/// prints the failing schedule on stderr.
pub fn shuttle(scenario: &'static Scenario, subject: Subject, strategy: Strategy) -> Reach {
    shuttle_from(scenario, subject, strategy, None)
}

/// [`shuttle()`], with the scheduler's random choices drawn from `seed` when one is given
/// (else from the OS), so that a run can be repeated exactly.
pub fn shuttle_from(
    scenario: &'static Scenario,
    subject: Subject,
    strategy: Strategy,
    seed: Option<u64>,
) -> Reach {
    let total = Arc::new(Mutex::new(Reach::default()));
    let sink = Arc::clone(&total);
    let body = move || {
        let reach = harness::run(scenario, subject);
        sink.lock().unwrap_or_else(|e| e.into_inner()).add(&reach);
    };
    explore_from(body, strategy, env_count("SHUTTLE_ITERATIONS", 2000), seed);
    *total.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `body` under shuttle with `strategy` for `iterations` schedules (the depth-first
/// search: up to `SHUTTLE_DFS_MAX`), each within the step budget. The thread leaves
/// shuttle's scope even if a schedule fails, and a failure is re-raised named
/// ([`crate::failure::named`]).
pub fn explore(body: impl Fn() + Send + Sync + 'static, strategy: Strategy, iterations: usize) {
    explore_from(body, strategy, iterations, None);
}

/// [`explore`], with the random choices of PCT and the random scheduler drawn from
/// `seed` when one is given (shuttle's `SHUTTLE_RANDOM_SEED` overrides it).
pub fn explore_from(
    body: impl Fn() + Send + Sync + 'static,
    strategy: Strategy,
    iterations: usize,
    seed: Option<u64>,
) {
    use shuttle::scheduler::{DfsScheduler, PctScheduler, RandomScheduler};
    let mut config = shuttle::Config::new();
    config.max_steps = shuttle::MaxSteps::FailAfter(env_count("SHUTTLE_MAX_STEPS", 200_000));
    let run = || match strategy {
        Strategy::Pct { depth } => {
            let scheduler = match seed {
                Some(seed) => PctScheduler::new_from_seed(seed, depth, iterations),
                None => PctScheduler::new(depth, iterations),
            };
            shuttle::Runner::new(scheduler, config).run(body);
        }
        Strategy::Random => {
            let scheduler = match seed {
                Some(seed) => RandomScheduler::new_from_seed(seed, iterations),
                None => RandomScheduler::new(iterations),
            };
            shuttle::Runner::new(scheduler, config).run(body);
        }
        Strategy::Dfs => {
            let max = Some(env_count("SHUTTLE_DFS_MAX", 100_000));
            shuttle::Runner::new(DfsScheduler::new(max, false), config).run(body);
        }
    };
    guarded(run);
}

/// Replays one pinned shuttle schedule of `scenario` against `subject`.
pub fn replay(scenario: &'static Scenario, subject: Subject, schedule: &str) {
    let body = move || {
        harness::run(scenario, subject);
    };
    guarded(|| shuttle::replay(body, schedule));
}

/// Runs `run`, one call of a shuttle runner that explores schedules: the only place the
/// model does ([`explore`] and [`replay`] are its callers; a test keeps it so). A failure
/// is re-raised named ([`crate::failure::named`]).
///
/// Shuttle's panic hook speaks only for panics of a thread inside this function: see
/// [`hook_for_runners_only`].
fn guarded(run: impl FnOnce()) {
    HOOK.call_once(hook_for_runners_only);
    let leave = crate::exploring::enter();
    let outcome = crate::failure::catch(run);
    drop(leave);
    if let Err(message) = outcome {
        std::panic::resume_unwind(Box::new(message));
    }
}

/// Installs [`hook_for_runners_only`], once per process.
static HOOK: std::sync::Once = std::sync::Once::new();

/// Runs `f` where the shuttle build's primitives work: as the only task of one shuttle
/// execution (round robin, no step budget, a 64 MiB stack, not shuttle's 32 KiB), or
/// directly if this thread is inside one already. In the shuttle build every facade mutex
/// (the core's registry, the world's state) is shuttle's, and shuttle's primitives panic
/// outside an execution (`ExecutionState NotSet`): the runner runs its rows, and a test
/// its work outside [`explore`], through this. The threads `f` spawns are shuttle's,
/// scheduled round robin; [`explore`] and [`replay`] inside `f` run their own executions.
///
/// `f`'s panic is re-raised as it was, and reaches the hook that was there before
/// shuttle's (`hook_for_runners_only`): a proptest case that fails inside is not
/// reported as a failed shuttle schedule.
pub fn sequential<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
    if shuttle::current::try_get_current_task().is_some() {
        return f();
    }
    HOOK.call_once(hook_for_runners_only);
    type Slot<T> = Arc<Mutex<Option<T>>>;
    let input: Slot<_> = Arc::new(Mutex::new(Some(f)));
    let output: Slot<std::thread::Result<R>> = Arc::new(Mutex::new(None));
    let (take, put) = (Arc::clone(&input), Arc::clone(&output));
    let body = move || {
        let f = take.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(f) = f else { return };
        let result = catch_unwind(AssertUnwindSafe(f));
        *put.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
    };
    let mut config = shuttle::Config::new();
    config.max_steps = shuttle::MaxSteps::None;
    config.stack_size = 64 << 20;
    let scheduler = shuttle::scheduler::RoundRobinScheduler::new(1);
    shuttle::Runner::new(scheduler, config).run(body);
    let result = output.lock().unwrap_or_else(|e| e.into_inner()).take();
    match result {
        Some(Ok(value)) => value,
        Some(Err(panic)) => resume_unwind(panic),
        None => unreachable!("a shuttle execution of one task ran its task"),
    }
}

/// Shuttle installs a process-wide panic hook at its first run, and keeps it: for every
/// later panic of any thread it prints `Task failed, serializing schedule`, the task
/// (`Tried to get ExecutionState, but got the following error: NotSet` outside shuttle)
/// and the last schedule the thread ran, as if it had failed. A check that fails outside
/// shuttle after a shuttle run (a proptest case, a reachability check) then reads like a
/// crash of shuttle. This lets shuttle install its hook, then puts a hook in front of it
/// that hands a panic to it only on a thread inside [`guarded`], and to the hook that was
/// there before otherwise.
fn hook_for_runners_only() {
    type Hook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static>;
    let before: std::sync::Arc<Hook> = std::sync::Arc::new(std::panic::take_hook());
    let inner = std::sync::Arc::clone(&before);
    std::panic::set_hook(Box::new(move |info| inner(info)));
    // Shuttle's hook wraps the one it finds: `before`, through `inner`.
    shuttle::check_random(|| {}, 1);
    let shuttle_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if crate::exploring::exploring() { shuttle_hook(info) } else { before(info) }
    }));
}
