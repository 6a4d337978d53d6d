//! The processes of one run: appenders that follow the original lock's rules, appenders
//! that take the lock through `sessionlock run`, and the section `sessionlock run` runs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::args::Flags;
use crate::original;
use crate::verify::mark;

/// What one appender process reports on its last stdout line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    /// Sections it completed.
    pub sections: u64,
    /// Acquires that gave up (the original's 10 s timeout, or `run`'s exit code 75).
    pub timeouts: u64,
    /// Lock files it judged stale, each followed by an unlink by path (original appenders).
    pub removed: u64,
    /// `sessionlock run` exits that reported a compromised lock.
    pub compromised: u64,
    /// Other failed `sessionlock run` exits.
    pub failed: u64,
}

impl Tally {
    /// The line an appender prints.
    pub fn line(&self) -> String {
        let Self { sections, timeouts, removed, compromised, failed } = self;
        format!("tally {sections} {timeouts} {removed} {compromised} {failed}")
    }

    /// Parses [`Tally::line`].
    pub fn parse(line: &str) -> Option<Self> {
        let mut n = line.strip_prefix("tally ")?.split(' ').map(|x| x.parse::<u64>().ok());
        let mut next = || n.next().flatten();
        let tally = Self {
            sections: next()?,
            timeouts: next()?,
            removed: next()?,
            compromised: next()?,
            failed: next()?,
        };
        Some(tally)
    }

    /// Adds `other` in.
    pub fn add(&mut self, other: Self) {
        self.sections += other.sections;
        self.timeouts += other.timeouts;
        self.removed += other.removed;
        self.compromised += other.compromised;
        self.failed += other.failed;
    }
}

/// The flags every worker mode reads.
pub struct Work {
    session: PathBuf,
    id: String,
    sections: u64,
    work: Duration,
    gap: Duration,
}

impl Work {
    /// Reads `--session`, `--id`, `--sections`, `--work-us` and `--gap-us`, then waits for the
    /// common start, `--start-ms` (milliseconds since the epoch), so that every appender
    /// of a run starts contending at once.
    pub fn from(flags: &Flags) -> Result<Self, String> {
        let start = std::time::UNIX_EPOCH + Duration::from_millis(flags.num("start-ms", 0)?);
        if let Ok(wait) = start.duration_since(std::time::SystemTime::now()) {
            std::thread::sleep(wait);
        }
        Ok(Self {
            session: PathBuf::from(flags.text("session").ok_or("--session")?),
            id: flags.text("id").ok_or("--id")?.to_owned(),
            sections: flags.num("sections", 1)?,
            work: Duration::from_micros(flags.num("work-us", 1000)?),
            gap: Duration::from_micros(flags.num("gap-us", 2000)?),
        })
    }

    /// One section: a begin marker, the work, an end marker.
    fn section(&self, seq: u64) -> Result<(), String> {
        mark(&self.session, 'B', &self.id, seq).map_err(|e| format!("begin: {e}"))?;
        std::thread::sleep(self.work);
        mark(&self.session, 'E', &self.id, seq).map_err(|e| format!("end: {e}"))
    }
}

/// `section`: one section, run by `sessionlock run` as its command.
pub fn section(flags: &Flags) -> Result<(), String> {
    Work::from(flags)?.section(flags.num("seq", 0)?)
}

/// `original-worker`: `--sections` sections under the original lock's rules; a timeout
/// is counted and the section tried again.
pub fn original_worker(flags: &Flags) -> Result<Tally, String> {
    let work = Work::from(flags)?;
    let lock_path = lock_file(&work.session);
    let mut tally = Tally::default();
    let pause = Duration::from_micros(flags.num("pause-us", 0)?);
    let mut attempts = original::Attempts { pause, removed: 0 };
    for seq in 0..work.sections {
        std::thread::sleep(work.gap);
        let held = loop {
            match original::acquire(&lock_path, &mut attempts) {
                Ok(held) => break held,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => tally.timeouts += 1,
                Err(e) => return Err(format!("original acquire: {e}")),
            }
        };
        work.section(seq)?;
        held.release().map_err(|e| format!("original release: {e}"))?;
        tally.sections += 1;
    }
    tally.removed = u64::from(attempts.removed);
    Ok(tally)
}

/// `ours-worker`: `--sections` runs of `sessionlock run SESSION -- <this> section …`.
/// With `--grace-ms G`, each `sessionlock run` that exited is left unreaped (a zombie,
/// which `kill(pid, 0)` reports alive) for G before it is reaped: the grace, simulated
/// from outside for a `sessionlock` that has none.
pub fn ours_worker(flags: &Flags) -> Result<Tally, String> {
    let work = Work::from(flags)?;
    let binary = flags.text("sessionlock").ok_or("--sessionlock")?;
    let grace = Duration::from_millis(flags.num("grace-ms", 0)?);
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut tally = Tally::default();
    for seq in 0..work.sections {
        std::thread::sleep(work.gap);
        let mut child = Command::new(binary)
            .arg("run")
            .arg(&work.session)
            .args(["--timeout", "120s", "--"])
            .arg(&me)
            .args(["section", "--id", &work.id, "--seq", &seq.to_string()])
            .arg("--session")
            .arg(&work.session)
            .args(["--work-us", &work.work.as_micros().to_string()])
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{binary}: {e}"))?;
        if !grace.is_zero() {
            exited_unreaped(child.id())?;
            std::thread::sleep(grace);
        }
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            pipe.read_to_string(&mut stderr).map_err(|e| e.to_string())?;
        }
        let status = child.wait().map_err(|e| e.to_string())?;
        match status.code() {
            Some(0) => tally.sections += 1,
            Some(75) => tally.timeouts += 1,
            _ if stderr.contains("compromised") => tally.compromised += 1,
            _ => {
                eprintln!("mixed: {binary} run exited {status}: {}", stderr.trim());
                tally.failed += 1;
            }
        }
    }
    Ok(tally)
}

/// Waits until child `pid` has exited, leaving it a zombie (`waitid` with `WNOWAIT`).
fn exited_unreaped(pid: u32) -> Result<(), String> {
    use rustix::process::{Pid, WaitId, WaitIdOptions, waitid};
    let pid = i32::try_from(pid).ok().and_then(Pid::from_raw).ok_or("no such pid")?;
    let how = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT;
    waitid(WaitId::Pid(pid), how).map(drop).map_err(|e| format!("waitid: {e}"))
}

/// The lock file of `session`, as both kinds of appender name it.
pub fn lock_file(session: &Path) -> PathBuf {
    let mut name = session.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}
