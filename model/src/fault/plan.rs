//! The plan inside the world: armed entries, their counters, the log of what fired, and
//! the [`World`] methods that install and read it.

use std::collections::BTreeMap;
use std::path::Path;

use sessionlock::fs::{FileId, FsOp};

use super::{CrashAt, CrashWhen, Fault, FaultKind, Injected};
use crate::world::{Pid, State, World, file_id};

/// A plan entry with its own per-process count of the primitives it could hit.
struct Armed<T> {
    entry: T,
    seen: BTreeMap<Pid, u64>,
    fired: bool,
}

impl<T> Armed<T> {
    fn new(entry: T) -> Self {
        Self { entry, seen: BTreeMap::new(), fired: false }
    }

    /// Counts a matching primitive of `pid`; `true` if it is the one to hit.
    fn hit(&mut self, pid: Pid, at: u64, matches: bool) -> bool {
        if self.fired || !matches {
            return false;
        }
        let seen = self.seen.entry(pid).or_default();
        let hit = *seen == at;
        *seen += 1;
        self.fired = hit;
        hit
    }
}

/// The fault plan a world carries (empty by default: nothing is injected).
#[derive(Default)]
pub(crate) struct FaultPlan {
    faults: Vec<Armed<Fault>>,
    crashes: Vec<Armed<CrashAt>>,
    log: Vec<Injected>,
    crashed: u64,
}

/// What the plan does to one primitive.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Intercept {
    /// Kill the process before or after the primitive.
    pub crash: Option<CrashWhen>,
    /// Make the primitive fail (ignored when the crash comes before it).
    pub fault: Option<FaultKind>,
}

impl FaultPlan {
    fn intercept(&mut self, pid: Pid, op: FsOp) -> Intercept {
        let mut crash = None;
        for armed in &mut self.crashes {
            let (at, target, when) = (armed.entry.at, armed.entry.pid, armed.entry.when);
            if armed.hit(pid, at, target == pid) {
                crash = crash.or(Some(when));
            }
        }
        self.crashed += u64::from(crash.is_some());
        if crash == Some(CrashWhen::Before) {
            return Intercept { crash, fault: None };
        }
        let mut fault = None;
        for armed in &mut self.faults {
            let (at, matches) = (armed.entry.at, armed.entry.matches(pid, op));
            if armed.hit(pid, at, matches) {
                fault = fault.or(Some(armed.entry.kind));
            }
        }
        if let Some(kind) = fault {
            self.log.push(Injected { pid, op, kind });
        }
        Intercept { crash, fault }
    }
}

impl State {
    /// Consults the fault plan for primitive `op` of `pid`, counting what it injects.
    pub(crate) fn intercept(&mut self, pid: Pid, op: FsOp) -> Intercept {
        let hook = self.faults.intercept(pid, op);
        self.stats.faults_injected += u64::from(hook.fault.is_some());
        hook
    }
}

/// What sits at a lock path, seen from outside the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockFile {
    /// Its identity.
    pub id: FileId,
    /// Whether any open handle holds its kernel lock.
    pub kernel_locked: bool,
    /// Its content.
    pub data: Vec<u8>,
}

impl World {
    /// Installs `faults`, replacing any before; their counts start from 0 now.
    pub fn set_faults(&self, faults: Vec<Fault>) {
        self.state.lock().faults.faults = faults.into_iter().map(Armed::new).collect();
    }

    /// Installs crash points, replacing any before; their counts start from 0 now.
    pub fn set_crash_points(&self, points: Vec<CrashAt>) {
        self.state.lock().faults.crashes = points.into_iter().map(Armed::new).collect();
    }

    /// Disarms every fault and crash point (the log of what fired stays).
    pub fn clear_faults(&self) {
        let mut st = self.state.lock();
        st.faults.faults.clear();
        st.faults.crashes.clear();
    }

    /// Every fault injected so far, in order.
    pub fn injected(&self) -> Vec<Injected> {
        self.state.lock().faults.log.clone()
    }

    /// How many faults were injected so far.
    pub fn injected_count(&self) -> usize {
        self.state.lock().faults.log.len()
    }

    /// How many crash points have fired so far.
    pub fn crash_points_fired(&self) -> u64 {
        self.state.lock().faults.crashed
    }

    /// Whether process `pid` exists and is alive.
    pub fn is_alive(&self, pid: Pid) -> bool {
        self.state.lock().procs.get(&pid).is_some_and(|p| p.alive)
    }

    /// The file at `path`, if any, with its kernel-lock state and content.
    pub fn lock_file(&self, path: &Path) -> Option<LockFile> {
        let st = self.state.lock();
        let ino = *st.paths.get(path)?;
        let inode = st.inodes.get(&ino)?;
        let kernel_locked = inode.lock.is_some_and(|h| st.handles.contains_key(&h));
        Some(LockFile { id: file_id(ino), kernel_locked, data: inode.data.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_counts_only_matching_primitives_of_its_process_and_fires_once() {
        let fault = Fault { at: 1, pid: Some(7), op: Some(FsOp::Open), kind: FaultKind::Io };
        let mut plan = FaultPlan { faults: vec![Armed::new(fault)], ..FaultPlan::default() };
        let mut fired = Vec::new();
        for (pid, op) in
            [(7, FsOp::Open), (8, FsOp::Open), (7, FsOp::Read), (7, FsOp::Open), (7, FsOp::Open)]
        {
            fired.push(plan.intercept(pid, op).fault.is_some());
        }
        assert_eq!(fired, [false, false, false, true, false]);
        assert_eq!(plan.log, [Injected { pid: 7, op: FsOp::Open, kind: FaultKind::Io }]);
    }

    #[test]
    fn a_crash_before_a_primitive_preempts_its_fault() {
        let fault = Fault { at: 0, pid: None, op: None, kind: FaultKind::Io };
        let crash = CrashAt { at: 0, pid: 3, when: CrashWhen::Before };
        let mut plan = FaultPlan {
            faults: vec![Armed::new(fault)],
            crashes: vec![Armed::new(crash)],
            ..FaultPlan::default()
        };
        let hook = plan.intercept(3, FsOp::Publish);
        assert_eq!((hook.crash, hook.fault), (Some(CrashWhen::Before), None));
        let next = plan.intercept(3, FsOp::Publish);
        assert_eq!(
            (next.crash, next.fault),
            (None, Some(FaultKind::Io)),
            "a crashed primitive is not counted"
        );
    }
}
