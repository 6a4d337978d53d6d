//! `explain` for the protocol mutants: each prints the spec checker's counterexample, which
//! names the invariant the mutant is expected to break, and is the same on every run (the
//! shortest path is found breadth-first; the lasso from a fixed exploration order).
#![cfg(sessionlock_shuttle)]

use sessionlock_model::counterexample::spec::{NAMES, find};
use sessionlock_spec::Mutant;
use sessionlock_spec::fence::FenceMutant;

fn expected_invariant(name: &str) -> &'static str {
    Mutant::ALL
        .iter()
        .map(|m| (m.name(), m.invariant()))
        .chain(FenceMutant::ALL.iter().map(|m| (m.name(), m.invariant())))
        .find(|(n, _)| *n == name)
        .map(|(_, inv)| inv)
        .unwrap_or_else(|| panic!("{name} is no spec mutant"))
}

/// Every protocol and fence mutant `explain` lists has a counterexample that breaks its
/// invariant, printed as numbered steps.
/// Checks: INV-1, INV-2, INV-3, INV-4, INV-8
#[test]
fn every_spec_mutant_explains_itself() {
    assert!(NAMES.len() >= 9, "the protocol mutants but H1 and H7, and the fence mutants");
    for (name, _) in NAMES.iter() {
        let text = find(name).expect("a listed name").unwrap_or_else(|e| panic!("{e}"));
        let first = text.lines().next().unwrap_or_default();
        assert!(first.starts_with(&format!("{name}: breaks ")), "{text}");
        assert!(
            first.contains(expected_invariant(name)),
            "{name} should break its own invariant: {first}"
        );
        assert!(text.lines().any(|l| l.trim_start().starts_with("1.")), "numbered steps: {text}");
    }
}

/// The same name gives the same counterexample twice, so it can be pasted into a test.
/// Checks: INV-1
#[test]
fn a_spec_counterexample_is_reproducible() {
    let once = find("H2").expect("listed").expect("caught");
    let again = find("H2").expect("listed").expect("caught");
    assert_eq!(once, again);
}

/// A name that is no spec mutant is left to the core's scripts.
#[test]
fn other_names_are_not_the_specs() {
    assert!(find("H1").is_none(), "H1 is explained by the seed-race script");
    assert!(find("H99").is_none());
}
