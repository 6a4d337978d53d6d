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
//! | held(o, n)  | owner `o` holds it, re-entered `n` times      | `leave` with n = 1 → releasing              |
//! | releasing   | the last guard is removing the file           | `finish_release` → next waiter or idle      |
//!
//! A waiter is handed the turn directly (its phase becomes acquiring *before* it is
//! woken), so a woken waiter never races a newcomer, and no entry outlives its last user
//! (INV-5). `releasing` is entered under the same lock that ends `held`, before any
//! filesystem step of the release (the seed fix).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::fs::LockPath;
use crate::sync::{Arc, Mutex};

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
                let waiter = Arc::new(Waiter::default());
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

    /// Ends a successful turn: the entry becomes held by `owner`. Returns the generation.
    pub fn grant(&self, key: &LockPath, owner: Owner, file: F) -> u64 {
        let mut table = self.table.lock();
        let generation = table.next_generation;
        table.next_generation += 1;
        let entry = table.entries.get_mut(key).expect("grant without a turn");
        debug_assert!(matches!(entry.phase, Phase::Acquiring));
        entry.phase = Phase::Held(Hold { owner, count: 1, generation, file });
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

    /// Drops one re-entry of the hold with `generation`. On the last, the entry becomes
    /// releasing and the held file is handed back for teardown.
    pub fn leave(&self, key: &LockPath, owner: Owner, generation: u64) -> Leave<F> {
        let mut table = self.table.lock();
        let Some(entry) = table.entries.get_mut(key) else {
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

    /// Withdraws a waiter. `true`: it was still queued and is gone. `false`: it had already
    /// been handed the turn, which the caller now holds and must use or abandon.
    pub fn withdraw(&self, key: &LockPath, waiter: &Arc<Waiter>) -> bool {
        let mut table = self.table.lock();
        if waiter.state.lock().granted && !cfg!(sessionlock_mutant = "withdraw_ignores_granted") {
            return false;
        }
        if let Some(entry) = table.entries.get_mut(key) {
            entry.waiters.retain(|w| !Arc::ptr_eq(w, waiter));
        }
        true
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

    /// The phase of `key` now, for diagnostics and tests. Stale as soon as it returns.
    pub fn phase(&self, key: &LockPath) -> Option<PhaseKind> {
        self.table.lock().entries.get(key).map(|e| kind(&e.phase))
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
            let mut state = next.state.lock();
            state.granted = true;
            let waker = state.waker.take();
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

/// A task queued for a path's turn.
#[derive(Default)]
pub struct Waiter {
    state: Mutex<WaiterState>,
}

#[derive(Default)]
struct WaiterState {
    granted: bool,
    waker: Option<Waker>,
}

impl Waiter {
    /// Resolves once this waiter has been handed the turn.
    pub fn turn(&self) -> impl Future<Output = ()> + Send + '_ {
        TurnFuture { waiter: self }
    }
}

struct TurnFuture<'a> {
    waiter: &'a Waiter,
}

impl Future for TurnFuture<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.waiter.state.lock();
        if state.granted {
            return Poll::Ready(());
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
        let first = registry.grant(&key(), a, "first");
        assert!(matches!(registry.leave(&key(), a, first), Leave::Last("first")));
        registry.finish_release(&key());
        assert!(matches!(registry.enter(&key(), b), Entered::Turn));
        let second = registry.grant(&key(), b, "second");
        assert!(matches!(registry.leave(&key(), a, first), Leave::Missing));
        assert!(matches!(registry.leave(&key(), b, first), Leave::Missing));
        let held = registry.phase(&key());
        assert_eq!(held, Some(PhaseKind::Held { owner: b, count: 1 }));
        assert!(matches!(registry.leave(&key(), b, second), Leave::Last("second")));
    }

    /// Re-entry is counted, and only the last leave releases.
    /// Checks: INV-7
    #[test]
    fn reentry_is_counted_and_only_the_last_leave_releases() {
        let registry: Registry<&str> = Registry::default();
        let a = Owner::from_raw(1);
        assert!(matches!(registry.enter(&key(), a), Entered::Turn));
        let generation = registry.grant(&key(), a, "file");
        assert!(matches!(registry.enter(&key(), a), Entered::Reentered { .. }));
        assert!(matches!(registry.leave(&key(), a, generation), Leave::Remaining(1)));
        assert!(matches!(registry.leave(&key(), a, generation), Leave::Last("file")));
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
        assert!(!registry.withdraw(&key(), &waiter), "the turn was already b's");
        registry.abandon(&key());
        assert!(registry.is_empty());
    }
}
