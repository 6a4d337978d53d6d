//! The conveniences over the owner-taking API: an acquire that is its own owner, the
//! scoped forms that always release, and the guard's access to the session file.
#![cfg(not(sessionlock_loom))]

mod common;

use std::io::Write;
use std::time::Duration;

use common::{lock_file, now_iso, session, write_foreign};
use sessionlock::Found;
use sessionlock::WithError;
use sessionlock::{AcquireError, Owner, ReleaseError, SessionLock, TryAcquire};

fn short() -> SessionLock {
    SessionLock::builder().timeout(Duration::from_millis(200)).build()
}

/// Each `lock` is its own owner: a second one does not re-enter, while an explicit owner
/// still does.
/// Checks: INV-1, INV-7
#[test]
fn each_lock_is_its_own_owner() {
    let (_dir, s) = session();
    let lock = short();
    let first = lock.lock_blocking(&s).unwrap();
    let again = lock.try_lock_blocking(&s).unwrap();
    assert!(matches!(again, TryAcquire::Held(_)), "a second lock must not re-enter");
    let err = lock.lock_blocking(&s).unwrap_err();
    assert!(matches!(err, AcquireError::Timeout { .. }), "{err}");
    first.release_blocking().unwrap();

    let owner = Owner::new();
    let outer = lock.acquire_blocking(&s, owner).unwrap();
    let inner = lock.acquire_blocking(&s, owner).unwrap();
    inner.release_blocking().unwrap();
    outer.release_blocking().unwrap();
    assert!(!lock_file(&s).exists());
}

/// The scoped form returns the closure's value, holding the lock while it runs and not
/// after.
/// Checks: INV-1
#[test]
fn with_returns_the_value_and_releases() {
    let (_dir, s) = session();
    let lock = short();
    let seen = lock
        .with_blocking(&s, |guard| {
            assert!(lock_file(&s).exists(), "held while the closure runs");
            assert!(matches!(lock.try_lock_blocking(&s).unwrap(), TryAcquire::Held(_)));
            guard.lock_path().as_path().to_owned()
        })
        .unwrap();
    assert_eq!(seen, lock_file(&s));
    assert!(!lock_file(&s).exists(), "released after");
    // An error the closure returns is its value: the lock is released all the same.
    let failed: Result<Result<(), &str>, _> = lock.with_blocking(&s, |_| Err("nope"));
    assert!(matches!(failed, Ok(Err("nope"))));
    assert!(!lock_file(&s).exists());
}

/// A panic in the closure releases the lock before it goes on.
/// Checks: INV-5
#[test]
fn with_releases_on_panic() {
    let (_dir, s) = session();
    let lock = short();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = lock.with_blocking(&s, |_| -> () { panic!("in the scope") });
    }));
    assert!(panicked.is_err(), "the panic goes on");
    assert!(!lock_file(&s).exists(), "the lock file was removed");
    let TryAcquire::Acquired(guard) = lock.try_lock_blocking(&s).unwrap() else {
        panic!("the lock stayed held after a panic in the scope");
    };
    guard.release_blocking().unwrap();
}

/// A release that fails keeps the closure's value in the error, rather than dropping it.
/// Checks: INV-2
#[test]
fn with_keeps_the_value_when_the_release_fails() {
    let (_dir, s) = session();
    let lock = short();
    let out = lock.with_blocking(&s, |_| {
        std::fs::remove_file(lock_file(&s)).unwrap(); // removed under the holder
        42
    });
    match out {
        Err(WithError::Release { value, error }) => {
            assert_eq!(value, 42);
            assert!(
                matches!(error, ReleaseError::Compromised { found: Found::Missing, .. }),
                "{error}"
            );
        }
        other => panic!("expected the release failure with the value, got {other:?}"),
    }
}

/// When the lock cannot be taken, the closure does not run.
/// Checks: INV-1
#[test]
fn with_does_not_run_the_closure_without_the_lock() {
    let (_dir, s) = session();
    let lock = short();
    let holder = lock.lock_blocking(&s).unwrap();
    let mut ran = false;
    let out = lock.with_blocking(&s, |_| ran = true);
    assert!(matches!(out, Err(WithError::Acquire(AcquireError::Timeout { .. }))), "{out:?}");
    assert!(!ran);
    assert!(out.unwrap_err().into_value().is_none());
    holder.release_blocking().unwrap();
}

/// The async twin: the value of an async closure that waits, and a release after.
/// Checks: INV-1
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_async_returns_the_value_and_releases() {
    let (_dir, s) = session();
    let lock = short();
    let out = lock
        .with(&s, async |guard| {
            tokio::time::sleep(Duration::from_millis(5)).await;
            guard.verify().await.map(|()| 7)
        })
        .await
        .unwrap();
    assert_eq!(out.unwrap(), 7);
    assert!(!lock_file(&s).exists());
    let panicked = tokio::spawn({
        let (lock, s) = (lock.clone(), s.clone());
        async move { lock.with(&s, async |_| -> () { panic!("in the async scope") }).await }
    })
    .await;
    assert!(panicked.unwrap_err().is_panic());
    assert!(!lock_file(&s).exists(), "released before the panic went on");
}

/// The guard opens the session file for appending while the lock is still ours.
/// Checks: INV-1
#[test]
fn the_guard_opens_the_session_file_for_appending() {
    let (_dir, s) = session();
    std::fs::write(&s, "{\"turn\":0}\n").unwrap();
    let lock = short();
    let guard = lock.lock_blocking(&s).unwrap();
    assert_eq!(guard.session_path(), s.canonicalize().unwrap());
    writeln!(guard.open_session_file_blocking().unwrap(), "{{\"turn\":1}}").unwrap();
    guard.release_blocking().unwrap();
    assert_eq!(std::fs::read_to_string(&s).unwrap(), "{\"turn\":0}\n{\"turn\":1}\n");
}

/// After a takeover (the lock file removed and another published at the path), the guard
/// refuses to open the session file, which stays untouched.
/// Checks: INV-1, H10
#[test]
fn the_guard_does_not_open_the_session_file_after_a_takeover() {
    let (_dir, s) = session();
    let lock = short();
    let guard = lock.lock_blocking(&s).unwrap();
    std::fs::remove_file(lock_file(&s)).unwrap();
    write_foreign(&s, std::process::id(), &now_iso()); // the next holder's file
    let err = guard.open_session_file_blocking().unwrap_err();
    assert!(matches!(err, ReleaseError::Compromised { found: Found::Other(_), .. }), "{err}");
    assert!(!s.exists(), "nothing was opened");
    let _ = guard.release_blocking();
    assert!(lock_file(&s).exists(), "the next holder's file is left alone");
}
