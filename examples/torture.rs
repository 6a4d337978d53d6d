//! Crash torture: worker processes append numbered records to one session file under the
//! lock while a driver SIGKILLs them at random moments (waiting, holding, releasing) and
//! respawns them. At the end every line must be whole, every acknowledged record present
//! exactly once, no lock file left, and every dead holder's lock recovered by the kernel
//! proof (`KernelProvenDead`), never by age. Prints one JSON line of figures; exits 1 if
//! a check failed.
//!
//! ```text
//! cargo run --release --example torture -- [--workers 4] [--appends 20000] [--kills 300]
//!     [--hold-us 1000] [--fsync] [--seed N] [--dir PATH] [--keep] [--unlocked] [--queue]
//! ```
//!
//! `--queue` makes the workers wait in the cross-process queue (`Builder::queue`), so the
//! kills while waiting kill queued waiters; then no ticket may be left either.
//!
//! `--unlocked` makes the workers append *without* the lock, to show that the checks
//! catch overlapping writers (it must fail with `misplaced` > 0).
//!
//! The workers are this program again, run as `torture worker` (settings come through the
//! environment). `tests/torture.rs` runs a reduced version of the same code.

#[path = "torture/driver.rs"]
mod driver;
#[path = "torture/verify.rs"]
mod verify;
#[path = "torture/worker.rs"]
mod worker;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("worker") {
        let cfg = worker::WorkerConfig::from_env().expect("started by the torture driver");
        worker::run(&cfg);
    }
    match torture() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("torture: {e}");
            ExitCode::from(2)
        }
    }
}

struct Args {
    cfg: driver::Config,
    base: Option<PathBuf>,
    keep: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut cfg = driver::Config {
        dir: PathBuf::new(),
        workers: 4,
        appends: 20_000,
        kills: 300,
        hold_max_us: 1000,
        fsync: false,
        seed: worker::mono_ns(),
        unlocked: false,
        queue: false,
    };
    let (mut base, mut keep) = (None, false);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let num = |v: String| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--workers" => cfg.workers = num(value()?)? as usize,
            "--appends" => cfg.appends = num(value()?)?,
            "--kills" => cfg.kills = num(value()?)?,
            "--hold-us" => cfg.hold_max_us = num(value()?)?,
            "--seed" => cfg.seed = num(value()?)?,
            "--dir" => base = Some(PathBuf::from(value()?)),
            "--fsync" => cfg.fsync = true,
            "--unlocked" => cfg.unlocked = true,
            "--queue" => cfg.queue = true,
            "--keep" => keep = true,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if cfg.workers < 2 {
        return Err("--workers must be at least 2".into());
    }
    Ok(Args { cfg, base, keep })
}

fn torture() -> Result<bool, String> {
    let Args { mut cfg, base, keep } = parse_args()?;
    let tmp = match &base {
        Some(base) => tempfile::Builder::new().prefix("torture").tempdir_in(base),
        None => tempfile::Builder::new().prefix("torture").tempdir(),
    };
    let tmp = tmp.map_err(|e| format!("run directory: {e}"))?;
    cfg.dir = tmp.path().to_owned();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let spawner = move || {
        let mut cmd = Command::new(&exe);
        cmd.arg("worker");
        cmd
    };
    let run = driver::run(&cfg, &spawner)?;
    let figures = verify::check(&cfg.dir, &run)?;
    println!("{}", figures.to_json(&cfg));
    for e in &run.worker_errors {
        eprintln!("torture: {e}");
    }
    if keep {
        eprintln!("torture: run directory kept at {}", tmp.keep().display());
    }
    Ok(figures.passed())
}
