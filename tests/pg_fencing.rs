//! Holders that die, are cut off or stop, over PostgreSQL: a SIGKILLed holder process is
//! taken over at once by a process waiting in the server; a holder whose connection is
//! terminated is taken over, its fenced writes are rejected and its release reports the
//! compromise; a SIGSTOPped holder is never taken over, however long it sleeps, and its
//! waiters time out naming it. The helper processes are this binary again, running the
//! ignored `helper_process` test in the role the parent sets.
#![cfg(all(feature = "postgres", not(sessionlock_loom)))]

mod common;
mod pg_server;
mod pg_support;

use std::sync::Arc;
use std::time::Duration;

use common::{Recorder, Seen};
use pg_server::{Pg, key, pg};
use pg_support::{PgHelper, append, backend_of, helper_role, report, transcript, wait_until_gone};
use sessionlock::pg::{FenceError, PgFs};
use sessionlock::{AcquireError, Builder, Owner, ReleaseError, Released, TryAcquire};
use sessionlock::{Found, Reason};

fn connect(pg: &Pg, name: &str) -> PgFs {
    PgFs::connect_blocking(&pg.url_named(name)).expect("connect")
}

/// Not a test: the body of the helper processes. Does nothing unless started by
/// `PgHelper::spawn`.
#[test]
#[ignore = "helper process for the PostgreSQL failure tests"]
fn helper_process() {
    let Some((role, key)) = helper_role() else { return };
    let pg = pg().expect("the parent's server");
    match role.as_str() {
        "hold" => hold(pg, &key),
        "wait" => wait(pg, &key),
        other => panic!("unknown role {other}"),
    }
}

/// Holds the lock of `key` and reports its token; then obeys `append` and `release`.
fn hold(pg: &Pg, key: &str) {
    let fs = connect(pg, "fence-holder");
    let lock = fs.session_lock(Builder::new());
    let guard = lock.acquire_blocking(key, Owner::new()).unwrap();
    let token = guard.fencing_token().unwrap();
    report("held", token.ino);
    let mut guard = Some(guard);
    for order in std::io::stdin().lines() {
        match order.unwrap().as_str() {
            "append" => match append(&pg.url, &lock.lock_path(key).unwrap(), token, "held") {
                Ok(n) => report("append", format!("ok {n}")),
                Err(e) => report("append", format!("rejected {e}")),
            },
            "release" => match guard.take().unwrap().release_blocking() {
                Ok(r) => report("release", format!("ok {r:?}")),
                Err(e) => report("release", format!("failed {e}")),
            },
            other => panic!("unknown order {other}"),
        }
    }
}

/// Waits (up to a minute) for the lock of `key`; reports when it waits in the server,
/// then the token it got and the reasons of what it broke.
fn wait(pg: &Pg, key: &str) {
    let fs = connect(pg, "fence-waiter");
    let rec = Arc::new(Recorder::default());
    let lock =
        fs.session_lock(Builder::new().timeout(Duration::from_secs(60)).observer(rec.clone()));
    let waiter = {
        let key = key.to_owned();
        std::thread::spawn(move || lock.acquire_blocking(&key, Owner::new()))
    };
    rec.wait_for(&Seen::KernelWait);
    report("waiting", "");
    let guard = waiter.join().unwrap().unwrap();
    report("acquired", format!("{} {:?}", guard.fencing_token().unwrap().ino, rec.broken()));
    guard.release_blocking().unwrap();
}

/// A holder process killed with SIGKILL is taken over at once by a process waiting in
/// the server: its session ends with it, which frees the advisory lock and wakes the
/// waiter, who proves the death and takes over with a newer token.
/// Checks: INV-4, INV-1
#[test]
fn sigkilled_holder_process_is_taken_over_at_once() {
    let Some(pg) = pg() else { return };
    let s = key("sigkill");
    let mut holder = PgHelper::spawn(pg, "hold", &s);
    let held: u64 = holder.expect("held").parse().unwrap();
    let mut waiter = PgHelper::spawn(pg, "wait", &s);
    waiter.expect("waiting");
    holder.signal("KILL");
    let got = waiter.expect("acquired");
    let (token, reasons) = got.split_once(' ').unwrap();
    assert!(token.parse::<u64>().unwrap() > held, "{got}");
    assert_eq!(reasons, format!("{:?}", vec![vec![Reason::KernelProvenDead]]));
}

