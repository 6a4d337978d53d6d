//! The original TypeScript lock as a process of the model world: a contender outside the
//! protocol, which checks a lock file's payload and then removes it *by path*.
//!
//! It is not a participant: it takes no kernel lock, binds no removal to an inode, and
//! runs no core code. Its rules (spec/protocol.md, section 7):
//!
//! | step | what it does | in the world |
//! |---|---|---|
//! | create | `open(path, "wx")`, then write `{pid, createdAt, starttime}`; the file stays open for writing while it holds | [`Original::acquire`]: a new inode with no kernel lock, then its payload, in two steps |
//! | read | on EEXIST, read the payload | one step; a file gone by then means "retry at once" |
//! | pause | anything between the read and the liveness check: scheduling, GC, a busy event loop | [`Original::pause`] of logical time, the *read-to-unlink window* |
//! | judge | stale if the pid is dead (`kill(pid, 0)` fails; a zombie counts alive), its start time differs (recycled), or `createdAt` is 30 min old | the world's process table, now |
//! | remove | stale: `unlink(path)`, then retry at once | by path: whatever the path names *now* goes |
//! | back off | alive: sleep `min(1000, 50 × attempt)` ms; give up after 10 s | [`ModelClock`] sleeps |
//! | release | close, then `unlink(path)` | by path |
//!
//! The whole pause sits between the read and the check, the worst place for us: a check
//! made earlier sees the old holder alive more often, never less.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sessionlock::fs::Clock;
use sessionlock::payload::{Payload, format_iso_ms};
use std::sync::Arc;

use crate::fs::ModelClock;
use crate::world::{Inode, Open, Pid, World};

/// The original's stale age: a `createdAt` this old means dead, whatever the pid says.
pub const STALE_AGE: Duration = Duration::from_secs(30 * 60);
/// The original's acquire timeout.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// What one judgement of the original saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Judged {
    /// The pid the payload named.
    pub pid: Pid,
    /// The inode the payload was read from.
    pub read_from: u64,
    /// Whether the path no longer named that inode when it judged: the holder it read
    /// had let go, and the judgement was about a file already gone.
    pub outdated: bool,
    /// Whether it judged the holder stale.
    pub stale: bool,
}

/// What the original did to other processes' files, for the scenario's oracle.
#[derive(Clone, Debug, Default)]
pub struct Trail {
    /// Every judgement, in order.
    pub judged: Vec<Judged>,
    /// Inodes it unlinked by path that were not the inode it had read: the stale read
    /// removed someone else's file.
    pub removed_other: Vec<u64>,
    /// Inodes it unlinked whose kernel lock a live process held: a live holder's file.
    pub removed_live: Vec<u64>,
}

/// A held lock of the original: its open file.
#[derive(Debug)]
pub struct OriginalHold {
    handle: u64,
}

/// The original lock's contender, as process `pid` of a world.
pub struct Original {
    world: Arc<World>,
    clock: ModelClock,
    pid: Pid,
    path: PathBuf,
    pause: Duration,
    trail: std::sync::Mutex<Trail>,
}

impl Original {
    /// Starts process `pid` in `world`, contending for `path`, pausing `pause` between
    /// each read of a lock file and its judgement.
    pub fn spawn(world: &Arc<World>, pid: Pid, path: &Path, pause: Duration) -> Self {
        world.spawn_process(pid);
        let clock = ModelClock::new(world);
        let trail = std::sync::Mutex::default();
        Self { world: Arc::clone(world), clock, pid, path: path.to_owned(), pause, trail }
    }

    /// This process's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The read-to-unlink window.
    pub fn pause(&self) -> Duration {
        self.pause
    }

