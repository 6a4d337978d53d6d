//! Threads and `block_on` for the harness: loom's under `--cfg sessionlock_loom`,
//! shuttle's inside a shuttle scope, std's (with pollster) otherwise.

use std::future::Future;

/// A spawned harness thread.
pub struct Join(JoinImp);

enum JoinImp {
    #[cfg(sessionlock_loom)]
    Loom(loom::thread::JoinHandle<()>),
    #[cfg(all(feature = "shuttle", not(sessionlock_loom)))]
    Shuttle(shuttle::thread::JoinHandle<()>),
    #[cfg(not(sessionlock_loom))]
    Std(std::thread::JoinHandle<()>),
}

impl Join {
    /// Waits for the thread; re-raises its panic.
    pub fn join(self) {
        let result = match self.0 {
            #[cfg(sessionlock_loom)]
            JoinImp::Loom(h) => h.join(),
            #[cfg(all(feature = "shuttle", not(sessionlock_loom)))]
            JoinImp::Shuttle(h) => h.join(),
            #[cfg(not(sessionlock_loom))]
            JoinImp::Std(h) => h.join(),
        };
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}

/// Spawns a harness thread.
pub fn spawn(f: impl FnOnce() + Send + 'static) -> Join {
    #[cfg(sessionlock_loom)]
    return Join(JoinImp::Loom(loom::thread::spawn(f)));
    #[cfg(all(feature = "shuttle", not(sessionlock_loom)))]
    if sessionlock::sync::in_shuttle_scope() {
        let scoped = move || sessionlock::sync::shuttle_scope(f);
        return Join(JoinImp::Shuttle(shuttle::thread::spawn(scoped)));
    }
    #[cfg(not(sessionlock_loom))]
    Join(JoinImp::Std(std::thread::spawn(f)))
}

/// Runs a future to completion on the current harness thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    #[cfg(sessionlock_loom)]
    return loom::future::block_on(future);
    #[cfg(all(feature = "shuttle", not(sessionlock_loom)))]
    if sessionlock::sync::in_shuttle_scope() {
        return shuttle::future::block_on(future);
    }
    #[cfg(not(sessionlock_loom))]
    pollster::block_on(future)
}
