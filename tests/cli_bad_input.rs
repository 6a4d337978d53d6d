//! The `sessionlock` command line on input it cannot fully use: a lock file it may not
//! read (run as `nobody`, since the tests run as root), a directory that does not exist,
//! and a process out of descriptors. Each must be reported as such, with a non-zero
//! exit code, never summarised as "no lock" or "kept 0", and never a panic.
#![cfg(not(sessionlock_loom))]

mod common;
#[allow(dead_code)]
#[path = "bad_input/unprivileged.rs"]
mod unprivileged;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use unprivileged::{NOBODY, chmod, reachable};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sessionlock")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `sessionlock args` in `dir`; never a panic.
fn sessionlock(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(bin()).args(args).current_dir(dir).output().unwrap();
    assert!(!text(&out.stderr).contains("panicked"), "{args:?}: {}", text(&out.stderr));
    out
}

/// Runs `sessionlock args` as `nobody` in `dir`, from a copy `nobody` can execute.
fn sessionlock_as_nobody(dir: &Path, args: &[&str]) -> Output {
    let exe = reachable(Path::new(bin()));
    let out = Command::new(exe.path())
        .args(args)
        .current_dir(dir)
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .unwrap();
    assert!(!text(&out.stderr).contains("panicked"), "{args:?}: {}", text(&out.stderr));
    out
}

/// A fresh directory, canonical (lock paths are reported canonical).
fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().canonicalize().unwrap();
    (tmp, dir)
}

/// A lock file that `nobody` may not read, in a directory it may write: root's, mode
/// 0600, naming a dead pid (stale-looking, so only the error keeps it).
fn unreadable_lock(dir: &Path) -> PathBuf {
    chmod(dir, 0o777);
    let lock = dir.join("a.jsonl.lock");
    std::fs::write(&lock, br#"{"pid":4194304,"createdAt":"2020-01-01T00:00:00.000Z"}"#).unwrap();
    chmod(&lock, 0o600);
    lock
}

/// `inspect` of a directory holding a lock file it may not read reports that file, with
/// the error, and exits 1: in the table (a row `error`, never "no lock files") and in
/// JSON (`found: "error"`, `held: null`, `error`). Naming the file gives the same row.
/// It was: "no lock files" (and `[]`), the error on stderr only. The file is untouched.
/// Checks: INV-2
#[test]
fn inspect_reports_a_lock_file_it_cannot_read() {
    let (_tmp, dir) = tempdir();
    let lock = unreadable_lock(&dir);
    let path = lock.display().to_string();
    for args in [&["inspect", "."][..], &["inspect", "a.jsonl.lock"]] {
        let out = sessionlock_as_nobody(&dir, args);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stdout}{stderr}");
        assert!(!stdout.contains("no lock"), "{args:?}: {stdout}");
        let row = stdout.lines().find(|l| l.ends_with(&path)).unwrap_or_else(|| panic!("{stdout}"));
        assert!(row.starts_with("error ") && row.contains("Permission denied"), "{row}");
        assert!(stderr.contains(&path) && stderr.contains("may not read"), "{stderr}");
    }
    let out = sessionlock_as_nobody(&dir, &["inspect", "--json", "."]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((&rows[0]["path"], &rows[0]["found"]), (&path.clone().into(), &"error".into()));
    assert_eq!(rows[0]["held"], Value::Null, "unknown, not free");
    assert!(rows[0]["error"].as_str().unwrap().contains("Permission denied"), "{rows:?}");
    assert!(lock.exists());
}

/// `clean` (and `clean --dry-run`) of a directory holding a lock file it may not read
/// says it failed to examine it, on a line of its own and in the summary, and exits 1.
/// It was: "removed 0 stale lock(s), kept 0 live". The file is untouched.
/// Checks: INV-2
#[test]
fn clean_reports_a_lock_file_it_cannot_read() {
    let (_tmp, dir) = tempdir();
    let lock = unreadable_lock(&dir);
    for args in [&["clean", "."][..], &["clean", "--dry-run", "."]] {
        let out = sessionlock_as_nobody(&dir, args);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stdout}{stderr}");
        let failed = format!("failed {}: open: Permission denied", lock.display());
        assert!(stdout.contains(&failed), "{args:?}: {stdout}");
        assert!(stdout.contains("kept 0 live, failed to examine 1"), "{args:?}: {stdout}");
        assert!(stderr.contains("may not read"), "{stderr}");
        assert!(lock.exists(), "{args:?}");
    }
}

