//! The cross-process queue (`spec/protocol.md`, section 11) on Linux. Two locks built
//! with registries of their own stand for two processes: their kernel locks conflict, as
//! two processes' do, and neither knows the other's tasks.
#![cfg(not(sessionlock_loom))]

mod common;

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use common::{lock_file, session};
use sessionlock::{Builder, Owner, RealClock, RealFs, SessionLock};

fn queued_lock() -> SessionLock<RealFs, RealClock> {
    Builder::new().queue(true).timeout(Duration::from_secs(10)).build_with(RealFs, RealClock)
}

/// The names beside the lock file that are tickets (`<lock>.q.<seq>.<id>`).
fn tickets(session: &Path) -> Vec<String> {
    let lock = lock_file(session);
    let prefix = format!("{}.q.", lock.file_name().unwrap().to_str().unwrap());
    let dir = lock.parent().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    names.sort();
    names
}

/// A waiter of another process takes a ticket and waits on the holder; the holder, wanting
/// the lock again right after its release, queues behind the waiter; each gets in in
/// turn, and no lock file and no ticket is left.
/// Checks: INV-1, INV-5, INV-9
#[test]
fn a_releaser_queues_behind_a_waiting_process_and_nothing_is_left() {
    let (_dir, session) = session();
    let (a, b) = (queued_lock(), queued_lock());
    let first = a.acquire_blocking(&session, Owner::new()).unwrap();
    let (entered, inside) = mpsc::channel();
    let (go, release) = mpsc::channel::<()>();
    let waiter = {
        let session = session.clone();
        std::thread::spawn(move || {
            let guard = b.acquire_blocking(&session, Owner::new()).unwrap();
            entered.send(()).unwrap();
            release.recv().unwrap();
            guard.release_blocking().unwrap();
        })
    };
    while tickets(&session).is_empty() {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(tickets(&session).len(), 1, "the waiter's ticket: {:?}", tickets(&session));
    first.release_blocking().unwrap();
    inside.recv_timeout(Duration::from_secs(5)).expect("the waiter gets in after the release");
    let again = {
        let (a, session) = (a.clone(), session.clone());
        std::thread::spawn(move || a.acquire_blocking(&session, Owner::new()).unwrap())
    };
    while tickets(&session).len() < 2 {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(!again.is_finished(), "the releaser waits behind the holder's ticket");
    go.send(()).unwrap();
    waiter.join().unwrap();
    let last = again.join().unwrap();
    last.release_blocking().unwrap();
    assert!(!lock_file(&session).exists(), "no lock file is left");
    assert_eq!(tickets(&session), Vec::<String>::new(), "no ticket is left");
}
