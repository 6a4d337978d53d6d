//! The stateright [`Model`] of the static configuration ([`ProtocolModel`]): initial state,
//! enabled actions, environment faults (crash, pid reuse) and canonicalization after every
//! step.

use crate::actions::{Action, Op};
use crate::config::ProtocolModel;
use crate::state::{Entry, Pc, Proc, State, Task, TaskId};
use stateright::{Model, Property};

impl Model for ProtocolModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        let proc =
            Proc { alive: true, incarnation: 0, entry: Entry::Idle, queue: Vec::new(), handed: 0 };
        let task = Task::at(Pc::Want);
        vec![State {
            path: None,
            tickets: Vec::new(),
            inodes: Vec::new(),
            procs: vec![proc; self.processes],
            tasks: vec![task; self.owner.len()],
            crashes_left: self.crashes,
            respawns_left: self.respawns,
            unlinked: None,
        }]
    }

    fn actions(&self, s: &State, actions: &mut Vec<Action>) {
        for t in 0..s.tasks.len() {
            let task = TaskId::try_from(t).expect("few tasks");
            if let Some(op) = self.op(s, task) {
                actions.push(Action::Step { pid: self.owner[t], task, op });
            }
            if self.may_hand_off(s, task) {
                actions.push(Action::Step { pid: self.owner[t], task, op: Op::HandOff });
            }
            if self.may_try(s, task) {
                actions.push(Action::Step { pid: self.owner[t], task, op: Op::TryList });
            }
            if self.may_find_busy(s, task) {
                actions.push(Action::Step { pid: self.owner[t], task, op: Op::TryBusy });
            }
            if self.may_abandon(s, task) {
                actions.push(Action::Abandon { pid: self.owner[t], task });
            }
        }
        for (p, proc) in s.procs.iter().enumerate() {
            let pid = u8::try_from(p).expect("few processes");
            if proc.alive && s.crashes_left > 0 {
                actions.push(Action::Crash { pid });
            }
            if !proc.alive && s.respawns_left > 0 {
                actions.push(Action::ReusePid { pid });
            }
        }
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let mut s = last.clone();
        s.unlinked = None;
        match action {
            Action::Step { task, op: Op::HandOff, .. } => self.hand_off(&mut s, task),
            Action::Step { task, op: Op::TryList, .. } => self.try_list(&mut s, task),
            Action::Step { task, op: Op::TryBusy, .. } => Self::find_busy(&mut s, task),
            Action::Step { task, .. } => self.step(&mut s, task),
            Action::Abandon { task, .. } => self.abandon(&mut s, task),
            Action::Crash { pid } => {
                s.crashes_left -= 1;
                s.procs[usize::from(pid)].alive = false;
                s.procs[usize::from(pid)].entry = Entry::Idle;
                s.procs[usize::from(pid)].queue.clear();
                s.procs[usize::from(pid)].handed = 0;
                for inode in &mut s.inodes {
                    if inode.flock.is_some_and(|h| self.owner[usize::from(h)] == pid) {
                        inode.flock = None;
                    }
                }
                for t in 0..s.tasks.len() {
                    if self.owner[t] == pid {
                        s.tasks[t] = Task::at(Pc::Dead);
                        s.forget(TaskId::try_from(t).expect("few tasks"));
                        s.unlist(TaskId::try_from(t).expect("few tasks"));
                    }
                }
            }
            Action::ReusePid { pid } => {
                s.respawns_left -= 1;
                let p = &mut s.procs[usize::from(pid)];
                p.alive = true;
                p.incarnation += 1;
                for (t, task) in s.tasks.iter_mut().enumerate() {
                    if self.owner[t] == pid {
                        task.pc = Pc::Want;
                    }
                }
            }
        }
        s.canonicalize();
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        crate::properties::all_with(self.queue, self.tries)
    }
}
