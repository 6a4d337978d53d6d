//! The torture worker: appends numbered records to one session file, each under the lock,
//! and logs what it did so the driver can check it afterwards.
//!
//! Shared by `examples/torture.rs` and `tests/torture.rs` (included with `#[path]`).
//!
//! Files in the run directory:
//! - `session.jsonl`: the records, [`RECORD_LEN`] bytes each, appended with `O_APPEND`.
//! - `status`: byte 0 is the stop flag (set by the driver); byte `1 + slot` is the
//!   [`Phase`] of the worker in that slot, written *before* each step, so after a SIGKILL
//!   it names the step the worker died in.
//! - `w<id>.log`: one line per fact, each written with one `write(2)`:
//!   `A <seq> <t_ns> <waited_us>` acquired (CLOCK_MONOTONIC), `C <seq>` acknowledged
//!   (released successfully), `B <reasons>` broke a stale lock, `T` timed out,
//!   `X` compromised, `E <message>` failed.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sessionlock::{Builder, Owner, Released};
use sessionlock::{Event, Observer};

/// Every record is this long, newline included. 128 divides the page size, so no record
/// straddles a page, and the kernel, which checks for a fatal signal only between the
/// pages of a write, cannot tear one when the writer is SIGKILLed mid-write.
pub const RECORD_LEN: usize = 128;

/// What a worker is doing, as written to its status byte before each step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Starting, between rounds, or stopped.
    Idle = 0,
    /// Inside `acquire_blocking`.
    Waiting = 1,
    /// Holding: from `acquire_blocking`'s return to the call of `release_blocking`.
    Holding = 2,
    /// Inside `release_blocking`.
    Releasing = 3,
    /// Released; writing the acknowledgement.
    Acking = 4,
}

impl Phase {
    /// The phase a status byte names.
    pub fn from_byte(b: u8) -> Self {
        match b {
            1 => Self::Waiting,
            2 => Self::Holding,
            3 => Self::Releasing,
            4 => Self::Acking,
            _ => Self::Idle,
        }
    }
}

/// The environment variables that make a process a torture worker.
pub const ENV_DIR: &str = "SESSIONLOCK_TORTURE_DIR";
const ENV_ID: &str = "SESSIONLOCK_TORTURE_ID";
const ENV_SLOT: &str = "SESSIONLOCK_TORTURE_SLOT";
const ENV_HOLD_US: &str = "SESSIONLOCK_TORTURE_HOLD_US";
const ENV_FSYNC: &str = "SESSIONLOCK_TORTURE_FSYNC";
const ENV_UNLOCKED: &str = "SESSIONLOCK_TORTURE_UNLOCKED";
const ENV_QUEUE: &str = "SESSIONLOCK_TORTURE_QUEUE";

/// One worker's settings, passed from the driver through the environment.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The run directory.
    pub dir: PathBuf,
    /// Unique per worker process (a respawned worker gets a new one).
    pub id: u64,
    /// The driver's slot this worker fills.
    pub slot: usize,
    /// Each hold sleeps a uniformly random time in `0..=hold_max_us`.
    pub hold_max_us: u64,
    /// `fdatasync` each record before releasing.
    pub fsync: bool,
    /// Append without taking the lock: only to prove that the checks catch overlaps.
    pub unlocked: bool,
    /// Wait in the cross-process queue (`Builder::queue`).
    pub queue: bool,
}

impl WorkerConfig {
    /// The environment variables for this worker.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (ENV_DIR, self.dir.display().to_string()),
            (ENV_ID, self.id.to_string()),
            (ENV_SLOT, self.slot.to_string()),
            (ENV_HOLD_US, self.hold_max_us.to_string()),
            (ENV_FSYNC, u8::from(self.fsync).to_string()),
            (ENV_UNLOCKED, u8::from(self.unlocked).to_string()),
            (ENV_QUEUE, u8::from(self.queue).to_string()),
        ]
    }

    /// The worker settings of this process, if the driver started it as a worker.
    pub fn from_env() -> Option<Self> {
        let var = |k| std::env::var(k).ok();
        Some(Self {
            dir: PathBuf::from(var(ENV_DIR)?),
            id: var(ENV_ID)?.parse().ok()?,
            slot: var(ENV_SLOT)?.parse().ok()?,
            hold_max_us: var(ENV_HOLD_US)?.parse().ok()?,
            fsync: var(ENV_FSYNC)? == "1",
            unlocked: var(ENV_UNLOCKED)? == "1",
            queue: var(ENV_QUEUE)? == "1",
        })
    }
}

/// The session file of a run directory.
pub fn session_path(dir: &Path) -> PathBuf {
    dir.join("session.jsonl")
}

/// The status file of a run directory.
pub fn status_path(dir: &Path) -> PathBuf {
    dir.join("status")
}

/// The log of worker `id`.
pub fn log_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("w{id}.log"))
}

/// CLOCK_MONOTONIC in nanoseconds: comparable across the processes of one machine.
pub fn mono_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

/// A small deterministic generator (splitmix64): no dependency needed.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=max`.
    pub fn upto(&mut self, max: u64) -> u64 {
        self.next_u64() % (max + 1)
    }
}

/// Writes events of interest to the worker's log as they happen.
struct Log {
    file: File,
    waited_us: AtomicU64,
}

impl Log {
    fn line(&self, text: &str) {
        // One write(2) per line; a failure here surfaces as a missing fact at the check.
        let _ = (&self.file).write_all(text.as_bytes());
    }
}

