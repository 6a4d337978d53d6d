//! The named scenarios every checker explores.

use crate::harness::Scenario;
use crate::invariant::Invariant::*;
use crate::observe::Reachable;
use std::time::Duration;

use crate::op::Op::{Acquire, Advance, Crash, Release, TryAcquire};
use crate::world::World;

/// Two tasks of one process; one re-enters. The seed race's home.
pub const TWO_TASKS: Scenario = Scenario {
    name: "two-tasks",
    processes: &[&[&[Acquire, Release], &[Acquire, Acquire, Release, Release]]],
    checks: &[MutualExclusion, NoSpuriousTimeout, NoLeak, Reentrancy],
    held_at_start: false,
    runs_first: false,
    setup: no_setup,
    timeout: None,
    reaches: &[Reachable::ReleasingWait, Reachable::Reentry],
};

/// The seed race's window exactly: T1 already holds; it releases while T2 acquires.
/// Loom explores it up to its preemption bound; shuttle's depth-first search only up to
/// `SHUTTLE_DFS_MAX` schedules, far fewer than the window has.
pub const SEED_WINDOW: Scenario = Scenario {
    name: "seed-window",
    processes: &[&[&[Release], &[Acquire, Release]]],
    checks: &[MutualExclusion, NoSpuriousTimeout, NoLeak],
    held_at_start: true,
    runs_first: false,
    setup: no_setup,
    timeout: None,
    reaches: &[Reachable::ReleasingWait],
};

/// Three tasks of one process, FIFO hand-offs.
pub const THREE_TASKS: Scenario = Scenario {
    name: "three-tasks",
    processes: &[&[&[Acquire, Release], &[Acquire, Release], &[Acquire, Release]]],
    checks: &[MutualExclusion, NoSpuriousTimeout, NoLeak],
    held_at_start: false,
    runs_first: false,
    setup: no_setup,
    timeout: None,
    reaches: &[Reachable::ReleasingWait],
};

/// Three tasks of one process, the last of them acquiring twice: the sampled checkers'
/// three-task scenario. With the in-memory hand-off (INV-9) a task that queues while
/// another holds is handed the file, so the releasing phase is met only by a task that
/// calls acquire during a release through the disk; a second round gives one task the
/// gap between its rounds to do so, which random schedules otherwise almost never reach
/// (none in 2000 executions in half of the runs). Loom, which explores every
/// interleaving up to its bound, keeps the smaller [`THREE_TASKS`].
pub const THREE_TASKS_TWO_ROUNDS: Scenario = Scenario {
    name: "three-tasks",
    processes: &[&[
        &[Acquire, Release],
        &[Acquire, Release],
        &[Acquire, Release, Acquire, Release],
    ]],
    ..THREE_TASKS
};

/// Two processes, one task each: contention on disk, waiting in the kernel.
pub const TWO_PROCESSES: Scenario = Scenario {
    name: "two-processes",
    processes: &[&[&[Acquire, Release]], &[&[Acquire, Release]]],
    checks: &[MutualExclusion, NoLiveRemoval, NoSpuriousTimeout, NoLeak],
    held_at_start: false,
    runs_first: false,
    setup: no_setup,
    timeout: None,
    reaches: &[Reachable::Contention],
};

/// A holder crashes; the other process must take over at once.
pub const CRASH_TAKEOVER: Scenario = Scenario {
    name: "crash-takeover",
    processes: &[&[&[Acquire, Crash]], &[&[Acquire, Release]]],
    checks: &[MutualExclusion, NoLiveRemoval, Recovery],
    held_at_start: false,
    runs_first: false,
    setup: no_setup,
    timeout: None,
    reaches: &[Reachable::Crash, Reachable::StaleTakeover, Reachable::Contention],
};

/// A holder crashes while two other processes contend: two breakers on one dead inode.
pub const CRASH_TWO_BREAKERS: Scenario = Scenario {
    name: "crash-two-breakers",
    processes: &[&[&[Acquire, Crash]], &[&[Acquire, Release]], &[&[Acquire, Release]]],
    checks: &[MutualExclusion, NoLiveRemoval, Recovery],
    held_at_start: false,
    runs_first: false,
    setup: no_setup,
    timeout: None,
    reaches: &[Reachable::Crash, Reachable::StaleTakeover, Reachable::Contention],
};

/// A holder keeps the lock past the stale age; the other process must wait, not break
/// a live holder's file (H5, H6).
pub const AGE_TAKEOVER: Scenario = Scenario {
    name: "age-takeover",
    processes: &[&[&[Acquire, Advance(HALF_HOUR_AND_A_MINUTE), Release]], &[&[Acquire, Release]]],
    checks: &[MutualExclusion, NoLiveRemoval, NoLeak],
    held_at_start: false,
    runs_first: false,
    setup: no_setup,
    timeout: Some(Duration::from_secs(2 * 3600)),
    reaches: &[Reachable::Contention],
};

