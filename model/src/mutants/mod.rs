//! The mutants' versions of the core's filesystem steps. Each changes one thing, the
//! thing the history got wrong; everything else is the core's own code.

mod legacy_fs;
mod probe;

use sessionlock::core::protocol::{self, HeldFile, Wait};
use sessionlock::core::{AcquireError, Event, ReleaseError};
use sessionlock::fs::{LockFs, LockPath, Moment};
use sessionlock::payload::Payload;

use crate::fs::{ModelCtx, ModelHandle};
use crate::history::Mutant;

/// Whether `mutant` acquires differently from the core.
pub fn changes_acquire(mutant: Mutant) -> bool {
    !matches!(mutant, Mutant::H1ReleaseOrder | Mutant::H14ProcessReentry | Mutant::H17InodeOnly)
}

/// Whether `mutant` releases differently from the core.
pub fn changes_release(mutant: Mutant) -> bool {
    matches!(
        mutant,
        Mutant::H1ReleaseOrder
            | Mutant::H1OwnPidOrphan
            | Mutant::H5OldHolderDeletesSuccessor
            | Mutant::H17InodeOnly
    )
}

/// The mutant's cross-process acquire: the core's loop, with the mutant's publish and
/// probe.
pub async fn acquire_file(
    mutant: Mutant,
    ctx: &ModelCtx<'_>,
    path: &LockPath,
    payload: &Payload,
    started: Moment,
    deadline: Moment,
) -> Result<HeldFile<ModelHandle>, AcquireError> {
    let mut wait = Wait::new(started, deadline);
    loop {
        let published = match mutant {
            Mutant::H9TwoStepPublish => legacy_fs::publish_in_two_steps(ctx, path, payload).await?,
            _ => protocol::publish(ctx, path, payload).await?,
        };
        if let Some(file) = published {
            return Ok(file);
        }
        ctx.emit(Event::Contended { path });
        let outcome = probe::probe(mutant, ctx, path).await?;
        wait.settle(ctx, path, outcome).await?;
    }
}

/// The mutant's removal of its own file at release.
pub async fn remove_own(
    mutant: Mutant,
    ctx: &ModelCtx<'_>,
    path: &LockPath,
    file: HeldFile<ModelHandle>,
) -> Result<(), ReleaseError> {
    match mutant {
        Mutant::H1OwnPidOrphan | Mutant::H5OldHolderDeletesSuccessor => {
            // The original: unlink whatever the path names.
            let named = ctx.fs.path_id(path).await?;
            if named.is_some() {
                ctx.fs.unlink(path, &file.handle).await?;
            }
            protocol::close_quietly(ctx, path, file.handle).await;
            Ok(())
        }
        Mutant::H17InodeOnly => {
            // Identity by inode number alone: no fallback to the nonce.
            let removal = protocol::remove_if_names(ctx, path, &file.handle, file.id, None).await;
            protocol::close_quietly(ctx, path, file.handle).await;
            match removal?.found() {
                None => Ok(()),
                Some(found) => Err(ReleaseError::Compromised { path: path.clone(), found }),
            }
        }
        _ => protocol::remove_own(ctx, path, file).await,
    }
}

/// A value that is dropped normally, or leaked when `leak` (H19).
pub struct Leaky<T> {
    inner: Option<T>,
    leak: bool,
}

impl<T> Leaky<T> {
    /// Wraps `inner`; when `leak`, dropping the wrapper forgets it instead.
    pub fn new(inner: T, leak: bool) -> Self {
        Self { inner: Some(inner), leak }
    }

    /// Takes the value out.
    pub fn into_inner(mut self) -> T {
        self.inner.take().expect("taken once")
    }
}

impl<T> Drop for Leaky<T> {
    fn drop(&mut self) {
        if self.leak {
            std::mem::forget(self.inner.take());
        }
    }
}
