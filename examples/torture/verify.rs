//! Checks a finished torture run and computes its figures.
//!
//! - **torn**: a line that is not one whole record (wrong length, not JSON, fields missing).
//! - **misplaced**: a record not at the offset its writer saw under the lock: another
//!   writer appended while it held the lock (a mutual exclusion failure).
//! - **duplicated**: a `(worker, seq)` present more than once.
//! - **lost**: an acknowledged `(worker, seq)` absent from the session.
//! - **recovery**: from the SIGKILL of a holder to the next acquisition by anyone.
//! - **stale_not_kernel**: a stale lock broken for any reason but `KernelProvenDead`
//!   (an age or grace takeover, which a SIGKILLed sessionlock holder must never need).

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;

use crate::driver::{Config, Run};
use crate::worker::{Phase, RECORD_LEN, session_path};

/// The figures of one run.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Records in the session file.
    pub appends: u64,
    /// Records acknowledged by their writers.
    pub acked: u64,
    /// SIGKILLs delivered, and by the victim's phase.
    pub kills: u64,
    /// Victims that held the lock.
    pub kills_while_holding: u64,
    /// Victims inside `acquire_blocking`.
    pub kills_while_waiting: u64,
    /// Victims inside `acquire_blocking` with a ticket in the queue just before their kill
    /// (with `--queue`): queued waiters.
    pub kills_while_queued: u64,
    /// Victims inside `release_blocking`.
    pub kills_while_releasing: u64,
    /// Victims between rounds (acknowledging, or not started yet).
    pub kills_other: u64,
    /// See the module docs.
    pub lost: u64,
    /// See the module docs.
    pub torn: u64,
    /// See the module docs.
    pub duplicated: u64,
    /// See the module docs.
    pub misplaced: u64,
    /// Stale locks broken as `KernelProvenDead`.
    pub broke_kernel_proven_dead: u64,
    /// See the module docs.
    pub stale_not_kernel: u64,
    /// Acquires that timed out, and releases that found their lock compromised.
    pub timeouts: u64,
    /// See [`Figures::timeouts`].
    pub compromised: u64,
    /// Workers that failed on their own.
    pub worker_errors: u64,
    /// A lock file was left after every worker stopped cleanly.
    pub lock_file_left: bool,
    /// Queue tickets left beside the lock file: a dead waiter's ticket that no later
    /// acquire removed, or a live one's that its release or give-up left behind.
    pub tickets_left: u64,
    /// Holder kills after which no acquisition was seen.
    pub unrecovered: u64,
    /// The longest any acquire waited (`Acquired.waited`), in milliseconds.
    pub acquire_wait_max_ms: f64,
    /// Recovery latencies, in milliseconds, sorted.
    pub recovery_ms: Vec<f64>,
    /// The run's wall time in seconds.
    pub elapsed_s: f64,
}

/// The facts the workers logged.
#[derive(Default)]
struct Logs {
    acquired_ns: Vec<u64>,
    max_wait_us: u64,
    acked: HashSet<(u64, u64)>,
    broke: Vec<String>,
    timeouts: u64,
    compromised: u64,
    errors: u64,
}

/// Checks the run in `dir` that the driver reported as `run`.
///
/// # Errors
/// When the run directory cannot be read.
pub fn check(dir: &Path, run: &Run) -> Result<Figures, String> {
    let mut f = Figures::default();
    let present = check_session(dir, &mut f)?;
    let logs = read_logs(dir)?;
    f.acked = logs.acked.len() as u64;
    f.lost = logs.acked.difference(&present).count() as u64;
    f.broke_kernel_proven_dead =
        logs.broke.iter().filter(|b| *b == "KernelProvenDead").count() as u64;
    f.stale_not_kernel = logs.broke.len() as u64 - f.broke_kernel_proven_dead;
    (f.timeouts, f.compromised) = (logs.timeouts, logs.compromised);
    f.acquire_wait_max_ms = logs.max_wait_us as f64 / 1e3;
    f.worker_errors = logs.errors.max(run.worker_errors.len() as u64);
    classify_kills(run, &logs.acquired_ns, &mut f);
    let lock = sessionlock::SessionFs::lock_path_for(&sessionlock::RealFs, &session_path(dir));
    f.lock_file_left = lock.as_ref().map_or(true, |p| p.as_path().exists());
    f.tickets_left = match &lock {
        Ok(lock) => std::fs::read_dir(dir)
            .map_err(|e| format!("listing the run directory: {e}"))?
            .filter_map(Result::ok)
            .filter(|e| sessionlock::fs::Ticket::parse(lock, &e.file_name()).is_some())
            .count() as u64,
        Err(_) => 0,
    };
    f.elapsed_s = run.elapsed_ns as f64 / 1e9;
    Ok(f)
}

/// Reads the session: counts torn, misplaced and duplicated records; returns the
/// `(worker, seq)` of every whole record.
fn check_session(dir: &Path, f: &mut Figures) -> Result<HashSet<(u64, u64)>, String> {
    let bytes = std::fs::read(session_path(dir)).map_err(|e| format!("reading session: {e}"))?;
    let mut present = HashSet::new();
    let mut offset = 0u64;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        match parse_record(line) {
            Some((worker, seq, off)) => {
                f.appends += 1;
                f.misplaced += u64::from(off != offset);
                f.duplicated += u64::from(!present.insert((worker, seq)));
            }
            None => f.torn += 1,
        }
        offset += line.len() as u64;
    }
    Ok(present)
}

