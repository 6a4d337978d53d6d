//! What can go wrong in the CLI, and the exit code each failure maps to.

use std::io;
use std::path::PathBuf;

use sessionlock::fs::{FileKind, FsError, FsOp};
use sessionlock::pg::ConnectError;
use sessionlock::{AcquireError, Holder, LockPath};

/// Exit code: an I/O failure.
pub const EXIT_IO: u8 = 1;
/// Exit code: bad usage or input (clap uses it too).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the lock stayed held past the timeout, or at once with `--nonblock`
/// (`EX_TEMPFAIL` from sysexits.h), unless `--conflict-exit-code` says otherwise.
pub const EXIT_TIMEOUT: u8 = 75;
/// Exit code: the PostgreSQL server could not be reached (`EX_UNAVAILABLE`).
pub const EXIT_UNAVAILABLE: u8 = 69;
/// Exit code: the PostgreSQL store is misconfigured: the connection string, the login,
/// the lock tables, or a transaction-mode pooler in front (`EX_CONFIG`).
pub const EXIT_CONFIG: u8 = 78;
/// Exit code: the command was found but could not be run (as in POSIX shells).
pub const EXIT_CANNOT_RUN: u8 = 126;
/// Exit code: the command was not found (as in POSIX shells).
pub const EXIT_NOT_FOUND: u8 = 127;

/// A failure of one CLI operation.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The input cannot be used as asked.
    #[error("{0}")]
    Usage(String),
    /// Something other than a regular file sits at a lock path the user named.
    #[error("{path} is a {}, not a lock file; it was left untouched", kind_name(*kind))]
    NotALockFile {
        /// The lock path.
        path: PathBuf,
        /// What is there.
        kind: FileKind,
    },
    /// The lock stayed held past the timeout; the error names the holder and the path.
    #[error(transparent)]
    Timeout(AcquireError),
    /// The lock is held, and waiting was not asked for (`--nonblock`).
    #[error("{path} is locked by {holder}")]
    Busy {
        /// The lock path.
        path: LockPath,
        /// Who holds it.
        holder: Box<Holder>,
    },
    /// Another failure to take or look at a lock, of a kind this version does not know.
    #[error(transparent)]
    Lock(AcquireError),
    /// A lock primitive failed; with a hint where the cause is another user's file.
    #[error("{0}{hint}", hint = hint(.0))]
    Fs(FsError),
    /// Reading a directory or resolving a path failed.
    #[error("{path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The command could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The command's name.
        program: String,
        /// Why it could not be started.
        source: io::Error,
    },
    /// `run` could not set up or carry out its supervision of the command.
    #[error("cannot {what}: {source}")]
    Supervise {
        /// What could not be done.
        what: &'static str,
        /// Why.
        source: io::Error,
    },
    /// The PostgreSQL store could not be reached or used as configured.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// A statement on the PostgreSQL store failed.
    #[error("PostgreSQL: {0}")]
    Db(io::Error),
    /// Writing the report to stdout failed.
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
}

/// The lower-case name of a file kind (`fifo`, `symlink`, ...).
pub fn kind_name(kind: FileKind) -> String {
    kind.to_string()
}

impl CliError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) | Self::NotALockFile { .. } => EXIT_USAGE,
            Self::Timeout(_) | Self::Busy { .. } => EXIT_TIMEOUT,
            Self::Fs(e) if is_bad_input(&e.source) => EXIT_USAGE,
            Self::Io { source, .. } if is_bad_input(source) => EXIT_USAGE,
            Self::Connect(ConnectError::Unreachable(_)) => EXIT_UNAVAILABLE,
            Self::Connect(ConnectError::Other(_)) => EXIT_IO,
            Self::Connect(_) => EXIT_CONFIG,
            Self::Fs(_)
            | Self::Io { .. }
            | Self::Lock(_)
            | Self::Supervise { .. }
            | Self::Db(_)
            | Self::Output(_) => EXIT_IO,
            Self::Spawn { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                EXIT_NOT_FOUND
            }
            Self::Spawn { .. } => EXIT_CANNOT_RUN,
        }
    }

    /// Prints the error on stderr; a closed stdout (`| head`) is not worth a message.
    pub fn report(&self) {
        if let Self::Output(e) = self
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            return;
        }
        eprintln!("sessionlock: {self}");
    }

    /// The error without the lock path or a hint, for a report that shows the path
    /// beside it (the full message goes to stderr).
    pub fn detail(&self) -> String {
        match self {
            Self::Fs(e) => format!("{}: {}", e.op, e.source),
            Self::Timeout(e) => e.to_string(),
            other => other.to_string(),
        }
    }

    /// Whether the lock was held by someone else: the failure whose exit code
    /// `--conflict-exit-code` sets.
    pub fn is_busy(&self) -> bool {
        matches!(self, Self::Timeout(_) | Self::Busy { .. })
    }

    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    /// A failure to `what` while supervising the command.
    pub fn supervise(what: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| Self::Supervise { what, source }
    }
}

/// What a permission error on a lock file means, for the user who got it.
///
/// | step     | error                  | what it means                                        |
/// |----------|------------------------|------------------------------------------------------|
/// | open     | `EACCES`               | the file is not readable by this user (another user's umask took read access away), so its kernel lock cannot be tried: whether its holder lives is unknown |
/// | unlink   | `EPERM`/`EACCES`       | its holder is proven gone, but this user may not remove it (a sticky directory, such as `/tmp`, lets only the file's owner) |
fn hint(e: &FsError) -> &'static str {
    if e.source.kind() != io::ErrorKind::PermissionDenied {
        return "";
    }
    match e.op {
        FsOp::Open => {
            " (this user may not read the lock file, so cannot tell whether its holder is \
             alive; it was left alone)"
        }
        FsOp::Unlink => {
            " (its holder is gone, but this user may not remove its file, as in a sticky \
             directory; it was left alone: its owner or root can remove it with \
             `sessionlock clean`)"
        }
        _ => "",
    }
}

/// Errors that mean the path given was unusable rather than that the system failed.
fn is_bad_input(e: &io::Error) -> bool {
    use io::ErrorKind::{InvalidFilename, InvalidInput, NotADirectory, NotFound};
    matches!(e.kind(), InvalidInput | InvalidFilename | NotADirectory | NotFound)
}

impl From<AcquireError> for CliError {
    fn from(e: AcquireError) -> Self {
        match e {
            AcquireError::Timeout { .. } => Self::Timeout(e),
            AcquireError::NotALockFile { path, kind } => {
                Self::NotALockFile { path: path.as_path().to_owned(), kind }
            }
            AcquireError::Fs(e) => Self::Fs(e),
            other => Self::Lock(other),
        }
    }
}
