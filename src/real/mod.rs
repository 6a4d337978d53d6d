//! The Linux adapter: [`RealFs`] and [`RealClock`], which the default
//! [`SessionLock`](crate::SessionLock) is built on.
//!
//! Compiled out under `--cfg sessionlock_loom`; the checkers run the same core against
//! the in-memory model instead.
//!
//! ## How each primitive is carried out
//!
//! See [`RealFs`] for the system call behind each [`LockFs`](crate::fs::LockFs)
//! primitive. In short: a lock file is published complete and already `flock`ed
//! (`O_TMPFILE`, `flock`, `write`, `linkat`); a contender proves a holder dead with
//! `flock(LOCK_EX|LOCK_NB)`; removal is an `unlinkat` done only while holding the
//! inode's `flock` after an `lstat` showed the path still names it.
//!
//! ## Waiting
//!
//! Every wait is a future woken by one background reactor thread (`epoll` over inotify
//! descriptors, plus a timer heap), so no executor thread ever blocks and the blocking
//! API needs no runtime. A contender waiting for another process's lock watches the
//! inode with inotify for the close of the holder's descriptor and retries
//! `flock(LOCK_NB)` on each event, with a 1–50 ms backoff as a safety net only.
//!
//! ## Identity drift (H17)
//!
//! On some virtual filesystems `fstat(fd)` and `lstat(path)` give different inode
//! numbers for one file. The adapter reports what the kernel says and does not paper
//! over it; the core copes. Wherever it must check that the path still names a file it
//! holds (release, `verify`, breaking a dead holder's file), it compares identities
//! first and, when they differ, reads the file at the path and accepts it only if it
//! carries the same publication nonce (`sessionlock.nonce` in the payload). So a holder
//! still removes its own file and never anyone else's, and a dead sessionlock holder's
//! file is still broken. A foreign file carries no nonce, so on such a filesystem it
//! cannot be bound to the inode that was judged and is never removed: the contender
//! backs off and times out, naming it.
//!
//! ## Degraded mode: NFS and filesystems without `flock`
//!
//! On NFS, SMB/CIFS, FUSE, 9p, Ceph and AFS (detected with `statfs`), and wherever
//! `flock` fails with `ENOLCK`, `EOPNOTSUPP` or `ENOSYS`, a free kernel lock proves
//! nothing. The adapter then warns once per directory through `tracing::warn!`,
//! publishes `"flock": false` in its payloads there so no one treats a free kernel lock
//! on them as a proof of death, and lets the judge fall back to the heuristics used for
//! the original lock's files (dead pid, recycled pid, payload-less past its grace). A
//! pid is judged only for a holder recorded on this host, boot and pid namespace, so a
//! holder on another host is never removed on pid grounds. Waits there also rely on the
//! backoff, since inotify does not see other hosts.
//!
//! ## Where a holder lives, and the read lease
//!
//! Our payloads record this process's host name, boot id and pid namespace (read once,
//! `proc.rs`). A contender whose flock attempt succeeds on a foreign file asks the kernel
//! whether any descriptor has it open for writing (`lease.rs`: `F_SETLEASE` with
//! `F_RDLCK`, given back at once): the original lock keeps its file open for writing
//! while it holds, so a writer is a live holder in any pid namespace, and the contender
//! waits for inotify's `IN_CLOSE_WRITE` on the inode (`wait.rs`) instead of polling.
//!
//! ## One registry per process
//!
//! Every real lock shares one registry (`registry()`), so two locks built
//! separately in one process can never split the in-process state of a path.

mod clock;
mod degraded;
mod dir;
mod fs;
mod handle;
mod lease;
mod path;
mod proc;
mod publish;
mod reactor;
mod registration;
mod sys;
mod wait;

use std::io;
use std::path::Path;
use std::sync::OnceLock;

pub use clock::RealClock;
pub use fs::RealFs;
pub(crate) use handle::RealHandle;
pub(crate) use path::{lock_path_for, session_path_of};

use crate::core::Registry;
use crate::core::protocol::HeldFile;
use crate::fs::{LockPath, SessionFs};
use crate::sync::Arc;

/// The one registry every real lock of this process shares.
pub(crate) fn registry() -> Arc<Registry<HeldFile<RealHandle>>> {
    static REGISTRY: OnceLock<Arc<Registry<HeldFile<RealHandle>>>> = OnceLock::new();
    Arc::clone(REGISTRY.get_or_init(Arc::default))
}

impl SessionFs for RealFs {
    fn lock_path_for(&self, session: &Path) -> io::Result<LockPath> {
        lock_path_for(session)
    }
}
