//! [`ModelFs`] and [`ModelClock`]: the core's traits over the in-memory [`World`].

use std::future::{Future, poll_fn};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::Poll;

use sessionlock::core::protocol::Ctx;
use sessionlock::fs::{Clock, FileMeta, FsError, FsOp, FsResult, LockFs, LockPath, Moment};
use sessionlock::fs::{FileId, Lease, Location, Opened, PidState, ProcessId, Published, Ticket};
use std::sync::Arc;

use crate::injection::CrashWhen;
use crate::interleaving::{self, Shown};
use crate::invariant::Invariant;
use crate::trace::Prim;
use crate::world::{Entered, FlockScope, Inode, Open, Pid, State, Whereabouts, World};
use crate::world::{file_id, is_ticket};

/// How far `lstat` inode numbers are off under [`World::set_id_drift`].
const DRIFT: u64 = 1 << 40;

/// One simulated process's view of the world.
#[derive(Clone)]
pub struct ModelFs {
    world: Arc<World>,
    pid: Pid,
    incarnation: u32,
    starttime: u64,
    /// Where it lives ([`World::place`]).
    at: Whereabouts,
    /// What it records in its payloads: its host, boot and pid namespace.
    location: Location,
    /// What its kernel waits on tickets met, shared by its clones.
    ticket_waits: Arc<TicketWaits>,
}

/// What one process's kernel waits on its predecessors' tickets (W3, `spec/protocol.md`
/// section 11) met: ghost counts, std atomics, invisible to the checkers. They show that
/// a queue run reached a waiter waiting on its predecessor only, and a waiter woken by
/// its predecessor's leaving (its release's R5q, or a give-up), which the world's
/// statistics do not tell apart from a wait on the lock file.
#[derive(Debug, Default)]
pub struct TicketWaits {
    refused: AtomicU64,
    left: AtomicU64,
}

impl TicketWaits {
    /// Kernel waits on a predecessor's ticket that found its flock held: the waiter
    /// waited on its predecessor.
    pub fn refused(&self) -> u64 {
        self.refused.load(Relaxed)
    }

    /// Of those, the waits that returned after the predecessor removed its ticket (R5q,
    /// or a give-up): the queue handed the turn on. (A dead predecessor's ticket is still
    /// named when its successor gets the flock.)
    pub fn left(&self) -> u64 {
        self.left.load(Relaxed)
    }
}

/// An open file description in the model. Dropping it closes it.
pub struct ModelHandle {
    world: Arc<World>,
    id: u64,
    /// The lock path it was opened at, which errors on it name.
    path: LockPath,
}

impl ModelHandle {
    /// The open file description's id in the world.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for ModelHandle {
    fn drop(&mut self) {
        let wakers = {
            let mut st = self.world.state.lock();
            let owner = st.handles.get(&self.id).map(|h| h.pid);
            let wakers = st.close(self.id);
            if let Some(pid) = owner {
                st.log_at(pid, self.path.as_path(), Prim::Close);
            }
            wakers
        };
        wakers.into_iter().for_each(std::task::Waker::wake);
    }
}

impl std::fmt::Debug for ModelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModelHandle({})", self.id)
    }
}

impl Shown for Published<ModelHandle> {
    fn shown(&self) -> String {
        match self {
            Published::Created { handle, id } => {
                format!("created inode {} (handle {}), kernel-locked", id.ino, handle.id())
            }
            Published::Exists => "exists: the path is taken".to_owned(),
            _ => "another outcome".to_owned(),
        }
    }
}

impl Shown for Opened<ModelHandle> {
    fn shown(&self) -> String {
        match self {
            Opened::File(handle) => format!("opened (handle {})", handle.id()),
            Opened::Missing => "nothing there".to_owned(),
            Opened::NotALockFile(kind) => format!("not a lock file: a {kind}"),
            _ => "another outcome".to_owned(),
        }
    }
}

