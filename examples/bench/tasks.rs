//! `tasks`: N tokio tasks in one process take one path's lock R times each, holding it
//! H ms with `tokio::time::sleep` (a multi-thread runtime with 2 workers).
//!
//! The seed scenario: 32 × 3 × 1 ms took the original lock 11.4 s, with 8 of 96 acquires
//! timing out. `held_ms` is the sum of the holds as measured, so `lock_overhead_ms`
//! (`total_ms − held_ms`) is what the hand-offs between holders cost.
//!
//! Controls, to tell the lock's cost from the hold's:
//! - `--hold spin` holds by spinning for exactly H ms instead of `tokio::time::sleep`,
//!   whose timer wheel has a 1 ms tick and rounds every sleep up past the next tick.
//! - `--lock mutex` replaces the session lock with a `tokio::sync::Mutex` (in-memory,
//!   FIFO): the floor any lock can reach with the same holds.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use sessionlock::{AcquireError, Owner, SessionLock};

use crate::args::Flags;
use crate::stats::{json_line, quantile, round};

/// What one task measured.
#[derive(Default)]
struct Sample {
    waits_ms: Vec<f64>,
    held_ms: f64,
    timeouts: u64,
}

/// The lock under test.
#[derive(Clone)]
enum Lock {
    Session(SessionLock, Arc<Path>),
    Mutex(Arc<tokio::sync::Mutex<()>>),
}

/// How many tasks, rounds, and how each hold is made.
#[derive(Clone, Copy)]
struct Plan {
    tasks: u64,
    rounds: u64,
    hold: Duration,
    spin: bool,
}

/// Runs the scenario in `dir` and returns its JSON line.
pub fn run(flags: &Flags, dir: &Path) -> Result<String, String> {
    let plan = Plan {
        tasks: flags.num("tasks", 32)?,
        rounds: flags.num("rounds", 3)?,
        hold: Duration::from_millis(flags.num("hold-ms", 1)?),
        spin: flags.text("hold") == Some("spin"),
    };
    let lock = match flags.text("lock").unwrap_or("session") {
        "session" => Lock::Session(SessionLock::new(), dir.join("tasks.jsonl").into()),
        "mutex" => Lock::Mutex(Arc::default()),
        other => return Err(format!("--lock {other}: expected session or mutex")),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .map_err(|e| e.to_string())?;
    let inside = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let samples = runtime.block_on(async {
        let handles: Vec<_> = (0..plan.tasks)
            .map(|_| tokio::spawn(task(lock.clone(), plan, inside.clone())))
            .collect();
        let mut samples = Vec::new();
        for h in handles {
            samples.push(h.await.map_err(|e| e.to_string())??);
        }
        Ok::<_, String>(samples)
    })?;
    let total_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(report(flags, plan, total_ms, samples))
}

async fn task(lock: Lock, plan: Plan, inside: Arc<AtomicU64>) -> Result<Sample, String> {
    let owner = Owner::new();
    let mut s = Sample::default();
    for _ in 0..plan.rounds {
        let t0 = Instant::now();
        let guard = match &lock {
            Lock::Session(lock, session) => match lock.acquire(session, owner).await {
                Ok(guard) => Some(guard),
                Err(AcquireError::Timeout { .. }) => {
                    s.timeouts += 1;
                    continue;
                }
                Err(e) => return Err(e.to_string()),
            },
            Lock::Mutex(_) => None,
        };
        let mutex_guard = match &lock {
            Lock::Mutex(m) => Some(m.lock().await),
            Lock::Session(..) => None,
        };
        let t1 = Instant::now();
        s.waits_ms.push((t1 - t0).as_secs_f64() * 1e3);
        // The occupancy oracle: a benchmark of a lock that does not exclude is worthless.
        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "INV-1 MutualExclusion");
        if plan.spin {
            while t1.elapsed() < plan.hold {
                std::hint::spin_loop();
            }
        } else {
            tokio::time::sleep(plan.hold).await;
        }
        inside.fetch_sub(1, Ordering::SeqCst);
        s.held_ms += t1.elapsed().as_secs_f64() * 1e3;
        drop(mutex_guard);
        if let Some(guard) = guard {
            guard.release().await.map_err(|e| e.to_string())?;
        }
    }
    Ok(s)
}

fn report(flags: &Flags, plan: Plan, total_ms: f64, samples: Vec<Sample>) -> String {
    let mut waits: Vec<f64> = samples.iter().flat_map(|s| s.waits_ms.iter().copied()).collect();
    let held_ms: f64 = samples.iter().map(|s| s.held_ms).sum();
    let timeouts: u64 = samples.iter().map(|s| s.timeouts).sum();
    let ideal_ms = (plan.tasks * plan.rounds) as f64 * plan.hold.as_secs_f64() * 1e3;
    json_line(&[
        ("scenario", "tasks".into()),
        ("lock", flags.text("lock").unwrap_or("session").into()),
        ("hold", (if plan.spin { "spin" } else { "sleep" }).into()),
        ("tasks", plan.tasks.into()),
        ("rounds", plan.rounds.into()),
        ("hold_ms", Value::from(plan.hold.as_millis() as u64)),
        ("total_ms", round(total_ms, 2)),
        ("ideal_ms", round(ideal_ms, 2)),
        ("ratio", round(total_ms / ideal_ms, 3)),
        ("held_ms", round(held_ms, 2)),
        ("lock_overhead_ms", round(total_ms - held_ms, 2)),
        ("acquired", (waits.len() as u64).into()),
        ("timeouts", timeouts.into()),
        ("wait_p50_ms", round(quantile(&mut waits, 0.5), 3)),
        ("wait_p99_ms", round(quantile(&mut waits, 0.99), 3)),
        ("wait_max_ms", round(quantile(&mut waits, 1.0), 3)),
    ])
}
