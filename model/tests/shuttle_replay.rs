//! Pinned shuttle schedules: every failure shuttle found, replayed on every run.
#![cfg(not(sessionlock_loom))]

use sessionlock_model::checkers::replay;
use sessionlock_model::scenarios::TWO_TASKS;
use sessionlock_model::{Mutant, Subject};

/// A schedule is a path through the program's scheduling points, so any change to the
/// core's or the harness's steps invalidates it; `shuttle_catches_h1_release_order` then
/// prints a fresh one to pin here.
///
/// The schedule on which shuttle's PCT first found H1 (found by
/// `shuttle_catches_h1_release_order`): T2 is handed the turn by the mutant's early
/// entry removal and publishes while T1 still holds its file.
const H1_SCHEDULE: &str = concat!(
    "91029e01c0dca2eb9da0e2e179000048a0489224499224499224499224499294244992244992",
    "2449922449922492244952922449922449922449922449922449922449922401000000",
);

/// Reproduces H1 from its pinned schedule.
/// Checks: INV-3
#[test]
#[should_panic(expected = "INV-3 NoSpuriousTimeout")]
fn shuttle_replay_h1_release_order() {
    replay(&TWO_TASKS, Subject::Mutant(Mutant::H1ReleaseOrder), H1_SCHEDULE);
}
