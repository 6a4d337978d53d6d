//! H9 on the real filesystem: a lock file is never observable empty or partial. While
//! one thread publishes and removes the lock over and over, another reads the lock path
//! as fast as it can; every read that finds a file finds a complete payload.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sessionlock::payload::Payload;
use sessionlock::{Owner, SessionLock};

/// Reproduces H9 (payload-less window): never seen on the real filesystem.
/// Checks: INV-2
#[test]
fn a_lock_file_is_never_seen_empty_or_partial() {
    let dir = tempfile::tempdir().expect("temp dir");
    let session = dir.path().join("s.jsonl");
    let lock_file = dir.path().join("s.jsonl.lock");
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, lock_file) = (Arc::clone(&stop), lock_file.clone());
        std::thread::spawn(move || {
            let (mut seen, mut partial) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                if let Ok(bytes) = std::fs::read(&lock_file) {
                    seen += 1;
                    let complete = Payload::parse(&bytes).is_some_and(|p| p.pid.is_some());
                    partial += u64::from(!complete);
                }
            }
            (seen, partial)
        })
    };
    let lock = SessionLock::new();
    for _ in 0..3_000 {
        let guard = lock.acquire_blocking(&session, Owner::new()).expect("acquire");
        guard.release_blocking().expect("release");
    }
    stop.store(true, Ordering::Relaxed);
    let (seen, partial) = reader.join().expect("reader");
    assert!(seen > 0, "the reader never caught a lock file, so the test proves nothing");
    assert_eq!(partial, 0, "{partial} of {seen} reads found an empty or partial lock file");
}
