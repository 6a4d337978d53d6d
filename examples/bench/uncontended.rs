//! `uncontended`: one thread acquires and releases a lock nobody else wants, against the
//! floor of the system calls the protocol cannot avoid, on tmpfs (`/dev/shm`) and on the
//! working directory's filesystem (or `--dir`). Prints one JSON line per filesystem.
//!
//! - `lock_us`: `SessionLock::acquire_blocking` + `SessionGuard::release_blocking`.
//! - `floor_publish_us`: the same protocol written directly with rustix, relative to an
//!   open directory: `O_TMPFILE`, `flock(LOCK_EX|LOCK_NB)`, a 180-byte `write`,
//!   `linkat`; then `fstat` + `lstat` compared, `unlinkat`, `close`.
//! - `floor_excl_us`: the original lock's floor: `O_CREAT|O_EXCL` create, 180-byte
//!   `write`, `close`, `unlinkat`.
//! - `ratio`: `lock_us / floor_publish_us`.
//!
//! A breakdown of the gap:
//! - `resolve_us`: `lock_path_for` alone (on every acquire: the directory's remembered
//!   realpath, checked with one `lstat`; see `src/real/dir.rs`).
//! - `core_us`: the core `Locker`'s acquire + release on an already resolved path.
//! - `floor_as_adapter_us`: the floor, but making the calls the way the adapter does: the
//!   directory `stat`ed twice per cycle (the checks that its remembered realpath and its
//!   descriptor are still good, `src/real/dir.rs`), `lstat` and `unlink` by absolute path.
//! - `payload_us`: the payload of one publish built (`Locker::payload`) and serialised
//!   (`Payload::to_bytes`), no system call: part of `core_us`.
//!
//! The loops run interleaved in batches, and each figure is the median of its batch
//! means, so a burst of load from other processes shifts them all alike.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Instant;

use rustix::fs::{AtFlags, CWD, FlockOperation, Mode, OFlags, flock, fstat, linkat, lstat};
use rustix::fs::{openat, stat, statfs, unlinkat};
use serde_json::Value;
use sessionlock::{LockPath, Owner, SessionLock};

use crate::args::Flags;
use crate::stats::{json_line, quantile, round};

const BATCHES: u64 = 20;
const PAYLOAD: [u8; 180] = [b'x'; 180];

type Step<'a> = Box<dyn FnMut() -> Result<(), String> + 'a>;

/// Runs the scenario; one JSON line per filesystem.
pub fn run(flags: &Flags) -> Result<String, String> {
    let iters = flags.num("iters", 20_000)?.max(BATCHES);
    let here = match flags.text("dir") {
        Some(dir) => dir.into(),
        None => std::env::current_dir().map_err(|e| e.to_string())?,
    };
    let mut bases = Vec::new();
    if Path::new("/dev/shm").is_dir() {
        bases.push(std::path::PathBuf::from("/dev/shm"));
    }
    bases.push(here);
    let mut lines = Vec::new();
    for base in bases {
        let tmp = tempfile::Builder::new().prefix("bench").tempdir_in(&base);
        let tmp = tmp.map_err(|e| format!("{}: {e}", base.display()))?;
        lines.push(measure(tmp.path(), iters).map_err(|e| format!("{}: {e}", base.display()))?);
    }
    Ok(lines.join("\n"))
}

/// Every loop in `dir`, interleaved; the JSON line of the results.
fn measure(dir: &Path, iters: u64) -> Result<String, String> {
    let dirfd = open_dir(dir).map_err(|e| e.to_string())?;
    let lock = SessionLock::new();
    let session = dir.join("s.jsonl");
    let resolved = lock.lock_path(&session).map_err(|e| e.to_string())?;
    let floor_path = dir.join("f.lock");
    let owner = Owner::new();
    let err = |e: rustix::io::Errno| e.to_string();
    let steps: Vec<(&str, Step<'_>)> = vec![
        ("lock_us", Box::new(|| lock_cycle(&lock, &session, owner))),
        ("core_us", Box::new(|| core_cycle(&lock, &resolved, owner))),
        ("resolve_us", Box::new(|| lock.lock_path(&session).map(drop).map_err(|e| e.to_string()))),
        ("floor_publish_us", Box::new(|| floor_publish(&dirfd, &floor_path, false).map_err(err))),
        ("floor_as_adapter_us", Box::new(|| floor_publish(&dirfd, &floor_path, true).map_err(err))),
        ("floor_excl_us", Box::new(|| floor_excl(&dirfd, OsStr::new("e.lock")).map_err(err))),
        ("payload_us", Box::new(|| payload_bytes(&lock))),
    ];
    let means = batches(steps, iters / BATCHES)?;
    let stat = |name: &str, p: f64| {
        let mut v = means.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
        v.as_mut().map_or(0.0, |v| quantile(v, p))
    };
    let med = |name: &str| round(stat(name, 0.5), 2);
    let range =
        |name: &str| Value::from(vec![round(stat(name, 0.0), 2), round(stat(name, 1.0), 2)]);
    Ok(json_line(&[
        ("scenario", "uncontended".into()),
        ("fs", fs_name(dir).into()),
        ("dir", shown(dir).into()),
        ("iters", iters.into()),
        ("lock_us", med("lock_us")),
        ("floor_publish_us", med("floor_publish_us")),
        ("floor_excl_us", med("floor_excl_us")),
        ("ratio", round(stat("lock_us", 0.5) / stat("floor_publish_us", 0.5), 3)),
        ("resolve_us", med("resolve_us")),
        ("core_us", med("core_us")),
        ("floor_as_adapter_us", med("floor_as_adapter_us")),
        ("payload_us", round(stat("payload_us", 0.5), 3)),
        ("lock_us_batch_range", range("lock_us")),
        ("floor_publish_us_batch_range", range("floor_publish_us")),
    ]))
}

