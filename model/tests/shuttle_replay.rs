//! Pinned shuttle schedules: every failure shuttle found, replayed on every run.
#![cfg(not(sessionlock_loom))]

use sessionlock_model::checkers::replay;
use sessionlock_model::scenarios::{AGE_TAKEOVER, CRASH_TWO_BREAKERS, DRIFT_TWO_TASKS, TWO_TASKS};
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
    "91026abb87a187b898f1d12e000048922449922449202992244992a428499204922449922449",
    "9224499224499224499224010000",
);

/// Reproduces H1 from its pinned schedule.
/// Checks: INV-3
#[test]
#[should_panic(expected = "INV-3 NoSpuriousTimeout")]
fn shuttle_replay_h1_release_order() {
    replay(&TWO_TASKS, Subject::Mutant(Mutant::H1ReleaseOrder), H1_SCHEDULE);
}

/// Reproduces H1's own-pid-orphan variant from the schedule on which shuttle first caught it (`history_zoo::zoo_h1_own_pid_orphan`).
/// Checks: INV-2
#[test]
#[should_panic(expected = "INV-2 NoLiveRemoval")]
fn shuttle_replay_h1_own_pid_orphan() {
    let schedule = concat!(
        "910248f5b498cdd6a2bca9e201000040a22449a24849124951142592a4485124258a14419204",
        "0000",
    );
    replay(&TWO_TASKS, Subject::Mutant(Mutant::H1OwnPidOrphan), schedule);
}

/// Reproduces H2 from the schedule on which shuttle first caught it (`history_zoo::zoo_h2_unlocked_break`).
/// Checks: INV-2
#[test]
#[should_panic(expected = "INV-2 NoLiveRemoval")]
fn shuttle_replay_h2_unlocked_break() {
    let schedule = concat!(
        "91029d01d2ae9df4b2fafb9763000048900441a0008a9045892449891229cbb44992a4288aa4",
        "28c9126cdbb64d9aa64ddb266d9aa669d224699a2669da2669db846ddbb66ddb0000",
    );
    replay(&CRASH_TWO_BREAKERS, Subject::Mutant(Mutant::H2UnlockedBreak), schedule);
}

/// Reproduces H4 from the schedule on which shuttle first caught it (`history_zoo::zoo_h4_compare_then_unlink`).
/// Checks: INV-2
#[test]
#[should_panic(expected = "INV-2 NoLiveRemoval")]
fn shuttle_replay_h4_compare_then_unlink() {
    let schedule = concat!(
        "9102ab01d3daf085a9b2e2e79f010000000209110449d8b46ddb34658ab46cdba64c8a1645d3",
        "962c92a44491a24449224591a404922449922449922449922449922449922449922449922449",
        "000000",
    );
    replay(&CRASH_TWO_BREAKERS, Subject::Mutant(Mutant::H4CompareThenUnlink), schedule);
}

/// Reproduces H5 from the schedule on which shuttle first caught it (`history_zoo::zoo_h5_old_holder_deletes_successor`).
/// Checks: INV-2
#[test]
#[should_panic(expected = "INV-2 NoLiveRemoval")]
fn shuttle_replay_h5_old_holder_deletes_successor() {
    let schedule = concat!(
        "910259c8ffd48eabe496ea73000008802849a22851a22892a4284a24254a244992242549a444",
        "8a20499224000000",
    );
    replay(&AGE_TAKEOVER, Subject::Mutant(Mutant::H5OldHolderDeletesSuccessor), schedule);
}

/// Reproduces H6 from the schedule on which shuttle first caught it (`history_zoo::zoo_h6_age_is_death`).
/// Checks: INV-2
#[test]
#[should_panic(expected = "INV-2 NoLiveRemoval")]
fn shuttle_replay_h6_age_is_death() {
    let schedule = concat!(
        "910258a1e689e5a6eba5d51a00004810040922498a12459224499214294a244952a42492a244",
        "51124892040000",
    );
    replay(&AGE_TAKEOVER, Subject::Mutant(Mutant::H6AgeIsDeath), schedule);
}

/// Reproduces H14 from the schedule on which shuttle first caught it (`history_zoo::zoo_h14_process_reentry`).
/// Checks: INV-7
#[test]
#[should_panic(expected = "INV-7 Reentrancy")]
fn shuttle_replay_h14_process_reentry() {
    let schedule = "91023dfecd9496bec5e8e368000040a2244992284a1245899408922449922449020000";
    replay(&TWO_TASKS, Subject::Mutant(Mutant::H14ProcessReentry), schedule);
}

/// Reproduces H17 from the schedule on which shuttle first caught it (`history_zoo::zoo_h17_inode_only`).
/// Checks: INV-5
#[test]
#[should_panic(expected = "INV-5 NoLeak")]
fn shuttle_replay_h17_inode_only() {
    let schedule = concat!(
        "9102800180f6e79393e3b0bfd401000000a04889a44889924892244992244992244551922449",
        "922449922449922449922449922449922449922449000000",
    );
    replay(&DRIFT_TWO_TASKS, Subject::Mutant(Mutant::H17InodeOnly), schedule);
}
