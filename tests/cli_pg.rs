//! The CLI over PostgreSQL, as a new user would try it: `run --postgres` (or
//! `SESSIONLOCK_POSTGRES`) excludes a second `run`, hands its command the fencing token,
//! forwards signals, and ties the command to its own life (a `SIGKILL`ed `run` takes its
//! command and its lock with it, and the token it handed out is rejected at commit);
//! `inspect` tells a live row from a dead one; `clean` removes only the dead one; a bad
//! connection string or an unreachable server is one line and a distinct exit code.
//! Every wait is polled, bounded by a count (a hang guard), never asserted on wall time.
#![cfg(all(feature = "postgres", not(sessionlock_loom)))]

mod pg_server;
mod pg_support;

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread::sleep;
use std::time::Duration;

use cli_support::{
    UNTIL_GO, URL_VAR, alive, bin, read_line_of, send, stderr as stderr_of, tempdir,
};
use pg_server::{Pg, key, pg};
use serde_json::Value;
use sessionlock::LockPath;
use sessionlock::fs::FileId;
use sessionlock::pg::FenceError;

/// A `run --postgres` whose command notes its pid, token and key, then waits for `go`.
struct Holder {
    run: Child,
    dir: PathBuf,
    cmd_pid: u32,
    token: u64,
    key: String,
}

impl Holder {
    fn start(pg: &Pg, dir: &Path, key: &str, body: &str) -> Self {
        Self::start_at(&pg.url, dir, key, body)
    }

    fn start_at(url: &str, dir: &Path, key: &str, body: &str) -> Self {
        let script = format!(
            "echo \"$$ $SESSIONLOCK_FENCING_TOKEN $SESSIONLOCK_KEY\" > started; {UNTIL_GO}; {body}"
        );
        let run = bin(dir)
            .args(["run", "--postgres", url, key, "--", "sh", "-c", &script])
            .stderr(std::fs::File::create(dir.join("run.err")).unwrap())
            .spawn()
            .unwrap();
        let line = read_line_of(&dir.join("started"));
        let fields: Vec<&str> = line.split(' ').collect();
        Self {
            run,
            dir: dir.to_owned(),
            cmd_pid: fields[0].parse().unwrap(),
            token: fields[1].parse().expect("a numeric token"),
            key: fields[2].to_owned(),
        }
    }

    fn go(&self) {
        std::fs::write(self.dir.join("go"), "").unwrap();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.go();
        let _ = self.run.kill();
        let _ = self.run.wait();
        if alive(self.cmd_pid) {
            let _ = Command::new("kill").args(["-9", &self.cmd_pid.to_string()]).status();
        }
    }
}

/// `inspect --postgres --json` on `keys`: key → object.
fn inspect(pg: &Pg, dir: &Path, keys: &[&str]) -> Vec<Value> {
    let out =
        bin(dir).args(["inspect", "--json", "--postgres", &pg.url]).args(keys).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let Value::Array(rows) = serde_json::from_slice(&out.stdout).unwrap() else { panic!() };
    rows
}

fn row<'a>(rows: &'a [Value], key: &str) -> &'a Value {
    rows.iter().find(|r| r["key"] == key).unwrap_or_else(|| panic!("no row for {key}: {rows:?}"))
}

/// Polls `inspect` until the row of `key` is stale (the server has ended the dead
/// holder's session); 1500 naps, a hang guard.
fn until_stale(pg: &Pg, dir: &Path, key: &str) -> Value {
    for _ in 0..1500 {
        let rows = inspect(pg, dir, &[key]);
        if row(&rows, key)["stale"] == true {
            return row(&rows, key).clone();
        }
        sleep(Duration::from_millis(20));
    }
    panic!("the row of {key} never became stale");
}

