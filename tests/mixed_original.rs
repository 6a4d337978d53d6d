//! Mixed with the original lock, on Linux with real processes: the original's
//! check-then-remove-by-path against our holder that releases and exits, and the grace
//! that stops it (README, "Mixed with the original TypeScript lock"; the model's
//! `script_original_contender` tests are the same story in logical time).
//!
//! Our holder and our successor are helper processes (this test binary again). The
//! original contender is this test, following the original's rules
//! (`examples/mixed/original.rs`): it reads the holder's payload, the holder releases,
//! our successor publishes, and only then does the contender judge the pid it read.
#![cfg(not(sessionlock_loom))]

mod common;
#[allow(dead_code)] // the acquire loop is the example's; these tests judge one file
#[path = "../examples/mixed/original.rs"]
mod original;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{helper_role, lock_file, report, session, spawn_helper};
use sessionlock::payload::Payload;
use sessionlock::{Owner, ReleaseError, SessionLock};

/// Not a test: the body of the helper processes (named by `common::HELPER`). Does
/// nothing unless started by `spawn_helper`.
#[test]
#[ignore = "helper process for the mixed tests"]
fn helper_process() {
    let Some((role, s)) = helper_role() else {
        return;
    };
    let grace = std::env::var("SESSIONLOCK_TEST_GRACE_MS").ok().and_then(|g| g.parse().ok());
    let grace = Duration::from_millis(grace.unwrap_or(0));
    report("acquiring", std::process::id());
    let guard = SessionLock::new().acquire_blocking(&s, Owner::new()).expect("acquire");
    report("held", std::process::id());
    wait_for_file(&s.with_extension(role));
    let released = guard.release_blocking();
    let verdict = match released {
        Ok(_) => "clean".to_owned(),
        Err(ReleaseError::Compromised { .. }) => "compromised".to_owned(),
        Err(e) => format!("error {e}"),
    };
    report("released", verdict);
    std::thread::sleep(grace);
}

