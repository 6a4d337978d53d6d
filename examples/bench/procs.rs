//! `procs`: P processes (this program again) each take one path's lock R times, holding it
//! H ms (`thread::sleep`), all let go from a start barrier at once.
//!
//! Every round records four CLOCK_MONOTONIC instants (acquire called, acquired, release
//! called, released), which compare across processes. From them:
//! - `wait_*`: acquire called → acquired.
//! - `handoff_*_us`: one holder's `release_blocking` returning → the next holder's
//!   `acquire_blocking` returning, for every pair where the next holder was already
//!   waiting when the release began. Negative when the waiter, woken by the close inside
//!   the release, got in before the releaser's call returned.
//!   `handoff_from_release_call_*_us` measures from the release's call instead.
//! - `per_proc` and `fairness`: acquisitions per process in the window from the start to
//!   the moment the first process completes its R rounds (with equal rounds the full
//!   counts would be equal by construction). `fairness` = min / max of `per_proc`: 1.0
//!   when the processes share the lock evenly, near 0 when one process barges ahead.
//! - `overtaking_acquires`: grants to a round that overtook a longer-waiting round of
//!   another process; `releaser_reacquired`: grants to the process that had just
//!   released, while another process was waiting.
//! - `contended_per_acquire`, `kernel_waits_per_acquire`: failed publishes and kernel
//!   waits per grant, from an observer in each process.
//!
//! `--hold spin` holds by spinning for exactly H instead of `thread::sleep`, which
//! overshoots every hold by the timer's slack (about 85 µs per 1 ms hold here): the
//! hand-offs' cost is then what the lock adds. `hold_p50_us` is the median hold as
//! measured.
//!
//! `--hold-us` sets the hold in microseconds instead of `--hold-ms`. `--dump PATH` writes
//! every round (process, then the four instants) for offline analysis.
//!
//! `--think-us T` makes each process pause T µs between its release and its next
//! acquire (default 0: it re-acquires at once).
//!
//! `--queue 1` makes every worker wait in the cross-process queue (`Builder::queue`):
//! first come, first served, one wake per release (default 0: the race of each release).
//!
//! `--backend postgres` runs every worker on `PgFs` (see `pg.rs`), on one session key;
//! the line then also has `select1_us` (one `SELECT 1` round trip) and `handoff_p50_rtt`
//! (the median hand-off in those round trips).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use sessionlock::SessionFs;
use sessionlock::{AcquireError, Owner, RealClock, SessionLock};
use sessionlock::{Event, Observer};

use crate::args::Flags;
use crate::stats::{json_line, mono_ns, ms, quantile, round};

/// The hidden scenario name the worker processes run.
pub const WORKER: &str = "__procs-worker";

/// One round, as CLOCK_MONOTONIC nanoseconds.
#[derive(Clone, Copy, Debug)]
struct Round {
    proc: usize,
    called: u64,
    acquired: u64,
    releasing: u64,
    released: u64,
}

/// Runs the scenario with its session in `dir` and returns its JSON line.
pub fn run(flags: &Flags, dir: &Path) -> Result<String, String> {
    let procs = flags.num("procs", 8)?;
    let rounds = flags.num("rounds", 10)?;
    let hold_us = flags.num("hold-us", flags.num("hold-ms", 1)? * 1000)?;
    let think_us = flags.num("think-us", 0)?;
    let queue = flags.num("queue", 0)?;
    let spin = match flags.text("hold") {
        None | Some("sleep") => false,
        Some("spin") => true,
        Some(other) => return Err(format!("--hold takes sleep or spin, not {other}")),
    };
    if queue > 1 {
        return Err(format!("--queue takes 0 or 1, not {queue}"));
    }
    let postgres = flags.text("backend") == Some("postgres");
    let pg_url = if postgres { Some(pg_url(flags)?) } else { None };
    let session = match postgres {
        true => format!("bench/procs/{}", std::process::id()).into(),
        false => dir.join("procs.jsonl"),
    };
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut children = Vec::new();
    for _ in 0..procs {
        let mut cmd = Command::new(&exe);
        cmd.args([WORKER, "--session"])
            .arg(&session)
            .args(["--rounds", &rounds.to_string(), "--hold-us", &hold_us.to_string()])
            .args(["--think-us", &think_us.to_string(), "--queue", &queue.to_string()])
            .args(["--hold", if spin { "spin" } else { "sleep" }]);
        if let Some(url) = &pg_url {
            cmd.args(["--backend", "postgres", "--pg-url", url]);
        }
        let child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawning a worker: {e}"))?;
        children.push(Worker::new(child)?);
    }
    for w in &mut children {
        w.expect_ready()?;
    }
    for w in &mut children {
        w.go()?;
    }
    let mut all = Vec::new();
    let mut counts = [0; 4];
    for (i, w) in children.into_iter().enumerate() {
        let (rounds, c) = w.collect(i)?;
        all.extend(rounds);
        counts.iter_mut().zip(c).for_each(|(a, b)| *a += b);
    }
    if let Some(dump) = flags.text("dump") {
        let text: Vec<String> = all
            .iter()
            .map(|r| {
                format!("{} {} {} {} {}", r.proc, r.called, r.acquired, r.releasing, r.released)
            })
            .collect();
        std::fs::write(dump, text.join("\n")).map_err(|e| e.to_string())?;
    }
    let plan = [procs, rounds, hold_us, think_us, queue, u64::from(spin)];
    let select1_us = match &pg_url {
        Some(url) => Some(select1_us(url)?),
        None => None,
    };
    Ok(report(plan, &mut all, counts, select1_us))
}

