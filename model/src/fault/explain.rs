//! Whether a failure is the honest report of a fault that was injected, and what each
//! task met: the faults injected into its polls and the files it published.

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::rc::Rc;

use sessionlock::core::{AcquireError, Found, ReleaseError};
use sessionlock::fs::{FileId, FsError, FsOp, LockPath};
use std::sync::Arc;

use crate::injection::{FaultHits, FaultKind, Injected};
use crate::world::World;

/// A failed operation, reduced to what an injected fault can explain.
#[derive(Debug)]
pub enum Failure<'a> {
    /// A primitive failed: its op, path and error must be the fault's.
    Fs(&'a FsError),
    /// A release found its file missing: explained by a path stat told the file vanished.
    Missing(&'a LockPath),
    /// Anything else (a timeout, a stale guard, a replaced file): no fault explains it.
    Unexplainable(String),
}

impl<'a> Failure<'a> {
    /// Reduces a failed acquire.
    pub fn of_acquire(error: &'a AcquireError) -> Self {
        match error {
            AcquireError::Fs(e) => Self::Fs(e),
            other => Self::Unexplainable(other.to_string()),
        }
    }

    /// Reduces a failed release.
    pub fn of_release(error: &'a ReleaseError) -> Self {
        match error {
            ReleaseError::Fs(e) => Self::Fs(e),
            ReleaseError::Compromised { path, found: Found::Missing } => Self::Missing(path),
            other => Self::Unexplainable(other.to_string()),
        }
    }

    /// Whether `injected` explains this failure of an operation on `path`: a typed error
    /// naming `path`, the injected primitive and the injected error; or, for a missing
    /// file, a path stat that was told the file vanished.
    pub fn explained_by(&self, injected: &Injected, path: &LockPath) -> bool {
        match self {
            Self::Fs(e) => {
                e.path == path.as_path() && e.op == injected.op && injected.kind.produced(&e.source)
            }
            Self::Missing(p) => {
                *p == path
                    && injected.op == FsOp::PathId
                    && injected.kind == FaultKind::NotFoundRace
            }
            Self::Unexplainable(_) => false,
        }
    }

    /// `Ok` if one of `injected` explains this failure, else what is wrong with it.
    ///
    /// # Errors
    /// The failure, and the faults that were injected into the operation.
    pub fn explain(&self, injected: &[Injected], path: &LockPath) -> Result<(), String> {
        if injected.iter().any(|i| self.explained_by(i, path)) {
            return Ok(());
        }
        let what = match self {
            Self::Fs(e) => format!("{e} (op {:?}, path {})", e.op, e.path.display()),
            Self::Missing(p) => format!("its lock file at {p} was missing"),
            Self::Unexplainable(e) => e.clone(),
        };
        Err(format!("{what}; not explained by the faults injected into it: {injected:?}"))
    }

    /// Whether this is the failure of a publish.
    pub fn is_publish(&self) -> bool {
        matches!(self, Self::Fs(e) if e.op == FsOp::Publish)
    }
}

/// What one task met while it was polled.
#[derive(Clone, Debug, Default)]
pub struct Witness {
    /// The faults injected into its primitives.
    pub injected: Vec<Injected>,
    /// The lock files that appeared at the path while it was polled: its publications.
    pub published: Vec<FileId>,
}

impl Witness {
    /// Counts this task's faults into `hits`, as a release's or an acquire's.
    pub fn tally(&self, hits: &mut FaultHits, releasing: bool) {
        for injected in &self.injected {
            hits.injected += 1;
            match (injected.op, releasing) {
                (_, true) => hits.release += 1,
                (FsOp::Publish, false) => hits.publish += 1,
                (_, false) => hits.probe += 1,
            }
        }
    }
}

/// A shared, single-threaded [`Witness`].
pub type WitnessCell = Rc<RefCell<Witness>>;

/// Wraps `future` so that each of its polls records, into `witness`, the faults
/// injected and the files published at `path` during that poll.
///
/// Exact only on a single-threaded executor such as [`Stepper`](crate::exec::Stepper),
/// where nothing else runs during a poll.
pub fn witnessed<F: Future>(
    world: &Arc<World>,
    path: LockPath,
    witness: &WitnessCell,
    future: F,
) -> impl Future<Output = F::Output> + use<F> {
    let (world, witness) = (Arc::clone(world), Rc::clone(witness));
    let mut future = Box::pin(future);
    poll_fn(move |cx| {
        let injected_before = world.injected_count();
        let file_before = world.file_at(path.as_path());
        let polled = future.as_mut().poll(cx);
        let file_after = world.file_at(path.as_path());
        let mut w = witness.borrow_mut();
        w.injected.extend(world.injected().drain(injected_before..));
        if let Some(id) = file_after.filter(|_| file_after != file_before) {
            w.published.push(id);
        }
        polled
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(op: FsOp, path: &str, kind: FaultKind) -> FsError {
        let source = kind.error().expect("an error kind");
        FsError::new(op, &LockPath::from_canonical(path), source)
    }

    #[test]
    fn only_the_injected_op_path_and_error_explain_a_failure() {
        let path = LockPath::from_canonical("/s.lock");
        let injected = Injected { pid: 1, op: FsOp::Unlink, kind: FaultKind::Io };
        let explains = |e: &FsError| Failure::Fs(e).explained_by(&injected, &path);
        assert!(explains(&error(FsOp::Unlink, "/s.lock", FaultKind::Io)));
        assert!(!explains(&error(FsOp::Unlink, "<handle>", FaultKind::Io)), "wrong path");
        assert!(!explains(&error(FsOp::PathId, "/s.lock", FaultKind::Io)), "wrong op");
        assert!(!explains(&error(FsOp::Unlink, "/s.lock", FaultKind::NoSpace)), "wrong error");
    }

    #[test]
    fn a_missing_file_is_explained_only_by_a_vanished_path_stat() {
        let path = LockPath::from_canonical("/s.lock");
        let race = |op| Injected { pid: 1, op, kind: FaultKind::NotFoundRace };
        assert!(Failure::Missing(&path).explained_by(&race(FsOp::PathId), &path));
        assert!(!Failure::Missing(&path).explained_by(&race(FsOp::Open), &path));
    }
}
