//! Running scenarios under shuttle, with iteration counts from the environment.
//!
//! `SHUTTLE_ITERATIONS` (default 2000) sets the PCT and random schedule counts;
//! `SHUTTLE_DFS_MAX` (default 100000) caps exhaustive DFS.

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
    /// Every schedule, depth first.
    Dfs,
}

/// Reads a count from the environment, with a default.
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Explores `scenario` against `subject` under shuttle; panics on a violation.
pub fn shuttle(scenario: &'static Scenario, subject: Subject, strategy: Strategy) -> Reach {
    let total = Arc::new(Mutex::new(Reach::default()));
    let sink = Arc::clone(&total);
    let body = move || {
        let reach = sessionlock::sync::shuttle_scope(|| harness::run(scenario, subject));
        sink.lock().unwrap_or_else(|e| e.into_inner()).add(&reach);
    };
    let iterations = env_count("SHUTTLE_ITERATIONS", 2000);
    match strategy {
        Strategy::Pct { depth } => shuttle::check_pct(body, iterations, depth),
        Strategy::Random => shuttle::check_random(body, iterations),
        Strategy::Dfs => shuttle::check_dfs(body, Some(env_count("SHUTTLE_DFS_MAX", 100_000))),
    }
    *total.lock().unwrap_or_else(|e| e.into_inner())
}

/// Replays one pinned shuttle schedule of `scenario` against `subject`.
pub fn replay(scenario: &'static Scenario, subject: Subject, schedule: &str) {
    shuttle::replay(
        move || {
            sessionlock::sync::shuttle_scope(|| harness::run(scenario, subject));
        },
        schedule,
    );
}