/// `(worker, seq, off)` of one whole record line.
fn parse_record(line: &[u8]) -> Option<(u64, u64, u64)> {
    if line.len() != RECORD_LEN || line.last() != Some(&b'\n') {
        return None;
    }
    let v: Value = serde_json::from_slice(line).ok()?;
    v.get("pad")?.as_str()?;
    Some((v.get("worker")?.as_u64()?, v.get("seq")?.as_u64()?, v.get("off")?.as_u64()?))
}

fn read_logs(dir: &Path) -> Result<Logs, String> {
    let mut logs = Logs::default();
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let Some(id) = name.strip_prefix('w').and_then(|n| n.strip_suffix(".log")) else {
            continue;
        };
        let id: u64 = id.parse().map_err(|_| format!("odd log name {name}"))?;
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        // A last line without its newline was cut short by a SIGKILL: it never happened.
        for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            read_fact(id, line.trim_end(), &mut logs);
        }
    }
    logs.acquired_ns.sort_unstable();
    Ok(logs)
}

fn read_fact(id: u64, line: &str, logs: &mut Logs) {
    let mut words = line.split(' ');
    let num = |w: Option<&str>| w.and_then(|w| w.parse::<u64>().ok());
    match words.next() {
        Some("A") => {
            logs.acquired_ns.extend(num(words.nth(1)));
            logs.max_wait_us = logs.max_wait_us.max(num(words.next()).unwrap_or(0));
        }
        Some("C") => logs.acked.extend(num(words.next()).map(|seq| (id, seq))),
        Some("B") => logs.broke.push(words.next().unwrap_or_default().to_owned()),
        Some("T") => logs.timeouts += 1,
        Some("X") => logs.compromised += 1,
        _ => logs.errors += 1,
    }
}

/// Counts kills by phase, and measures each holder kill's recovery: the first
/// acquisition after it (mutual exclusion means nobody acquired in between).
fn classify_kills(run: &Run, acquired_ns: &[u64], f: &mut Figures) {
    for kill in &run.kills {
        f.kills += 1;
        f.kills_while_queued += u64::from(kill.queued && kill.phase == Phase::Waiting);
        match kill.phase {
            Phase::Waiting => f.kills_while_waiting += 1,
            Phase::Releasing => f.kills_while_releasing += 1,
            Phase::Idle | Phase::Acking => f.kills_other += 1,
            Phase::Holding => {
                f.kills_while_holding += 1;
                let next = acquired_ns.partition_point(|&t| t <= kill.at_ns);
                match acquired_ns.get(next) {
                    Some(&t) => f.recovery_ms.push((t - kill.at_ns) as f64 / 1e6),
                    None => f.unrecovered += 1,
                }
            }
        }
    }
    f.recovery_ms.sort_by(f64::total_cmp);
}

/// The `p`-quantile (0..=1) of sorted `values`, nearest rank; 0 when empty.
pub fn quantile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let rank = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

impl Figures {
    /// Whether every check held: nothing lost, torn, duplicated or misplaced; no timeout,
    /// compromise or worker failure; no lock file or ticket left; every holder kill recovered,
    /// and only by the kernel proof.
    pub fn passed(&self) -> bool {
        let bad = self.lost
            + self.torn
            + self.duplicated
            + self.misplaced
            + self.stale_not_kernel
            + self.timeouts
            + self.compromised
            + self.worker_errors
            + self.unrecovered;
        bad == 0 && !self.lock_file_left && self.tickets_left == 0
    }

    /// The figures as one JSON line, in a fixed order.
    pub fn to_json(&self, cfg: &Config) -> String {
        let r = |p| Value::from((quantile(&self.recovery_ms, p) * 1000.0).round() / 1000.0);
        json_line(&[
            ("scenario", "torture".into()),
            ("workers", cfg.workers.into()),
            ("hold_max_us", cfg.hold_max_us.into()),
            ("fsync", cfg.fsync.into()),
            ("queue", cfg.queue.into()),
            ("seed", cfg.seed.into()),
            ("appends", self.appends.into()),
            ("acked", self.acked.into()),
            ("kills", self.kills.into()),
            ("kills_while_holding", self.kills_while_holding.into()),
            ("kills_while_waiting", self.kills_while_waiting.into()),
            ("kills_while_queued", self.kills_while_queued.into()),
            ("kills_while_releasing", self.kills_while_releasing.into()),
            ("kills_other", self.kills_other.into()),
            ("lost", self.lost.into()),
            ("torn", self.torn.into()),
            ("duplicated", self.duplicated.into()),
            ("misplaced", self.misplaced.into()),
            ("broke_kernel_proven_dead", self.broke_kernel_proven_dead.into()),
            ("stale_not_kernel", self.stale_not_kernel.into()),
            ("timeouts", self.timeouts.into()),
            ("compromised", self.compromised.into()),
            ("worker_errors", self.worker_errors.into()),
            ("lock_file_left", self.lock_file_left.into()),
            ("tickets_left", self.tickets_left.into()),
            ("unrecovered", self.unrecovered.into()),
            ("recovery_p50_ms", r(0.5)),
            ("recovery_p99_ms", r(0.99)),
            ("recovery_max_ms", r(1.0)),
            ("acquire_wait_max_ms", self.acquire_wait_max_ms.into()),
            ("elapsed_s", ((self.elapsed_s * 100.0).round() / 100.0).into()),
        ])
    }
}

/// `fields` as one line of JSON, keys in the order given.
pub fn json_line(fields: &[(&str, Value)]) -> String {
    let body: Vec<String> =
        fields.iter().map(|(k, v)| format!("{}:{v}", Value::from(*k))).collect();
    format!("{{{}}}", body.join(","))
}
