//! The seed race (H1) as a scripted gate test: the fix waits in memory and acquires with
//! no filesystem polls and no time passing; the pre-fix order polls and times out.
#![cfg(not(sessionlock_loom))]

use std::time::Duration;

use sessionlock_model::gate::seed_race;
use sessionlock_model::{Invariant, Mutant, Subject};

/// Reproduces H1 against the real core.
/// Checks: INV-3, INV-5
#[test]
fn gate_h1_core_waits_in_memory() {
    let outcome = seed_race(Subject::Core);
    assert_eq!(outcome.polls_while_frozen, 0, "{outcome:?}");
    assert_eq!(outcome.elapsed, Duration::ZERO, "{outcome:?}");
    assert_eq!(outcome.result, Ok(()), "{outcome:?}");
    assert!(outcome.violations.is_empty(), "{outcome:?}");
}

/// Reproduces H1 against the pre-fix release order.
/// Checks: INV-3
#[test]
fn gate_h1_mutant_polls_then_times_out() {
    let outcome = seed_race(Subject::Mutant(Mutant::H1ReleaseOrder));
    assert!(outcome.polls_while_frozen > 0, "{outcome:?}");
    assert!(outcome.timed_out, "{outcome:?}");
    assert_eq!(outcome.elapsed, Duration::from_secs(10), "{outcome:?}");
    assert!(
        outcome.violations.contains(&Invariant::NoSpuriousTimeout),
        "{outcome:?}"
    );
}
