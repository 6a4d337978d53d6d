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
//! | resolve a session's directory `D`, as given | its realpath `C`, the identity `X` of the directory | `lstat(C)` is `X`, and, when `D` ≠ `C`, `stat(D)` is `X` | `realpath(D)` again |
//! | publish in `C` | an `O_PATH` descriptor on the directory | `stat(C)` is its identity | `C` opened again |
//!
//! Resolving opens no descriptor, and a directory is kept open only once a second lock
//! file has been published in it (before that, each publish opens and closes it, as
//! before), so a process that takes one lock, or only waits for one, keeps none open.
//!
//! Each check is one `stat` or `lstat` (the kernel walks the path once), where the work
//! it saves is `realpath`'s `readlink`s, or an `open` and a `close`. `lstat(C)` also
//! notices `C` itself turned into a symlink (to `X` under a new name, or elsewhere),
//! after which `C` would no longer be canonical. What it cannot notice is an *ancestor*
//! of `C` turned into a symlink to where that ancestor went: `C` then still names `X`, so
//! every call still reaches the same files as a fresh resolution, and lockers exclude
//! each other on disk; only the key differs from a fresh one (`realpath` would name the
//! new place), so in this process the two spellings are two registry entries, and an
//! owner re-entering through the other spelling waits instead of re-entering.
//!
//! After a check the state is what the uncached calls would have found at that moment;
//! what a rename does between the check and the calls that follow it is what it did
//! between those calls before (the lock is keyed by a path, and a directory renamed while
//! a lock in it is held splits it either way).
//!
//! The tables are small and bounded ([`CAPACITY`] entries each, the oldest dropped
//! first), so a process that locks sessions in many directories keeps at most that many
//! descriptors open; a dropped directory is opened again when next used. An open
//! descriptor keeps its filesystem busy: it cannot be unmounted while the process runs.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rustix::fs::{CWD, Mode, OFlags, fstat, lstat, openat, stat};

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
        names(path, self.id)
    }
}

/// A resolution of a spelling: its realpath, and the identity of the directory there.
#[derive(Clone, Debug)]
struct Resolved {
    path: PathBuf,
    id: FileId,
}

/// Whether `path` names the directory `id` now (one `stat`, following symlinks).
fn names(path: &Path, id: FileId) -> bool {
    stat(path).is_ok_and(|st| file_id(&st) == id)
}

/// Whether `path` names the directory `id` now, itself and not through a symlink (one
/// `lstat`): a canonical path has not become a symlink, to it or elsewhere.
fn names_directly(path: &Path, id: FileId) -> bool {
    lstat(path).is_ok_and(|st| file_id(&st) == id)
}

/// The two tables: open directories by canonical path, and resolutions by the spelling a
/// caller gave. Resolving opens nothing: a directory is opened by its first publish.
/// A directory is kept open once a second lock file has been published in it; the first
/// only notes its path in `published_once`, so a process that takes one lock in a
/// directory, or only contends for one (a `run`), holds no more descriptors than it did
/// without the tables.
#[derive(Default)]
struct Table {
    dirs: Vec<Arc<LockDir>>,
    published_once: Vec<PathBuf>,
    given: Vec<(PathBuf, Resolved)>,
}

impl Table {
    const fn new() -> Self {
        Self { dirs: Vec::new(), published_once: Vec::new(), given: Vec::new() }
    }
}

/// The process's tables.
static TABLE: Mutex<Table> = Mutex::new(Table::new());

fn lock(table: &Mutex<Table>) -> std::sync::MutexGuard<'_, Table> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether two spellings are the same bytes. Stricter than `Path`'s equality, which
/// ignores `.` components and repeated slashes; a spelling that differs only so gets an
/// entry of its own, which costs a `realpath` and nothing else.
fn same(a: &Path, b: &Path) -> bool {
    a.as_os_str() == b.as_os_str()
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
    open_in(&TABLE, path)
}

fn open_in(table: &Mutex<Table>, path: &Path) -> io::Result<Arc<LockDir>> {
    let known = lock(table).dirs.iter().find(|d| same(&d.path, path)).cloned();
    if let Some(dir) = known.filter(|d| d.named_by(path)) {
        return Ok(dir);
    }
    Ok(Arc::new(LockDir::open(path)?))
}

/// Notes that a lock file was published in `dir`: the second time in one directory, it
/// is kept open for the publishes that follow.
pub(crate) fn published_in(dir: &Arc<LockDir>) {
    published_in_table(&TABLE, dir);
}

