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

/// Loom's threads are coroutines with a 32 KiB stack unless told otherwise, too small for
/// the core's futures and a panic's unwinding ("coroutine has overflowed its stack"): 512
/// KiB, in the machine words loom counts in.
#[cfg(sessionlock_loom)]
const LOOM_STACK_WORDS: usize = (512 << 10) / std::mem::size_of::<usize>();

/// Runs `f` to its end before anything else of the caller's, on a stack the core's
/// futures fit in. Under loom that is a thread of its own, joined at once: loom's first
/// thread keeps its 32 KiB coroutine stack, which no setting changes. Elsewhere `f`
/// runs right here, so the scheduling points of the other builds stay as they were.
pub fn run_alone(f: impl FnOnce() + Send + 'static) {
    #[cfg(sessionlock_loom)]
    return spawn(f).join();
    #[cfg(not(sessionlock_loom))]
    f()
}

/// Spawns a harness thread.
pub fn spawn(f: impl FnOnce() + Send + 'static) -> Join {
    #[cfg(sessionlock_loom)]
    return Join(imp::Builder::new().stack_size(LOOM_STACK_WORDS).spawn(f).expect("loom spawns"));
    #[cfg(not(sessionlock_loom))]
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
