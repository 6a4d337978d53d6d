//! # sessionlock
//!
//! One writer at a time for a session file, across processes and across the tasks of one
//! process, with the protocol checked by loom, shuttle, proptest and stateright.
//!
//! ## The contract
//!
//! - **Advisory.** The lock excludes only code that takes it. A writer that appends to the
//!   session without the lock is not stopped (H15).
//! - **Mutual exclusion (INV-1)** across processes and tasks, for every path that reaches
//!   the lock file through the same canonical [`LockPath`].
//! - **Crash recovery without waiting (INV-4).** A holder keeps the kernel lock (`flock`)
//!   of its lock file's inode while it holds. When it dies, even by `SIGKILL`, the kernel
//!   drops that lock, and the next contender proves the death and takes over at once.
//! - **No live removal (INV-2).** A lock file is unlinked only by a task holding its
//!   kernel lock that has just checked the path still names that inode.
//! - **No spurious timeouts (INV-3).** Tasks of one process wait in memory and are woken
//!   by the release itself; contenders in other processes wait in the kernel.
//! - The full list is in `spec/invariants.md`; the protocol in `spec/protocol.md`.
//!
//! ## Non-goals
//!
//! - **NFS and filesystems without `flock`** lose the kernel proof of death. The adapter
//!   detects them and says so; it never degrades silently.
//! - **Non-Linux platforms** are not supported yet. The [`fs::LockFs`] boundary is where
//!   they would fit.
//! - **Lock files of the original TypeScript lock** carry no kernel lock. They are honoured
//!   and judged by heuristics (dead pid, recycled pid, own-pid orphan, payload-less past a
//!   grace period), never by age alone.
//!
//! ## Layout
//!
//! - [`fs`]: the traits through which the core touches storage, processes and time.
//! - [`core`]: every decision, with no I/O of its own.
//! - [`payload`]: the lock file format, compatible with the original.
//! - [`sync`]: the facade that lets loom and shuttle see every shared primitive.

pub mod core;
pub mod fs;
pub mod payload;
pub mod sync;

pub use crate::core::{
    AcquireError, Guard, Holder, Locker, Options, Owner, Reentrancy, ReleaseError, Released,
    TryAcquire,
};
pub use crate::fs::{Clock, LockFs, LockPath, Moment};
