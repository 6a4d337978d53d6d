//! Pinned shuttle schedules (`sessionlock_model::schedules`): every failure shuttle found,
//! replayed on every run. Each test expects its mutant's invariant to break.
#![cfg(sessionlock_shuttle)]

use sessionlock_model::checkers::sequential;
use sessionlock_model::counterexample;
use sessionlock_model::failure::catch;
use sessionlock_model::schedules::{PINNED, Pinned, of};
use sessionlock_model::{Invariant, Mutant};

fn pinned(mutant: Mutant) -> &'static Pinned {
    of(mutant).unwrap_or_else(|| panic!("no pinned schedule for {mutant:?}"))
}

/// Every pinned schedule, the ones `explain` prints included, still breaks the invariant
/// it names.
/// Checks: INV-2, INV-3, INV-5, INV-7
#[test]
fn every_pinned_schedule_breaks_its_invariant() {
    for p in PINNED {
        let failure = catch(|| p.replay()).expect_err(p.found_by);
        assert_eq!(Invariant::named_in(&failure), Some(p.breaks), "{}: {failure}", p.found_by);
    }
}

/// Reproduces H1 from the schedule on which shuttle first caught it
/// (`shuttle_core::shuttle_catches_h1_release_order`): T2 is handed the turn by the
/// mutant's early entry removal and publishes while T1 still holds its file.
/// Checks: INV-3
#[test]
#[should_panic(expected = "INV-3 NoSpuriousTimeout")]
fn shuttle_replay_h1_release_order() {
    pinned(Mutant::H1ReleaseOrder).replay();
}

/// Reproduces H1's own-pid-orphan variant from the schedule on which shuttle first caught it (`history_zoo::zoo_h1_own_pid_orphan`).
/// Checks: INV-2
#[test]
#[should_panic(expected = "INV-2 NoLiveRemoval")]
fn shuttle_replay_h1_own_pid_orphan() {
    pinned(Mutant::H1OwnPidOrphan).replay();
}

/// Reproduces H2 from the schedule on which shuttle first caught it (`history_zoo::zoo_h2_unlocked_break`).
/// Checks: INV-2
#[test]
#[should_panic(expected = "INV-2 NoLiveRemoval")]
fn shuttle_replay_h2_unlocked_break() {
    pinned(Mutant::H2UnlockedBreak).replay();
}

/// Reproduces H4 from the schedule on which shuttle first caught it (`history_zoo::zoo_h4_compare_then_unlink`).
/// Checks: INV-2
#[test]
#[should_panic(expected = "INV-2 NoLiveRemoval")]
fn shuttle_replay_h4_compare_then_unlink() {
    pinned(Mutant::H4CompareThenUnlink).replay();
}

/// Reproduces H5 from the schedule on which shuttle first caught it (`history_zoo::zoo_h5_old_holder_deletes_successor`).
/// Checks: INV-2
#[test]
#[should_panic(expected = "INV-2 NoLiveRemoval")]
fn shuttle_replay_h5_old_holder_deletes_successor() {
    pinned(Mutant::H5OldHolderDeletesSuccessor).replay();
}

/// Reproduces H6 from the schedule on which shuttle first caught it (`history_zoo::zoo_h6_age_is_death`).
/// Checks: INV-2
#[test]
#[should_panic(expected = "INV-2 NoLiveRemoval")]
fn shuttle_replay_h6_age_is_death() {
    pinned(Mutant::H6AgeIsDeath).replay();
}

/// Reproduces H14 from the schedule on which shuttle first caught it (`history_zoo::zoo_h14_process_reentry`).
/// Checks: INV-7
#[test]
#[should_panic(expected = "INV-7 Reentrancy")]
fn shuttle_replay_h14_process_reentry() {
    pinned(Mutant::H14ProcessReentry).replay();
}

/// Reproduces H17 from the schedule on which shuttle first caught it (`history_zoo::zoo_h17_inode_only`).
/// Checks: INV-5
#[test]
#[should_panic(expected = "INV-5 NoLeak")]
fn shuttle_replay_h17_inode_only() {
    pinned(Mutant::H17InodeOnly).replay();
}

/// `explain` prints every pinned schedule it names as numbered steps that end where the
/// mutant's invariant breaks.
/// Checks: INV-2, INV-5, INV-7
#[test]
fn every_pinned_schedule_explains_itself() {
    sequential(|| {
        let names: Vec<_> = PINNED.iter().filter_map(|p| Some((p.explain?, p.breaks))).collect();
        assert!(names.len() >= 7, "H1's variant, H2, H4, H5 (core), H6, H14, H17: {names:?}");
        for (name, breaks) in names {
            let found = counterexample::find(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(found.breaks, breaks, "{name}");
            let lines = found.lines();
            assert!(lines.len() >= 3, "{name}: {lines:?}");
            let last = lines.last().unwrap();
            assert!(last.contains(&format!("{} broken", breaks)), "{name} ends elsewhere: {last}");
        }
    });
}

/// Replays `explain H17`, step by step: the drifted path's inode, the release that judges
/// the lock compromised, and the leak.
/// Checks: INV-5
#[test]
fn explain_h17_replays() {
    sequential(|| {
        let expected = [
            "  1. pid 100: publish /sessions/s.jsonl.lock -> created inode 3 (handle 4), kernel-locked",
            "  2. pid 100: stat path /sessions/s.jsonl.lock -> names inode 1099511627779",
            "  3. pid 100: close /sessions/s.jsonl.lock -> done",
            "  4. pid 100: publish /sessions/s.jsonl.lock -> exists: the path is taken",
            "  5. ** INV-5 NoLeak broken: release failed: lock on /sessions/s.jsonl.lock was compromised while held: found another file (device 1, inode 1099511627779) at the path  <- INV-5 NoLeak broken",
        ];
        assert_eq!(counterexample::replay("H17", &expected), Ok(()));
    });
}
