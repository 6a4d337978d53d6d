//! `explain NAME`: the shortest counterexample one checker found for a mutant, as a
//! numbered interleaving ([`crate::interleaving`]) that ends at the step where the checker
//! judges the named invariant broken, and as a test that replays it.
//!
//! | name | checker | subject | ends at |
//! |---|---|---|---|
//! | `H1` | the gate script (one schedule: [`crate::gate::seed_race`]) | the pre-fix release order ([`Mutant::H1ReleaseOrder`]) | T2's acquire timing out after 10 s (INV-3) |
//! | `m1_release_before_remove` | the same script | the shipped core with that mutant compiled in (`model/mutants.sh`) | the same |
//! | `H7`, `H8`, `H9`, `H13`, `H19` | the script that catches the mutant in [`crate::zoo::checks`] | that mutant | the first violation of its invariant the world recorded, else the script's verdict |
//!
//! | the other mutants of the shipped core ([`core_mutants::ALL`]) | shuttle, PCT then random over every scenario, in a build with that mutant compiled in | the shipped core | the first violation of one of its invariants, else shuttle's verdict |
//! | `H1-variant`, `H2-core`, `H4-core`, `H5-core`, `H6`, `H14`, `H17` | shuttle: the schedule it first failed on, pinned in [`crate::schedules`] | that mutant, in the model of the core (`-core`: the protocol mutant of the same name is the spec's) | the first violation of its invariant the world recorded, else shuttle's verdict |
//! | `H2` … `H5`, `M3`, `breaker-livelock`, `lifo-hand-off`, `F1-skip-check`, `F2-no-share-lock`, `F3-sequence-rollback` | the stateright spec ([`spec`]): the shortest path to a broken always-property, or the lasso of a fair cycle (M3, the breaker livelock, the LIFO hand-off), or the fence model's path (F1, F2, F3) | that protocol mutant | the state that breaks the property, or the cycle that never ends |
//!
//! A script has one schedule, so its counterexample is the shortest it found. The replay
//! ([`replay`]) runs the checker again and compares the interleaving step by step: it
//! fails at the first step that differs, or if the invariant no longer breaks. A pinned
//! shuttle schedule is one schedule too, though not necessarily the shortest one.

use crate::checkers::{self, Strategy};
use crate::core_mutants;
use crate::gate::seed_race;
use crate::interleaving::{self, Step};
use crate::invariant::Invariant;
use crate::scenarios;
use crate::schedules::{self, Pinned};
use crate::subject::{Mutant, Subject};
use crate::zoo::{self, Run};

/// A name `explain` knows, with what it is.
pub const NAMES: &[(&str, &str)] = &[
    ("H1", "the seed race: the pre-fix release order, under the gate script"),
    (
        "m1_release_before_remove",
        "H1 put back into the shipped core (needs a build with that mutant compiled in)",
    ),
    ("H7", "a reused pid trusted as the holder's: the reused-pid script"),
    ("H8", "a process waiting on its own crashed incarnation: the own-leftover script"),
    ("H9", "a two-step publish: the payload-less-window script"),
    ("H13", "no re-entry: the nested-acquire script"),
    ("H19", "a leaky turn: the cancel-points script"),
];

/// Why `explain` has nothing to show.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The name is none of [`NAMES`].
    Unknown(String),
    /// The name is a core mutant this build does not have compiled in.
    NotCompiledIn(&'static str),
    /// The checker ran and the invariant did not break: nothing to explain.
    NotReproduced(String),
}

/// Every name `explain` knows: [`NAMES`], the pinned shuttle schedules, then the protocol
/// mutants of [`spec`].
pub fn all_names() -> Vec<(&'static str, String)> {
    let mut names: Vec<(&'static str, String)> =
        NAMES.iter().map(|(n, what)| (*n, (*what).to_owned())).collect();
    names
        .extend(pinned_names().map(|(n, p)| (n, format!("{}: shuttle's pinned schedule", p.what))));
    names.extend(core_mutants::ALL.iter().filter(|m| m.name != "m1_release_before_remove").map(
        |m| {
            let built = if m.active { "compiled into this build" } else { "needs a build with it" };
            (m.name, format!("a mutant of the shipped core ({built}): shuttle over every scenario"))
        },
    ));
    names.extend(spec::NAMES.iter().map(|(n, what)| (*n, what.clone())));
    names
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown(name) => {
                write!(f, "no counterexample is known by the name {name:?}; known names:")?;
                all_names().iter().try_for_each(|(n, what)| write!(f, "\n  {n:<26} {what}"))
            }
            Self::NotCompiledIn(name) => write!(
                f,
                "{name} is a mutant of the shipped core and this build does not have it compiled \
                 in; build with RUSTFLAGS='--cfg sessionlock_mutant=\"{name}\"' (or run \
                 model/mutants.sh {name}) and explain it there, or explain its parallel copy"
            ),
            Self::NotReproduced(why) => write!(f, "the checker found no counterexample: {why}"),
        }
    }
}

