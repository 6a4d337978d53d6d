//! Pinned shuttle schedules: every failure shuttle found, kept so that it replays on every
//! run (`model/tests/shuttle_replay.rs`) and so that `explain NAME` can print it as a
//! numbered interleaving ([`crate::counterexample`]).
//!
//! A schedule is a path through the program's scheduling points, so a change to the core's
//! or the harness's steps can invalidate one (the replay then fails with "schedule ended
//! early" or "task is not runnable" instead of the expected invariant). Each entry names
//! the test that found its schedule; `python3 model/repin-schedules.py` reruns those and
//! pins the fresh schedules here.

use crate::checkers;
use crate::harness::Scenario;
use crate::invariant::Invariant;
use crate::scenarios::{AGE_TAKEOVER, CRASH_TWO_BREAKERS, DRIFT_TWO_TASKS, TWO_TASKS};
use crate::subject::{Mutant, Subject};

/// A failing schedule shuttle found for a mutant.
pub struct Pinned {
    /// The name `explain` knows it by, if it explains it (H1 has the gate's script).
    pub explain: Option<&'static str>,
    /// What the mutant does, for `explain`'s list.
    pub what: &'static str,
    /// The mutant.
    pub mutant: Mutant,
    /// The scenario the schedule runs.
    pub scenario: &'static Scenario,
    /// The invariant shuttle found broken.
    pub breaks: Invariant,
    /// The test that found the schedule (`FILE::FUNCTION` under `model/tests/`).
    pub found_by: &'static str,
    /// The schedule, as shuttle prints it.
    pub schedule: &'static str,
}

/// Every pinned schedule.
pub static PINNED: &[Pinned] = &[
    Pinned {
        explain: None,
        what: "the pre-fix release order",
        mutant: Mutant::H1ReleaseOrder,
        scenario: &TWO_TASKS,
        breaks: Invariant::NoSpuriousTimeout,
        found_by: "shuttle_core::shuttle_catches_h1_release_order",
        schedule: concat!(
            "91028301f6b7a7b5aaa080b8bc0100004024499224494a942449924492244992922449922449",
            "922449124992a424499224499224499224499224499200000000",
        ),
    },
    Pinned {
        explain: Some("H1-variant"),
        what: "H1's own-pid-orphan variant: two holders",
        mutant: Mutant::H1OwnPidOrphan,
        scenario: &TWO_TASKS,
        breaks: Invariant::NoLiveRemoval,
        found_by: "history_zoo::zoo_h1_own_pid_orphan",
        schedule: concat!(
            "910251ee939a80dadbd2c8f40100000894449192488a144951924491122992a42451224952a4",
            "409224000000",
        ),
    },
    Pinned {
        explain: Some("H2-core"),
        what: "a stale lock broken without the kernel lock (the model of the core)",
        mutant: Mutant::H2UnlockedBreak,
        scenario: &CRASH_TWO_BREAKERS,
        breaks: Invariant::NoLiveRemoval,
        found_by: "history_zoo::zoo_h2_unlocked_break",
        schedule: concat!(
            "9102a001c5aaad9590f5f594a50100004000490a222411126459b22c5b16494b344d8a962451",
            "024dd3244992244992344d9b344d93364ddbb66ddbb449dab4699b266cdbb66ddbb60100",
        ),
    },
    Pinned {
        explain: Some("H4-core"),
        what: "compare, then unlink by name (the model of the core)",
        mutant: Mutant::H4CompareThenUnlink,
        scenario: &CRASH_TWO_BREAKERS,
        breaks: Invariant::NoLiveRemoval,
        found_by: "history_zoo::zoo_h4_compare_then_unlink",
        schedule: concat!(
            "9102ab0196ffcf8fc1d28ffa760000409024091008dba22dd2b229db146dca262d5ba64992a4",
            "4849a429dbb244ca8669db266dd3a4499b366d93b66dd2b6699a244992244992244992244900",
            "0000",
        ),
    },
    Pinned {
        explain: Some("H5-core"),
        what: "an old holder deletes its successor's file (the model of the core)",
        mutant: Mutant::H5OldHolderDeletesSuccessor,
        scenario: &AGE_TAKEOVER,
        breaks: Invariant::NoLiveRemoval,
        found_by: "history_zoo::zoo_h5_old_holder_deletes_successor",
        schedule: concat!(
            "910257ef9eacb090ee93c852000000204551a42849144591a4489114299224494a2225512445",
            "51144892000000",
        ),
    },
    Pinned {
        explain: Some("H6"),
        what: "age taken as proof of death",
        mutant: Mutant::H6AgeIsDeath,
        scenario: &AGE_TAKEOVER,
        breaks: Invariant::NoLiveRemoval,
        found_by: "history_zoo::zoo_h6_age_is_death",
        schedule: concat!(
            "9102658fa8f8a59ae1b191cd01000048100441944489242991124552a42891244992244952a4",
            "48499224822449922449020000",
        ),
    },
    Pinned {
        explain: Some("H14"),
        what: "re-entry granted to the process, not the task",
        mutant: Mutant::H14ProcessReentry,
        scenario: &TWO_TASKS,
        breaks: Invariant::Reentrancy,
        found_by: "history_zoo::zoo_h14_process_reentry",
        schedule: "91023fb49c9d9499fef6fd36000008924451142549122952924890244992244992000000",
    },
    Pinned {
        explain: Some("H17"),
        what: "a lock judged by its inode alone, across a drifted path",
        mutant: Mutant::H17InodeOnly,
        scenario: &DRIFT_TWO_TASKS,
        breaks: Invariant::NoLeak,
        found_by: "history_zoo::zoo_h17_inode_only",
        schedule: concat!(
            "91028501cfc5a5e8f8bcbcafdb0100000010494aa4488a144989122952144991244992222549",
            "9224499224499224499224499224499224499224499224000000",
        ),
    },
];

/// The pinned schedule of `mutant`, if shuttle found one.
pub fn of(mutant: Mutant) -> Option<&'static Pinned> {
    PINNED.iter().find(|p| p.mutant == mutant)
}

impl Pinned {
    /// Replays the schedule; panics, naming the invariant, when the mutant breaks it.
    pub fn replay(&self) {
        checkers::replay(self.scenario, Subject::Mutant(self.mutant), self.schedule);
    }
}
