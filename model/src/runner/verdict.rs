//! What a checker's run comes to: a [`Row`] of the table, or a mutant's [`Catch`]; and what
//! every row builder uses to make them.

use crate::invariant::Invariant;
use crate::observe::{Reach, Reachable};

/// One row of the report.
#[derive(Debug)]
pub struct Row {
    /// The scenario, e.g. `two-tasks`.
    pub scenario: String,
    /// The checker and strategy, e.g. `shuttle pct`.
    pub checker: String,
    /// Invariants checked.
    pub checks: Vec<Invariant>,
    /// Executions, cases or states explored.
    pub explored: String,
    /// Reachability hits, for the per-invariant summary.
    pub hits: u64,
    /// A rendering of what was reached.
    pub reached: String,
    /// `Ok` or the failure.
    pub result: Result<(), String>,
}

/// One checker's verdict on one mutant.
#[derive(Debug)]
pub struct Catch {
    /// The history id, e.g. `H1`.
    pub history: &'static str,
    /// The checker.
    pub checker: &'static str,
    /// The invariant it had to report (`INV-2 or INV-5`: any of them).
    pub expected: String,
    /// The invariant id it reported, if it failed at all.
    pub reported: Option<String>,
}

impl Catch {
    /// Whether the checker failed the mutant with an expected invariant.
    pub fn caught(&self) -> bool {
        self.expected.split(" or ").any(|id| self.reported.as_deref() == Some(id))
    }
}

/// Runs `f`, catching a panic as its message; a checker's deadlock or budget overrun is
/// named as the invariant it breaks ([`crate::failure::named`]).
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    crate::failure::catch(f)
}

/// The invariant id named in a failure message, if any.
pub fn reported_id(message: &str) -> Option<String> {
    Invariant::in_message(message).map(|inv| inv.id().to_owned())
}

/// Renders a [`Reach`] compactly.
pub fn render_reach(r: &Reach) -> String {
    Reachable::ALL
        .iter()
        .filter(|s| r.count(**s) > 0)
        .map(|s| format!("{s} {}", r.count(*s)))
        .collect::<Vec<_>>()
        .join(", ")
}