/// Two tasks on a filesystem whose `lstat` inode numbers differ from `fstat`'s (H17).
pub const DRIFT_TWO_TASKS: Scenario =
    Scenario { name: "drift-two-tasks", setup: drift, ..TWO_TASKS };

/// A crash takeover on a filesystem with drifting inode numbers (H17).
pub const DRIFT_CRASH_TAKEOVER: Scenario =
    Scenario { name: "drift-crash-takeover", setup: drift, ..CRASH_TAKEOVER };

/// A crash takeover where kernel locks prove nothing (NFS, no `flock`): the dead
/// holder's file must be broken by its dead pid, with no kernel proof and no time passing.
pub const DEGRADED_CRASH_TAKEOVER: Scenario = Scenario {
    name: "degraded-crash-takeover",
    setup: degraded,
    reaches: &[Reachable::Crash, Reachable::Contention],
    ..CRASH_TAKEOVER
};

/// A try-acquire meets another process's lock while a sibling task queues behind it in
/// memory: the failed turn must be handed on to the sibling (H19), never dropped.
pub const TRY_ACQUIRE: Scenario = Scenario {
    name: "try-acquire",
    processes: &[&[&[Acquire, Release]], &[&[TryAcquire, Release], &[Acquire, Release]]],
    checks: &[MutualExclusion, NoLiveRemoval, NoSpuriousTimeout, NoLeak],
    held_at_start: false,
    runs_first: false,
    setup: no_setup,
    timeout: None,
    reaches: &[Reachable::Contention],
};

/// The holder keeps the lock past the others' 10 s timeout: a waiter in the kernel and
/// one queued behind it in memory give up (a timeout is allowed only when its deadline
/// passed while the holder moved the clock), hand the turn on, and leave no entry and
/// no file behind.
pub const TIMEOUT_HAND_ON: Scenario = Scenario {
    name: "timeout-hand-on",
    processes: &[
        &[&[Advance(ELEVEN_SECONDS), Release]],
        &[&[Acquire, Release], &[Acquire, Release]],
    ],
    checks: &[MutualExclusion, NoSpuriousTimeout, NoLeak],
    held_at_start: true,
    runs_first: false,
    setup: no_setup,
    timeout: Some(Duration::from_secs(10)),
    reaches: &[Reachable::Contention],
};

/// Loom's size of [`CRASH_TWO_BREAKERS`]: the holder acquires and crashes before the two
/// breakers start, so every interleaving of the two breakers of its dead inode is explored
/// (the crash's own timing against a contender is [`CRASH_TAKEOVER`]'s).
pub const CRASH_TWO_BREAKERS_DEAD: Scenario =
    Scenario { name: "crash-two-breakers-dead", runs_first: true, ..CRASH_TWO_BREAKERS };

/// With the cross-process queue: three processes of one task each, two rounds each, so
/// that a waiter queues behind another's ticket, and a releaser queues behind the
/// waiters (no barging). Run with [`Subject::Queue`](crate::Subject::Queue).
pub const QUEUE_THREE_PROCESSES: Scenario = Scenario {
    name: "queue-three-processes",
    processes: &[
        &[&[Acquire, Release, Acquire, Release]],
        &[&[Acquire, Release, Acquire, Release]],
        &[&[Acquire, Release]],
    ],
    checks: &[MutualExclusion, NoLiveRemoval, NoSpuriousTimeout, NoLeak, BoundedBypass],
    held_at_start: false,
    runs_first: false,
    setup: no_setup,
    timeout: None,
    reaches: &[Reachable::Contention, Reachable::QueueOfTwo],
};

/// With the cross-process queue: a process crashes at any moment (its second task
/// pauses a few scheduling points, then kills it), while its task waits in the queue,
/// holds or releases; its successors skip its ticket at once (removing it
/// under its free flock), never by age, and a fresh process then acquires at once.
pub const QUEUE_WAITER_CRASH: Scenario = Scenario {
    name: "queue-waiter-crash",
    processes: &[
        &[&[Acquire, Release]],
        &[&[Acquire, Release], &[PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, Crash]],
        &[&[Acquire, Release]],
    ],
    checks: &[MutualExclusion, NoLiveRemoval, Recovery, BoundedBypass],
    held_at_start: false,
    runs_first: false,
    setup: no_setup,
    timeout: None,
    reaches: &[Reachable::Crash, Reachable::DeadTicketRemoved],
};

