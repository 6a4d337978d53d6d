//! The per-process table of locks: who holds each path, and who waits for it.
//!
//! Only the task holding a path's *turn* runs the filesystem protocol for it; every other
//! task of the process waits here, in FIFO order, and is woken by the task that finishes
//! the turn. No task ever polls the filesystem for a lock its own process holds or is
//! tearing down (H1).
//!
//! | phase       | meaning                                       | leaves by                                   |
//! |-------------|-----------------------------------------------|---------------------------------------------|
//! | (no entry)  | idle: nobody in this process wants the path   | `enter` → acquiring                         |
//! | acquiring   | one task runs the filesystem acquire          | `grant` → held; `abandon` → next waiter or idle |
//! | held(o, n)  | owner `o` holds it, re-entered `n` times      | `leave` with n = 1 → held by the next waiter (hand-off), or releasing |
//! | releasing   | the last guard is removing the file           | `finish_release` → next waiter or idle      |
//!
//! A waiter is handed the turn directly (its phase becomes acquiring *before* it is
//! woken), so a woken waiter never races a newcomer, and no entry outlives its last user
//! (INV-5). `releasing` is entered under the same lock that ends `held`, before any
//! filesystem step of the release (the seed fix).
//!
//! **Hand-off.** The last `leave` of a hold, with a waiter queued, passes the hold itself
//! to the first waiter: the open file (handle, inode, nonce) becomes the waiter's hold,
//! under a new generation, before it is woken. Nothing is unlinked or published: from
//! outside, the process holds the lock throughout. A run of hand-offs of one published
//! file is bounded (INV-9): at most [`HAND_OFF_BOUND`] of them, and none once the file
//! was published [`HAND_OFF_MAX_AGE`] ago; the release after that goes through the disk,
//! so that other processes get their chance at the lock and `createdAt` stays recent.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use std::time::Duration;

use crate::fs::{LockPath, Moment};
use crate::sync::{Arc, Mutex};

/// At most this many consecutive in-memory hand-offs of one published file (INV-9).
///
/// Each hand-off saves an unlink and a publish (about 70 µs on ext4, BENCHMARKS.md §2), so
/// a run of K hand-offs pays the disk once per K + 1 holds: with K = 8, a queue of 1 ms
/// holds spends about 8 µs of disk work per hold, under 1 % of the hold. A larger K saves little more,
/// while another process, which can only get the lock when the file goes, waits through
/// K + 1 of this process's holds at most, instead of 1.
pub const HAND_OFF_BOUND: u32 = 8;

/// No in-memory hand-off of a file published this long ago or longer (INV-9).
///
/// The payload's `createdAt` is when this process published the file, and the process
/// holds the lock from then on, so it stays true across hand-offs; but the original lock
/// calls a file 30 minutes old stale and removes it. Ending every run of hand-offs one
/// second after the publish keeps `createdAt` within a second of the current hold's
/// start, as when every hold publishes its own file.
pub const HAND_OFF_MAX_AGE: Duration = Duration::from_secs(1);

/// Who is holding: re-entry is allowed only for the same owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Owner(u64);

impl Owner {
    /// The owner every acquire maps to in [`Reentrancy::Process`](super::Reentrancy::Process) mode.
    pub const PROCESS: Self = Self(0);

    /// An owner with a chosen id (non-zero ids are never [`Owner::PROCESS`]).
    pub const fn from_raw(id: u64) -> Self {
        Self(id)
    }

    /// A fresh owner, distinct from every other owner this process created with `new`.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        // Owner ids only need to be distinct; they take no part in the checked protocol,
        // so a plain std atomic is right here even under the checkers.
        use std::sync::atomic::{AtomicU64, Ordering}; // purity: ids only, not checked state
        static NEXT: AtomicU64 = AtomicU64::new(1 << 32);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// The phase of a path's entry, as observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhaseKind {
    /// One task runs the filesystem acquire.
    Acquiring,
    /// Held by an owner, with its re-entry count.
    Held {
        /// The owner.
        owner: Owner,
        /// How many guards are out.
        count: u32,
    },
    /// The last guard is tearing the lock file down.
    Releasing,
}

/// The outcome of [`Registry::enter`].
pub enum Entered {
    /// The same owner already held it; the count went up.
    Reentered {
        /// The hold's generation.
        generation: u64,
    },
    /// The caller has the turn and must run the filesystem acquire.
    Turn,
    /// The caller is queued behind the given phase.
    Queued(Arc<Waiter>, PhaseKind),
}

