//! The cross-process queue (`spec/protocol.md`, section 11) under the stepped driver and
//! in scripts: the core with `Options::queue` on. Its shuttle scenarios are in
//! `shuttle_queue.rs` (the shuttle build).
#![cfg(not(any(sessionlock_loom, sessionlock_shuttle)))]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use sessionlock::core::{Locker, Owner};
use sessionlock_model::harness::lock_path;
use sessionlock_model::machine::check_machine;
use sessionlock_model::{ModelClock, ModelFs, Pid, Reachable, Subject, World};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256)
}

/// The core with the queue matches the sequential reference in every case of the stepped
/// driver, crashes of queued waiters included, and the cases reach what the core's do.
/// The world checks INV-9 at every entry: a queued waiter is overtaken by at most P - 1
/// later arrivals. The cases reach a queue of two tickets, a dead waiter's ticket removed
/// by its successor, and a give-up.
/// Checks: INV-1, INV-2, INV-3, INV-4, INV-5, INV-7, INV-9
#[test]
fn proptest_queue_matches_reference() {
    let report = check_machine(Subject::Queue, cases());
    println!("proptest queue: {report:?}");
    if let Some(failure) = &report.failure {
        panic!("{failure}");
    }
    report.reach.assert_reached("proptest queue", &Reachable::ALL);
    report.reach.assert_reached("proptest queue", &Reachable::QUEUE);
}

fn poll<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// The core with the queue on, as process `pid` of `world`.
fn queued_locker(world: &Arc<World>, pid: Pid) -> Locker<ModelFs, ModelClock> {
    Locker::new(ModelFs::spawn(world, pid), ModelClock::new(world), Subject::Queue.options())
}

/// An acquire that took a ticket and waits in the kernel, then is dropped (a
/// cancellation), removes and closes its ticket: nothing of it is left beside the lock,
/// and its process's entry is gone.
/// Checks: INV-5
#[test]
fn a_dropped_acquire_gives_its_ticket_up() {
    let world = World::new();
    let (a, b) = (queued_locker(&world, 100), queued_locker(&world, 101));
    let path = lock_path();
    let held = sessionlock_model::rt::block_on(a.acquire(&path, Owner::from_raw(1)));
    let guard = held.expect("the lock is free");
    {
        let mut waiting = pin!(b.acquire(&path, Owner::from_raw(2)));
        assert!(poll(waiting.as_mut()).is_pending(), "b waits for a's hold");
        assert_eq!(world.live_tickets(), 1, "b waits with a ticket");
    }
    assert_eq!(world.live_tickets(), 0, "the dropped acquire gave its ticket up");
    assert_eq!(world.file_count(), 1, "only a's lock file is left");
    assert!(b.registry().is_empty(), "b's entry is gone");
    assert_eq!(world.stats().tickets_given_up, 1);
    drop(guard);
    assert_eq!(world.file_count(), 0);
}

/// No barging: a holder that releases while another process is queued, and wants the
/// lock again at once, queues behind it; the waiter, woken by the release, gets in.
/// Checks: INV-9
#[test]
fn the_releaser_queues_behind_a_waiter() {
    let world = World::new();
    let (a, b) = (queued_locker(&world, 100), queued_locker(&world, 101));
    let path = lock_path();
    use sessionlock_model::rt::block_on;
    let first = block_on(a.acquire(&path, Owner::from_raw(1))).expect("the lock is free");
    let mut waiter = pin!(b.acquire(&path, Owner::from_raw(2)));
    assert!(poll(waiter.as_mut()).is_pending(), "b waits for a's hold");
    block_on(first.release()).expect("a releases");
    let mut again = pin!(a.acquire(&path, Owner::from_raw(1)));
    assert!(poll(again.as_mut()).is_pending(), "a queues behind b's ticket");
    assert_eq!(world.live_tickets(), 2, "b's ticket and a's, behind it");
    let Poll::Ready(Ok(inside)) = poll(waiter.as_mut()) else {
        panic!("b, woken by a's release, gets in");
    };
    assert!(poll(again.as_mut()).is_pending(), "a waits for b's hold");
    block_on(inside.release()).expect("b releases");
    let Poll::Ready(Ok(last)) = poll(again.as_mut()) else {
        panic!("a, woken by b's release, gets in");
    };
    block_on(last.release()).expect("a releases");
    assert_eq!(world.file_count(), 0, "no lock file and no ticket is left");
    assert_eq!(world.stats().overtakes, 0);
}
