//! Pinned shuttle schedules: every failure shuttle found, replayed on every run.
#![cfg(not(sessionlock_loom))]

use sessionlock_model::checkers::replay;
use sessionlock_model::scenarios::TWO_TASKS;
use sessionlock_model::{Mutant, Subject};

/// A schedule is a path through the program's scheduling points, so any change to the
/// core's or the harness's steps invalidates it; `shuttle_catches_h1_release_order` then
/// prints a fresh one to pin here:
/// `cargo test --release -p sessionlock-model --test shuttle_core
/// shuttle_catches_h1_release_order -- --nocapture 2>&1 | grep -A3 'failing schedule'`.
///
/// The schedule on which shuttle's PCT first found H1 (found by
/// `shuttle_catches_h1_release_order`): T2 is handed the turn by the mutant's early
/// entry removal and publishes while T1 still holds its file.
const H1_SCHEDULE: &str = concat!(
    "91027c8d8890b8b1f0828cdc0100004802499224499224495292249224254992244992244992",
    "24922449499224499224499224499224499204000000",
);

/// Reproduces H1 from its pinned schedule.
/// Checks: INV-3
#[test]
#[should_panic(expected = "INV-3 NoSpuriousTimeout")]
fn shuttle_replay_h1_release_order() {
    replay(&TWO_TASKS, Subject::Mutant(Mutant::H1ReleaseOrder), H1_SCHEDULE);
}
