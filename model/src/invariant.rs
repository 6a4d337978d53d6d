//! The invariants, by id. The ids and names match `spec/invariants.md`; a test keeps the
//! two in step, and a typo in a test's invariant does not compile.

use std::fmt;

/// A check's outcome: `Err` names the invariant broken and what happened.
pub type Verdict = Result<(), (Invariant, String)>;

/// One invariant of the lock (`spec/invariants.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Invariant {
    /// At most one owner is inside the critical section for a lock path.
    MutualExclusion,
    /// A lock file is unlinked only by its holder, or by a contender that proved the holder
    /// dead, bound to the inode that was judged.
    NoLiveRemoval,
    /// No acquire times out while the lock is free or only being torn down in-process;
    /// in-process waiters are woken by the release, not by polling.
    NoSpuriousTimeout,
    /// After a holder dies, a contender acquires without waiting for any age threshold.
    Recovery,
    /// With every guard released and nothing crashed, no lock file and no entry remain.
    NoLeak,
    /// Releasing or dropping an old guard never affects a later holder.
    StaleGuardHarmless,
    /// Re-entry by the same owner is counted; a different task never gets in by re-entry.
    Reentrancy,
    /// A write checked at commit (PostgreSQL) commits only under its session's current
    /// token: never after a newer holder was granted the lock.
    FencedWrites,
    /// A process hands one published lock file on to its own waiting tasks, in memory, at
    /// most K times in a row (and not once it is a second old), then releases it through
    /// the disk so that other processes get their chance.
    BoundedBypass,
}

impl Invariant {
    /// Every invariant, in id order.
    pub const ALL: [Self; 9] = [
        Self::MutualExclusion,
        Self::NoLiveRemoval,
        Self::NoSpuriousTimeout,
        Self::Recovery,
        Self::NoLeak,
        Self::StaleGuardHarmless,
        Self::Reentrancy,
        Self::FencedWrites,
        Self::BoundedBypass,
    ];

    /// The stable id, such as `INV-1`.
    pub fn id(self) -> &'static str {
        match self {
            Self::MutualExclusion => "INV-1",
            Self::NoLiveRemoval => "INV-2",
            Self::NoSpuriousTimeout => "INV-3",
            Self::Recovery => "INV-4",
            Self::NoLeak => "INV-5",
            Self::StaleGuardHarmless => "INV-6",
            Self::Reentrancy => "INV-7",
            Self::FencedWrites => "INV-8",
            Self::BoundedBypass => "INV-9",
        }
    }

    /// The name, such as `MutualExclusion`.
    pub fn name(self) -> &'static str {
        match self {
            Self::MutualExclusion => "MutualExclusion",
            Self::NoLiveRemoval => "NoLiveRemoval",
            Self::NoSpuriousTimeout => "NoSpuriousTimeout",
            Self::Recovery => "Recovery",
            Self::NoLeak => "NoLeak",
            Self::StaleGuardHarmless => "StaleGuardHarmless",
            Self::Reentrancy => "Reentrancy",
            Self::FencedWrites => "FencedWrites",
            Self::BoundedBypass => "BoundedBypass",
        }
    }

    /// Panics with `"INV-n Name: detail"`, the form every checker reports.
    #[track_caller]
    pub fn violated(self, detail: impl fmt::Display) -> ! {
        panic!("{self}: {detail}")
    }

    /// Panics as [`Invariant::violated`] unless `holds`.
    #[track_caller]
    pub fn check(self, holds: bool, detail: impl FnOnce() -> String) {
        if !holds {
            self.violated(detail());
        }
    }

    /// The invariant whose id (`INV-n`) appears first in `text`, if any.
    pub fn named_in(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .filter_map(|inv| {
                let at = text.match_indices(inv.id()).map(|(at, _)| at).find(|&at| {
                    !text[at + inv.id().len()..].starts_with(|c: char| c.is_ascii_digit())
                })?;
                Some((at, inv))
            })
            .min()
            .map(|(_, inv)| inv)
    }

    /// Finds the invariant a panic message reports, if any.
    pub fn in_message(message: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|inv| message.contains(&format!("{inv}:")))
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id(), self.name())
    }
}
