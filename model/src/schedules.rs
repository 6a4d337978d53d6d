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
            "91027effb6b5fad8c1d0dc7e0000801425492249529224499224892449922449922449929424",
            "49024992244992244992244992244992244912000000",
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
            "91025ba2cb9fc0db8299d81a000040a44892a4248912298a22298922499292244912294a2449",
            "529224499200000000",
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
            "9102fe01ccd782a5c19bbdde8f0100004000458924051120258a162d529469d99625dba46cca",
            "a62859b62cd2b66cdb9245d1b4298a94658b142991b6244bb62d499224499664cbb66dcbb62d",
            "5bb265599225d9b224db962c5b306cdbb66ddbb66ddbb66ddbb66ddbb66ddb060000",
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
            "9102de01e5f0cff0a6c4fecb7e00000880404900649122454a166dd9b24dd2a648592645ca92",
            "4cdab628529244dab460daa6499a2469dbb64d9a34499ba44d9aa64992266ddbb66ddb346d9b",
            "2649da266dd8b66ddbb66ddbb66ddbb66ddb060000",
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
            "91026787c0d4a4d4dab3c562000008004549242952a4288a124992a4284aa4285122494a2449",
            "92a22452120592244992000000",
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
            "91026dde8887cfa090a28da801000040004989224549144552944452244989a4484a22498994",
            "449124458aa248921429822449020000",
        ),
    },
    Pinned {
        explain: Some("H14"),
        what: "re-entry granted to the process, not the task",
        mutant: Mutant::H14ProcessReentry,
        scenario: &TWO_TASKS,
        breaks: Invariant::Reentrancy,
        found_by: "history_zoo::zoo_h14_process_reentry",
        schedule: "910242b5a2c09da6e39c914b000080224992244992242592a4285292245224489224010000",
    },
    Pinned {
        explain: Some("H17"),
        what: "a lock judged by its inode alone, across a drifted path",
        mutant: Mutant::H17InodeOnly,
        scenario: &DRIFT_TWO_TASKS,
        breaks: Invariant::NoLeak,
        found_by: "history_zoo::zoo_h17_inode_only",
        schedule: concat!(
            "91028601aab69ee0baa0ace16500000002254994449294249292485294244992245124489224",
            "4992244992244992244992244992244992244992244912000000",
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
