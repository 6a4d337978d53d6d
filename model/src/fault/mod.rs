//! The drivers' side of fault injection: the plan's vocabulary (re-exported from
//! [`crate::injection`], which the world owns), what each failure may be explained by
//! ([`explain`]), where the faults landed ([`FaultHits`]), and the drivers that use the
//! plan: the stepped driver ([`machine`](crate::machine), proptest), the threaded driver
//! ([`harness`](crate::harness), and `shuttle` in the shuttle build) and [`points`]
//! (every crash and fault point of a script).
//!
//! A crashed primitive returns an error to its (dead) caller, so no task of a dead
//! process acts on what it did.

pub mod explain;
pub mod points;
pub mod script;
#[cfg(sessionlock_shuttle)]
pub mod shuttle;

pub use crate::injection::{
    CrashAt, CrashWhen, EACCES, EINTR, EIO, ENOSPC, FS_OPS, Fault, FaultHits, FaultKind, Injected,
};
pub use crate::world::LockFile;
