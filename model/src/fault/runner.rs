//! The fault proptest, run programmatically: generated (fault plan, moves) cases on the
//! [`Driver`], shrunk on failure.

use std::sync::{Mutex, PoisonError};

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use super::machine::{Driver, Move, PROCESSES, TASKS};
use sessionlock::fs::FsOp;

use super::{Fault, FaultHits, FaultKind};
use crate::op::{Command, Op};
use crate::subject::Subject;

/// Where failing fault cases are kept (the lead commits this directory).
pub const REGRESSIONS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/proptest_faults.txt");

/// Moves in a case at most.
const MAX_MOVES: usize = 64;

/// What [`check_faults`] found.
#[derive(Clone, Debug, Default)]
pub struct FaultReport {
    /// Cases run, shrinking runs included.
    pub cases: u32,
    /// Faults injected over all cases.
    pub faults_injected: u64,
    /// Where the faults landed, over all cases.
    pub hits: FaultHits,
    /// `"INV-n Name: …"` and the minimal failing case, if a case failed.
    pub failure: Option<String>,
}

/// Runs `cases` random (fault plan, moves) cases against the core, shrinking any
/// failure.
///
/// Never panics on a failure: it is returned in [`FaultReport::failure`]. Failing seeds
/// are saved to [`REGRESSIONS`] and replayed first on every run.
pub fn check_faults(cases: u32) -> FaultReport {
    check_faults_on(Subject::Core, cases)
}

/// As [`check_faults`], against `subject`; a mutant's failing seeds are not saved.
pub fn check_faults_on(subject: Subject, cases: u32) -> FaultReport {
    let tally = Mutex::new(FaultReport::default());
    let failure_persistence = crate::core_mutants::seeds(subject, REGRESSIONS);
    let config =
        Config { cases, failure_persistence, max_shrink_iters: 10_000, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(), |(faults, moves)| {
        let (driver, outcome) = run(subject, faults, &moves);
        let mut report = tally.lock().unwrap_or_else(PoisonError::into_inner);
        report.cases += 1;
        report.faults_injected += driver.faults_injected();
        report.hits.add(&driver.hits());
        outcome.map_err(TestCaseError::fail)
    });
    let mut report = tally.into_inner().unwrap_or_else(PoisonError::into_inner);
    report.failure = match result {
        Ok(()) => None,
        Err(TestError::Fail(reason, (faults, moves))) => Some(format!(
            "{}\nminimal failing case: faults {faults:?}, {} moves {moves:?}",
            reason.message(),
            moves.len()
        )),
        Err(TestError::Abort(reason)) => Some(format!("aborted: {}", reason.message())),
    };
    report
}

/// Runs one case, `moves` then the teardown, under `faults`: for pinning a failure as
/// a named regression test.
///
/// # Errors
/// `"INV-n Name: …"` for the first invariant broken.
pub fn replay(faults: &[Fault], moves: &[Move]) -> Result<FaultHits, String> {
    let (driver, outcome) = run(Subject::Core, faults.to_vec(), moves);
    outcome.map(|()| driver.hits())
}

fn run(subject: Subject, faults: Vec<Fault>, moves: &[Move]) -> (Driver, Result<(), String>) {
    let mut driver = Driver::new(subject, faults);
    let outcome = moves
        .iter()
        .try_for_each(|&mv| driver.apply(mv))
        .and_then(|()| driver.teardown())
        .map_err(|(inv, detail)| format!("{inv}: {detail}"));
    (driver, outcome)
}

/// A case: one to three faults, and up to [`MAX_MOVES`] moves.
fn case() -> impl Strategy<Value = (Vec<Fault>, Vec<Move>)> {
    (vec(fault(), 1..=3), vec(a_move(), 1..=MAX_MOVES))
}

/// A fault on one of the first primitives of a process (or of any), usually of one
/// primitive. A race kind only targets a primitive it applies to.
fn fault() -> impl Strategy<Value = Fault> {
    let pids = PROCESSES.iter().map(|(pid, _)| *pid).collect::<Vec<_>>();
    let pid = option::weighted(0.6, select(pids));
    let op = option::weighted(0.75, common_op());
    (0u64..4, pid, op, select(FaultKind::ALL.to_vec())).prop_map(|(at, pid, op, kind)| Fault {
        at,
        pid,
        op: op.filter(|op| kind.applies_to(*op)),
        kind,
    })
}

/// A primitive, weighted by how often the core runs it: every acquire publishes and
/// every release stats, unlinks and closes, while only contention probes.
fn common_op() -> impl Strategy<Value = FsOp> {
    prop_oneof![
        3 => Just(FsOp::Publish),
        2 => Just(FsOp::PathId),
        2 => Just(FsOp::Unlink),
        1 => Just(FsOp::Close),
        2 => Just(FsOp::Open),
        2 => Just(FsOp::TryLock),
        1 => Just(FsOp::LockUntil),
        1 => Just(FsOp::Meta),
        1 => Just(FsOp::Read),
    ]
}

/// Mostly polls of single tasks; acquires and releases; now and then a crash.
fn a_move() -> impl Strategy<Value = Move> {
    let doing = |op| (0..TASKS).prop_map(move |task| Move::Do(Command { task, op }));
    prop_oneof![
        6 => (0..TASKS).prop_map(Move::Poll),
        5 => doing(Op::Acquire),
        1 => doing(Op::TryAcquire),
        5 => doing(Op::Release),
        1 => doing(Op::Crash),
        4 => Just(Move::Settle),
    ]
}
