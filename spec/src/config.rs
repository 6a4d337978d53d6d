//! The protocol model's static configuration, which every other part of the spec reads:
//! who runs which tasks, the fault budgets and the mutant. The dynamic part is [`State`];
//! the transitions are in [`crate::actions`] and [`crate::model`].

use crate::mutant::Mutant;
use crate::state::{Inode, State};

/// The protocol model: static configuration; the dynamic part is [`State`].
#[derive(Clone, Debug)]
pub struct ProtocolModel {
    /// The process (pid) of each task.
    pub owner: Vec<u8>,
    /// Number of processes.
    pub processes: usize,
    /// The historic failure re-introduced, if any.
    pub mutant: Option<Mutant>,
    /// Crash budget.
    pub crashes: u8,
    /// Pid-reuse budget.
    pub respawns: u8,
    /// Whether tasks may abandon an acquire at any point before they hold (a deadline
    /// passing, a cancelled future), or a hold before its unlink (a dropped guard whose
    /// release cannot complete): [`Action::Abandon`](crate::actions::Action::Abandon).
    pub deadlines: bool,
    /// K: at most this many consecutive in-memory hand-offs of one published file
    /// ([`Op::HandOff`](crate::actions::Op::HandOff), INV-9); 0 disables them.
    pub hand_off_bound: u8,
    /// Whether the cross-process queue of `spec/protocol.md` section 11 is on: tickets
    /// beside `L`, a wait on the predecessor's ticket only, no barging. Off for today's
    /// protocol (and the refinement replay of today's code).
    pub queue: bool,
}

impl ProtocolModel {
    /// Whether mutant `m` is active.
    pub fn is(&self, m: Mutant) -> bool {
        self.mutant == Some(m)
    }

    /// What a contender's liveness test on `inode` reports *now*: `true` means "dead,
    /// break it". The real protocol asks only the kernel: the flock is free.
    pub fn probe_reports_dead(&self, s: &State, inode: &Inode) -> bool {
        match self.mutant {
            Some(m) if m.judges_by_payload() => s.publisher_dead(inode),
            Some(Mutant::H7PidReuseTrust) => {
                !s.procs[usize::from(inode.pid)].alive && inode.flock.is_none()
            }
            _ => inode.flock.is_none(),
        }
    }
}