/// The outcome of [`Registry::leave`].
pub enum Leave<F> {
    /// Other re-entries remain.
    Remaining(u32),
    /// That was the last one, and the hold passed, file and all, to the first waiter, which
    /// was woken holding it (an in-memory hand-off, INV-9).
    HandedOff,
    /// That was the last one: the entry is now releasing, and the file must be torn down.
    Last(F),
    /// No current hold of that generation: the guard is stale (INV-6). Nothing was
    /// changed.
    Missing,
}

struct Hold<F> {
    owner: Owner,
    count: u32,
    generation: u64,
    file: F,
    /// When the file was published (granted after its publish).
    published: Moment,
    /// In-memory hand-offs of this file so far (INV-9).
    handed: u32,
}

enum Phase<F> {
    Acquiring,
    Held(Hold<F>),
    Releasing,
}

struct Entry<F> {
    phase: Phase<F>,
    waiters: VecDeque<Arc<Waiter>>,
}

struct Table<F> {
    entries: HashMap<LockPath, Entry<F>>,
    next_generation: u64,
}

/// The per-process lock table. `F` is what a hold keeps: the open lock file.
pub struct Registry<F> {
    table: Mutex<Table<F>>,
}

impl<F> Default for Registry<F> {
    fn default() -> Self {
        Self { table: Mutex::new(Table { entries: HashMap::new(), next_generation: 1 }) }
    }
}

impl<F> Registry<F> {
    /// Enters `key` for `owner`: re-enter, take the turn, or queue.
    pub fn enter(&self, key: &LockPath, owner: Owner) -> Entered {
        let mut table = self.table.lock();
        let Some(entry) = table.entries.get_mut(key) else {
            table.entries.insert(key.clone(), Entry::acquiring());
            return Entered::Turn;
        };
        match &mut entry.phase {
            Phase::Held(hold)
                if hold.owner == owner || cfg!(sessionlock_mutant = "m4_reenter_any_owner") =>
            {
                hold.count += 1;
                Entered::Reentered { generation: hold.generation }
            }
            phase => {
                let behind = kind(phase);
                let waiter = Arc::new(Waiter::new(owner));
                entry.waiters.push_back(Arc::clone(&waiter));
                Entered::Queued(waiter, behind)
            }
        }
    }

    /// Like [`Registry::enter`], but never queues: `Err` names the phase in the way.
    pub fn try_enter(&self, key: &LockPath, owner: Owner) -> Result<Entered, PhaseKind> {
        let mut table = self.table.lock();
        let Some(entry) = table.entries.get_mut(key) else {
            table.entries.insert(key.clone(), Entry::acquiring());
            return Ok(Entered::Turn);
        };
        match &mut entry.phase {
            Phase::Held(hold) if hold.owner == owner => {
                hold.count += 1;
                Ok(Entered::Reentered { generation: hold.generation })
            }
            phase => Err(kind(phase)),
        }
    }

    /// Ends a successful turn: the entry becomes held by `owner`, with `file` published
    /// at `published`. Returns the generation.
    pub fn grant(&self, key: &LockPath, owner: Owner, file: F, published: Moment) -> u64 {
        let mut table = self.table.lock();
        let generation = table.next_generation;
        table.next_generation += 1;
        let entry = table.entries.get_mut(key).expect("grant without a turn");
        debug_assert!(matches!(entry.phase, Phase::Acquiring));
        let hold = Hold { owner, count: 1, generation, file, published, handed: 0 };
        entry.phase = Phase::Held(hold);
        generation
    }

    /// Ends a failed turn: the next waiter gets the turn, or the entry goes.
    pub fn abandon(&self, key: &LockPath) {
        let waker = {
            let mut table = self.table.lock();
            debug_assert!(matches!(
                table.entries.get(key).map(|e| &e.phase),
                Some(Phase::Acquiring)
            ));
            #[cfg(sessionlock_mutant = "abandon_drops_waiters")]
            table.entries.remove(key);
            pass_turn(&mut table.entries, key)
        };
        wake(waker);
    }

