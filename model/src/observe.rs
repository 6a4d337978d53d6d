//! Reachability: counting the interesting states a run reached, so that a pass means
//! something (stateright's `sometimes`, for loom and shuttle).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use sessionlock::core::judge::Reason;
use sessionlock::core::{Event, Observer, PhaseKind};

/// A state every checker run must show it reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reachable {
    /// A publish found the path taken.
    Contention,
    /// A task queued in memory behind a `releasing` entry: the seed race's window.
    ReleasingWait,
    /// A stale lock file, left by a crash, was removed and taken over.
    StaleTakeover,
    /// A process crashed.
    Crash,
    /// An owner re-entered a lock it held.
    Reentry,
    /// With the queue: two tickets were named at once.
    QueueOfTwo,
    /// With the queue: a dead waiter's ticket was removed by its successor.
    DeadTicketRemoved,
    /// With the queue: a waiter gave its ticket up (deadline, cancellation).
    TicketGivenUp,
    /// With the queue: a waiter with a ticket waited in the kernel on its predecessor's
    /// ticket, held (W3).
    TicketWait,
    /// With the queue: such a wait returned because the predecessor removed its ticket
    /// (its release's R5q, or a give-up): the turn passed through the queue.
    QueueHandOff,
}

impl Reachable {
    /// All of them.
    pub const ALL: [Self; 5] =
        [Self::Contention, Self::ReleasingWait, Self::StaleTakeover, Self::Crash, Self::Reentry];

    /// What a run with the cross-process queue must reach besides.
    pub const QUEUE: [Self; 3] = [Self::QueueOfTwo, Self::DeadTicketRemoved, Self::TicketGivenUp];
}

impl fmt::Display for Reachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// How often each [`Reachable`] state was reached, plus executions run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    /// Executions (schedules) explored.
    pub executions: u64,
    /// Publishes that met an existing file.
    pub contention: u64,
    /// Waiters queued behind `releasing`.
    pub releasing_wait: u64,
    /// Stale files broken after a crash.
    pub stale_takeover: u64,
    /// Crashes.
    pub crash: u64,
    /// Re-entries.
    pub reentry: u64,
    /// Runs in which two tickets were named at once (the queue).
    pub queue_of_two: u64,
    /// Dead waiters' tickets removed by a successor (the queue).
    pub dead_ticket_removed: u64,
    /// Tickets given up by their waiters (the queue).
    pub ticket_given_up: u64,
    /// Times a queued waiter was overtaken by a later arrival (the queue; INV-9 bounds it).
    pub overtaken: u64,
    /// Kernel waits on a predecessor's held ticket (the queue).
    pub ticket_wait: u64,
    /// Of those, waits ended by the predecessor's removing its ticket (the queue).
    pub queue_hand_off: u64,
}

impl Reach {
    /// The count for one state.
    pub fn count(&self, state: Reachable) -> u64 {
        match state {
            Reachable::Contention => self.contention,
            Reachable::ReleasingWait => self.releasing_wait,
            Reachable::StaleTakeover => self.stale_takeover,
            Reachable::Crash => self.crash,
            Reachable::Reentry => self.reentry,
            Reachable::QueueOfTwo => self.queue_of_two,
            Reachable::DeadTicketRemoved => self.dead_ticket_removed,
            Reachable::TicketGivenUp => self.ticket_given_up,
            Reachable::TicketWait => self.ticket_wait,
            Reachable::QueueHandOff => self.queue_hand_off,
        }
    }

    /// Adds another run's counts.
    pub fn add(&mut self, other: &Self) {
        self.executions += other.executions;
        self.contention += other.contention;
        self.releasing_wait += other.releasing_wait;
        self.stale_takeover += other.stale_takeover;
        self.crash += other.crash;
        self.reentry += other.reentry;
        self.queue_of_two += other.queue_of_two;
        self.dead_ticket_removed += other.dead_ticket_removed;
        self.ticket_given_up += other.ticket_given_up;
        self.overtaken += other.overtaken;
        self.ticket_wait += other.ticket_wait;
        self.queue_hand_off += other.queue_hand_off;
    }

    /// Adds what one world's queue reached (its [`Stats`](crate::Stats)).
    pub fn with_queue(mut self, stats: &crate::world::Stats) -> Self {
        self.queue_of_two += u64::from(stats.longest_queue >= 2);
        self.dead_ticket_removed += stats.dead_tickets_removed;
        self.ticket_given_up += stats.tickets_given_up;
        self.overtaken += stats.overtakes;
        self
    }

    /// Adds what one process's kernel waits on tickets met.
    pub fn with_ticket_waits(mut self, waits: &crate::fs::TicketWaits) -> Self {
        self.ticket_wait += waits.refused();
        self.queue_hand_off += waits.left();
        self
    }

    /// Panics unless every state in `required` was reached at least once.
    #[track_caller]
    pub fn assert_reached(&self, scenario: &str, required: &[Reachable]) {
        let missing: Vec<_> = required.iter().filter(|s| self.count(**s) == 0).collect();
        assert!(
            missing.is_empty(),
            "{scenario}: never reached {missing:?} in {} executions, so its pass proves nothing ({self:?})",
            self.executions
        );
    }
}

/// An [`Observer`] that counts events (std atomics: ghost state, invisible to the checkers).
#[derive(Default)]
pub struct Counter {
    contention: AtomicU64,
    releasing_wait: AtomicU64,
    stale_takeover: AtomicU64,
    reentry: AtomicU64,
}

impl Counter {
    /// The counts so far, with `crashes` and one execution.
    pub fn reach(&self, crashes: u64) -> Reach {
        Reach {
            executions: 1,
            contention: self.contention.load(Relaxed),
            releasing_wait: self.releasing_wait.load(Relaxed),
            stale_takeover: self.stale_takeover.load(Relaxed),
            crash: crashes,
            reentry: self.reentry.load(Relaxed),
            ..Reach::default()
        }
    }
}

impl Observer for Counter {
    fn event(&self, event: &Event<'_>) {
        let counter = match event {
            Event::Contended { .. } => &self.contention,
            Event::Queued { behind: PhaseKind::Releasing, .. } => &self.releasing_wait,
            Event::BrokeStale { reasons, .. } if reasons.contains(&Reason::KernelProvenDead) => {
                &self.stale_takeover
            }
            Event::Reentered { .. } => &self.reentry,
            _ => return,
        };
        counter.fetch_add(1, Relaxed);
    }
}
