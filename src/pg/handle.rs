//! [`PgHandle`]: an "open" lock row, and the connection holding its advisory lock.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use super::conn::{Conn, Shared};
use crate::fs::{FileId, FileMeta, LockPath};

/// A lock row as one look saw it, from [`PgFs`](super::PgFs): what an open file
/// description is to the real adapter.
///
/// A row never changes once published, so the snapshot is its content for good. The
/// handle holds the row's advisory lock exactly when it carries a connection: after a
/// publish, or after a `try_lock` or `lock_until` that succeeded. Closing or dropping it
/// unlocks that connection and pools it again.
pub struct PgHandle {
    pub(super) shared: Arc<Shared>,
    pub(super) path: LockPath,
    pub(super) generation: i64,
    pub(super) payload: Vec<u8>,
    pub(super) created_ms: u64,
    pub(super) held: Mutex<Option<Conn>>,
    /// The generation the key named at the look sent right behind the `lock_until` that
    /// took this handle's lock, on the same connection (`Some(None)`: no row): a look
    /// taken while this handle held the lock. `None` when there was no such look.
    pub(super) looked: Mutex<Option<Option<i64>>>,
}

impl fmt::Debug for PgHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgHandle")
            .field("path", &self.path)
            .field("generation", &self.generation)
            .field("locked", &self.is_locked())
            .finish()
    }
}

impl PgHandle {
    /// The key this row was found or published at.
    pub fn path(&self) -> &LockPath {
        &self.path
    }

    /// The row's generation: its identity and fencing token.
    pub fn generation(&self) -> u64 {
        self.generation.unsigned_abs()
    }

    /// Whether this handle holds the row's advisory lock.
    pub fn is_locked(&self) -> bool {
        self.slot().is_some()
    }

    pub(super) fn id(&self) -> FileId {
        id_of(self.generation)
    }

    pub(super) fn meta(&self) -> FileMeta {
        FileMeta { id: self.id(), mtime_ms: self.created_ms }
    }

    pub(super) fn slot(&self) -> std::sync::MutexGuard<'_, Option<Conn>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the look behind the `lock_until` that took this handle's lock found, if any.
    pub(super) fn looked(&self) -> Option<Option<i64>> {
        *self.looked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn set_looked(&self, found: Option<Option<i64>>) {
        *self.looked.lock().unwrap_or_else(PoisonError::into_inner) = found;
    }

    /// Takes the locking connection out (to run a statement on it, or to close).
    pub(super) fn take(&self) -> Option<Conn> {
        self.slot().take()
    }

    /// Puts the locking connection back; a second one (never expected) is unlocked.
    pub(super) fn keep(&self, conn: Conn) {
        let previous = self.slot().replace(conn);
        if let Some(extra) = previous {
            self.shared.unlock_later(Some(self.generation), extra);
        }
    }

    /// Releases the advisory lock, if held, without waiting for the server's answer.
    pub(super) fn unlock(&self) {
        if let Some(conn) = self.take() {
            self.shared.unlock_later(Some(self.generation), conn);
        }
    }
}

impl Drop for PgHandle {
    /// Dropping unlocks, as closing does: a dropped handle never keeps a lock.
    fn drop(&mut self) {
        self.unlock();
    }
}

/// The [`FileId`] of a generation: `ino` is the generation, `dev` is 0.
pub(super) fn id_of(generation: i64) -> FileId {
    FileId { dev: 0, ino: generation.unsigned_abs() }
}
