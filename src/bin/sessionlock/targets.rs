//! Turning the paths a user typed into lock paths, without creating or following anything
//! at the lock paths themselves.

use std::ffi::OsStr;
use std::path::Path;

use sessionlock::LockPath;

use crate::error::CliError;

/// The suffix of a lock file's name.
const SUFFIX: &str = ".lock";

/// A lock path to look at.
#[derive(Debug)]
pub struct Target {
    /// The canonical lock path: realpath of the directory, plus the file name.
    pub lock: LockPath,
    /// Whether the user named it (or its session), rather than it being found in a
    /// directory. Something other than a lock file there is then an input error.
    pub explicit: bool,
}

/// The lock paths `arg` stands for: a lock file (`*.lock`) itself, every `*.lock` in a
/// directory (also when `arg` ends with `/`), or else the lock of a session file
/// (`<file>.lock`).
///
/// # Errors
/// [`CliError::Usage`] when `arg` names no file; [`CliError::Io`] when a directory
/// cannot be read or resolved, or does not exist (exit code 2).
pub fn resolve(arg: &Path) -> Result<Vec<Target>, CliError> {
    if names_a_directory(arg) {
        return scan(arg);
    }
    if has_lock_suffix(arg.file_name()) {
        return Ok(vec![Target { lock: canonical(arg)?, explicit: true }]);
    }
    if arg.is_dir() {
        return scan(arg);
    }
    let mut lock = arg.as_os_str().to_owned();
    lock.push(SUFFIX);
    Ok(vec![Target { lock: canonical(Path::new(&lock))?, explicit: true }])
}

/// Every `*.lock` entry of `dir`, whatever it is, sorted by name. Not recursive.
///
/// # Errors
/// [`CliError::Io`] when `dir` cannot be resolved or read (exit code 2 when it does not
/// exist or is not a directory).
pub fn scan(dir: &Path) -> Result<Vec<Target>, CliError> {
    let real = std::fs::canonicalize(dir).map_err(CliError::io(dir))?;
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&real).map_err(CliError::io(dir))? {
        let name = entry.map_err(CliError::io(dir))?.file_name();
        if has_lock_suffix(Some(&name)) {
            names.push(name);
        }
    }
    names.sort();
    let lock = |name| Target { lock: LockPath::from_canonical(real.join(name)), explicit: false };
    Ok(names.into_iter().map(lock).collect())
}

/// Whether `arg` is spelled as a directory: it ends with `/` (or `/.`, or is `.`/`..`).
fn names_a_directory(arg: &Path) -> bool {
    let bytes = arg.as_os_str().as_encoded_bytes();
    bytes.ends_with(b"/") || bytes.ends_with(b"/.") || matches!(bytes, b"." | b"..")
}

/// Whether `name` is a lock file's name: `<something>.lock`.
fn has_lock_suffix(name: Option<&OsStr>) -> bool {
    name.map(OsStr::as_encoded_bytes)
        .is_some_and(|n| n.len() > SUFFIX.len() && n.ends_with(SUFFIX.as_bytes()))
}

/// The canonical form of the lock path `path`: its directory resolved, its own name kept
/// as is (never followed). A directory that does not exist is an input error (exit code
/// 2): it is never created, and "no lock" there would hide a mistyped path.
fn canonical(path: &Path) -> Result<LockPath, CliError> {
    let Some(name) = path.file_name() else {
        return Err(CliError::Usage(format!("{} names no file", path.display())));
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(dir).map_err(CliError::io(dir))?;
    Ok(LockPath::from_canonical(dir.join(name)))
}
