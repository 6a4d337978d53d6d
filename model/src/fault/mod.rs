//! The drivers' side of fault injection: the plan's vocabulary (re-exported from
//! [`crate::injection`], which the world owns), what each failure may be explained by
//! ([`explain`]), where the faults landed ([`FaultHits`]), and the drivers that use the
//! plan: the stepped driver ([`machine`](crate::machine), proptest), the threaded driver
//! ([`harness`](crate::harness), [`shuttle`]) and [`points`] (every crash and fault point
//! of a script).
//!
//! A crashed primitive returns an error to its (dead) caller, so no task of a dead
//! process acts on what it did.

pub mod explain;
pub mod points;
pub mod script;
#[cfg(all(feature = "shuttle", not(sessionlock_loom)))]
pub mod shuttle;

pub use crate::injection::{
    CrashAt, CrashWhen, EACCES, EINTR, EIO, ENOSPC, FS_OPS, Fault, FaultKind, Injected,
};
pub use crate::world::LockFile;

/// How many faults a run injected, and where they landed: the evidence that a pass
/// under faults means something.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultHits {
    /// Faults injected in all.
    pub injected: u64,
    /// Faults that hit a publish.
    pub publish: u64,
    /// Faults that hit a step of a release (seen by the release).
    pub release: u64,
    /// Faults that hit a probe step of an acquire: open, try-lock, the kernel wait,
    /// stat, read, or the removal of a stale file.
    pub probe: u64,
}

impl FaultHits {
    /// Adds another run's counts.
    pub fn add(&mut self, other: &Self) {
        self.injected += other.injected;
        self.publish += other.publish;
        self.release += other.release;
        self.probe += other.probe;
    }

    /// Panics unless faults were injected, and hit a publish, a release and a probe.
    #[track_caller]
    pub fn assert_exercised(&self, run: &str) {
        let missing: Vec<&str> = [
            ("any step", self.injected),
            ("a publish", self.publish),
            ("a release step", self.release),
            ("a probe step", self.probe),
        ]
        .into_iter()
        .filter(|(_, n)| *n == 0)
        .map(|(what, _)| what)
        .collect();
        assert!(
            missing.is_empty(),
            "{run}: no fault hit {missing:?}, so its pass proves nothing ({self:?})"
        );
    }
}
