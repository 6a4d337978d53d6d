//! The properties checked on every reachable state.
//!
//! *Always*-properties are safety invariants named by their `spec/invariants.md` id; a
//! counterexample is a bug (or a caught mutant). *Sometimes*-properties name the
//! interesting situations the model must actually reach, so that a passing check is not
//! vacuous (e.g. a model in which no crash ever happens while holding would "prove"
//! recovery trivially).
//!
//! # INV-4 Recovery, formulated as a state property
//!
//! stateright's `eventually` needs acyclic paths, and this model cycles (tasks retry and
//! re-acquire forever). Recovery is therefore checked in three parts:
//!
//! 1. **always "INV-4 Recovery"** (here): (a) no handle of a dead process holds a kernel
//!    lock, and (b) whenever `L` names an inode whose publisher incarnation is dead and
//!    whose flock is free, the contender's liveness test
//!    ([`ProtocolModel::probe_reports_dead`]) says "dead". If the flock is not free, a
//!    *live* breaker holds it (by (a)). So a crashed holder never blocks the probe, and no
//!    step in the model waits for time: no age threshold is involved.
//! 2. **sometimes "stale takeover after crash"** (here): a task is in the critical section
//!    after it broke a crashed holder's lock, i.e. the recovery path is really exercised.
//! 3. **"INV-4 Progress"** ([`crate::progress`]): from every reachable state, the live
//!    tasks alone, fairly scheduled, put one of them in the critical section within a
//!    bounded number of steps.
//!
//! Mutant H7 (pid trusted before the kernel) violates 1(b) and 3 after a pid reuse.

use crate::config::ProtocolModel;
use crate::state::{Attempt, Entry, Pc, State, UnlinkKind};
use stateright::Property;

/// "INV-1 MutualExclusion".
pub const INV1: &str = "INV-1 MutualExclusion";
/// "INV-2 NoLiveRemoval".
pub const INV2: &str = "INV-2 NoLiveRemoval";
/// "INV-4 Recovery".
pub const INV4: &str = "INV-4 Recovery";
/// "INV-6 StaleGuardHarmless".
pub const INV6: &str = "INV-6 StaleGuardHarmless";
/// "INV-9 BoundedBypass".
pub const INV9: &str = "INV-9 BoundedBypass";
/// "INV-9 BoundedOvertaking": the cross-process part, checked with the queue on.
pub const INV9_OVERTAKING: &str = "INV-9 BoundedOvertaking";

/// Sometimes: a publication hit EEXIST.
pub const CONTENTION: &str = "contention (linkat EEXIST)";
/// Sometimes: an in-process waiter is parked on a `Releasing` registry entry.
pub const RELEASING: &str = "waiter parked on releasing entry";
/// Sometimes: a holder crashed and its lock file is still named by `L`.
pub const CRASH_HOLDING: &str = "crash while holding";
/// Sometimes: a task holds the lock after breaking a crashed holder's lock.
pub const TAKEOVER: &str = "stale takeover after crash";
/// Sometimes: the dead holder's pid is in use again while its lock file is still there.
pub const PID_REUSED: &str = "pid reused over stale lock";
/// Sometimes: two live tasks have a handle on the same dead holder's inode.
pub const BREAKERS_RACE: &str = "two breakers race on one dead inode";
/// Sometimes: a process has handed one published file on in memory K times (the bound
/// reached; with K = 0, never).
pub const HAND_OFF_BOUND_REACHED: &str = "K in-memory hand-offs of one file";

/// Sometimes (queue): two live waiters hold named tickets at once (a queue of two).
pub const TWO_TICKETS: &str = "two waiters queued across processes";
/// Sometimes (queue): a queued waiter was overtaken by N later arrivals (the bound
/// reached: a listing older than its ticket took a free `seq` below it).
pub const OVERTAKEN: &str = "a queued waiter overtaken N times";
/// Sometimes (queue): a ticket is named whose waiter crashed.
pub const DEAD_TICKET: &str = "a crashed waiter's ticket still queued";

