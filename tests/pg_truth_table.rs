//! The truth table over PostgreSQL (`PgFs`), one test per scenario: in-process and
//! cross-session contention, reentrancy, release and drop, rows not written by
//! sessionlock (never judged by pid), payload-less rows, a row removed or replaced under
//! its holder, bad session keys, and the connection pool. Two `PgFs` in one process
//! stand for two hosts: they share no registry and no connection.
#![cfg(all(feature = "postgres", not(sessionlock_loom)))]

mod common;
mod pg_server;

use std::sync::Arc;
use std::time::Duration;

use common::{Recorder, Seen};
use pg_server::{Pg, key, pg};
use sessionlock::fs::{FsOp, LockFs, PidState};
use sessionlock::payload::Payload;
use sessionlock::pg::{PgFs, PgSessionLock};
use sessionlock::{AcquireError, Builder, Owner, ReleaseError, Released, TryAcquire};
use sessionlock::{Found, Reason};

fn connect(pg: &Pg, name: &str) -> PgFs {
    PgFs::connect_blocking(&pg.url_named(name)).expect("connect")
}

fn recorded(fs: &PgFs, builder: Builder) -> (PgSessionLock, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    (fs.session_lock(builder.observer(rec.clone())), rec)
}

fn short() -> Builder {
    Builder::new().timeout(Duration::from_millis(300))
}

/// The generation of the lock row at `key`, if any, as the database says.
fn row_generation(pg: &Pg, key: &str) -> Option<u64> {
    let out = pg.psql(&format!("SELECT generation FROM sessionlock_locks WHERE path = '{key}'"));
    (!out.is_empty()).then(|| out.parse().expect("a generation"))
}

/// A second owner in the same process waits in memory and gets the lock at the release,
/// which hands it the held lock in memory (INV-9): the row and its generation stay.
/// Checks: INV-1, INV-3, INV-9
#[test]
fn second_in_process_acquirer_waits() {
    let Some(pg) = pg() else { return };
    let fs = connect(pg, "tt-inproc");
    let s = key("inproc");
    let (lock, rec) = recorded(&fs, Builder::new());
    let first = lock.acquire_blocking(&s, Owner::new()).unwrap();
    let waiter = {
        let (lock, s) = (lock.clone(), s.clone());
        std::thread::spawn(move || lock.acquire_blocking(&s, Owner::new()))
    };
    rec.wait_for(&Seen::Queued);
    assert!(!waiter.is_finished());
    let token = first.fencing_token();
    assert_eq!(first.release_blocking().unwrap(), Released::HandedOff);
    let second = waiter.join().unwrap().unwrap();
    assert_eq!(second.fencing_token(), token, "the same row, handed off in memory");
    assert_eq!(rec.count(&Seen::KernelWait), 0, "waited in memory only");
    assert_eq!(rec.count(&Seen::Acquired), 2);
    second.release_blocking().unwrap();
}

