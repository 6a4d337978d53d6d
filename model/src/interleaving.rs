//! The steps of one run, as a numbered interleaving: which task of which process ran which
//! primitive on which file with what result, each clock move and each violation the world
//! recorded. `cargo run --release -p sessionlock-model -- explain NAME` prints it.
//!
//! Recording is per thread and off unless [`record`] turns it on, so a run that nobody
//! explains pays one thread-local read per primitive. The single-threaded [`Stepper`]
//! polls every task on its caller's thread; [`task`] names the task polled.
//!
//! [`Stepper`]: crate::exec::Stepper

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::time::Duration;

use sessionlock::fs::{FileId, FileMeta, FsOp, FsResult, Lease, LockPath, Ticket};

use crate::invariant::Invariant;
use crate::process::Pid;

/// One step of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A task ran a filesystem primitive.
    Fs {
        /// The task (the name [`task`] gave it), if any.
        task: Option<&'static str>,
        /// Its process.
        pid: Pid,
        /// The primitive.
        op: FsOp,
        /// The file it named.
        path: String,
        /// What it returned.
        result: String,
    },
    /// A task parked at a closed gate before a primitive.
    Parked {
        /// The task.
        task: Option<&'static str>,
        /// Its process.
        pid: Pid,
        /// The primitive it is frozen before.
        op: FsOp,
    },
    /// A task's operation returned to its caller.
    Returned {
        /// The task.
        task: &'static str,
        /// What it was doing and what it got.
        what: String,
    },
    /// The driver of the run did something outside any task.
    Driver(String),
    /// Logical time moved.
    Clock {
        /// By how much.
        by: Duration,
        /// The time now, from the start of the run.
        now: Duration,
    },
    /// The world recorded a violation.
    Violation {
        /// The invariant.
        inv: Invariant,
        /// What broke it.
        detail: String,
    },
}

thread_local! {
    static SINK: RefCell<Option<Vec<Step>>> = const { RefCell::new(None) };
    /// Violations recorded inside a primitive, noted after it.
    static PENDING: RefCell<Vec<Step>> = const { RefCell::new(Vec::new()) };
    static CURRENT: RefCell<Option<&'static str>> = const { RefCell::new(None) };
}

/// Runs `f` with recording on; returns its result and the steps it took. A panic inside
/// `f` leaves recording off.
pub fn record<R>(f: impl FnOnce() -> R) -> (R, Vec<Step>) {
    struct Off;
    impl Drop for Off {
        fn drop(&mut self) {
            SINK.with(|s| s.borrow_mut().take());
        }
    }
    SINK.with(|s| *s.borrow_mut() = Some(Vec::new()));
    PENDING.with(|p| p.borrow_mut().clear());
    let off = Off;
    let result = f();
    flush();
    let steps = SINK.with(|s| s.borrow_mut().take()).unwrap_or_default();
    drop(off);
    (result, steps)
}

/// Starts a new run inside a recording: drops the steps recorded so far, so that when a
/// checker runs many schedules, the steps are those of the last one (the failing one).
pub fn begin_run() {
    SINK.with(|s| {
        if let Some(steps) = s.borrow_mut().as_mut() {
            steps.clear();
        }
    });
    PENDING.with(|p| p.borrow_mut().clear());
}

/// Appends the step `make` builds, if recording is on. A violation waits for the step
/// in progress (the primitive that records it) and follows it.
pub(crate) fn note(make: impl FnOnce() -> Step) {
    SINK.with(|s| {
        if let Some(steps) = s.borrow_mut().as_mut() {
            match make() {
                v @ Step::Violation { .. } => PENDING.with(|p| p.borrow_mut().push(v)),
                step => {
                    steps.push(step);
                    steps.extend(PENDING.with(|p| std::mem::take(&mut *p.borrow_mut())));
                }
            }
        }
    });
}

fn flush() {
    SINK.with(|s| {
        if let Some(steps) = s.borrow_mut().as_mut() {
            steps.extend(PENDING.with(|p| std::mem::take(&mut *p.borrow_mut())));
        }
    });
}

/// Notes what the driver of the run did, if recording is on.
pub fn driver(what: impl FnOnce() -> String) {
    note(|| Step::Driver(what()));
}

/// The task being polled now, if it was named.
pub(crate) fn current() -> Option<&'static str> {
    CURRENT.with(|c| *c.borrow())
}

/// A primitive's result in words, as an interleaving shows it.
pub(crate) trait Shown {
    /// The result, e.g. `created inode 3` or `names nothing`.
    fn shown(&self) -> String;
}

impl Shown for FileMeta {
    fn shown(&self) -> String {
        format!("inode {}, modified at {} ms", self.id.ino, self.mtime_ms)
    }
}

impl Shown for Option<FileId> {
    fn shown(&self) -> String {
        match self {
            Some(id) => format!("names inode {}", id.ino),
            None => "names nothing".to_owned(),
        }
    }
}

impl Shown for Vec<(Ticket, FileId)> {
    fn shown(&self) -> String {
        if self.is_empty() {
            return "no tickets".to_owned();
        }
        let tickets: Vec<String> = self
            .iter()
            .map(|(t, id)| format!("{}.{} (inode {})", t.seq(), t.id(), id.ino))
            .collect();
        format!("tickets {}", tickets.join(", "))
    }
}

