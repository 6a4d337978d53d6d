//! Threads and `block_on` for the harness, chosen by the build like the core's sync facade:
//! loom's under `--cfg sessionlock_loom`, shuttle's under `--cfg sessionlock_shuttle`,
//! std's (with pollster) otherwise.

use std::future::Future;

#[cfg(sessionlock_loom)]
use loom::thread as imp;
#[cfg(sessionlock_shuttle)]
use shuttle::thread as imp;
#[cfg(not(any(sessionlock_loom, sessionlock_shuttle)))]
use std::thread as imp;

/// A spawned harness thread.
pub struct Join(imp::JoinHandle<()>);

impl Join {
    /// Waits for the thread; re-raises its panic.
    pub fn join(self) {
        if let Err(panic) = self.0.join() {
            std::panic::resume_unwind(panic);
        }
    }
}

/// Spawns a harness thread.
pub fn spawn(f: impl FnOnce() + Send + 'static) -> Join {
    Join(imp::spawn(f))
}

/// Runs a future to completion on the current harness thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    #[cfg(sessionlock_loom)]
    return loom::future::block_on(future);
    #[cfg(sessionlock_shuttle)]
    return shuttle::future::block_on(future);
    #[cfg(not(any(sessionlock_loom, sessionlock_shuttle)))]
    pollster::block_on(future)
}
