//! Helpers for `tests/bad_input.rs`: the lock files the rows start from, plus directory
//! snapshots, a fault-injecting filesystem, a thread without `flock`, an unprivileged
//! helper process, a helper out of descriptors, and the checks the rows share.

pub mod checks;
pub mod descriptors;
pub mod faulty;
pub mod noflock;
pub mod snapshot;
pub mod unprivileged;

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use sessionlock::{Builder, RealClock};

use crate::common::{dead_pid, lock_file, now_iso, session};

/// Options with a short timeout: no row waits for anyone.
pub fn short() -> Builder {
    Builder::new().timeout(Duration::from_millis(300))
}

/// A fresh session whose lock file holds `bytes`, written by hand.
pub fn with_lock_file(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let (dir, s) = session();
    std::fs::write(lock_file(&s), bytes).unwrap();
    (dir, s)
}

/// A live process that is not ours, killed and reaped when dropped.
pub struct LiveProcess(Child);

impl LiveProcess {
    /// Starts `sleep 60`.
    pub fn start() -> Self {
        Self(Command::new("sleep").arg("60").spawn().unwrap())
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for LiveProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Now, as the lock reads the wall clock, shifted by `ms` (into the future if positive),
/// in the original's `createdAt` format.
pub fn iso_from_now(ms: i64) -> String {
    use sessionlock::Clock;
    crate::common::iso(RealClock.wall_ms().saturating_add_signed(ms))
}

/// A lock file naming a dead pid: stale-looking, so only an error can stop its removal.
pub fn dead_pids_file() -> (tempfile::TempDir, PathBuf) {
    let text = format!(r#"{{"pid":{},"createdAt":"{}"}}"#, dead_pid(), now_iso());
    with_lock_file(text.as_bytes())
}

/// A valid JSON object of `len` bytes naming `pid`.
pub fn padded(pid: u32, len: usize) -> Vec<u8> {
    let mut text = format!(r#"{{"pid":{pid},"createdAt":"{}","pad":""#, now_iso()).into_bytes();
    text.resize(len - 2, b'x');
    text.extend_from_slice(b"\"}");
    text
}

/// A foreign file with `pid` as the raw JSON given, and a fresh `createdAt`.
pub fn with_pid(pid: &str) -> Vec<u8> {
    format!(r#"{{"pid":{pid},"createdAt":"{}"}}"#, now_iso()).into_bytes()
}

/// A foreign file naming `pid` with `createdAt: created` and `extra` fields.
pub fn foreign(pid: u32, created: &str, extra: &str) -> Vec<u8> {
    format!(r#"{{"pid":{pid},"createdAt":"{created}"{extra}}}"#).into_bytes()
}