/// The public API's acquire + release.
fn lock_cycle(lock: &SessionLock, session: &Path, owner: Owner) -> Result<(), String> {
    let guard = lock.acquire_blocking(session, owner).map_err(|e| e.to_string())?;
    guard.release_blocking().map(drop).map_err(|e| e.to_string())
}

/// The core's acquire + release on a resolved path (they never wait when uncontended).
fn core_cycle(lock: &SessionLock, path: &LockPath, owner: Owner) -> Result<(), String> {
    let guard = pollster::block_on(lock.locker().acquire(path, owner));
    let guard = guard.map_err(|e| e.to_string())?;
    pollster::block_on(guard.release()).map(drop).map_err(|e| e.to_string())
}

/// The payload of one publish, built and serialised as the core does it.
fn payload_bytes(lock: &SessionLock) -> Result<(), String> {
    let bytes = lock.locker().payload().to_bytes();
    match std::hint::black_box(bytes).len() {
        0 => Err("an empty payload".into()),
        _ => Ok(()),
    }
}

/// Runs each step `per_batch` times in turn, `BATCHES` times over (after one unrecorded
/// warm-up batch); returns each step's batch means in microseconds.
fn batches<'n>(
    mut steps: Vec<(&'n str, Step<'_>)>,
    per_batch: u64,
) -> Result<Vec<(&'n str, Vec<f64>)>, String> {
    let mut means: Vec<_> = steps.iter().map(|(name, _)| (*name, Vec::new())).collect();
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
    Ok(means)
}

fn open_dir(dir: &Path) -> rustix::io::Result<OwnedFd> {
    openat(CWD, dir, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
}

/// The publish-verify-remove floor (see the module docs). `as_adapter`: check the
/// directory's identity twice per call and `unlink` by absolute path, as the adapter does.
fn floor_publish(dirfd: &OwnedFd, path: &Path, as_adapter: bool) -> rustix::io::Result<()> {
    if as_adapter {
        let dir = path.parent().unwrap_or(Path::new("/"));
        stat(dir)?;
        stat(dir)?;
    }
    let name = path.file_name().unwrap_or(OsStr::new("f.lock"));
    let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
    let fd = openat(dirfd, ".", flags, Mode::from_raw_mode(0o600))?;
    flock(&fd, FlockOperation::NonBlockingLockExclusive)?;
    rustix::io::write(&fd, &PAYLOAD)?;
    linkat(&fd, "", dirfd, name, AtFlags::EMPTY_PATH)?;
    let (held, named) = (fstat(&fd)?, lstat(path)?);
    assert_eq!((held.st_dev, held.st_ino), (named.st_dev, named.st_ino));
    match as_adapter {
        true => unlinkat(CWD, path, AtFlags::empty())?,
        false => unlinkat(dirfd, name, AtFlags::empty())?,
    }
    drop(fd);
    Ok(())
}

/// The original lock's floor: `O_EXCL` create, write, close, unlink.
fn floor_excl(dirfd: &OwnedFd, name: &OsStr) -> rustix::io::Result<()> {
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC;
    let fd = openat(dirfd, name, flags, Mode::from_raw_mode(0o600))?;
    rustix::io::write(&fd, &PAYLOAD)?;
    drop(fd);
    unlinkat(dirfd, name, AtFlags::empty())
}

/// The filesystem type of `dir`, by `statfs` magic.
fn fs_name(dir: &Path) -> String {
    #[allow(clippy::useless_conversion)] // `f_type`'s width differs between targets
    let magic = statfs(dir).map_or(0, |s| i64::from(s.f_type));
    match magic {
        0x0102_1994 => "tmpfs".into(),
        0xEF53 => "ext4".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683E => "btrfs".into(),
        0x794C_7630 => "overlayfs".into(),
        other => format!("0x{other:x}"),
    }
}

/// `dir` as the figures show it: relative to the working directory when it is inside it
/// (`./bench…`), so a recorded line names no machine's checkout; else as given.
fn shown(dir: &Path) -> String {
    let here = std::env::current_dir().ok();
    match here.as_deref().and_then(|h| dir.strip_prefix(h).ok()) {
        Some(rel) => format!("./{}", rel.display()),
        None => dir.display().to_string(),
    }
}
