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
//! - **Lock files of the original TypeScript lock** carry no kernel lock. They are honoured:
//!   while a descriptor has one open for writing (a read-lease probe refuses), its holder is
//!   alive in any pid namespace; otherwise they are judged by heuristics (dead pid, recycled
//!   pid, own-pid orphan, payload-less past a grace period), never by age alone.
//! - **A pid is judged only where it means something.** Our lock files record the holder's
//!   host, boot and pid namespace; a holder recorded elsewhere is never removed on pid
//!   grounds (where the kernel lock proves nothing, such a dead holder's file stays).
//!
//! ## Examples
//!
//! Blocking, with no async runtime:
//!
//! ```
//! use sessionlock::{Owner, SessionLock};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let session = dir.path().join("s.jsonl");
//! let lock = SessionLock::new();
//! let guard = lock.acquire_blocking(&session, Owner::new())?; // locks `s.jsonl.lock`
//! std::fs::write(&session, "{\"turn\":1}\n")?;
//! guard.release_blocking()?; // reports a lock compromised while held
//! # Ok(())
//! # }
//! ```
//!
//! On tokio (any executor works: every wait is a real wait that blocks no thread, and
//! dropping the future at any point leaves nothing held):
//!
//! ```
//! use std::time::Duration;
//! use sessionlock::{AcquireError, Owner, SessionLock};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let session = dir.path().join("s.jsonl");
//! let lock = SessionLock::builder().timeout(Duration::from_secs(10)).build();
//! let owner = Owner::new();
//! match lock.acquire(&session, owner).await {
//!     Ok(guard) => {
//!         // Re-entry by the same owner is counted; any other owner waits.
//!         let inner = lock.acquire(&session, owner).await?;
//!         inner.release().await?;
//!         guard.release().await?;
//!     }
//!     Err(AcquireError::Timeout { holder, .. }) => eprintln!("held by {holder:?}"),
//!     Err(e) => return Err(e.into()),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! ## Layout
//!
//! The public face is small on purpose:
//!
//! - [`SessionLock`] (on the real filesystem unless told otherwise), [`SessionGuard`],
//!   [`Builder`], and [`SessionLock::inspect`] / [`SessionLock::clean`] for tools; the
//!   [`api`] module documents how they wait, who holds, and cancellation.
//! - What a holder and a failure look like: [`Holder`], [`AcquireError`],
//!   [`ReleaseError`], [`Found`], [`Reason`], [`Place`], [`Cleaned`]; and [`Event`] /
//!   [`Observer`] to watch a lock work.
//! - [`fs`]: the traits through which the core touches storage, processes and time
//!   ([`LockFs`], [`Clock`], [`SessionFs`]), with everything implementing them needs;
//!   [`real`] holds the Linux adapter.
//! - `pg` (feature `postgres`): `PgFs`, the same core over PostgreSQL advisory locks,
//!   for writers on several hosts, and fenced writes checked at commit.
//!
//! The core (`core`), the lock file format (`payload`) and the sync facade that lets
//! loom and shuttle see every shared primitive (`sync`) are private. The model crate that
//! checks them turns on the hidden `__model` feature, which makes them public but
//! undocumented: it is not part of the API, and nothing outside this workspace may use it.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "sessionlock supports Linux only: its proof of a holder's death is Linux's `flock` on the \
     lock file's inode, read through `/proc`. Other platforms would need their own `LockFs`."
);

/// Declares a module that is private, or public but undocumented with the hidden
/// `__model` feature (for the model crate). Without the feature, whatever only the model
/// uses is dead code (or an unused re-export) here, and allowed to be.
macro_rules! internal {
    ($(#[$attr:meta])* mod $name:ident;) => {
        $(#[$attr])*
        #[cfg(feature = "__model")]
        #[doc(hidden)]
        pub mod $name;
        $(#[$attr])*
        #[cfg(not(feature = "__model"))]
        #[allow(dead_code, unused_imports)]
        mod $name;
    };
}

#[cfg(not(sessionlock_loom))]
pub mod api;
internal! { mod core; }
pub mod fs;
internal! { mod payload; }
#[cfg(all(feature = "postgres", not(sessionlock_loom)))]
pub mod pg;
#[cfg(not(sessionlock_loom))]
pub mod real;
internal! { mod sync; }

pub use crate::core::{
    AcquireError, Event, Found, Holder, OUTCOME_TARGET, Observer, Owner, Place, Reason, Reentrancy,
    ReleaseError, Released, TryAcquire,
};
pub use crate::fs::{Clock, LockFs, LockPath, Moment, SessionFs};
#[cfg(not(sessionlock_loom))]
pub use crate::{
    api::{Builder, Cleaned, SessionGuard, SessionLock, WithError},
    real::{RealClock, RealFs},
};
