//! Mutants of the shipped core: each is `src/core` with one change, compiled in by
//! `RUSTFLAGS='--cfg sessionlock_mutant="NAME"'` (`model/mutants.sh` builds and runs each).
//!
//! Unlike [`crate::subject::Mutant`], which reassembles the core's pieces in a historic
//! order, these change the core itself at one spot, so every checker runs them through
//! the very entry points the library ships.
//!
//! | name | where | the change | breaks |
//! |---|---|---|---|
//! | `m1_release_before_remove` (H1) | `guard.rs` | the entry is handed on before the file is removed | INV-3 |
//! | `m2_remove_by_path` | `protocol/remove.rs` | removes whatever file is at the path, not the judged one | INV-2 |
//! | `m3_turn_not_woken` | `registry.rs` | the turn is handed on, the waiter never woken | INV-3 |
//! | `m4_reenter_any_owner` | `registry.rs` | re-entry without the owner check | INV-1, INV-7, INV-5 |
//! | `m5_free_lock_no_proof` | `judge.rs` | a free kernel lock no longer proves the holder dead | INV-4 |
//! | `h17_inode_only` (H17) | `protocol/remove.rs` | identity by inode number alone | INV-5, INV-4 |
//! | `break_without_recheck` (H2, H4) | `protocol/mod.rs` | a breaker unlinks without re-checking the path | INV-2 |
//! | `kernel_wait_unjudged` | `protocol/mod.rs` | after a kernel wait the file is closed unjudged | INV-4 |
//! | `abandon_drops_waiters` (H19) | `registry.rs` | a failed turn drops the queue instead of handing on | INV-3 |
//! | `withdraw_ignores_granted` | `registry.rs` | a timed-out waiter withdraws a turn already handed to it | INV-3, INV-5 |
//! | `leave_ignores_generation` | `registry.rs` | an old guard's release ends the current hold | INV-6 |
//! | `releaser_barges` | `protocol/mod.rs` | with the queue, a newcomer (the releaser included) publishes without looking at the tickets | INV-9, INV-5 |
//! | `wakes_nobody` | `protocol/queue.rs` | with the queue, R5q and give-ups neither remove nor close the ticket: its successor is never woken | INV-4, INV-3, INV-5 |
//!
//! A lost wake-up or a wait on a dead holder shows in shuttle and loom as a deadlock:
//! their model time only moves when a task moves it, so a task waiting for a deadline
//! that nobody advances is never woken. The checkers report that as INV-3
//! ([`crate::failure`]); the proptest machine, which moves time itself, reports the
//! missed takeover as INV-4 (so does `h17` in the drift scenarios, where a breaker can
//! never bind the dead holder's file). Each row lists every id that names the bug. A stranger let
//! in by `m4` holds a guard of another owner's hold: which shows first depends on the
//! interleaving, a second task inside (INV-1), a count that does not match (INV-7), or
//! the stranger's release refused as stale so the hold never ends (INV-5). `releaser_barges`
//! overtakes queued waiters (INV-9); where a queued waiter died, nobody who barges ever
//! lists the queue, so its ticket is never removed (INV-5 at the machine's teardown).
//! `wakes_nobody` leaves every ticket it took named and kernel-locked after its holder's
//! release: a successor that queues behind one is never woken (INV-3, INV-4), and where
//! none comes, the ticket is still there when every task has finished (INV-5), which is
//! what loom meets first.

use proptest::test_runner::{FailurePersistence, FileFailurePersistence, PersistedSeed};

use crate::invariant::Invariant::{self, *};
use crate::subject::Subject;

/// One mutant of the shipped core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreMutant {
    /// The cfg value, `--cfg sessionlock_mutant="NAME"`.
    pub name: &'static str,
    /// The historic failure it brings back, if any.
    pub history: Option<&'static str>,
    /// The invariants a checker may name for it; any of them counts as a catch.
    pub breaks: &'static [Invariant],
    /// Whether this build has it compiled in.
    pub active: bool,
}

macro_rules! mutants {
    ($($name:literal, $history:expr, [$($inv:expr),+]);+ $(;)?) => {
        /// Every mutant of the shipped core.
        pub const ALL: &[CoreMutant] = &[$(CoreMutant {
            name: $name,
            history: $history,
            breaks: &[$($inv),+],
            active: cfg!(sessionlock_mutant = $name),
        }),+];
    };
}

mutants! {
    "m1_release_before_remove", Some("H1"), [NoSpuriousTimeout];
    "m2_remove_by_path", None, [NoLiveRemoval];
    "m3_turn_not_woken", None, [NoSpuriousTimeout];
    "m4_reenter_any_owner", None, [MutualExclusion, Reentrancy, NoLeak];
    "m5_free_lock_no_proof", None, [Recovery, NoSpuriousTimeout];
    "h17_inode_only", Some("H17"), [NoLeak, Recovery, NoSpuriousTimeout];
    "break_without_recheck", Some("H2"), [NoLiveRemoval];
    "kernel_wait_unjudged", None, [Recovery, NoSpuriousTimeout];
    "abandon_drops_waiters", Some("H19"), [NoSpuriousTimeout];
    "withdraw_ignores_granted", None, [NoSpuriousTimeout, NoLeak];
    "leave_ignores_generation", None, [StaleGuardHarmless];
    "releaser_barges", None, [BoundedBypass, NoLeak];
    "wakes_nobody", None, [Recovery, NoSpuriousTimeout, NoLeak];
}

/// The mutant compiled into this build, if any.
pub fn active() -> Option<&'static CoreMutant> {
    ALL.iter().find(|m| m.active)
}

impl CoreMutant {
    /// Whether `message` (a checker's failure) names one of the invariants this mutant
    /// breaks.
    pub fn caught_by(&self, message: &str) -> bool {
        Invariant::in_message(message).is_some_and(|inv| self.breaks.contains(&inv))
    }
}

/// The failing seeds proptest replays and saves for a run against `subject`, kept in
/// `file`: a run against the core replays and saves them; a build with a mutant in the
/// core replays them (each is a case that once broke something) and saves none, since its
/// failures are not the core's; a run against a parallel mutant neither.
pub fn seeds(subject: Subject, file: &'static str) -> Option<Box<dyn FailurePersistence>> {
    let file = FileFailurePersistence::Direct(file);
    match subject {
        Subject::Core if active().is_none() => Some(Box::new(file)),
        Subject::Core => Some(Box::new(ReplayOnly(file))),
        Subject::Queue | Subject::Mutant(_) => None,
    }
}

/// Seeds read from a file and never written to it.
#[derive(Clone, Debug, PartialEq)]
struct ReplayOnly(FileFailurePersistence);

impl FailurePersistence for ReplayOnly {
    fn load_persisted_failures2(&self, source_file: Option<&'static str>) -> Vec<PersistedSeed> {
        self.0.load_persisted_failures2(source_file)
    }

    fn save_persisted_failure2(
        &mut self,
        _source_file: Option<&'static str>,
        _seed: PersistedSeed,
        _shrunken_value: &dyn std::fmt::Debug,
    ) {
    }

    fn box_clone(&self) -> Box<dyn FailurePersistence> {
        Box::new(self.clone())
    }

    fn eq(&self, other: &dyn FailurePersistence) -> bool {
        other.as_any().downcast_ref::<Self>().is_some_and(|o| o == self)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