/// A second `run --postgres` on a held key waits, says who holds it, and gives up with
/// 75 at its timeout, without running its command; once the first lets go, it runs.
/// Checks: INV-1
#[test]
fn run_postgres_excludes_a_second_run() {
    let Some(pg) = pg() else { return };
    let (_tmp, dir) = tempdir();
    let key = key("cli-exclude");
    let first = Holder::start(pg, &dir, &key, "echo first >> log");
    assert_eq!(first.key, key);
    assert!(first.token > 0, "the command gets the fencing token");
    let second = bin(&dir)
        .args(["run", "--postgres", &pg.url, "--timeout", "300ms", &key, "--"])
        .args(["sh", "-c", "echo second >> log"])
        .output()
        .unwrap();
    let said = stderr_of(&second);
    assert_eq!(second.status.code(), Some(75), "{said}");
    assert!(said.contains(&format!("waiting for lock on {key} held by")), "{said}");
    assert!(!dir.join("log").exists(), "the second command ran while the first held");
    first.go();
    let mut first = first;
    assert_eq!(first.run.wait().unwrap().code(), Some(0));
    let third = bin(&dir)
        .args(["run", "--postgres", &pg.url, &key, "--", "sh", "-c", "echo third >> log"])
        .output()
        .unwrap();
    assert_eq!(third.status.code(), Some(0), "{}", stderr_of(&third));
    assert_eq!(std::fs::read_to_string(dir.join("log")).unwrap(), "first\nthird\n");
}

/// The flock(1) flags work over PostgreSQL as over lock files: without `--`, `-n` gives
/// up at once on a held key without running its command or printing a waiting line, and
/// `-E` sets the code it gives up with.
/// Checks: INV-1
#[test]
fn run_postgres_takes_the_flock_flags() {
    let Some(pg) = pg() else { return };
    let (_tmp, dir) = tempdir();
    let key = key("cli-flags");
    let first = Holder::start(pg, &dir, &key, "echo first >> log");
    let busy = bin(&dir)
        .args(["run", "--postgres", &pg.url, "-n", "-E", "42", &key])
        .args(["sh", "-c", "echo second >> log"])
        .output()
        .unwrap();
    let said = stderr_of(&busy);
    assert_eq!(busy.status.code(), Some(42), "{said}");
    assert!(!said.contains("waiting for lock"), "{said}");
    assert!(said.contains(&key), "the refusal names the key: {said}");
    assert!(!dir.join("log").exists(), "the second command ran while the first held");
    first.go();
    let mut first = first;
    assert_eq!(first.run.wait().unwrap().code(), Some(0));
    let free = bin(&dir)
        .args(["run", "--postgres", &pg.url, "-n", &key, "sh", "-c", "echo third >> log"])
        .output()
        .unwrap();
    assert_eq!(free.status.code(), Some(0), "{}", stderr_of(&free));
    assert_eq!(std::fs::read_to_string(dir.join("log")).unwrap(), "first\nthird\n");
}

