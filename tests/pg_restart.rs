//! Server restarts over PostgreSQL (`pg_ctl restart`, clean and as a crash): they drop
//! every advisory lock, so nothing is held afterwards, every earlier token is rejected by
//! the fence, and the next contender takes over at once with a newer token. In a test
//! binary of its own: a restart would cut off every other test's connections.
#![cfg(all(feature = "postgres", not(sessionlock_loom)))]

mod common;
mod pg_server;
mod pg_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Recorder;
use pg_server::{Pg, key, pg};
use pg_support::{append, transcript};
use sessionlock::pg::{FenceError, PgFs};
use sessionlock::{Builder, Owner, ReleaseError, Released, TryAcquire};
use sessionlock::{Found, Reason};

/// Restarts cut off every test's connections: one test at a time.
static RESTARTS: Mutex<()> = Mutex::new(());

fn connect(pg: &Pg, name: &str) -> PgFs {
    PgFs::connect_blocking(&pg.url_named(name)).expect("connect")
}

/// After a restart nothing is held, and every earlier token is rejected: after a clean
/// restart (`fast`) the rows stay but their sessions are gone (`Lost`), and a contender
/// proves them dead and takes over at once; after a crash (`immediate`) recovery empties
/// the unlogged lock table, so the tokens are superseded outright and a contender
/// publishes at once. Either way the new generations are larger (the sequence is
/// durable), the old holders' releases report the compromise, and their `PgFs` recovers
/// (dead pooled connections are replaced). Two sessions, held from two hosts.
/// Checks: INV-8, INV-4, INV-6
#[test]
fn restart_supersedes_every_token_and_holds_nothing() {
    let Some(pg) = pg() else { return };
    let _one = RESTARTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for mode in ["fast", "immediate"] {
        restart_while_holding(pg, mode);
    }
}

fn restart_while_holding(pg: &Pg, mode: &str) {
    let (a, c) =
        (connect(pg, &format!("restart-{mode}-a")), connect(pg, &format!("restart-{mode}-c")));
    let keys = [key(&format!("restart-{mode}-1")), key(&format!("restart-{mode}-2"))];
    let holders = [
        a.session_lock(Builder::new()).acquire_blocking(&keys[0], Owner::new()).unwrap(),
        c.session_lock(Builder::new()).acquire_blocking(&keys[1], Owner::new()).unwrap(),
    ];
    let tokens = holders.each_ref().map(|g| g.fencing_token().unwrap());
    let paths = holders.each_ref().map(|g| g.lock_path().clone());
    for i in 0..2 {
        assert_eq!(append(&pg.url, &paths[i], tokens[i], "before").unwrap(), 1);
    }
    let advisory = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'";
    assert_eq!(pg.psql(advisory), "2", "both holders hold");

    pg.restart(mode);

    assert_eq!(pg.psql(advisory), "0", "{mode}: a restart holds nothing");
    let crashed = mode == "immediate";
    for i in 0..2 {
        let rejected = append(&pg.url, &paths[i], tokens[i], "after").unwrap_err();
        match crashed {
            true => assert!(
                matches!(rejected, FenceError::Superseded { current: None, .. }),
                "{mode}: {rejected}"
            ),
            false => assert!(matches!(rejected, FenceError::Lost { .. }), "{mode}: {rejected}"),
        }
    }
    let b = connect(pg, &format!("restart-{mode}-b"));
    let rec = Arc::new(Recorder::default());
    let lock_b =
        b.session_lock(Builder::new().timeout(Duration::from_secs(10)).observer(rec.clone()));
    let mut successors = Vec::new();
    for i in 0..2 {
        let TryAcquire::Acquired(g) = lock_b.try_acquire_blocking(&keys[i], Owner::new()).unwrap()
        else {
            panic!("{mode}: a restart left {} held", keys[i]);
        };
        let t = g.fencing_token().unwrap();
        assert!(t.ino > tokens[0].ino.max(tokens[1].ino), "generations survive the restart");
        let stale = append(&pg.url, &paths[i], tokens[i], "stale").unwrap_err();
        assert!(
            matches!(stale, FenceError::Superseded { current: Some(c), .. } if c == t.ino),
            "{mode}: {stale}"
        );
        assert_eq!(append(&pg.url, &paths[i], t, "new").unwrap(), 1);
        successors.push(g);
    }
    let broken = rec.broken();
    match crashed {
        true => assert!(broken.is_empty(), "{mode}: nothing left to break: {broken:?}"),
        false => assert_eq!(broken, vec![vec![Reason::KernelProvenDead]; 2], "{mode}"),
    }
    for old in holders {
        let released = old.release_blocking();
        assert!(
            matches!(released, Err(ReleaseError::Compromised { found: Found::Other(_), .. })),
            "{mode}: {released:?}"
        );
    }
    for (i, g) in successors.into_iter().enumerate() {
        let t = g.fencing_token().unwrap().ino;
        let expected = vec![(tokens[i].ino, "before".to_owned()), (t, "new".to_owned())];
        assert_eq!(transcript(pg, &keys[i]), expected, "{mode}: the transcript is logged");
        assert_eq!(g.release_blocking().unwrap(), Released::Removed);
    }
    // The old holders' `PgFs` work again: their dead pooled connections are replaced.
    let again = a.session_lock(Builder::new()).acquire_blocking(&keys[0], Owner::new()).unwrap();
    assert_eq!(again.release_blocking().unwrap(), Released::Removed);
}

