//! The end of every case: release everything, then prove recovery and no leaks.

use super::sut::Sut;
use crate::harness::FRESH_PID;
use crate::invariant::{Invariant, Verdict};
use crate::op::{Command, Op};

impl Sut {
    /// Ends the case, crashing nothing new:
    /// 1. settles, then releases every guard, settling after each round, with the faults
    ///    still armed; then disarms them; a task still waiting was not woken by a
    ///    release (INV-3);
    /// 2. under a fault plan, each surviving process's first task acquires at once and
    ///    releases: no failed release or acquire wedged its process (INV-3, INV-4 after a
    ///    crash);
    /// 3. a fresh process (pid [`FRESH_PID`]) acquires with no clock advance, breaking
    ///    whatever a crash left (INV-4), and releases;
    /// 4. no lock file and no live registry entry remains (INV-5).
    ///
    /// # Errors
    /// The first invariant broken.
    pub fn teardown(&mut self) -> Verdict {
        self.settle()?;
        self.release_all()?;
        self.world.clear_faults();
        if let Some(t) = self.tasks.iter().position(|t| t.running.is_some()) {
            let detail = format!(
                "{} is still waiting after every guard was released: no release woke it",
                self.who(t)
            );
            return Err((Invariant::NoSpuriousTimeout, detail));
        }
        for p in 0..self.procs.len() {
            if self.faulted && self.procs[p].locker.is_some() {
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
            return Err((inv, format!("{} could not acquire without waiting", self.who(t))));
        }
        self.begin(Command { task: t, op: Op::Release })?;
        self.settle()
    }

    /// INV-5: nothing held, nothing crashed since, so nothing may remain.
    fn check_clean(&self) -> Verdict {
        let files = self.world.file_count();
        if files != 0 {
            let detail = format!("{files} lock file(s) remain after every guard was released");
            return Err((Invariant::NoLeak, detail));
        }
        let leaked =
            self.procs.iter().find(|p| p.locker.as_ref().is_some_and(|l| !l.registry().is_empty()));
        match leaked {
            Some(p) => Err((
                Invariant::NoLeak,
                format!("pid {} keeps a registry entry after every guard was released", p.pid),
            )),
            None => Ok(()),
        }
    }
}