/// One checker's counterexample.
#[derive(Debug)]
pub struct Counterexample {
    /// The name it was asked by.
    pub name: &'static str,
    /// The checker that found it, with its coverage.
    pub checker: String,
    /// The invariant it breaks.
    pub breaks: Invariant,
    /// The steps, up to and including the one where the checker judges `breaks` broken.
    pub steps: Vec<Step>,
}

/// Runs the checker that finds `name`'s counterexample.
///
/// # Errors
/// An unknown name, a core mutant not compiled into this build, or a checker that found
/// nothing.
pub fn find(name: &str) -> Result<Counterexample, Refusal> {
    if let Some((name, pinned)) = pinned_names().find(|(n, _)| *n == name) {
        return shuttled(name, pinned);
    }
    let known = NAMES
        .iter()
        .map(|(n, _)| *n)
        .chain(core_mutants::ALL.iter().map(|m| m.name))
        .find(|n| *n == name);
    let name = known.ok_or_else(|| Refusal::Unknown(name.to_owned()))?;
    let subject = match name {
        "H1" => Subject::Mutant(Mutant::H1ReleaseOrder),
        "m1_release_before_remove" => {
            if core_mutants::active().is_none_or(|m| m.name != name) {
                return Err(Refusal::NotCompiledIn("m1_release_before_remove"));
            }
            Subject::Core
        }
        other if core_mutants::ALL.iter().any(|m| m.name == other) => return core_mutant(name),
        other => {
            let mutant = Mutant::ALL.into_iter().find(|m| m.name() == other);
            return scripted(name, mutant.ok_or_else(|| Refusal::Unknown(other.to_owned()))?);
        }
    };
    let (outcome, mut steps) = interleaving::record(|| seed_race(subject));
    outcome.expect_seed_race().map_err(Refusal::NotReproduced)?;
    // The checker's verdict is T2's acquire returning: cut the run there.
    let end = steps
        .iter()
        .position(|s| matches!(s, Step::Returned { task: "T2", .. }))
        .ok_or_else(|| Refusal::NotReproduced("T2's acquire never returned".to_owned()))?;
    steps.truncate(end + 1);
    let checker = "gate: the scripted seed race (one schedule)".to_owned();
    Ok(Counterexample { name, checker, breaks: Invariant::NoSpuriousTimeout, steps })
}

/// The counterexample of the script that catches `mutant`: up to the first violation of
/// its invariant the world recorded, or else the whole run and the script's verdict.
fn scripted(name: &'static str, mutant: Mutant) -> Result<Counterexample, Refusal> {
    let breaks = mutant.breaks();
    let (checker, script) = zoo::checks(mutant)
        .into_iter()
        .find_map(|c| match c.run {
            Run::Script(f) => Some((c.name, f)),
            Run::Shuttle(..) => None,
        })
        .ok_or_else(|| Refusal::NotReproduced(format!("no script catches {name}")))?;
    let (verdict, steps) =
        interleaving::record(|| crate::failure::catch(|| script(Subject::Mutant(mutant))));
    let verdict = match verdict {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) | Err(message) => Err(message),
    };
    cut(name, format!("{checker} (one schedule)"), breaks, verdict, steps, "the script")
}

/// The counterexample of a pinned shuttle schedule, replayed with recording on.
fn shuttled(name: &'static str, pinned: &'static Pinned) -> Result<Counterexample, Refusal> {
    let (verdict, steps) = interleaving::record(|| crate::failure::catch(|| pinned.replay()));
    let checker = format!("shuttle, the schedule {} failed on (pinned)", pinned.found_by);
    cut(name, checker, pinned.breaks, verdict, steps, "shuttle")
}

