//! The in-memory world: one directory of lock files, inodes with kernel locks, open
//! handles, a process table and a logical clock, all behind one facade mutex.
//!
//! Every primitive takes that mutex once, so under loom and shuttle each primitive is one
//! atomic step with a scheduling point before it, exactly as each syscall is atomic on
//! Linux. The world also checks the rules only it can see: an unlink by a handle that does
//! not hold the inode's kernel lock (INV-2), and a task that meets its own process's kernel
//! lock, which means in-process contention leaked to the filesystem (INV-3), and, with
//! the cross-process queue, a queued waiter overtaken more than P − 1 times (INV-9, from
//! a ghost of the queue, `QueueGhost`).
//!
//! Time moves only when something advances it ([`World::advance`]): a deadline passes
//! because the world said so, never because the waiter itself slept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::task::Waker;
use std::time::Duration;

use sessionlock::fs::{FileId, FileKind, FsOp, Moment};
use sessionlock::sync::Mutex;
use std::sync::Arc;

use crate::injection::{Armed, CrashAt, Fault, FaultPlan, Injected, Intercept};
use crate::invariant::Invariant;
use crate::trace::{InodeView, Prim, Recorder, Sink, Step, View};

pub use crate::process::Pid;

/// Wall-clock milliseconds at logical time zero: 2026-02-13T10:00:00.000Z.
pub const WALL_ORIGIN_MS: u64 = 1_770_976_800_000;

/// A point where a task can be frozen: the next primitive `op` of process `pid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gate {
    /// The process.
    pub pid: Pid,
    /// The primitive.
    pub op: FsOp,
}

/// Counts of what happened in one world.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Primitives run, per process.
    pub ops_by_pid: BTreeMap<Pid, u64>,
    /// Publishes that found the path taken.
    pub contended: u64,
    /// Processes crashed.
    pub crashes: u64,
    /// Pids reused by a new incarnation.
    pub pid_reuses: u64,
    /// Times a task met its own process's kernel lock (INV-3 when non-zero).
    pub self_contention: u64,
    /// Faults the plan injected (see [`crate::injection`]).
    pub faults_injected: u64,
    /// Lease probes that found a writer (a foreign holder proven alive by the kernel).
    pub lease_writer: u64,
    /// Lease probes that found no writer.
    pub lease_no_writer: u64,
    /// Opens, by a contender, of a file a live process elsewhere (another host or pid
    /// namespace) has open for writing: the states where a pid guess could go wrong.
    pub elsewhere_probes: u64,
    /// Tickets published (the cross-process queue, `spec/protocol.md` section 11).
    pub tickets_taken: u64,
    /// The most tickets named at once.
    pub longest_queue: u64,
    /// Dead waiters' tickets (Q2) removed by a successor.
    pub dead_tickets_removed: u64,
    /// Tickets removed by their own waiter before it entered: give-ups.
    pub tickets_given_up: u64,
    /// Times a queued waiter was overtaken by a later arrival (INV-9 allows P - 1 each).
    pub overtakes: u64,
}

/// The queue's ghost (INV-9), kept by the world from the primitives it sees: when each
/// ticket was named, each process's last listing, and how often each queued waiter was
/// overtaken. A *later arrival* enters the critical section (publishes the lock file)
/// while a waiter is queued, with a ticket named after the waiter's or, without a
/// ticket, with a last listing after it (or none since its last entry: it never looked).
#[derive(Default)]
pub(crate) struct QueueGhost {
    /// A logical clock: one tick per ticket named or listing taken.
    tick: u64,
    /// The named tickets, by inode.
    tickets: BTreeMap<u64, GhostTicket>,
    /// Each process's last listing since its last entry, by (pid, incarnation).
    listed: BTreeMap<(Pid, u32), u64>,
}

struct GhostTicket {
    waiter: (Pid, u32),
    named: u64,
    entered: bool,
    overtaken: u64,
}

/// Whether `path` names a ticket (`<lock>.q.<seq>.<id>`), not a lock file.
pub fn is_ticket(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains(".q."))
}

