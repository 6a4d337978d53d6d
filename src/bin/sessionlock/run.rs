//! `sessionlock run`: hold a session's lock exactly as long as the command can write.
//!
//! `run` is a supervisor. The lock is taken by a holder process (`hold.rs`) that then
//! execs the command, so the lock file names the command's pid and start time, and the
//! command holds the kernel lock through an inherited descriptor (as under `flock(1)`):
//! killing `run`, even with `SIGKILL`, never frees the lock while the command runs.
//!
//! | step | `run` (the supervisor)                                   | the holder, then the command |
//! |------|----------------------------------------------------------|------------------------------|
//! | 1    | catches INT, TERM, HUP, QUIT; binds the channel; starts the holder | connects         |
//! | 2    | waits for the hand-off                                   | acquires; hands `run` a descriptor; execs the command |
//! | 3    | forwards signals (`signals.rs`); waits for the exit without reaping | runs, holding the kernel lock |
//! | 4    | still co-holding the lock: checks the path names the file the holder published, else reports it compromised; lets go | exited: a zombie |
//! | 5    | removes the file as any contender would: only if its kernel lock is free (nobody the command started holds it), bound to its inode | |
//! | 6    | waits [`REAP_GRACE`], reaps, exits with the command's status | |
//!
//! Co-holding in step 4 keeps the file locked from the command's exit until `run` has
//! checked it, so a contender taking over right after the exit is never mistaken for a
//! compromise. If the holder dies before the hand-off (a signal while it waits), `run`
//! probes the lock path as a contender would, so it leaves no stale file behind.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, WaitId, WaitIdOptions, WaitIdStatus, pidfd_open, waitid};
use sessionlock::{AcquireError, Cleaned, Clock, LockPath, Owner, ReleaseError, SessionFs};
use sessionlock::{SessionGuard, SessionLock, TryAcquire};

use crate::channel::{self, Handed, Listener};
use crate::error::{CliError, EXIT_IO};
use crate::signals::Caught;

/// How long `run` leaves the exited command unreaped after it let go of the lock file.
///
/// The original TypeScript lock's contenders judge a holder by `kill(pid, 0)` alone, and
/// a zombie answers that it is alive. One that read the lock file just before `run`
/// removed it, and asks about the pid only now, is told "alive" for this long, and
/// waits, rather than removing by path whatever file the next holder has published
/// there since. 100 ms is far longer than such a read-then-check takes on a live system,
/// and short next to a command's run.
pub const REAP_GRACE: Duration = Duration::from_millis(100);

/// The hidden subcommand that runs the holder.
pub const HOLD_SUBCOMMAND: &str = "__hold";

/// How to wait for a held lock, and what to exit with when it stays held.
#[derive(Clone, Copy, Debug)]
pub struct Wait {
    /// How long to wait; `None` not at all (`--nonblock`).
    pub timeout: Option<Duration>,
    /// The exit code when the lock stays held (`--conflict-exit-code`).
    pub busy_code: u8,
    /// Wait in the cross-process queue (`--queue`, `Builder::queue`).
    pub queue: bool,
}

/// Runs `command` holding the lock of `file`, waiting for it as `wait` says. Returns the
/// command's exit code (128+N when signal N killed it).
pub fn main(file: &Path, wait: Wait, command: &[OsString]) -> Result<u8, CliError> {
    if command.is_empty() {
        return Err(CliError::Usage("no command given".to_owned()));
    }
    let lock = SessionLock::new();
    let lock_path = lock.lock_path(file)?;
    warn_if_aliased(file, &lock_path);
    let listener = Listener::bind().map_err(CliError::supervise("open the hand-off channel"))?;
    let caught = Caught::install().map_err(CliError::supervise("catch signals"))?;
    let mut cmd = holder(file, wait, listener.name(), command)?;
    caught.place(&mut cmd);
    let child = cmd.spawn().map_err(CliError::supervise("start the lock holder"))?;
    supervise(&lock, &lock_path, listener, caught, child)
}

