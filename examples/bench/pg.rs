//! `--backend postgres`: the same scenarios over `PgFs`, against the server named by
//! `--pg-url`, or else a throwaway one on loopback started for the run (as the tests
//! do; it needs the PostgreSQL server binaries).
//!
//! `uncontended` prints one JSON line:
//! - `lock_us`: `PgSessionLock::acquire_blocking` + `release_blocking` on a key nobody
//!   else wants (publish, then the release's compare-and-delete, `unlink_if`, which also
//!   says what the key named; the unlock is not waited for).
//! - `round_trips_per_lock`: the statements `PgFs` awaited per `lock_us` cycle
//!   (`PgFs::round_trips`), and `connections_opened`, over the whole run.
//! - `select1_us`: one round trip of a prepared `SELECT 1` on one connection, driven the
//!   way `PgFs` drives its connections (a runtime thread runs the connection, the
//!   caller's thread awaits the answer). `ratio` = `lock_us / select1_us`.
//! - `lock_us` and `select1_us` are medians of batch means, so a loaded machine's long
//!   stalls weigh in; `lock_p50_us` and `select1_p50_us` are the medians over every single
//!   call, as `publish_us` and `unlink_if_us` are, and `ratio_p50` is their ratio.
//! - `select1_inline_us`: the same round trip with the connection driven on the caller's
//!   own thread (a current-thread runtime): the bare loopback round trip.
//! - `publish_us`, `unlink_if_us`: the primitives an uncontended acquire + release
//!   runs, each called alone through `LockFs` and timed (medians over every call), in
//!   the same batches: where `lock_us` goes. `steps_us`: the whole sequence of them
//!   (`publish`, `unlink_if`, `close`) per cycle, without the core, batched as `lock_us`.
//!
//! `procs` is `procs.rs` with every worker on `PgFs`; the parent adds `select1_us`, and
//! `handoff_p50_rtt` = `handoff_p50_us / select1_us`.

use std::time::Instant;

use serde_json::Value;
use sessionlock::Owner;
use sessionlock::api::block_on;
use sessionlock::fs::{LockFs, LockPath, Published};
use sessionlock::pg::{PgFs, PgSessionLock};

use crate::args::Flags;
use crate::pg_server;
use crate::stats::{json_line, quantile, round};

const BATCHES: u64 = 20;

type Step<'a> = Box<dyn FnMut() -> Result<(), String> + 'a>;

/// The server's connection string: `--pg-url`, or a throwaway server's.
pub fn url(flags: &Flags) -> Result<String, String> {
    if let Some(url) = flags.text("pg-url") {
        return Ok(url.to_owned());
    }
    pg_server::pg()
        .map(|pg| pg.url.clone())
        .ok_or_else(|| "no PostgreSQL server binaries; pass --pg-url".to_owned())
}

/// A connection driven by a runtime thread, as `PgFs` drives its own, with `SELECT 1`
/// prepared.
struct Probe {
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
    select1: tokio_postgres::Statement,
}

