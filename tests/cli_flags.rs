//! The `sessionlock` command line's conveniences, as flock(1) users expect them: `run`
//! without `--`, `-n`/`--nonblock`, `-E`/`--conflict-exit-code`, `--timeout 0` without a
//! waiting line; one line per event, in words (never a Rust `Debug` dump); and `inspect`
//! saying when a lock file with no usable payload becomes stale.
#![cfg(not(sessionlock_loom))]

mod cli_support;

use cli_support::{Holder, sessionlock, stderr, tempdir};
use serde_json::Value;

/// `run FILE CMD...` needs no `--`, as in flock(1); options of the command stay its own,
/// and `--` is still accepted.
#[test]
fn run_takes_the_command_without_a_double_dash() {
    let (_tmp, dir) = tempdir();
    let seven = sessionlock(&dir, &["run", "s.jsonl", "sh", "-c", "exit 7"]);
    assert_eq!(seven.status.code(), Some(7), "{}", stderr(&seven));
    let own = sessionlock(&dir, &["run", "s.jsonl", "sh", "-c", "test \"$1\" = -n", "x", "-n"]);
    assert_eq!(own.status.code(), Some(0), "the command's `-n` is the command's: {}", stderr(&own));
    let dashed = sessionlock(&dir, &["run", "s.jsonl", "--", "sh", "-c", "exit 3"]);
    assert_eq!(dashed.status.code(), Some(3), "{}", stderr(&dashed));
    assert!(!dir.join("s.jsonl.lock").exists());
}

/// `-n` and `--timeout` ask for two different waits: the CLI refuses the pair as bad
/// usage (exit 2, naming both) instead of letting one silently win, and runs nothing.
#[test]
fn nonblock_with_a_timeout_is_bad_usage() {
    let (_tmp, dir) = tempdir();
    let out =
        sessionlock(&dir, &["run", "-n", "--timeout", "5s", "s.jsonl", "sh", "-c", "touch ran"]);
    let said = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("--nonblock") && said.contains("--timeout"), "{said}");
    assert!(!dir.join("ran").exists(), "the command ran");
    let alone = sessionlock(&dir, &["run", "-n", "s.jsonl", "sh", "-c", "touch ran"]);
    assert_eq!(alone.status.code(), Some(0), "-n alone is fine: {}", stderr(&alone));
}