impl ModelFs {
    /// Starts process `pid` in `world` (a new incarnation if the pid died before).
    pub fn spawn(world: &Arc<World>, pid: Pid) -> Self {
        let (incarnation, starttime, at, unrecorded) = world.spawn_placed(pid);
        let location = if unrecorded { Location::UNKNOWN } else { location_of(at) };
        let ticket_waits = Arc::default();
        Self { world: Arc::clone(world), pid, incarnation, starttime, at, location, ticket_waits }
    }

    /// What this process's kernel waits on tickets met so far.
    pub fn ticket_waits(&self) -> Arc<TicketWaits> {
        Arc::clone(&self.ticket_waits)
    }

    /// The world.
    pub fn world(&self) -> &Arc<World> {
        &self.world
    }

    /// This process's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Parks at a closed gate or, in step mode, yields once.
    async fn checkpoint(&self, op: FsOp) {
        let mut first = true;
        poll_fn(|cx| {
            let pass = self.world.gate_poll(self.pid, op, first, cx.waker());
            first = false;
            if pass { Poll::Ready(()) } else { Poll::Pending }
        })
        .await;
    }

    /// Runs one primitive atomically on the world state, after its checkpoint.
    pub(crate) async fn step<T>(
        &self,
        op: FsOp,
        path: &LockPath,
        f: impl FnOnce(&mut State) -> io::Result<T>,
    ) -> FsResult<T> {
        self.step_or(op, path, None, f).await
    }

    /// As [`ModelFs::step`], for a primitive that a race fault makes report `raced`
    /// instead of running. The fault plan may fail the primitive before it runs, or
    /// kill the process before or after it (see [`crate::injection`]).
    pub(crate) async fn step_or<T>(
        &self,
        op: FsOp,
        path: &LockPath,
        raced: Option<T>,
        f: impl FnOnce(&mut State) -> io::Result<T>,
    ) -> FsResult<T> {
        self.checkpoint(op).await;
        let mut st = self.world.enter();
        let alive =
            st.procs.get(&self.pid).is_some_and(|p| p.alive && p.incarnation == self.incarnation);
        if !alive {
            return Err(FsError::new(op, path, io::Error::other("process crashed")));
        }
        *st.stats.ops_by_pid.entry(self.pid).or_default() += 1;
        let hook = st.intercept(self.pid, op);
        if hook.crash == Some(CrashWhen::Before) {
            return Err(self.die(st, op, path));
        }
        let result = match hook.fault {
            Some(kind) => {
                // An error changes nothing; a race's made-up answer is outside the spec.
                let prim = if kind.error().is_some() { Prim::Failed } else { Prim::Foreign };
                st.log(self.pid, prim);
                kind.inject(raced)
            }
            None => f(&mut st),
        };
        if hook.crash.is_some() {
            return Err(self.die(st, op, path));
        }
        result.map_err(|e| FsError::new(op, path, e))
    }

    /// A crash point fired during `op`: the process dies, and the primitive's (dead)
    /// caller gets an error.
    fn die(&self, mut st: Entered<'_>, op: FsOp, path: &LockPath) -> FsError {
        let wakers = st.crash(self.pid);
        drop(st);
        wakers.into_iter().for_each(std::task::Waker::wake);
        FsError::new(op, path, io::Error::other("process crashed"))
    }

    /// A handle on open file description `id`, opened at `path`.
    pub(crate) fn handle_at(&self, id: u64, path: &LockPath) -> ModelHandle {
        ModelHandle { world: Arc::clone(&self.world), id, path: path.clone() }
    }

    pub(crate) fn open_handle(&self, st: &mut State, ino: u64) -> u64 {
        let id = st.fresh_id();
        st.handles.insert(id, Open { ino, pid: self.pid, write: false });
        if st.live_writer_besides(ino, self.pid).is_some_and(|w| !st.at(w).sees_pids_of(&self.at)) {
            st.stats.elsewhere_probes += 1;
        }
        id
    }
}