#[cfg(feature = "postgres")]
fn pg_url(flags: &Flags) -> Result<String, String> {
    crate::pg::url(flags)
}

#[cfg(not(feature = "postgres"))]
fn pg_url(_: &Flags) -> Result<String, String> {
    Err("--backend postgres needs the postgres feature (--features postgres)".into())
}

#[cfg(feature = "postgres")]
fn select1_us(url: &str) -> Result<f64, String> {
    crate::pg::select1_us(url, 2000)
}

#[cfg(not(feature = "postgres"))]
fn select1_us(_: &str) -> Result<f64, String> {
    unreachable!("pg_url refused the backend")
}

/// A worker process and its stdout.
struct Worker {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Worker {
    fn new(mut child: Child) -> Result<Self, String> {
        let out = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        Ok(Self { child, out })
    }

    fn expect_ready(&mut self) -> Result<(), String> {
        let mut line = String::new();
        self.out.read_line(&mut line).map_err(|e| e.to_string())?;
        if line.trim() == "ready" { Ok(()) } else { Err(format!("worker said {line:?}")) }
    }

    fn go(&mut self) -> Result<(), String> {
        let stdin = self.child.stdin.as_mut().ok_or("no stdin")?;
        stdin.write_all(b"go\n").and_then(|()| stdin.flush()).map_err(|e| e.to_string())
    }

    /// Reads the worker's rounds and timeout count, and reaps it.
    fn collect(mut self, proc: usize) -> Result<(Vec<Round>, [u64; 4]), String> {
        let (mut rounds, mut counts) = (Vec::new(), [0; 4]);
        for line in self.out.lines() {
            let line = line.map_err(|e| e.to_string())?;
            let f: Vec<u64> = line.split(' ').skip(1).filter_map(|w| w.parse().ok()).collect();
            match (line.split(' ').next(), f.as_slice()) {
                (Some("r"), &[called, acquired, releasing, released]) => {
                    rounds.push(Round { proc, called, acquired, releasing, released });
                }
                (Some("t"), _) => counts[0] += 1,
                (Some("c"), &[contended, kernel_waits, broke]) => {
                    counts[1..].copy_from_slice(&[contended, kernel_waits, broke]);
                }
                _ => return Err(format!("worker {proc} said {line:?}")),
            }
        }
        let status = self.child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("worker {proc} failed: {status}"));
        }
        Ok((rounds, counts))
    }
}

/// The body of a worker process: wait for the go, run the rounds, print them.
pub fn worker(flags: &Flags) -> Result<(), String> {
    let session = flags.text("session").ok_or("--session is required")?;
    let rounds = flags.num("rounds", 10)?;
    let hold = Duration::from_micros(flags.num("hold-us", 1000)?);
    let hold = Hold { length: hold, spin: flags.text("hold") == Some("spin") };
    let think = Duration::from_micros(flags.num("think-us", 0)?);
    let counts = Arc::new(Counts::default());
    let builder =
        SessionLock::builder().queue(flags.num("queue", 0)? == 1).observer(counts.clone());
    match flags.text("backend") {
        Some("postgres") => {
            let url = flags.text("pg-url").ok_or("--pg-url is required")?;
            rounds_on(&pg_lock(url, builder)?, session, rounds, hold, think, &counts)
        }
        _ => rounds_on(&builder.build(), session, rounds, hold, think, &counts),
    }
}

