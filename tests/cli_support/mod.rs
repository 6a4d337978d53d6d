//! Helpers shared by the CLI tests: running the binary, reading its output, polling for
//! files a command writes, and signals. Every poll is bounded by a count (a hang guard),
//! never by wall time.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::Duration;

/// The environment variable that would send the CLI to PostgreSQL.
pub const URL_VAR: &str = "SESSIONLOCK_POSTGRES";

/// The holder's command: note its pid in `started`, then wait while `hold` exists (at
/// most 3000 naps, a hang guard should the test die without cleaning up).
pub const HOLD: &str = "echo $$ > started; i=0; \
    while [ -e hold ] && [ $i -lt 3000 ]; do sleep 0.02; i=$((i+1)); done";

/// The shell snippet that waits (a bounded number of naps) until the file `go` exists.
pub const UNTIL_GO: &str =
    "i=0; while [ ! -e go ] && [ $i -lt 3000 ]; do sleep 0.02; i=$((i+1)); done";

/// The CLI, run in `dir`, with no stdin and no store chosen by the environment.
pub fn bin(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sessionlock"));
    cmd.current_dir(dir).stdin(Stdio::null()).env_remove(URL_VAR);
    cmd
}

/// Runs the CLI to its end; fails the test if it panicked.
pub fn sessionlock(dir: &Path, args: &[&str]) -> Output {
    let out = bin(dir).args(args).output().unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh directory, canonical (lock paths are reported canonical).
pub fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().canonicalize().unwrap();
    (tmp, dir)
}

/// Polls for `path` (up to 3000 naps: a hang guard only).
pub fn wait_for(path: &Path) {
    for _ in 0..3000 {
        if path.exists() {
            return;
        }
        sleep(Duration::from_millis(10));
    }
    panic!("{} never appeared", path.display());
}

/// Polls until `path` holds a complete line (up to 3000 naps: a hang guard only), and
/// returns it.
pub fn read_line_of(path: &Path) -> String {
    for _ in 0..3000 {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text.trim().to_owned();
        }
        sleep(Duration::from_millis(10));
    }
    panic!("{} never got a line", path.display());
}

/// Whether `pid` runs (a zombie does not).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

pub fn send(signal: &str, pid: u32) {
    let status = Command::new("kill").args(["-s", signal, &pid.to_string()]).status().unwrap();
    assert!(status.success(), "kill -s {signal} {pid}");
}

/// A `sessionlock run s.jsonl -- sh -c HOLD` in `dir`, holding until dropped.
pub struct Holder {
    pub run: Child,
    pub dir: PathBuf,
    /// The pid of the command run under the lock.
    pub cmd_pid: u32,
}

impl Holder {
    pub fn start(dir: &Path) -> Self {
        std::fs::write(dir.join("hold"), "").unwrap();
        let run = bin(dir).args(["run", "s.jsonl", "--", "sh", "-c", HOLD]).spawn().unwrap();
        let cmd_pid = read_line_of(&dir.join("started")).parse().unwrap();
        Self { run, dir: dir.to_owned(), cmd_pid }
    }

    /// Lets the command finish; returns `sessionlock run`'s exit code.
    pub fn finish(mut self) -> Option<i32> {
        let _ = std::fs::remove_file(self.dir.join("hold"));
        self.run.wait().unwrap().code()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.dir.join("hold"));
        let _ = self.run.kill();
        let _ = self.run.wait();
    }
}
