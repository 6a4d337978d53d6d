//! The historic failures (`spec/history.md`) the checkers must catch, by id, with the
//! invariant each breaks. How each is reintroduced is in [`crate::subject`] and
//! [`crate::mutants`].

use crate::invariant::Invariant;

/// A historic failure (`spec/history.md`), reintroduced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mutant {
    /// H1, the seed: the final release removes the in-process entry *before* removing
    /// the lock file, so a sibling task goes to the filesystem and meets its own lock.
    H1ReleaseOrder,
    /// H1's variant: as H1, the sibling removes a file naming its own pid as an orphan,
    /// and the release removes by path, deleting the sibling's new file.
    H1OwnPidOrphan,
    /// H2: a breaker judges the file stale, lets go of its kernel lock, then unlinks by
    /// path, by which time the path may name a successor's file.
    H2UnlockedBreak,
    /// H4: a breaker re-reads the file, finds it unchanged, and unlinks by path without
    /// holding its kernel lock.
    H4CompareThenUnlink,
    /// H5: age counts as death (H6), and the frozen old holder's release removes by path,
    /// deleting its successor's file.
    H5OldHolderDeletesSuccessor,
    /// H6: a holder older than the stale age is judged dead while it still holds.
    H6AgeIsDeath,
    /// H7: a foreign file's pid is trusted without its start time, so a reused pid keeps
    /// a dead holder alive.
    H7TrustsReusedPid,
    /// H8: a file naming this very pid is taken for a live holder: the process waits on
    /// a lock its previous incarnation left behind.
    H8WaitsOnItself,
    /// H9: the lock file is created, then locked and written, in separate steps; a
    /// contender sees it empty, and past the grace period takes a live holder's lock.
    H9TwoStepPublish,
    /// H13: a nested acquire by the same owner is not counted, and waits for itself.
    H13NoReentry,
    /// H14: every task of the process counts as one owner, so strangers re-enter.
    H14ProcessReentry,
    /// H17: identity is the inode number alone, so where `fstat` and `lstat` disagree a
    /// release never removes its own file.
    H17InodeOnly,
    /// H19: an acquire cancelled while it holds the turn never hands it on.
    H19LeakyTurn,
}

impl Mutant {
    /// Every mutant.
    pub const ALL: [Self; 13] = [
        Self::H1ReleaseOrder,
        Self::H1OwnPidOrphan,
        Self::H2UnlockedBreak,
        Self::H4CompareThenUnlink,
        Self::H5OldHolderDeletesSuccessor,
        Self::H6AgeIsDeath,
        Self::H7TrustsReusedPid,
        Self::H8WaitsOnItself,
        Self::H9TwoStepPublish,
        Self::H13NoReentry,
        Self::H14ProcessReentry,
        Self::H17InodeOnly,
        Self::H19LeakyTurn,
    ];

    /// The field-note id, such as `H1`.
    pub fn name(self) -> &'static str {
        match self {
            Self::H1ReleaseOrder => "H1",
            Self::H1OwnPidOrphan => "H1-variant",
            Self::H2UnlockedBreak => "H2",
            Self::H4CompareThenUnlink => "H4",
            Self::H5OldHolderDeletesSuccessor => "H5",
            Self::H6AgeIsDeath => "H6",
            Self::H7TrustsReusedPid => "H7",
            Self::H8WaitsOnItself => "H8",
            Self::H9TwoStepPublish => "H9",
            Self::H13NoReentry => "H13",
            Self::H14ProcessReentry => "H14",
            Self::H17InodeOnly => "H17",
            Self::H19LeakyTurn => "H19",
        }
    }

    /// The invariant the checkers must report.
    pub fn breaks(self) -> Invariant {
        match self {
            Self::H1ReleaseOrder => Invariant::NoSpuriousTimeout,
            Self::H1OwnPidOrphan
            | Self::H2UnlockedBreak
            | Self::H4CompareThenUnlink
            | Self::H5OldHolderDeletesSuccessor
            | Self::H6AgeIsDeath => Invariant::NoLiveRemoval,
            Self::H7TrustsReusedPid | Self::H8WaitsOnItself => Invariant::Recovery,
            Self::H9TwoStepPublish => Invariant::MutualExclusion,
            Self::H13NoReentry | Self::H14ProcessReentry => Invariant::Reentrancy,
            Self::H17InodeOnly | Self::H19LeakyTurn => Invariant::NoLeak,
        }
    }
}

impl Mutant {
    /// The invariants the stepped driver may report under fault plans: [`Mutant::breaks`],
    /// and INV-5 for a release that removes by path: told by a path stat that its file
    /// vanished, it reports the file removed and leaves it behind.
    pub fn breaks_under_faults(self) -> Vec<Invariant> {
        match self {
            Self::H1OwnPidOrphan | Self::H5OldHolderDeletesSuccessor => {
                vec![self.breaks(), Invariant::NoLeak]
            }
            _ => vec![self.breaks()],
        }
    }
}