/// With the cross-process queue: the holder keeps the lock past the others' timeout; a
/// waiter with a ticket gives it up (unlinks and closes it), and leaves nothing behind.
pub const QUEUE_GIVE_UP: Scenario = Scenario {
    name: "queue-give-up",
    processes: &[
        &[&[Advance(ELEVEN_SECONDS), Release]],
        &[&[Acquire, Release]],
        &[&[Acquire, Release]],
    ],
    checks: &[MutualExclusion, NoSpuriousTimeout, NoLeak, BoundedBypass],
    held_at_start: true,
    runs_first: false,
    setup: no_setup,
    timeout: Some(Duration::from_secs(10)),
    reaches: &[Reachable::Contention, Reachable::TicketGivenUp],
};

/// [`QUEUE_THREE_PROCESSES`] where `lstat` and `fstat` disagree on inode numbers (H17):
/// each waiter still removes its own ticket at the end of its release.
pub const QUEUE_DRIFT: Scenario =
    Scenario { name: "queue-drift", setup: drift, ..QUEUE_THREE_PROCESSES };

/// Loom's queue scenario: process 0 holds at the start, releases, and wants the lock
/// twice more; process 1 wants it once. Process 1, finding the lock held, takes a ticket
/// (W5); process 0, wanting it again while that ticket is named, queues behind it (no
/// barging), waits in the kernel on that ticket only (W3), and is woken when process 1's
/// release removes its ticket (R5q). Process 0 may overtake process 1 once (a listing made
/// before the ticket was named), never twice: P − 1 = 1 (INV-9). Run with
/// [`Subject::Queue`](crate::Subject::Queue).
pub const QUEUE_HAND_ON: Scenario = Scenario {
    name: "queue-hand-on",
    processes: &[&[&[Release, Acquire, Release, Acquire, Release]], &[&[Acquire, Release]]],
    checks: &[MutualExclusion, NoLiveRemoval, NoSpuriousTimeout, NoLeak, BoundedBypass],
    held_at_start: true,
    runs_first: false,
    setup: no_setup,
    timeout: None,
    reaches: &[
        Reachable::Contention,
        Reachable::QueueOfTwo,
        Reachable::TicketWait,
        Reachable::QueueHandOff,
    ],
};

/// Loom's size of [`QUEUE_WAITER_CRASH`]: process 0 holds at the start, releases, and
/// wants the lock again; process 1's first task wants it once, and its second task kills
/// the process at any moment, while that task waits with a ticket, holds or releases.
/// Process 0, queued behind the dead waiter's ticket, gets its flock at the death and
/// removes the ticket at once (never by age: the clock never moves); a fresh process
/// then acquires at once (INV-4). Run with [`Subject::Queue`](crate::Subject::Queue).
pub const QUEUE_WAITER_KILLED: Scenario = Scenario {
    name: "queue-waiter-killed",
    processes: &[&[&[Release, Acquire, Release]], &[&[Acquire, Release], &[Crash]]],
    checks: &[MutualExclusion, NoLiveRemoval, Recovery, BoundedBypass],
    held_at_start: true,
    runs_first: false,
    setup: no_setup,
    timeout: None,
    reaches: &[Reachable::Crash, Reachable::TicketWait, Reachable::DeadTicketRemoved],
};

/// The scenarios of the cross-process queue.
pub const QUEUE: [Scenario; 4] =
    [QUEUE_THREE_PROCESSES, QUEUE_WAITER_CRASH, QUEUE_GIVE_UP, QUEUE_DRIFT];

/// A scheduling point and nothing else: the clock moved by zero.
const PAUSE: crate::op::Op = Advance(Duration::ZERO);
const ELEVEN_SECONDS: Duration = Duration::from_secs(11);
const HALF_HOUR_AND_A_MINUTE: Duration = Duration::from_secs(31 * 60);

fn no_setup(_: &World) {}

fn degraded(world: &World) {
    world.set_no_kernel_proof(true);
}

fn drift(world: &World) {
    world.set_id_drift(true);
}

/// Every scenario.
pub const ALL: [Scenario; 12] = [
    TWO_TASKS,
    SEED_WINDOW,
    THREE_TASKS_TWO_ROUNDS,
    TWO_PROCESSES,
    CRASH_TAKEOVER,
    CRASH_TWO_BREAKERS,
    AGE_TAKEOVER,
    DRIFT_TWO_TASKS,
    DRIFT_CRASH_TAKEOVER,
    DEGRADED_CRASH_TAKEOVER,
    TRY_ACQUIRE,
    TIMEOUT_HAND_ON,
];
