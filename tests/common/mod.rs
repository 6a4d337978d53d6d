//! Helpers shared by the real-filesystem tests: an event recorder, session paths, helper
//! processes, and hand-written lock files.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use sessionlock::{Builder, LockPath, SessionLock};
use sessionlock::{Event, Observer, Reason};

/// What the core did, as recorded by a [`Recorder`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Queued,
    Reentered,
    Contended,
    KernelWait,
    BrokeStale(Vec<Reason>),
    Acquired,
    TimedOut,
    Released,
    Compromised,
    CloseFailed,
    HandedOff,
}

/// Records every event of one lock, and lets a test wait for one.
#[derive(Default)]
pub struct Recorder {
    seen: Mutex<Vec<Seen>>,
    changed: Condvar,
}

impl Observer for Recorder {
    fn event(&self, event: &Event<'_>) {
        let seen = match event {
            Event::Queued { .. } => Seen::Queued,
            Event::Reentered { .. } => Seen::Reentered,
            Event::Contended { .. } => Seen::Contended,
            Event::KernelWait { .. } => Seen::KernelWait,
            Event::BrokeStale { reasons, .. } => Seen::BrokeStale(reasons.to_vec()),
            Event::Acquired { .. } => Seen::Acquired,
            Event::TimedOut { .. } => Seen::TimedOut,
            Event::Released { .. } => Seen::Released,
            Event::Compromised { .. } => Seen::Compromised,
            Event::CloseFailed { .. } => Seen::CloseFailed,
            Event::HandedOff { .. } => Seen::HandedOff,
            _ => return, // an event this recorder does not know
        };
        self.seen.lock().unwrap().push(seen);
        self.changed.notify_all();
    }
}

impl Recorder {
    /// Everything seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many events equal `what`.
    pub fn count(&self, what: &Seen) -> usize {
        self.seen.lock().unwrap().iter().filter(|s| *s == what).count()
    }

    /// The reasons of every stale lock broken.
    pub fn broken(&self) -> Vec<Vec<Reason>> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter_map(|s| match s {
                Seen::BrokeStale(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    /// Waits (up to 30 s, a hang guard only) until `what` has been seen.
    pub fn wait_for(&self, what: &Seen) {
        let seen = self.seen.lock().unwrap();
        let (_seen, timeout) = self
            .changed
            .wait_timeout_while(seen, Duration::from_secs(30), |s| !s.contains(what))
            .unwrap();
        assert!(!timeout.timed_out(), "never saw {what:?}");
    }
}

/// A lock with a recorder, and a short timeout unless given.
pub fn recorded(builder: Builder) -> (SessionLock, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    (builder.observer(recorder.clone()).build(), recorder)
}

/// A fresh directory and a session file path in it.
pub fn session() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.jsonl");
    (dir, path)
}

/// The lock file of `session`.
pub fn lock_file(session: &Path) -> PathBuf {
    sessionlock::SessionFs::lock_path_for(&sessionlock::RealFs, session)
        .unwrap()
        .as_path()
        .to_owned()
}

/// The canonical lock path of `session`.
pub fn lock_path(session: &Path) -> LockPath {
    sessionlock::SessionFs::lock_path_for(&sessionlock::RealFs, session).unwrap()
}

/// Writes a lock file by hand, as the original TypeScript lock does.
pub fn write_foreign(session: &Path, pid: u32, created_at: &str) {
    let text = format!(r#"{{"pid":{pid},"createdAt":"{created_at}"}}"#);
    std::fs::write(lock_file(session), text).unwrap();
}

/// Now, in the original lock's `createdAt` format.
pub fn now_iso() -> String {
    iso(wall_ms())
}

/// `ms` since the epoch in the original lock's `createdAt` format
/// (`2026-02-13T10:00:00.000Z`, JavaScript's `toISOString`).
pub fn iso(ms: u64) -> String {
    let at = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(at).to_string()
}

/// The wall clock, in milliseconds since the epoch, read the way the lock reads it.
pub fn wall_ms() -> u64 {
    use sessionlock::Clock;
    sessionlock::RealClock.wall_ms()
}

/// A pid that was just used and is now dead (reaped).
pub fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// Sets a file's mtime `age` into the past.
pub fn age_file(path: &Path, age: Duration) {
    let then = std::time::UNIX_EPOCH + Duration::from_millis(wall_ms()) - age;
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(then).unwrap();
}

/// The name the hidden helper test is run by.
pub const HELPER: &str = "helper_process";

/// Starts this test binary again as a helper process running `role` on `session`.
pub fn spawn_helper(role: &str, session: &Path, extra: &[(&str, String)]) -> Helper {
    let mut cmd = helper_command(&std::env::current_exe().unwrap(), role, session);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    Helper::spawn(cmd)
}

/// The command that runs the test binary `exe` as a helper process running `role` on
/// `session` (see [`spawn_helper`]).
pub fn helper_command(exe: &Path, role: &str, session: &Path) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(["--ignored", "--exact", HELPER, "--nocapture", "--test-threads=1"])
        .env("SESSIONLOCK_TEST_ROLE", role)
        .env("SESSIONLOCK_TEST_SESSION", session)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

/// A helper process and its output.
pub struct Helper {
    pub child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Helper {
    /// Starts `cmd`, whose stdout must be piped.
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self { child, stdout }
    }

    /// Waits for a line holding `@@<tag>` (printed by [`report`]); returns what follows.
    /// (The test harness may print on the same line before it.)
    pub fn expect(&mut self, tag: &str) -> String {
        let marker = format!("@@{tag}");
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "helper exited before reporting {tag:?}");
            if let Some((_, rest)) = line.trim_end().split_once(&marker) {
                return rest.trim().to_owned();
            }
        }
    }

    /// SIGKILLs the helper and reaps it.
    pub fn kill(self) {
        drop(self);
    }
}

impl Drop for Helper {
    /// Never leaves a helper behind, even when a test fails.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reports `tag` and `value` to the parent test, on a line of its own.
/// In a helper process: takes the lock of `s`, reports `held <pid>`, and holds it until
/// the process is killed.
pub fn hold(s: &Path) -> ! {
    let guard = SessionLock::new().acquire_blocking(s, sessionlock::Owner::new()).unwrap();
    report("held", std::process::id());
    let _keep = guard;
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

pub fn report(tag: &str, value: impl std::fmt::Display) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n@@{tag} {value}").unwrap();
    out.flush().unwrap();
}

/// The role this process plays when started by [`spawn_helper`], if any.
pub fn helper_role() -> Option<(String, PathBuf)> {
    let role = std::env::var("SESSIONLOCK_TEST_ROLE").ok()?;
    let session = std::env::var_os("SESSIONLOCK_TEST_SESSION")?;
    Some((role, PathBuf::from(session)))
}

/// Descriptors of this process that refer to `file` (open, even if since unlinked).
pub fn fds_on(file: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    entries
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| {
            let t = target.to_string_lossy();
            t == file.to_string_lossy() || t == format!("{} (deleted)", file.display())
        })
        .count()
}
