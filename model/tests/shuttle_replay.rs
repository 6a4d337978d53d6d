//! Pinned shuttle schedules: every failure shuttle found, replayed on every run.
#![cfg(not(sessionlock_loom))]

use sessionlock_model::checkers::replay;
use sessionlock_model::scenarios::TWO_TASKS;
use sessionlock_model::{Mutant, Subject};

/// The schedule on which shuttle's PCT first found H1 (found by
/// `shuttle_catches_h1_release_order`): T2 is handed the turn by the mutant's early
/// entry removal and publishes while T1 still holds its file.
const H1_SCHEDULE: &str = concat!(
    "91029801a789a192aaffea80ed0100008024494a922449224992244992244992244952922449",
    "922449922449922449922492244992242549922449922449922449922449000000",
);

/// Reproduces H1 from its pinned schedule.
/// Checks: INV-3
#[test]
#[should_panic(expected = "INV-3 NoSpuriousTimeout")]
fn shuttle_replay_h1_release_order() {
    replay(
        &TWO_TASKS,
        Subject::Mutant(Mutant::H1ReleaseOrder),
        H1_SCHEDULE,
    );
}
