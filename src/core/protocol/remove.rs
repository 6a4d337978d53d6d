//! Removing a lock file: only while holding its kernel lock, only if the path still names
//! the file that was judged.

use super::ctx::{Ctx, HeldFile, close_quietly};
use super::queue;
use crate::core::error::{Found, ReleaseError};
use crate::core::observe::Event;
use crate::fs::{FileId, FsError, LockFs, LockPath, Opened};
use crate::payload::{MAX_PAYLOAD_BYTES, Payload};

/// What [`remove_if_names`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// The path named the file, and is now unlinked.
    Removed,
    /// Nothing was at the path.
    Missing,
    /// Another file was at the path; it was left alone.
    Other(FileId),
}

impl Removal {
    /// What was at the path instead of the file, if it was not removed: for a holder's
    /// own file, what compromised it.
    pub fn found(self) -> Option<Found> {
        match self {
            Self::Removed => None,
            Self::Missing => Some(Found::Missing),
            Self::Other(id) => Some(Found::Other(id)),
        }
    }
}

/// Whether `path` still names one file: the inode `id` or, where inode numbers drift
/// between `fstat` and `lstat` (H17), the file carrying the same publication `nonce`.
/// `Ok(None)` when it does; otherwise what is there instead.
///
/// # Errors
/// A primitive's failure.
pub async fn identify<F: LockFs, C>(
    ctx: &Ctx<'_, F, C>,
    path: &LockPath,
    id: FileId,
    nonce: Option<&str>,
) -> Result<Option<Found>, FsError> {
    Ok(match ctx.fs.path_id(path).await? {
        None => Some(Found::Missing),
        Some(now)
            if now != id
                && (cfg!(sessionlock_mutant = "h17_inode_only")
                    || !names_nonce(ctx, path, nonce).await) =>
        {
            Some(Found::Other(now))
        }
        Some(_) => None,
    })
}

/// Unlinks `path` if it still names the file whose kernel lock `held` holds (see
/// [`identify`]). Inode-bound: while we hold that kernel lock, no other task of the
/// protocol can unlink or replace the path, so the check stays true until the unlink.
///
/// The look and the unlink of inode `id` are one [`LockFs::unlink_if`]; only when the
/// path names another inode is the nonce checked (H17), and the file unlinked if it
/// carries it. With the trait's default this is the same sequence of primitives as
/// [`identify`] followed by [`LockFs::unlink`].
///
/// # Errors
/// A primitive's failure.
pub async fn remove_if_names<F: LockFs, C>(
    ctx: &Ctx<'_, F, C>,
    path: &LockPath,
    held: &F::Handle,
    id: FileId,
    nonce: Option<&str>,
) -> Result<Removal, FsError> {
    match ctx.fs.unlink_if(path, held, id).await? {
        None => Ok(Removal::Missing),
        Some(now) if now == id => Ok(Removal::Removed),
        Some(other) => {
            let same_file =
                !cfg!(sessionlock_mutant = "h17_inode_only") && names_nonce(ctx, path, nonce).await;
            if !same_file && !cfg!(sessionlock_mutant = "m2_remove_by_path") {
                return Ok(Removal::Other(other));
            }
            ctx.fs.unlink(path, held).await?;
            Ok(Removal::Removed)
        }
    }
}

/// The holder's teardown: remove its own file, inode-bound, then close best-effort; then,
/// with the queue, remove and close its ticket (R5q), which wakes its successor.
pub async fn remove_own<F: LockFs, C>(
    ctx: &Ctx<'_, F, C>,
    path: &LockPath,
    file: HeldFile<F::Handle>,
) -> Result<(), ReleaseError> {
    let removal = remove_if_names(ctx, path, &file.handle, file.id, Some(&file.nonce)).await;
    close_quietly(ctx, path, file.handle).await;
    if let Some(ticket) = file.ticket {
        queue::leave(ctx, path, ticket).await;
    }
    let Some(found) = removal?.found() else {
        ctx.emit(Event::Released { path });
        return Ok(());
    };
    ctx.emit(Event::Compromised { path });
    Err(ReleaseError::Compromised { path: path.clone(), found })
}

/// Whether the file at `path` carries the publication `nonce`.
async fn names_nonce<F: LockFs, C>(
    ctx: &Ctx<'_, F, C>,
    path: &LockPath,
    nonce: Option<&str>,
) -> bool {
    let Some(nonce) = nonce.filter(|n| !n.is_empty()) else { return false };
    let Ok(Opened::File(handle)) = ctx.fs.open(path).await else { return false };
    let bytes = ctx.fs.read(&handle, MAX_PAYLOAD_BYTES + 1).await;
    close_quietly(ctx, path, handle).await;
    let payload = bytes.ok().as_deref().and_then(Payload::parse);
    payload.and_then(|p| p.nonce).as_deref() == Some(nonce)
}
