//! The torture driver: keeps `workers` worker processes appending, SIGKILLs one at a
//! random moment `kills` times, respawning a fresh worker in its place, then stops them
//! cleanly and hands the run directory to [`crate::verify`].
//!
//! Each kill aims at a phase (waiting, holding or releasing, chosen at random): the
//! driver picks a worker, spins on its status byte until the worker enters that phase
//! (or 100 ms pass), and kills it at once. The kill is classified by the status byte read
//! *after* the worker is reaped, which names the step it really died in.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::worker::{Phase, RECORD_LEN, Rng, WorkerConfig, mono_ns, session_path, status_path};

/// A torture run's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The run directory; created if missing, and should be empty.
    pub dir: PathBuf,
    /// Worker processes alive at any time.
    pub workers: usize,
    /// Stop once the session holds at least this many records.
    pub appends: u64,
    /// SIGKILLs to deliver, spread evenly over the appends.
    pub kills: u64,
    /// Each hold sleeps a uniformly random time in `0..=hold_max_us`.
    pub hold_max_us: u64,
    /// `fdatasync` each record before releasing.
    pub fsync: bool,
    /// Seeds the driver's choices.
    pub seed: u64,
    /// Workers append without the lock: only to prove that the checks catch overlaps.
    pub unlocked: bool,
    /// Workers wait in the cross-process queue, so a kill while waiting kills a queued
    /// waiter, whose ticket its successor must remove at once.
    pub queue: bool,
}

/// One SIGKILL.
#[derive(Clone, Copy, Debug)]
pub struct Kill {
    /// CLOCK_MONOTONIC just before `kill(2)`.
    pub at_ns: u64,
    /// The victim's phase at death.
    pub phase: Phase,
    /// A ticket of the victim's stood in the queue just before the kill.
    pub queued: bool,
}

/// What the driver saw.
#[derive(Debug, Default)]
pub struct Run {
    /// Every kill, in order.
    pub kills: Vec<Kill>,
    /// Workers that exited on their own with a failure, and why.
    pub worker_errors: Vec<String>,
    /// Wall time of the run, spawn to stop.
    pub elapsed_ns: u64,
}

/// Makes the bare command that starts a worker process (the driver adds its environment).
pub type Spawner<'a> = &'a dyn Fn() -> Command;

struct Slot {
    child: Child,
    id: u64,
}

struct Driver<'a> {
    cfg: &'a Config,
    spawner: Spawner<'a>,
    status: File,
    slots: Vec<Slot>,
    next_id: u64,
    rng: Rng,
    run: Run,
}

/// Runs the torture described by `cfg`.
///
/// # Errors
/// When the run directory cannot be prepared, a worker cannot be started, or the workers
/// stop making progress for two minutes.
pub fn run(cfg: &Config, spawner: Spawner<'_>) -> Result<Run, String> {
    std::fs::create_dir_all(&cfg.dir).map_err(|e| e.to_string())?;
    let mut status = File::options();
    status.read(true).write(true).create(true).truncate(true);
    let status = status.open(status_path(&cfg.dir)).map_err(|e| e.to_string())?;
    status.set_len(1 + cfg.workers as u64).map_err(|e| e.to_string())?;
    File::create(session_path(&cfg.dir)).map_err(|e| e.to_string())?;
    let rng = Rng::new(cfg.seed);
    let mut d =
        Driver { cfg, spawner, status, slots: Vec::new(), next_id: 0, rng, run: Run::default() };
    let start = mono_ns();
    for slot in 0..cfg.workers {
        let s = d.spawn(slot)?;
        d.slots.push(s);
    }
    let result = d.torture();
    let stopped = d.stop();
    d.run.elapsed_ns = mono_ns() - start;
    result.and(stopped).map(|()| std::mem::take(&mut d.run))
}

