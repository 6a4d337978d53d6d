//! Several processes on one lock: mutual exclusion under load, and recovery from a holder
//! killed with SIGKILL. The helper processes are this test binary again, running the
//! ignored `helper_process` test in the role the parent sets.
#![cfg(not(sessionlock_loom))]

mod common;

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::Path;
use std::time::Duration;

use common::spawn_helper;
use common::{Seen, helper_role, hold, lock_file, lock_path, recorded, report, session};
use sessionlock::Reason;
use sessionlock::payload::Payload;
use sessionlock::{AcquireError, Builder, Owner, SessionLock, TryAcquire};

const PROCESSES: usize = 4;
const THREADS: usize = 2;
const SECTIONS_PER_THREAD: usize = 125;

/// Not a test: the body of the helper processes (named by `common::HELPER`). Does
/// nothing unless started by `spawn_helper`.
#[test]
#[ignore = "helper process for the multi-process tests"]
fn helper_process() {
    let Some((role, s)) = helper_role() else {
        return;
    };
    match role.as_str() {
        "hold" => hold(&s),
        "worker" => work(&s),
        other => panic!("unknown role {other}"),
    }
}

fn work(s: &Path) {
    let (lock, rec) = recorded(Builder::new().timeout(Duration::from_secs(120)));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (lock, s) = (lock.clone(), s.to_owned());
            std::thread::spawn(move || {
                for i in 0..SECTIONS_PER_THREAD {
                    critical_section(&lock, &s, t, i);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    report("kernel-waits", rec.count(&Seen::KernelWait));
}

/// One critical section with the occupancy oracle: `occupied` must not exist on entry.
fn critical_section(lock: &SessionLock, s: &Path, thread: usize, i: usize) {
    let dir = s.parent().unwrap();
    let guard = match lock.acquire_blocking(s, Owner::new()) {
        Ok(guard) => guard,
        Err(e @ AcquireError::Timeout { .. }) => panic!("timeout: {e}"),
        Err(e) => panic!("{e}"),
    };
    let occupied = dir.join("occupied");
    match OpenOptions::new().write(true).create_new(true).open(&occupied) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => panic!("INV-1 MutualExclusion: overlap"),
        Err(e) => panic!("{e}"),
    }
    let mut log = OpenOptions::new().append(true).create(true).open(dir.join("log")).unwrap();
    writeln!(log, "{} {thread} {i}", std::process::id()).unwrap();
    std::fs::remove_file(&occupied).unwrap();
    guard.release_blocking().unwrap();
}

/// Four processes of two threads each run 1000 critical sections on one lock, with an
/// occupancy file that must never already exist on entry: no overlap, no timeout.
/// Checks: INV-1, INV-3, INV-5
#[test]
fn processes_never_overlap() {
    let (dir, s) = session();
    let workers: Vec<_> = (0..PROCESSES).map(|_| spawn_helper("worker", &s, &[])).collect();
    let mut kernel_waits = 0;
    for mut w in workers {
        kernel_waits += w.expect("kernel-waits").parse::<usize>().unwrap();
        assert!(w.child.wait().unwrap().success());
    }
    assert!(kernel_waits > 0, "the processes never contended");
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert_eq!(log.lines().count(), PROCESSES * THREADS * SECTIONS_PER_THREAD);
    assert!(!dir.path().join("occupied").exists());
    assert!(!lock_file(&s).exists(), "no lock file left behind");
}

/// A holder killed with SIGKILL is proven dead by the kernel lock, and its file is taken
/// over at once, although its `createdAt` is fresh: no age threshold is waited for.
/// Checks: INV-4, INV-2
#[test]
fn sigkilled_holder_taken_over_without_age_wait() {
    let (_dir, s) = session();
    let mut holder = spawn_helper("hold", &s, &[]);
    holder.expect("held");
    holder.kill();
    let left = Payload::parse(&std::fs::read(lock_file(&s)).unwrap()).unwrap();
    assert!(left.kernel_locked, "the dead holder's file is still there");
    let (lock, rec) = recorded(Builder::new());
    let guard = lock.acquire_blocking(&s, Owner::new()).unwrap();
    assert_eq!(rec.broken(), vec![vec![Reason::KernelProvenDead]]);
    assert_eq!(rec.count(&Seen::Contended), 1, "one look, no retry loop");
    assert_eq!(rec.count(&Seen::KernelWait), 0);
    guard.release_blocking().unwrap();
}

/// A contender already waiting in the kernel is woken by the holder's death and takes
/// over, proving the death rather than timing out.
/// Checks: INV-4, INV-3
#[test]
fn waiting_contender_woken_by_holder_death() {
    let (_dir, s) = session();
    let mut holder = spawn_helper("hold", &s, &[]);
    holder.expect("held");
    let (lock, rec) = recorded(Builder::new().timeout(Duration::from_secs(60)));
    let contender = {
        let s = s.clone();
        std::thread::spawn(move || lock.acquire_blocking(&s, Owner::new()))
    };
    rec.wait_for(&Seen::KernelWait);
    holder.kill();
    let guard = contender.join().unwrap().unwrap();
    assert_eq!(rec.count(&Seen::KernelWait), 1);
    assert_eq!(rec.broken(), vec![vec![Reason::KernelProvenDead]]);
    assert_eq!(rec.count(&Seen::TimedOut), 0);
    guard.release_blocking().unwrap();
}

/// try_acquire on a lock held by another live process names it: pid, kernel-held, age.
/// Checks: INV-1
#[test]
fn try_acquire_reports_other_process_holder() {
    let (_dir, s) = session();
    let mut helper = spawn_helper("hold", &s, &[]);
    let pid: u32 = helper.expect("held").parse().unwrap();
    let outcome = SessionLock::new().try_acquire_blocking(&s, Owner::new()).unwrap();
    let TryAcquire::Held(holder) = outcome else {
        panic!("took a live process's lock");
    };
    assert_eq!(holder.pid(), Some(pid));
    assert!(holder.is_kernel_held() && holder.is_alive() && !holder.is_in_process());
    assert!(holder.age().is_some_and(|a| a < Duration::from_secs(600)));
    assert_eq!(*holder.path(), lock_path(&s));
    helper.kill();
}
