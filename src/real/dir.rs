//! Lock directories, remembered per process: the canonical path a session's directory
//! resolves to, an `O_PATH` descriptor on it, and its identity (H18).
//!
//! Resolving a directory (`realpath`: one `readlink` per component) and opening it on
//! every publish is most of what the adapter adds to the system calls a lock cannot
//! avoid, so both are remembered. A remembered answer is used only after a check, made
//! at the time it is used, that the path still names the same directory inode, so a
//! renamed directory or a retargeted symlink can never split one lock into two:
//!
//! | step | remembered | used only when | else |
//! |---|---|---|---|
//! | resolve a session's directory `D`, as given | its realpath `C`, the identity `X` of the directory | `stat(D)` is `X`, and, when `D` ≠ `C`, `stat(C)` is `X` | `realpath(D)` again |
//! | publish in `C` | an `O_PATH` descriptor on `X` | `stat(C)` is `X` | `C` opened again |
//!
//! Each check is one `stat` (the kernel walks the path once, following symlinks as
//! `realpath` and `open` do), where the work it saves is `realpath`'s `readlink`s, or
//! an `open` and a `close`. After a check the state is what the uncached calls would
//! have found at that moment; what a rename does between the check and the calls that
//! follow it is what it did between those calls before (the lock is keyed by a path,
//! and a directory renamed while a lock in it is held splits it either way).
//!
//! Both tables are small and bounded ([`CAPACITY`] entries each, the oldest dropped
//! first), so a process that locks sessions in many directories keeps at most that many
//! descriptors open; a dropped directory is opened again when next used.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rustix::fs::{CWD, Mode, OFlags, fstat, openat, stat};

use super::degraded::{DirInfo, dir_info};
use super::handle::file_id;
use crate::fs::FileId;

/// How many directories, and how many spellings of them, are remembered.
const CAPACITY: usize = 16;

/// An open lock directory.
#[derive(Debug)]
pub(crate) struct LockDir {
    /// Its canonical path.
    path: PathBuf,
    /// `O_PATH|O_DIRECTORY` on it.
    fd: OwnedFd,
    /// `fstat` of `fd`.
    id: FileId,
    /// What is known about it (see `degraded.rs`).
    info: Arc<DirInfo>,
}

impl LockDir {
    /// Opens the directory at `path` (following symlinks, as the uncached `open` did).
    fn open(path: &Path) -> io::Result<Self> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = openat(CWD, path, flags, Mode::empty())?;
        let id = file_id(&fstat(&fd)?);
        let info = dir_info(path, Some(&fd));
        Ok(Self { path: path.to_owned(), fd, id, info })
    }

    /// The descriptor, for `*at` calls relative to the directory.
    pub(crate) fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// What is known about the directory.
    pub(crate) fn info(&self) -> &Arc<DirInfo> {
        &self.info
    }

    /// Whether `path` names this very directory now (one `stat`).
    fn named_by(&self, path: &Path) -> bool {
        stat(path).is_ok_and(|st| file_id(&st) == self.id)
    }
}

/// The two tables: directories by canonical path, and by the spelling a caller gave.
#[derive(Default)]
struct Table {
    dirs: Vec<Arc<LockDir>>,
    given: Vec<(PathBuf, Arc<LockDir>)>,
}

fn table() -> std::sync::MutexGuard<'static, Table> {
    static TABLE: Mutex<Table> = Mutex::new(Table { dirs: Vec::new(), given: Vec::new() });
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn remember<T>(list: &mut Vec<T>, same: impl Fn(&T) -> bool, entry: T) {
    list.retain(|e| !same(e));
    if list.len() >= CAPACITY {
        list.remove(0);
    }
    list.push(entry);
}

/// The directory to publish in at the canonical path `path`, checked to be the one
/// `path` names now, or opened again.
///
/// # Errors
/// When `path` cannot be opened as a directory.
pub(crate) fn open(path: &Path) -> io::Result<Arc<LockDir>> {
    let known = table().dirs.iter().find(|d| d.path == path).cloned();
    if let Some(dir) = known.filter(|d| d.named_by(path)) {
        return Ok(dir);
    }
    let dir = Arc::new(LockDir::open(path)?);
    remember(&mut table().dirs, |d| d.path == path, Arc::clone(&dir));
    Ok(dir)
}

/// The canonical path of the directory `given` (as a caller spelled it), checked to be
/// what `given` names now, or resolved again with `resolve`.
///
/// # Errors
/// What `resolve` returns.
pub(crate) fn canonical(
    given: &Path,
    resolve: impl FnOnce(&Path) -> io::Result<PathBuf>,
) -> io::Result<PathBuf> {
    let known = table().given.iter().find(|(g, _)| g == given).map(|(_, d)| Arc::clone(d));
    if let Some(dir) = known
        && dir.named_by(given)
        && (dir.path == given || dir.named_by(&dir.path))
    {
        return Ok(dir.path.clone());
    }
    let path = resolve(given)?;
    // Remembered only when the directory opened is the one `given` names: a rename in
    // between leaves nothing behind to be trusted later.
    if let Ok(dir) = LockDir::open(&path)
        && dir.named_by(given)
    {
        let dir = Arc::new(dir);
        let mut table = table();
        remember(&mut table.dirs, |d| d.path == path, Arc::clone(&dir));
        remember(&mut table.given, |(g, _)| g == given, (given.to_owned(), dir));
    }
    Ok(path)
}
