//! The one vocabulary of operations every harness speaks: the threaded scenarios (loom,
//! shuttle, std), the single-stepping proptest machine, and the runner.

use std::time::Duration;

/// One thing a task (or the world around it) does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Acquire the lock, waiting up to the timeout.
    Acquire,
    /// Acquire only if no wait is needed.
    TryAcquire,
    /// Release the most recent guard this task holds.
    Release,
    /// Kill this task's whole process at once.
    Crash,
    /// Move logical time forward.
    Advance(Duration),
}

/// An [`Op`] addressed to one task of a multi-task harness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Command {
    /// The task, numbered across all processes.
    pub task: usize,
    /// What it does.
    pub op: Op,
}