/// `-n` fails at once when the lock is held, with one line naming the holder, the busy
/// exit code (75, or `-E`'s) and no waiting line; the command never runs.
/// Checks: INV-1
#[test]
fn nonblock_fails_at_once_with_the_busy_exit_code() {
    let (_tmp, dir) = tempdir();
    let first = Holder::start(&dir);
    let out = sessionlock(&dir, &["run", "-n", "s.jsonl", "--", "touch", "ran"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("is locked by pid {} (alive", first.cmd_pid)), "{err}");
    let out = sessionlock(&dir, &["run", "--nonblock", "-E", "9", "s.jsonl", "--", "touch", "ran"]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert!(!dir.join("ran").exists(), "the command ran without the lock");
    assert_eq!(first.finish(), Some(0));
    // Free, `-n` takes it like any run.
    let free = sessionlock(&dir, &["run", "-n", "-E", "9", "s.jsonl", "--", "touch", "ran"]);
    assert_eq!(free.status.code(), Some(0), "{}", stderr(&free));
    assert!(dir.join("ran").exists());
}

/// `-E` sets the exit code of a timeout too, and only of that: a command's own failure
/// passes through.
#[test]
fn conflict_exit_code_applies_to_a_timeout() {
    let (_tmp, dir) = tempdir();
    let first = Holder::start(&dir);
    let out = sessionlock(&dir, &["run", "--timeout", "50ms", "-E", "3", "s.jsonl", "--", "true"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(first.finish(), Some(0));
    let own = sessionlock(&dir, &["run", "-E", "3", "s.jsonl", "--", "sh", "-c", "exit 4"]);
    assert_eq!(own.status.code(), Some(4), "{}", stderr(&own));
}

/// `--timeout 0` does not wait, so it announces no wait: its only line is the timeout.
/// Each event gets one line: the library's own trace of the timeout is not echoed.
/// Checks: INV-1
#[test]
fn timeout_zero_prints_only_the_timeout() {
    let (_tmp, dir) = tempdir();
    let first = Holder::start(&dir);
    let out = sessionlock(&dir, &["run", "--timeout", "0", "s.jsonl", "--", "touch", "ran"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(!err.contains("waiting for lock"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("sessionlock: timed out after "), "{err}");
    assert!(!dir.join("ran").exists(), "the command ran without the lock");
    assert_eq!(first.finish(), Some(0));
}

/// A wait that times out says two things, once each: that it waits, and that it gave up.
#[test]
fn a_timeout_is_told_once() {
    let (_tmp, dir) = tempdir();
    let first = Holder::start(&dir);
    let out = sessionlock(&dir, &["run", "--timeout", "100ms", "s.jsonl", "--", "true"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(75), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with("sessionlock: waiting for lock on s.jsonl held by "), "{err}");
    assert!(lines[1].starts_with("sessionlock: timed out after "), "{err}");
    assert_eq!(first.finish(), Some(0));
}

/// A lock compromised under `run` is told in words: what was found at the path, never a
/// Rust `Debug` dump such as `Other(FileId { .. })`.
/// Checks: INV-6
#[test]
fn a_compromised_lock_is_told_in_words() {
    let (_tmp, dir) = tempdir();
    let removed = sessionlock(&dir, &["run", "s.jsonl", "--", "rm", "s.jsonl.lock"]);
    let err = stderr(&removed);
    assert_eq!(removed.status.code(), Some(1), "{err}");
    assert!(err.contains("compromised while held: found nothing at the path"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let script = "rm s.jsonl.lock && echo '{}' > s.jsonl.lock";
    let replaced = sessionlock(&dir, &["run", "s.jsonl", "--", "sh", "-c", script]);
    let err = stderr(&replaced);
    assert_eq!(replaced.status.code(), Some(1), "{err}");
    assert!(err.contains("found another file (device "), "{err}");
    assert!(!err.contains('{') && !err.contains("Other("), "a Debug dump: {err}");
}

/// A lock file with no usable payload is stale only past its grace (by mtime); `inspect`
/// says when that will be, in the table and in JSON, and removes nothing.
#[test]
fn inspect_says_when_a_payloadless_lock_becomes_stale() {
    let (_tmp, dir) = tempdir();
    std::fs::write(dir.join("s.jsonl.lock"), "not json").unwrap();
    let table = sessionlock(&dir, &["inspect", "s.jsonl"]);
    let text = String::from_utf8_lossy(&table.stdout).into_owned();
    assert_eq!(table.status.code(), Some(0), "{}", stderr(&table));
    assert!(text.contains("no payload, stale in "), "{text}");
    let json = sessionlock(&dir, &["inspect", "--json", "s.jsonl"]);
    let rows: Vec<Value> = serde_json::from_slice(&json.stdout).unwrap();
    let left = rows[0]["stale_in_ms"].as_u64().expect("stale_in_ms");
    assert!(left > 0 && left <= 30_000, "the default grace is 30 s: {left}");
    assert_eq!(rows[0]["stale"], false);
    // Within its grace, a `run -n` names it the same way.
    let busy = sessionlock(&dir, &["run", "-n", "s.jsonl", "--", "true"]);
    assert!(stderr(&busy).contains("no usable payload: stale in "), "{}", stderr(&busy));
    assert!(dir.join("s.jsonl.lock").exists(), "nothing was removed");
}

/// `--queue` (or `SESSIONLOCK_QUEUE=1`) makes `run` wait in the cross-process queue: a run
/// that finds the lock held takes a ticket beside the lock file, runs its command once the
/// holder lets go, and leaves no ticket behind.
/// Checks: INV-9
#[test]
fn queue_makes_a_waiting_run_take_a_ticket() {
    let (_tmp, dir) = tempdir();
    let first = Holder::start(&dir);
    let tickets = || {
        std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("s.jsonl.lock.q."))
            .count()
    };
    let flag = cli_support::bin(&dir)
        .args(["run", "--queue", "s.jsonl", "--", "touch", "ran-flag"])
        .spawn()
        .unwrap();
    let env = cli_support::bin(&dir)
        .env("SESSIONLOCK_QUEUE", "1")
        .args(["run", "s.jsonl", "--", "touch", "ran-env"])
        .spawn()
        .unwrap();
    let mut seen = 0;
    for _ in 0..3000 {
        seen = tickets();
        if seen == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(seen, 2, "both waiting runs queue, by flag and by environment");
    assert!(!dir.join("ran-flag").exists() && !dir.join("ran-env").exists());
    assert_eq!(first.finish(), Some(0));
    for mut run in [flag, env] {
        assert_eq!(run.wait().unwrap().code(), Some(0));
    }
    assert!(dir.join("ran-flag").exists() && dir.join("ran-env").exists());
    assert_eq!(tickets(), 0, "a ticket was left behind");
    assert!(!dir.join("s.jsonl.lock").exists());
}