    /// Drops one re-entry of the hold with `generation` (`now` is the monotonic time). On
    /// the last, the hold passes in memory to the first waiter if the hand-off bound allows
    /// (INV-9), which is woken holding it; otherwise the entry becomes releasing and the
    /// held file is handed back for teardown.
    pub fn leave(&self, key: &LockPath, owner: Owner, generation: u64, now: Moment) -> Leave<F> {
        let mut guard = self.table.lock();
        let Table { entries, next_generation } = &mut *guard;
        let Some(entry) = entries.get_mut(key) else {
            return Leave::Missing;
        };
        let Phase::Held(hold) = &mut entry.phase else {
            return Leave::Missing;
        };
        let stale = hold.generation != generation || hold.owner != owner;
        if stale && !cfg!(sessionlock_mutant = "leave_ignores_generation") {
            return Leave::Missing;
        }
        if hold.count > 1 {
            hold.count -= 1;
            return Leave::Remaining(hold.count);
        }
        let bounded =
            hold.handed < HAND_OFF_BOUND && now.saturating_since(hold.published) < HAND_OFF_MAX_AGE;
        if bounded && let Some(next) = entry.waiters.pop_front() {
            hold.owner = next.owner;
            hold.count = 1;
            hold.generation = *next_generation;
            hold.handed += 1;
            *next_generation += 1;
            let waker = next.grant(Grant::Hold { generation: hold.generation });
            drop(guard);
            wake(waker);
            return Leave::HandedOff;
        }
        match std::mem::replace(&mut entry.phase, Phase::Releasing) {
            Phase::Held(hold) => Leave::Last(hold.file),
            _ => unreachable!("matched Held above"),
        }
    }

    /// Ends a release: the next waiter gets the turn, or the entry goes.
    pub fn finish_release(&self, key: &LockPath) {
        let waker = {
            let mut table = self.table.lock();
            debug_assert!(matches!(
                table.entries.get(key).map(|e| &e.phase),
                Some(Phase::Releasing)
            ));
            pass_turn(&mut table.entries, key)
        };
        wake(waker);
    }

    /// Withdraws a waiter. `None`: it was still queued and is gone. `Some`: it had already
    /// been granted the turn, which the caller now has and must use or abandon, or a hold,
    /// which the caller now holds and must release.
    pub fn withdraw(&self, key: &LockPath, waiter: &Arc<Waiter>) -> Option<Grant> {
        let mut table = self.table.lock();
        let granted = waiter.state.lock().granted;
        if granted.is_some() && !cfg!(sessionlock_mutant = "withdraw_ignores_granted") {
            return granted;
        }
        if let Some(entry) = table.entries.get_mut(key) {
            entry.waiters.retain(|w| !Arc::ptr_eq(w, waiter));
        }
        None
    }

    /// Runs `f` on the held file of the hold with `generation`, if it is still current.
    pub fn with_held<R>(
        &self,
        key: &LockPath,
        generation: u64,
        f: impl FnOnce(&F) -> R,
    ) -> Option<R> {
        let table = self.table.lock();
        match &table.entries.get(key)?.phase {
            Phase::Held(hold) if hold.generation == generation => Some(f(&hold.file)),
            _ => None,
        }
    }

    /// As [`Registry::with_held`], with the file open for change: for a holder that hands
    /// part of it on (its queue ticket, before an exec).
    pub fn with_held_mut<R>(
        &self,
        key: &LockPath,
        generation: u64,
        f: impl FnOnce(&mut F) -> R,
    ) -> Option<R> {
        let mut table = self.table.lock();
        match &mut table.entries.get_mut(key)?.phase {
            Phase::Held(hold) if hold.generation == generation => Some(f(&mut hold.file)),
            _ => None,
        }
    }

    /// The phase of `key` now, for diagnostics and tests. Stale as soon as it returns.
    pub fn phase(&self, key: &LockPath) -> Option<PhaseKind> {
        self.table.lock().entries.get(key).map(|e| kind(&e.phase))
    }

    /// How many tasks wait in memory for `key` now, for diagnostics and tests. Stale as
    /// soon as it returns.
    pub fn waiting(&self, key: &LockPath) -> usize {
        self.table.lock().entries.get(key).map_or(0, |e| e.waiters.len())
    }

    /// How many paths have an entry. Zero when nothing is held, wanted or releasing (INV-5).
    pub fn len(&self) -> usize {
        self.table.lock().entries.len()
    }

    /// Whether no path has an entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<F> Entry<F> {
    fn acquiring() -> Self {
        Self { phase: Phase::Acquiring, waiters: VecDeque::new() }
    }
}

fn kind<F>(phase: &Phase<F>) -> PhaseKind {
    match phase {
        Phase::Acquiring => PhaseKind::Acquiring,
        Phase::Held(h) => PhaseKind::Held { owner: h.owner, count: h.count },
        Phase::Releasing => PhaseKind::Releasing,
    }
}