impl Driver<'_> {
    fn torture(&mut self) -> Result<(), String> {
        let (appends, kills) = (self.cfg.appends, self.cfg.kills);
        for k in 1..=kills {
            self.wait_for_records(appends * k / (kills + 1))?;
            std::thread::sleep(Duration::from_micros(self.rng.upto(2000)));
            self.kill_one()?;
        }
        // At least a few acquisitions after the last kill, so its lock file is recovered.
        let floor = self.records() + 2 * self.cfg.workers as u64;
        self.wait_for_records(appends.max(floor))
    }

    fn spawn(&mut self, slot: usize) -> Result<Slot, String> {
        let id = self.next_id;
        self.next_id += 1;
        let cfg = WorkerConfig {
            dir: self.cfg.dir.clone(),
            id,
            slot,
            hold_max_us: self.cfg.hold_max_us,
            fsync: self.cfg.fsync,
            unlocked: self.cfg.unlocked,
            queue: self.cfg.queue,
        };
        let mut cmd = (self.spawner)();
        cmd.envs(cfg.env()).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
        let child = cmd.spawn().map_err(|e| format!("spawning a worker: {e}"))?;
        Ok(Slot { child, id })
    }

    fn phase(&self, slot: usize) -> Phase {
        let mut b = [0u8];
        let _ = self.status.read_at(&mut b, 1 + slot as u64);
        Phase::from_byte(b[0])
    }

    fn records(&self) -> u64 {
        std::fs::metadata(session_path(&self.cfg.dir)).map_or(0, |m| m.len()) / RECORD_LEN as u64
    }

    /// Waits until the session holds `n` records, replacing any worker that failed.
    fn wait_for_records(&mut self, n: u64) -> Result<(), String> {
        let (mut last, mut since) = (self.records(), mono_ns());
        while self.records() < n {
            self.reap_failed()?;
            std::thread::sleep(Duration::from_millis(1));
            if self.records() != last {
                (last, since) = (self.records(), mono_ns());
            } else if mono_ns() - since > 120_000_000_000 {
                return Err(format!("no progress for 120 s at {last} records"));
            }
        }
        Ok(())
    }

    fn reap_failed(&mut self) -> Result<(), String> {
        for slot in 0..self.slots.len() {
            if let Ok(Some(status)) = self.slots[slot].child.try_wait() {
                let id = self.slots[slot].id;
                self.run.worker_errors.push(format!("worker {id} exited: {status}"));
                self.respawn(slot)?;
            }
        }
        Ok(())
    }

    fn respawn(&mut self, slot: usize) -> Result<(), String> {
        // The old worker's phase must not be mistaken for the new one's.
        let _ = self.status.write_at(&[Phase::Idle as u8], 1 + slot as u64);
        self.slots[slot] = self.spawn(slot)?;
        Ok(())
    }

    /// Picks a worker and a phase, waits (up to 100 ms) for the worker to enter it, and
    /// SIGKILLs it.
    fn kill_one(&mut self) -> Result<(), String> {
        let slot = (self.rng.next_u64() % self.slots.len() as u64) as usize;
        let target = match self.rng.upto(9) {
            0..=2 => Phase::Waiting,
            3..=6 => Phase::Holding,
            _ => Phase::Releasing,
        };
        let give_up = mono_ns() + 100_000_000;
        while self.phase(slot) != target && mono_ns() < give_up {
            std::hint::spin_loop();
        }
        let queued = self.cfg.queue && self.has_ticket(self.slots[slot].child.id());
        let at_ns = mono_ns();
        let child = &mut self.slots[slot].child;
        if child.kill().is_ok() {
            let _ = child.wait();
            let phase = self.phase(slot);
            self.run.kills.push(Kill { at_ns, phase, queued });
        }
        self.respawn(slot)
    }

    /// Whether a ticket of process `pid` stands in the queue: its id starts with the
    /// pid in hex (the core's ticket ids are `<pid>-<start time>-<counter>`).
    fn has_ticket(&self, pid: u32) -> bool {
        let Ok(lock) = sessionlock::SessionFs::lock_path_for(
            &sessionlock::RealFs,
            &session_path(&self.cfg.dir),
        ) else {
            return false;
        };
        let Ok(entries) = std::fs::read_dir(&self.cfg.dir) else { return false };
        let mine = format!("{pid:x}-");
        entries.filter_map(Result::ok).any(|e| {
            sessionlock::fs::Ticket::parse(&lock, &e.file_name())
                .is_some_and(|t| t.id().starts_with(&mine))
        })
    }

    /// Sets the stop flag and waits for every worker to finish its round and exit.
    fn stop(&mut self) -> Result<(), String> {
        let _ = self.status.write_at(&[1], 0);
        let give_up = mono_ns() + 60_000_000_000;
        for slot in &mut self.slots {
            loop {
                match slot.child.try_wait() {
                    Ok(Some(s)) if s.success() => break,
                    Ok(Some(s)) => {
                        self.run.worker_errors.push(format!("worker {} exited: {s}", slot.id));
                        break;
                    }
                    Ok(None) if mono_ns() < give_up => std::thread::sleep(Duration::from_millis(1)),
                    _ => {
                        let _ = slot.child.kill();
                        let _ = slot.child.wait();
                        return Err(format!("worker {} did not stop within 60 s", slot.id));
                    }
                }
            }
        }
        Ok(())
    }
}

impl Drop for Driver<'_> {
    /// Never leaves a worker behind, even when the run fails.
    fn drop(&mut self) {
        for slot in &mut self.slots {
            if slot.child.try_wait().ok().flatten().is_none() {
                let _ = slot.child.kill();
                let _ = slot.child.wait();
            }
        }
    }
}
