//! The PostgreSQL store (`--postgres URL`, or `SESSIONLOCK_POSTGRES`): `run`, `inspect`
//! and `clean` over lock rows instead of lock files. A session is named by its key, the
//! same on every host.
//!
//! `run` cannot hand the lock to its command, as it does a lock file's descriptor: the
//! lock is a database session, which no child inherits. So `run` holds it, on a
//! connection of its own, for as long as the command runs, and the command is tied to
//! `run`'s life:
//!
//! | step | `run`                                                                | the command |
//! |------|----------------------------------------------------------------------|-------------|
//! | 1    | connects (a bad configuration: one line, exit 78 or 69); acquires (the waiting line; 75 at the timeout) | |
//! | 2    | catches INT, TERM, HUP, QUIT; starts `__bound`                       | `__bound` asks the kernel for `SIGKILL` when `run` dies, checks that `run` is still alive, and execs the command with [`TOKEN_VAR`] and [`KEY_VAR`] |
//! | 3    | forwards signals (`signals.rs`); waits in the server, on a second connection, for the lock to be lost (`watch.rs`: the command is then killed); waits for the exit without reaping | runs |
//! | 4    | stops forwarding and watching; reaps; releases: a lock lost meanwhile is reported, and `run` never exits 0 then | exited |
//!
//! If `run` dies, even by `SIGKILL`, its connection ends, the server drops the lock, and
//! the kernel kills the command; if the lock is lost while `run` lives (its session
//! terminated, a server restart or failover), the watcher kills the command: the command
//! does not outlive the lock. Processes the
//! command started in the background may; their writes are safe only where the store
//! checks the token at commit (`pg::append_fenced`).

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rustix::process::{Signal, getppid, set_parent_process_death_signal};
use serde::Serialize;
use sessionlock::pg::{LockRow, PgFs, PgSessionLock};
use sessionlock::{Builder, LockPath};

use crate::clean::{self, Tally};
use crate::error::{CliError, EXIT_IO};
use crate::inspect;
use crate::run;
use crate::signals::Caught;
use crate::watch::Watch;

/// The environment variable that tells the command its fencing token: the lock row's
/// generation, which grows with every holder of any session.
pub const TOKEN_VAR: &str = "SESSIONLOCK_FENCING_TOKEN";
/// The environment variable that tells the command its session key.
pub const KEY_VAR: &str = "SESSIONLOCK_KEY";
/// The hidden subcommand that ties the command to `run` and execs it.
pub const BOUND_SUBCOMMAND: &str = "__bound";

/// A session key as typed: any UTF-8 text (checked further by the library).
fn key_text(key: &Path) -> Result<&str, CliError> {
    key.to_str().ok_or_else(|| {
        CliError::Usage(format!("{}: a session key must be valid UTF-8", key.display()))
    })
}

/// `run --postgres`: runs `command` holding the lock of `key`, waiting for it as `wait`
/// says. Returns the command's exit code (128+N when signal N killed it), or `wait`'s
/// code when the lock stays held.
pub fn run(url: &str, key: &Path, wait: run::Wait, command: &[OsString]) -> Result<u8, CliError> {
    if command.is_empty() {
        return Err(CliError::Usage("no command given".to_owned()));
    }
    let key = key_text(key)?;
    let fs = PgFs::connect_blocking(url)?;
    let builder = Builder::new().timeout(wait.timeout.unwrap_or(Duration::ZERO));
    let lock = fs.session_lock(builder.queue(wait.queue));
    let guard = match run::acquire(&lock, Path::new(key), wait.timeout) {
        Ok(guard) => guard,
        Err(busy) if busy.is_busy() => {
            busy.report();
            return Ok(wait.busy_code);
        }
        Err(e) => return Err(e),
    };
    let token = guard.fencing_token().map_or(0, |t| t.ino);
    let mut watch = match Watch::start(url, token) {
        Ok(watch) => watch,
        Err(source) => {
            let _ = guard.release_blocking();
            return Err(CliError::supervise("watch the lock from a second connection")(source));
        }
    };
    let caught = Caught::install().map_err(CliError::supervise("catch signals"))?;
    let mut bound = run::this_executable()?;
    bound
        .arg(BOUND_SUBCOMMAND)
        .arg("--parent")
        .arg(std::process::id().to_string())
        .arg("--")
        .args(command)
        .env(TOKEN_VAR, token.to_string())
        .env(KEY_VAR, key);
    caught.place(&mut bound);
    let mut child = match bound.spawn() {
        Ok(child) => child,
        Err(source) => {
            // Nothing ran under the lock; a failed release has nothing to add.
            let _ = guard.release_blocking();
            return Err(CliError::supervise("start the command")(source));
        }
    };
    let pid = child.id();
    watch.guard(pid);
    let mut trouble = false;
    let forwarder = caught.forward_to(pid).map_err(|e| {
        CliError::supervise("forward signals")(e).report();
        trouble = true;
    });
    if let Err(e) = run::exited(pid) {
        CliError::supervise("wait for the command")(e).report();
        trouble = true;
    }
    if let Ok(forwarder) = forwarder {
        forwarder.stop();
    }
    if let Some(why) = watch.stop() {
        eprintln!(
            "sessionlock: lost the lock of {key} (token {token}) while the command ran: {why}; \
             the command was killed"
        );
        trouble = true;
    }
    let status = child.wait();
    if let Err(error) = guard.release_blocking() {
        // Compromised, or the connection that held the lock ended (terminated, a server
        // restart or failover): either way the command may have run without it.
        eprintln!(
            "sessionlock: the lock of {key} (token {token}) may have been lost while the \
             command ran: {error}"
        );
        trouble = true;
    }
    let code = run::exit_code(status.map_err(CliError::supervise("wait for the command"))?);
    Ok(if trouble && code == 0 { EXIT_IO } else { code })
}

