//! The public lock API: one generic [`SessionLock`] over any
//! [`LockFs`](crate::fs::LockFs), as lock_api has one `Mutex<R, T>` over any raw mutex.
//!
//! `SessionLock` with no type parameters is the lock on the real filesystem
//! (`SessionLock<RealFs, RealClock>`); other filesystems implement
//! [`SessionFs`](crate::fs::SessionFs) and build theirs with [`Builder::build_with`].
//!
//! Each entry point comes in two forms with the same behaviour:
//! - `acquire` / `try_acquire` (and `lock` / `try_lock` / `with`) are futures. Every wait inside them (the in-process
//!   queue, the kernel lock, a deadline) is a real wait that occupies no thread, and each
//!   filesystem step is a non-waiting system call, so they can be awaited on any
//!   executor, tokio included.
//! - `acquire_blocking` / `try_acquire_blocking` (and `lock_blocking` / `try_lock_blocking` /
//!   `with_blocking`) run the same future on the calling thread, parking it while it waits. They need no runtime. Do not call them from
//!   async code.
//!
//! Who holds:
//!
//! | entry point                | owner                            | re-entry by the same caller |
//! |----------------------------|----------------------------------|-----------------------------|
//! | `acquire`, `try_acquire`   | the [`Owner`](crate::Owner) given    | counted (INV-7)             |
//! | `lock`, `try_lock`, `with` | a fresh [`Owner`](crate::Owner) for each call | none: a second call waits, as on a `tokio::sync::Mutex` |
//!
//! Cancellation (H19): dropping an `acquire` future at any point leaves nothing behind. A
//! queued waiter withdraws, a task holding the path's turn hands it on, an open probe
//! handle is closed, and a lock file is only ever published in the same poll that hands
//! its guard to the caller, so no lock can be granted to a caller who is gone.

mod block_on;
mod guard;
mod lock;
mod on_linux;
mod scoped;

#[cfg(not(feature = "__model"))]
pub(crate) use block_on::block_on;
#[cfg(feature = "__model")]
#[doc(hidden)]
pub use block_on::block_on;
pub use guard::SessionGuard;
pub use lock::{Builder, Cleaned, SessionLock};
pub use scoped::WithError;
