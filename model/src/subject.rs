//! What the checkers check: the real core, or a mutant that brings back a historic bug.
//!
//! These mutants live here and in [`crate::mutants`]: each is the core's own building
//! blocks (`Locker::admit`, `Registry`, `protocol`, `judge`) put together in the historic,
//! wrong way, changing as little as the history needs. Bugs put into the shipped core
//! itself, behind a cfg, are listed in [`crate::core_mutants`].

use sessionlock::core::registry::Leave;
use sessionlock::core::{AcquireError, Admission, Guard, Locker, Options, Owner, Reentrancy};
use sessionlock::core::{ReleaseError, Released};
use sessionlock::fs::LockPath;

use crate::fs::{ModelClock, ModelFs};
pub use crate::history::Mutant;
use crate::mutants;

/// The locker over the model world.
pub type ModelLocker = Locker<ModelFs, ModelClock>;
/// A guard over the model world.
pub type ModelGuard = Guard<ModelFs, ModelClock>;

/// The real core or a mutant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// The shipped core.
    Core,
    /// The shipped core with the cross-process queue on ([`Options::queue`]).
    Queue,
    /// A historic bug.
    Mutant(Mutant),
}

impl Subject {
    /// The options a locker of this subject runs with.
    pub fn options(self) -> Options {
        let reentrancy = match self {
            Self::Mutant(Mutant::H14ProcessReentry) => Reentrancy::Process,
            _ => Reentrancy::PerOwner,
        };
        Options { reentrancy, queue: self == Self::Queue, ..Options::default() }
    }

    /// Acquires as this subject does.
    ///
    /// # Errors
    /// As [`Locker::acquire`].
    pub async fn acquire(
        self,
        locker: &ModelLocker,
        path: &LockPath,
        owner: Owner,
    ) -> Result<ModelGuard, AcquireError> {
        let mutant = match self {
            Self::Mutant(m) if mutants::changes_acquire(m) => m,
            _ => return locker.acquire(path, owner).await,
        };
        // H13: every acquire is a stranger, even a nested one by the same owner.
        let owner = if mutant == Mutant::H13NoReentry { Owner::new() } else { owner };
        let (started, deadline) = locker.window();
        let turn = match locker.admit(path, owner, started, deadline).await? {
            Admission::Reentered(guard) | Admission::Handed(guard) => return Ok(guard),
            // H19: the turn is never handed on if this future is dropped.
            Admission::Turn(turn) => mutants::Leaky::new(turn, mutant == Mutant::H19LeakyTurn),
        };
        let payload = locker.payload();
        let ctx = locker.ctx();
        let file = mutants::acquire_file(mutant, &ctx, path, &payload, started, deadline).await;
        Ok(turn.into_inner().grant(owner, file?))
    }

    /// Releases as this subject does.
    ///
    /// # Errors
    /// As [`Guard::release`].
    pub async fn release(self, guard: ModelGuard) -> Result<Released, ReleaseError> {
        let mutant = match self {
            Self::Mutant(m) if mutants::changes_release(m) => m,
            _ => return guard.release().await,
        };
        let (locker, path, owner, generation) = guard.into_parts();
        // The historic releases knew no in-memory hand-off: a `now` past every file's
        // hand-off age makes the last `leave` release through the disk.
        let never = sessionlock::fs::Moment::from_duration(std::time::Duration::MAX);
        let file = match locker.registry().leave(&path, owner, generation, never) {
            Leave::Missing => return Err(ReleaseError::StaleGuard { path }),
            Leave::Remaining(remaining) => return Ok(Released::StillHeld { remaining }),
            Leave::HandedOff => return Ok(Released::HandedOff),
            Leave::Last(file) => file,
        };
        let early = matches!(mutant, Mutant::H1ReleaseOrder | Mutant::H1OwnPidOrphan);
        if early {
            // H1: the entry goes before the file does.
            locker.registry().finish_release(&path);
        }
        let removed = mutants::remove_own(mutant, &locker.ctx(), &path, file).await;
        if !early {
            locker.registry().finish_release(&path);
        }
        removed.map(|()| Released::Removed)
    }
}
