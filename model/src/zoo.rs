//! Which check catches which mutant. One table, used by the zoo tests and the runner.

use crate::checkers::{self, Strategy};
use crate::failure;
use crate::harness::Scenario;
use crate::invariant::Invariant;
use crate::scenarios;
use crate::scripts::{self, Leftover};
use crate::subject::{Mutant, Subject};

/// How a check runs.
#[derive(Clone, Copy, Debug)]
pub enum Run {
    /// A threaded scenario under shuttle.
    Shuttle(&'static Scenario, Strategy),
    /// A scripted interleaving.
    Script(fn(Subject) -> Result<(), String>),
}

/// A named check.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    /// The checker and scenario, e.g. `shuttle age-takeover`.
    pub name: &'static str,
    /// How it runs.
    pub run: Run,
}

/// What a check said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing broke.
    Pass,
    /// This invariant broke.
    Broke(Invariant),
    /// It failed without naming an invariant.
    Failed(String),
}

/// The checks that must catch `mutant` (and that the core must pass).
pub fn checks(mutant: Mutant) -> Vec<Check> {
    let shuttle = |name, scenario| Check { name, run: Run::Shuttle(scenario, Strategy::Random) };
    let script = |name, f| Check { name, run: Run::Script(f) };
    match mutant {
        Mutant::H1ReleaseOrder | Mutant::H1OwnPidOrphan => {
            vec![shuttle("shuttle two-tasks", &scenarios::TWO_TASKS)]
        }
        Mutant::H2UnlockedBreak | Mutant::H4CompareThenUnlink => {
            vec![shuttle("shuttle crash-two-breakers", &scenarios::CRASH_TWO_BREAKERS)]
        }
        Mutant::H5OldHolderDeletesSuccessor | Mutant::H6AgeIsDeath => {
            vec![shuttle("shuttle age-takeover", &scenarios::AGE_TAKEOVER)]
        }
        Mutant::H7TrustsReusedPid => vec![script("script reused-pid", |s| {
            scripts::recovers_at_once(s, Leftover::ForeignReusedPid)
        })],
        Mutant::H8WaitsOnItself => vec![script("script own-leftover", |s| {
            scripts::recovers_at_once(s, Leftover::OwnPreviousIncarnation)
        })],
        Mutant::H9TwoStepPublish => {
            vec![script("script payloadless-window", scripts::payloadless_window)]
        }
        Mutant::H13NoReentry => vec![script("script nested-acquire", scripts::nested_acquire)],
        Mutant::H14ProcessReentry => vec![shuttle("shuttle two-tasks", &scenarios::TWO_TASKS)],
        Mutant::H17InodeOnly => {
            vec![shuttle("shuttle drift-two-tasks", &scenarios::DRIFT_TWO_TASKS)]
        }
        Mutant::H19LeakyTurn => {
            vec![script("script cancel-points", |s| scripts::cancel_points(s).map(drop))]
        }
    }
}

/// The zoo's scripted checks, each run against the real core too.
pub fn core_scripts() -> Vec<Check> {
    let mut scripts: Vec<_> = Mutant::ALL
        .iter()
        .flat_map(|m| checks(*m))
        .filter(|c| matches!(c.run, Run::Script(_)))
        .collect();
    scripts.dedup_by_key(|c| c.name);
    scripts
}

/// Runs `check` against `subject`.
pub fn run(check: &Check, subject: Subject) -> Outcome {
    let outcome = match check.run {
        Run::Shuttle(scenario, strategy) => failure::catch(|| {
            let reach = checkers::shuttle(scenario, subject, strategy);
            if subject == Subject::Core {
                // The core's pass means something only if the run got somewhere.
                reach.assert_reached(scenario.name, scenario.reaches);
            }
        }),
        // A script's world is made of the shuttle build's mutexes: it runs in an execution.
        Run::Script(f) => {
            failure::catch(|| checkers::sequential(move || f(subject))).and_then(|r| r)
        }
    };
    match outcome {
        Ok(()) => Outcome::Pass,
        Err(message) => match Invariant::named_in(&message) {
            Some(inv) => Outcome::Broke(inv),
            None => Outcome::Failed(message),
        },
    }
}
