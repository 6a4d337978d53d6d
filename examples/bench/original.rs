//! `original`: the hand-off from a holder of the original TypeScript lock to a sessionlock
//! waiter. A holder process (this program again) takes the lock the original's way:
//! `open(path, "wx")`, write `{pid, createdAt, starttime}`, keep the file open for
//! writing; on the parent's word it releases the original's way: close, then unlink.
//! Meanwhile the parent waits in `acquire_blocking`, started `--settle-ms` (default 20,
//! plus 0–29 ms varying by round) before the release.
//!
//! - `handoff_*_us`: the holder's CLOCK_MONOTONIC instant just before its close → the
//!   waiter's `acquire_blocking` returning, over `--rounds` rounds (default 30).
//! - `kernel_waits_per_acquire`: how often the waiter waited in the kernel (for the
//!   writer's close) rather than sleeping a backoff.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sessionlock::{Event, Observer};
use sessionlock::{Owner, SessionLock};

use crate::args::Flags;
use crate::stats::{json_line, mono_ns, quantile, round};

/// The hidden scenario name the holder process runs.
pub const HOLDER: &str = "__original-holder";

#[derive(Default)]
struct KernelWaits(AtomicU64);

impl Observer for KernelWaits {
    fn event(&self, event: &Event<'_>) {
        if matches!(event, Event::KernelWait { .. }) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Runs the scenario with its session in `dir` and returns its JSON line.
pub fn run(flags: &Flags, dir: &Path) -> Result<String, String> {
    let rounds = flags.num("rounds", 30)?;
    let settle_ms = flags.num("settle-ms", 20)?;
    let session = dir.join("original.jsonl");
    let lock_file = dir.join("original.jsonl.lock");
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let waits = Arc::new(KernelWaits::default());
    let lock =
        SessionLock::builder().timeout(Duration::from_secs(10)).observer(waits.clone()).build();
    let mut handoffs = Vec::new();
    for r in 0..rounds {
        let mut child = Command::new(&exe)
            .args([HOLDER, "--lock-file"])
            .arg(&lock_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawning the holder: {e}"))?;
        let mut out = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut line = String::new();
        out.read_line(&mut line).map_err(|e| e.to_string())?;
        if line.trim() != "held" {
            return Err(format!("holder said {line:?}"));
        }
        let waiter = {
            let (lock, session) = (lock.clone(), session.clone());
            std::thread::spawn(move || {
                let guard = lock.acquire_blocking(&session, Owner::new());
                let at = mono_ns();
                guard.map_err(|e| e.to_string())?.release_blocking().map_err(|e| e.to_string())?;
                Ok::<u64, String>(at)
            })
        };
        std::thread::sleep(Duration::from_millis(settle_ms + (r * 7) % 30));
        let stdin = child.stdin.as_mut().ok_or("no stdin")?;
        stdin.write_all(b"release\n").and_then(|()| stdin.flush()).map_err(|e| e.to_string())?;
        line.clear();
        out.read_line(&mut line).map_err(|e| e.to_string())?;
        let released: u64 =
            line.trim().parse().map_err(|e| format!("holder said {line:?}: {e}"))?;
        let acquired = waiter.join().map_err(|_| "waiter panicked")??;
        child.wait().map_err(|e| e.to_string())?;
        handoffs.push((acquired as f64 - released as f64) / 1e3);
    }
    let waits = waits.0.load(Ordering::Relaxed) as f64 / rounds as f64;
    Ok(json_line(&[
        ("scenario", "original".into()),
        ("rounds", rounds.into()),
        ("handoff_p50_us", round(quantile(&mut handoffs, 0.5), 1)),
        ("handoff_p90_us", round(quantile(&mut handoffs, 0.9), 1)),
        ("handoff_max_us", round(quantile(&mut handoffs, 1.0), 1)),
        ("kernel_waits_per_acquire", round(waits, 2)),
    ]))
}

/// The holder process: the original lock's acquire, then, on a line on stdin, its
/// release (close, then unlink); prints the instant just before the close.
pub fn holder(flags: &Flags) -> Result<(), String> {
    let path = flags.text("lock-file").ok_or("--lock-file")?;
    let stat = std::fs::read_to_string("/proc/self/stat").map_err(|e| e.to_string())?;
    let starttime = stat[stat.rfind(')').ok_or("stat")? + 2..].split(' ').nth(19).ok_or("stat")?;
    let created = sessionlock::payload::format_iso_ms(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_millis() as u64,
    );
    let payload = format!(
        r#"{{"pid":{},"createdAt":"{created}","starttime":{starttime}}}"#,
        std::process::id()
    );
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| format!("open(path, \"wx\"): {e}"))?;
    file.write_all(payload.as_bytes()).map_err(|e| e.to_string())?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "held").and_then(|()| stdout.flush()).map_err(|e| e.to_string())?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| e.to_string())?;
    let at = mono_ns();
    drop(file);
    std::fs::remove_file(path).map_err(|e| e.to_string())?;
    writeln!(stdout, "{at}").and_then(|()| stdout.flush()).map_err(|e| e.to_string())
}
