//! The sync facade: every primitive the crate shares between tasks comes from here.
//!
//! Three builds, one set of signatures, chosen at compile time:
//!
//! | build                                   | `Mutex`          | `Arc`            |
//! |-----------------------------------------|------------------|------------------|
//! | default                                 | `std::sync`      | `std::sync`      |
//! | `RUSTFLAGS="--cfg sessionlock_loom"`    | `loom::sync`     | `loom::sync`     |
//! | `RUSTFLAGS="--cfg sessionlock_shuttle"` | `shuttle::sync`  | `std::sync`      |
//!
//! Loom's and shuttle's primitives only work inside one of their executions (`loom::model`,
//! a shuttle runner), so a build with either cfg runs the core there and nowhere else: the
//! model crate's checkers do, and its runner runs the rest of its rows as the only task of
//! a shuttle execution. A cfg, not a feature: a feature is unified across the workspace, and
//! would put the library's own tests on shuttle's primitives. Shuttle's `Arc` is std's. The
//! two cfgs together are refused. `lock()` never returns a poison error: a panic while
//! holding a lock is already a test failure, and the state it guards is kept consistent by
//! construction (no critical section awaits or calls out).

#[cfg(all(sessionlock_loom, sessionlock_shuttle))]
compile_error!("`--cfg sessionlock_loom` and `--cfg sessionlock_shuttle` are two builds, not one");

#[cfg(sessionlock_loom)]
use loom::sync as imp;
#[cfg(all(sessionlock_shuttle, not(sessionlock_loom)))]
use shuttle::sync as imp;
#[cfg(not(any(sessionlock_loom, sessionlock_shuttle)))]
use std::sync as imp;

pub use imp::Arc;

/// A mutual-exclusion lock whose `lock` hides poisoning.
pub struct Mutex<T>(imp::Mutex<T>);

/// The guard returned by [`Mutex::lock`].
pub type MutexGuard<'a, T> = imp::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    /// Creates a mutex holding `value`.
    pub fn new(value: T) -> Self {
        Self(imp::Mutex::new(value))
    }

    /// Locks the mutex, ignoring poisoning.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> std::fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mutex { .. }")
    }
}

#[cfg(all(test, not(any(sessionlock_loom, sessionlock_shuttle))))]
mod tests {
    /// The facade is chosen at compile time: in the ordinary build, the model crate's
    /// feature on or off, its mutex is std's alone, with no other kind beside it to switch
    /// to at run time, and its guard is std's guard.
    #[test]
    fn the_ordinary_build_is_std_alone() {
        use std::mem::size_of;
        assert_eq!(size_of::<super::Mutex<u64>>(), size_of::<std::sync::Mutex<u64>>());
        let mutex = super::Mutex::new(7_u64);
        let guard: std::sync::MutexGuard<'_, u64> = mutex.lock();
        assert_eq!(*guard, 7);
    }
}
