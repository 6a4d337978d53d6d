//! Running the machine: proptest's runner, driven programmatically, and replays.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use proptest::strategy::{BoxedStrategy, Strategy};
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use proptest_state_machine::ReferenceStateMachine;

use super::plan::{FaultReference, Plan, Reference};
use super::shape::{FAULT_REGRESSIONS, MAX_TRANSITIONS, MachineReport, REGRESSIONS, Transition};
use super::sut::Sut;
use crate::fault::{Fault, FaultHits};
use crate::invariant::Invariant;
use crate::observe::Reach;
use crate::subject::Subject;

/// A generated case: the reference's initial state (with the fault plan), the
/// transitions, and how many of them ran (for the shrinker).
type Case = (Plan, Vec<Transition>, Option<Arc<AtomicUsize>>);

/// Runs `cases` random transition sequences against `subject`, shrinking any failure.
///
/// Never panics on a failure: it is returned in [`MachineReport::failure`], for the
/// sequence proptest shrank to, minimised further by dropping single transitions while
/// the same invariant still fails. Failing seeds of the core are saved to
/// [`REGRESSIONS`] and replayed first on every run; mutants, which are meant to fail,
/// save nothing.
pub fn check_machine(subject: Subject, cases: u32) -> MachineReport {
    let strategy = Reference::sequential_strategy(1..=MAX_TRANSITIONS).boxed();
    check(subject, cases, strategy, REGRESSIONS)
}

/// Runs `cases` random (fault plan, transition sequence) cases against the core, as
/// [`check_machine`] does, with the plan installed in the world; failing seeds are saved
/// to [`FAULT_REGRESSIONS`].
pub fn check_faults(cases: u32) -> MachineReport {
    check_faults_on(Subject::Core, cases)
}

/// As [`check_faults`], against `subject`; a mutant's failing seeds are not saved.
pub fn check_faults_on(subject: Subject, cases: u32) -> MachineReport {
    let strategy = FaultReference::sequential_strategy(1..=MAX_TRANSITIONS).boxed();
    check(subject, cases, strategy, FAULT_REGRESSIONS)
}

fn check(
    subject: Subject,
    cases: u32,
    strategy: BoxedStrategy<Case>,
    seeds: &'static str,
) -> MachineReport {
    let tally = Mutex::new(MachineReport::default());
    let failure_persistence = crate::core_mutants::seeds(subject, seeds);
    let config =
        Config { cases, failure_persistence, max_shrink_iters: 20_000, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |(plan, transitions, seen)| {
        let (sut, applied, outcome) = run(subject, &plan.faults, &transitions, seen.as_deref());
        tally.lock().unwrap_or_else(PoisonError::into_inner).add(&sut, applied);
        outcome.map_err(TestCaseError::fail)
    });
    let mut report = tally.into_inner().unwrap_or_else(PoisonError::into_inner);
    report.failure = match result {
        Ok(()) => None,
        Err(TestError::Fail(reason, (plan, transitions, _))) => {
            let faults = &plan.faults;
            let (transitions, message) = minimise(subject, faults, transitions, reason.message());
            Some(format!(
                "{message}\nminimal failing case (faults {faults:?}, {} transitions): {transitions:?}",
                transitions.len()
            ))
        }
        Err(TestError::Abort(reason)) => Some(format!("aborted: {}", reason.message())),
    };
    report
}

/// Runs one case, `transitions` then the teardown, as [`check_machine`] does: for
/// pinning a failure found as a named regression test.
///
/// # Errors
/// `"INV-n Name: …"` for the first invariant broken.
pub fn replay(subject: Subject, transitions: &[Transition]) -> Result<Reach, String> {
    let (sut, _, outcome) = run(subject, &[], transitions, None);
    outcome.map(|()| sut.reach())
}

/// As [`replay`], against the core under `faults`, as [`check_faults`] does.
///
/// # Errors
/// `"INV-n Name: …"` for the first invariant broken.
pub fn replay_faults(faults: &[Fault], transitions: &[Transition]) -> Result<FaultHits, String> {
    let (sut, _, outcome) = run(Subject::Core, faults, transitions, None);
    outcome.map(|()| sut.hits())
}

impl MachineReport {
    /// Adds one case: the system after it, and the transitions it applied.
    fn add(&mut self, sut: &Sut, applied: u64) {
        self.cases += 1;
        self.transitions += applied;
        self.reach.add(&sut.reach());
        self.faults_injected += sut.faults_injected();
        self.hits.add(&sut.hits());
    }
}

/// Runs one case under `faults`; returns the system after it, the transitions applied,
/// and its outcome.
fn run(
    subject: Subject,
    faults: &[Fault],
    transitions: &[Transition],
    seen: Option<&AtomicUsize>,
) -> (Sut, u64, Result<(), String>) {
    let mut sut = Sut::with_faults(subject, faults.to_vec());
    let mut applied = 0;
    let outcome = transitions
        .iter()
        .try_for_each(|&transition| {
            if let Some(seen) = seen {
                seen.fetch_add(1, Ordering::SeqCst);
            }
            applied += 1;
            sut.apply(transition)
        })
        .and_then(|()| sut.teardown())
        .map_err(|(inv, detail)| format!("{inv}: {detail}"));
    (sut, applied, outcome)
}

/// Drops single transitions from a failing sequence while it still fails with the same
/// invariant. (proptest's shrinker deletes, then simplifies each transition, which turns
/// some into no-ops it does not go back to delete.)
fn minimise(
    subject: Subject,
    faults: &[Fault],
    mut transitions: Vec<Transition>,
    message: &str,
) -> (Vec<Transition>, String) {
    let inv = Invariant::in_message(message);
    let mut message = message.to_owned();
    loop {
        let before = transitions.len();
        for at in (0..before).rev() {
            let mut shorter = transitions.clone();
            shorter.remove(at);
            if let (_, _, Err(failure)) = run(subject, faults, &shorter, None)
                && Invariant::in_message(&failure) == inv
            {
                (transitions, message) = (shorter, failure);
            }
        }
        if transitions.len() == before {
            return (transitions, message);
        }
    }
}
