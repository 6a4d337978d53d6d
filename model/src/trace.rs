//! A recorded trace: every step the core takes in the world, with the world's
//! abstraction after it, and where a world's steps go. The world logs them (ghost state,
//! under its one mutex); the drivers' side of recording and the registry transitions are
//! in [`crate::refine::record`], the replay in the spec in [`crate::refine`].

use std::collections::BTreeMap;

use crate::process::Pid;

/// What a recorded step did, with its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prim {
    /// `publish`: `created` is false when the path was taken.
    Publish {
        /// A new file was linked at the path.
        created: bool,
    },
    /// `open`: `found` is false when nothing was at the path.
    Open {
        /// A lock file was opened.
        found: bool,
    },
    /// `try_lock`: `got` is true when the kernel lock was granted.
    TryLock {
        /// Granted.
        got: bool,
    },
    /// `lock_until` begins waiting.
    LockWait,
    /// `lock_until` ends with the kernel lock held.
    LockGranted,
    /// `lock_until` ends at its deadline.
    LockExpired,
    /// `path_id` (`lstat` of the lock path).
    PathId,
    /// `tickets`: a listing of the lock's queue.
    Tickets,
    /// A primitive that only looks (`meta`, `read`, `lease`, waiting for writers).
    Look,
    /// `unlink` of the lock path.
    Unlink,
    /// A handle closed (by `close`, or dropped by a cancelled or finished acquire).
    Close,
    /// The process died (crash) or ended (exit): its handles closed at once.
    Crash,
    /// A process started: `reused` when its pid had died before (a new incarnation).
    Spawn {
        /// A new incarnation of a dead pid.
        reused: bool,
    },
    /// A primitive that failed with an injected I/O error, without effect.
    Failed,
    /// Something outside the protocol: a foreign or special file at the path, a file
    /// removed by an operator, a race fault's made-up answer. Traces with such a step
    /// are not replayed.
    Foreign,
    /// A registry transition the core reported through its observe hook
    /// ([`Recording`](crate::refine::record::Recording)),
    /// or the start or end of an acquire, recorded by the driver.
    Registry(Registry),
}

/// A registry transition, from the core's [`Event`](sessionlock::core::Event)s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registry {
    /// A task queued in memory (`Queued`); `behind_releasing` when the entry was releasing.
    Queued {
        /// The entry was releasing.
        behind_releasing: bool,
    },
    /// A task was granted the lock after publishing (`Acquired`).
    Acquired,
    /// The holder's owner re-entered (`Reentered`).
    Reentered,
    /// The last guard removed its file and closed it (`Released`).
    Released,
    /// The last guard handed its hold, file and all, to the first waiter of its process in
    /// memory (`HandedOff`): nothing on the filesystem changed.
    HandedOff,
    /// An acquire (or `try_acquire`) began. Recorded by the driver when it starts the
    /// acquire, before its first poll.
    Begun,
    /// An acquire ended without the lock: timed out, withdrawn, refused (a `try_acquire`
    /// that found the lock held) or failed with an error. Recorded by the driver when the
    /// acquire returns, in the poll that ended it; where a trace has registry events, only
    /// here may a task without a handle abandon in the replay.
    Ended,
}

/// One inode, as the abstraction sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InodeView {
    /// The process incarnation that published it, `None` for a file the protocol did
    /// not publish.
    pub publisher: Option<(Pid, u32)>,
    /// The process whose handle holds its kernel lock.
    pub flock: Option<Pid>,
}

/// The abstraction of the world after a step (see [`crate::refine`] for the state table).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    /// The inode the lock path names.
    pub named: Option<InodeView>,
    /// The inodes the path does not name that some open handle refers to, sorted; a
    /// ticket's inode never (named or not, a ticket is in `tickets` or gone).
    pub unnamed: Vec<InodeView>,
    /// The named tickets of the queue (`<lock>.q.<seq>.<id>`), in queue order, each as its
    /// inode: its publisher (the waiter) and its kernel lock as far as that waiter holds
    /// it (a successor holds it only inside one step of the spec). Tickets of equal `seq`
    /// are sorted by their inode's view, not by their id. Empty without the queue.
    pub tickets: Vec<InodeView>,
    /// Each started process: alive, and its incarnation.
    pub procs: BTreeMap<Pid, (bool, u32)>,
}

/// One recorded step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The process that took it.
    pub pid: Pid,
    /// The driver's task it came from, where the driver names it: registry transitions
    /// and starts and ends of acquires (its task index); `None` for primitives, and for an
    /// event reported outside any named task.
    pub task: Option<u8>,
    /// What it did.
    pub prim: Prim,
    /// The primitive acted on a ticket of the queue (at a ticket's path, or on a handle
    /// opened at one), not on the lock path.
    pub ticket: bool,
    /// The world's abstraction right after it.
    pub after: View,
}

/// Where a world's steps go: a std mutex, invisible to loom and shuttle (ghost state,
/// like the world's other bookkeeping), so that a trace outlives its world and the
/// checker that ran it.
pub type Sink = std::sync::Arc<std::sync::Mutex<Vec<Step>>>; // purity: ghost state

/// The recorder's state inside the world.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub sink: Sink,
    /// Who published each inode (the payload says so too, but the recorder need not
    /// parse it).
    pub publisher: BTreeMap<u64, (Pid, u32)>,
    /// The inodes published at a ticket's path.
    pub tickets: std::collections::BTreeSet<u64>,
}

std::thread_local! {
    /// The sinks of the worlds created on this thread while [`collect`] runs.
    static COLLECTING: std::cell::RefCell<Option<Vec<Sink>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f`, recording every world it creates on this thread (directly, or inside a
/// shuttle execution, which runs on the caller's thread); returns `f`'s result and the
/// worlds' traces, in order of creation. This is how a driver that builds its own worlds
/// (a script, a gate, a crash-point run) is recorded without changing it.
///
/// If `f` panics, the thread's collecting is restored all the same (the traces so far are
/// dropped): otherwise every later world of the thread would record into a sink that
/// nobody reads.
pub fn collect<T>(f: impl FnOnce() -> T) -> (T, Vec<Vec<Step>>) {
    /// Puts the enclosing collect's sinks (or none) back, even on unwind.
    struct Restore(Option<Option<Vec<Sink>>>);
    impl Restore {
        fn finish(mut self) -> Option<Vec<Sink>> {
            let outer = self.0.take().unwrap_or_default();
            COLLECTING.with(|c| std::mem::replace(&mut *c.borrow_mut(), outer))
        }
    }
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(outer) = self.0.take() {
                COLLECTING.with(|c| *c.borrow_mut() = outer);
            }
        }
    }
    let restore = Restore(Some(COLLECTING.with(|c| c.borrow_mut().replace(Vec::new()))));
    let result = f();
    let sinks = restore.finish();
    let traces = sinks
        .unwrap_or_default()
        .into_iter()
        .map(|s| std::mem::take(&mut *s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)))
        .collect();
    (result, traces)
}

/// A recorder for a new world, if [`collect`] is running on this thread.
pub(crate) fn collecting() -> Option<Recorder> {
    COLLECTING.with(|c| {
        let mut c = c.borrow_mut();
        let sinks = c.as_mut()?;
        let recorder = Recorder::default();
        sinks.push(std::sync::Arc::clone(&recorder.sink));
        Some(recorder)
    })
}