/// `steps` up to the first violation of `breaks` the world recorded, or else all of them
/// and the checker's verdict; refused if the checker passed or broke something else.
fn cut(
    name: &'static str,
    checker: String,
    breaks: Invariant,
    verdict: Result<(), String>,
    mut steps: Vec<Step>,
    judge: &str,
) -> Result<Counterexample, Refusal> {
    let Err(message) = verdict else {
        return Err(Refusal::NotReproduced(format!("{checker} passed")));
    };
    if Invariant::named_in(&message) != Some(breaks) {
        return Err(Refusal::NotReproduced(format!("{checker} failed otherwise: {message}")));
    }
    match steps.iter().position(|s| matches!(s, Step::Violation { inv, .. } if *inv == breaks)) {
        Some(end) => steps.truncate(end + 1),
        None => steps.push(Step::Driver(format!("{judge} judges: {message}"))),
    }
    Ok(Counterexample { name, checker, breaks, steps })
}

/// The seed of the schedulers that search for a core mutant's counterexample: fixed, so
/// that the same build finds the same schedule, and its replay test holds.
const SEED: u64 = 1;

/// A mutant of the shipped core, compiled into this build: the first schedule shuttle
/// finds (PCT, then random, over every scenario, `SHUTTLE_ITERATIONS` each, from a fixed
/// seed) that names one of the invariants the mutant breaks. Each schedule starts a fresh
/// recording ([`interleaving::begin_run`]), so the steps are the failing schedule's alone.
fn core_mutant(name: &'static str) -> Result<Counterexample, Refusal> {
    let mutant =
        core_mutants::active().filter(|m| m.name == name).ok_or(Refusal::NotCompiledIn(name))?;
    let mut others = Vec::new();
    // The queue's mutants show only with the queue on.
    let runs = scenarios::ALL.iter().map(|s| (s, Subject::Core));
    for (scenario, subject) in runs.chain(scenarios::QUEUE.iter().map(|s| (s, Subject::Queue))) {
        for strategy in [Strategy::Pct { depth: 3 }, Strategy::Random] {
            let (verdict, steps) = interleaving::record(|| {
                crate::failure::catch(|| {
                    checkers::shuttle_from(scenario, subject, strategy, Some(SEED))
                })
            });
            let Err(message) = verdict else { continue };
            match Invariant::named_in(&message).filter(|inv| mutant.breaks.contains(inv)) {
                Some(breaks) => {
                    let checker =
                        format!("shuttle {strategy:?} on {} (one schedule)", scenario.name);
                    return cut(name, checker, breaks, Err(message), steps, "shuttle");
                }
                None => others.push(format!("{}: {message}", scenario.name)),
            }
        }
    }
    Err(Refusal::NotReproduced(format!(
        "shuttle found no schedule that breaks {:?} (other failures: {others:?}); see the \
         runner's row for the checker that catches it",
        mutant.breaks
    )))
}

/// The pinned shuttle schedules `explain` prints, by name.
fn pinned_names() -> impl Iterator<Item = (&'static str, &'static Pinned)> {
    schedules::PINNED.iter().filter_map(|p| Some((p.explain?, p)))
}

impl Counterexample {
    /// The numbered interleaving, its last line marked with the invariant broken.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = interleaving::render(&self.steps);
        if let Some(last) = lines.last_mut() {
            last.push_str(&format!("  <- {} broken", self.breaks));
        }
        lines
    }

    /// The whole report: a header, the interleaving, and the test that replays it.
    pub fn report(&self) -> String {
        let lines = self.lines();
        let mut out =
            format!("{}: breaks {}; found by {}\n\n", self.name, self.breaks, self.checker);
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str("\nAs a regression test (model/tests/), it replays this interleaving:\n\n");
        out.push_str(&self.as_test());
        out
    }

    /// A test that replays this counterexample, ready to paste into `model/tests/`.
    pub fn as_test(&self) -> String {
        let fn_name: String = self
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .collect();
        let mut out = format!(
            "/// Replays `explain {}`, step by step.\n/// Checks: {}\n#[test]\nfn explain_{fn_name}_replays() {{\n    let expected = [\n",
            self.name,
            self.breaks.id()
        );
        for line in self.lines() {
            out.push_str(&format!("        {line:?},\n"));
        }
        out.push_str(&format!(
            "    ];\n    assert_eq!(sessionlock_model::counterexample::replay({:?}, &expected), Ok(()));\n}}\n",
            self.name
        ));
        out
    }
}