/// What a process at `at` records as its location: a host name and boot id per host,
/// and a pid-namespace inode per namespace.
pub fn location_of(at: Whereabouts) -> Location {
    Location {
        host: Some(format!("host-{}", at.host)),
        boot: Some(format!("boot-{}", at.host)),
        pid_ns: Some(4_026_531_836 + u64::from(at.pid_ns)),
    }
}

/// Whether the kernel lock held by `holder` is invisible to a handle of process `taker`
/// under the world's [`FlockScope`].
fn invisible(st: &State, holder: u64, taker: Pid) -> bool {
    let Some(holder_pid) = st.handles.get(&holder).map(|h| h.pid) else { return false };
    match st.flock_scope {
        FlockScope::Global => false,
        FlockScope::Host => st.at(holder_pid).host != st.at(taker).host,
        FlockScope::Nobody => holder_pid != taker,
    }
}

/// Tries to take `ino`'s kernel lock for handle `id`; checks INV-3 on a same-process conflict.
fn take_lock(st: &mut State, id: u64) -> io::Result<bool> {
    let open = st.handles.get(&id).ok_or_else(|| io::Error::from_raw_os_error(9))?;
    let (ino, pid) = (open.ino, open.pid);
    let inode = st.inodes.get(&ino).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
    match inode.lock {
        None => {
            st.inodes.get_mut(&ino).expect("just seen").lock = Some(id);
            Ok(true)
        }
        Some(holder) if holder == id => Ok(true),
        // A lock this handle cannot see: it "gets" it, and holds nothing.
        Some(holder) if invisible(st, holder, pid) => Ok(true),
        Some(holder) => {
            if st.handles.get(&holder).is_some_and(|h| h.pid == pid) {
                st.stats.self_contention += 1;
                let detail = format!(
                    "process {pid} met its own kernel lock on inode {ino}: in-process contention reached the filesystem instead of waiting in memory"
                );
                st.violation(Invariant::NoSpuriousTimeout, detail);
            }
            Ok(false)
        }
    }
}

fn ino_of(st: &State, id: u64) -> io::Result<u64> {
    st.handles.get(&id).map(|h| h.ino).ok_or_else(|| io::Error::from_raw_os_error(9))
}

impl LockFs for ModelFs {
    type Handle = ModelHandle;

    async fn publish(&self, path: &LockPath, payload: &[u8]) -> FsResult<Published<ModelHandle>> {
        let created = self
            .step_or(FsOp::Publish, path, Some(None), |st| {
                if st.paths.contains_key(path.as_path()) {
                    st.stats.contended += 1;
                    st.log_at(self.pid, path.as_path(), Prim::Publish { created: false });
                    return Ok(None);
                }
                let ino = st.fresh_id();
                let id = self.open_handle(st, ino);
                st.handles.get_mut(&id).expect("just opened").write = true;
                let mtime_ms = st.wall_ms();
                let inode =
                    Inode { special: None, data: payload.to_vec(), mtime_ms, lock: Some(id) };
                st.inodes.insert(ino, inode);
                st.paths.insert(path.as_path().to_owned(), ino);
                st.note_published(self.pid, path.as_path(), ino);
                st.log_publisher(ino, self.pid, path.as_path());
                st.log_at(self.pid, path.as_path(), Prim::Publish { created: true });
                Ok(Some((id, ino)))
            })
            .await?;
        let published = match created {
            Some((id, ino)) => {
                Published::Created { handle: self.handle_at(id, path), id: file_id(ino) }
            }
            None => Published::Exists,
        };
        interleaving::fs(self.pid, FsOp::Publish, path, Ok(published))
    }

