//! The end of every case: release everything, then prove recovery and no leaks.

use super::sut::Sut;
use crate::harness::FRESH_PID;
use crate::invariant::{Invariant, Verdict};
use crate::op::{Command, Op};

impl Sut {
    /// Ends the case, crashing nothing new:
    /// 1. settles, then releases every guard, settling after each round, until no task
    ///    holds or waits (a task still waiting was not woken by a release: INV-3);
    /// 2. a fresh process (pid [`FRESH_PID`]) acquires with no clock advance, breaking
    ///    whatever a crash left (INV-4), and releases;
    /// 3. no lock file and no live registry entry remains (INV-5).
    ///
    /// # Errors
    /// The first invariant broken.
    pub fn teardown(&mut self) -> Verdict {
        self.settle()?;
        self.release_all()?;
        if let Some(t) = self.tasks.iter().position(|t| t.running.is_some()) {
            let detail = format!(
                "{} is still waiting after every guard was released: no release woke it",
                self.who(t)
            );
            return Err((Invariant::NoSpuriousTimeout, detail));
        }
        self.recover()?;
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

    /// INV-4: a new process takes the lock at once, whatever the case left behind.
    fn recover(&mut self) -> Verdict {
        let process = self.add_process(FRESH_PID, 1);
        let task = self.tasks.len() - 1;
        let before = self.world.now();
        let acquire = Command { task, op: Op::Acquire };
        self.begin(acquire)?;
        self.settle()?;
        let acquired = self.tasks[task].running.is_none() && !self.tasks[task].guards.is_empty();
        if !acquired || self.world.now() != before {
            let detail = format!(
                "a fresh process (pid {}) could not acquire without waiting",
                self.procs[process].pid
            );
            return Err((Invariant::Recovery, detail));
        }
        let release = Command { task, op: Op::Release };
        self.begin(release)?;
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
