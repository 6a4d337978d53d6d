//! File modes for real, although the tests run as root (whom modes do not stop): an
//! acquire run by this test binary again, in a helper process that has dropped to the
//! `nobody` user and with it every capability.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use sessionlock::{AcquireError, TryAcquire};

/// The user and group the helper runs as.
const NOBODY: u32 = 65_534;

/// The role of the helper that acquires as `nobody`.
pub const ROLE: &str = "acquire-unprivileged";

/// Sets `path`'s permission bits.
pub fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs one `try_acquire` of `session` as `nobody`; returns the line it reported (see
/// [`describe`]).
pub fn try_acquire_as_nobody(session: &Path) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", crate::common::HELPER, "--nocapture", "--test-threads=1"])
        .env("SESSIONLOCK_TEST_ROLE", ROLE)
        .env("SESSIONLOCK_TEST_SESSION", session)
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .expect("dropping to nobody needs root (CAP_SETUID), which the tests have");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "helper failed: {stdout}\n{stderr}");
    let line = |tag: &str| {
        stdout
            .lines()
            .find_map(|l| l.split_once(tag).map(|(_, rest)| rest.trim().to_owned()))
            .unwrap_or_else(|| panic!("helper reported no {tag}: {stdout}\n{stderr}"))
    };
    assert_eq!(line("@@euid"), NOBODY.to_string(), "the helper runs unprivileged");
    line("@@outcome")
}

/// The helper's side: one `try_acquire`, reported as one line (see [`describe`]).
pub fn run(session: &Path) {
    crate::common::report("euid", rustix::process::geteuid().as_raw());
    let lock = sessionlock::SessionLock::new();
    let outcome = lock.try_acquire_blocking(session, sessionlock::Owner::new()).map(|o| match o {
        TryAcquire::Held(_) => "held",
        TryAcquire::Acquired(guard) => {
            guard.release_blocking().unwrap();
            "acquired"
        }
    });
    crate::common::report("outcome", describe(outcome));
}

/// `acquired`, `held`, `not-a-lock-file <kind>`, `timeout`, or `fs <op> <errno or kind>
/// <path>`.
fn describe(outcome: Result<&str, AcquireError>) -> String {
    match outcome {
        Ok(what) => what.into(),
        Err(AcquireError::NotALockFile { kind, .. }) => format!("not-a-lock-file {kind:?}"),
        Err(AcquireError::Timeout { .. }) => "timeout".into(),
        Err(AcquireError::Fs(e)) => {
            let why = match e.source.raw_os_error() {
                Some(errno) => errno.to_string(),
                None => format!("{:?}", e.source.kind()), // wrapped by fs-err: the kind stays
            };
            format!("fs {:?} {why} {}", e.op, e.path.display())
        }
    }
}