/// `SESSIONLOCK_POSTGRES` chooses the store as `--postgres` does, for `run` and
/// `inspect`, and each holder's token is larger than the one before.
#[test]
fn the_environment_variable_chooses_postgres() {
    let Some(pg) = pg() else { return };
    let (_tmp, dir) = tempdir();
    let key = key("cli-env");
    let script = "echo \"$SESSIONLOCK_FENCING_TOKEN $SESSIONLOCK_KEY\" >> tokens";
    for _ in 0..2 {
        let out = bin(&dir)
            .env(URL_VAR, &pg.url)
            .args(["run", &key, "--", "sh", "-c", script])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    }
    let tokens = std::fs::read_to_string(dir.join("tokens")).unwrap();
    let tokens: Vec<(u64, &str)> = tokens
        .lines()
        .map(|l| l.split_once(' ').map(|(t, k)| (t.parse().unwrap(), k)).unwrap())
        .collect();
    assert_eq!(tokens.len(), 2);
    assert!(tokens[0].0 > 0 && tokens[1].0 > tokens[0].0, "{tokens:?}");
    assert!(tokens.iter().all(|(_, k)| *k == key), "{tokens:?}");
    // No lock file was made: the lock lived in the database.
    assert!(!dir.join(format!("{key}.lock")).exists());
    let out = bin(&dir).env(URL_VAR, &pg.url).args(["inspect", "--json", &key]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(row(&rows, &key)["found"], "nothing", "released after the command");
}

/// A `SIGKILL`ed `run` takes its command with it (the kernel's parent-death signal) and
/// its lock (its connection ends): `inspect` shows that row stale beside a live one,
/// with host, pid and generation; the token the dead `run` handed out is rejected at
/// commit; `clean` removes the dead row only, and the live one stays held.
/// Checks: INV-2, INV-8
#[test]
fn a_killed_run_leaves_a_dead_row_that_inspect_reports_and_clean_removes() {
    let Some(pg) = pg() else { return };
    let (_tmp_live, live_dir) = tempdir();
    let (_tmp_dead, dead_dir) = tempdir();
    let (live_key, dead_key) = (key("cli-live"), key("cli-dead"));
    let live = Holder::start(pg, &live_dir, &live_key, "true");
    let mut dead = Holder::start(pg, &dead_dir, &dead_key, "true");
    let rows = inspect(pg, &live_dir, &[&live_key, &dead_key]);
    assert_eq!(row(&rows, &dead_key)["held"], true, "held before the kill");

    dead.run.kill().unwrap(); // SIGKILL
    dead.run.wait().unwrap();
    for _ in 0..1500 {
        if !alive(dead.cmd_pid) {
            break;
        }
        sleep(Duration::from_millis(20));
    }
    assert!(!alive(dead.cmd_pid), "the command outlived its `run`, and the lock");
    let stale = until_stale(pg, &live_dir, &dead_key);
    assert_eq!(stale["found"], "lock-row");
    assert_eq!(stale["held"], false);
    assert_eq!(stale["generation"], dead.token);
    assert!(stale["host"].as_str().is_some_and(|h| !h.is_empty()), "{stale}");
    assert!(stale["pid"].as_u64().is_some_and(|p| p > 0), "{stale}");
    assert!(stale["age_ms"].is_u64(), "{stale}");
    let rows = inspect(pg, &live_dir, &[&live_key, &dead_key]);
    let held = row(&rows, &live_key);
    assert_eq!((held["held"].clone(), held["stale"].clone()), (Value::Bool(true), false.into()));
    assert_eq!(held["generation"], live.token);

    // The dead holder's token no longer writes, though its row is still there.
    let path = LockPath::from_canonical(dead_key.as_str());
    let token = FileId { dev: 0, ino: dead.token };
    let rejected = pg_support::append(&pg.url, &path, token, "zombie");
    assert!(matches!(rejected, Err(FenceError::Lost { .. })), "{rejected:?}");

    let dry = bin(&live_dir).args(["clean", "--dry-run", "--postgres", &pg.url]).output().unwrap();
    let dry_said = String::from_utf8_lossy(&dry.stdout);
    assert!(dry_said.contains(&format!("would remove {dead_key}")), "{dry_said}");
    assert_eq!(inspect(pg, &live_dir, &[&dead_key])[0]["found"], "lock-row", "dry run kept it");

    let out = bin(&live_dir).args(["clean", "--postgres", &pg.url]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("removed {dead_key} (KernelProvenDead)")), "{said}");
    assert!(said.contains(&format!("kept {live_key}")), "{said}");
    let rows = inspect(pg, &live_dir, &[&live_key, &dead_key]);
    assert_eq!(row(&rows, &dead_key)["found"], "nothing");
    assert_eq!(row(&rows, &live_key)["held"], true, "clean left the live row held");
    drop(live);
}

