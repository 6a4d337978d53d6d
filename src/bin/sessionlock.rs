//! `sessionlock`: look at, clean up, and hold session locks from the shell.
//!
//! - `inspect PATH...` says who holds each lock, changing nothing.
//! - `clean DIR` removes the lock files whose holders are provably gone.
//! - `run FILE CMD...` holds a session's lock while a command runs (the command
//!   inherits the lock; `run` supervises it and forwards signals to it). As in flock(1),
//!   `--` before the command is optional, `-n` fails at once if the lock is held, and
//!   `-E CODE` sets the exit code for a held lock.
//! - With `--postgres URL` (or `SESSIONLOCK_POSTGRES`), the same over a PostgreSQL
//!   database's lock rows, for writers on several hosts (`pg.rs`); `schema` prints the
//!   SQL of its tables.
//!
//! Exit codes: 0 success (or, for `run`, the command's own code; 128+N when a signal N
//! killed it), 1 an I/O failure, 2 bad usage or input, 75 (`EX_TEMPFAIL`, or `-E`'s) the
//! lock stayed held past `--timeout` (or was held, with `-n`), 126/127 the command could
//! not be run / was not found; over PostgreSQL, 69 (`EX_UNAVAILABLE`) the server could
//! not be reached, 78 (`EX_CONFIG`) it is misconfigured (the connection string, the
//! login, the lock tables, a pooler).

// A binary's root resolves `mod` beside itself, so the submodules are named by path.
#[path = "sessionlock/channel.rs"]
mod channel;
#[path = "sessionlock/clean.rs"]
mod clean;
#[path = "sessionlock/error.rs"]
mod error;
#[path = "sessionlock/hold.rs"]
mod hold;
#[path = "sessionlock/inspect.rs"]
mod inspect;
#[path = "sessionlock/pg.rs"]
mod pg;
#[path = "sessionlock/run.rs"]
mod run;
#[path = "sessionlock/signals.rs"]
mod signals;
#[path = "sessionlock/targets.rs"]
mod targets;
#[path = "sessionlock/watch.rs"]
mod watch;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sessionlock::OUTCOME_TARGET;
use tracing_subscriber::Layer;

const TOP_EXAMPLES: &str = "\
Examples:
  sessionlock inspect sessions/                      # who holds which lock
  sessionlock clean --dry-run sessions/              # which locks are provably stale
  sessionlock run sessions/s.jsonl ./append.sh       # hold a session's lock for a command
  sessionlock run --postgres 'host=db user=app dbname=locks' tenant-7/s-42 ./append.sh

Exit codes: 0 ok, 1 I/O failure, 2 bad usage or input, 75 lock held (past --timeout, or at
once with -n; -E sets another); `run` passes its
command's code through (128+N if signal N killed it; 126/127 if it could not be run).
PostgreSQL (`--postgres URL` or $SESSIONLOCK_POSTGRES): 69 server unreachable, 78 bad
configuration (connection string, login, lock tables, a transaction-mode pooler).
`sessionlock help <COMMAND>` shows each command's examples.";

const INSPECT_EXAMPLES: &str = "\
Examples:
  sessionlock inspect sessions/s.jsonl          # the lock of one session (s.jsonl.lock)
  sessionlock inspect sessions/                 # every *.lock in a directory
  sessionlock inspect --json sessions/ | jq '.[] | select(.stale)'
  sessionlock inspect --postgres \"$URL\"          # every lock row of a PostgreSQL store

