//! The checks: each op's outcome against the sequential model when it completes, and
//! each acquire's deadline, judged as the clock passes it.

use std::time::Duration;

use sessionlock::core::{AcquireError, Holder, TryAcquire};

use super::sut::{Pending, Running, Sut};
use crate::exec::Output;
use crate::harness::check_release;
use crate::invariant::{Invariant, Verdict};
use crate::refine::record::Registry;
use crate::subject::ModelGuard;

impl Sut {
    /// Task `t`'s op has finished: checks its outcome and updates the model.
    pub(super) fn complete(&mut self, t: usize) -> Verdict {
        let Some(Running { pending, solo, excused, .. }) = self.tasks[t].running.take() else {
            return Ok(());
        };
        match pending {
            Pending::Acquire(out) => match take(&out) {
                Ok(guard) => self.entered(t, guard),
                Err(error) => {
                    self.recorded(t, Registry::Ended);
                    self.acquire_failed(t, excused, &error)
                }
            },
            Pending::TryAcquire(out) => match take(&out) {
                Ok(TryAcquire::Acquired(guard)) => self.entered(t, guard),
                Ok(TryAcquire::Held(holder)) => {
                    self.recorded(t, Registry::Ended);
                    self.try_held(t, solo, &holder)
                }
                Err(error) => {
                    self.recorded(t, Registry::Ended);
                    self.acquire_failed(t, None, &error)
                }
            },
            Pending::Release { out, remaining } => check_release(take(&out), remaining)
                .map_err(|(inv, detail)| (inv, format!("{}: {detail}", self.who(t)))),
        }
    }

    /// INV-1: task `t` got a guard; nobody else may be inside.
    fn entered(&mut self, t: usize, guard: ModelGuard) -> Verdict {
        let other = (0..self.tasks.len()).find(|&o| o != t && !self.tasks[o].guards.is_empty());
        if let Some(o) = other {
            let detail = format!("{} entered while {} was inside", self.who(t), self.who(o));
            return Err((Invariant::MutualExclusion, detail));
        }
        self.tasks[t].guards.push(guard);
        Ok(())
    }

    /// INV-3 (INV-4 after a crash): an acquire failed. Only a timeout whose deadline
    /// passed while something legitimately held the lock is allowed.
    fn acquire_failed(&self, t: usize, excused: Option<bool>, error: &AcquireError) -> Verdict {
        if matches!(error, AcquireError::Timeout { .. }) && excused == Some(true) {
            return Ok(());
        }
        let inv = match self.stale_possible {
            true => Invariant::Recovery,
            false => Invariant::NoSpuriousTimeout,
        };
        let when = match excused {
            Some(false) => ", though nothing held the lock when its deadline passed",
            _ => "",
        };
        let detail = format!("acquire by {} failed{when}: {error}", self.who(t));
        Err((inv, detail))
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