/// Steps 2 to 6 of the module docs, from a started holder.
fn supervise(
    lock: &SessionLock,
    lock_path: &LockPath,
    listener: Listener,
    caught: Caught,
    mut child: Child,
) -> Result<u8, CliError> {
    let pid = child.id();
    let mut trouble = false;
    let forwarder = caught.forward_to(pid).map_err(|e| {
        CliError::supervise("forward signals")(e).report();
        trouble = true;
    });
    let handed = match handoff(&listener, pid) {
        Ok(handed) => handed,
        Err(error) => {
            CliError::supervise("receive the lock from its holder")(error).report();
            trouble = true;
            None
        }
    };
    drop(listener);
    let exit = exited(pid);
    // Whether the lock file was let go of: by us now, or, once the command held it, by
    // whoever removed it since (a contender that took over).
    let released = match handed {
        Some(handed) => {
            settle(lock, handed, &mut trouble);
            true
        }
        // The holder died of a signal before handing over: it may have left a file.
        None if exit.as_ref().is_ok_and(|s| s.terminating_signal().is_some()) => {
            clean_up(lock, lock_path, &mut trouble)
        }
        None => false,
    };
    if let Ok(forwarder) = forwarder {
        forwarder.stop();
    }
    if released {
        std::thread::sleep(REAP_GRACE);
    }
    let status = child.wait().map_err(CliError::supervise("wait for the command"))?;
    let code = exit_code(status);
    Ok(if trouble && code == 0 { EXIT_IO } else { code })
}

/// The command that starts the holder: this very executable, in its hidden mode.
fn holder(
    file: &Path,
    wait: Wait,
    channel: &str,
    command: &[OsString],
) -> Result<Command, CliError> {
    let mut cmd = this_executable()?;
    cmd.arg(HOLD_SUBCOMMAND);
    match wait.timeout {
        Some(timeout) => cmd.arg("--timeout").arg(humantime::format_duration(timeout).to_string()),
        None => cmd.arg("--nonblock"),
    };
    if wait.queue {
        cmd.arg("--queue");
    }
    cmd.arg("--conflict-exit-code")
        .arg(wait.busy_code.to_string())
        .arg("--channel")
        .arg(channel)
        .arg(file)
        .arg("--")
        .args(command);
    Ok(cmd)
}

/// A command that runs this very executable (for a hidden subcommand).
pub fn this_executable() -> Result<Command, CliError> {
    // `/proc/self/exe` is this binary even if its file was replaced since it started.
    let exe = Path::new("/proc/self/exe");
    let exe = if exe.exists() {
        exe.to_owned()
    } else {
        std::env::current_exe().map_err(CliError::supervise("find this executable"))?
    };
    let mut cmd = Command::new(exe);
    cmd.arg0("sessionlock");
    Ok(cmd)
}

/// Waits for the holder to connect and to hand the lock over. `None` when it ended
/// without doing so (it timed out, failed, or was killed while it waited).
fn handoff(listener: &Listener, pid: u32) -> io::Result<Option<Handed>> {
    let pidfd: Option<OwnedFd> = raw_pid(pid).and_then(|p| pidfd_open(p, PidfdFlags::empty()).ok());
    let link = listener.accept(pid, pidfd.as_ref().map(AsFd::as_fd), || has_exited(pid))?;
    match link {
        Some(link) => channel::receive(&link),
        None => Ok(None),
    }
}

fn raw_pid(pid: u32) -> Option<Pid> {
    i32::try_from(pid).ok().and_then(Pid::from_raw)
}

