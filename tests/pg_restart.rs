//! A server restart (`pg_ctl restart -m immediate`) over PostgreSQL: it drops every
//! advisory lock, so nothing is held afterwards, every earlier token is rejected by the
//! fence, and the next contender takes over at once with a newer token. In a test binary
//! of its own: the restart would cut off every other test's connections.
#![cfg(all(feature = "postgres", not(sessionlock_loom)))]

mod common;
mod pg_server;
mod pg_support;

use std::sync::Arc;
use std::time::Duration;

use common::Recorder;
use pg_server::{Pg, key, pg};
use pg_support::{append, transcript};
use sessionlock::core::{Found, Reason};
use sessionlock::pg::{FenceError, PgFs};
use sessionlock::{Builder, Owner, ReleaseError, Released, TryAcquire};

fn connect(pg: &Pg, name: &str) -> PgFs {
    PgFs::connect_blocking(&pg.url_named(name)).expect("connect")
}

/// After an immediate restart nothing is held; the holders' tokens (two sessions on two
/// hosts) are all rejected; a contender takes over each session at once; the old
/// holders' releases report the compromise, and their `PgFs` recovers (dead pooled
/// connections are replaced).
/// Checks: INV-8, INV-4, INV-6
#[test]
fn restart_supersedes_every_token_and_holds_nothing() {
    let Some(pg) = pg() else { return };
    let (a, c) = (connect(pg, "restart-a"), connect(pg, "restart-c"));
    let keys = [key("restart-1"), key("restart-2")];
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

    pg.restart_immediate();

    assert_eq!(pg.psql(advisory), "0", "a restart holds nothing");
    for i in 0..2 {
        let lost = append(&pg.url, &paths[i], tokens[i], "after").unwrap_err();
        assert!(matches!(lost, FenceError::Lost { .. }), "{lost}");
    }
    let b = connect(pg, "restart-b");
    let rec = Arc::new(Recorder::default());
    let lock_b =
        b.session_lock(Builder::new().timeout(Duration::from_secs(10)).observer(rec.clone()));
    let mut successors = Vec::new();
    for i in 0..2 {
        let TryAcquire::Acquired(g) = lock_b.try_acquire_blocking(&keys[i], Owner::new()).unwrap()
        else {
            panic!("a restart left {} held", keys[i]);
        };
        let t = g.fencing_token().unwrap();
        assert!(t.ino > tokens[0].ino.max(tokens[1].ino), "generations survive the restart");
        let stale = append(&pg.url, &paths[i], tokens[i], "stale").unwrap_err();
        assert!(matches!(stale, FenceError::Superseded { .. }), "{stale}");
        assert_eq!(append(&pg.url, &paths[i], t, "new").unwrap(), 1);
        successors.push(g);
    }
    let kernel = vec![Reason::KernelProvenDead];
    assert_eq!(rec.broken(), vec![kernel.clone(), kernel]);
    for old in holders {
        let released = old.release_blocking();
        assert!(
            matches!(released, Err(ReleaseError::Compromised { found: Found::Other(_), .. })),
            "{released:?}"
        );
    }
    for (i, g) in successors.into_iter().enumerate() {
        let t = g.fencing_token().unwrap().ino;
        let expected = vec![(tokens[i].ino, "before".to_owned()), (t, "new".to_owned())];
        assert_eq!(transcript(pg, &keys[i]), expected);
        assert_eq!(g.release_blocking().unwrap(), Released::Removed);
    }
    // The old holders' `PgFs` work again: their dead pooled connections are replaced.
    let again = a.session_lock(Builder::new()).acquire_blocking(&keys[0], Owner::new()).unwrap();
    assert_eq!(again.release_blocking().unwrap(), Released::Removed);
}
