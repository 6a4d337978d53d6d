//! The async API on tokio: cancellation leaves nothing behind (H19), and many tasks
//! waiting on one path are served by the release itself, with no timeouts (the seed race).
#![cfg(not(sessionlock_loom))]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Recorder, Seen, fds_on, lock_file, lock_path, recorded, session, spawn_helper};
use sessionlock::{AcquireError, Builder, Owner, Released, SessionLock, TryAcquire};

/// An acquire dropped while queued behind another task withdraws: after the holder's
/// release the lock is free, with no entry and no file left.
/// Checks: INV-5, H19
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_in_memory_wait_leaks_nothing() {
    let (_dir, s) = session();
    let (lock, rec) = recorded(Builder::new());
    let holder = lock.acquire(&s, Owner::new()).await.unwrap();
    cancel_once_seen(lock.acquire(&s, Owner::new()), &rec, Seen::Queued).await;
    assert_eq!(rec.count(&Seen::Queued), 1);
    assert_eq!(holder.release().await.unwrap(), Released::Removed);
    assert_eq!(lock.locker().registry().phase(&lock_path(&s)), None);
    assert!(!lock_file(&s).exists());
    let again = lock.try_acquire(&s, Owner::new()).await.unwrap();
    let TryAcquire::Acquired(guard) = again else { panic!("lock leaked to a cancelled acquire") };
    guard.release().await.unwrap();
}

/// A release while another task of the process waits hands that task the hold in memory:
/// the same lock file (inode and bytes, so its pid and `createdAt`) stays at the path
/// throughout, nothing is unlinked or published, and the new holder's release removes it.
/// Checks: INV-9, INV-1
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_task_is_handed_the_held_file_in_memory() {
    use std::os::unix::fs::MetadataExt;
    let (_dir, s) = session();
    let (lock, rec) = recorded(Builder::new());
    let first = lock.acquire(&s, Owner::new()).await.unwrap();
    let token = first.fencing_token();
    let bytes = std::fs::read(lock_file(&s)).unwrap();
    let ino = std::fs::metadata(lock_file(&s)).unwrap().ino();
    let next = tokio::spawn({
        let (lock, s) = (lock.clone(), s.clone());
        async move { lock.acquire(&s, Owner::new()).await }
    });
    let queued = Arc::clone(&rec);
    tokio::task::spawn_blocking(move || queued.wait_for(&Seen::Queued)).await.unwrap();
    assert_eq!(first.release().await.unwrap(), Released::HandedOff);
    let second = next.await.unwrap().unwrap();
    assert_eq!(second.fencing_token(), token, "the same inode is held");
    assert_eq!(std::fs::metadata(lock_file(&s)).unwrap().ino(), ino);
    assert_eq!(std::fs::read(lock_file(&s)).unwrap(), bytes, "the same payload");
    assert_eq!(rec.count(&Seen::HandedOff), 1);
    assert_eq!(rec.count(&Seen::Released), 0, "nothing was unlinked");
    assert_eq!(rec.count(&Seen::Acquired), 2);
    assert_eq!(second.release().await.unwrap(), Released::Removed);
    assert!(!lock_file(&s).exists());
    assert_eq!(lock.locker().registry().phase(&lock_path(&s)), None);
}

/// An acquire dropped while waiting in the kernel for another process closes its probe
/// handle and stops waiting: no descriptor on the lock file is left, and once the holder
/// dies the lock is obtained at once.
/// Checks: INV-5, INV-4, H19
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_kernel_wait_leaks_nothing() {
    let (_dir, s) = session();
    let mut helper = spawn_helper_blocking(&s).await;
    let (lock, rec) = recorded(Builder::new());
    cancel_once_seen(lock.acquire(&s, Owner::new()), &rec, Seen::KernelWait).await;
    assert_eq!(rec.count(&Seen::KernelWait), 1, "it was waiting in the kernel");
    assert_eq!(fds_on(&lock_file(&s)), 0, "the probe handle was closed");
    assert_eq!(lock.locker().registry().phase(&lock_path(&s)), None);
    tokio::task::spawn_blocking(move || helper.child.kill().and(helper.child.wait()))
        .await
        .unwrap()
        .unwrap();
    let TryAcquire::Acquired(guard) = lock.try_acquire(&s, Owner::new()).await.unwrap() else {
        panic!("a dead holder's lock must be taken over");
    };
    guard.release().await.unwrap();
}

/// Polls `acquire` until the recorder has seen `when`, then drops it (cancellation).
async fn cancel_once_seen<T: std::fmt::Debug>(
    acquire: impl std::future::Future<Output = T>,
    rec: &Arc<Recorder>,
    when: Seen,
) {
    let rec = Arc::clone(rec);
    let seen = tokio::task::spawn_blocking(move || rec.wait_for(&when));
    tokio::select! {
        outcome = acquire => panic!("the lock is held, yet the acquire ended: {outcome:?}"),
        seen = seen => seen.unwrap(),
    }
}

async fn spawn_helper_blocking(s: &std::path::Path) -> common::Helper {
    let s = s.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut helper = spawn_helper("hold", &s, &[]);
        helper.expect("held");
        helper
    })
    .await
    .unwrap()
}

/// Not a test: the holder process for `cancelled_kernel_wait_leaks_nothing`.
#[test]
#[ignore = "helper process for the multi-process tests"]
fn helper_process() {
    let Some((role, s)) = common::helper_role() else {
        return;
    };
    assert_eq!(role, "hold");
    let guard = SessionLock::new().acquire_blocking(&s, Owner::new()).unwrap();
    common::report("held", std::process::id());
    let _keep = guard;
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// 32 tasks each take the lock 3 times and hold it 1 ms: every acquire succeeds, none
/// overlaps, and every wait is in memory, woken by a release. Reproduces H1 on the real
/// filesystem: the process's own teardown causes zero filesystem polls.
/// Checks: INV-1, INV-3, INV-5
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_on_one_path_never_time_out() {
    const TASKS: usize = 32;
    const ROUNDS: usize = 3;
    let (_dir, s) = session();
    let (lock, rec) = recorded(Builder::new());
    let inside = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (lock, s, inside, done) = (lock.clone(), s.clone(), inside.clone(), done.clone());
            tokio::spawn(async move {
                let owner = Owner::new();
                for _ in 0..ROUNDS {
                    let guard = lock.acquire(&s, owner).await?;
                    assert!(!inside.swap(true, Ordering::SeqCst), "INV-1 MutualExclusion");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    inside.store(false, Ordering::SeqCst);
                    guard.release().await.unwrap();
                    done.fetch_add(1, Ordering::SeqCst);
                }
                Ok::<(), AcquireError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(done.load(Ordering::SeqCst), TASKS * ROUNDS);
    assert_eq!(rec.count(&Seen::TimedOut), 0);
    assert_eq!(rec.count(&Seen::Contended), 0, "no task met the process's own lock file");
    assert_eq!(rec.count(&Seen::KernelWait), 0, "no task polled or waited on the file");
    assert!(rec.count(&Seen::Queued) > 0, "the tasks did contend");
    assert!(!lock_file(&s).exists());
}