/// Sometimes (queue, try-acquire): a try-acquire is about to remove a dead waiter's
/// ticket (its flock free) it listed.
pub const TRY_DEAD_TICKET: &str = "a try-acquire removes a dead waiter's ticket";
/// Sometimes (queue, try-acquire): a try-acquire found a live waiter queued (it probes `L`
/// and gives up).
pub const TRY_BUSY: &str = "a try-acquire found the queue busy";

/// Whether the task's process is alive.
fn live(m: &ProtocolModel, s: &State, t: usize) -> bool {
    s.procs[usize::from(m.owner[t])].alive
}

/// INV-1: at most one live task is in the critical section. A crashed process leaves
/// the critical section at once.
pub fn mutual_exclusion(m: &ProtocolModel, s: &State) -> bool {
    let inside = s.tasks.iter().enumerate();
    inside.filter(|(t, task)| live(m, s, *t) && matches!(task.pc, Pc::Held(_))).count() <= 1
}

/// INV-2: the name removal done by the last step (if any) removed either the remover's
/// own file or a file whose kernel lock the remover held (the proof of death, bound to
/// that very inode), and never a live holder's file. A `rename` over `L` counts as a
/// removal of what `L` named. The facts about the victim are captured in
/// [`crate::state::UnlinkEvent`] at the moment of removal, since the unnamed victim may
/// be garbage right after.
pub fn no_live_removal(_: &ProtocolModel, s: &State) -> bool {
    s.unlinked.as_ref().is_none_or(|e| (e.own || e.kernel_locked) && !e.victim_live_holder)
}

/// INV-4 as described in the module docs.
pub fn recovery(m: &ProtocolModel, s: &State) -> bool {
    let no_dead_flocks =
        s.inodes.iter().all(|i| i.flock.is_none_or(|h| live(m, s, usize::from(h))));
    let detectable = s.named().is_none_or(|(_, inode)| {
        !(s.publisher_dead(inode) && inode.flock.is_none()) || m.probe_reports_dead(s, inode)
    });
    no_dead_flocks && detectable
}

/// INV-6: an old guard never affects a later holder. (a) A release never removes an
/// inode other than the releaser's own; (b) a releasing holder that still holds its
/// kernel lock (about to check or unlink) always finds `L` naming its own inode, which
/// shows that the release's inode check is defence in depth, never load-bearing.
pub fn stale_guard_harmless(m: &ProtocolModel, s: &State) -> bool {
    let own_path = s.tasks.iter().enumerate().all(|(t, task)| match task.pc {
        Pc::RelCheck(i) | Pc::RelUnlink(i) => !live(m, s, t) || s.path == Some(i),
        _ => true,
    });
    let foreign = s.unlinked.as_ref().is_some_and(|e| e.kind == UnlinkKind::Release && !e.own);
    own_path && !foreign
}

/// INV-9, its in-process part: no process hands one published file on in memory more than
/// K times in a row; the release after the K-th goes through the disk, so that another
/// process can get the lock.
pub fn bounded_bypass(m: &ProtocolModel, s: &State) -> bool {
    s.procs.iter().all(|p| p.handed <= m.hand_off_bound)
}

/// N, the bound of INV-9's cross-process part: one later arrival per other process
/// (`spec/protocol.md`, section 11).
pub fn overtaking_bound(m: &ProtocolModel) -> u8 {
    u8::try_from(m.processes.saturating_sub(1)).expect("few processes")
}

/// INV-9, its cross-process part (with the queue): no queued waiter has been overtaken by
/// more than N = P − 1 later arrivals (the ghost [`crate::state::Task::overtaken`]).
pub fn bounded_overtaking(m: &ProtocolModel, s: &State) -> bool {
    s.tasks.iter().all(|t| t.overtaken <= overtaking_bound(m))
}

fn overtaken(m: &ProtocolModel, s: &State) -> bool {
    let n = overtaking_bound(m);
    n > 0 && s.tasks.iter().any(|t| t.overtaken == n)
}

fn two_tickets(m: &ProtocolModel, s: &State) -> bool {
    let live = s.tickets.iter().filter(|k| {
        let inode = &s.inodes[usize::from(k.inode)];
        inode.flock.is_some_and(|t| live(m, s, usize::from(t)))
    });
    live.count() >= 2
}

