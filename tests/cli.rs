//! The `sessionlock` command line, one test per scenario, on the real filesystem: `run`
//! (exit codes, waiting, timeout, the command keeping the lock after a SIGKILL of `run`,
//! only the lock's descriptor inherited; signals are in `cli_signals.rs`),
//! `inspect` (table and JSON, non-lock files), `clean` (dry run, stale versus live), and
//! bad input. Waits are bounded by counts (hang guards), never asserted on wall time.
#![cfg(not(sessionlock_loom))]

mod cli_support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread::sleep;
use std::time::Duration;

use cli_support::{Holder, alive, sessionlock, stderr, stdout, tempdir};
use serde_json::Value;
use sessionlock::payload::{Payload, format_iso_ms};

fn inspect_json(dir: &Path, paths: &[&str]) -> Vec<Value> {
    let out = sessionlock(dir, &[&["inspect", "--json"], paths].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

/// A pid that was just used and is now dead (reaped).
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn now_ms() -> u64 {
    use sessionlock::Clock;
    sessionlock::RealClock.wall_ms()
}

/// A lock file in our own format whose kernel lock nobody holds: its holder died.
fn write_dead_ours(path: &Path) {
    let payload = Payload {
        pid: Some(dead_pid()),
        created_at_ms: Some(now_ms()),
        kernel_locked: true,
        nonce: Some("1.2.3".to_owned()),
        ..Payload::default()
    };
    std::fs::write(path, payload.to_bytes()).unwrap();
}

/// An original-format lock file naming `pid`, taken `age` ago.
fn write_foreign(path: &Path, pid: u32, age: Duration) {
    let created = format_iso_ms(now_ms() - u64::try_from(age.as_millis()).unwrap());
    std::fs::write(path, format!(r#"{{"pid":{pid},"createdAt":"{created}"}}"#)).unwrap();
}

/// `run` exits with its command's code, and 128+N when signal N killed the command.
#[test]
fn run_passes_the_exit_code_through() {
    let (_tmp, dir) = tempdir();
    assert_eq!(sessionlock(&dir, &["run", "s.jsonl", "--", "true"]).status.code(), Some(0));
    let seven = sessionlock(&dir, &["run", "s.jsonl", "--", "sh", "-c", "exit 7"]);
    assert_eq!(seven.status.code(), Some(7));
    let killed = sessionlock(&dir, &["run", "s.jsonl", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(killed.status.code(), Some(128 + 15));
    assert!(!dir.join("s.jsonl.lock").exists(), "every run released its lock");
}

/// A command that removes the lock file under `run` makes it report the lock compromised
/// and exit non-zero, even though the command itself succeeded (H10, H20).
/// Checks: INV-6
#[test]
fn run_reports_a_lock_removed_under_it() {
    let (_tmp, dir) = tempdir();
    let out = sessionlock(&dir, &["run", "s.jsonl", "--", "rm", "s.jsonl.lock"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("was compromised while held"), "{}", stderr(&out));
}

/// A command that replaces the lock file under `run` makes it report the lock
/// compromised; the replacement, not proven stale, is left where it is.
/// Checks: INV-2
#[test]
fn run_reports_a_lock_replaced_under_it_and_leaves_the_replacement() {
    let (_tmp, dir) = tempdir();
    let script = "rm s.jsonl.lock && echo '{}' > s.jsonl.lock";
    let out = sessionlock(&dir, &["run", "s.jsonl", "--", "sh", "-c", script]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("was compromised while held"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(dir.join("s.jsonl.lock")).unwrap(), "{}\n");
}

/// A second `run` waits with one line naming the holder, then times out with 75, naming
/// the holder and the lock path; its command never runs.
/// Checks: INV-1
#[test]
fn second_run_waits_then_times_out_naming_the_holder() {
    let (_tmp, dir) = tempdir();
    let first = Holder::start(&dir);
    let out = sessionlock(&dir, &["run", "s.jsonl", "--timeout", "1s", "--", "touch", "ran"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(75), "{err}");
    let waiting: Vec<&str> = err.lines().filter(|l| l.contains("waiting for lock on")).collect();
    assert_eq!(waiting.len(), 1, "{err}");
    let pid = first.cmd_pid; // the lock file names the command
    assert!(waiting[0].contains(&format!("s.jsonl held by pid {pid} (alive")), "{err}");
    let lock = dir.join("s.jsonl.lock");
    assert!(err.contains("sessionlock: timed out after "), "{err}");
    let named = format!("s waiting for {}, held by pid {pid} (alive", lock.display());
    assert!(err.contains(&named), "{err}");
    assert!(!dir.join("ran").exists(), "the command ran without the lock");
    assert_eq!(first.finish(), Some(0));
}

/// After the holding `sessionlock run` is SIGKILLed, its command keeps the lock (it
/// inherited it): the next `run` times out naming the command; once the command has
/// ended, the next `run` gets the lock without waiting. (More in `cli_signals.rs`.)
/// Checks: INV-1, INV-4
#[test]
fn run_after_sigkill_of_the_holder_waits_for_its_command() {
    let (_tmp, dir) = tempdir();
    let mut first = Holder::start(&dir);
    first.run.kill().unwrap(); // SIGKILL the sessionlock process, not its command
    first.run.wait().unwrap();
    assert!(alive(first.cmd_pid), "the command outlives sessionlock");
    let out = sessionlock(&dir, &["run", "s.jsonl", "--timeout", "1s", "--", "touch", "ran"]);
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    let named = format!("held by pid {} (alive", first.cmd_pid);
    assert!(stderr(&out).contains(&named), "{}", stderr(&out));
    assert!(!dir.join("ran").exists(), "the command ran without the lock");
    std::fs::remove_file(dir.join("hold")).unwrap();
    for _ in 0..3000 {
        if !alive(first.cmd_pid) {
            break;
        }
        sleep(Duration::from_millis(10));
    }
    let out = sessionlock(&dir, &["run", "s.jsonl", "--timeout", "30s", "--", "true"]);
    assert!(!stderr(&out).contains("waiting for lock"), "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The command inherits exactly one descriptor of the lock, `$SESSIONLOCK_FD`, and none
/// of the waiter's or of `run`'s own (inotify, sockets): besides it, it has exactly the
/// descriptors a command started directly gets.
/// Checks: INV-4
#[test]
fn run_child_inherits_only_the_lock_descriptor() {
    let (_tmp, dir) = tempdir();
    let fds = |out: &Output| -> Vec<String> {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
        stdout(out).lines().filter(|l| !l.starts_with("lock-fd=")).map(str::to_owned).collect()
    };
    let script = "ls /proc/$$/fd; echo lock-fd=$SESSIONLOCK_FD";
    let baseline = {
        let mut sh = Command::new("sh");
        sh.current_dir(&dir).stdin(Stdio::null()).args(["-c", script]);
        fds(&sh.output().unwrap())
    };
    let out = sessionlock(&dir, &["run", "s.jsonl", "--", "sh", "-c", script]);
    let under_run = fds(&out);
    let fd = stdout(&out).lines().find_map(|l| l.strip_prefix("lock-fd=")).unwrap().to_owned();
    let extra: Vec<&String> = under_run.iter().filter(|f| !baseline.contains(f)).collect();
    assert_eq!(extra, [&fd], "under run: {under_run:?}, started directly: {baseline:?}");
    let listing = sessionlock(&dir, &["run", "s.jsonl", "--", "sh", "-c", "ls -l /proc/$$/fd"]);
    let listing = stdout(&listing);
    assert!(listing.contains("0 ->"), "not a descriptor listing: {listing}");
    assert!(!listing.contains("inotify"), "the waiter's descriptors leaked: {listing}");
    assert!(!listing.contains("socket:"), "run's channel leaked: {listing}");
}

/// While a `run` holds, `inspect --json` names it as a live kernel holder; after it ends
/// no lock, stale or live, is left.
/// Checks: INV-5
#[test]
fn inspect_json_reports_the_holder_then_nothing_stale() {
    let (_tmp, dir) = tempdir();
    let first = Holder::start(&dir);
    let rows = inspect_json(&dir, &["."]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["path"], dir.join("s.jsonl.lock").to_string_lossy().as_ref());
    assert_eq!(row["found"], "lock-file");
    assert_eq!(row["pid"], first.cmd_pid, "the lock file names the command");
    assert_eq!(
        (&row["held"], &row["kernel_held"], &row["alive"]),
        (&true.into(), &true.into(), &true.into())
    );
    assert_eq!((&row["stale"], &row["reasons"]), (&false.into(), &Value::Array(vec![])));
    assert_eq!(first.finish(), Some(0));
    assert_eq!(inspect_json(&dir, &["."]), Vec::<Value>::new());
}

/// `inspect` of a session with no lock says so, in the table and in JSON.
#[test]
fn inspect_of_a_session_without_a_lock_reports_no_lock() {
    let (_tmp, dir) = tempdir();
    let rows = inspect_json(&dir, &["s.jsonl"]);
    assert_eq!(rows.len(), 1);
    assert_eq!((&rows[0]["found"], &rows[0]["held"]), (&"nothing".into(), &false.into()));
    let table = sessionlock(&dir, &["inspect", "s.jsonl"]);
    assert!(stdout(&table).contains("no lock"), "{}", stdout(&table));
    assert!(!dir.join("s.jsonl.lock").exists());
}

/// `inspect` reports a dead holder's file as stale, and leaves it where it is.
/// Checks: INV-2
#[test]
fn inspect_reports_a_stale_lock_without_removing_it() {
    let (_tmp, dir) = tempdir();
    write_dead_ours(&dir.join("s.jsonl.lock"));
    let rows = inspect_json(&dir, &["s.jsonl.lock"]);
    assert_eq!((&rows[0]["stale"], &rows[0]["alive"]), (&true.into(), &false.into()));
    assert_eq!(rows[0]["reasons"], serde_json::json!(["KernelProvenDead"]));
    assert!(dir.join("s.jsonl.lock").exists());
}

/// A FIFO and a symlink named `*.lock` in a directory are reported, never opened as lock
/// files or removed; named explicitly, either is an input error (exit 2).
/// Checks: INV-2
#[test]
fn inspect_of_a_directory_reports_a_fifo_and_a_symlink_without_removing_them() {
    let (_tmp, dir) = tempdir();
    assert!(Command::new("mkfifo").arg(dir.join("x.lock")).status().unwrap().success());
    std::os::unix::fs::symlink("elsewhere", dir.join("y.lock")).unwrap();
    let rows = inspect_json(&dir, &["."]);
    let found: Vec<&Value> = rows.iter().map(|r| &r["found"]).collect();
    assert_eq!(found, [&Value::from("fifo"), &Value::from("symlink")]);
    for name in ["x.lock", "y.lock"] {
        let out = sessionlock(&dir, &["inspect", name]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(stderr(&out).contains("not a lock file; it was left untouched"), "{name}");
    }
    assert!(dir.join("x.lock").exists() && dir.join("y.lock").symlink_metadata().is_ok());
}

/// The same mix for both `clean` tests: two dead holders' files, one live holder, one
/// live but old foreign holder.
fn mixed_locks(dir: &Path) -> Holder {
    write_dead_ours(&dir.join("a.jsonl.lock"));
    write_foreign(&dir.join("b.jsonl.lock"), dead_pid(), Duration::from_secs(1));
    write_foreign(&dir.join("old.jsonl.lock"), std::process::id(), Duration::from_secs(7200));
    Holder::start(dir)
}

const ALL: [&str; 4] = ["a.jsonl.lock", "b.jsonl.lock", "old.jsonl.lock", "s.jsonl.lock"];

/// `clean --dry-run` lists what would go and removes nothing.
/// Checks: INV-2
#[test]
fn clean_dry_run_removes_nothing() {
    let (_tmp, dir) = tempdir();
    let live = mixed_locks(&dir);
    let out = sessionlock(&dir, &["clean", "--dry-run", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.matches("would remove ").count(), 3, "{text}"); // two files + summary
    assert!(text.ends_with("dry run: would remove 2 stale lock(s), kept 2 live\n"), "{text}");
    assert!(ALL.iter().all(|name| dir.join(name).exists()), "{text}");
    assert_eq!(live.finish(), Some(0));
}

/// `clean` removes the dead holders' files (ours and the original format's), naming the
/// reasons, and keeps a live holder's and a merely old one's.
/// Checks: INV-2, INV-4
#[test]
fn clean_removes_dead_holders_files_and_keeps_live_ones() {
    let (_tmp, dir) = tempdir();
    let live = mixed_locks(&dir);
    let out = sessionlock(&dir, &["clean", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let a = dir.join("a.jsonl.lock");
    assert!(text.contains(&format!("removed {} (KernelProvenDead)", a.display())), "{text}");
    assert!(text.contains(&format!("removed {} (DeadPid)", dir.join("b.jsonl.lock").display())));
    assert!(text.ends_with("removed 2 stale lock(s), kept 2 live\n"), "{text}");
    let left: Vec<bool> = ALL.iter().map(|name| dir.join(name).exists()).collect();
    assert_eq!(left, [false, false, true, true], "{text}");
    assert_eq!(live.finish(), Some(0));
}

/// Bad input exits 2 (127 for a missing command) with a message, and never panics.
#[test]
fn bad_input_exits_2_without_panicking() {
    let (_tmp, dir) = tempdir();
    let cases: [(&[&str], i32); 6] = [
        (&["inspect"], 2),
        (&["clean", "no-such-dir"], 2),
        (&["run", "--timeout", "soon", "s.jsonl", "--", "true"], 2),
        (&["run", "s.jsonl"], 2),
        (&["run", "s.jsonl", "--", "no-such-command-here"], 127),
        (&["frobnicate"], 2),
    ];
    for (args, code) in cases {
        let out = sessionlock(&dir, args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).trim().is_empty(), "{args:?} gave no message");
    }
}

/// `--help` shows examples for every subcommand.
#[test]
fn help_shows_examples_for_each_subcommand() {
    let (_tmp, dir) = tempdir();
    for sub in ["inspect", "clean", "run"] {
        let out = sessionlock(&dir, &[sub, "--help"]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0));
        assert!(text.contains("Examples:") && text.contains(&format!("sessionlock {sub} ")));
    }
    let top = stdout(&sessionlock(&dir, &["--help"]));
    assert!(["inspect", "clean", "run"].iter().all(|s| top.contains(&format!("sessionlock {s} "))));
}
