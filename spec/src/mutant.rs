//! Mutants: the historic failures of `spec/history.md` re-introduced into the model, and
//! the liveness bugs of the core's registry and kernel wait.
//!
//! Each mutant changes one or two steps of the real protocol to what a historic or
//! plausible implementation did. A checker must find a counterexample to at least the
//! invariant returned by [`Mutant::invariant`]: the safety search for those that
//! [break safety](Mutant::breaks_safety), the fair-cycle check of [`crate::liveness`] for
//! those that [break liveness](Mutant::breaks_liveness). A mutant no checker can catch
//! would mean the model is too coarse to tell the fix from the bug.

/// A deliberately broken variant of the protocol, named after the field note it reproduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mutant {
    /// H1, own-pid-orphan variant of the seed race. The final release removes the
    /// in-process registry entry *first*, then closes its handle, then unlinks `L` by
    /// path. A second task of the same process finds no entry, gets EEXIST, reads its
    /// own pid in the payload, judges `L` an orphan and unlinks it by path, then
    /// publishes `L'`; the first task's pending unlink deletes `L'` and a third party
    /// publishes too: two holders.
    H1ReleaseOrder,
    /// H2: a contender judges staleness from the payload (even with a perfect
    /// pid + start-time oracle) without holding the kernel lock, then unlinks `L` by
    /// path. Two contenders that judged the same dead holder each remove the other's
    /// fresh file.
    H2StaleTocttou,
    /// H3: publication renames a temporary file over `L`. POSIX `rename` replaces its
    /// target, so a second contender silently replaces the live holder's file.
    H3RenameOverwrite,
    /// H4: like H2, but the reclaimer re-reads `L` and compares it with what it judged
    /// (remove-if-unchanged) before the path-based unlink. Compare and unlink are two
    /// steps, so the race survives.
    H4CompareThenUnlink,
    /// H5: release in the upstream order: close the handle (dropping the kernel lock)
    /// *then* unlink `L` by path, without checking it still names the holder's inode.
    /// In the gap the holder looks dead (its flock is free, as for a frozen holder judged
    /// stale), a contender breaks and republishes, and the old holder's unlink deletes its
    /// successor's file.
    ///
    /// Path-based release *alone* is harmless in this model while the flock is held across
    /// the unlink (property "INV-6 StaleGuardHarmless" proves the real release always finds
    /// its own inode); the field failure needs the window in which the old holder no longer
    /// holds the kernel lock.
    H5OldHolderDeletesSuccessor,
    /// H7: a contender trusts a live-looking pid before asking the kernel: if the
    /// publisher's pid is in use it waits without trying the flock. After pid reuse the
    /// dead holder is never broken (recovery is lost; safety is not).
    H7PidReuseTrust,
    /// M3 (`m3_turn_not_woken` in the core): the turn is handed on to the first queued
    /// waiter, but the waiter is never woken. It stays parked with its process's turn, so
    /// every later sibling queues behind it forever while other processes go on. Safety
    /// holds; only the fair-cycle check sees it (INV-3).
    M3TurnNotWoken,
    /// The breaker livelock (`kernel_wait_unjudged` in the core, found by the proptest
    /// machine, `spec/history.md`): a contender whose `flock(LOCK_NB)` is refused waits in
    /// the kernel, and when the wait returns with the flock it closes the file *unjudged*
    /// and publishes again. Two contenders of a dead holder's file then hand its flock back
    /// and forth forever (each probe finds it held by the other, which is about to close it),
    /// and nobody breaks it. In the model it is one step of the real kernel wait changed:
    /// [`Op::LockWait`](crate::actions::Op::LockWait) leads to the close
    /// ([`Pc::Unbound`](crate::state::Pc::Unbound)) instead of the judgement under the flock
    /// ([`Pc::Proved`](crate::state::Pc::Proved)). Safety holds; only the fair-cycle check
    /// sees it (INV-4).
    KernelWaitUnjudged,
    /// The registry hands the turn to the *last* queued waiter instead of the first: every
    /// waiter is still handed a turn eventually with two tasks, but a later waiter overtakes
    /// an earlier one (INV-3 FIFO).
    LifoHandOff,
    /// The last holder hands its hold to the next waiter of its process in memory however
    /// many hand-offs of the same file came before: the file is never released through the
    /// disk while a sibling waits, so other processes never get their chance (INV-9).
    UnboundedHandOff,
    /// The cross-process queue (`spec/protocol.md`, section 11) with a newcomer, the
    /// releaser wanting the lock again included, that publishes `L` without looking at the
    /// tickets (it still queues if it finds `L` held): it overtakes the queued waiters of
    /// other processes again and again (INV-9).
    ReleaserBarges,
    /// The cross-process queue with a successor that never moves on when its predecessor's
    /// ticket is freed or removed: its kernel wait never returns. Safety holds; the waiter
    /// and everyone queued behind it wait forever (INV-9, starvation-freedom).
    WakesNobody,
}