fn dead_ticket(_: &ProtocolModel, s: &State) -> bool {
    s.tickets.iter().any(|k| s.publisher_dead(&s.inodes[usize::from(k.inode)]))
}

fn try_dead_ticket(_: &ProtocolModel, s: &State) -> bool {
    (0..s.tasks.len()).any(|t| {
        let next = s.next_listed(u8::try_from(t).expect("few tasks"));
        s.tasks[t].pc == Pc::Scan
            && next.is_some_and(|k| s.inodes[usize::from(s.tickets[k].inode)].flock.is_none())
    })
}

fn try_busy(m: &ProtocolModel, s: &State) -> bool {
    let busy =
        |(t, task): (usize, &crate::state::Task)| live(m, s, t) && task.attempt == Attempt::Busy;
    s.tasks.iter().enumerate().any(busy)
}

fn hand_off_bound_reached(m: &ProtocolModel, s: &State) -> bool {
    m.hand_off_bound > 0 && s.procs.iter().any(|p| p.handed == m.hand_off_bound)
}

fn contention(_: &ProtocolModel, s: &State) -> bool {
    s.tasks.iter().any(|t| t.pc == Pc::Contended)
}

fn releasing_waiter(m: &ProtocolModel, s: &State) -> bool {
    s.tasks.iter().enumerate().any(|(t, task)| {
        task.pc == Pc::Parked
            && matches!(s.procs[usize::from(m.owner[t])].entry, Entry::Releasing(_))
    })
}

fn crash_while_holding(_: &ProtocolModel, s: &State) -> bool {
    s.named().is_some_and(|(_, inode)| s.publisher_dead(inode))
}

fn stale_takeover(m: &ProtocolModel, s: &State) -> bool {
    s.tasks
        .iter()
        .enumerate()
        .any(|(t, task)| live(m, s, t) && task.took_over && matches!(task.pc, Pc::Held(_)))
}

fn pid_reused(_: &ProtocolModel, s: &State) -> bool {
    s.named().is_some_and(|(_, inode)| {
        let p = &s.procs[usize::from(inode.pid)];
        p.alive && p.incarnation > inode.incarnation
    })
}

fn breakers_race(m: &ProtocolModel, s: &State) -> bool {
    s.inodes.iter().enumerate().any(|(i, inode)| {
        let handles = s.tasks.iter().enumerate().filter(|(t, task)| {
            live(m, s, *t) && task.pc.handle().is_some_and(|h| usize::from(h) == i)
        });
        s.publisher_dead(inode) && handles.count() >= 2
    })
}

/// All properties of today's protocol, always-properties first, in a stable order.
pub fn all() -> Vec<Property<ProtocolModel>> {
    all_with(false, false)
}

/// All properties, with those of the cross-process queue if `queue` (and of its
/// try-acquire if `tries`): always-properties first, in a stable order.
pub fn all_with(queue: bool, tries: bool) -> Vec<Property<ProtocolModel>> {
    let mut all = vec![
        Property::always(INV1, mutual_exclusion),
        Property::always(INV2, no_live_removal),
        Property::always(INV4, recovery),
        Property::always(INV6, stale_guard_harmless),
        Property::always(INV9, bounded_bypass),
        Property::sometimes(CONTENTION, contention),
        Property::sometimes(RELEASING, releasing_waiter),
        Property::sometimes(CRASH_HOLDING, crash_while_holding),
        Property::sometimes(TAKEOVER, stale_takeover),
        Property::sometimes(PID_REUSED, pid_reused),
        Property::sometimes(BREAKERS_RACE, breakers_race),
        Property::sometimes(HAND_OFF_BOUND_REACHED, hand_off_bound_reached),
    ];
    if queue {
        all.insert(5, Property::always(INV9_OVERTAKING, bounded_overtaking));
        all.push(Property::sometimes(TWO_TICKETS, two_tickets));
        all.push(Property::sometimes(OVERTAKEN, overtaken));
        all.push(Property::sometimes(DEAD_TICKET, dead_ticket));
    }
    if queue && tries {
        all.push(Property::sometimes(TRY_DEAD_TICKET, try_dead_ticket));
        all.push(Property::sometimes(TRY_BUSY, try_busy));
    }
    all
}
