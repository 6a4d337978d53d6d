//! The checks: each op's outcome against the sequential model when it completes, and
//! each acquire's deadline, judged as the clock passes it. A failure is excused only by a
//! fault injected into the op itself, or, for a timeout, by a holder when the deadline
//! passed.

use std::time::Duration;

use sessionlock::core::{AcquireError, Holder, ReleaseError, Released, TryAcquire};

use super::sut::{Pending, Running, Sut};
use crate::exec::Output;
use crate::fault::explain::{Failure, Witness};
use crate::harness::{check_release, lock_path};
use crate::invariant::{Invariant, Verdict};
use crate::refine::record::Registry;
use crate::subject::ModelGuard;

impl Sut {
    /// Task `t`'s op has finished: counts its faults, checks its outcome and updates the
    /// model.
    pub(super) fn complete(&mut self, t: usize) -> Verdict {
        let Some(Running { pending, solo, excused, witness, .. }) = self.tasks[t].running.take()
        else {
            return Ok(());
        };
        let witness = witness.borrow().clone();
        witness.tally(&mut self.hits, matches!(pending, Pending::Release { .. }));
        match pending {
            Pending::Acquire(out) => match take(&out) {
                Ok(guard) => self.entered(t, guard, &witness),
                Err(error) => {
                    self.recorded(t, Registry::Ended);
                    self.acquire_failed(t, excused, &error, &witness)
                }
            },
            Pending::TryAcquire(out) => match take(&out) {
                Ok(TryAcquire::Acquired(guard)) => self.entered(t, guard, &witness),
                Ok(TryAcquire::Held(holder)) => {
                    self.recorded(t, Registry::Ended);
                    self.try_held(t, solo, &holder)
                }
                Err(error) => {
                    self.recorded(t, Registry::Ended);
                    self.acquire_failed(t, None, &error, &witness)
                }
            },
            Pending::Release { out, remaining } => {
                self.released(t, take(&out), remaining, &witness)
            }
        }
    }

    /// INV-1: task `t` got a guard; nobody else may be inside.
    fn entered(&mut self, t: usize, guard: ModelGuard, witness: &Witness) -> Verdict {
        let other = (0..self.tasks.len()).find(|&o| o != t && !self.tasks[o].guards.is_empty());
        if let Some(o) = other {
            let detail = format!("{} entered while {} was inside", self.who(t), self.who(o));
            return Err((Invariant::MutualExclusion, detail));
        }
        let task = &mut self.tasks[t];
        if task.guards.is_empty() {
            task.file = witness.published.last().copied();
        }
        task.guards.push(guard);
        Ok(())
    }

    /// INV-3 (INV-4 after a crash): an acquire failed. Only a timeout whose deadline
    /// passed while something legitimately held the lock, or the honest report of a fault
    /// injected into it, is allowed; and then it leaves nothing behind.
    fn acquire_failed(
        &self,
        t: usize,
        excused: Option<bool>,
        error: &AcquireError,
        witness: &Witness,
    ) -> Verdict {
        if matches!(error, AcquireError::Timeout { .. }) && excused == Some(true) {
            return Ok(());
        }
        if let Err(detail) = Failure::of_acquire(error).explain(&witness.injected, &lock_path()) {
            let when = match excused {
                Some(false) => ", though nothing held the lock when its deadline passed",
                _ => "",
            };
            let detail = format!("acquire by {} failed{when}: {detail}", self.who(t));
            return Err((self.failure_invariant(), detail));
        }
        self.left_nothing(t, witness)
    }

