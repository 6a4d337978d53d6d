//! The sync facade: every primitive the crate shares between tasks comes from here.
//!
//! Three worlds, one set of signatures:
//!
//! | build                              | `Mutex`, `Arc`                                   |
//! |------------------------------------|--------------------------------------------------|
//! | default                            | `std::sync`                                      |
//! | `RUSTFLAGS="--cfg sessionlock_loom"` | `loom::sync`                                   |
//! | feature `__model` (the model crate) | `shuttle::sync` inside a `shuttle_scope`, std outside    |
//!
//! Loom replaces the primitives at compile time, because loom's types only work inside
//! `loom::model`. Shuttle is chosen per value at run time: a mutex created inside a
//! `shuttle_scope` is a shuttle mutex, any other is a std one, so one build can run the
//! checkers and the ordinary tests side by side. `lock()` never returns a poison error: a
//! panic while holding a lock is already a test failure, and the state it guards is
//! kept consistent by construction (no critical section awaits or calls out).

#[cfg(sessionlock_loom)]
pub use loom::sync::Arc;
#[cfg(not(sessionlock_loom))]
pub use std::sync::Arc;

/// A mutual-exclusion lock whose `lock` hides poisoning.
pub struct Mutex<T>(imp::Mutex<T>);

/// The guard returned by [`Mutex::lock`].
pub type MutexGuard<'a, T> = imp::Guard<'a, T>;

impl<T> Mutex<T> {
    /// Creates a mutex holding `value`.
    pub fn new(value: T) -> Self {
        Self(imp::Mutex::new(value))
    }

    /// Locks the mutex, ignoring poisoning.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock()
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

#[cfg(all(not(sessionlock_loom), feature = "__model"))]
pub use imp::{in_shuttle_scope, outside_shuttle, shuttle_scope};

#[cfg(sessionlock_loom)]
mod imp {
    pub type Guard<'a, T> = loom::sync::MutexGuard<'a, T>;

    pub struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        pub fn lock(&self) -> Guard<'_, T> {
            self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
        }
    }
}

#[cfg(all(not(sessionlock_loom), not(feature = "__model")))]
mod imp {
    pub type Guard<'a, T> = std::sync::MutexGuard<'a, T>;

    pub struct Mutex<T>(std::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub fn new(value: T) -> Self {
            Self(std::sync::Mutex::new(value))
        }

        pub fn lock(&self) -> Guard<'_, T> {
            self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
        }
    }
}

#[cfg(all(not(sessionlock_loom), feature = "__model"))]
mod imp {
    use std::cell::Cell;
    use std::ops::{Deref, DerefMut};
    use std::sync::PoisonError;

    thread_local! {
        static IN_SHUTTLE: Cell<bool> = const { Cell::new(false) };
    }

    /// Runs `f` with shuttle primitives: every facade mutex created inside is a shuttle one.
    ///
    /// Call it at the top of each closure handed to a shuttle runner and of each thread that
    /// closure spawns.
    pub fn shuttle_scope<R>(f: impl FnOnce() -> R) -> R {
        struct Reset(bool);
        impl Drop for Reset {
            fn drop(&mut self) {
                IN_SHUTTLE.with(|c| c.set(self.0));
            }
        }
        let _reset = Reset(IN_SHUTTLE.with(|c| c.replace(true)));
        f()
    }

    /// Runs `f`, a shuttle runner (`check_*`, `replay`), and leaves this thread's scope
    /// flag as it found it, even when `f` unwinds.
    ///
    /// Shuttle runs every task of an execution on this thread's stack switcher. When an
    /// execution fails (a deadlock, the step bound, a panic), the tasks it stopped are not
    /// unwound: their stacks are leaked, so the scopes open on them never close, and the
    /// flag is whatever the last task to run left it (set, after a deadlock). Without this
    /// guard every later facade mutex of the thread is a shuttle one, and it panics
    /// (`ExecutionState NotSet`) outside shuttle.
    pub fn outside_shuttle<R>(f: impl FnOnce() -> R) -> R {
        struct Restore(bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                IN_SHUTTLE.with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(IN_SHUTTLE.with(Cell::get));
        f()
    }

    /// Whether the current thread is inside a [`shuttle_scope`].
    pub fn in_shuttle_scope() -> bool {
        IN_SHUTTLE.with(Cell::get)
    }

    pub enum Mutex<T> {
        Std(std::sync::Mutex<T>),
        Shuttle(shuttle::sync::Mutex<T>),
    }

    pub enum Guard<'a, T> {
        Std(std::sync::MutexGuard<'a, T>),
        Shuttle(shuttle::sync::MutexGuard<'a, T>),
    }

    impl<T> Mutex<T> {
        pub fn new(value: T) -> Self {
            if IN_SHUTTLE.with(Cell::get) {
                Self::Shuttle(shuttle::sync::Mutex::new(value))
            } else {
                Self::Std(std::sync::Mutex::new(value))
            }
        }

        pub fn lock(&self) -> Guard<'_, T> {
            match self {
                Self::Std(m) => Guard::Std(m.lock().unwrap_or_else(PoisonError::into_inner)),
                Self::Shuttle(m) => {
                    Guard::Shuttle(m.lock().unwrap_or_else(PoisonError::into_inner))
                }
            }
        }
    }

    impl<T> Deref for Guard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            match self {
                Self::Std(g) => g,
                Self::Shuttle(g) => g,
            }
        }
    }

    impl<T> DerefMut for Guard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            match self {
                Self::Std(g) => g,
                Self::Shuttle(g) => g,
            }
        }
    }
}