/// The `seq` of the ticket at `path` (`<lock>.q.<seq>.<id>`), 0 if it has none.
fn ticket_seq(path: &Path) -> u64 {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.rsplit('.').nth(1).and_then(|seq| seq.parse().ok()).unwrap_or(0)
}

/// Where a model process lives: its host and pid namespace, and its pid as seen there.
/// By default every process lives on host 0, namespace 0, under its own pid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Whereabouts {
    /// The host (its boot is fixed: one boot per host).
    pub host: u32,
    /// The pid namespace on that host.
    pub pid_ns: u32,
    /// The process's pid inside its namespace: what it writes into payloads.
    pub local_pid: Pid,
}

impl Whereabouts {
    /// The default place of `pid`.
    pub const fn home(pid: Pid) -> Self {
        Self { host: 0, pid_ns: 0, local_pid: pid }
    }

    /// The same host and pid namespace as `other`.
    pub fn sees_pids_of(&self, other: &Self) -> bool {
        (self.host, self.pid_ns) == (other.host, other.pid_ns)
    }
}

/// Whose kernel locks a kernel-lock attempt can see.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FlockScope {
    /// Every handle's (a local filesystem).
    #[default]
    Global,
    /// Only handles of processes on the same host (NFS: `flock` is local to a client).
    Host,
    /// No other handle's (`flock` unavailable: every attempt "succeeds").
    Nobody,
}

pub(crate) struct Inode {
    /// `None` for a regular file.
    pub special: Option<FileKind>,
    pub data: Vec<u8>,
    pub mtime_ms: u64,
    pub lock: Option<u64>,
}

pub(crate) struct Open {
    pub ino: u64,
    pub pid: Pid,
    /// Open for writing: a publisher's handle, or a foreign holder's.
    pub write: bool,
}

pub(crate) struct Proc {
    pub starttime: u64,
    pub incarnation: u32,
    pub alive: bool,
    pub at: Whereabouts,
}

struct GateState {
    gate: Gate,
    closed: bool,
    parked: usize,
    wakers: Vec<Waker>,
}

pub(crate) struct State {
    pub now: Duration,
    pub paths: BTreeMap<PathBuf, u64>,
    pub inodes: BTreeMap<u64, Inode>,
    pub handles: BTreeMap<u64, Open>,
    pub procs: BTreeMap<Pid, Proc>,
    pub timers: Vec<(Duration, Waker)>,
    pub lock_waiters: Vec<(u64, Waker)>,
    /// Tasks waiting for the writers of an inode to close.
    pub writer_waiters: Vec<(u64, Waker)>,
    /// Where processes live, set before they start ([`World::place`]).
    pub placed: BTreeMap<Pid, Whereabouts>,
    /// Whose kernel locks an attempt sees ([`World::set_flock_scope`]).
    pub flock_scope: FlockScope,
    /// The lease probe answers `Unavailable` everywhere: a mutant that ignores it.
    pub leases_ignored: bool,
    /// Processes report no location, so their payloads record none: a mutant that
    /// judges every pid as if it lived here.
    pub locations_unrecorded: bool,
    gates: Vec<GateState>,
    pub step_mode: bool,
    /// `lstat` reports other inode numbers than `fstat` (H17).
    pub id_drift: bool,
    /// Kernel locks prove nothing (NFS, no `flock`): the degraded mode.
    pub no_kernel_proof: bool,
    pub strict: bool,
    pub violations: Vec<(Invariant, String)>,
    pub pending_panic: Option<(Invariant, String)>,
    pub stats: Stats,
    /// Faults and crash points to inject (see [`crate::injection`]).
    pub faults: FaultPlan,
    /// The trace of every step, when recording ([`World::record_trace`]).
    pub(crate) recorder: Option<Recorder>,
    /// The queue's ghost (INV-9).
    pub(crate) queue: QueueGhost,
    next_id: u64,
}