#[cfg(feature = "postgres")]
fn pg_lock(
    url: &str,
    builder: sessionlock::Builder,
) -> Result<sessionlock::pg::PgSessionLock, String> {
    let fs = sessionlock::pg::PgFs::connect_blocking(url).map_err(|e| e.to_string())?;
    Ok(fs.session_lock(builder))
}

#[cfg(not(feature = "postgres"))]
fn pg_lock(_: &str, _: sessionlock::Builder) -> Result<SessionLock, String> {
    Err("--backend postgres needs the postgres feature".into())
}

/// The worker's rounds on `lock`, whatever its filesystem.
fn rounds_on<F: SessionFs>(
    lock: &sessionlock::SessionLock<F, RealClock>,
    session: &str,
    rounds: u64,
    hold: Hold,
    think: Duration,
    counts: &Counts,
) -> Result<(), String> {
    let owner = Owner::new();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").and_then(|()| out.flush()).map_err(|e| e.to_string())?;
    std::io::stdin().lock().read_line(&mut String::new()).map_err(|e| e.to_string())?;
    let mut lines = Vec::new();
    for round in 0..rounds {
        if round > 0 && !think.is_zero() {
            std::thread::sleep(think);
        }
        let called = mono_ns();
        let guard = match lock.acquire_blocking(session, owner) {
            Ok(guard) => guard,
            Err(AcquireError::Timeout { .. }) => {
                lines.push(format!("t {called}"));
                continue;
            }
            Err(e) => return Err(e.to_string()),
        };
        let acquired = mono_ns();
        hold.hold();
        let releasing = mono_ns();
        guard.release_blocking().map_err(|e| e.to_string())?;
        lines.push(format!("r {called} {acquired} {releasing} {}", mono_ns()));
    }
    let [contended, kernel_waits, broke] = counts.0.each_ref().map(|c| c.load(Ordering::Relaxed));
    lines.push(format!("c {contended} {kernel_waits} {broke}"));
    writeln!(out, "{}", lines.join("\n")).map_err(|e| e.to_string())
}

/// How a worker holds the lock each round.
#[derive(Clone, Copy)]
struct Hold {
    length: Duration,
    /// Spin for exactly `length` rather than sleep (which overshoots by the timer slack).
    spin: bool,
}

impl Hold {
    fn hold(self) {
        if !self.spin {
            return std::thread::sleep(self.length);
        }
        let start = std::time::Instant::now();
        while start.elapsed() < self.length {
            std::hint::spin_loop();
        }
    }
}

/// Counts what the lock did: failed publishes, kernel waits, stale locks broken.
#[derive(Default)]
struct Counts([AtomicU64; 3]);

