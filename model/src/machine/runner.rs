//! Running the machine: proptest's runner, driven programmatically, and replays.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use proptest_state_machine::ReferenceStateMachine;

use super::{MAX_TRANSITIONS, MachineReport, REGRESSIONS, Reference, Sut, Transition};
use crate::invariant::Invariant;
use crate::observe::Reach;
use crate::subject::Subject;

/// Runs `cases` random transition sequences against `subject`, shrinking any failure.
///
/// Never panics on a failure: it is returned in [`MachineReport::failure`], for the
/// sequence proptest shrank to, minimised further by dropping single transitions while
/// the same invariant still fails. Failing seeds of the core are saved to
/// [`REGRESSIONS`] and replayed first on every run; mutants, which are meant to fail,
/// save nothing.
pub fn check_machine(subject: Subject, cases: u32) -> MachineReport {
    let tally = Mutex::new(MachineReport::default());
    let mut runner = TestRunner::new(config(subject, cases));
    let strategy = Reference::sequential_strategy(1..=MAX_TRANSITIONS);
    let result = runner.run(&strategy, |(_, transitions, seen)| {
        let (reach, applied, outcome) = run(subject, &transitions, seen.as_deref());
        let mut report = tally.lock().unwrap_or_else(PoisonError::into_inner);
        report.cases += 1;
        report.transitions += applied;
        report.reach.add(&reach);
        outcome.map_err(TestCaseError::fail)
    });
    let mut report = tally.into_inner().unwrap_or_else(PoisonError::into_inner);
    report.failure = match result {
        Ok(()) => None,
        Err(TestError::Fail(reason, (_, transitions, _))) => {
            let (transitions, message) = minimise(subject, transitions, reason.message());
            Some(format!(
                "{message}\nminimal failing case ({} transitions): {transitions:?}",
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
    let (reach, _, outcome) = run(subject, transitions, None);
    outcome.map(|()| reach)
}

fn config(subject: Subject, cases: u32) -> Config {
    let failure_persistence = crate::core_mutants::seeds(subject, REGRESSIONS);
    Config { cases, failure_persistence, max_shrink_iters: 20_000, ..Config::default() }
}

/// Runs one case; returns what it reached, the transitions applied, and its outcome.
fn run(
    subject: Subject,
    transitions: &[Transition],
    seen: Option<&AtomicUsize>,
) -> (Reach, u64, Result<(), String>) {
    let mut sut = Sut::new(subject);
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
    (sut.reach(), applied, outcome)
}

/// Drops single transitions from a failing sequence while it still fails with the same
/// invariant. (proptest's shrinker deletes, then simplifies each transition, which turns
/// some into no-ops it does not go back to delete.)
fn minimise(
    subject: Subject,
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
            if let Err(failure) = replay(subject, &shorter)
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