/// The shared world. Create it with [`World::new`], then processes with [`World::spawn_process`].
pub struct World {
    pub(crate) state: Mutex<State>,
    /// Set once a gate was closed or step mode turned on: until then a checkpoint needs no
    /// look at the state, and so is no scheduling point. Harness configuration, set before
    /// any task runs: a std atomic, invisible to the checkers on purpose.
    steered: std::sync::atomic::AtomicBool,
    /// Set once a violation is recorded, so the harness can poll for one without taking
    /// the world's lock (which would add scheduling points). Ghost state, likewise std.
    violated: std::sync::atomic::AtomicBool,
    /// The recorder's trace, when recording, reachable without the world's lock (whose
    /// taking is a scheduling point) for the steps that touch no file. Ghost state.
    pub(crate) sink: std::sync::OnceLock<Sink>,
}

impl World {
    /// An empty world at logical time zero. Violations panic at once (see [`World::set_strict`]).
    ///
    /// Shared through a std `Arc` under every checker, loom included: its reference counts
    /// (a handle opened, a task started) are the harness's, not the system's, and loom would
    /// add a branch at each (15-25% of the executions of the loom scenarios at bound 2).
    pub fn new() -> Arc<Self> {
        let recorder = crate::trace::collecting();
        let sink = std::sync::OnceLock::new();
        if let Some(r) = &recorder {
            _ = sink.set(Arc::clone(&r.sink));
        }
        Arc::new(Self {
            sink,
            steered: std::sync::atomic::AtomicBool::new(false),
            violated: std::sync::atomic::AtomicBool::new(false),
            state: Mutex::new(State {
                now: Duration::ZERO,
                paths: BTreeMap::new(),
                inodes: BTreeMap::new(),
                handles: BTreeMap::new(),
                procs: BTreeMap::new(),
                timers: Vec::new(),
                lock_waiters: Vec::new(),
                writer_waiters: Vec::new(),
                placed: BTreeMap::new(),
                flock_scope: FlockScope::Global,
                leases_ignored: false,
                locations_unrecorded: false,
                gates: Vec::new(),
                step_mode: false,
                id_drift: false,
                no_kernel_proof: false,
                strict: true,
                violations: Vec::new(),
                pending_panic: None,
                stats: Stats::default(),
                faults: FaultPlan::default(),
                recorder,
                queue: QueueGhost::default(),
                next_id: 1,
            }),
        })
    }

    /// Starts process `pid`, or a new incarnation of it if it died (pid reuse).
    pub fn spawn_process(&self, pid: Pid) -> (u32, u64) {
        let (incarnation, starttime, _, _) = self.spawn_placed(pid);
        (incarnation, starttime)
    }

    /// As [`World::spawn_process`], also returning where the process lives and whether
    /// locations go unrecorded: one look at the world, so that starting a process adds
    /// no scheduling point (pinned replay schedules count them).
    pub(crate) fn spawn_placed(&self, pid: Pid) -> (u32, u64, Whereabouts, bool) {
        let mut st = self.state.lock();
        let starttime = 1000 + st.next_id;
        st.next_id += 1;
        let reused = st.procs.get(&pid).map(|p| {
            assert!(!p.alive, "pid {pid} is alive");
            p.incarnation + 1
        });
        st.stats.pid_reuses += u64::from(reused.is_some());
        let incarnation = reused.unwrap_or(1);
        let at = st.placed.get(&pid).copied().unwrap_or(Whereabouts::home(pid));
        st.procs.insert(pid, Proc { starttime, incarnation, alive: true, at });
        st.log(pid, Prim::Spawn { reused: reused.is_some() });
        (incarnation, starttime, at, st.locations_unrecorded)
    }

    /// Makes process `pid`, when it starts, live at `at` (another host or pid namespace).
    pub fn place(&self, pid: Pid, at: Whereabouts) {
        self.state.lock().placed.insert(pid, at);
    }

    /// Where process `pid` lives (or will, once started).
    pub fn whereabouts(&self, pid: Pid) -> Whereabouts {
        self.state.lock().placed.get(&pid).copied().unwrap_or(Whereabouts::home(pid))
    }

