//! How a [`Locker`](super::Locker) behaves.

use std::time::Duration;

use super::judge::Thresholds;

/// Who may re-enter a held lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reentrancy {
    /// Only the same [`Owner`](super::Owner) re-enters; any other task waits (INV-7).
    #[default]
    PerOwner,
    /// Upstream-compatible and weaker: every task of the process is one owner, so any task
    /// re-enters a lock another task holds (H14). Only for code that relied on it.
    Process,
}

/// How a [`Locker`](super::Locker) behaves.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long an acquire may wait in all, in memory and on disk. Default 10 s.
    pub timeout: Duration,
    /// Heuristics for foreign lock files.
    pub thresholds: Thresholds,
    /// Who may re-enter.
    pub reentrancy: Reentrancy,
    /// A hold budget to declare in the payload (`maxHoldMs`), for diagnostics.
    pub max_hold: Option<Duration>,
    /// First come, first served across processes (`spec/protocol.md`, section 11): a
    /// process that finds the lock held, or other processes queued, takes a ticket beside
    /// the lock file and waits for its predecessor only. Default `false`: the race of
    /// section 4, as the original lock runs it.
    pub queue: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            thresholds: Thresholds::default(),
            reentrancy: Reentrancy::default(),
            max_hold: None,
            queue: false,
        }
    }
}