/// `__bound`: asks for `SIGKILL` when the parent `run` dies, then execs `command`.
/// Returns only on failure.
pub fn bound(parent: u32, command: &[OsString]) -> Result<u8, CliError> {
    let Some((program, args)) = command.split_first() else {
        return Err(CliError::Usage("no command given after `--`".to_owned()));
    };
    set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(|e| CliError::supervise("tie the command to `sessionlock run`")(e.into()))?;
    // Asked after the request, so a `run` that died before it is seen here.
    if getppid().map(|p| p.as_raw_pid().unsigned_abs()) != Some(parent) {
        return Err(CliError::supervise("run the command")(io::Error::other(
            "`sessionlock run` ended before it started, and its lock with it",
        )));
    }
    let source = Command::new(program).args(args).exec();
    Err(CliError::Spawn { program: program.to_string_lossy().into_owned(), source })
}

/// `inspect --postgres`: the lock rows at `keys` (every row when there are none).
pub fn inspect(url: &str, keys: &[PathBuf], json: bool) -> Result<u8, CliError> {
    let keys = keys.iter().map(|k| key_text(k)).collect::<Result<Vec<_>, _>>()?;
    let fs = PgFs::connect_blocking(url)?;
    let rows = fs.rows_blocking(&keys).map_err(CliError::Db)?;
    // A key named but without a row: no lock (said so, never left out).
    let mut lines: Vec<(String, Option<&LockRow>)> =
        rows.iter().map(|r| (r.key.clone(), Some(r))).collect();
    for key in keys {
        if !rows.iter().any(|r| r.key == key) && !lines.iter().any(|(k, _)| k == key) {
            lines.push((key.to_owned(), None));
        }
    }
    let mut out = io::stdout().lock();
    if json {
        let array: Vec<JsonRow> = lines.iter().map(|(k, r)| JsonRow::of(k, *r)).collect();
        serde_json::to_writer_pretty(&mut out, &array).map_err(io::Error::from)?;
        writeln!(out)?;
    } else {
        print_table(&mut out, &lines)?;
    }
    out.flush()?;
    Ok(0)
}

/// One object of `inspect --postgres --json`.
#[derive(Serialize)]
struct JsonRow<'a> {
    key: &'a str,
    /// `lock-row`, or `nothing`.
    found: &'static str,
    /// Whether a session holds the row's advisory lock: its holder is alive.
    held: bool,
    /// The advisory lock is free: the holder's session ended, the row may be removed.
    stale: bool,
    generation: Option<u64>,
    host: Option<&'a str>,
    /// The holder's pid on its host (never judged).
    pid: Option<u32>,
    age_ms: Option<u64>,
}

impl<'a> JsonRow<'a> {
    fn of(key: &'a str, row: Option<&'a LockRow>) -> Self {
        Self {
            key,
            found: if row.is_some() { "lock-row" } else { "nothing" },
            held: row.is_some_and(|r| r.held),
            stale: row.is_some_and(|r| !r.held),
            generation: row.map(|r| r.generation),
            host: row.map(|r| r.host.as_str()),
            pid: row.map(|r| r.pid),
            age_ms: row.map(|r| r.age.as_millis().try_into().unwrap_or(u64::MAX)),
        }
    }
}

const HEADER: [&str; 6] = ["STATUS", "GENERATION", "HOST", "PID", "AGE", "KEY"];

fn print_table(out: &mut impl Write, lines: &[(String, Option<&LockRow>)]) -> io::Result<()> {
    if lines.is_empty() {
        return writeln!(out, "no lock rows");
    }
    let dash = || "-".to_owned();
    let cells = lines.iter().map(|(key, row)| match row {
        Some(r) => [
            if r.held { "held" } else { "stale" }.to_owned(),
            r.generation.to_string(),
            r.host.clone(),
            r.pid.to_string(),
            format!("{:.1}s", r.age.as_secs_f64()),
            key.clone(),
        ],
        None => ["no lock".to_owned(), dash(), dash(), dash(), dash(), key.clone()],
    });
    inspect::print_columns(out, HEADER, cells)
}

/// `clean --postgres`: removes the rows whose advisory lock is free, each through the
/// core's probe, as a contender would: under that advisory lock, and only if the row
/// still has the generation judged. A held row, however old, is kept.
pub fn clean(url: &str, dry_run: bool) -> Result<u8, CliError> {
    let fs = PgFs::connect_blocking(url)?;
    let rows = fs.rows_blocking(&[]).map_err(CliError::Db)?;
    let lock: PgSessionLock = fs.session_lock(Builder::new());
    let mut out = io::stdout().lock();
    let mut tally = Tally::default();
    let mut code = 0;
    for row in &rows {
        let path = LockPath::from_canonical(row.key.as_str());
        let disposition =
            if dry_run { clean::look(&lock, &path) } else { clean::clean(&lock, &path) };
        let disposition = disposition.unwrap_or_else(|error| clean::failed(error, &mut code));
        clean::report(&mut out, &path, &disposition, dry_run, &mut tally)?;
    }
    clean::summary(&mut out, &tally, dry_run)?;
    out.flush()?;
    Ok(code)
}