JSON: one array with an object per lock path: path, found (\"lock-file\", \"nothing\",
or what sits there instead: \"fifo\", \"symlink\", \"directory\", ...), held (a lock
file is there and its holder is not proven gone), pid, alive (true, false, or null when
unknown), kernel_held, age_ms, max_hold_ms (the declared hold budget), stale_in_ms (a file with no
usable payload: when it becomes stale, unless written meanwhile), stale, reasons.
With --postgres, an object per lock row: key, found (\"lock-row\" or \"nothing\"), held
(a session holds its advisory lock: alive), stale (the lock is free: provably dead),
generation, host, pid (never judged), age_ms (by the server's clock, only reported).";

const CLEAN_EXAMPLES: &str = "\
Examples:
  sessionlock clean --dry-run sessions/   # list what would go, remove nothing
  sessionlock clean sessions/             # remove provably stale locks
  sessionlock clean --postgres \"$URL\"     # remove the lock rows whose holders are gone

Only a lock whose holder is proven gone is removed: a sessionlock file whose kernel lock
nobody holds, or an original-format file naming a dead or recycled pid. The removal is
made under the file's kernel lock and bound to the inode that was judged. A live lock,
however old, is kept. Over PostgreSQL, a row is removed only if no session holds its
advisory lock, under that lock, and only if it still has the generation judged.";

const RUN_EXAMPLES: &str = "\
Examples:
  sessionlock run sessions/s.jsonl ./append-turn.sh
  sessionlock run --timeout 30s sessions/s.jsonl sh -c 'echo hi >> sessions/s.jsonl'
  sessionlock run -n -E 0 sessions/s.jsonl ./append-turn.sh   # skip if busy, exit 0

Options go before FILE's command (`--` before it is optional, as in flock(1)). While it
waits, it prints one line naming the holder (none with --timeout 0). The command's exit
code is passed through (128+N if signal N killed it); 75 (or -E's code) means the lock
was held: past --timeout, or at once with -n.

The command holds the lock: it inherits the lock file's descriptor (its number is in
$SESSIONLOCK_FD) and the lock file names its pid. SIGINT, SIGTERM, SIGHUP and SIGQUIT
sent to sessionlock are passed on to the command, and the lock is released only once
the command has exited. Even if sessionlock is killed, the lock stays held until the
command (and whatever it started that kept the descriptor) has exited. A command that
starts background processes should close the descriptor in them:
  sessionlock run s.jsonl -- bash -c 'my-daemon {SESSIONLOCK_FD}>&- & ./append.sh'
Warns when FILE is a symlink or has other hard links: the lock is per name.

With --postgres URL (or $SESSIONLOCK_POSTGRES), FILE is a session key, the same on every
host, and the lock is a row of the database held by `run`'s own connection: the command
cannot inherit it. `run` holds it until the command has exited, and the kernel kills the
command if `run` dies (even by SIGKILL: its connection ends, and the lock with it); if
the lock is lost while `run` lives (a terminated session, a server restart), `run` kills
the command at once and exits 137. The
command gets $SESSIONLOCK_FENCING_TOKEN (grows with every holder) and $SESSIONLOCK_KEY:
a write checked against the token at commit (sessionlock::pg::append_fenced) is rejected
once the lock was lost, whatever the writer.
  SESSIONLOCK_POSTGRES='host=db user=app dbname=locks' sessionlock run tenant-7/s-42 -- ./turn.sh";

/// Look at, clean up, and hold locks on session files.
#[derive(Debug, Parser)]
#[command(name = "sessionlock", version, propagate_version = true)]
#[command(after_help = TOP_EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Say who holds each lock, without taking or removing anything.
    #[command(after_help = INSPECT_EXAMPLES)]
    Inspect {
        /// Lock files (`*.lock`), session files (meaning `<file>.lock`), or directories
        /// (every `*.lock` in them, not recursive). With `--postgres`: session keys
        /// (none: every lock row).
        #[arg(required_unless_present = "postgres", value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Print one JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: Store,
    },
    /// Remove the lock files in DIR whose holders are provably gone.
    #[command(after_help = CLEAN_EXAMPLES)]
    Clean {
        /// The directory to clean (not recursive); not with `--postgres`.
        #[arg(required_unless_present = "postgres", conflicts_with = "postgres")]
        dir: Option<PathBuf>,
        /// Report what would be removed, and remove nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        store: Store,
    },
    /// Hold the lock of FILE while CMD runs.
    #[command(after_help = RUN_EXAMPLES)]
    Run {
        /// The session file to lock (its lock is `FILE.lock`); with `--postgres`, the
        /// session key.
        file: PathBuf,
        #[command(flatten)]
        wait: Wait,
        #[command(flatten)]
        store: Store,
        /// The command and its arguments (`--` before it is optional, as in flock(1)).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        #[arg(value_name = "CMD")]
        command: Vec<OsString>,
    },
    /// Print the SQL that creates the PostgreSQL lock tables, for a role that may create
    /// tables (`run`, `inspect` and `clean` create them themselves when they may).
    Schema,
    /// Internal: the process `run` starts to take the lock and exec the command.
    #[command(name = "__hold", hide = true)]
    Hold {
        /// The session file to lock.
        file: PathBuf,
        #[command(flatten)]
        wait: Wait,
        /// The name of `run`'s hand-off channel.
        #[arg(long)]
        channel: String,
        /// The command and its arguments (after `--`).
        #[arg(required = true, last = true, value_name = "CMD")]
        command: Vec<OsString>,
    },
    /// Internal: the process `run --postgres` starts, tied to `run`, to exec the command.
    #[command(name = "__bound", hide = true)]
    Bound {
        /// The pid of `run`.
        #[arg(long)]
        parent: u32,
        /// The command and its arguments (after `--`).
        #[arg(required = true, last = true, value_name = "CMD")]
        command: Vec<OsString>,
    },
}

/// Where the locks live: lock files (the default), or a PostgreSQL database.
#[derive(Debug, clap::Args)]
struct Store {
    /// Use the lock rows of this PostgreSQL database (a libpq connection string or URL,
    /// without TLS) instead of lock files.
    #[arg(long, value_name = "URL", env = "SESSIONLOCK_POSTGRES", hide_env_values = true)]
    postgres: Option<String>,
}

/// How `run` waits for a held lock, and how it says it gave up; its holder process gets
/// the same flags.
#[derive(Clone, Copy, Debug, clap::Args)]
struct Wait {
    /// How long to wait for the lock: `500ms`, `1s`, `2m`, ... (`0`: no wait, no
    /// waiting line).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    timeout: Duration,
    /// Do not wait: fail at once if the lock is held.
    #[arg(short = 'n', long, conflicts_with = "timeout")]
    nonblock: bool,
    /// The exit code when the lock is held (at once with `-n`, else at the timeout).
    #[arg(short = 'E', long, value_name = "CODE", default_value_t = error::EXIT_TIMEOUT)]
    conflict_exit_code: u8,
    /// Wait in the cross-process queue: first come, first served among the processes
    /// that also use it (every process sharing the lock should).
    #[arg(long, env = "SESSIONLOCK_QUEUE", value_parser = clap::builder::BoolishValueParser::new())]
    queue: bool,
}

impl From<Wait> for run::Wait {
    fn from(w: Wait) -> Self {
        let timeout = if w.nonblock { None } else { Some(w.timeout) };
        Self { timeout, busy_code: w.conflict_exit_code, queue: w.queue }
    }
}

/// Parses a human duration such as `1s`, `500ms` or `2m`.
fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (try `500ms`, `1s` or `2m`)"))
}