impl Observer for Counts {
    fn event(&self, event: &Event<'_>) {
        let i = match event {
            Event::Contended { .. } => 0,
            Event::KernelWait { .. } => 1,
            Event::BrokeStale { .. } => 2,
            _ => return,
        };
        self.0[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// `plan`: processes, rounds, hold (µs), think time (µs), queue, spin (0 or 1). `counts`: timeouts, failed
/// publishes, kernel waits, stale locks broken. `select1_us`: the database round trip,
/// for the postgres backend.
fn report(plan: [u64; 6], all: &mut [Round], counts: [u64; 4], select1_us: Option<f64>) -> String {
    let [procs, rounds, hold_us, think_us, queue, spin] = plan;
    let [timeouts, contended, kernel_waits, broke] = counts;
    let acquired = all.len().max(1) as f64;
    let per_acquire = |n: u64| round(n as f64 / acquired, 2);
    all.sort_by_key(|r| r.acquired);
    let start = all.iter().map(|r| r.called).min().unwrap_or(0);
    let end = all.iter().map(|r| r.released).max().unwrap_or(0);
    let mut waits: Vec<f64> = all.iter().map(|r| ms(r.acquired - r.called)).collect();
    let mut releases: Vec<f64> = all.iter().map(|r| ms(r.released - r.releasing) * 1e3).collect();
    let mut holds: Vec<f64> = all.iter().map(|r| ms(r.releasing - r.acquired) * 1e3).collect();
    let waited_for: Vec<_> = all.windows(2).filter(|w| w[1].called < w[0].releasing).collect();
    let gap_us =
        |w: &&[Round], from: fn(&Round) -> u64| (w[1].acquired as f64 - from(&w[0]) as f64) / 1e3;
    let mut handoffs: Vec<f64> = waited_for.iter().map(|w| gap_us(w, |r| r.released)).collect();
    let mut from_call: Vec<f64> = waited_for.iter().map(|w| gap_us(w, |r| r.releasing)).collect();
    let (overtaken, by_releaser) = order(all);
    let per_proc = per_proc(procs as usize, all);
    let (min, max) = (per_proc.iter().min().copied(), per_proc.iter().max().copied());
    let fairness = min.zip(max).map_or(0.0, |(a, b)| a as f64 / b.max(1) as f64);
    let ideal_ms = (procs * rounds * hold_us) as f64 / 1e3;
    let total_ms = ms(end.saturating_sub(start));
    let handoff_p50 = quantile(&mut handoffs, 0.5);
    let mut fields = vec![
        ("scenario", "procs".into()),
        ("backend", if select1_us.is_some() { "postgres" } else { "files" }.into()),
        ("procs", procs.into()),
        ("rounds", rounds.into()),
        ("hold_us", hold_us.into()),
        ("hold", (if spin == 1 { "spin" } else { "sleep" }).into()),
        ("hold_p50_us", round(quantile(&mut holds, 0.5), 1)),
        ("think_us", think_us.into()),
        ("queue", (queue == 1).into()),
        ("total_ms", round(total_ms, 2)),
        ("ideal_ms", round(ideal_ms, 2)),
        ("ratio", round(total_ms / ideal_ms, 3)),
        ("acquired", (all.len() as u64).into()),
        ("acquires_per_s", round(all.len() as f64 / (total_ms / 1e3), 0)),
        ("timeouts", timeouts.into()),
        ("wait_p50_ms", round(quantile(&mut waits, 0.5), 3)),
        ("wait_p99_ms", round(quantile(&mut waits, 0.99), 3)),
        ("wait_max_ms", round(quantile(&mut waits, 1.0), 3)),
        ("handoffs", (handoffs.len() as u64).into()),
        ("handoff_p50_us", round(quantile(&mut handoffs, 0.5), 1)),
        ("handoff_p99_us", round(quantile(&mut handoffs, 0.99), 1)),
        ("handoff_max_us", round(quantile(&mut handoffs, 1.0), 1)),
        ("handoff_from_release_call_p50_us", round(quantile(&mut from_call, 0.5), 1)),
        ("handoff_from_release_call_p99_us", round(quantile(&mut from_call, 0.99), 1)),
        ("release_p50_us", round(quantile(&mut releases, 0.5), 1)),
        ("contended_per_acquire", per_acquire(contended)),
        ("kernel_waits_per_acquire", per_acquire(kernel_waits)),
        ("broke_stale", broke.into()),
        ("overtaking_acquires", overtaken.into()),
        ("releaser_reacquired", by_releaser.into()),
        ("per_proc", Value::from(per_proc)),
        ("fairness", round(fairness, 3)),
    ];
    if let Some(rtt) = select1_us {
        fields.push(("select1_us", round(rtt, 1)));
        fields.push(("handoff_p50_rtt", round(handoff_p50 / rtt, 2)));
    }
    json_line(&fields)
}

/// How far the grants were from first-come first-served: acquisitions that overtook a
/// round of another process that had been waiting longer, and acquisitions by the
/// process that had just released while another process was waiting.
fn order(all: &[Round]) -> (u64, u64) {
    let overtook = |a: &Round| {
        all.iter().any(|w| w.proc != a.proc && w.called < a.called && w.acquired > a.acquired)
    };
    let overtaken = all.iter().filter(|a| overtook(a)).count() as u64;
    let by_releaser = all
        .windows(2)
        .filter(|w| w[0].proc == w[1].proc)
        .filter(|w| {
            all.iter().any(|o| {
                o.proc != w[0].proc && o.called < w[0].releasing && o.acquired > w[1].acquired
            })
        })
        .count() as u64;
    (overtaken, by_releaser)
}

/// Acquisitions per process up to the moment the first process acquired for the last
/// time (its R-th round, or its last before timing out).
fn per_proc(procs: usize, all: &[Round]) -> Vec<u64> {
    let mut last = vec![0u64; procs];
    for r in all {
        last[r.proc] = last[r.proc].max(r.acquired);
    }
    let window_end = last.iter().copied().filter(|&t| t > 0).min().unwrap_or(0);
    let mut counts = vec![0u64; procs];
    for r in all.iter().filter(|r| r.acquired <= window_end) {
        counts[r.proc] += 1;
    }
    counts
}
