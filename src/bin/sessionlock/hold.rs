//! `sessionlock __hold`: the process `run` starts to take the lock and become the command.
//!
//! It takes the lock in its own name, so the lock file names its pid and start time,
//! which `exec` keeps: the file then names the command, which lives exactly as long as
//! the kernel lock it inherits (unless it passes the descriptor on). It says who holds
//! the lock while it waits, and gives up with 75 at the timeout, as `run` always did.
//!
//! | step | what it does                                                   | if it fails            |
//! |------|----------------------------------------------------------------|------------------------|
//! | 1    | connects to `run`'s channel                                    | exit 1: `run` is gone  |
//! | 2    | acquires the lock (the waiting line, the timeout, or `--nonblock`) | exit 75 (or `-E`), 2 or 1 |
//! | 3    | `dup`s the lock's descriptor, without `FD_CLOEXEC`            | released; exit 1       |
//! | 4    | sends `run` the lock path and a descriptor (see `channel.rs`)  | exit 1; the file is left for the next contender, which proves it stale |
//! | 5    | execs the command, with `SESSIONLOCK_FD` naming the descriptor | exit 126 or 127; `run` removes the file |

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use sessionlock::SessionLock;

use crate::channel;
use crate::error::CliError;
use crate::run::{self, Wait};

/// The environment variable that names the inherited lock descriptor.
pub const FD_VAR: &str = "SESSIONLOCK_FD";

/// Takes the lock of `file` (waiting as `wait` says), hands it to `run` over `channel`,
/// and execs `command`. Returns only on failure.
pub fn main(file: &Path, wait: Wait, channel: &str, command: &[OsString]) -> Result<u8, CliError> {
    let Some((program, args)) = command.split_first() else {
        return Err(CliError::Usage("no command given".to_owned()));
    };
    let link =
        channel::connect_to(channel).map_err(CliError::supervise("reach `sessionlock run`"))?;
    let lock =
        SessionLock::builder().timeout(wait.timeout.unwrap_or_default()).queue(wait.queue).build();
    let guard = match run::acquire(&lock, file, wait.timeout) {
        Ok(guard) => guard,
        Err(busy) if busy.is_busy() => {
            busy.report();
            return Ok(wait.busy_code);
        }
        Err(error) => return Err(error),
    };
    let path = guard.lock_path().as_path().to_owned();
    let fd = guard.into_exec_fd().map_err(CliError::supervise("pass the lock on"))?;
    channel::send(&link, fd.as_fd(), &path)
        .map_err(CliError::supervise("hand the lock to `sessionlock run`"))?;
    let source = Command::new(program).args(args).env(FD_VAR, fd.as_raw_fd().to_string()).exec();
    Err(CliError::Spawn { program: program.to_string_lossy().into_owned(), source })
}