    async fn open(&self, path: &LockPath) -> FsResult<Opened<ModelHandle>> {
        let opened = self
            .step_or(FsOp::Open, path, Some(Err(None)), |st| {
                let Some(&ino) = st.paths.get(path.as_path()) else {
                    st.log_at(self.pid, path.as_path(), Prim::Open { found: false });
                    return Ok(Err(None));
                };
                if let Some(kind) = st.inodes[&ino].special {
                    st.log(self.pid, Prim::Foreign);
                    return Ok(Err(Some(kind)));
                }
                let id = self.open_handle(st, ino);
                st.log_at(self.pid, path.as_path(), Prim::Open { found: true });
                Ok(Ok(id))
            })
            .await?;
        let opened = match opened {
            Ok(id) => Opened::File(self.handle_at(id, path)),
            Err(None) => Opened::Missing,
            Err(Some(kind)) => Opened::NotALockFile(kind),
        };
        interleaving::fs(self.pid, FsOp::Open, path, Ok(opened))
    }

    async fn try_lock(&self, handle: &ModelHandle) -> FsResult<bool> {
        let taken = self
            .step(FsOp::TryLock, &handle.path, |st| {
                let got = take_lock(st, handle.id)?;
                st.log_at(self.pid, handle.path.as_path(), Prim::TryLock { got });
                Ok(got)
            })
            .await;
        interleaving::fs_shown(self.pid, FsOp::TryLock, &handle.path, taken, |&got| {
            (if got { "got it" } else { "refused: held" }).to_owned()
        })
    }

    async fn lock_until(&self, handle: &ModelHandle, deadline: Moment) -> FsResult<bool> {
        let path = &handle.path;
        self.step(FsOp::LockUntil, path, |st| {
            st.log_at(self.pid, path.as_path(), Prim::LockWait);
            Ok(())
        })
        .await?;
        let mut reported = false;
        let mut refused = false;
        let on_ticket = is_ticket(path.as_path());
        let taken = poll_fn(|cx| {
            let mut st = self.world.enter();
            let free = st
                .handles
                .get(&handle.id)
                .and_then(|h| st.inodes.get(&h.ino))
                .is_some_and(|i| i.lock.is_none());
            if free || !reported {
                let first = !reported;
                reported = true;
                match take_lock(&mut st, handle.id) {
                    Ok(true) => {
                        if refused && !st.paths.contains_key(path.as_path()) {
                            self.ticket_waits.left.fetch_add(1, Relaxed);
                        }
                        st.log_at(self.pid, path.as_path(), Prim::LockGranted);
                        return Poll::Ready(Ok(true));
                    }
                    Ok(false) if first => {
                        if on_ticket {
                            refused = true;
                            self.ticket_waits.refused.fetch_add(1, Relaxed);
                        }
                        let until = format!("taken; waits until {:?}", deadline.as_duration());
                        drop(interleaving::fs_shown(
                            self.pid,
                            FsOp::LockUntil,
                            path,
                            Ok(()),
                            |()| until,
                        ));
                    }
                    Ok(false) => {}
                    Err(e) => return Poll::Ready(Err(FsError::new(FsOp::LockUntil, path, e))),
                }
            }
            if st.now >= deadline.as_duration() {
                st.log_at(self.pid, path.as_path(), Prim::LockExpired);
                return Poll::Ready(Ok(false));
            }
            // A handle closed under the waiter (its process crashed, killed by a sibling).
            let ino = match ino_of(&st, handle.id) {
                Ok(ino) => ino,
                Err(e) => return Poll::Ready(Err(FsError::new(FsOp::LockUntil, path, e))),
            };
            st.lock_waiters.push((ino, cx.waker().clone()));
            st.timers.push((deadline.as_duration(), cx.waker().clone()));
            Poll::Pending
        })
        .await;
        interleaving::fs_shown(self.pid, FsOp::LockUntil, path, taken, |&got| {
            (if got { "got it" } else { "the deadline passed" }).to_owned()
        })
    }

    fn kernel_proof(&self, _handle: &ModelHandle) -> bool {
        !self.world.state.lock().no_kernel_proof
    }