/// Runs `name`'s checker again and compares its interleaving with `expected` (the lines
/// of [`Counterexample::lines`]).
///
/// # Errors
/// The first step that differs, a different length, or why there was no counterexample.
pub fn replay(name: &str, expected: &[&str]) -> Result<(), String> {
    let found = find(name).map_err(|e| e.to_string())?;
    let lines = found.lines();
    if let Some((i, (got, want))) =
        lines.iter().zip(expected).enumerate().find(|(_, (got, want))| got != *want)
    {
        return Err(format!("line {} differs:\n  expected {want}\n  got      {got}", i + 1));
    }
    if lines.len() != expected.len() {
        return Err(format!(
            "{} lines expected, {} replayed; first extra: {:?}",
            expected.len(),
            lines.len(),
            lines.get(expected.len()).or(lines.last())
        ));
    }
    Ok(())
}

/// The protocol mutants' counterexamples, from the stateright spec (`sessionlock-spec`):
/// numbered protocol actions, not core steps, since these bugs live in the protocol.
pub mod spec {
    use std::sync::LazyLock;

    use sessionlock_spec::fence::{FenceModel, FenceMutant, check_fence};
    use sessionlock_spec::liveness::{check_liveness, mutant_config};
    use sessionlock_spec::{Mutant, SpecConfig, check};

    /// The spec's mutants that no script of the core explains (H1 and H7 have scripts), with
    /// the checker that catches each.
    pub static NAMES: LazyLock<Vec<(&'static str, String)>> = LazyLock::new(|| {
        let protocol = Mutant::ALL.iter().filter(|m| !matches!(m.name(), "H1" | "H7")).map(|m| {
            let checker = if m.breaks_safety() { "stateright" } else { "fair cycles" };
            (m.name(), format!("a protocol mutant ({}): {checker}", m.invariant()))
        });
        let fence = FenceMutant::ALL
            .iter()
            .map(|m| (m.name(), format!("a fence mutant ({}): stateright", m.invariant())));
        protocol.chain(fence).collect()
    });

    /// The counterexample the spec's checker finds for `name`, as printed text; `None` if
    /// `name` is none of [`NAMES`].
    ///
    /// # Errors
    /// The checker found no counterexample (the mutant is not caught).
    pub fn find(name: &str) -> Option<Result<String, String>> {
        if !NAMES.iter().any(|(n, _)| *n == name) {
            return None;
        }
        if let Some(&m) = FenceMutant::ALL.iter().find(|m| m.name() == name) {
            let report = check_fence(&FenceModel { mutant: Some(m), ..FenceModel::default() });
            return Some(found(
                name,
                "stateright: the fence model",
                &report.violated,
                report.counterexample,
            ));
        }
        let m = *Mutant::ALL.iter().find(|m| m.name() == name)?;
        Some(if m.breaks_safety() {
            let report = check(&SpecConfig { mutant: Some(m), ..SpecConfig::default() });
            found(
                name,
                "stateright: the shortest path (breadth-first)",
                &report.violated,
                report.counterexample,
            )
        } else {
            let report = check_liveness(&mutant_config(m));
            found(
                name,
                "fair cycles: a stem, then a cycle every weakly fair run may repeat forever",
                &report.violated,
                report.counterexample,
            )
        })
    }

    fn found(
        name: &str,
        checker: &str,
        violated: &[String],
        counterexample: Option<String>,
    ) -> Result<String, String> {
        match counterexample {
            Some(text) if !violated.is_empty() => {
                Ok(format!("{name}: breaks {}; found by {checker}\n\n{text}", violated.join(", ")))
            }
            _ => Err(format!("the spec's checker found no counterexample for {name}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_fails_at_the_first_step_that_differs() {
        let found = find("H1").expect("H1 reproduces");
        let mut expected: Vec<String> = found.lines();
        assert_eq!(replay("H1", &expected.iter().map(String::as_str).collect::<Vec<_>>()), Ok(()));
        expected[3] = "  4. T2 (pid 100): something else".to_owned();
        let changed = replay("H1", &expected.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(changed.is_err_and(|e| e.starts_with("line 4 differs")));
        expected.pop();
        let shorter = replay("H1", &expected.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(shorter.is_err());
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let refusal = find("H99").expect_err("no such name");
        let text = refusal.to_string();
        assert!(NAMES.iter().all(|(name, _)| text.contains(name)), "{text}");
    }
}