fn main() -> ExitCode {
    // The library reports what it could not do, and a directory where locks fall back
    // to heuristics (NFS, no flock), through tracing: show warnings on stderr. What it
    // also returns as an error (a timeout, a compromised lock), the CLI says itself, once.
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let told_by_us = |meta: &tracing::Metadata<'_>| meta.target() != OUTCOME_TARGET;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .without_time()
                .with_filter(tracing_subscriber::filter::LevelFilter::WARN)
                .with_filter(tracing_subscriber::filter::filter_fn(told_by_us)),
        )
        .init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Inspect { paths, json, store: Store { postgres: Some(url) } } => {
            pg::inspect(&url, &paths, json)
        }
        Command::Inspect { paths, json, store: Store { postgres: None } } => {
            inspect::main(&paths, json)
        }
        Command::Clean { dry_run, store: Store { postgres: Some(url) }, .. } => {
            pg::clean(&url, dry_run)
        }
        Command::Clean { dir, dry_run, store: Store { postgres: None } } => {
            clean::main(&dir.unwrap_or_default(), dry_run)
        }
        Command::Run { file, wait, store: Store { postgres: Some(url) }, command } => {
            pg::run(&url, &file, wait.into(), &command)
        }
        Command::Run { file, wait, store: Store { postgres: None }, command } => {
            run::main(&file, wait.into(), &command)
        }
        Command::Schema => {
            print!("{}", sessionlock::pg::SCHEMA);
            Ok(0)
        }
        Command::Bound { parent, command } => pg::bound(parent, &command),
        Command::Hold { file, wait, channel, command } => {
            hold::main(&file, wait.into(), &channel, &command)
        }
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            error.report();
            ExitCode::from(error.exit_code())
        }
    }
}
