//! One vocabulary for what the core did: traced always, and counted by checkers.

use std::time::Duration;

use super::judge::Reason;
use super::registry::PhaseKind;
use crate::fs::LockPath;

/// Something the core did or saw.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A task queued in memory behind another task of its process.
    Queued {
        /// The lock path.
        path: &'a LockPath,
        /// The phase it queued behind.
        behind: PhaseKind,
    },
    /// The same owner re-entered.
    Reentered {
        /// The lock path.
        path: &'a LockPath,
    },
    /// Publishing found the path taken.
    Contended {
        /// The lock path.
        path: &'a LockPath,
    },
    /// Waiting in the kernel for a live holder in another process.
    KernelWait {
        /// The lock path.
        path: &'a LockPath,
    },
    /// A stale lock file was removed, inode-bound, under its kernel lock.
    BrokeStale {
        /// The lock path.
        path: &'a LockPath,
        /// Why it was stale.
        reasons: &'a [Reason],
    },
    /// The lock was acquired.
    Acquired {
        /// The lock path.
        path: &'a LockPath,
        /// Time from the call to the grant.
        waited: Duration,
    },
    /// An acquire gave up at its deadline.
    TimedOut {
        /// The lock path.
        path: &'a LockPath,
    },
    /// The last guard handed its hold, lock file and all, to the next task of its process
    /// waiting for it, in memory (INV-9).
    HandedOff {
        /// The lock path.
        path: &'a LockPath,
    },
    /// The last guard removed its lock file.
    Released {
        /// The lock path.
        path: &'a LockPath,
    },
    /// A release found its file removed or replaced.
    Compromised {
        /// The lock path.
        path: &'a LockPath,
    },
    /// Closing a handle failed (after any removal; never prevents it).
    CloseFailed {
        /// The lock path.
        path: &'a LockPath,
    },
}

/// An observer shared with the core. A std `Arc`, not the facade's: observers watch the
/// checked state from outside and are never part of it.
pub type SharedObserver = std::sync::Arc<dyn Observer>; // purity: outside the checked state

/// Receives every [`Event`]. The model counts them to prove its runs reached each state.
pub trait Observer: Send + Sync {
    /// Called synchronously, outside every lock.
    fn event(&self, event: &Event<'_>);
}

/// Traces `event` and hands it to `observer`, if any.
pub(crate) fn emit(observer: Option<&dyn Observer>, event: &Event<'_>) {
    trace(event);
    if let Some(o) = observer {
        o.event(event);
    }
}

/// The tracing target of the events whose caller also gets them as an error
/// ([`Event::TimedOut`] as `AcquireError::Timeout`, [`Event::Compromised`] as
/// `ReleaseError::Compromised`): a program that reports those errors itself can leave
/// this target out, so each event is told once.
pub const OUTCOME_TARGET: &str = "sessionlock::outcome";

/// Traces `event`: at `WARN`/`ERROR` what went wrong (under [`OUTCOME_TARGET`] when the
/// caller also gets it as an error), at `INFO` a stale file broken, the rest at `TRACE`.
/// A failed close is warned about where it happens, with its error, by the protocol.
fn trace(event: &Event<'_>) {
    match event {
        Event::TimedOut { path } => {
            tracing::warn!(target: OUTCOME_TARGET, %path, "lock acquire timed out")
        }
        Event::Compromised { path } => {
            tracing::error!(target: OUTCOME_TARGET, %path, "lock was compromised while held")
        }
        Event::BrokeStale { path, reasons } => {
            tracing::info!(%path, ?reasons, "removed stale lock")
        }
        other => tracing::trace!(event = ?other, "sessionlock"),
    }
}
