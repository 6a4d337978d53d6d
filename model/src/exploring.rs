//! Whether this thread explores schedules now: set by the shuttle checkers around each
//! runner call ([`crate::checkers`]), read by the trace recorder to tell an exploring
//! shuttle task from work run alone. A leaf, so that both import it from here.

use std::cell::Cell;

std::thread_local! {
    /// Whether this thread is inside a shuttle runner that explores schedules.
    static IN_RUNNER: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread explores schedules now (inside the checkers' `explore` or
/// `replay`), as opposed to running `sequential` work, or nothing, under shuttle.
pub fn exploring() -> bool {
    IN_RUNNER.with(Cell::get)
}

/// Marks this thread as exploring until the returned guard drops, even on unwind, which
/// puts back what was there before.
pub(crate) fn enter() -> Exploring {
    Exploring(IN_RUNNER.with(|r| r.replace(true)))
}

/// See [`enter`].
pub(crate) struct Exploring(bool);

impl Drop for Exploring {
    fn drop(&mut self) {
        IN_RUNNER.with(|r| r.set(self.0));
    }
}
