//! Fenced writes: a write commits only if its token is still the current one for its
//! session (INV-8).
//!
//! No lock can stop a paused or partitioned holder from writing after its lock was
//! taken over; the store must check at commit. The check runs in the writer's own
//! transaction:
//!
//! | lock row at the key            | its publisher's session holds the generation | outcome |
//! |--------------------------------|-----------------------------------------------|---------|
//! | generation = token             | yes                                           | the write commits; the row is share-locked until then, so no takeover can delete it in between |
//! | generation = token             | no (terminated, crashed, server restarted)    | [`FenceError::Lost`]: no one holds the token any more |
//! | another generation, or no row  | -                                             | [`FenceError::Superseded`] |
//!
//! A takeover deletes the row (under the dead holder's advisory lock) before publishing
//! a new one, and the delete waits for every fenced transaction that share-locked the
//! row; so every write under one token commits before the next holder's lock exists.

use tokio_postgres::{Client, GenericClient};

use super::sql;
use crate::fs::{FileId, LockPath};

/// Why a fenced write was rejected. Nothing of it was committed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FenceError {
    /// The session's lock is now another generation (or free): the writer was taken
    /// over, or released.
    #[error(
        "write to {path} rejected: token {token} was superseded (current: {})",
        current.map_or_else(|| "none".to_owned(), |g| g.to_string())
    )]
    Superseded {
        /// The session key.
        path: LockPath,
        /// The writer's token.
        token: u64,
        /// The current generation, if a lock row exists.
        current: Option<u64>,
    },
    /// The row still has the writer's generation, but the session that published it no
    /// longer holds its advisory lock: the holder's connection ended (killed,
    /// terminated, server restarted). The lock is free for the next contender.
    #[error("write to {path} rejected: the lock of token {token} is no longer held")]
    Lost {
        /// The session key.
        path: LockPath,
        /// The writer's token.
        token: u64,
    },
    /// The database failed; the transaction was not committed.
    #[error("fenced write to the database failed: {0}")]
    Db(#[from] tokio_postgres::Error),
}

/// Checks, inside the caller's transaction, that `token` is still the current lock of
/// `path`, and share-locks the lock row until that transaction ends. Run it before the
/// transaction's writes, and commit only if it succeeds.
///
/// # Errors
/// [`FenceError::Superseded`], [`FenceError::Lost`], or a database error.
pub async fn check_fence(
    tx: &impl GenericClient,
    path: &LockPath,
    token: FileId,
) -> Result<(), FenceError> {
    let key = path.as_path().to_string_lossy();
    let row = tx.query_opt(sql::FENCE, &[&key.as_ref()]).await?;
    let current = row.as_ref().map(|r| r.get::<_, i64>(0).unsigned_abs());
    match row {
        Some(row) if current == Some(token.ino) => {
            if row.get::<_, bool>(1) {
                Ok(())
            } else {
                Err(FenceError::Lost { path: path.clone(), token: token.ino })
            }
        }
        _ => Err(FenceError::Superseded { path: path.clone(), token: token.ino, current }),
    }
}

/// Appends `lines` to the transcript of `path` (table `sessionlock_transcript`) in one
/// transaction that commits only if `token` is still the session's current lock.
/// Returns how many lines were appended.
///
/// `token` is [`SessionGuard::fencing_token`](crate::api::SessionGuard::fencing_token)
/// of the guard the writer holds. `client` is any connection to the lock's database.
///
/// # Errors
/// [`FenceError::Superseded`] or [`FenceError::Lost`] when the writer no longer holds
/// the lock (nothing is written); [`FenceError::Db`] when the database fails.
pub async fn append_fenced(
    client: &mut Client,
    path: &LockPath,
    token: FileId,
    lines: &[&str],
) -> Result<u64, FenceError> {
    let tx = client.transaction().await?;
    check_fence(&tx, path, token).await?;
    let key = path.as_path().to_string_lossy();
    let token_value = i64::try_from(token.ino).unwrap_or(i64::MAX);
    let append = tx.prepare(sql::APPEND).await?;
    let mut written = 0;
    for line in lines {
        written += tx.execute(&append, &[&key.as_ref(), &token_value, line]).await?;
    }
    tx.commit().await?;
    Ok(written)
}
