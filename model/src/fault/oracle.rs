//! The fault driver's checks: each op's outcome when it completes, and the teardown.

use sessionlock::core::{Holder, ReleaseError, Released, TryAcquire};

use super::explain::{Failure, Witness};
use super::machine::{Driver, Pending, Running};
use crate::exec::Output;
use crate::harness::{FRESH_PID, check_release, lock_path};
use crate::invariant::{Invariant, Verdict};
use crate::op::{Command, Op};
use crate::subject::ModelGuard;

impl Driver {
    /// Task `t`'s op has finished: counts its faults, checks its outcome.
    pub(super) fn complete(&mut self, t: usize) -> Verdict {
        let Some(Running { pending, solo, witness, .. }) = self.tasks[t].running.take() else {
            return Ok(());
        };
        let witness = witness.borrow().clone();
        witness.tally(&mut self.hits, matches!(pending, Pending::Release { .. }));
        match pending {
            Pending::Acquire(out) => match take(&out) {
                Ok(guard) => self.entered(t, guard, &witness),
                Err(error) => self.acquire_failed(t, &Failure::of_acquire(&error), &witness),
            },
            Pending::TryAcquire(out) => match take(&out) {
                Ok(TryAcquire::Acquired(guard)) => self.entered(t, guard, &witness),
                Ok(TryAcquire::Held(holder)) => self.try_held(t, solo, &holder),
                Err(error) => self.acquire_failed(t, &Failure::of_acquire(&error), &witness),
            },
            Pending::Release { out, remaining } => {
                self.released(t, take(&out), remaining, &witness)
            }
        }
    }

    /// INV-1: task `t` got a guard; nobody else may hold one.
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

    /// A failed acquire must report a fault injected into it, and leave nothing behind.
    fn acquire_failed(&self, t: usize, failure: &Failure<'_>, witness: &Witness) -> Verdict {
        if let Err(detail) = failure.explain(&witness.injected, &lock_path()) {
            let detail = format!("acquire by {} failed: {detail}", self.who(t));
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

    /// A try-acquire alone must find the lock free, or a file it can prove stale.
    fn try_held(&self, t: usize, solo: bool, holder: &Holder) -> Verdict {
        if !solo {
            return Ok(());
        }
        let inv = if self.crashed { Invariant::Recovery } else { Invariant::NoLeak };
        let detail = format!(
            "try-acquire by {}, with no other task busy or inside, found the lock held by {holder}",
            self.who(t)
        );
        Err((inv, detail))
    }

    /// A release reports the right count, and the last one removes the file; it may
    /// fail only as a fault injected into it.
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
            (
                inv,
                format!(
                    "{}: {detail}; faults injected into it: {:?}",
                    self.who(t),
                    witness.injected
                ),
            )
        })
    }

    /// Ends the case:
    /// 1. settles, then releases every guard, settling after each round, with the faults
    ///    still armed; then disarms them; a task still waiting was not woken by a
    ///    release (INV-3);
    /// 2. each surviving process's first task acquires at once and releases: no failed
    ///    release or acquire wedged its process (INV-3, INV-4 after a crash);
    /// 3. a fresh process acquires at once, breaking whatever was left (INV-4);
    /// 4. no lock file and no live registry entry remains (INV-5).
    ///
    /// # Errors
    /// The first invariant broken.
    pub fn teardown(&mut self) -> Verdict {
        self.settle()?;
        self.release_all()?;
        self.world.clear_faults();
        if let Some(t) = self.tasks.iter().position(|t| t.running.is_some()) {
            let detail = format!("{} still waits after every guard was released", self.who(t));
            return Err((Invariant::NoSpuriousTimeout, detail));
        }
        for p in 0..self.procs.len() {
            if self.procs[p].locker.is_some() {
                let first = self.tasks.iter().position(|t| t.process == p).expect("a task");
                self.acquire_at_once(first, self.failure_invariant())?;
            }
        }
        let fresh = self.add_process(FRESH_PID, 1);
        let task = self.tasks.iter().position(|t| t.process == fresh).expect("a task");
        self.acquire_at_once(task, Invariant::Recovery)?;
        self.check_clean()
    }

    fn release_all(&mut self) -> Verdict {
        loop {
            let holders: Vec<usize> = (0..self.tasks.len())
                .filter(|&t| self.tasks[t].running.is_none() && !self.tasks[t].guards.is_empty())
                .collect();
            if holders.is_empty() {
                return Ok(());
            }
            for task in holders {
                self.begin(Command { task, op: Op::Release })?;
            }
            self.settle()?;
        }
    }

    /// Task `t` acquires with the clock still, then releases; `inv` if it cannot.
    fn acquire_at_once(&mut self, t: usize, inv: Invariant) -> Verdict {
        let before = self.world.now();
        self.begin(Command { task: t, op: Op::Acquire })?;
        self.settle()?;
        let task = &self.tasks[t];
        if task.running.is_some() || task.guards.is_empty() || self.world.now() != before {
            return Err((inv, format!("{} could not acquire at once", self.who(t))));
        }
        self.begin(Command { task: t, op: Op::Release })?;
        self.settle()
    }

    fn check_clean(&self) -> Verdict {
        let files = self.world.file_count();
        if files != 0 {
            let detail = format!("{files} lock file(s) remain after every guard was released");
            return Err((Invariant::NoLeak, detail));
        }
        let leaked =
            self.procs.iter().find(|p| p.locker.as_ref().is_some_and(|l| !l.registry().is_empty()));
        match leaked {
            Some(p) => Err((Invariant::NoLeak, format!("pid {} keeps a registry entry", p.pid))),
            None => Ok(()),
        }
    }
}

impl Driver {
    /// Whether any task other than `t` is busy or inside.
    pub(super) fn others_busy_or_inside(&self, t: usize) -> bool {
        self.tasks
            .iter()
            .enumerate()
            .any(|(i, o)| i != t && (o.running.is_some() || !o.guards.is_empty()))
    }

    /// The invariant an unexplained failure breaks: INV-4 once a crash may have left a
    /// file behind, else INV-3.
    pub(super) fn failure_invariant(&self) -> Invariant {
        match self.crashed {
            true => Invariant::Recovery,
            false => Invariant::NoSpuriousTimeout,
        }
    }

    /// The first violation the world recorded, if any.
    pub(super) fn check_world(&self) -> Verdict {
        self.world.first_violation().map_or(Ok(()), Err)
    }

    /// Names task `t` in reports.
    pub(super) fn who(&self, t: usize) -> String {
        let task = &self.tasks[t];
        format!("task {t} ({:?} of pid {})", task.owner, self.procs[task.process].pid)
    }
}

fn take<T>(out: &Output<T>) -> T {
    out.borrow_mut().take().expect("a finished task left its output")
}