/// Whether the child `pid` has exited, leaving it unreaped.
fn has_exited(pid: u32) -> io::Result<bool> {
    let Some(pid) = raw_pid(pid) else { return Ok(true) };
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    loop {
        match waitid(WaitId::Pid(pid), options) {
            Ok(status) => return Ok(status.is_some()),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Waits until the child `pid` has exited, leaving it unreaped (a zombie still answers
/// `kill(pid, 0)`, which the original lock's contenders rely on: see [`REAP_GRACE`]).
pub fn exited(pid: u32) -> io::Result<WaitIdStatus> {
    let pid = raw_pid(pid).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT;
    loop {
        match waitid(WaitId::Pid(pid), options) {
            Ok(Some(status)) => return Ok(status),
            Ok(None) | Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Steps 4 and 5 once the command has exited: checks, under the kernel lock still held
/// through `handed`, that the lock path names the holder's file; lets go; then removes
/// the file as a contender would.
fn settle(lock: &SessionLock, handed: Handed, trouble: &mut bool) {
    let path = LockPath::from_canonical(PathBuf::from(handed.path));
    match lock.verify_exec_fd(&path, &handed.fd) {
        Ok(()) => {}
        Err(error @ ReleaseError::Compromised { .. }) => {
            eprintln!("sessionlock: {error}");
            *trouble = true;
        }
        Err(ReleaseError::Fs(error)) => report(CliError::Fs(error), trouble),
        Err(error) => {
            eprintln!("sessionlock: {error}");
            *trouble = true;
        }
    }
    drop(handed.fd);
    clean_up(lock, &path, trouble);
}

fn report(error: CliError, trouble: &mut bool) {
    error.report();
    *trouble = true;
}

/// Removes the file at `lock_path` if its holder is proven gone (a contender's probe).
/// Returns whether it removed it.
fn clean_up(lock: &SessionLock, lock_path: &LockPath, trouble: &mut bool) -> bool {
    match lock.clean_blocking(lock_path) {
        Ok(Cleaned::Removed(_)) => true,
        // Someone the command started still holds it, or the next holder has it; or
        // nothing is there.
        Ok(_) => false,
        Err(AcquireError::NotALockFile { .. }) => false,
        Err(error) => {
            report(CliError::from(error), trouble);
            false
        }
    }
}

/// Warns, in one line, when `file` can be reached by other names that would lock it
/// differently: the lock path is the realpath of the directory plus the name given, as
/// the original lock has it, so a symlink or another hard link has a lock of its own.
fn warn_if_aliased(file: &Path, lock: &LockPath) {
    let Ok(meta) = std::fs::symlink_metadata(file) else { return };
    let alias = if meta.file_type().is_symlink() {
        "it is a symbolic link".to_owned()
    } else if meta.is_file() && meta.nlink() > 1 {
        format!("it has {} hard links", meta.nlink())
    } else {
        return;
    };
    eprintln!(
        "sessionlock: warning: {} is locked by that name ({lock}), but {alias}: a writer \
         that names the same file by another path takes another lock",
        file.display()
    );
}

/// Takes the lock at once if it is free. Otherwise: with no `timeout` (`--nonblock`),
/// fails at once naming the holder; with a timeout, says once who holds it (unless the
/// timeout is zero: there is no wait to announce), then waits.
pub fn acquire<F: SessionFs, C: Clock>(
    lock: &SessionLock<F, C>,
    file: &Path,
    timeout: Option<Duration>,
) -> Result<SessionGuard<F, C>, CliError> {
    let owner = Owner::new();
    match (lock.try_acquire_blocking(file, owner)?, timeout) {
        (TryAcquire::Acquired(guard), _) => return Ok(guard),
        (TryAcquire::Held(holder), None) => {
            return Err(CliError::Busy { path: holder.path().clone(), holder });
        }
        (TryAcquire::Held(_), Some(Duration::ZERO)) => {}
        (TryAcquire::Held(holder), Some(_)) => {
            eprintln!("sessionlock: waiting for lock on {} held by {holder}", file.display());
        }
    }
    lock.acquire_blocking(file, owner).map_err(|e| CliError::from(refreshed(lock, e)))
}

/// A timeout names the holder seen when the wait began; look again, so the message says
/// how long that holder has held by now (H16). Any other holder is left as it was seen.
fn refreshed<F: SessionFs, C: Clock>(
    lock: &SessionLock<F, C>,
    error: AcquireError,
) -> AcquireError {
    let AcquireError::Timeout { path, waited, holder: Some(seen) } = error else {
        return error;
    };
    let now = lock.inspect_blocking(&path);
    let holder = match now {
        Ok(Some(now)) if now.pid() == seen.pid() => Box::new(now),
        _ => seen,
    };
    AcquireError::Timeout { path, waited, holder: Some(holder) }
}

/// The shell's convention: the exit code, or 128+N for death by signal N.
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(u8::MAX),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(u8::MAX),
        (None, None) => EXIT_IO,
    }
}