/// `inspect` of a directory that does not exist (spelled as one, `no-such-dir/`, or as
/// the directory of a session, `no-such-dir/s.jsonl`) is an input error, exit code 2,
/// and prints no "no lock" row. It was: exit 0 and a "no lock" row.
#[test]
fn inspect_of_a_missing_directory_is_an_input_error() {
    let (_tmp, dir) = tempdir();
    for arg in ["no-such-dir/", "no-such-dir/s.jsonl", "no-such-dir/s.jsonl.lock"] {
        let out = sessionlock(&dir, &["inspect", arg]);
        assert_eq!(out.status.code(), Some(2), "{arg}: {}", text(&out.stderr));
        assert!(text(&out.stdout).is_empty(), "{arg}: {}", text(&out.stdout));
        assert!(text(&out.stderr).contains("no-such-dir"), "{arg}: {}", text(&out.stderr));
    }
    assert!(!dir.join("no-such-dir").exists());
}

/// The holder's command: wait while `hold` exists (at most 3000 naps, a hang guard).
const HOLD: &str = "i=0; while [ -e hold ] && [ $i -lt 3000 ]; do sleep 0.02; i=$((i+1)); done";

/// A `sessionlock run` holding `s.jsonl` in `dir` until dropped.
struct Holder(Child, PathBuf);

impl Holder {
    fn start(dir: &Path) -> Self {
        std::fs::write(dir.join("hold"), b"").unwrap();
        let child = Command::new(bin())
            .args(["run", "s.jsonl", "--", "sh", "-c", HOLD])
            .current_dir(dir)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..3000 {
            if dir.join("s.jsonl.lock").exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10)); // a hang guard, not a measure
        }
        assert!(dir.join("s.jsonl.lock").exists(), "the holder never took the lock");
        Self(child, dir.join("hold"))
    }
}

impl Drop for Holder {
    /// Lets the command finish, so `run` releases and exits.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.1);
        let _ = self.0.wait();
    }
}

/// A contended `run` with almost no descriptors left (`ulimit -n` from 4 to 12) fails
/// with an I/O error (exit 1) or waits until its timeout (75), and never panics. With
/// `ulimit -n 6` it fails naming the reactor and the lack of descriptors (reachability).
/// It was: a panic, "cannot create the reactor's epoll/eventfd" (exit 101).
/// Checks: INV-2
#[test]
fn run_out_of_descriptors_is_an_error_not_a_panic() {
    let (_tmp, dir) = tempdir();
    let _holder = Holder::start(&dir);
    let mut codes = Vec::new();
    for n in 4..=12 {
        let script = format!("ulimit -n {n}; exec \"$0\" run --timeout 200ms s.jsonl -- true");
        let out =
            Command::new("sh").args(["-c", &script, bin()]).current_dir(&dir).output().unwrap();
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "ulimit -n {n}: {stderr}");
        let code = out.status.code();
        assert!(matches!(code, Some(1 | 75)), "ulimit -n {n}: {code:?} {stderr}");
        if n == 6 {
            assert_eq!(code, Some(1), "{stderr}");
            assert!(
                stderr.contains("reactor") && stderr.contains("Too many open files"),
                "{stderr}"
            );
        }
        codes.push(code);
    }
    assert_eq!(codes.last(), Some(&Some(75)), "with 12 descriptors it waits: {codes:?}");
    assert!(dir.join("s.jsonl.lock").exists(), "the live holder's file");
}