/// A holder whose connection is terminated (`pg_terminate_backend`) has lost its lock:
/// its fenced write is rejected even before anyone takes over; another host takes over
/// at once, with a newer token; the old holder's writes stay rejected while the new
/// holder's commit; and the old holder's release reports the compromise. The
/// transcript holds exactly the writes made under the current token.
/// Checks: INV-8, INV-4, INV-6
#[test]
fn terminated_holder_is_taken_over_and_fenced_out() {
    let Some(pg) = pg() else { return };
    let (a, b) = (connect(pg, "fence-term-a"), connect(pg, "fence-term-b"));
    let s = key("terminate");
    let lock_a = a.session_lock(Builder::new());
    let path = lock_a.lock_path(&s).unwrap();
    let old = lock_a.acquire_blocking(&s, Owner::new()).unwrap();
    let old_token = old.fencing_token().unwrap();
    assert_eq!(append(&pg.url, &path, old_token, "a1").unwrap(), 1, "the holder may write");
    let backend = backend_of(pg, &s);
    assert_eq!(pg.psql(&format!("SELECT pg_terminate_backend({backend})")), "t");
    wait_until_gone(pg, backend);
    let lost = append(&pg.url, &path, old_token, "a2").unwrap_err();
    assert!(matches!(lost, FenceError::Lost { token, .. } if token == old_token.ino), "{lost}");
    let rec = Arc::new(Recorder::default());
    let lock_b =
        b.session_lock(Builder::new().timeout(Duration::from_secs(10)).observer(rec.clone()));
    let new = lock_b.acquire_blocking(&s, Owner::new()).unwrap();
    assert_eq!(rec.broken(), vec![vec![Reason::KernelProvenDead]]);
    let new_token = new.fencing_token().unwrap();
    assert!(new_token.ino > old_token.ino);
    let stale = append(&pg.url, &path, old_token, "a3").unwrap_err();
    assert!(
        matches!(stale, FenceError::Superseded { current: Some(c), .. } if c == new_token.ino),
        "{stale}"
    );
    assert_eq!(append(&pg.url, &path, new_token, "b1").unwrap(), 1);
    let released = old.release_blocking();
    assert!(
        matches!(released, Err(ReleaseError::Compromised { found: Found::Other(id), .. }) if id == new_token),
        "{released:?}"
    );
    let expected = vec![(old_token.ino, "a1".to_owned()), (new_token.ino, "b1".to_owned())];
    assert_eq!(transcript(pg, &s), expected);
    assert_eq!(new.release_blocking().unwrap(), Released::Removed);
}

/// A holder process stopped with SIGSTOP for longer than every waiter's timeout is
/// never taken over: age is not death, and its session still holds the advisory lock.
/// Each waiter times out naming it; once continued, it still holds, its fenced write
/// commits, and it releases cleanly.
/// Checks: INV-1, INV-2, INV-8
#[test]
fn stopped_holder_is_never_taken_over() {
    let Some(pg) = pg() else { return };
    let s = key("sigstop");
    let mut holder = PgHelper::spawn(pg, "hold", &s);
    let held: u64 = holder.expect("held").parse().unwrap();
    holder.signal("STOP");
    let fs = connect(pg, "fence-stop");
    for ms in [100, 300, 900] {
        let rec = Arc::new(Recorder::default());
        let lock = fs.session_lock(
            Builder::new()
                .timeout(Duration::from_millis(ms))
                .stale_age(Duration::from_millis(1))
                .observer(rec.clone()),
        );
        let err = lock.acquire_blocking(&s, Owner::new()).unwrap_err();
        let AcquireError::Timeout { holder: Some(seen), .. } = err else { panic!("{err}") };
        assert_eq!(seen.pid(), Some(holder.pid()), "{seen}");
        assert!(seen.is_kernel_held(), "{seen}");
        assert!(seen.reasons().contains(&Reason::TooOld), "age is reported: {seen}");
        assert_eq!(rec.count(&Seen::KernelWait), 1, "it waited in the server");
        let TryAcquire::Held(_) = lock.try_acquire_blocking(&s, Owner::new()).unwrap() else {
            panic!("took a stopped holder's lock");
        };
    }
    let row = pg.psql(&format!("SELECT generation FROM sessionlock_locks WHERE path = '{s}'"));
    assert_eq!(row, held.to_string(), "the row was never broken");
    holder.signal("CONT");
    holder.order("append");
    assert_eq!(holder.expect("append"), "ok 1");
    holder.order("release");
    assert_eq!(holder.expect("release"), "ok Removed");
    assert_eq!(transcript(pg, &s), vec![(held, "held".to_owned())]);
}