    /// What it judged and removed so far.
    pub fn trail(&self) -> Trail {
        self.trail.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The original's acquire loop. `Err` is its timeout.
    ///
    /// # Errors
    /// `TIMEOUT` passed with the lock held by someone it judged alive.
    pub async fn acquire(&self) -> Result<OriginalHold, Duration> {
        let started = self.clock.now();
        let mut attempt: u64 = 0;
        loop {
            attempt += 1;
            if let Some(handle) = self.create_exclusive() {
                self.write_payload(handle);
                return Ok(OriginalHold { handle });
            }
            let Some((ino, data)) = self.read_path() else { continue };
            let payload = Payload::parse(&data);
            self.clock.sleep_until(self.clock.now().saturating_add(self.pause)).await;
            let stale = payload.as_ref().is_some_and(|p| self.is_stale(p));
            let outdated = self.read_path().is_none_or(|(now, _)| now != ino);
            if let Some(pid) = payload.and_then(|p| p.pid) {
                let judged = Judged { pid, read_from: ino, outdated, stale };
                self.trail.lock().unwrap_or_else(|e| e.into_inner()).judged.push(judged);
            }
            if stale {
                self.unlink_path(Some(ino));
                continue;
            }
            let waited = self.clock.now().saturating_since(started);
            if waited >= TIMEOUT {
                return Err(waited);
            }
            let backoff = Duration::from_millis((50 * attempt).min(1000));
            self.clock.sleep_until(self.clock.now().saturating_add(backoff)).await;
        }
    }

    /// Releases as the original does: close, then unlink by path.
    pub fn release(&self, hold: OriginalHold) {
        let wakers = self.world.state.lock().close(hold.handle);
        wakers.into_iter().for_each(std::task::Waker::wake);
        self.unlink_path(None);
    }

    /// `open(path, "wx")`: a new, empty inode with no kernel lock, or `None` on EEXIST.
    fn create_exclusive(&self) -> Option<u64> {
        let mut st = self.world.state.lock();
        if st.paths.contains_key(&self.path) {
            return None;
        }
        let ino = st.fresh_id();
        let id = st.fresh_id();
        let mtime_ms = st.wall_ms();
        st.inodes.insert(ino, Inode { special: None, data: Vec::new(), mtime_ms, lock: None });
        st.handles.insert(id, Open { ino, pid: self.pid, write: true });
        st.paths.insert(self.path.clone(), ino);
        Some(id)
    }

    /// Writes `{pid, createdAt, starttime}` through the open handle.
    fn write_payload(&self, handle: u64) {
        let mut st = self.world.state.lock();
        let starttime = st.procs.get(&self.pid).map_or(0, |p| p.starttime);
        let created = format_iso_ms(st.wall_ms());
        let text =
            format!(r#"{{"pid":{},"createdAt":"{created}","starttime":{starttime}}}"#, self.pid);
        let ino = st.handles[&handle].ino;
        if let Some(inode) = st.inodes.get_mut(&ino) {
            inode.data = text.into_bytes();
        }
    }

    /// `readFile(path)`: the inode the path names and its content, if any.
    fn read_path(&self) -> Option<(u64, Vec<u8>)> {
        let st = self.world.state.lock();
        let ino = *st.paths.get(&self.path)?;
        Some((ino, st.inodes[&ino].data.clone()))
    }

    /// Stale by the original's rules, judged now.
    fn is_stale(&self, payload: &Payload) -> bool {
        let st = self.world.state.lock();
        let Some(pid) = payload.pid else { return false };
        let alive = st.procs.get(&pid).filter(|p| p.alive);
        let recycled = alive.is_some_and(|p| payload.starttime.is_some_and(|s| s != p.starttime));
        let old = payload
            .created_at_ms
            .is_some_and(|at| st.wall_ms().saturating_sub(at) >= STALE_AGE.as_millis() as u64);
        alive.is_none() || recycled || old
    }

    /// `unlink(path)`: removes whatever the path names now. Records a removal of another
    /// inode than `judged` (the one it read), and of a file a live process holds locked.
    fn unlink_path(&self, judged: Option<u64>) {
        let mut st = self.world.state.lock();
        let Some(ino) = st.paths.remove(&self.path) else { return };
        let locker = st.inodes.get(&ino).and_then(|i| i.lock).and_then(|h| st.handles.get(&h));
        let live = locker.is_some_and(|h| st.procs.get(&h.pid).is_some_and(|p| p.alive));
        let mut trail = self.trail.lock().unwrap_or_else(|e| e.into_inner());
        if judged.is_some_and(|j| j != ino) {
            trail.removed_other.push(ino);
        }
        if live {
            trail.removed_live.push(ino);
        }
    }
}
