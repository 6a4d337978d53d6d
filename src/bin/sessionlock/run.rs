//! `sessionlock run`: hold a session's lock while a command runs.
//!
//! The lock's descriptors are all `O_CLOEXEC`, so the command inherits none of them: the
//! kernel lock belongs to this process alone, and killing it (even with `SIGKILL`) frees
//! the lock at once, even while the command runs on (INV-4).

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use sessionlock::api::block_on;
use sessionlock::core::protocol;
use sessionlock::{AcquireError, Owner, SessionGuard, SessionLock, TryAcquire};

use crate::error::{CliError, EXIT_IO};

/// Runs `command` holding the lock of `file`, waiting up to `timeout` for it. Returns the
/// command's exit code (128+N when signal N killed it).
pub fn main(file: &Path, timeout: Duration, command: &[OsString]) -> Result<u8, CliError> {
    let Some((program, args)) = command.split_first() else {
        return Err(CliError::Usage("no command given after `--`".to_owned()));
    };
    let lock = SessionLock::builder().timeout(timeout).build();
    let guard = acquire(&lock, file)?;
    let status = Command::new(program).args(args).status();
    let released = guard.release_blocking();
    let code = match status {
        Ok(status) => exit_code(status),
        Err(source) => {
            let program = program.to_string_lossy().into_owned();
            return Err(CliError::Spawn { program, source });
        }
    };
    match released {
        Ok(_) => Ok(code),
        Err(error) => {
            // The command ran, but another writer may have been in: never report success.
            eprintln!("sessionlock: {error}");
            Ok(if code == 0 { EXIT_IO } else { code })
        }
    }
}

/// Takes the lock at once if it is free; otherwise says once who holds it, then waits.
fn acquire(lock: &SessionLock, file: &Path) -> Result<SessionGuard, CliError> {
    let owner = Owner::new();
    match lock.try_acquire_blocking(file, owner)? {
        TryAcquire::Acquired(guard) => return Ok(guard),
        TryAcquire::Held(holder) => {
            eprintln!("sessionlock: waiting for lock on {} held by {holder}", file.display());
        }
    }
    lock.acquire_blocking(file, owner).map_err(|e| CliError::from(refreshed(lock, e)))
}

/// A timeout names the holder seen when the wait began; look again, so the message says
/// how long that holder has held by now (H16). Any other holder is left as it was seen.
fn refreshed(lock: &SessionLock, error: AcquireError) -> AcquireError {
    let AcquireError::Timeout { path, waited, holder: Some(seen) } = error else {
        return error;
    };
    let now = block_on(protocol::inspect(&lock.locker().ctx(), &path));
    let holder = match now {
        Ok(Some(now)) if now.pid == seen.pid => Box::new(now),
        _ => seen,
    };
    AcquireError::Timeout { path, waited, holder: Some(holder) }
}

/// The shell's convention: the exit code, or 128+N for death by signal N.
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(u8::MAX),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(u8::MAX),
        (None, None) => EXIT_IO,
    }
}