fn published_in_table(table: &Mutex<Table>, dir: &Arc<LockDir>) {
    let mut table = lock(table);
    if table.dirs.iter().any(|d| Arc::ptr_eq(d, dir)) {
        return;
    }
    if table.published_once.iter().any(|p| same(p, &dir.path)) {
        remember(&mut table.dirs, |d| same(&d.path, &dir.path), Arc::clone(dir));
    } else {
        remember(&mut table.published_once, |p| same(p, &dir.path), dir.path.clone());
    }
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
    canonical_in(&TABLE, given, resolve)
}

fn canonical_in(
    table: &Mutex<Table>,
    given: &Path,
    resolve: impl FnOnce(&Path) -> io::Result<PathBuf>,
) -> io::Result<PathBuf> {
    let known = lock(table).given.iter().find(|(g, _)| same(g, given)).map(|(_, r)| r.clone());
    if let Some(known) = known
        && names_directly(&known.path, known.id)
        && (same(&known.path, given) || names(given, known.id))
    {
        return Ok(known.path);
    }
    let path = resolve(given)?;
    // Remembered only when the realpath names, itself, the directory `given` names: a
    // rename in between leaves nothing behind to be trusted later.
    if let Ok(st) = lstat(&path)
        && names(given, file_id(&st))
    {
        let resolved = Resolved { path: path.clone(), id: file_id(&st) };
        remember(&mut lock(table).given, |(g, _)| same(g, given), (given.to_owned(), resolved));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// `canonical` with a `realpath` that counts its calls.
    fn resolve_counting<'a>(
        calls: &'a Cell<u32>,
    ) -> impl FnOnce(&Path) -> io::Result<PathBuf> + 'a {
        move |dir| {
            calls.set(calls.get() + 1);
            std::fs::canonicalize(dir)
        }
    }

    #[test]
    fn an_unchanged_directory_is_not_resolved_again() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().canonicalize().unwrap();
        let (table, calls) = (Mutex::new(Table::new()), Cell::new(0));
        for _ in 0..3 {
            assert_eq!(canonical_in(&table, tmp.path(), resolve_counting(&calls)).unwrap(), real);
        }
        assert_eq!(calls.get(), 1, "remembered after the first");
    }

    #[test]
    fn a_retargeted_symlink_is_resolved_again() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&a, &link).unwrap();
        let (table, calls) = (Mutex::new(Table::new()), Cell::new(0));
        let resolved = |calls| canonical_in(&table, &link, resolve_counting(calls)).unwrap();
        assert_eq!(resolved(&calls), a.canonicalize().unwrap());
        assert_eq!(resolved(&calls), a.canonicalize().unwrap());
        assert_eq!(calls.get(), 1, "remembered");
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(&b, &link).unwrap();
        assert_eq!(resolved(&calls), b.canonicalize().unwrap());
        assert_eq!(calls.get(), 2, "noticed and resolved again");
    }

    #[test]
    fn an_open_directory_is_reused_until_its_path_names_another() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().canonicalize().unwrap().join("d");
        std::fs::create_dir(&dir).unwrap();
        let table = Mutex::new(Table::new());
        let open = |dir: &Path| {
            let opened = open_in(&table, dir).unwrap();
            published_in_table(&table, &opened);
            opened
        };
        let once = open(&dir);
        let first = open(&dir);
        assert!(!Arc::ptr_eq(&once, &first), "the first publish keeps nothing open");
        assert!(Arc::ptr_eq(&first, &open(&dir)), "reused");
        std::fs::rename(&dir, tmp.path().join("d.old")).unwrap();
        std::fs::create_dir(&dir).unwrap();
        let second = open(&dir);
        assert!(!Arc::ptr_eq(&first, &second), "opened again");
        assert_ne!(first.id, second.id);
        assert!(Arc::ptr_eq(&second, &open(&dir)), "and reused from then on");

        let other = tmp.path().canonicalize().unwrap().join("e");
        std::fs::create_dir(&other).unwrap();
        let unpublished = open_in(&table, &other).unwrap();
        assert!(!Arc::ptr_eq(&unpublished, &open_in(&table, &other).unwrap()), "contended only");
    }

    #[test]
    fn a_table_stays_bounded_and_drops_its_oldest_first() {
        let mut list = Vec::new();
        for i in 0..CAPACITY + 4 {
            remember(&mut list, |e| *e == i, i);
        }
        assert_eq!(list.len(), CAPACITY);
        assert_eq!(list.first(), Some(&4), "the four oldest dropped");
        remember(&mut list, |e| *e == 10, 10);
        assert_eq!(list.len(), CAPACITY, "an entry for the same key is replaced");
        assert_eq!(list.last(), Some(&10));
    }
}
