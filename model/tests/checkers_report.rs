//! Checkers report, never crash: a deadlock or a step-budget overrun under shuttle is a
//! named invariant failure in the runner's row, and every later check of the thread still
//! runs.
#![cfg(sessionlock_shuttle)]

use sessionlock_model::checkers::{Strategy, sequential};
use sessionlock_model::harness::{self, Scenario};
use sessionlock_model::{World, rt, runner, scenarios};

/// Two threads of the scenario wait for each other: the main one joins a thread that
/// waits for a lock the main one holds.
fn deadlock(_: &World) {
    let lock = sessionlock::sync::Arc::new(sessionlock::sync::Mutex::new(()));
    let held = lock.lock();
    let other = sessionlock::sync::Arc::clone(&lock);
    rt::spawn(move || drop(other.lock())).join();
    drop(held);
}

/// The main thread joins a thread that never stops yielding.
fn spin(_: &World) {
    rt::spawn(|| {
        loop {
            shuttle::thread::yield_now();
        }
    })
    .join();
}

const DEADLOCK: Scenario = Scenario { name: "deadlock", setup: deadlock, ..scenarios::SEED_WINDOW };
const SPIN: Scenario = Scenario { name: "spin", setup: spin, ..scenarios::SEED_WINDOW };

/// After a failed shuttle run, an ordinary run works on this thread, as the runner's next
/// row does: its world and its core are made of facade mutexes, new ones.
fn later_checks_still_run() {
    let reach =
        sequential(|| harness::run(&scenarios::TWO_TASKS, sessionlock_model::Subject::Core));
    assert_eq!(reach.executions, 1, "the run after the failed one ran");
}

/// A shuttle deadlock is a waiter never woken: the row names INV-3, with shuttle's words.
/// Checks: INV-3
#[test]
fn a_shuttle_deadlock_is_reported_as_inv3_and_later_checks_run() {
    let row = runner::shuttle_row(&DEADLOCK, Strategy::Random);
    later_checks_still_run();
    let failure = row.result.expect_err("the scenario deadlocks");
    assert!(failure.starts_with("INV-3 NoSpuriousTimeout:"), "{failure}");
    assert!(failure.contains("deadlock"), "{failure}");
}

/// A schedule past the step budget is no progress: the row names INV-4.
/// Checks: INV-4
#[test]
fn a_shuttle_step_budget_overrun_is_reported_as_inv4_and_later_checks_run() {
    let row = runner::shuttle_row(&SPIN, Strategy::Pct { depth: 3 });
    later_checks_still_run();
    let failure = row.result.expect_err("the scenario never ends");
    assert!(failure.starts_with("INV-4 Recovery:"), "{failure}");
    assert!(failure.contains("max_steps"), "{failure}");
}

/// Every shuttle runner call of the model is in `checkers`: the guarded one (`explore`,
/// `replay`), which names a failure and keeps shuttle's panic hook to its runs, and
/// `sequential`'s single execution. A runner called anywhere else would report its
/// failure unnamed, and a panic there as shuttle's.
/// Checks: INV-3, INV-4 (a checker's deadlock or budget overrun is reported, never a crash)
#[test]
fn every_shuttle_runner_call_goes_through_the_guard() {
    const RUNNERS: [&str; 8] = [
        "check_random",
        "check_pct",
        "check_dfs",
        "check_urw",
        "shuttle::Runner",
        "PortfolioRunner",
        "shuttle::replay",
        "replay_from_file",
    ];
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("model/src is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let guarded = src.join("checkers.rs");
    assert!(files.contains(&guarded), "the scan reached checkers.rs: {files:?}");
    let in_guard = std::fs::read_to_string(&guarded).expect("checkers.rs is readable");
    assert!(
        RUNNERS.iter().any(|r| in_guard.contains(r)),
        "the scan recognises the runner calls of checkers.rs"
    );
    let outside: Vec<String> = files
        .iter()
        .filter(|f| **f != guarded)
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("a model source is readable");
            let name = f.strip_prefix(&src).unwrap_or(f).display().to_string();
            RUNNERS
                .iter()
                .filter(move |r| text.contains(**r))
                .map(move |r| format!("{name}: {r}"))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(outside.is_empty(), "shuttle runners called outside checkers::guarded: {outside:?}");
}

/// What separates the child's failed shuttle run from its panic outside shuttle.
const OUTSIDE: &str = "-- a panic outside shuttle follows --";

/// The child of `a_panic_outside_shuttle_is_not_reported_as_a_shuttle_failure`: a shuttle
/// run that fails, then a panic outside shuttle and one in `sequential` work, on stderr.
#[test]
#[ignore = "run by a_panic_outside_shuttle_is_not_reported_as_a_shuttle_failure"]
fn child_a_failed_run_then_a_panic_outside() {
    let row = runner::shuttle_row(&DEADLOCK, Strategy::Random);
    assert!(row.result.is_err(), "the scenario deadlocks");
    eprintln!("{OUTSIDE}");
    let outside = std::panic::catch_unwind(|| panic!("a check failed outside shuttle"));
    assert!(outside.is_err());
    let sequential =
        std::panic::catch_unwind(|| sequential(|| panic!("a sequential check failed")));
    let payload = sequential.expect_err("the panic is re-raised");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"a sequential check failed"), "as it was");
}

/// Shuttle's panic hook speaks for panics inside a shuttle run only: after a failed run,
/// a check that fails outside shuttle is not printed as a shuttle task that failed with
/// `ExecutionState NotSet` and a stale schedule (which reads like a crash of the checker).
/// Checks: INV-3 (the deadlock is reported, and nothing after it reads as a crash)
#[test]
fn a_panic_outside_shuttle_is_not_reported_as_a_shuttle_failure() {
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--ignored", "--exact", "child_a_failed_run_then_a_panic_outside", "--nocapture"])
        .output()
        .expect("the test binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the child passed: {stderr}");
    let (inside, outside) = stderr.split_once(OUTSIDE).expect("the child reached its panic");
    // Reachability: shuttle's hook did report the failed run.
    assert!(inside.contains("failing schedule"), "shuttle reported its failure: {inside}");
    assert!(outside.contains("a check failed outside shuttle"), "the panic is reported: {outside}");
    assert!(outside.contains("a sequential check failed"), "the panic is reported: {outside}");
    assert!(
        !outside.contains("Task failed") && !outside.contains("NotSet"),
        "a panic outside shuttle reported as a shuttle failure: {outside}"
    );
}