/// Another host (another `PgFs`) waits in the server, on the holder's advisory lock, and
/// is woken by the release; it never times out and never breaks a live holder's row.
/// Checks: INV-1, INV-2, INV-3
#[test]
fn other_host_waits_in_the_server_for_the_release() {
    let Some(pg) = pg() else { return };
    let (a, b) = (connect(pg, "tt-hosts-a"), connect(pg, "tt-hosts-b"));
    let s = key("hosts");
    let holder = a.session_lock(Builder::new()).acquire_blocking(&s, Owner::new()).unwrap();
    let held = holder.fencing_token().unwrap().ino;
    let (lock_b, rec) = recorded(&b, Builder::new().timeout(Duration::from_secs(60)));
    let waiter = {
        let s = s.clone();
        std::thread::spawn(move || lock_b.acquire_blocking(&s, Owner::new()))
    };
    rec.wait_for(&Seen::KernelWait);
    // `KernelWait` is reported just before the wait's statement is sent: give it time to
    // reach the server.
    let waiting = || {
        pg.psql(&format!(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
             AND ((classid::bigint << 32) | objid::bigint) = {held}"
        ))
    };
    for _ in 0..2000 {
        if waiting() == "1" {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(waiting(), "1", "the waiter waits in the server, on the holder's generation");
    assert_eq!(row_generation(pg, &s), Some(held), "a live holder's row is never broken");
    assert_eq!(holder.release_blocking().unwrap(), Released::Removed);
    let second = waiter.join().unwrap().unwrap();
    let taken = second.fencing_token().unwrap().ino;
    assert!(taken > held, "generations grow: {held} then {taken}");
    assert_eq!(rec.count(&Seen::TimedOut), 0);
    assert!(rec.broken().is_empty(), "a released row is gone, not broken");
    second.release_blocking().unwrap();
    assert_eq!(row_generation(pg, &s), None);
}

/// The same owner re-enters; the row goes only with the last guard.
/// Checks: INV-7, INV-5
#[test]
fn reentrant_acquire_counted() {
    let Some(pg) = pg() else { return };
    let fs = connect(pg, "tt-reenter");
    let s = key("reenter");
    let (lock, rec) = recorded(&fs, Builder::new());
    let owner = Owner::new();
    let outer = lock.acquire_blocking(&s, owner).unwrap();
    let inner = lock.acquire_blocking(&s, owner).unwrap();
    assert_eq!(rec.count(&Seen::Reentered), 1);
    assert_eq!(inner.fencing_token(), outer.fencing_token(), "one hold, one token");
    assert_eq!(inner.release_blocking().unwrap(), Released::StillHeld { remaining: 1 });
    assert!(row_generation(pg, &s).is_some());
    assert_eq!(outer.release_blocking().unwrap(), Released::Removed);
    assert_eq!(row_generation(pg, &s), None);
}

/// Another owner is not let in: try_acquire names the holder, in this process or on
/// another host, where the advisory lock proves it alive.
/// Checks: INV-7, INV-1
#[test]
fn try_acquire_on_held_lock_reports_holder() {
    let Some(pg) = pg() else { return };
    let (a, b) = (connect(pg, "tt-try-a"), connect(pg, "tt-try-b"));
    let s = key("try");
    let lock = a.session_lock(Builder::new());
    let guard = lock.acquire_blocking(&s, Owner::new()).unwrap();
    let TryAcquire::Held(local) = lock.try_acquire_blocking(&s, Owner::new()).unwrap() else {
        panic!("a second owner got in");
    };
    assert!(local.is_in_process() && local.is_alive());
    let other = b.session_lock(Builder::new());
    let TryAcquire::Held(remote) = other.try_acquire_blocking(&s, Owner::new()).unwrap() else {
        panic!("another host got in");
    };
    assert!(remote.is_kernel_held() && !remote.is_in_process(), "{remote}");
    assert_eq!(remote.pid(), Some(std::process::id()));
    assert_eq!(remote.path().as_path().to_str(), Some(s.as_str()));
    assert!(remote.reasons().iter().all(|r| !r.is_actionable()));
    guard.release_blocking().unwrap();
}

/// The row carries the payload (the original's fields), the host and pid, and the
/// generation that is the guard's fencing token; release removes it and the entry.
/// Checks: INV-5
#[test]
fn release_removes_the_row() {
    let Some(pg) = pg() else { return };
    let fs = connect(pg, "tt-release");
    let s = key("release");
    let lock = fs.session_lock(Builder::new().max_hold(Duration::from_secs(60)));
    let guard = lock.acquire_blocking(&s, Owner::new()).unwrap();
    let row = pg.psql(&format!(
        "SELECT generation, convert_from(payload, 'UTF8'), pid, host <> '' \
         FROM sessionlock_locks WHERE path = '{s}'"
    ));
    let fields: Vec<&str> = row.split('|').collect();
    assert_eq!(fields.len(), 4, "{row}");
    assert_eq!(Some(fields[0].parse::<u64>().unwrap()), guard.fencing_token().map(|t| t.ino));
    let payload = Payload::parse(fields[1].as_bytes()).unwrap();
    assert_eq!(payload.pid, Some(std::process::id()));
    assert!(payload.created_at_ms.is_some() && payload.kernel_locked);
    assert_eq!(payload.max_hold_ms, Some(60_000));
    assert_eq!(fields[2], std::process::id().to_string());
    assert_eq!(fields[3], "t");
    guard.verify_blocking().unwrap();
    assert_eq!(guard.release_blocking().unwrap(), Released::Removed);
    assert_eq!(row_generation(pg, &s), None);
    assert_eq!(lock.lock_path(&s).map(|p| lock.locker().registry().phase(&p)).unwrap(), None);
}

/// Dropping a guard releases: its session's advisory lock goes at once (the release
/// cannot finish without waiting, so the row stays, provably dead), and the next owner
/// takes over.
/// Checks: INV-5, INV-6, INV-4
#[test]
fn dropping_the_guard_releases() {
    let Some(pg) = pg() else { return };
    let fs = connect(pg, "tt-drop");
    let s = key("drop");
    let (lock, rec) = recorded(&fs, Builder::new());
    drop(lock.acquire_blocking(&s, Owner::new()).unwrap());
    let path = lock.lock_path(&s).unwrap();
    assert_eq!(lock.locker().registry().phase(&path), None);
    match lock.try_acquire_blocking(&s, Owner::new()).unwrap() {
        TryAcquire::Acquired(g) => assert_eq!(g.release_blocking().unwrap(), Released::Removed),
        TryAcquire::Held(h) => panic!("still held by {h}"),
    }
    let broken = rec.broken();
    assert!(
        broken.is_empty() || broken == vec![vec![Reason::KernelProvenDead]],
        "a dropped guard's row is gone or provably dead: {broken:?}"
    );
}

/// A row not written by sessionlock (no advisory-lock marker) naming a pid that exists
/// on no host here is never judged by that pid: a pid from another host proves nothing.
/// try_acquire names it, acquire times out naming it, and the row stays.
/// Checks: INV-2
#[test]
fn foreign_row_is_never_judged_by_pid() {
    let Some(pg) = pg() else { return };
    let fs = connect(pg, "tt-foreign");
    let s = key("foreign");
    let dead = 4_194_000; // above any pid this host hands out by default
    pg.psql(&format!(
        "INSERT INTO sessionlock_locks (path, generation, payload, host, pid, backend) \
         VALUES ('{s}', nextval('sessionlock_generation'), \
         convert_to('{{\"pid\":{dead},\"createdAt\":\"2020-01-01T00:00:00.000Z\"}}', 'UTF8'), \
         'elsewhere', {dead}, 0)"
    ));
    let before = row_generation(pg, &s);
    assert!(before.is_some());
    let lock = fs.session_lock(short());
    let TryAcquire::Held(holder) = lock.try_acquire_blocking(&s, Owner::new()).unwrap() else {
        panic!("took a foreign row by its pid");
    };
    assert_eq!(holder.pid(), Some(dead));
    assert!(!holder.is_kernel_held());
    assert_eq!(holder.pid_state(), Some(PidState::Alive { starttime: None }));
    assert!(holder.reasons().contains(&Reason::TooOld), "age is reported: {:?}", holder.reasons());
    let err = lock.acquire_blocking(&s, Owner::new()).unwrap_err();
    let AcquireError::Timeout { holder, .. } = err else { panic!("{err}") };
    assert_eq!(holder.and_then(|h| h.pid()), Some(dead));
    assert_eq!(row_generation(pg, &s), before, "the row stays");
}

fn insert_payloadless(pg: &Pg, s: &str, age_s: u32) {
    pg.psql(&format!(
        "INSERT INTO sessionlock_locks (path, generation, payload, host, pid, backend, created) \
         VALUES ('{s}', nextval('sessionlock_generation'), ''::bytea, 'elsewhere', 1, 0, \
         clock_timestamp() - interval '{age_s} seconds')"
    ));
}

/// A fresh row without a payload is respected.
/// Checks: INV-2
#[test]
fn fresh_payloadless_row_respected() {
    let Some(pg) = pg() else { return };
    let fs = connect(pg, "tt-fresh");
    let s = key("fresh");
    insert_payloadless(pg, &s, 0);
    let outcome = fs.session_lock(short()).try_acquire_blocking(&s, Owner::new()).unwrap();
    assert!(matches!(outcome, TryAcquire::Held(_)));
    assert!(row_generation(pg, &s).is_some());
}

/// A row without a payload, older than the grace (by its server-side creation time),
/// is taken over.
/// Checks: INV-4
#[test]
fn old_payloadless_row_taken_over() {
    let Some(pg) = pg() else { return };
    let fs = connect(pg, "tt-old");
    let s = key("old");
    insert_payloadless(pg, &s, 600);
    let before = row_generation(pg, &s).unwrap();
    let (lock, rec) = recorded(&fs, short());
    let guard = lock.acquire_blocking(&s, Owner::new()).unwrap();
    assert_eq!(rec.broken(), vec![vec![Reason::PayloadlessPastGrace]]);
    assert!(guard.fencing_token().unwrap().ino > before);
    guard.release_blocking().unwrap();
}

/// A row deleted under its holder is reported by verify and by release.
/// Checks: INV-2, INV-6
#[test]
fn row_removed_under_holder_is_compromised() {
    let Some(pg) = pg() else { return };
    let fs = connect(pg, "tt-removed");
    let s = key("removed");
    let (lock, rec) = recorded(&fs, Builder::new());
    let guard = lock.acquire_blocking(&s, Owner::new()).unwrap();
    pg.psql(&format!("DELETE FROM sessionlock_locks WHERE path = '{s}'"));
    let missing =
        |e: ReleaseError| matches!(e, ReleaseError::Compromised { found: Found::Missing, .. });
    assert!(missing(guard.verify_blocking().unwrap_err()));
    assert!(missing(guard.release_blocking().unwrap_err()));
    assert_eq!(rec.count(&Seen::Compromised), 1);
}

/// A row replaced under its holder is reported, and the replacement is never touched:
/// the delete compares the generation.
/// Checks: INV-2, INV-6
#[test]
fn row_replaced_under_holder_is_compromised() {
    let Some(pg) = pg() else { return };
    let fs = connect(pg, "tt-replaced");
    let s = key("replaced");
    let lock = fs.session_lock(Builder::new());
    let guard = lock.acquire_blocking(&s, Owner::new()).unwrap();
    pg.psql(&format!("DELETE FROM sessionlock_locks WHERE path = '{s}'"));
    insert_payloadless(pg, &s, 0);
    let successor = row_generation(pg, &s).unwrap();
    let outcome = guard.release_blocking();
    assert!(matches!(outcome, Err(ReleaseError::Compromised { found: Found::Other(_), .. })));
    assert_eq!(row_generation(pg, &s), Some(successor));
}

/// The delete is compare-and-delete: a handle holding one generation cannot delete a
/// row of another generation at the key (the database form of the inode-bound unlink).
/// Checks: INV-2
#[test]
fn unlink_deletes_only_the_judged_generation() {
    let Some(pg) = pg() else { return };
    let fs = connect(pg, "tt-cad");
    let lock = fs.session_lock(Builder::new());
    let s = key("cad");
    let path = lock.lock_path(&s).unwrap();
    use sessionlock::api::block_on as block;
    let sessionlock::fs::Published::Created { handle, .. } =
        block(fs.publish(&path, b"{}")).unwrap()
    else {
        panic!("the key was free");
    };
    pg.psql(&format!("DELETE FROM sessionlock_locks WHERE path = '{s}'"));
    insert_payloadless(pg, &s, 0);
    let other = row_generation(pg, &s).unwrap();
    let err = block(fs.unlink(&path, &handle)).unwrap_err();
    assert_eq!(err.source.kind(), std::io::ErrorKind::NotFound, "{err}");
    assert_eq!(row_generation(pg, &s), Some(other), "the other generation's row stays");
    block(fs.close(handle)).unwrap();
}

/// Session keys that are empty, contain NUL or are too long are refused, naming them.
#[test]
fn bad_session_keys_are_refused() {
    let Some(pg) = pg() else { return };
    let lock = connect(pg, "tt-keys").session_lock(short());
    for bad in [String::new(), "a\0b".to_owned(), "k".repeat(2000)] {
        let err = lock.acquire_blocking(&bad, Owner::new()).unwrap_err();
        let AcquireError::Fs(e) = &err else { panic!("{err}") };
        assert_eq!(e.op, FsOp::Resolve);
        assert_eq!(e.source.kind(), std::io::ErrorKind::InvalidInput);
    }
}

/// An uncontended acquire takes pooled connections: a hundred acquire/release cycles
/// open only the few connections that are ever in use at once (the held lock's, the
/// release's look at the key, unlocks still being answered), not one per acquire.
/// Checks: INV-5
#[test]
fn uncontended_acquires_reuse_pooled_connections() {
    let Some(pg) = pg() else { return };
    let fs = connect(pg, "tt-pool");
    let lock = fs.session_lock(Builder::new());
    let s = key("pool");
    for _ in 0..100 {
        lock.acquire_blocking(&s, Owner::new()).unwrap().release_blocking().unwrap();
    }
    let opened = fs.connections_opened();
    assert!((1..10).contains(&opened), "{opened} connections opened for 100 acquires");
    let sessions: u64 = pg
        .psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tt-pool'")
        .parse()
        .unwrap();
    assert!(sessions <= opened, "{sessions} sessions, {opened} opened");
}

/// An uncontended acquire + release waits for two statements, each one round trip: the
/// publish, and the release's compare-and-delete, which also says what the key named
/// (`LockFs::unlink_if`); the unlock is sent without waiting. Without the one-statement
/// `unlink_if` it was three: the release looked at the key, then deleted.
/// Checks: INV-2
#[test]
fn uncontended_acquire_and_release_await_two_round_trips() {
    let Some(pg) = pg() else { return };
    let fs = connect(pg, "tt-round-trips");
    let lock = fs.session_lock(Builder::new());
    let s = key("round-trips");
    let before = fs.round_trips();
    for _ in 0..100 {
        let guard = lock.acquire_blocking(&s, Owner::new()).unwrap();
        assert!(row_generation(pg, &s).is_some(), "the row is there while held");
        assert_eq!(guard.release_blocking().unwrap(), Released::Removed);
    }
    assert_eq!(fs.round_trips() - before, 200, "round trips awaited by 100 acquire + release");
    assert_eq!(row_generation(pg, &s), None, "the last release removed the row");
}

/// After a wait in the server (`lock_until`), `unlink_if` answers from the look sent
/// right behind the lock, with no round trip of its own, when that look found the key no
/// longer naming the waited-on generation (its holder released; a successor's row is
/// then left alone); and deletes, in one round trip, when the look found the row still
/// there (its holder's session ended without deleting it).
/// Checks: INV-2, INV-4
#[test]
fn unlink_if_after_a_wait_answers_from_the_look_behind_the_lock() {
    use sessionlock::api::block_on;
    use sessionlock::fs::{Opened, Published};
    use sessionlock::{Clock, LockPath, RealClock};
    let Some(pg) = pg() else { return };
    let (a, b) = (connect(pg, "tt-look-a"), connect(pg, "tt-look-b"));
    // `b` waits on the row `a` published at `name`, and `a` ends its hold with `end`;
    // returns `b`'s locked handle and the generation it waited on.
    let waited = |name: &str, end: &dyn Fn(&LockPath, <PgFs as LockFs>::Handle, u64)| {
        let path = LockPath::from_canonical(key(name));
        let Published::Created { handle, id } = block_on(a.publish(&path, b"{}")).unwrap() else {
            panic!("fresh key");
        };
        let Opened::File(waiter) = block_on(b.open(&path)).unwrap() else { panic!("published") };
        let deadline = RealClock.now().saturating_add(Duration::from_secs(30));
        let (b2, gen_) = (b.clone(), id.ino);
        let wait = std::thread::spawn(move || {
            let got = block_on(b2.lock_until(&waiter, deadline)).unwrap();
            (got, waiter)
        });
        let waiting = format!(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
             AND ((classid::bigint << 32) | objid::bigint) = {gen_}"
        );
        let mut tries = 0;
        while pg.psql(&waiting) != "1" {
            tries += 1;
            assert!(tries < 2000, "the waiter never waited in the server");
            std::thread::sleep(Duration::from_millis(5));
        }
        end(&path, handle, id.ino);
        let (got, waiter) = wait.join().unwrap();
        assert!(got, "the wait ends when the holder lets go");
        (path, waiter, id)
    };

    // Released: the look found no row; answered with no round trip, nothing deleted.
    let release = |path: &LockPath, handle, _| {
        let id = block_on(a.meta(&handle)).unwrap().id;
        assert_eq!(block_on(a.unlink_if(path, &handle, id)).unwrap(), Some(id));
        block_on(a.close(handle)).unwrap();
    };
    let (path, waiter, id) = waited("look-released", &release);
    let before = b.round_trips();
    assert_eq!(block_on(b.unlink_if(&path, &waiter, id)).unwrap(), None);
    assert_eq!(b.round_trips(), before, "answered from the look behind the lock");
    block_on(b.close(waiter)).unwrap();

    // Released, then a successor published: the look's answer stands; the successor stays.
    let (path, waiter, id) = waited("look-successor", &release);
    let Published::Created { handle: next, id: next_id } =
        block_on(a.publish(&path, b"{}")).unwrap()
    else {
        panic!("the key was free");
    };
    let found = block_on(b.unlink_if(&path, &waiter, id)).unwrap();
    assert_ne!(found, Some(id), "nothing of ours to delete");
    assert_eq!(row_generation(pg, path.as_path().to_str().unwrap()), Some(next_id.ino));
    block_on(b.close(waiter)).unwrap();
    block_on(a.close(next)).unwrap();

    // Ended without deleting (a dead holder): the look found the row; deleted.
    let crash = |_: &LockPath, handle, _| block_on(a.close(handle)).unwrap();
    let (path, waiter, id) = waited("look-dead", &crash);
    let before = b.round_trips();
    assert_eq!(block_on(b.unlink_if(&path, &waiter, id)).unwrap(), Some(id));
    assert_eq!(b.round_trips(), before + 1, "the compare-and-delete, one statement");
    assert_eq!(row_generation(pg, path.as_path().to_str().unwrap()), None);
    block_on(b.close(waiter)).unwrap();
}

/// An acquire that times out names the live holder, and a dropped acquire future leaves
/// no wait behind in the server: its advisory-lock request is cancelled.
/// Checks: INV-3, INV-5
#[test]
fn timeout_names_the_holder_and_a_dropped_wait_is_cancelled() {
    let Some(pg) = pg() else { return };
    let (a, b) = (connect(pg, "tt-cancel-a"), connect(pg, "tt-cancel-b"));
    let s = key("cancel");
    let guard = a.session_lock(Builder::new()).acquire_blocking(&s, Owner::new()).unwrap();
    let token = guard.fencing_token().unwrap().ino;
    let (lock_b, rec) = recorded(&b, short());
    let err = lock_b.acquire_blocking(&s, Owner::new()).unwrap_err();
    let AcquireError::Timeout { holder: Some(holder), .. } = err else { panic!("{err}") };
    assert!(holder.is_kernel_held() && holder.pid() == Some(std::process::id()), "{holder}");
    assert_eq!(rec.count(&Seen::KernelWait), 1, "it waited in the server");
    let waiting = |pg: &Pg| {
        pg.psql(&format!(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
             AND ((classid::bigint << 32) | objid::bigint) = {token}"
        ))
    };
    assert_eq!(waiting(pg), "0", "the timed-out wait ended in the server");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let long = b.session_lock(Builder::new().timeout(Duration::from_secs(600)));
    rt.block_on(async {
        let wait = long.acquire(&s, Owner::new());
        let dropped = tokio::time::timeout(Duration::from_millis(300), wait).await;
        assert!(dropped.is_err(), "the holder still holds");
    });
    // The cancel reaches the server asynchronously; poll (a hang guard, not a timing).
    let mut left = waiting(pg);
    for _ in 0..300 {
        if left == "0" {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        left = waiting(pg);
    }
    assert_eq!(left, "0", "a dropped acquire leaves no request in the server");
    guard.release_blocking().unwrap();
    let next = long.try_acquire_blocking(&s, Owner::new()).unwrap();
    assert!(matches!(next, TryAcquire::Acquired(_)), "nothing was left held");
}

/// A wait cut short by the server (a `statement_timeout` configured there), long before
/// the acquire's deadline, is reported as the failure it is, naming the primitive, not
/// as a timeout that never happened.
/// Checks: INV-3
#[test]
fn a_wait_cut_short_by_the_server_is_an_error_not_a_timeout() {
    let Some(pg) = pg() else { return };
    let holder = connect(pg, "tt-stmt-a");
    let s = key("stmt");
    let guard = holder.session_lock(Builder::new()).acquire_blocking(&s, Owner::new()).unwrap();
    let url = format!("{} options='-c statement_timeout=200'", pg.url_named("tt-stmt-b"));
    let impatient = PgFs::connect_blocking(&url).expect("connect");
    let lock = impatient.session_lock(Builder::new().timeout(Duration::from_secs(600)));
    let err = lock.acquire_blocking(&s, Owner::new()).unwrap_err();
    let AcquireError::Fs(e) = &err else { panic!("{err}") };
    assert_eq!(e.op, FsOp::LockUntil, "{err}");
    guard.release_blocking().unwrap();
}
