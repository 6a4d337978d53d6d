//! The original TypeScript lock's rules, re-implemented in Rust (spec/protocol.md,
//! section 7): `open(path, "wx")`; on EEXIST read `{pid, createdAt, starttime}`; stale if
//! `kill(pid, 0)` says the pid is gone (a zombie answers alive), its start time differs
//! (recycled), or `createdAt` is 30 minutes old; then `unlink(path)` *by path* and retry
//! at once; else back off `min(1000, 50 × attempt)` ms, up to a 10 s timeout. While it
//! holds, it keeps its file open for writing; its release closes, then unlinks by path.
#![allow(clippy::disallowed_methods)] // the original ages files and times out by real clocks

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// The original's stale age.
pub const STALE_AGE: Duration = Duration::from_secs(30 * 60);
/// The original's acquire timeout.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Field 22 (`starttime`) of `/proc/<pid>/stat`, if the process is there.
pub fn starttime(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = stat.get(stat.rfind(')')? + 2..)?;
    after_comm.split(' ').nth(19)?.parse().ok()
}

/// `kill(pid, 0)`: `false` only for ESRCH (no such process); a zombie is alive.
pub fn pid_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else {
        return false;
    };
    !matches!(rustix::process::test_kill_process(pid), Err(rustix::io::Errno::SRCH))
}

/// The original's verdict on a payload it read: `true` when the holder is stale.
/// A payload it cannot read as `{pid > 0, ...}` is treated as held (it backs off).
pub fn is_stale(text: &str) -> bool {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else { return false };
    let Some(pid) = json["pid"].as_u64().filter(|p| *p > 0).and_then(|p| u32::try_from(p).ok())
    else {
        return false;
    };
    if !pid_alive(pid) {
        return true;
    }
    let recycled = match (json["starttime"].as_u64(), starttime(pid)) {
        (Some(recorded), Some(now)) => recorded != now,
        _ => false,
    };
    let created = json["createdAt"].as_str().and_then(|c| humantime::parse_rfc3339(c).ok());
    let old = created
        .is_some_and(|at| SystemTime::now().duration_since(at).unwrap_or_default() >= STALE_AGE);
    recycled || old
}

/// A lock of the original's, held: its file, open for writing.
pub struct OriginalLock {
    path: PathBuf,
    file: File,
}

/// How one original contender behaves, and what its acquires did.
#[derive(Debug, Default)]
pub struct Attempts {
    /// Time between reading a lock file and judging it: the original's event loop
    /// resuming after its asynchronous read (zero: as fast as this code runs).
    pub pause: Duration,
    /// Lock files it judged stale, then unlinked by path (if anything was still there).
    pub removed: u32,
}

/// The original's acquire loop on `lock_path`.
///
/// # Errors
/// The 10 s timeout (`ErrorKind::TimedOut`), or an I/O error.
pub fn acquire(lock_path: &Path, attempts: &mut Attempts) -> std::io::Result<OriginalLock> {
    let started = Instant::now();
    let mut attempt: u64 = 0;
    loop {
        attempt += 1;
        match OpenOptions::new().write(true).create_new(true).open(lock_path) {
            Ok(mut file) => {
                let pid = std::process::id();
                let created = humantime::format_rfc3339_millis(SystemTime::now());
                let start = starttime(pid).unwrap_or(0);
                let payload =
                    format!(r#"{{"pid":{pid},"createdAt":"{created}","starttime":{start}}}"#);
                file.write_all(payload.as_bytes())?;
                return Ok(OriginalLock { path: lock_path.to_owned(), file });
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let text = match std::fs::read_to_string(lock_path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if !attempts.pause.is_zero() {
            std::thread::sleep(attempts.pause);
        }
        if is_stale(&text) {
            attempts.removed += 1;
            match std::fs::remove_file(lock_path) {
                Ok(()) => continue,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        if started.elapsed() >= TIMEOUT {
            return Err(ErrorKind::TimedOut.into());
        }
        std::thread::sleep(Duration::from_millis((50 * attempt).min(1000)));
    }
}

impl OriginalLock {
    /// The original's release: close, then unlink by path.
    ///
    /// # Errors
    /// The unlink failed for another reason than the file being gone.
    pub fn release(self) -> std::io::Result<()> {
        drop(self.file);
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}
