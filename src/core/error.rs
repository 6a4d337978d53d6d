//! What can go wrong, and who was in the way.

use std::fmt;
use std::time::Duration;

use super::judge::{Place, Reason};
use crate::fs::{FileId, FileKind, FsError, LockPath, PidState};

/// Who holds a lock, as far as one look could tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The lock path.
    pub path: LockPath,
    /// Held by another task of this very process.
    pub in_process: bool,
    /// The pid in the payload, if any. It names a process here only when `place` says
    /// so ([`Place::pid_means_something`]).
    pub pid: Option<u32>,
    /// Where the holder lives, compared with us.
    pub place: Place,
    /// Whether a live handle held the file's kernel lock: proof the holder is alive.
    pub kernel_held: bool,
    /// Whether some descriptor had the file open for writing (the read lease was
    /// refused): proof a foreign holder is alive, in any pid namespace.
    pub writer: bool,
    /// The process table's answer for `pid`, when it was asked.
    pub pid_state: Option<PidState>,
    /// How long it has been held, from `createdAt`.
    pub age: Option<Duration>,
    /// The hold budget it declared (`maxHoldMs`).
    pub max_hold: Option<Duration>,
    /// Reasons the judge found, actionable or reported only.
    pub reasons: Vec<Reason>,
    /// For a file with no usable payload, within its grace: how long until it becomes
    /// stale, unless it is written meanwhile (H9).
    pub stale_in: Option<Duration>,
}

impl Holder {
    /// A holder that is another task of this process.
    pub fn in_process(path: &LockPath, pid: u32) -> Self {
        Self {
            path: path.clone(),
            in_process: true,
            pid: Some(pid),
            place: Place::Here,
            kernel_held: false,
            writer: false,
            pid_state: None,
            age: None,
            max_hold: None,
            reasons: Vec::new(),
            stale_in: None,
        }
    }

    /// Whether the reasons found prove the holder gone, so the file may be removed.
    pub fn is_stale(&self) -> bool {
        self.reasons.iter().any(|r| r.is_actionable())
    }

    /// Whether the holder is known to be alive.
    pub fn is_alive(&self) -> bool {
        self.in_process
            || self.kernel_held
            || self.writer
            || matches!(self.pid_state, Some(PidState::Alive { .. }))
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.place, self.pid) {
            (Place::OtherPidNamespace, _) => f.write_str("a holder in another pid namespace")?,
            (Place::OtherHost, _) => f.write_str("a holder on another host")?,
            (_, Some(pid)) => write!(f, "pid {pid}")?,
            (_, None) => f.write_str("an unknown holder")?,
        }
        let liveness = if self.in_process {
            "this process"
        } else if self.kernel_held {
            "alive"
        } else if self.writer {
            "alive, file open for writing"
        } else {
            match self.pid_state {
                Some(PidState::Alive { .. }) => "alive, no kernel lock",
                Some(PidState::Dead) => "dead",
                None => "liveness unknown",
            }
        };
        write!(f, " ({liveness}")?;
        if let Some(age) = self.age {
            write!(f, ", held {:.1}s", age.as_secs_f64())?;
        }
        if let Some(max) = self.max_hold {
            write!(f, ", budget {:.1}s", max.as_secs_f64())?;
        }
        if let Some(left) = self.stale_in {
            write!(f, ", no usable payload: stale in {:.1}s", left.as_secs_f64())?;
        }
        f.write_str(")")
    }
}

/// Why an acquire failed. Contention is not an error: see `TryAcquire::Held`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcquireError {
    /// The deadline passed while the lock was held by someone else.
    #[error("timed out after {:.1}s waiting for {path}{}", waited.as_secs_f64(), held_by(holder))]
    Timeout {
        /// The lock path.
        path: LockPath,
        /// How long the acquire waited in all.
        waited: Duration,
        /// The last holder seen.
        holder: Option<Box<Holder>>,
    },
    /// Something other than a regular file sits at the lock path; it was left untouched.
    #[error("{path} is a {kind}, not a lock file; it was left untouched")]
    NotALockFile {
        /// The lock path.
        path: LockPath,
        /// What is there.
        kind: FileKind,
    },
    /// A filesystem primitive failed.
    #[error(transparent)]
    Fs(#[from] FsError),
}

fn held_by(holder: &Option<Box<Holder>>) -> String {
    holder.as_ref().map(|h| format!(", held by {h}")).unwrap_or_default()
}

/// What a release found at the lock path instead of its own file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Found {
    /// Nothing: the file was removed under the holder.
    Missing,
    /// Another inode: the file was replaced under the holder.
    Other(FileId),
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("nothing"),
            Self::Other(id) => write!(f, "another file (device {}, inode {})", id.dev, id.ino),
        }
    }
}

/// Why a release could not complete cleanly. The in-process entry is released regardless.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// The lock file was removed or replaced while held: another writer may have been in.
    #[error("lock on {path} was compromised while held: found {found} at the path")]
    Compromised {
        /// The lock path.
        path: LockPath,
        /// What was there instead.
        found: Found,
    },
    /// The guard belongs to no current hold; nothing was changed (INV-6).
    #[error("guard for {path} is stale; nothing was released")]
    StaleGuard {
        /// The lock path.
        path: LockPath,
    },
    /// A filesystem primitive failed; the lock file may remain, kernel-unlocked, and the
    /// next contender will remove it as proven stale.
    #[error(transparent)]
    Fs(#[from] FsError),
}