impl Observer for Log {
    fn event(&self, event: &Event<'_>) {
        match event {
            Event::Acquired { waited, .. } => {
                let us = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
                self.waited_us.store(us, Ordering::Relaxed);
            }
            Event::BrokeStale { reasons, .. } => {
                let names: Vec<String> = reasons.iter().map(|r| format!("{r:?}")).collect();
                self.line(&format!("B {}\n", names.join(",")));
            }
            Event::TimedOut { .. } => self.line("T\n"),
            Event::Compromised { .. } => self.line("X\n"),
            _ => {}
        }
    }
}

/// One record: `{"worker":W,"seq":S,"off":O,"pad":"…"}` padded to [`RECORD_LEN`]. `off`
/// is the session's length the writer saw under the lock before its hold: if another
/// writer had been inside at the same time, the record would land elsewhere.
pub fn record(worker: u64, seq: u64, off: u64) -> Vec<u8> {
    let head = format!(r#"{{"worker":{worker},"seq":{seq},"off":{off},"pad":""#);
    let pad = RECORD_LEN - head.len() - 3;
    let mut line = head.into_bytes();
    line.resize(line.len() + pad, b'.');
    line.extend_from_slice(b"\"}\n");
    line
}

/// Runs a worker until the driver sets the stop flag. Any failure is logged (`E`) and
/// ends the process with a non-zero status.
pub fn run(cfg: &WorkerConfig) -> ! {
    let code = match rounds(cfg) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("torture worker {}: {message}", cfg.id);
            let log = File::options().append(true).create(true).open(log_path(&cfg.dir, cfg.id));
            if let Ok(mut log) = log {
                let _ = log.write_all(format!("E {message}\n").as_bytes());
            }
            3
        }
    };
    std::process::exit(code);
}

/// A running worker's open files and lock.
struct Worker<'a> {
    cfg: &'a WorkerConfig,
    log: Arc<Log>,
    session_path: PathBuf,
    session: File,
    status: File,
    lock: sessionlock::SessionLock,
    owner: Owner,
    rng: Rng,
}

fn rounds(cfg: &WorkerConfig) -> Result<(), String> {
    let mut worker = Worker::open(cfg).map_err(|e| format!("setup: {e}"))?;
    worker.set(Phase::Idle)?;
    for seq in 0.. {
        if worker.stopped()? {
            break;
        }
        worker.round(seq)?;
    }
    Ok(())
}

impl<'a> Worker<'a> {
    fn open(cfg: &'a WorkerConfig) -> std::io::Result<Self> {
        let open_append = |p: PathBuf| File::options().append(true).create(true).open(p);
        let file = open_append(log_path(&cfg.dir, cfg.id))?;
        let log = Arc::new(Log { file, waited_us: AtomicU64::new(0) });
        let session_path = session_path(&cfg.dir);
        let session = open_append(session_path.clone())?;
        let status = File::options().read(true).write(true).open(status_path(&cfg.dir))?;
        let lock = Builder::new()
            .timeout(Duration::from_secs(120))
            .queue(cfg.queue)
            .observer(log.clone())
            .build();
        let rng = Rng::new(cfg.id.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ mono_ns());
        Ok(Self { cfg, log, session_path, session, status, lock, owner: Owner::new(), rng })
    }

    fn set(&self, phase: Phase) -> Result<(), String> {
        let at = 1 + self.cfg.slot as u64;
        self.status.write_at(&[phase as u8], at).map(drop).map_err(|e| format!("status: {e}"))
    }

    fn stopped(&self) -> Result<bool, String> {
        let mut stop = [0u8];
        self.status.read_at(&mut stop, 0).map_err(|e| format!("status: {e}"))?;
        Ok(stop[0] != 0)
    }

    /// One locked append: acquire, note the length, hold, append, release, acknowledge.
    fn round(&mut self, seq: u64) -> Result<(), String> {
        self.set(Phase::Waiting)?;
        let guard = match self.cfg.unlocked {
            true => None,
            false => Some(self.lock.acquire_blocking(&self.session_path, self.owner)),
        };
        let guard = guard.transpose().map_err(|e| format!("acquire: {e}"))?;
        let at = mono_ns();
        self.set(Phase::Holding)?;
        let waited = self.log.waited_us.load(Ordering::Relaxed);
        self.log.line(&format!("A {seq} {at} {waited}\n"));
        let off = self.session.metadata().map_err(|e| format!("fstat: {e}"))?.len();
        std::thread::sleep(Duration::from_micros(self.rng.upto(self.cfg.hold_max_us)));
        self.append(&record(self.cfg.id, seq, off))?;
        self.set(Phase::Releasing)?;
        match guard.map(|g| g.release_blocking()) {
            None | Some(Ok(Released::Removed)) => {}
            Some(other) => return Err(format!("release: {other:?}")),
        }
        self.set(Phase::Acking)?;
        self.log.line(&format!("C {seq}\n"));
        self.set(Phase::Idle)
    }

    /// One `write(2)` of the whole record, then `fdatasync` if asked.
    fn append(&self, rec: &[u8]) -> Result<(), String> {
        match (&self.session).write(rec) {
            Ok(n) if n == rec.len() => {}
            Ok(n) => return Err(format!("short append: {n} of {} bytes", rec.len())),
            Err(e) => return Err(format!("append: {e}")),
        }
        if self.cfg.fsync {
            self.session.sync_data().map_err(|e| format!("fdatasync: {e}"))?;
        }
        Ok(())
    }
}