impl Probe {
    fn connect(url: &str, worker_threads: usize) -> Result<Self, String> {
        let rt = match worker_threads {
            0 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
            n => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
        }
        .map_err(|e| e.to_string())?;
        let (client, select1) = rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            let select1 = client.prepare("SELECT 1").await.map_err(|e| e.to_string())?;
            Ok::<_, String>((client, select1))
        })?;
        Ok(Self { rt, client, select1 })
    }

    /// One round trip, awaited from the calling thread (the runtime drives the socket).
    fn round_trip(&self) -> Result<(), String> {
        let query = self.client.query_one(&self.select1, &[]);
        sessionlock::api::block_on(query).map(drop).map_err(|e| e.to_string())
    }

    /// One round trip, with the connection driven on this thread.
    fn round_trip_inline(&self) -> Result<(), String> {
        self.rt
            .block_on(self.client.query_one(&self.select1, &[]))
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// The median `SELECT 1` round trip in µs, over `n` runs, awaited as `PgFs` awaits.
pub fn select1_us(url: &str, n: u64) -> Result<f64, String> {
    let probe = Probe::connect(url, 1)?;
    let mut v = Vec::new();
    for _ in 0..n.max(1) {
        let t = Instant::now();
        probe.round_trip()?;
        v.push(t.elapsed().as_secs_f64() * 1e6);
    }
    Ok(quantile(&mut v, 0.5))
}

/// Each primitive of an uncontended acquire + release, timed alone (µs).
#[derive(Default)]
struct Split {
    publish: Vec<f64>,
    unlink_if: Vec<f64>,
}

impl Split {
    fn medians(&mut self) -> [f64; 2] {
        [&mut self.publish, &mut self.unlink_if].map(|v| quantile(v, 0.5))
    }
}

/// The primitives the core runs for an uncontended acquire + release, called directly
/// and timed one by one: `publish`, then the release's `unlink_if`, then `close` (not
/// timed: it does not wait for the server).
fn primitives(fs: &PgFs, path: &LockPath, split: &mut Split) -> Result<(), String> {
    let payload = br#"{"pid":1,"sessionlock":{"flock":true}}"#;
    let t = Instant::now();
    let published = block_on(fs.publish(path, payload)).map_err(|e| e.to_string())?;
    split.publish.push(t.elapsed().as_secs_f64() * 1e6);
    let Published::Created { handle, id } = published else {
        return Err("the steps key was taken".to_owned());
    };
    let t = Instant::now();
    let found = block_on(fs.unlink_if(path, &handle, id)).map_err(|e| e.to_string())?;
    split.unlink_if.push(t.elapsed().as_secs_f64() * 1e6);
    if found != Some(id) {
        return Err(format!("unlink_if found {found:?}, not the published {id:?}"));
    }
    block_on(fs.close(handle)).map_err(|e| e.to_string())
}

/// `uncontended --backend postgres`.
pub fn uncontended(flags: &Flags) -> Result<String, String> {
    let iters = flags.num("iters", 5_000)?.max(BATCHES);
    let url = url(flags)?;
    let fs = PgFs::connect_blocking(&url).map_err(|e| e.to_string())?;
    let lock: PgSessionLock = fs.session_lock(sessionlock::Builder::new());
    let key = format!("bench/uncontended/{}", std::process::id());
    let probe = Probe::connect(&url, 1)?;
    let inline = Probe::connect(&url, 0)?;
    let owner = Owner::new();
    let steps_key = LockPath::from_canonical(format!("{key}/steps"));
    let mut split = Split::default();
    let (locks, lock_round_trips) = (std::cell::Cell::new(0u64), std::cell::Cell::new(0u64));
    let (lock_calls, select1_calls) =
        (std::cell::RefCell::new(Vec::new()), std::cell::RefCell::new(Vec::new()));
    let mut steps: Vec<(&str, Step<'_>)> = vec![
        (
            "lock_us",
            Box::new(|| {
                let before = fs.round_trips();
                let t = Instant::now();
                let guard = lock.acquire_blocking(&key, owner).map_err(|e| e.to_string())?;
                guard.release_blocking().map_err(|e| e.to_string())?;
                lock_calls.borrow_mut().push(t.elapsed().as_secs_f64() * 1e6);
                locks.set(locks.get() + 1);
                lock_round_trips.set(lock_round_trips.get() + fs.round_trips() - before);
                Ok(())
            }),
        ),
        (
            "select1_us",
            Box::new(|| {
                let t = Instant::now();
                probe.round_trip()?;
                select1_calls.borrow_mut().push(t.elapsed().as_secs_f64() * 1e6);
                Ok(())
            }),
        ),
        ("select1_inline_us", Box::new(|| inline.round_trip_inline())),
        ("steps_us", Box::new(|| primitives(&fs, &steps_key, &mut split))),
    ];
    let per_batch = iters / BATCHES;
    let mut means: Vec<(&str, Vec<f64>)> = steps.iter().map(|(n, _)| (*n, Vec::new())).collect();
    for batch in 0..=BATCHES {
        for (i, (name, step)) in steps.iter_mut().enumerate() {
            let t = Instant::now();
            for _ in 0..per_batch {
                step().map_err(|e| format!("{name}: {e}"))?;
            }
            if batch > 0 {
                means[i].1.push(t.elapsed().as_secs_f64() * 1e6 / per_batch as f64);
            }
        }
    }
    drop(steps);
    let [publish_us, unlink_if_us] = split.medians();
    let lock_p50_us = quantile(&mut lock_calls.borrow_mut(), 0.5);
    let select1_p50_us = quantile(&mut select1_calls.borrow_mut(), 0.5);
    let round_trips_per_lock = lock_round_trips.get() as f64 / locks.get().max(1) as f64;
    let mut stat = |name: &str, p: f64| {
        means.iter_mut().find(|(n, _)| *n == name).map_or(0.0, |(_, v)| quantile(v, p))
    };
    let (lock_us, select1_us) = (stat("lock_us", 0.5), stat("select1_us", 0.5));
    let range = Value::from(vec![round(stat("lock_us", 0.0), 2), round(stat("lock_us", 1.0), 2)]);
    Ok(json_line(&[
        ("scenario", "uncontended".into()),
        ("backend", "postgres".into()),
        ("iters", iters.into()),
        ("lock_us", round(lock_us, 2)),
        ("select1_us", round(select1_us, 2)),
        ("select1_inline_us", round(stat("select1_inline_us", 0.5), 2)),
        ("ratio", round(lock_us / select1_us, 3)),
        ("lock_us_batch_range", range),
        ("lock_p50_us", round(lock_p50_us, 2)),
        ("select1_p50_us", round(select1_p50_us, 2)),
        ("ratio_p50", round(lock_p50_us / select1_p50_us, 3)),
        ("steps_us", round(stat("steps_us", 0.5), 2)),
        ("publish_us", round(publish_us, 2)),
        ("unlink_if_us", round(unlink_if_us, 2)),
        ("round_trips_per_lock", round(round_trips_per_lock, 2)),
        ("connections_opened", fs.connections_opened().into()),
    ]))
}
