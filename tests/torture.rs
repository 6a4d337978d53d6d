//! Crash torture, reduced: the driver and worker of `examples/torture.rs`, with the
//! workers being this test binary again (running the ignored `torture_worker` test).
//! Asserts counts only; the full run and its timings are in BENCHMARKS.md.
#![cfg(not(sessionlock_loom))]

#[path = "../examples/torture/driver.rs"]
mod driver;
#[path = "../examples/torture/verify.rs"]
mod verify;
#[path = "../examples/torture/worker.rs"]
mod worker;

use std::process::Command;

/// Not a test: the body of the worker processes. Does nothing unless started by the
/// driver, which passes its settings through the environment.
#[test]
#[ignore = "worker process for the torture tests"]
fn torture_worker() {
    if let Some(cfg) = worker::WorkerConfig::from_env() {
        worker::run(&cfg);
    }
}

fn torture(
    appends: u64,
    kills: u64,
    unlocked: bool,
    queue: bool,
) -> (verify::Figures, driver::Run) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = driver::Config {
        dir: tmp.path().join("run"),
        workers: 4,
        appends,
        kills,
        hold_max_us: 1000,
        fsync: false,
        seed: worker::mono_ns(),
        unlocked,
        queue,
    };
    let spawner = || {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--ignored", "--exact", "torture_worker", "--test-threads=1"]);
        cmd
    };
    let run = driver::run(&cfg, &spawner).unwrap();
    let figures = verify::check(&cfg.dir, &run).unwrap();
    println!("{}", figures.to_json(&cfg));
    (figures, run)
}

/// Four processes append 4,000 records under the lock while the driver SIGKILLs one of
/// them 60 times (waiting, holding or releasing) and respawns it: no record is lost, torn,
/// duplicated or written while another writer held the lock; every dead holder's lock is
/// broken by the kernel proof, never by age or grace; nothing times out; no lock file is
/// left.
/// Checks: INV-1, INV-2, INV-4, INV-5
#[test]
fn sigkilled_workers_lose_no_acknowledged_append() {
    let (f, run) = torture(4000, 60, false, false);
    assert_survived(&f, &run);
}

/// The same with the workers waiting in the cross-process queue, so that kills while
/// waiting kill queued waiters: the same figures, and no ticket left behind (a dead
/// waiter's ticket is removed by its successor at once, or by the next arrival).
/// Checks: INV-1, INV-2, INV-4, INV-5, INV-9
#[test]
fn sigkilled_queued_waiters_lose_nothing_and_leave_no_ticket() {
    let (f, run) = torture(4000, 60, false, true);
    assert_survived(&f, &run);
    assert!(f.kills_while_queued >= 1, "no queued waiter was killed: {f:?}");
    assert_eq!(f.tickets_left, 0, "a ticket was left beside the lock file: {f:?}");
}

/// What every torture run must show.
fn assert_survived(f: &verify::Figures, run: &driver::Run) {
    assert_eq!(run.worker_errors, Vec::<String>::new());
    assert!(f.appends >= 2000 && f.kills >= 20, "the run was too small: {f:?}");
    assert!(f.kills_while_holding >= 1, "no holder was killed: {f:?}");
    assert_eq!((f.lost, f.torn, f.duplicated), (0, 0, 0), "{f:?}");
    assert_eq!(f.misplaced, 0, "INV-1 MutualExclusion: a record was appended by two holders");
    assert_eq!(f.stale_not_kernel, 0, "INV-4 Recovery: a lock was broken by age or grace");
    assert!(f.broke_kernel_proven_dead >= 1, "no stale lock was ever broken: {f:?}");
    assert_eq!(f.unrecovered, 0, "INV-4 Recovery: a dead holder's lock was never taken over");
    assert_eq!((f.timeouts, f.compromised), (0, 0), "{f:?}");
    assert!(!f.lock_file_left, "INV-5 NoLeak: a lock file was left behind");
    assert!(f.passed(), "{f:?}");
}

/// The same harness with the workers appending *without* the lock sees overlapping
/// writers: the checks have teeth.
#[test]
fn unlocked_writers_are_caught() {
    let (f, _) = torture(400, 0, true, false);
    assert!(f.misplaced > 0, "overlapping writers went unnoticed: {f:?}");
}