    async fn meta(&self, handle: &ModelHandle) -> FsResult<FileMeta> {
        let result = self
            .step(FsOp::Meta, &handle.path, |st| {
                let ino = ino_of(st, handle.id)?;
                st.log(self.pid, Prim::Look);
                Ok(FileMeta { id: file_id(ino), mtime_ms: st.inodes[&ino].mtime_ms })
            })
            .await;
        interleaving::fs(self.pid, FsOp::Meta, &handle.path, result)
    }

    async fn path_id(&self, path: &LockPath) -> FsResult<Option<sessionlock::fs::FileId>> {
        let result = self
            .step_or(FsOp::PathId, path, Some(None), |st| {
                st.log_at(self.pid, path.as_path(), Prim::PathId);
                Ok(st
                    .paths
                    .get(path.as_path())
                    .map(|&i| file_id(if st.id_drift { i + DRIFT } else { i })))
            })
            .await;
        interleaving::fs(self.pid, FsOp::PathId, path, result)
    }

    async fn tickets(&self, lock: &LockPath) -> FsResult<Vec<(Ticket, FileId)>> {
        let result = self
            .step(FsOp::Tickets, lock, |st| {
                st.log(self.pid, Prim::Tickets);
                let dir = lock.as_path().parent();
                let mut found: Vec<(Ticket, FileId)> = st
                    .paths
                    .iter()
                    .filter(|(path, ino)| path.parent() == dir && st.inodes[ino].special.is_none())
                    .filter_map(|(path, &ino)| {
                        let ticket = Ticket::parse(lock, path.file_name()?)?;
                        Some((ticket, file_id(if st.id_drift { ino + DRIFT } else { ino })))
                    })
                    .collect();
                found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                st.note_listed(self.pid);
                Ok(found)
            })
            .await;
        interleaving::fs(self.pid, FsOp::Tickets, lock, result)
    }

    async fn read(&self, handle: &ModelHandle, limit: usize) -> FsResult<Vec<u8>> {
        let result = self
            .step(FsOp::Read, &handle.path, |st| {
                let data = st.inodes[&ino_of(st, handle.id)?].data.clone();
                st.log(self.pid, Prim::Look);
                Ok(data[..data.len().min(limit)].to_vec())
            })
            .await;
        interleaving::fs_shown(self.pid, FsOp::Read, &handle.path, result, |d| {
            interleaving::payload(d)
        })
    }

    async fn unlink(&self, path: &LockPath, held: &ModelHandle) -> FsResult<()> {
        let result = self.step(FsOp::Unlink, path, |st| {
            let ino = ino_of(st, held.id)?;
            let named = st.paths.get(path.as_path()).copied();
            let locked = st.inodes[&ino].lock == Some(held.id);
            if !locked || named != Some(ino) {
                let detail = format!(
                    "{path} unlinked by handle {} (kernel lock held: {locked}) while the path named {named:?}, not the judged inode {ino}",
                    held.id
                );
                st.violation(Invariant::NoLiveRemoval, detail);
            } else if let Some(writer) = st.live_writer_besides(ino, self.pid) {
                let detail = format!(
                    "{path} unlinked by process {} while process {writer}, alive, had it open for writing: a live holder's file",
                    self.pid
                );
                st.violation(Invariant::NoLiveRemoval, detail);
            }
            let removed = st.paths.remove(path.as_path());
            if let Some(gone) = removed {
                st.note_unlinked(self.pid, path.as_path(), gone);
            }
            st.log_at(self.pid, path.as_path(), Prim::Unlink);
            removed.map(drop).ok_or_else(|| io::ErrorKind::NotFound.into())
        })
        .await;
        interleaving::fs(self.pid, FsOp::Unlink, path, result)
    }

    // `unlink_if` keeps the trait's default, `path_id` then `unlink`: two steps, each a
    // scheduling point that the refinement recorder sees, so the checkers explore every
    // interleaving around them; an adapter's one-step override is one of those
    // (`spec/protocol.md`, section 3).