/// `SIGTERM` to `run --postgres` reaches the command; `run` holds the lock until the
/// command has exited, then passes its status through (128+15).
#[test]
fn run_postgres_forwards_signals_and_holds_until_the_command_exits() {
    let Some(pg) = pg() else { return };
    let (_tmp, dir) = tempdir();
    let key = key("cli-signal");
    // The command traps TERM, notes it, and only then exits by it.
    let body = "trap 'echo term > got; sleep 0.2; trap - TERM; kill -TERM $$' TERM; \
                echo \"$$ $SESSIONLOCK_FENCING_TOKEN $SESSIONLOCK_KEY\" > started; \
                i=0; while [ $i -lt 3000 ]; do sleep 0.02; i=$((i+1)); done";
    let mut run = bin(&dir)
        .args(["run", "--postgres", &pg.url, &key, "--", "sh", "-c", body])
        .spawn()
        .unwrap();
    let started = read_line_of(&dir.join("started"));
    let cmd_pid: u32 = started.split(' ').next().unwrap().parse().unwrap();
    send("TERM", run.id());
    assert_eq!(read_line_of(&dir.join("got")), "term");
    // The command is still running its trap: the lock is still held.
    let rows = inspect(pg, &dir, &[&key]);
    assert!(alive(cmd_pid) && row(&rows, &key)["held"] == true, "{rows:?}");
    assert_eq!(run.wait().unwrap().code(), Some(128 + 15));
    assert_eq!(inspect(pg, &dir, &[&key])[0]["found"], "nothing", "released after the exit");
}

/// A lock lost while the command runs (an administrator terminates the session that
/// holds it): `run`, waiting in the server for that lock on a second connection, kills
/// the command at once (it never reaches its next step), reports the loss with the key
/// and token, and exits with the command's death (128+9), never 0. The token is then
/// rejected at commit. Reachability: the row was held by `run` before the termination.
/// Checks: INV-8
#[test]
fn a_lock_lost_while_the_command_runs_stops_the_command() {
    let Some(pg) = pg() else { return };
    let (_tmp, dir) = tempdir();
    let key = key("cli-lost");
    let mut holder = Holder::start(pg, &dir, &key, "echo after > after");
    assert_eq!(inspect(pg, &dir, &[&key])[0]["held"], true);
    let ended = pg.psql(&format!(
        "SELECT count(pg_terminate_backend(backend)) FROM sessionlock_locks WHERE path = '{key}'"
    ));
    assert_eq!(ended, "1", "the holding session was not found");
    // No `go`: the command ends only if it is killed (its wait is a bounded hang guard).
    let status = holder.run.wait().unwrap();
    assert_eq!(status.code(), Some(128 + 9), "the command was not killed when the lock was lost");
    assert!(!alive(holder.cmd_pid));
    assert!(!dir.join("after").exists(), "the command went on after the loss");
    let said = std::fs::read_to_string(dir.join("run.err")).unwrap();
    let lost = format!("lost the lock of {key} (token {}) while the command ran", holder.token);
    assert!(said.contains(&lost), "{said}");
    let path = LockPath::from_canonical(key.as_str());
    let rejected = pg_support::append(&pg.url, &path, FileId { dev: 0, ino: holder.token }, "late");
    assert!(rejected.is_err(), "{rejected:?}");
}

/// Bad configuration, as a new user meets it: one line on stderr, no panic, and an exit
/// code of its own: 78 for a connection string that cannot be parsed, 69 for a server
/// that cannot be reached. The command never runs.
#[test]
fn bad_urls_fail_in_one_line_with_distinct_codes() {
    let (_tmp, dir) = tempdir();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = format!("host=127.0.0.1 port={port} user=postgres connect_timeout=5");
    for (url, code, says) in [
        ("postgres://user@host:notaport/db", 78, "invalid PostgreSQL connection string"),
        ("hots=127.0.0.1", 78, "invalid PostgreSQL connection string"),
        (unreachable.as_str(), 69, "cannot reach the PostgreSQL server"),
    ] {
        for args in [
            &["run", "--postgres", url, "k", "--", "touch", "ran"][..],
            &["inspect", "--postgres", url],
        ] {
            let out = bin(&dir).args(args).output().unwrap();
            let said = stderr_of(&out);
            assert_eq!(out.status.code(), Some(code), "{args:?}: {said}");
            assert_eq!(said.lines().count(), 1, "{args:?}: {said}");
            assert!(said.starts_with(&format!("sessionlock: {says}")), "{args:?}: {said}");
        }
    }
    assert!(!dir.join("ran").exists());
}
