//! The history zoo: every failure of `spec/history.md` that the model can express, as a
//! mutant that a checker must catch with the right invariant, while the real core passes
//! the very same check.
#![cfg(sessionlock_shuttle)]

use sessionlock_model::zoo::{self, Outcome};
use sessionlock_model::{Mutant, Subject};

/// Runs every check of `mutant`: each must catch it with its invariant, and the real core
/// must pass each.
fn caught(mutant: Mutant) {
    for check in zoo::checks(mutant) {
        let on_core = zoo::run(&check, Subject::Core);
        assert_eq!(
            on_core,
            Outcome::Pass,
            "the core fails {}'s check {}",
            mutant.name(),
            check.name
        );
        let on_mutant = zoo::run(&check, Subject::Mutant(mutant));
        let expected = Outcome::Broke(mutant.breaks());
        assert_eq!(on_mutant, expected, "{} under {}", mutant.name(), check.name);
    }
}

/// Reproduces H1 (the seed race). Checks: INV-3
#[test]
fn zoo_h1_release_order() {
    caught(Mutant::H1ReleaseOrder);
}

/// Reproduces H1's own-pid-orphan variant. Checks: INV-2
#[test]
fn zoo_h1_own_pid_orphan() {
    caught(Mutant::H1OwnPidOrphan);
}

/// Reproduces H2 (stale-takeover TOCTOU). Checks: INV-2
#[test]
fn zoo_h2_unlocked_break() {
    caught(Mutant::H2UnlockedBreak);
}

/// Reproduces H4 (compare-then-unlink). Checks: INV-2
#[test]
fn zoo_h4_compare_then_unlink() {
    caught(Mutant::H4CompareThenUnlink);
}

/// Reproduces H5 (old holder deletes its successor). Checks: INV-2
#[test]
fn zoo_h5_old_holder_deletes_successor() {
    caught(Mutant::H5OldHolderDeletesSuccessor);
}

/// Reproduces H6 (age is not death). Checks: INV-2
#[test]
fn zoo_h6_age_is_death() {
    caught(Mutant::H6AgeIsDeath);
}

/// Reproduces H7 (pid reuse). Checks: INV-4
#[test]
fn zoo_h7_trusts_reused_pid() {
    caught(Mutant::H7TrustsReusedPid);
}

/// Reproduces H8 (own-pid orphan after a restart). Checks: INV-4
#[test]
fn zoo_h8_waits_on_itself() {
    caught(Mutant::H8WaitsOnItself);
}

/// Reproduces H9 (payload-less window). Checks: INV-1
#[test]
fn zoo_h9_two_step_publish() {
    caught(Mutant::H9TwoStepPublish);
}

/// Reproduces H13 (self-deadlock). Checks: INV-7
#[test]
fn zoo_h13_no_reentry() {
    caught(Mutant::H13NoReentry);
}

/// Reproduces H14 (process-wide reentrancy admits strangers). Checks: INV-7
#[test]
fn zoo_h14_process_reentry() {
    caught(Mutant::H14ProcessReentry);
}

/// Reproduces H17 (identity drift). Checks: INV-5
#[test]
fn zoo_h17_inode_only() {
    caught(Mutant::H17InodeOnly);
}

/// Reproduces H19 (abort during acquire). Checks: INV-5
#[test]
fn zoo_h19_leaky_turn() {
    caught(Mutant::H19LeakyTurn);
}

/// Every mutant has at least one check, so none can be silently skipped.
#[test]
fn zoo_every_mutant_has_a_check() {
    for mutant in Mutant::ALL {
        assert!(!zoo::checks(mutant).is_empty(), "{} has no check", mutant.name());
    }
}