/// Hands the turn to the first waiter, or removes the entry. Returns whom to wake.
fn pass_turn<F>(entries: &mut HashMap<LockPath, Entry<F>>, key: &LockPath) -> Option<Waker> {
    let entry = entries.get_mut(key)?;
    match entry.waiters.pop_front() {
        Some(next) => {
            entry.phase = Phase::Acquiring;
            let waker = next.grant(Grant::Turn);
            waker.filter(|_| !cfg!(sessionlock_mutant = "m3_turn_not_woken"))
        }
        None => {
            entries.remove(key);
            None
        }
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

/// What a waiter is granted when its wait ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// The turn: the waiter runs the filesystem acquire.
    Turn,
    /// The hold itself, handed off in memory by the last holder with its published file:
    /// the waiter holds the lock, as the hold with `generation`.
    Hold {
        /// The generation of the waiter's hold.
        generation: u64,
    },
}

/// A task queued for a path's turn.
pub struct Waiter {
    owner: Owner,
    state: Mutex<WaiterState>,
}

#[derive(Default)]
struct WaiterState {
    granted: Option<Grant>,
    waker: Option<Waker>,
}

impl Waiter {
    fn new(owner: Owner) -> Self {
        Self { owner, state: Mutex::new(WaiterState::default()) }
    }

    /// The owner the waiter acquires for.
    pub fn owner(&self) -> Owner {
        self.owner
    }

    /// Resolves once this waiter has been granted the turn or a hold.
    pub fn turn(&self) -> impl Future<Output = Grant> + Send + '_ {
        TurnFuture { waiter: self }
    }

    /// Marks the waiter granted `grant`; returns whom to wake (under the table lock, so
    /// the grant precedes the wake-up).
    fn grant(&self, grant: Grant) -> Option<Waker> {
        let mut state = self.state.lock();
        state.granted = Some(grant);
        state.waker.take()
    }
}

struct TurnFuture<'a> {
    waiter: &'a Waiter,
}

