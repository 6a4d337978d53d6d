//! The fenced store (INV-8 FencedWrites), explored exhaustively: zombie holders (a
//! session ended without the holder noticing), server restarts and crashes, against
//! writes checked at commit. The real fence keeps INV-8 and reaches every interesting
//! state; each mutant (no check, no share lock, a crash that rolls the sequence back) is
//! caught with INV-8.

use sessionlock_spec::fence::{FenceModel, FenceMutant, INV8, check_fence};

/// Zombie holders, server restarts and crashes never get a superseded write committed,
/// and the check reaches commits, rejections, takeovers, restarts and crashes while
/// holding and writes in flight after their session ended.
/// Checks: INV-8
#[test]
fn fenced_writes_hold_with_zombies_and_restarts() {
    for holders in [2, 3] {
        let report = check_fence(&FenceModel { holders, ..FenceModel::default() });
        eprintln!("{}: {} states", report.name, report.unique_states);
        assert!(report.violated.is_empty(), "{report:?}");
        assert!(report.reached.iter().all(|(_, r)| *r), "not reached: {:?}", report.reached);
        assert!(report.unique_states > 100, "{report:?}");
    }
}

/// Each fence mutant is caught with INV-8, and its counterexample has a takeover or a
/// zombie in it.
/// Checks: INV-8
#[test]
fn every_fence_mutant_is_caught() {
    for mutant in FenceMutant::ALL {
        let report = check_fence(&FenceModel { mutant: Some(mutant), ..FenceModel::default() });
        assert_eq!(
            report.violated,
            vec![INV8.to_owned()],
            "{} not caught: {report:?}",
            mutant.name()
        );
        let path = report.counterexample.unwrap_or_default();
        eprintln!("{}: {path}", report.name);
        let fault = ["Zombie", "Restart", "Crash"].iter().any(|f| path.contains(f));
        assert!(fault, "{path}");
        assert!(mutant.invariant() == "INV-8");
    }
}
