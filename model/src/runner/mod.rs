//! The scenario runner: every checker but loom (shuttle, stateright, proptest, the scripted
//! gate), one table, one line per mutant. It is the shuttle build
//! (`--cfg sessionlock_shuttle`), where the rows that are not shuttle's run as the only
//! task of one shuttle execution ([`crate::checkers::sequential`]).
//!
//! Loom needs `RUSTFLAGS="--cfg sessionlock_loom"`, a build of its own whose primitives
//! work only inside `loom::model`, so it runs under `cargo test` instead (see the README
//! and `.ci/run`).

use std::fmt::Write as _;
use std::time::Instant;

use crate::invariant::Invariant;

mod original;
mod rows;
mod verdict;

pub use original::*;
pub use rows::*;
pub use verdict::{Catch, Row, guarded, render_reach, reported_id};

/// Runs a row builder; if it panics (a checker that crashed outside its own guard), the
/// failure becomes a failed row named `what`, so the table is always printed.
pub fn row_or_failure(what: &str, f: impl FnOnce() -> Row) -> Row {
    guarded(f).unwrap_or_else(|e| crashed_row(what, e))
}

/// As [`row_or_failure`], for a builder of several rows.
pub fn rows_or_failure(what: &str, f: impl FnOnce() -> Vec<Row>) -> Vec<Row> {
    guarded(f).unwrap_or_else(|e| vec![crashed_row(what, e)])
}

/// As [`row_or_failure`], for a catch: a panic that names the expected invariant is a
/// catch like any other.
pub fn catch_or_failure(
    history: &'static str,
    checker: &'static str,
    expected: String,
    f: impl FnOnce() -> Catch,
) -> Catch {
    guarded(f).unwrap_or_else(|e| Catch {
        history,
        checker,
        expected,
        reported: Some(reported_id(&e).unwrap_or_else(|| "a crash without an invariant".into())),
    })
}

fn crashed_row(what: &str, failure: String) -> Row {
    Row {
        scenario: what.to_owned(),
        checker: "(crashed)".to_owned(),
        checks: Vec::new(),
        explored: "-".to_owned(),
        hits: 0,
        reached: "-".to_owned(),
        result: Err(failure),
    }
}

/// For a build with a core mutant compiled in: prints which rows caught it, as
/// `real-core mutant NAME: caught by …` or `… MISSED`; returns whether it was caught.
///
/// | a failed row's message | counts as | listed as |
/// |---|---|---|
/// | names one of the invariants the mutant breaks | a catch | `CHECKER SCENARIO INV-n` |
/// | a refinement rejection (`…: refinement: step N (…)`) | a catch: the code took a step the spec does not enable, whether or not an invariant broke | `refinement step N in DRIVER` |
/// | anything else | no catch | under `other failures` |
pub fn print_core_mutant(mutant: &crate::core_mutants::CoreMutant, rows: &[Row]) -> bool {
    let expects: Vec<&str> = mutant.breaks.iter().map(|i| i.id()).collect();
    let mut by: Vec<String> = Vec::new();
    let mut other: Vec<String> = Vec::new();
    for r in rows {
        let Err(failure) = &r.result else { continue };
        if let Some(step) = refinement_rejection(failure) {
            by.push(step);
        } else if let Some(id) = reported_id(failure).filter(|_| mutant.caught_by(failure)) {
            by.push(format!("{} {} {id}", r.checker, r.scenario));
        } else {
            let id = reported_id(failure).unwrap_or_else(|| "no invariant".into());
            other.push(format!("{} {} {id}", r.checker, r.scenario));
        }
    }
    let verdict = if by.is_empty() { "MISSED" } else { "caught" };
    println!(
        "real-core mutant {} (expects {} or a refinement rejection): {verdict} by {} run(s): {}",
        mutant.name,
        expects.join(" or "),
        by.len(),
        by.join(" · ")
    );
    if !other.is_empty() {
        println!("  other failures: {}", other.join(" · "));
    }
    !by.is_empty()
}

/// A refinement rejection in a failure message (`DRIVER: refinement: step N (…) …`, see
/// [`crate::refine::Rejection`]), named by the step the spec refused and the driver whose
/// trace took it: `refinement step N in DRIVER`.
pub fn refinement_rejection(message: &str) -> Option<String> {
    const MARK: &str = "refinement: step ";
    let line = message.lines().find(|l| l.contains(MARK))?;
    let at = line.find(MARK)?;
    let digits: String = line[at + MARK.len()..].chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    let driver = line[..at].trim_end_matches([':', ' ']);
    let driver = if driver.is_empty() { "a trace" } else { driver };
    Some(format!("refinement step {digits} in {driver}"))
}