impl Future for TurnFuture<'_> {
    type Output = Grant;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Grant> {
        let mut state = self.waiter.state.lock();
        if let Some(grant) = state.granted {
            return Poll::Ready(grant);
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(all(test, not(sessionlock_loom)))]
mod tests {
    use super::*;

    fn key() -> LockPath {
        LockPath::from_canonical("/s.jsonl.lock")
    }

    /// A guard of an earlier hold changes nothing, whatever it claims.
    /// Checks: INV-6
    #[test]
    fn a_stale_generation_leaves_the_current_hold_alone() {
        let registry: Registry<&str> = Registry::default();
        let (a, b) = (Owner::from_raw(1), Owner::from_raw(2));
        assert!(matches!(registry.enter(&key(), a), Entered::Turn));
        let first = registry.grant(&key(), a, "first", Moment::ZERO);
        assert!(matches!(registry.leave(&key(), a, first, Moment::ZERO), Leave::Last("first")));
        registry.finish_release(&key());
        assert!(matches!(registry.enter(&key(), b), Entered::Turn));
        let second = registry.grant(&key(), b, "second", Moment::ZERO);
        assert!(matches!(registry.leave(&key(), a, first, Moment::ZERO), Leave::Missing));
        assert!(matches!(registry.leave(&key(), b, first, Moment::ZERO), Leave::Missing));
        let held = registry.phase(&key());
        assert_eq!(held, Some(PhaseKind::Held { owner: b, count: 1 }));
        assert!(matches!(registry.leave(&key(), b, second, Moment::ZERO), Leave::Last("second")));
    }

    /// Re-entry is counted, and only the last leave releases.
    /// Checks: INV-7
    #[test]
    fn reentry_is_counted_and_only_the_last_leave_releases() {
        let registry: Registry<&str> = Registry::default();
        let a = Owner::from_raw(1);
        assert!(matches!(registry.enter(&key(), a), Entered::Turn));
        let generation = registry.grant(&key(), a, "file", Moment::ZERO);
        assert!(matches!(registry.enter(&key(), a), Entered::Reentered { .. }));
        assert!(matches!(registry.leave(&key(), a, generation, Moment::ZERO), Leave::Remaining(1)));
        assert!(matches!(registry.leave(&key(), a, generation, Moment::ZERO), Leave::Last("file")));
        assert_eq!(registry.phase(&key()), Some(PhaseKind::Releasing));
        registry.finish_release(&key());
        assert!(registry.is_empty());
    }

    /// A waiter is handed the turn before it is woken; withdrawing after that fails.
    /// Checks: INV-3, INV-5
    #[test]
    fn the_turn_is_handed_to_the_first_waiter() {
        let registry: Registry<&str> = Registry::default();
        let (a, b) = (Owner::from_raw(1), Owner::from_raw(2));
        assert!(matches!(registry.enter(&key(), a), Entered::Turn));
        let Entered::Queued(waiter, PhaseKind::Acquiring) = registry.enter(&key(), b) else {
            panic!("b queues behind a's turn");
        };
        registry.abandon(&key());
        assert_eq!(registry.phase(&key()), Some(PhaseKind::Acquiring));
        assert_eq!(registry.withdraw(&key(), &waiter), Some(Grant::Turn), "the turn was b's");
        registry.abandon(&key());
        assert!(registry.is_empty());
    }

    /// The last leave with a waiter queued passes the hold, file and all, to that waiter:
    /// no release, no turn, the old guard stale, the same file released by the new holder.
    /// Checks: INV-9, INV-6
    #[test]
    fn the_last_leave_hands_the_hold_to_the_first_waiter() {
        let registry: Registry<&str> = Registry::default();
        let (a, b) = (Owner::from_raw(1), Owner::from_raw(2));
        assert!(matches!(registry.enter(&key(), a), Entered::Turn));
        let first = registry.grant(&key(), a, "file", Moment::ZERO);
        let Entered::Queued(waiter, _) = registry.enter(&key(), b) else {
            panic!("b queues behind a's hold");
        };
        assert!(matches!(registry.leave(&key(), a, first, Moment::ZERO), Leave::HandedOff));
        assert_eq!(registry.phase(&key()), Some(PhaseKind::Held { owner: b, count: 1 }));
        let Some(Grant::Hold { generation }) = registry.withdraw(&key(), &waiter) else {
            panic!("b was handed the hold");
        };
        assert_ne!(generation, first, "a new hold, a new generation");
        assert!(matches!(registry.leave(&key(), a, first, Moment::ZERO), Leave::Missing));
        assert_eq!(registry.with_held(&key(), generation, |f| *f), Some("file"));
        assert!(matches!(registry.leave(&key(), b, generation, Moment::ZERO), Leave::Last("file")));
        registry.finish_release(&key());
        assert!(registry.is_empty());
    }

    /// A run of hand-offs ends after `HAND_OFF_BOUND` of them: the next last leave releases
    /// through the disk although a waiter is queued, and that waiter gets the turn.
    /// Checks: INV-9
    #[test]
    fn hand_offs_of_one_file_are_bounded() {
        let registry: Registry<&str> = Registry::default();
        let (a, b) = (Owner::from_raw(1), Owner::from_raw(2));
        assert!(matches!(registry.enter(&key(), a), Entered::Turn));
        let mut generation = registry.grant(&key(), a, "file", Moment::ZERO);
        let mut holder = a;
        for _ in 0..HAND_OFF_BOUND {
            let next = if holder == a { b } else { a };
            let Entered::Queued(waiter, _) = registry.enter(&key(), next) else {
                panic!("{next:?} queues behind the hold");
            };
            assert!(matches!(
                registry.leave(&key(), holder, generation, Moment::ZERO),
                Leave::HandedOff
            ));
            let Some(Grant::Hold { generation: g }) = registry.withdraw(&key(), &waiter) else {
                panic!("{next:?} was handed the hold");
            };
            (holder, generation) = (next, g);
        }
        let next = if holder == a { b } else { a };
        let Entered::Queued(waiter, _) = registry.enter(&key(), next) else {
            panic!("{next:?} queues behind the hold");
        };
        assert!(matches!(
            registry.leave(&key(), holder, generation, Moment::ZERO),
            Leave::Last("file")
        ));
        registry.finish_release(&key());
        assert_eq!(registry.withdraw(&key(), &waiter), Some(Grant::Turn));
        registry.abandon(&key());
        assert!(registry.is_empty());
    }

    /// No hand-off of a file published `HAND_OFF_MAX_AGE` ago: its `createdAt` would be
    /// that much older than the next hold.
    /// Checks: INV-9
    #[test]
    fn no_hand_off_of_an_old_file() {
        let registry: Registry<&str> = Registry::default();
        let (a, b) = (Owner::from_raw(1), Owner::from_raw(2));
        assert!(matches!(registry.enter(&key(), a), Entered::Turn));
        let generation = registry.grant(&key(), a, "file", Moment::ZERO);
        let Entered::Queued(waiter, _) = registry.enter(&key(), b) else {
            panic!("b queues behind a's hold");
        };
        let late = Moment::ZERO.saturating_add(HAND_OFF_MAX_AGE);
        assert!(matches!(registry.leave(&key(), a, generation, late), Leave::Last("file")));
        registry.finish_release(&key());
        assert_eq!(registry.withdraw(&key(), &waiter), Some(Grant::Turn));
        registry.abandon(&key());
        assert!(registry.is_empty());
    }
}