    async fn close(&self, handle: ModelHandle) -> FsResult<()> {
        let path = handle.path.clone();
        self.step(FsOp::Close, &path, |_| Ok(())).await?;
        drop(handle);
        interleaving::fs(self.pid, FsOp::Close, &path, Ok(()))
    }

    async fn lease(&self, handle: &ModelHandle) -> FsResult<Lease> {
        let result = self
            .step(FsOp::Lease, &handle.path, |st| {
                let ino = ino_of(st, handle.id)?;
                st.log(self.pid, Prim::Look);
                Ok(if st.no_kernel_proof || st.leases_ignored {
                    Lease::Unavailable
                } else if st.has_writer(ino) {
                    st.stats.lease_writer += 1;
                    Lease::Writer
                } else {
                    st.stats.lease_no_writer += 1;
                    Lease::NoWriter
                })
            })
            .await;
        interleaving::fs(self.pid, FsOp::Lease, &handle.path, result)
    }

    async fn writers_closed_until(&self, handle: &ModelHandle, deadline: Moment) -> FsResult<bool> {
        let path = &handle.path;
        self.step(FsOp::WriterWait, path, |_| Ok(())).await?;
        let closed = poll_fn(|cx| {
            let mut st = self.world.enter();
            let Some(ino) = st.handles.get(&handle.id).map(|h| h.ino) else {
                let e = io::Error::from_raw_os_error(9);
                return Poll::Ready(Err(FsError::new(FsOp::WriterWait, path, e)));
            };
            if !st.has_writer(ino) {
                st.log(self.pid, Prim::Look);
                return Poll::Ready(Ok(true));
            }
            if st.now >= deadline.as_duration() {
                return Poll::Ready(Ok(false));
            }
            st.writer_waiters.push((ino, cx.waker().clone()));
            st.timers.push((deadline.as_duration(), cx.waker().clone()));
            Poll::Pending
        })
        .await;
        interleaving::fs_shown(self.pid, FsOp::WriterWait, path, closed, |&closed| {
            (if closed { "the writers closed" } else { "the deadline passed" }).to_owned()
        })
    }

    fn process(&self) -> ProcessId {
        ProcessId { pid: self.at.local_pid, starttime: Some(self.starttime) }
    }

    fn location(&self) -> &Location {
        &self.location
    }

    /// Looks `pid` up among the processes of this process's own host and pid namespace.
    async fn pid_state(&self, pid: u32) -> PidState {
        let st = self.world.state.lock();
        let seen = st
            .procs
            .values()
            .find(|p| p.alive && p.at.local_pid == pid && p.at.sees_pids_of(&self.at));
        match seen {
            Some(p) => PidState::Alive { starttime: Some(p.starttime) },
            None => PidState::Dead,
        }
    }
}

/// The world's logical clock.
#[derive(Clone)]
pub struct ModelClock {
    world: Arc<World>,
}

impl ModelClock {
    /// The clock of `world`.
    pub fn new(world: &Arc<World>) -> Self {
        Self { world: Arc::clone(world) }
    }
}

impl Clock for ModelClock {
    fn now(&self) -> Moment {
        self.world.now()
    }

    fn wall_ms(&self) -> u64 {
        self.world.state.lock().wall_ms()
    }

    fn sleep_until(&self, at: Moment) -> impl Future<Output = ()> + Send {
        poll_fn(move |cx| {
            let mut st = self.world.state.lock();
            if st.now >= at.as_duration() {
                return Poll::Ready(());
            }
            st.timers.push((at.as_duration(), cx.waker().clone()));
            Poll::Pending
        })
    }
}

/// The core's protocol context over the model's filesystem and clock: what the mutants'
/// versions of the core's steps take.
pub(crate) type ModelCtx<'a> = Ctx<'a, ModelFs, ModelClock>;