/// Progress on stderr: `[3/12] shuttle pct two-tasks`.
pub struct Progress {
    done: usize,
    total: usize,
    started: Instant,
}

impl Progress {
    /// A counter over `total` jobs.
    #[allow(clippy::disallowed_methods)] // progress is about real time
    pub fn new(total: usize) -> Self {
        Self { done: 0, total, started: Instant::now() }
    }

    /// Announces a job and runs it.
    #[allow(clippy::disallowed_methods)] // progress is about real time
    pub fn step<T>(&mut self, what: &str, f: impl FnOnce() -> T) -> T {
        self.done += 1;
        eprint!("[{:>2}/{}] {what} … ", self.done, self.total);
        let t = Instant::now();
        let out = f();
        eprintln!("{:.1}s", t.elapsed().as_secs_f64());
        out
    }

    /// Time since the start.
    pub fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// How much of its space a row's checker covers, from the checker's name:
///
/// | checker | coverage |
/// |---|---|
/// | stateright | exhaustive: every state of its finite abstract model |
/// | fair cycles | exhaustive: every cycle of the same model's state graph, under weak fairness |
/// | shuttle pct, shuttle random, proptest | sampled: so many random schedules or cases |
/// | shuttle dfs | capped: the first `SHUTTLE_DFS_MAX` schedules depth-first, not all of them |
/// | script, gate script | one schedule, arranged |
/// | crash points | every point of one script |
/// | refinement | sampled: the recorded traces of sampled and scripted runs |
pub fn coverage_of(checker: &str) -> &'static str {
    match checker {
        c if c.starts_with("stateright") || c == "fair cycles" => "exhaustive",
        c if c.starts_with("shuttle dfs") => "capped",
        c if c.starts_with("shuttle") || c.starts_with("proptest") => "sampled",
        c if c.starts_with("refinement") => "sampled",
        "crash points" => "every point",
        c if c.ends_with("script") => "one schedule",
        _ => "-",
    }
}

/// Renders the table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let head = ("scenario", "checker", "coverage", "invariants", "explored", "reached", "result");
    let line = |out: &mut String, c: (&str, &str, &str, &str, &str, &str, &str)| {
        let _ = writeln!(
            out,
            "{:<19} {:<16} {:<12} {:<34} {:<17} {:<58} {}",
            c.0, c.1, c.2, c.3, c.4, c.5, c.6
        );
    };
    line(&mut out, head);
    for row in rows {
        let ids: Vec<_> = row.checks.iter().map(|i| i.id()).collect();
        let result = match &row.result {
            Ok(()) => "pass".to_owned(),
            Err(e) => format!("FAIL: {}", e.lines().next().unwrap_or_default()),
        };
        let c = (
            &*row.scenario,
            &*row.checker,
            coverage_of(&row.checker),
            &*ids.join(" "),
            &*row.explored,
            &*row.reached,
            &*result,
        );
        line(&mut out, c);
    }
    out
}

/// Renders one line per invariant: where it was checked and how much was reached.
pub fn coverage(rows: &[Row]) -> String {
    let mut out = String::new();
    for inv in Invariant::ALL {
        let checking: Vec<&Row> = rows.iter().filter(|r| r.checks.contains(&inv)).collect();
        let hits: u64 = checking.iter().map(|r| r.hits).sum();
        let _ = writeln!(
            out,
            "{:<30} checked by {:>2} runs, reachability hits {hits}",
            inv.to_string(),
            checking.len()
        );
    }
    out
}

/// Prints one line per mutant (caught only if every checker run on it caught it with the
/// expected invariant) and the total; returns how many were missed.
pub fn print_mutants(catches: &[Catch]) -> usize {
    let mut histories: Vec<&str> = catches.iter().map(|c| c.history).collect();
    let number = |h: &str| h[1..].split('-').next().and_then(|n| n.parse::<u32>().ok());
    histories.sort_by_key(|h| (number(h), h.to_owned()));
    histories.dedup();
    let mut missed = 0;
    for history in &histories {
        let mine: Vec<&Catch> = catches.iter().filter(|c| c.history == *history).collect();
        let caught = mine.iter().all(|c| c.caught());
        missed += usize::from(!caught);
        let detail: Vec<String> = mine
            .iter()
            .map(|c| match &c.reported {
                Some(id) if c.caught() => format!("{} {id}", c.checker),
                Some(id) => format!("{} reported {id}, expected {}", c.checker, c.expected),
                None => format!("{} found nothing (expected {})", c.checker, c.expected),
            })
            .collect();
        let verdict = if caught { "caught" } else { "MISSED" };
        println!("mutant {history:<11} {verdict:<7} {}", detail.join(" · "));
    }
    println!("mutants caught: {}/{}", histories.len() - missed, histories.len());
    missed
}