impl Shown for () {
    fn shown(&self) -> String {
        "done".to_owned()
    }
}

impl Shown for Lease {
    fn shown(&self) -> String {
        match self {
            Lease::NoWriter => "no writer has it open",
            Lease::Writer => "a writer has it open",
            Lease::Unavailable => "no answer (no lease here)",
            _ => "another answer",
        }
        .to_owned()
    }
}

/// Notes a primitive's result and hands it back.
pub(crate) fn fs<T: Shown>(
    pid: Pid,
    op: FsOp,
    path: &LockPath,
    result: FsResult<T>,
) -> FsResult<T> {
    fs_shown(pid, op, path, result, T::shown)
}

/// As [`fs`], with the result shown by `show`.
pub(crate) fn fs_shown<T>(
    pid: Pid,
    op: FsOp,
    path: &LockPath,
    result: FsResult<T>,
    show: impl FnOnce(&T) -> String,
) -> FsResult<T> {
    note(|| Step::Fs {
        task: current(),
        pid,
        op,
        path: path.to_string(),
        result: match &result {
            Ok(v) => show(v),
            Err(e) => format!("error: {}", e.source),
        },
    });
    result
}

/// `future` as task `name`: each of its polls runs with `name` as the current task, and
/// its output is noted as returned, described by `describe`.
pub fn task<F: Future>(
    name: &'static str,
    describe: impl Fn(&F::Output) -> String,
    future: F,
) -> impl Future<Output = F::Output> {
    let mut future = Box::pin(future);
    poll_fn(move |cx| {
        let outer = CURRENT.with(|c| c.borrow_mut().replace(name));
        let polled = future.as_mut().poll(cx);
        CURRENT.with(|c| *c.borrow_mut() = outer);
        if let std::task::Poll::Ready(out) = &polled {
            note(|| Step::Returned { task: name, what: describe(out) });
        }
        polled
    })
}

/// A payload read back, as text. The nonce's last part counts publications across the
/// whole process, so it differs between runs of one test binary: it shows as `*`, which
/// keeps a printed interleaving replayable.
pub(crate) fn payload(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let key = "\"nonce\":\"";
    let redacted = text.find(key).and_then(|at| {
        let start = at + key.len();
        let end = start + text[start..].find('"')?;
        let seq = start + text[start..end].rfind('.')? + 1;
        Some(format!("{}*{}", &text[..seq], &text[end..]))
    });
    format!("{} bytes: {}", data.len(), redacted.unwrap_or_else(|| text.into_owned()))
}

impl Step {
    /// The step as one line, without its number.
    pub fn line(&self) -> String {
        let who = |task: &Option<&'static str>, pid: &Pid| match task {
            Some(t) => format!("{t} (pid {pid})"),
            None => format!("pid {pid}"),
        };
        match self {
            Self::Fs { task, pid, op, path, result } => {
                format!("{}: {op} {path} -> {result}", who(task, pid))
            }
            Self::Parked { task, pid, op } => {
                format!("{}: frozen at a closed gate before {op}", who(task, pid))
            }
            Self::Returned { task, what } => format!("{task}: {what}"),
            Self::Driver(what) => format!("driver: {what}"),
            Self::Clock { by, now } => format!("clock +{by:?} (now {now:?})"),
            Self::Violation { inv, detail } => format!("** {inv} broken: {detail}"),
        }
    }
}

/// Numbers `steps`, one line each, folding a block of lines repeated back to back (a
/// poll loop, the clock moving in small steps) into its first copy and a count. The
/// clock's running time and the numbers of open file descriptions (each poll opens a new
/// one) are left out of the comparison, so such loops fold; inode numbers are not.
pub fn render(steps: &[Step]) -> Vec<String> {
    let key = |s: &Step| match s {
        Step::Clock { by, .. } => format!("clock +{by:?}"),
        other => handles_unnumbered(&other.line()),
    };
    let keys: Vec<String> = steps.iter().map(key).collect();
    let mut out = Vec::new();
    let (mut i, mut n) = (0, 0);
    while i < steps.len() {
        let fold = (1..=8).filter(|&len| i + 2 * len <= steps.len()).find_map(|len| {
            let block = &keys[i..i + len];
            let mut times = 1;
            while i + (times + 1) * len <= steps.len()
                && keys[i + times * len..i + (times + 1) * len] == *block
            {
                times += 1;
            }
            (times > 1).then_some((len, times))
        });
        match fold {
            Some((len, times)) => {
                let first = n + 1;
                for step in &steps[i..i + len] {
                    n += 1;
                    out.push(format!("{n:>3}. {}", step.line()));
                }
                let last = &steps[i + times * len - 1];
                out.push(format!(
                    "     ... steps {first}-{} repeated {} more times, until: {}",
                    first + len - 1,
                    times - 1,
                    last.line()
                ));
                i += times * len;
            }
            None => {
                n += 1;
                out.push(format!("{n:>3}. {}", steps[i].line()));
                i += 1;
            }
        }
    }
    out
}

/// `line` with the number of every `handle N` left out.
fn handles_unnumbered(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("handle ") {
        let (head, tail) = rest.split_at(at + "handle ".len());
        out.push_str(head);
        rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}