    /// Sets whose kernel locks an attempt can see (NFS: only its own host's).
    pub fn set_flock_scope(&self, scope: FlockScope) {
        let mut st = self.state.lock();
        st.flock_scope = scope;
        if scope != FlockScope::Global {
            st.log(0, Prim::Foreign);
        }
    }

    /// Mutant switch: every lease probe answers `Unavailable` (the lease is ignored).
    pub fn set_leases_ignored(&self, on: bool) {
        self.state.lock().leases_ignored = on;
    }

    /// Mutant switch: processes record no location in their payloads, so every pid is
    /// judged as if it lived here.
    pub fn set_locations_unrecorded(&self, on: bool) {
        self.state.lock().locations_unrecorded = on;
    }

    /// Creates a file at `path` the way the original lock holds one: written by process
    /// `holder` (started or not yet), which keeps it open for writing until it dies. No
    /// kernel lock.
    pub fn plant_held(&self, path: &std::path::Path, data: &[u8], holder: Pid) {
        let mut st = self.state.lock();
        let ino = st.fresh_id();
        let mtime_ms = st.wall_ms();
        let inode = Inode { special: None, data: data.to_vec(), mtime_ms, lock: None };
        st.inodes.insert(ino, inode);
        st.paths.insert(path.to_owned(), ino);
        let id = st.fresh_id();
        st.handles.insert(id, Open { ino, pid: holder, write: true });
        st.log(holder, Prim::Foreign);
    }

