//! Crash points: a process killed at every filesystem step of acquire, release and
//! takeover, before and right after the step takes effect. After each, two fresh
//! processes contend under the ghost and must acquire at once, with the clock still:
//! whatever the crash left is proven stale and broken.
#![cfg(not(any(sessionlock_loom, sessionlock_shuttle)))]

use sessionlock_model::fault::CrashWhen;
use sessionlock_model::fault::points::{Script, Strike, enumerate, enumerate_on};
use sessionlock_model::{Mutant, Subject};

fn crash_points(script: Script) {
    let mut total = 0;
    for when in [CrashWhen::Before, CrashWhen::After] {
        let report = enumerate(script, Strike::Crash(when)).unwrap_or_else(|e| panic!("{e}"));
        println!("crash points {script:?} {when:?}: {} exercised ({report:?})", report.points);
        assert!(report.points > 0, "{script:?} {when:?}: no crash point fired");
        total += report.points;
    }
    println!("crash points {script:?}: {total} exercised");
}

/// A holder crashes at each step of its release, with a sibling task queued behind it,
/// or the sibling's acquire and release; fresh processes recover at once.
/// Checks: INV-1, INV-4
#[test]
fn crash_points_holder_releasing() {
    crash_points(Script::HolderReleasing);
}

/// A contender crashes at each step of breaking a dead holder's file, publishing its
/// own and releasing it; fresh processes recover at once.
/// Checks: INV-1, INV-4
#[test]
fn crash_points_breaker_of_dead_holder() {
    crash_points(Script::BreakerOfDeadHolder);
}

/// A contender crashes at each step of waiting out a live holder, taking over after its
/// release, publishing and releasing; fresh processes recover at once.
/// Checks: INV-1, INV-4
#[test]
fn crash_points_contender_publishing() {
    crash_points(Script::ContenderPublishing);
}

/// The harness has teeth: H8, which takes a file naming its own pid for a live holder,
/// never recovers when its pid comes back after a crash.
/// Checks: INV-4
#[test]
fn crash_points_catch_h8_waits_on_itself() {
    let strike = Strike::Crash(CrashWhen::After);
    let error =
        enumerate_on(Subject::Mutant(Mutant::H8WaitsOnItself), Script::HolderReleasing, strike)
            .expect_err("the H8 mutant must fail to recover");
    assert!(error.contains("INV-4"), "{error}");
}
