//! Pinned shuttle schedules: every failure shuttle found, replayed on every run.
//!
//! A schedule is a path through the program's scheduling points, so a change to the
//! core's or the harness's steps can invalidate one (the replay then fails with "schedule
//! ended early" or "task is not runnable" instead of the expected invariant). Each test
//! names the test that found its schedule; `python3 model/repin-schedules.py` reruns
//! those and pins the fresh schedules here.
#![cfg(not(sessionlock_loom))]

use sessionlock_model::checkers::replay;
use sessionlock_model::scenarios::{AGE_TAKEOVER, CRASH_TWO_BREAKERS, DRIFT_TWO_TASKS, TWO_TASKS};
use sessionlock_model::{Mutant, Subject};

/// Reproduces H1 from the schedule on which shuttle first caught it
/// (`shuttle_core::shuttle_catches_h1_release_order`): T2 is handed the turn by the
/// mutant's early entry removal and publishes while T1 still holds its file.
/// Checks: INV-3
#[test]
#[should_panic(expected = "INV-3 NoSpuriousTimeout")]
fn shuttle_replay_h1_release_order() {
    let schedule = concat!(
        "91028301f6b7a7b5aaa080b8bc0100004024499224494a942449924492244992922449922449",
        "922449124992a424499224499224499224499224499200000000",
    );
    replay(&TWO_TASKS, Subject::Mutant(Mutant::H1ReleaseOrder), schedule);
}

/// Reproduces H1's own-pid-orphan variant from the schedule on which shuttle first caught it (`history_zoo::zoo_h1_own_pid_orphan`).
/// Checks: INV-2
#[test]
#[should_panic(expected = "INV-2 NoLiveRemoval")]
fn shuttle_replay_h1_own_pid_orphan() {
    let schedule = concat!(
        "910251ee939a80dadbd2c8f40100000894449192488a144951924491122992a42451224952a4",
        "409224000000",
    );
    replay(&TWO_TASKS, Subject::Mutant(Mutant::H1OwnPidOrphan), schedule);
}

/// Reproduces H2 from the schedule on which shuttle first caught it (`history_zoo::zoo_h2_unlocked_break`).
/// Checks: INV-2
#[test]
#[should_panic(expected = "INV-2 NoLiveRemoval")]
fn shuttle_replay_h2_unlocked_break() {
    let schedule = concat!(
        "9102a001c5aaad9590f5f594a50100004000490a222411126459b22c5b16494b344d8a962451",
        "024dd3244992244992344d9b344d93364ddbb66ddbb449dab4699b266cdbb66ddbb60100",
    );
    replay(&CRASH_TWO_BREAKERS, Subject::Mutant(Mutant::H2UnlockedBreak), schedule);
}

/// Reproduces H4 from the schedule on which shuttle first caught it (`history_zoo::zoo_h4_compare_then_unlink`).
/// Checks: INV-2
#[test]
#[should_panic(expected = "INV-2 NoLiveRemoval")]
fn shuttle_replay_h4_compare_then_unlink() {
    let schedule = concat!(
        "9102ab0196ffcf8fc1d28ffa760000409024091008dba22dd2b229db146dca262d5ba64992a4",
        "4849a429dbb244ca8669db266dd3a4499b366d93b66dd2b6699a244992244992244992244900",
        "0000",
    );
    replay(&CRASH_TWO_BREAKERS, Subject::Mutant(Mutant::H4CompareThenUnlink), schedule);
}

/// Reproduces H5 from the schedule on which shuttle first caught it (`history_zoo::zoo_h5_old_holder_deletes_successor`).
/// Checks: INV-2
#[test]
#[should_panic(expected = "INV-2 NoLiveRemoval")]
fn shuttle_replay_h5_old_holder_deletes_successor() {
    let schedule = concat!(
        "910257ef9eacb090ee93c852000000204551a42849144591a4489114299224494a2225512445",
        "51144892000000",
    );
    replay(&AGE_TAKEOVER, Subject::Mutant(Mutant::H5OldHolderDeletesSuccessor), schedule);
}

/// Reproduces H6 from the schedule on which shuttle first caught it (`history_zoo::zoo_h6_age_is_death`).
/// Checks: INV-2
#[test]
#[should_panic(expected = "INV-2 NoLiveRemoval")]
fn shuttle_replay_h6_age_is_death() {
    let schedule = concat!(
        "9102658fa8f8a59ae1b191cd01000048100441944489242991124552a42891244992244952a4",
        "48499224822449922449020000",
    );
    replay(&AGE_TAKEOVER, Subject::Mutant(Mutant::H6AgeIsDeath), schedule);
}

/// Reproduces H14 from the schedule on which shuttle first caught it (`history_zoo::zoo_h14_process_reentry`).
/// Checks: INV-7
#[test]
#[should_panic(expected = "INV-7 Reentrancy")]
fn shuttle_replay_h14_process_reentry() {
    let schedule = "91023fb49c9d9499fef6fd36000008924451142549122952924890244992244992000000";
    replay(&TWO_TASKS, Subject::Mutant(Mutant::H14ProcessReentry), schedule);
}

/// Reproduces H17 from the schedule on which shuttle first caught it (`history_zoo::zoo_h17_inode_only`).
/// Checks: INV-5
#[test]
#[should_panic(expected = "INV-5 NoLeak")]
fn shuttle_replay_h17_inode_only() {
    let schedule = concat!(
        "91028501cfc5a5e8f8bcbcafdb0100000010494aa4488a144989122952144991244992222549",
        "9224499224499224499224499224499224499224499224000000",
    );
    replay(&DRIFT_TWO_TASKS, Subject::Mutant(Mutant::H17InodeOnly), schedule);
}
