//! `SessionGuard::into_exec_fd`: a process that takes a lock and then `exec`s another
//! program hands it the kernel lock. The program inherits a descriptor of the lock file
//! (the only one left after the exec) and keeps the lock held exactly while it lives;
//! then the file is provably stale and is taken over at once. The helper process is this
//! test binary again, running the ignored `helper_process` test in the role the parent
//! sets.
#![cfg(not(sessionlock_loom))]

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use common::{helper_role, lock_file, recorded, session, spawn_helper};
use rustix::io::{FdFlags, fcntl_getfd};
use sessionlock::Reason;
use sessionlock::{Builder, Owner, SessionLock, TryAcquire};

#[test]
#[ignore = "helper process for the hand-off test"]
fn helper_process() {
    let Some((role, s)) = helper_role() else {
        return;
    };
    assert_eq!(role, "exec", "unknown role");
    let guard = SessionLock::new().acquire_blocking(&s, Owner::new()).unwrap();
    let fd = guard.into_exec_fd().unwrap();
    assert!(!fcntl_getfd(&fd).unwrap().contains(FdFlags::CLOEXEC), "not inheritable");
    let go = s.with_extension("go");
    let script = "echo; echo @@inode $(stat -L -c %i /proc/$$/fd/$FD); \
        i=0; while [ ! -e \"$GO\" ] && [ $i -lt 3000 ]; do sleep 0.02; i=$((i+1)); done";
    let error = Command::new("sh")
        .args(["-c", script])
        .env("FD", fd.as_raw_fd().to_string())
        .env("GO", go)
        .exec();
    panic!("exec failed: {error}");
}

fn flock_is_free(lock: &Path) -> bool {
    let status = Command::new("flock").args(["-n", "-x"]).arg(lock).arg("true").status();
    status.unwrap().success()
}

/// The exec'd program holds the lock through the inherited descriptor while it lives, and
/// the lock file names it; once it has exited, the next acquire breaks the file as
/// `KernelProvenDead` without waiting.
/// Checks: INV-1, INV-4
#[test]
fn an_exec_after_the_hand_off_keeps_the_lock_for_the_new_program() {
    let (_dir, s) = session();
    let mut helper = spawn_helper("exec", &s, &[]);
    let inode = helper.expect("inode");
    let lock = lock_file(&s);
    assert_eq!(inode, std::fs::metadata(&lock).unwrap().ino().to_string());
    let text = std::fs::read_to_string(&lock).unwrap();
    let pid = helper.child.id();
    assert!(text.contains(&format!("\"pid\":{pid},")), "the file names the program: {text}");
    assert!(!flock_is_free(&lock), "the program holds the kernel lock");
    std::fs::write(s.with_extension("go"), "").unwrap();
    assert!(helper.child.wait().unwrap().success());
    assert!(lock.exists() && flock_is_free(&lock), "a stale file, with its kernel lock free");
    let (locker, recorder) = recorded(Builder::new());
    let TryAcquire::Acquired(guard) = locker.try_acquire_blocking(&s, Owner::new()).unwrap() else {
        panic!("the dead program's lock was not taken over at once");
    };
    assert_eq!(recorder.broken(), vec![vec![Reason::KernelProvenDead]]);
    guard.release_blocking().unwrap();
}
