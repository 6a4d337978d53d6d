//! What the checkers check: the real core, or a mutant that brings back a historic bug.
//!
//! Mutants live here, never in the shipped core. Each is the core's own building blocks
//! (`Locker::admit`, `Registry`, `protocol`) put together in the historic, wrong way.

use sessionlock::core::protocol::{self, Ctx, HeldFile};
use sessionlock::core::registry::Leave;
use sessionlock::core::{AcquireError, Admission, Guard, Locker, Owner, ReleaseError, Released};
use sessionlock::fs::{LockFs, LockPath, Moment, Opened};
use sessionlock::payload::{MAX_PAYLOAD_BYTES, Payload};

use crate::fs::{ModelClock, ModelFs, ModelHandle};
use crate::invariant::Invariant;

/// The locker over the model world.
pub type ModelLocker = Locker<ModelFs, ModelClock>;
/// A guard over the model world.
pub type ModelGuard = Guard<ModelFs, ModelClock>;

/// A historic failure, reintroduced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutant {
    /// H1, the seed: the final release removes the in-process entry *before* removing
    /// the lock file, so a sibling task finds no entry and goes to the filesystem, where
    /// it meets its own process's lock.
    H1ReleaseOrder,
    /// H1's own-pid-orphan variant: as H1, and the sibling judges a file naming its own
    /// pid an orphan and removes it, and the release removes by path, deleting the
    /// sibling's new file: two holders.
    H1OwnPidOrphan,
}

impl Mutant {
    /// Every mutant.
    pub const ALL: [Self; 2] = [Self::H1ReleaseOrder, Self::H1OwnPidOrphan];

    /// The short name, such as `H1`.
    pub fn name(self) -> &'static str {
        match self {
            Self::H1ReleaseOrder => "H1",
            Self::H1OwnPidOrphan => "H1-variant",
        }
    }

    /// The invariant the checkers must report.
    pub fn breaks(self) -> Invariant {
        match self {
            Self::H1ReleaseOrder => Invariant::NoSpuriousTimeout,
            Self::H1OwnPidOrphan => Invariant::NoLiveRemoval,
        }
    }
}

/// The real core or a mutant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The shipped core.
    Core,
    /// A historic bug.
    Mutant(Mutant),
}

impl Subject {
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
        let Self::Mutant(Mutant::H1OwnPidOrphan) = self else {
            return locker.acquire(path, owner).await;
        };
        let (started, deadline) = locker.window();
        match locker.admit(path, owner, started, deadline).await? {
            Admission::Reentered(guard) => Ok(guard),
            Admission::Turn(turn) => {
                let payload = locker.payload();
                let file = orphan_acquire(&locker.ctx(), path, &payload, started, deadline).await?;
                Ok(turn.grant(owner, file))
            }
        }
    }

    /// Releases as this subject does.
    ///
    /// # Errors
    /// As [`Guard::release`].
    pub async fn release(self, guard: ModelGuard) -> Result<Released, ReleaseError> {
        let Self::Mutant(mutant) = self else {
            return guard.release().await;
        };
        let (locker, path, owner, generation) = guard.into_parts();
        let file = match locker.registry().leave(&path, owner, generation) {
            Leave::Stale => return Err(ReleaseError::StaleGuard { path }),
            Leave::Remaining(remaining) => return Ok(Released::StillHeld { remaining }),
            Leave::Last(file) => file,
        };
        // The bug: the entry goes before the file does.
        locker.registry().finish_release(&path);
        match mutant {
            Mutant::H1ReleaseOrder => protocol::remove_own(&locker.ctx(), &path, file).await?,
            Mutant::H1OwnPidOrphan => remove_by_path(&locker.ctx(), &path, file).await?,
        }
        Ok(Released::Removed)
    }
}

/// The original's acquire: a file naming our own pid is an orphan, removed unchecked.
async fn orphan_acquire(
    ctx: &Ctx<'_, ModelFs, ModelClock>,
    path: &LockPath,
    payload: &Payload,
    started: Moment,
    deadline: Moment,
) -> Result<HeldFile<ModelHandle>, AcquireError> {
    loop {
        if let Some(file) = protocol::publish(ctx, path, payload).await? {
            return Ok(file);
        }
        if let Opened::File(handle) = ctx.fs.open(path).await? {
            let bytes = ctx.fs.read(&handle, MAX_PAYLOAD_BYTES).await?;
            if Payload::parse(&bytes).and_then(|p| p.pid) == Some(ctx.me.pid) {
                ctx.fs.unlink(path, &handle).await?;
                continue;
            }
        }
        return protocol::acquire_file(ctx, path, payload, started, deadline).await;
    }
}

/// The original's teardown: unlink whatever the path names.
async fn remove_by_path(
    ctx: &Ctx<'_, ModelFs, ModelClock>,
    path: &LockPath,
    file: HeldFile<ModelHandle>,
) -> Result<(), ReleaseError> {
    if ctx.fs.path_id(path).await?.is_some() {
        ctx.fs.unlink(path, &file.handle).await?;
    }
    protocol::close_quietly(ctx, path, file.handle).await;
    Ok(())
}