/// Waits (up to 60 s, a hang guard only) until `path` exists.
#[allow(clippy::disallowed_methods)] // a hang guard, not a timing assertion
fn wait_for_file(path: &Path) {
    let started = Instant::now();
    while !path.exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// What the original contender concluded about the holder it read.
#[derive(Debug, PartialEq, Eq)]
enum Judged {
    /// It found the pid alive within its window and backed off.
    Alive,
    /// It found it dead and removed whatever the path named: our successor's live file.
    RemovedLiveFile,
}

/// The scene: our holder (which lingers `grace` after its release), our successor
/// waiting on it, and an original contender that read the holder's payload, saw the
/// successor's file appear, and then judges the pid it read, polling it for `window`.
/// Returns its judgement and our successor's release verdict.
#[allow(clippy::disallowed_methods)] // the contender's window is real time, as the original's
fn scene(grace: Duration, window: Duration) -> (Judged, String) {
    let (dir, s) = session();
    let grace_env = [("SESSIONLOCK_TEST_GRACE_MS", grace.as_millis().to_string())];
    let mut holder = spawn_helper("go1", &s, &grace_env);
    let holder_pid: u32 = holder.expect("held").parse().expect("pid");
    let mut successor = spawn_helper("go2", &s, &[]);
    successor.expect("acquiring");
    std::thread::sleep(Duration::from_millis(300)); // it is now waiting on the holder

    let lock = lock_file(&s);
    let read = std::fs::read(&lock).expect("the holder's file");
    assert_eq!(Payload::parse(&read).and_then(|p| p.pid), Some(holder_pid), "read the holder");
    std::fs::write(s.with_extension("go1"), "").expect("go1");
    assert_eq!(holder.expect("released"), "clean");
    let successor_pid = successor.expect("held");
    let now = std::fs::read(&lock).expect("our successor's file");
    assert_ne!(now, read, "our successor published");
    // Reap the holder when it exits, as its parent shell would.
    let reaper = std::thread::spawn(move || holder.child.wait().map(|_| holder));

    let started = Instant::now();
    let mut stale = original::is_stale(&String::from_utf8_lossy(&read));
    while !stale && started.elapsed() < window {
        std::thread::sleep(Duration::from_millis(1));
        stale = original::is_stale(&String::from_utf8_lossy(&read));
    }
    let judged = if stale {
        std::fs::remove_file(&lock).expect("the original unlinks by path");
        Judged::RemovedLiveFile
    } else {
        Judged::Alive
    };
    std::fs::write(s.with_extension("go2"), "").expect("go2");
    let verdict = successor.expect("released");
    assert!(successor_pid.parse::<u32>().is_ok(), "{successor_pid}");
    drop(reaper.join().expect("reaper"));
    drop(dir);
    (judged, verdict)
}

/// Our holder's process exits as it releases: an original contender that read its
/// payload finds the pid dead and removes our successor's live file by path (H2, by the
/// original); our successor's release reports the compromise.
/// Checks: INV-1
#[test]
fn original_removes_successor_when_holder_exits_at_once() {
    let (judged, verdict) = scene(Duration::ZERO, Duration::from_secs(30));
    assert_eq!(judged, Judged::RemovedLiveFile);
    assert_eq!(verdict, "compromised");
}

/// Our holder's process outlives its release by a grace longer than the original's
/// read-to-unlink window: the original finds the pid alive, backs off, and our
/// successor's file stays; its release is clean.
/// Checks: INV-1
#[test]
fn original_backs_off_while_holder_outlives_release_by_grace() {
    let (judged, verdict) = scene(Duration::from_secs(3), Duration::from_millis(100));
    assert_eq!(judged, Judged::Alive);
    assert_eq!(verdict, "clean");
}

/// `sessionlock run` as the holder and as our waiting successor, each running a command
/// that waits for a signal file; the original contender reads the holder's payload, lets
/// the holder's command exit, sees our successor publish, and judges the pid it read
/// within `window`. Returns its judgement and our successor's `run` exit code.
#[allow(clippy::disallowed_methods)] // the contender's window is real time, as the original's
fn run_scene(binary: &str, window: Duration) -> (Judged, Option<i32>) {
    let (dir, s) = session();
    let run = |go: &str| {
        let wait =
            format!("while [ ! -e '{}' ]; do sleep 0.005; done", s.with_extension(go).display());
        std::process::Command::new(binary)
            .arg("run")
            .arg(&s)
            .args(["--timeout", "60s", "--", "sh", "-c", &wait])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sessionlock run")
    };
    let lock = lock_file(&s);
    let mut holder = run("go1");
    wait_for_file(&lock);
    std::thread::sleep(Duration::from_millis(100)); // its payload is written and complete
    let mut successor = run("go2");
    std::thread::sleep(Duration::from_millis(300)); // it is now waiting on the holder
    let read = std::fs::read(&lock).expect("the holder's file");
    // Reap the holder's `run` when it exits, as its parent shell would.
    let reaper = std::thread::spawn(move || holder.wait());
    std::fs::write(s.with_extension("go1"), "").expect("go1");
    let started = Instant::now();
    while std::fs::read(&lock).ok().is_none_or(|now| now == read) {
        assert!(started.elapsed() < Duration::from_secs(30), "our successor never published");
        std::thread::sleep(Duration::from_millis(1));
    }
    let started = Instant::now();
    let mut stale = original::is_stale(&String::from_utf8_lossy(&read));
    while !stale && started.elapsed() < window {
        std::thread::sleep(Duration::from_millis(1));
        stale = original::is_stale(&String::from_utf8_lossy(&read));
    }
    let judged = if stale {
        std::fs::remove_file(&lock).expect("the original unlinks by path");
        Judged::RemovedLiveFile
    } else {
        Judged::Alive
    };
    std::fs::write(s.with_extension("go2"), "").expect("go2");
    let code = successor.wait().expect("successor").code();
    reaper.join().expect("reaper").expect("holder");
    drop(dir);
    (judged, code)
}

/// `sessionlock run` keeps the pid its payload names alive for its grace after the lock
/// file is gone, whoever removed it: an original contender that read the holder's payload
/// and judges it within 50 ms of our successor's publication finds it alive and backs
/// off, and our successor's `run` exits 0. Fails on main, where the payload names `run`
/// itself, which exits as it releases (H2 by the original), and on a `run` that waits its
/// grace only when it removed the file itself (the model's `H2-cond-grace`).
/// Checks: INV-1
#[test]
fn run_holder_outlives_release_by_grace_whoever_removed_the_file() {
    let (judged, code) = run_scene(env!("CARGO_BIN_EXE_sessionlock"), Duration::from_millis(50));
    assert_eq!(judged, Judged::Alive);
    assert_eq!(code, Some(0));
}