/// A crash never gives out a token again, even when the generation was drawn from a
/// sequence value whose WAL record no commit has flushed yet. The sequence logs ahead
/// (one WAL record covers the next values), and a transaction that writes only the
/// unlogged lock table commits without flushing the WAL; so unless the publish itself
/// forces that flush, a crash right after it can roll the sequence back below a token
/// already handed out. Two ways in, each followed by a crash before the WAL writer
/// writes anything on its own (its delay is raised to 10 s for the test):
/// - the covering record was written by a publish that aborted after drawing its
///   generation (its client died mid-statement), then a holder publishes;
/// - the database commits asynchronously (`synchronous_commit = off`, set by its
///   owner), and the holder's own publish wrote the record.
///
/// Afterwards every successor's generation is larger than the old holder's token, and
/// the old holder's fenced write is rejected. A checkpoint first makes the next `nextval`
/// write a record. Reachability: both holders held (an advisory lock each) when the
/// server crashed, and the successors published after it.
/// Checks: INV-8
#[test]
fn a_crash_never_hands_out_a_token_again() {
    let Some(pg) = pg() else { return };
    let _one = RESTARTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    pg.psql("ALTER SYSTEM SET wal_writer_delay = '10s'");
    // A fresh WAL writer: one that has hibernated wakes at the first asynchronous commit.
    pg.restart("fast");
    let asynchronous = format!("{} options=-csynchronous_commit=off", pg.url);
    for (how, url) in [("aborted", pg.url.clone()), ("asynchronous", asynchronous)] {
        let holder = PgFs::connect_blocking(&url).expect("connect");
        let key = key(&format!("crash-token-{how}"));
        pg.psql("CHECKPOINT");
        if how == "aborted" {
            pg.psql("BEGIN; SELECT nextval('sessionlock_generation'); ROLLBACK;");
        }
        let held =
            holder.session_lock(Builder::new()).acquire_blocking(&key, Owner::new()).unwrap();
        let token = held.fencing_token().unwrap();
        let path = held.lock_path().clone();
        let advisory = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'";
        assert_eq!(pg.psql(advisory), "1", "{how}: the holder holds");

        pg.restart("immediate");

        let b = connect(pg, &format!("crash-token-{how}-b"));
        let lock_b = b.session_lock(Builder::new().timeout(Duration::from_secs(10)));
        for round in 0..3 {
            let successor = lock_b.acquire_blocking(&key, Owner::new()).unwrap();
            let t = successor.fencing_token().unwrap();
            let stale = append(&pg.url, &path, token, "stale");
            assert!(
                matches!(stale, Err(FenceError::Superseded { current: Some(c), .. }) if c == t.ino),
                "{how}, successor {round} (token {}): the old token {} wrote: {stale:?}",
                t.ino,
                token.ino
            );
            assert!(t.ino > token.ino, "{how}: token {} given out again as {}", token.ino, t.ino);
            assert_eq!(successor.release_blocking().unwrap(), Released::Removed);
        }
        let released = held.release_blocking();
        assert!(matches!(released, Err(ReleaseError::Compromised { .. })), "{how}: {released:?}");
    }
    pg.psql("ALTER SYSTEM RESET wal_writer_delay");
    assert_eq!(pg.psql("SELECT pg_reload_conf()"), "t");
}
