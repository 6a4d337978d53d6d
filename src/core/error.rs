//! What can go wrong, and who was in the way.

use std::fmt;
use std::time::Duration;

use super::judge::{Place, Reason};
use crate::fs::{FileId, FileKind, FsError, LockPath, PidState};

/// Who holds a lock, as far as one look could tell.
///
/// A read-only report: the core fills it in, callers read it through the accessors
/// below. Its fields are private so that how the evidence is kept can change without
/// breaking callers (the four liveness answers, for one, may become one enum), and so
/// that no caller can build or edit one into a report the judge never made:
///
/// ```compile_fail
/// fn pid(holder: &sessionlock::Holder) -> Option<u32> {
///     holder.pid // error[E0616]: field `pid` is private; call `holder.pid()`
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub(crate) path: LockPath,
    pub(crate) in_process: bool,
    pub(crate) pid: Option<u32>,
    pub(crate) place: Place,
    pub(crate) kernel_held: bool,
    pub(crate) writer: bool,
    pub(crate) pid_state: Option<PidState>,
    pub(crate) age: Option<Duration>,
    pub(crate) max_hold: Option<Duration>,
    pub(crate) reasons: Vec<Reason>,
    pub(crate) stale_in: Option<Duration>,
}

/// A holder found on disk as a probe that learned only the payload's pid and the kernel
/// lock's answer describes it: no place, writer, process-table answer, age or budget (the
/// core's own look, `protocol::inspect`, fills in every field). For the model's probes.
pub fn probed(
    path: &LockPath,
    pid: Option<u32>,
    kernel_held: bool,
    reasons: Vec<Reason>,
) -> Holder {
    Holder {
        path: path.clone(),
        in_process: false,
        pid,
        place: Place::Unrecorded,
        kernel_held,
        writer: false,
        pid_state: None,
        age: None,
        max_hold: None,
        reasons,
        stale_in: None,
    }
}

impl Holder {
    /// A holder that is another task of this process.
    pub(crate) fn in_process(path: &LockPath, pid: u32) -> Self {
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

    /// The lock path.
    pub fn path(&self) -> &LockPath {
        &self.path
    }

    /// Whether the holder is another task of this very process.
    pub fn is_in_process(&self) -> bool {
        self.in_process
    }

    /// The pid in the payload, if any. It names a process here only when
    /// [`place`](Self::place) says so ([`Place::pid_means_something`]).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Where the holder lives, compared with us.
    pub fn place(&self) -> Place {
        self.place
    }

    /// Whether a live handle held the file's kernel lock: proof the holder is alive.
    pub fn is_kernel_held(&self) -> bool {
        self.kernel_held
    }

    /// Whether some descriptor had the file open for writing (the read lease was
    /// refused): proof a foreign holder is alive, in any pid namespace.
    pub fn has_writer(&self) -> bool {
        self.writer
    }

    /// The process table's answer for [`pid`](Self::pid), when it was asked.
    pub fn pid_state(&self) -> Option<PidState> {
        self.pid_state
    }

    /// How long it has been held, from `createdAt`.
    pub fn age(&self) -> Option<Duration> {
        self.age
    }

    /// The hold budget it declared (`maxHoldMs`).
    pub fn max_hold(&self) -> Option<Duration> {
        self.max_hold
    }

    /// Reasons the judge found, actionable or reported only.
    pub fn reasons(&self) -> &[Reason] {
        &self.reasons
    }

    /// For a file with no usable payload, within its grace: how long until it becomes
    /// stale, unless it is written meanwhile (H9).
    pub fn stale_in(&self) -> Option<Duration> {
        self.stale_in
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