    /// Kills `pid` at once: its handles close (their kernel locks drop), its files stay,
    /// and it runs no teardown.
    pub fn crash(&self, pid: Pid) {
        let wakers = self.state.lock().crash(pid);
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Ends `pid` normally: as a crash, its remaining handles close (their kernel locks
    /// drop) and its files stay; unlike a crash, it is not counted as one. From then on
    /// `pid_state` reports it dead, as `kill(pid, 0)` does once its parent reaped it.
    pub fn exit(&self, pid: Pid) {
        let wakers = self.state.lock().exit(pid);
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Moves logical time forward by `by`, waking every deadline it passes.
    pub fn advance(&self, by: Duration) {
        let wakers = {
            let mut st = self.state.lock();
            st.now += by;
            let now = st.now;
            crate::interleaving::note(|| crate::interleaving::Step::Clock { by, now });
            let (due, rest) =
                std::mem::take(&mut st.timers).into_iter().partition(|(at, _)| *at <= now);
            st.timers = rest;
            due.into_iter().map(|(_, w): (Duration, Waker)| w).collect::<Vec<_>>()
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Logical time now.
    pub fn now(&self) -> Moment {
        Moment::from_duration(self.state.lock().now)
    }

    /// In step mode every primitive first yields once, so one poll of a task runs it to
    /// its next primitive: a harness can interleave tasks one primitive at a time.
    pub fn set_step_mode(&self, on: bool) {
        self.steered.fetch_or(on, std::sync::atomic::Ordering::SeqCst);
        self.state.lock().step_mode = on;
    }

    /// Makes `path_id` (`lstat`) report other inode numbers than `meta` (`fstat`), as
    /// some virtual filesystems do (H17).
    pub fn set_id_drift(&self, on: bool) {
        self.state.lock().id_drift = on;
    }

    /// Makes every handle's kernel lock prove nothing (`LockFs::kernel_proof` is false),
    /// as on NFS: the core must then judge by heuristics.
    pub fn set_no_kernel_proof(&self, on: bool) {
        let mut st = self.state.lock();
        st.no_kernel_proof = on;
        if on {
            st.log(0, Prim::Foreign);
        }
    }

    /// Strict (the default): a violation panics at once with `"INV-n Name: …"`. Otherwise
    /// it is recorded for [`World::violations`].
    pub fn set_strict(&self, strict: bool) {
        self.state.lock().strict = strict;
    }

    /// Records a violation seen outside the world (by a harness oracle), as the world
    /// records its own: panics now if strict, else kept for [`World::violations`].
    pub fn record(&self, inv: Invariant, detail: String) {
        self.enter().violation_owned(inv, detail);
    }

    /// The first violation recorded, if any.
    pub fn first_violation(&self) -> Option<(Invariant, String)> {
        if !self.violated.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        self.state.lock().violations.first().cloned()
    }

    /// Violations recorded in non-strict mode.
    pub fn violations(&self) -> Vec<(Invariant, String)> {
        self.state.lock().violations.clone()
    }

    /// What happened so far.
    pub fn stats(&self) -> Stats {
        self.state.lock().stats.clone()
    }

    /// Closes `gate`: the next primitive matching it parks until [`World::open_gate`].
    pub fn close_gate(&self, gate: Gate) {
        let state = GateState { gate, closed: true, parked: 0, wakers: Vec::new() };
        self.steered.store(true, std::sync::atomic::Ordering::SeqCst);
        self.state.lock().gates.push(state);
    }

    /// Opens `gate`, releasing every task parked at it.
    pub fn open_gate(&self, gate: Gate) {
        let wakers: Vec<Waker> = {
            let mut st = self.state.lock();
            let (open, keep) =
                std::mem::take(&mut st.gates).into_iter().partition(|g| g.gate == gate);
            st.gates = keep;
            open.into_iter().flat_map(|g: GateState| g.wakers).collect()
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// How many tasks are parked at `gate` now.
    pub fn parked_at(&self, gate: Gate) -> usize {
        self.state.lock().gates.iter().filter(|g| g.gate == gate).map(|g| g.parked).sum()
    }

    /// The identity of the file at `path`, if any.
    pub fn file_at(&self, path: &std::path::Path) -> Option<FileId> {
        self.state.lock().paths.get(path).map(|&ino| file_id(ino))
    }

    /// How many lock files exist, tickets included.
    pub fn file_count(&self) -> usize {
        self.state.lock().paths.len()
    }

    /// How many tickets are named now and kernel-locked: live waiters' (Q1).
    pub fn live_tickets(&self) -> usize {
        let st = self.state.lock();
        st.paths.iter().filter(|(p, ino)| is_ticket(p) && st.kernel_held(**ino)).count()
    }

    /// Creates a file at `path` written by someone outside the protocol (the original
    /// lock, a crash mid-write): no kernel lock, the given content and age.
    pub fn plant(&self, path: &std::path::Path, data: &[u8], age: Duration) {
        let mut st = self.state.lock();
        let ino = st.fresh_id();
        let mtime_ms =
            (WALL_ORIGIN_MS + st.now.as_millis() as u64).saturating_sub(age.as_millis() as u64);
        let inode = Inode { special: None, data: data.to_vec(), mtime_ms, lock: None };
        st.inodes.insert(ino, inode);
        st.paths.insert(path.to_owned(), ino);
        st.log(0, Prim::Foreign);
    }

    /// Puts something that is not a regular file at `path`.
    pub fn plant_special(&self, path: &std::path::Path, kind: FileKind) {
        let mut st = self.state.lock();
        let ino = st.fresh_id();
        st.inodes
            .insert(ino, Inode { special: Some(kind), data: Vec::new(), mtime_ms: 0, lock: None });
        st.paths.insert(path.to_owned(), ino);
        st.log(0, Prim::Foreign);
    }

    /// Removes `path` from outside the protocol (a cleanup script, an operator).
    pub fn remove_externally(&self, path: &std::path::Path) {
        let mut st = self.state.lock();
        st.paths.remove(path);
        st.log(0, Prim::Foreign);
    }

    /// Locks the world for one primitive; on drop, raises any violation it recorded.
    pub(crate) fn enter(&self) -> Entered<'_> {
        Entered { world: self, guard: Some(self.state.lock()) }
    }

    pub(crate) fn gate_poll(&self, pid: Pid, op: FsOp, first: bool, waker: &Waker) -> bool {
        if !self.steered.load(std::sync::atomic::Ordering::SeqCst) {
            return true;
        }
        let mut st = self.state.lock();
        if st.step_mode && first {
            waker.wake_by_ref();
            return false;
        }
        match st.gates.iter_mut().find(|g| g.closed && g.gate == Gate { pid, op }) {
            Some(g) => {
                if g.parked == 0 {
                    let task = crate::interleaving::current();
                    crate::interleaving::note(|| crate::interleaving::Step::Parked {
                        task,
                        pid,
                        op,
                    });
                }
                g.parked = 1;
                g.wakers.push(waker.clone());
                false
            }
            None => true,
        }
    }
}

/// The world, locked for one primitive. Dropping it unlocks, then panics with the first
/// violation the primitive recorded, if the world is strict.
pub(crate) struct Entered<'a> {
    world: &'a World,
    guard: Option<sessionlock::sync::MutexGuard<'a, State>>,
}

impl std::ops::Deref for Entered<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        self.guard.as_ref().expect("held until drop")
    }
}

impl std::ops::DerefMut for Entered<'_> {
    fn deref_mut(&mut self) -> &mut State {
        self.guard.as_mut().expect("held until drop")
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let pending = self.guard.as_mut().and_then(|st| st.pending_panic.take());
        if self.guard.as_ref().is_some_and(|st| !st.violations.is_empty()) {
            self.world.violated.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        drop(self.guard.take());
        if let Some((inv, detail)) = pending
            && !std::thread::panicking()
        {
            inv.violated(detail);
        }
    }
}

impl State {
    fn violation_owned(&mut self, inv: Invariant, detail: String) {
        self.violation(inv, detail);
    }

    pub(crate) fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Records a violation of `inv`. When strict, the primitive panics with it as soon as
    /// it has let go of the world (panicking under the lock would poison it).
    pub(crate) fn violation(&mut self, inv: Invariant, detail: String) {
        let step = || crate::interleaving::Step::Violation { inv, detail: detail.clone() };
        crate::interleaving::note(step);
        if self.strict && self.pending_panic.is_none() {
            self.pending_panic = Some((inv, detail.clone()));
        }
        self.violations.push((inv, detail));
    }

    /// Kills `pid` (see [`World::crash`]); returns whom to wake.
    pub(crate) fn crash(&mut self, pid: Pid) -> Vec<Waker> {
        self.stats.crashes += 1;
        self.exit(pid)
    }

    /// Ends `pid` (see [`World::exit`]); returns whom to wake.
    pub(crate) fn exit(&mut self, pid: Pid) -> Vec<Waker> {
        let was_alive = self.procs.get(&pid).is_some_and(|p| p.alive);
        if let Some(p) = self.procs.get_mut(&pid) {
            p.alive = false;
        }
        let doomed: Vec<u64> =
            self.handles.iter().filter(|(_, h)| h.pid == pid).map(|(&id, _)| id).collect();
        let woken = doomed.into_iter().flat_map(|id| self.close(id)).collect();
        if was_alive {
            self.log(pid, Prim::Crash);
        }
        woken
    }

    /// Closes handle `id`, dropping its kernel lock; returns whom to wake.
    pub(crate) fn close(&mut self, id: u64) -> Vec<Waker> {
        let Some(open) = self.handles.remove(&id) else {
            return Vec::new();
        };
        let mut woken = Vec::new();
        if open.write && !self.has_writer(open.ino) {
            let (wake, keep) = std::mem::take(&mut self.writer_waiters)
                .into_iter()
                .partition(|(i, _)| *i == open.ino);
            self.writer_waiters = keep;
            woken.extend(wake.into_iter().map(|(_, w): (u64, Waker)| w));
        }
        let Some(inode) = self.inodes.get_mut(&open.ino) else {
            return woken;
        };
        if inode.lock != Some(id) {
            return woken;
        }
        inode.lock = None;
        let (wake, keep) =
            std::mem::take(&mut self.lock_waiters).into_iter().partition(|(i, _)| *i == open.ino);
        self.lock_waiters = keep;
        woken.extend(wake.into_iter().map(|(_, w): (u64, Waker)| w));
        woken
    }

    /// Whether any handle has inode `ino` open for writing.
    pub(crate) fn has_writer(&self, ino: u64) -> bool {
        self.handles.values().any(|h| h.ino == ino && h.write)
    }

    /// A live process other than `pid` that has inode `ino` open for writing: a live
    /// holder of that file.
    pub(crate) fn live_writer_besides(&self, ino: u64, pid: Pid) -> Option<Pid> {
        self.handles
            .values()
            .filter(|h| h.ino == ino && h.write && h.pid != pid)
            .map(|h| h.pid)
            .find(|p| self.procs.get(p).is_some_and(|p| p.alive))
    }

    /// Where process `pid` lives.
    pub(crate) fn at(&self, pid: Pid) -> Whereabouts {
        self.procs.get(&pid).map_or(Whereabouts::home(pid), |p| p.at)
    }

    pub(crate) fn wall_ms(&self) -> u64 {
        WALL_ORIGIN_MS + self.now.as_millis() as u64
    }
}

pub(crate) fn file_id(ino: u64) -> FileId {
    FileId { dev: 1, ino }
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

impl State {
    fn incarnation(&self, pid: Pid) -> (Pid, u32) {
        (pid, self.procs.get(&pid).map_or(0, |p| p.incarnation))
    }

    /// Whether inode `ino`'s kernel lock is held by an open handle.
    fn kernel_held(&self, ino: u64) -> bool {
        self.inodes.get(&ino).and_then(|i| i.lock).is_some_and(|h| self.handles.contains_key(&h))
    }

    /// The queue's ghost: `pid` published inode `ino` at `path`. A ticket is queued from
    /// now; the lock file is an entry, which overtakes every waiter queued before the
    /// entrant arrived (INV-9: at most P - 1 times each, P the processes taking part).
    pub(crate) fn note_published(&mut self, pid: Pid, path: &Path, ino: u64) {
        let me = self.incarnation(pid);
        if is_ticket(path) {
            self.queue.tick += 1;
            let ticket =
                GhostTicket { waiter: me, named: self.queue.tick, entered: false, overtaken: 0 };
            self.queue.tickets.insert(ino, ticket);
            self.stats.tickets_taken += 1;
            let named = self.paths.keys().filter(|p| is_ticket(p)).count() as u64;
            self.stats.longest_queue = self.stats.longest_queue.max(named);
            return;
        }
        let own = self
            .queue
            .tickets
            .iter()
            .filter(|(i, t)| t.waiter == me && self.kernel_held(**i))
            .map(|(_, t)| t.named)
            .max();
        let arrived = own.or_else(|| self.queue.listed.get(&me).copied()).unwrap_or(u64::MAX);
        let bound = (self.procs.len() as u64).saturating_sub(1);
        let queued: Vec<u64> = self
            .queue
            .tickets
            .iter()
            .filter(|(i, t)| {
                t.waiter != me && !t.entered && t.named < arrived && self.kernel_held(**i)
            })
            .map(|(&i, _)| i)
            .collect();
        for i in queued {
            let t = self.queue.tickets.get_mut(&i).expect("listed above");
            t.overtaken += 1;
            self.stats.overtakes += 1;
            if t.overtaken > bound {
                let detail = format!(
                    "process {pid} entered past process {}'s queued ticket {}, overtaking it {} times: more than P - 1 = {bound}",
                    t.waiter.0,
                    path.display(),
                    t.overtaken
                );
                self.violation(Invariant::BoundedBypass, detail);
            }
        }
        for t in self.queue.tickets.values_mut().filter(|t| t.waiter == me) {
            t.entered = true;
        }
        self.queue.listed.remove(&me);
    }

    /// The queue's ghost: `pid` listed the tickets.
    pub(crate) fn note_listed(&mut self, pid: Pid) {
        self.queue.tick += 1;
        let me = self.incarnation(pid);
        self.queue.listed.insert(me, self.queue.tick);
    }

    /// The queue's ghost: `pid` unlinked inode `ino` at `path`.
    pub(crate) fn note_unlinked(&mut self, pid: Pid, path: &Path, ino: u64) {
        if !is_ticket(path) {
            return;
        }
        let me = self.incarnation(pid);
        let Some(ticket) = self.queue.tickets.remove(&ino) else { return };
        if ticket.waiter != me {
            self.stats.dead_tickets_removed += 1;
        } else if !ticket.entered {
            self.stats.tickets_given_up += 1;
        }
    }

    /// Logs step `prim` of `pid`, if recording; called inside the step's critical section.
    pub(crate) fn log(&mut self, pid: Pid, prim: Prim) {
        self.log_by(pid, None, prim);
    }

    /// Logs step `prim` of `pid` at `path` (or on a handle opened there), if recording.
    pub(crate) fn log_at(&mut self, pid: Pid, path: &Path, prim: Prim) {
        if self.recorder.is_some() {
            self.log_step(pid, None, is_ticket(path), prim);
        }
    }

    /// Logs step `prim` of `pid`, taken by the driver's task `task`, if recording.
    pub(crate) fn log_by(&mut self, pid: Pid, task: Option<u8>, prim: Prim) {
        self.log_step(pid, task, false, prim);
    }

    fn log_step(&mut self, pid: Pid, task: Option<u8>, ticket: bool, prim: Prim) {
        if self.recorder.is_none() {
            return;
        }
        let after = self.view();
        if let Some(r) = self.recorder.as_ref() {
            let mut steps = r.sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            steps.push(Step { pid, task, prim, ticket, after });
        }
    }

    /// Notes that `pid`'s current incarnation published inode `ino` at `path`.
    pub(crate) fn log_publisher(&mut self, ino: u64, pid: Pid, path: &Path) {
        let incarnation = self.procs.get(&pid).map_or(0, |p| p.incarnation);
        if let Some(r) = self.recorder.as_mut() {
            r.publisher.insert(ino, (pid, incarnation));
            if is_ticket(path) {
                r.tickets.insert(ino);
            }
        }
    }

    /// The abstraction function: see the state table in [`crate::refine`].
    fn view(&self) -> View {
        let publisher = |ino: u64| self.recorder.as_ref().and_then(|r| r.publisher.get(&ino));
        let inode = |ino: u64| InodeView {
            publisher: publisher(ino).copied(),
            flock: self
                .inodes
                .get(&ino)
                .and_then(|i| i.lock)
                .and_then(|h| self.handles.get(&h).map(|h| h.pid)),
        };
        let named_ino = self.paths.iter().find(|(p, _)| !is_ticket(p)).map(|(_, &ino)| ino);
        let ticket_ino =
            |ino: &u64| self.recorder.as_ref().is_some_and(|r| r.tickets.contains(ino));
        let mut referenced: Vec<u64> = self.handles.values().map(|h| h.ino).collect();
        referenced.sort_unstable();
        referenced.dedup();
        let mut unnamed: Vec<InodeView> = referenced
            .into_iter()
            .filter(|&i| Some(i) != named_ino && !ticket_ino(&i))
            .map(inode)
            .collect();
        unnamed.sort();
        // A ticket's kernel lock, as far as its waiter (the publisher's live incarnation)
        // holds it.
        let waiter_holds = |view: &InodeView| {
            let (Some((pid, incarnation)), Some(flock)) = (view.publisher, view.flock) else {
                return false;
            };
            let live =
                self.procs.get(&pid).is_some_and(|p| p.alive && p.incarnation == incarnation);
            flock == pid && live
        };
        let mut tickets: Vec<(u64, InodeView)> = self
            .paths
            .iter()
            .filter(|(p, _)| is_ticket(p))
            .map(|(p, &ino)| {
                let mut view = inode(ino);
                if !waiter_holds(&view) {
                    view.flock = None;
                }
                (ticket_seq(p), view)
            })
            .collect();
        tickets.sort();
        View {
            named: named_ino.map(inode),
            unnamed,
            tickets: tickets.into_iter().map(|(_, view)| view).collect(),
            procs: self.procs.iter().map(|(&pid, p)| (pid, (p.alive, p.incarnation))).collect(),
        }
    }
}