    /// INV-5 for a failed acquire by task `t`:
    /// - once no other task of its process is busy or inside, its process has no
    ///   registry entry;
    /// - no file it published (a file that appeared at the path during one of its
    ///   polls) is still at the path, kernel-locked or not.
    fn left_nothing(&self, t: usize, witness: &Witness) -> Verdict {
        let p = self.tasks[t].process;
        let siblings_idle = self.tasks.iter().enumerate().all(|(o, task)| {
            o == t || task.process != p || (task.running.is_none() && task.guards.is_empty())
        });
        let registry_used = self.procs[p].locker.as_ref().is_some_and(|l| !l.registry().is_empty());
        if siblings_idle && registry_used {
            let detail = format!("failed acquire by {} left a registry entry", self.who(t));
            return Err((Invariant::NoLeak, detail));
        }
        match self.world.lock_file(lock_path().as_path()) {
            Some(file) if witness.published.contains(&file.id) => {
                let detail = format!(
                    "failed acquire by {} left the file it published behind ({:?}, kernel-locked: {})",
                    self.who(t),
                    file.id,
                    file.kernel_locked
                );
                Err((Invariant::NoLeak, detail))
            }
            _ => Ok(()),
        }
    }

    /// The sequential spec: a try-acquire alone with a free lock must get it; a file a
    /// crash left behind must be broken and taken over (INV-4). Otherwise, something was
    /// left behind (INV-5).
    fn try_held(&self, t: usize, solo: bool, holder: &Holder) -> Verdict {
        if !solo {
            return Ok(());
        }
        let inv = match self.stale_possible {
            true => Invariant::Recovery,
            false => Invariant::NoLeak,
        };
        let detail = format!(
            "try-acquire by {}, with no other task busy or inside, found the lock held by {holder}",
            self.who(t)
        );
        Err((inv, detail))
    }

    /// A release reports the reference's count, and the last one removes the file it
    /// published; it may fail only as the honest report of a fault injected into it.
    fn released(
        &mut self,
        t: usize,
        released: Result<Released, ReleaseError>,
        remaining: usize,
        witness: &Witness,
    ) -> Verdict {
        let file = if remaining == 0 { self.tasks[t].file.take() } else { None };
        if matches!(released, Ok(Released::Removed))
            && file.is_some()
            && self.world.file_at(lock_path().as_path()) == file
        {
            let detail = format!(
                "{}'s release reported the lock removed, but its file {file:?} remains",
                self.who(t)
            );
            return Err((Invariant::NoLeak, detail));
        }
        if let Err(error) = &released
            && remaining == 0
            && Failure::of_release(error).explain(&witness.injected, &lock_path()).is_ok()
        {
            return Ok(());
        }
        check_release(released, remaining).map_err(|(inv, detail)| {
            let faults = &witness.injected;
            (inv, format!("{}: {detail}; faults injected into it: {faults:?}", self.who(t)))
        })
    }

    /// Moves the clock; judges every acquire whose deadline this passes (see
    /// [`Sut::timeout_excused`]).
    pub(super) fn advance(&mut self, by: Duration) {
        let stalled = !self
            .tasks
            .iter()
            .any(|t| t.running.as_ref().is_some_and(|r| self.ex.is_runnable(r.slot)));
        self.world.advance(by);
        let now = self.world.now();
        for t in 0..self.tasks.len() {
            let crossed = self.tasks[t].running.as_ref().is_some_and(|r| {
                r.excused.is_none() && r.deadline.is_some_and(|deadline| deadline <= now)
            });
            if crossed {
                let excused = self.timeout_excused(t, stalled);
                if let Some(running) = self.tasks[t].running.as_mut() {
                    running.excused = Some(excused);
                }
            }
        }
    }

    /// Whether a timeout of task `t`, whose deadline has just passed, would be
    /// legitimate. It would not if every task was stalled (nothing runnable was left
    /// unpolled while time moved), no other task was busy or inside, and no crash had
    /// left a file: then nothing held the lock, and the acquire waits for nothing.
    fn timeout_excused(&self, t: usize, stalled: bool) -> bool {
        !stalled || self.stale_possible || self.others_busy_or_inside(t)
    }
}

fn take<T>(out: &Output<T>) -> T {
    out.borrow_mut().take().expect("a finished task left its output")
}
