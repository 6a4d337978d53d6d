//! Mixed with the original lock: N appender processes that follow the original TypeScript
//! lock's rules and M appenders that take the lock through `sessionlock run`, on one
//! session file; afterwards, the sections that overlapped.
//!
//! ```text
//! cargo build --release --bin sessionlock
//! cargo run --release --example mixed -- --original 3 --ours 3 --sections 30 --runs 10 \
//!     [--batches 3] [--sessionlock target/release/sessionlock] [--work-us 1000] \
//!     [--gap-us 2000] [--pause-us 0] [--grace-ms 0] [--dir PATH]
//! ```
//!
//! Each section appends a begin and an end marker with its id, with `--work-us` of sleep
//! between; each appender sleeps `--gap-us` before each section. `--pause-us` is the
//! original's time between reading a lock file and judging it (its event loop resuming
//! after the read; zero: as fast as this code runs). An original appender does its sections in-process under the original's rules
//! (`mixed/original.rs`); one of ours runs `sessionlock run SESSION -- <this> section …`
//! once per section, so every section is a new short-lived `sessionlock` process.
//! `--grace-ms G` leaves each exited `sessionlock run` unreaped for G before reaping it:
//! a grace simulated from outside, for a binary that has none. Prints one line per run,
//! then per batch and overall: runs with any overlap / runs, and overlapped sections.
//! See BENCHMARKS.md.
#![allow(clippy::disallowed_methods)] // a measurement of real processes in real time

#[path = "bench/args.rs"]
mod args;
#[path = "mixed/original.rs"]
mod original;
#[path = "mixed/verify.rs"]
mod verify;
#[path = "mixed/workers.rs"]
mod workers;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use workers::Tally;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (mode, rest) = match argv.first().map(String::as_str) {
        Some(m) if !m.starts_with("--") => (m.to_owned(), argv[1..].to_vec()),
        _ => ("drive".to_owned(), argv),
    };
    let outcome = args::Flags::parse(rest).and_then(|flags| match mode.as_str() {
        "drive" => drive(&flags.only(&DRIVE_FLAGS)?),
        "section" => workers::section(&flags),
        "original-worker" => workers::original_worker(&flags).map(|t| println!("{}", t.line())),
        "ours-worker" => workers::ours_worker(&flags).map(|t| println!("{}", t.line())),
        other => Err(format!("unknown mode {other:?}")),
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mixed {mode}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The flags `drive` (the mode people run) takes.
const DRIVE_FLAGS: [&str; 11] = [
    "original",
    "ours",
    "runs",
    "batches",
    "sessionlock",
    "grace-ms",
    "dir",
    "sections",
    "work-us",
    "gap-us",
    "pause-us",
];

/// The flags passed on to every appender, with their defaults.
const DEFAULTS: [(&str, u64); 4] =
    [("sections", 30), ("work-us", 1000), ("gap-us", 2000), ("pause-us", 0)];

/// What one run found.
struct RunResult {
    sections: verify::Sections,
    tally: Tally,
    seconds: f64,
}

fn drive(flags: &args::Flags) -> Result<(), String> {
    let runs = flags.num("runs", 10)?;
    let batches = flags.num("batches", 1)?;
    let binary = match flags.text("sessionlock") {
        Some(b) => b.to_owned(),
        None => default_binary()?,
    };
    let mut settings =
        format!("original {}, ours {}", flags.num("original", 3)?, flags.num("ours", 3)?);
    for (flag, default) in DEFAULTS.into_iter().chain([("grace-ms", 0)]) {
        settings += &format!(", {flag} {}", flags.num(flag, default)?);
    }
    println!("# sessionlock {binary}; {settings}");
    let mut rates = Vec::new();
    let (mut any_total, mut overlapped_total, mut sections_total) = (0, 0, 0);
    for batch in 1..=batches {
        let (mut any, mut overlapped, mut sections) = (0, 0, 0);
        for run in 1..=runs {
            let r = one_run(flags, &binary)?;
            let s = &r.sections;
            let t = &r.tally;
            println!(
                "batch {batch} run {run}: sections {} complete {} overlapped {} (pairs o+o {}, o+u {}, u+u {}) malformed {}; original stale verdicts {}, timeouts {}, compromised reported {}, other failures {}; {:.1}s",
                s.begun,
                s.complete,
                s.overlapped,
                s.pairs[0],
                s.pairs[1],
                s.pairs[2],
                s.malformed,
                t.removed,
                t.timeouts,
                t.compromised,
                t.failed,
                r.seconds
            );
            any += u64::from(s.overlapped > 0);
            overlapped += s.overlapped;
            sections += s.begun;
        }
        println!(
            "batch {batch}: runs with overlap {any}/{runs}, overlapped sections {overlapped}/{sections}"
        );
        rates.push(any);
        any_total += any;
        overlapped_total += overlapped;
        sections_total += sections;
    }
    rates.sort_unstable();
    let (min, max) = (rates[0], rates[rates.len() - 1]);
    let median = rates[rates.len() / 2];
    println!(
        "total: runs with overlap {any_total}/{}, per batch of {runs}: median {median} [{min}, {max}]; overlapped sections {overlapped_total}/{sections_total}",
        runs * batches
    );
    Ok(())
}

fn default_binary() -> Result<String, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let release = me.parent().and_then(Path::parent).ok_or("no target directory")?;
    Ok(release.join("sessionlock").to_string_lossy().into_owned())
}

/// One run: every appender on a fresh session file, then the scan.
fn one_run(flags: &args::Flags, binary: &str) -> Result<RunResult, String> {
    let dir = match flags.text("dir") {
        Some(d) => tempfile::Builder::new().prefix("mixed").tempdir_in(d),
        None => tempfile::Builder::new().prefix("mixed").tempdir(),
    }
    .map_err(|e| format!("scratch directory: {e}"))?;
    let session = dir.path().join("s.jsonl");
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let start = std::time::SystemTime::now() + std::time::Duration::from_millis(300);
    let start_ms = start.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
    let common = |mode: &str, id: String| -> Result<Command, String> {
        let mut cmd = Command::new(&me);
        cmd.arg(mode).arg("--session").arg(&session).args(["--id", &id]);
        cmd.args(["--start-ms", &start_ms.to_string()]);
        for (flag, default) in DEFAULTS {
            cmd.args([format!("--{flag}"), flags.num(flag, default)?.to_string()]);
        }
        cmd.stdout(Stdio::piped());
        Ok(cmd)
    };
    let started = Instant::now();
    let mut children = Vec::new();
    for n in 0..flags.num("original", 3)? {
        children.push(common("original-worker", format!("o{n}"))?.spawn());
    }
    for n in 0..flags.num("ours", 3)? {
        let mut cmd = common("ours-worker", format!("u{n}"))?;
        cmd.args(["--sessionlock", binary, "--grace-ms", &flags.num("grace-ms", 0)?.to_string()]);
        children.push(cmd.spawn());
    }
    let mut tally = Tally::default();
    for child in children {
        let mut child = child.map_err(|e| format!("spawn: {e}"))?;
        let out = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let last = out.lines().map_while(Result::ok).filter_map(|l| Tally::parse(&l)).last();
        let status = child.wait().map_err(|e| e.to_string())?;
        match last {
            Some(t) if status.success() => tally.add(t),
            _ => return Err(format!("an appender failed: {status}")),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&session).map_err(|e| format!("session: {e}"))?;
    Ok(RunResult { sections: verify::scan(&text), tally, seconds })
}
