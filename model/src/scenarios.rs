//! The named scenarios every checker explores.

use crate::harness::Scenario;
use crate::invariant::Invariant::*;
use crate::observe::Reachable;
use crate::op::Op::{Acquire, Crash, Release};

/// Two tasks of one process; one re-enters. The seed race's home.
pub const TWO_TASKS: Scenario = Scenario {
    name: "two-tasks",
    processes: &[&[&[Acquire, Release], &[Acquire, Acquire, Release, Release]]],
    checks: &[MutualExclusion, NoSpuriousTimeout, NoLeak, Reentrancy],
    held_at_start: false,
    reaches: &[Reachable::ReleasingWait, Reachable::Reentry],
};

/// The seed race's window exactly: T1 already holds; it releases while T2 acquires.
/// Small enough for exhaustive DFS.
pub const SEED_WINDOW: Scenario = Scenario {
    name: "seed-window",
    processes: &[&[&[Release], &[Acquire, Release]]],
    checks: &[MutualExclusion, NoSpuriousTimeout, NoLeak],
    held_at_start: true,
    reaches: &[Reachable::ReleasingWait],
};

/// Three tasks of one process, FIFO hand-offs.
pub const THREE_TASKS: Scenario = Scenario {
    name: "three-tasks",
    processes: &[&[&[Acquire, Release], &[Acquire, Release], &[Acquire, Release]]],
    checks: &[MutualExclusion, NoSpuriousTimeout, NoLeak],
    held_at_start: false,
    reaches: &[Reachable::ReleasingWait],
};

/// Two processes, one task each: contention on disk, waiting in the kernel.
pub const TWO_PROCESSES: Scenario = Scenario {
    name: "two-processes",
    processes: &[&[&[Acquire, Release]], &[&[Acquire, Release]]],
    checks: &[MutualExclusion, NoLiveRemoval, NoSpuriousTimeout, NoLeak],
    held_at_start: false,
    reaches: &[Reachable::Contention],
};

/// A holder crashes; the other process must take over at once.
pub const CRASH_TAKEOVER: Scenario = Scenario {
    name: "crash-takeover",
    processes: &[&[&[Acquire, Crash]], &[&[Acquire, Release]]],
    checks: &[MutualExclusion, NoLiveRemoval, Recovery],
    held_at_start: false,
    reaches: &[Reachable::Crash, Reachable::StaleTakeover, Reachable::Contention],
};

/// A holder crashes while two other processes contend: two breakers on one dead inode.
pub const CRASH_TWO_BREAKERS: Scenario = Scenario {
    name: "crash-two-breakers",
    processes: &[&[&[Acquire, Crash]], &[&[Acquire, Release]], &[&[Acquire, Release]]],
    checks: &[MutualExclusion, NoLiveRemoval, Recovery],
    held_at_start: false,
    reaches: &[Reachable::Crash, Reachable::StaleTakeover, Reachable::Contention],
};

/// Every scenario.
pub const ALL: [Scenario; 5] =
    [TWO_TASKS, THREE_TASKS, TWO_PROCESSES, CRASH_TAKEOVER, CRASH_TWO_BREAKERS];