impl Mutant {
    /// Every mutant: the field notes in their order, then the liveness mutants.
    pub const ALL: &[Mutant] = &[
        Mutant::H1ReleaseOrder,
        Mutant::H2StaleTocttou,
        Mutant::H3RenameOverwrite,
        Mutant::H4CompareThenUnlink,
        Mutant::H5OldHolderDeletesSuccessor,
        Mutant::H7PidReuseTrust,
        Mutant::M3TurnNotWoken,
        Mutant::KernelWaitUnjudged,
        Mutant::LifoHandOff,
        Mutant::UnboundedHandOff,
        Mutant::ReleaserBarges,
        Mutant::WakesNobody,
    ];

    /// The field-note id, e.g. `"H1"`.
    pub fn name(self) -> &'static str {
        match self {
            Mutant::H1ReleaseOrder => "H1",
            Mutant::H2StaleTocttou => "H2",
            Mutant::H3RenameOverwrite => "H3",
            Mutant::H4CompareThenUnlink => "H4",
            Mutant::H5OldHolderDeletesSuccessor => "H5",
            Mutant::H7PidReuseTrust => "H7",
            Mutant::M3TurnNotWoken => "M3",
            Mutant::KernelWaitUnjudged => "breaker-livelock",
            Mutant::LifoHandOff => "lifo-hand-off",
            Mutant::UnboundedHandOff => "unbounded-hand-off",
            Mutant::ReleaserBarges => "releaser-barges",
            Mutant::WakesNobody => "wakes-nobody",
        }
    }

    /// The invariant id the checker is expected to refute for this mutant, e.g. `"INV-1"`.
    ///
    /// It is the invariant the field note says was broken; the checker usually refutes
    /// others as well (see the crate's tests for the full lists).
    pub fn invariant(self) -> &'static str {
        match self {
            Mutant::H1ReleaseOrder
            | Mutant::H2StaleTocttou
            | Mutant::H3RenameOverwrite
            | Mutant::H4CompareThenUnlink => "INV-1",
            Mutant::H5OldHolderDeletesSuccessor => "INV-2",
            Mutant::H7PidReuseTrust | Mutant::KernelWaitUnjudged => "INV-4",
            Mutant::M3TurnNotWoken | Mutant::LifoHandOff => "INV-3",
            Mutant::UnboundedHandOff | Mutant::ReleaserBarges | Mutant::WakesNobody => "INV-9",
        }
    }

    /// Whether the safety search (stateright's always-properties) must catch this mutant;
    /// the others keep every safety property and only the liveness checker
    /// ([`crate::liveness`]) refutes them.
    pub fn breaks_safety(self) -> bool {
        !matches!(
            self,
            Mutant::M3TurnNotWoken
                | Mutant::KernelWaitUnjudged
                | Mutant::LifoHandOff
                | Mutant::WakesNobody
        )
    }

    /// Whether this is a mutant of the cross-process queue, which it then turns on
    /// ([`crate::SpecConfig::queue`]).
    pub fn needs_queue(self) -> bool {
        matches!(self, Mutant::ReleaserBarges | Mutant::WakesNobody)
    }

    /// Whether the liveness checker ([`crate::liveness`]) must catch this mutant, with
    /// [`Mutant::invariant`]: the ones that keep safety, H7, whose contenders wait on a
    /// dead holder forever (a fair cycle, INV-4), and `releaser-barges`, whose barging
    /// newcomers can starve a queued waiter (INV-9).
    pub fn breaks_liveness(self) -> bool {
        !self.breaks_safety() || matches!(self, Mutant::H7PidReuseTrust | Mutant::ReleaserBarges)
    }

    /// Whether a contender judges liveness from the payload instead of the kernel lock.
    pub(crate) fn judges_by_payload(self) -> bool {
        matches!(self, Mutant::H2StaleTocttou | Mutant::H4CompareThenUnlink)
    }

    /// Whether a contender whose `flock(LOCK_NB)` is refused closes and publishes again at
    /// once, as the historic implementations did, instead of waiting in the kernel.
    pub(crate) fn retries_refused_flock(self) -> bool {
        !matches!(
            self,
            Mutant::M3TurnNotWoken
                | Mutant::KernelWaitUnjudged
                | Mutant::LifoHandOff
                | Mutant::UnboundedHandOff
                | Mutant::ReleaserBarges
                | Mutant::WakesNobody
        )
    }

    /// Whether release drops the kernel lock before its (path-based) unlink.
    pub(crate) fn closes_before_unlink(self) -> bool {
        matches!(self, Mutant::H1ReleaseOrder | Mutant::H5OldHolderDeletesSuccessor)
    }
}
