//! Progress (the liveness half of INV-4), checked on the state graph.
//!
//! stateright's `eventually` properties need acyclic paths, and this model cycles, so
//! progress is checked directly: from **every** reachable state, let only the live tasks
//! run under a fair (rotating-priority) scheduler, with no crash, no pid reuse and no time passing.
//! A live task must be in the critical section within a bounded number of steps. In
//! particular, when the holder has crashed, the survivors (or a new process on its pid)
//! get in by their own steps, with no age threshold. States without live tasks are
//! skipped.

use crate::actions::Action;
use crate::config::ProtocolModel;
use crate::state::{Pc, State};
use crate::trace;
use stateright::Model;

/// The name under which a progress failure is reported in [`crate::SpecReport::violated`].
pub const INV4_PROGRESS: &str = "INV-4 Progress";

/// Whether a live task is in the critical section.
pub fn someone_holds(model: &ProtocolModel, s: &State) -> bool {
    s.tasks.iter().enumerate().any(|(t, task)| {
        s.procs[usize::from(model.owner[t])].alive && matches!(task.pc, Pc::Held(_))
    })
}

/// Runs the live tasks from `s` until one holds the lock, by rotating priority: at step
/// `k` the first movable task with index `>= k mod tasks` moves (else the first movable
/// one), so no movable task is passed over for more than one rotation. Returns the number
/// of steps taken, or `None` if nobody holds after `budget` steps or nobody can move.
pub fn steps_to_critical_section(model: &ProtocolModel, s: &State, budget: usize) -> Option<usize> {
    let mut s = s.clone();
    let mut actions = Vec::new();
    for taken in 0..=budget {
        if someone_holds(model, &s) {
            return Some(taken);
        }
        // The next task after the last mover that can move (task order, cyclic).
        model.actions(&s, &mut actions);
        actions.retain(|a| matches!(a, Action::Step { .. }));
        let pick = taken % s.tasks.len().max(1);
        let action = actions
            .iter()
            .find(|a| matches!(a, Action::Step { task, .. } if usize::from(*task) >= pick))
            .or(actions.first())?
            .clone();
        actions.clear();
        s = model.next_state(&s, action)?;
    }
    None
}

/// Checks progress from every reachable state with live tasks. Returns the largest number
/// of round-robin steps any state needed, or a rendered path to a state from which the
/// live tasks cannot get in within `budget` steps.
pub fn check_progress(model: &ProtocolModel, budget: usize) -> Result<usize, String> {
    let (nodes, _) = trace::search(model, |_| false);
    let mut worst = 0;
    for (i, (s, _)) in nodes.iter().enumerate() {
        let live = s.procs.iter().any(|p| p.alive);
        if !live {
            continue;
        }
        match steps_to_critical_section(model, s, budget) {
            Some(n) => worst = worst.max(n),
            None => return Err(trace::render(&nodes, i, "live tasks never get in")),
        }
    }
    Ok(worst)
}
