//! Lock benchmarks. Each run prints one JSON line.
//!
//! ```text
//! cargo run --release --features __model --example bench -- tasks --tasks 32 --rounds 3 --hold-ms 1
//! cargo run --release --features __model --example bench -- procs --procs 8 --rounds 10 --hold-ms 1
//! cargo run --release --features __model --example bench -- uncontended --iters 20000 [--dir PATH]
//! cargo run --release --features __model --example bench -- original --rounds 30
//! cargo run --release --features postgres,__model --example bench -- uncontended --backend postgres
//! cargo run --release --features postgres,__model --example bench -- procs --backend postgres [--pg-url URL]
//! ```
//!
//! The bench reaches below the public API (the core's acquire alone, the payload), so it
//! needs the workspace's hidden `__model` feature.
//!
//! `--backend postgres` runs on `PgFs`, against `--pg-url` or a throwaway loopback server.
//!
//! `tasks` and `procs` put their session in a fresh directory under `--dir` (default: the
//! system temporary directory). See BENCHMARKS.md for the figures and what limits them.
#![allow(clippy::disallowed_methods)] // benchmarks own real time: Instant::now is the point

#[path = "bench/args.rs"]
mod args;
#[path = "bench/original.rs"]
mod original;
#[cfg(feature = "postgres")]
#[path = "bench/pg.rs"]
mod pg;
#[cfg(feature = "postgres")]
#[path = "../tests/pg_server/mod.rs"]
mod pg_server;
#[path = "bench/procs.rs"]
mod procs;
#[path = "bench/stats.rs"]
mod stats;
#[path = "bench/tasks.rs"]
mod tasks;
#[path = "bench/uncontended.rs"]
mod uncontended;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let scenario = argv.next().unwrap_or_default();
    match bench(&scenario, argv) {
        Ok(Some(line)) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench {scenario}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench(scenario: &str, argv: impl Iterator<Item = String>) -> Result<Option<String>, String> {
    let known: &[&str] = match scenario {
        "tasks" => &["tasks", "rounds", "hold-ms", "hold", "lock", "dir"],
        "procs" => &[
            "procs", "rounds", "hold-ms", "hold-us", "hold", "think-us", "queue", "backend",
            "pg-url", "dump", "dir",
        ],
        "uncontended" => &["iters", "backend", "pg-url", "dir"],
        "original" => &["rounds", "settle-ms", "dir"],
        // The workers this program starts for itself take what it gives them.
        _ => &[],
    };
    let flags = args::Flags::parse(argv)?;
    let flags = if known.is_empty() { flags } else { flags.only(known)? };
    let scratch = || {
        let b = tempfile::Builder::new().prefix("bench").to_owned();
        match flags.text("dir") {
            Some(dir) => b.tempdir_in(dir),
            None => b.tempdir(),
        }
        .map_err(|e| format!("scratch directory: {e}"))
    };
    match scenario {
        "tasks" => tasks::run(&flags, scratch()?.path()).map(Some),
        "procs" => procs::run(&flags, scratch()?.path()).map(Some),
        "uncontended" if flags.text("backend") == Some("postgres") => uncontended_pg(&flags),
        "uncontended" => uncontended::run(&flags).map(Some),
        "original" => original::run(&flags, scratch()?.path()).map(Some),
        original::HOLDER => original::holder(&flags).map(|()| None),
        procs::WORKER => procs::worker(&flags).map(|()| None),
        other => {
            Err(format!("unknown scenario {other:?}; try tasks, procs, uncontended or original"))
        }
    }
}

#[cfg(feature = "postgres")]
fn uncontended_pg(flags: &args::Flags) -> Result<Option<String>, String> {
    pg::uncontended(flags).map(Some)
}

#[cfg(not(feature = "postgres"))]
fn uncontended_pg(_: &args::Flags) -> Result<Option<String>, String> {
    Err("--backend postgres needs the postgres feature (--features postgres)".into())
}
