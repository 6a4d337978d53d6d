//! File modes for real, although the tests run as root (whom modes do not stop): an
//! acquire run by this test binary again, in a helper process that has dropped to the
//! `nobody` user and with it every capability.
//!
//! The helper is not started from the test binary's own path: the checkout (and with it
//! the target directory) may sit under a directory `nobody` cannot traverse, such as a
//! home directory of mode 0700 or a clone into `mktemp -d`. It runs from a link to (or a
//! copy of) the binary in a fresh directory of mode 0755 under the system's temporary
//! directory ([`reachable`]), removed when the helper is done.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::thread;

use sessionlock::{AcquireError, TryAcquire};

use crate::common::{Helper, Recorder, Seen, helper_command, recorded, report};

/// The user and group the helper runs as.
pub const NOBODY: u32 = 65_534;

/// The role of the helper that acquires as `nobody`.
pub const ROLE: &str = "acquire-unprivileged";

/// The role of the helper that waits for the lock as `nobody` (see [`wait`]).
pub const WAIT_ROLE: &str = "wait-unprivileged";

/// Sets `path`'s permission bits.
pub fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// An executable that `nobody` can run wherever the original sits: a hard link to it
/// (or, across filesystems, a copy) in a fresh directory of mode 0755 under the system's
/// temporary directory. Removed when dropped.
pub struct Reachable {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Reachable {
    /// The executable's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its directory, which `nobody` may enter: a working directory for the helper.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Places `exe` where `nobody` can execute it (see [`Reachable`]).
pub fn reachable(exe: &Path) -> Reachable {
    let dir = tempfile::Builder::new().prefix("sessionlock-exe-").tempdir().unwrap();
    chmod(dir.path(), 0o755);
    let path = dir.path().join(exe.file_name().unwrap());
    if std::fs::hard_link(exe, &path).is_err() {
        std::fs::copy(exe, &path).unwrap();
    }
    // A link shares the original's mode (a test binary's 0755); a copy keeps it too.
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o005, 0o005, "{} is not executable by others", path.display());
    for dir in path.ancestors().skip(1) {
        let mode = std::fs::metadata(dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o001, 0o001, "{} is not traversable by others", dir.display());
    }
    Reachable { dir, path }
}

/// `cmd`, set to run as `nobody` from `exe`'s directory.
fn as_nobody(cmd: &mut Command, exe: &Reachable) {
    cmd.current_dir(exe.dir()).uid(NOBODY).gid(NOBODY); // std drops root's groups
}

/// Runs one `try_acquire` of `session` as `nobody`; returns the line it reported (see
/// [`describe`]).
pub fn try_acquire_as_nobody(session: &Path) -> String {
    let exe = reachable(&std::env::current_exe().unwrap());
    let mut cmd = helper_command(exe.path(), ROLE, session);
    as_nobody(&mut cmd, &exe);
    let out =
        cmd.output().expect("dropping to nobody needs root (CAP_SETUID), which the tests have");
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

/// A helper running as `nobody`, and the place its executable was put (kept until the
/// helper is gone).
pub struct NobodyHelper {
    /// The helper process.
    pub helper: Helper,
    _exe: Reachable,
}

/// Starts a helper as `nobody` that waits for the lock of `session` (see [`wait`]); it
/// has reported its euid, checked here.
pub fn spawn_waiter_as_nobody(session: &Path) -> NobodyHelper {
    let exe = reachable(&std::env::current_exe().unwrap());
    let mut cmd = helper_command(exe.path(), WAIT_ROLE, session);
    as_nobody(&mut cmd, &exe);
    let mut helper = Helper::spawn(cmd);
    assert_eq!(helper.expect("euid"), NOBODY.to_string(), "the helper runs unprivileged");
    NobodyHelper { helper, _exe: exe }
}

/// The helper's side: one `try_acquire`, reported as one line (see [`describe`]).
pub fn run(session: &Path) {
    report("euid", rustix::process::geteuid().as_raw());
    let lock = sessionlock::SessionLock::new();
    let outcome = lock.try_acquire_blocking(session, sessionlock::Owner::new()).map(|o| match o {
        TryAcquire::Held(_) => "held",
        TryAcquire::Acquired(guard) => {
            guard.release_blocking().unwrap();
            "acquired"
        }
    });
    report("outcome", describe(outcome));
}

/// The waiting helper's side: one `acquire` with a 60 s timeout (a hang guard only).
/// Reports `@@waiting` once it waits in the kernel for a holder, then `@@outcome` (see
/// [`describe`]) and `@@broken` with the reasons of every stale file it removed.
pub fn wait(session: &Path) {
    report("euid", rustix::process::geteuid().as_raw());
    let (lock, rec) =
        recorded(sessionlock::Builder::new().timeout(std::time::Duration::from_secs(60)));
    let watcher = Arc::clone(&rec);
    thread::spawn(move || announce_kernel_wait(&watcher));
    let outcome = lock.acquire_blocking(session, sessionlock::Owner::new()).map(|guard| {
        guard.release_blocking().unwrap();
        "acquired"
    });
    report("outcome", describe(outcome));
    report("broken", format!("{:?}", rec.broken()));
}

fn announce_kernel_wait(rec: &Recorder) {
    rec.wait_for(&Seen::KernelWait);
    report("waiting", "kernel");
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
        Err(other) => format!("other {other}"),
    }
}
