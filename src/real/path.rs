//! The canonical lock path of a session file (H18).

use std::io;
use std::path::{Path, PathBuf};

use crate::fs::LockPath;

/// The lock path of `session`: the realpath of its directory, plus its file name, plus
/// `.lock` (`dir/s.jsonl` locks `dir/s.jsonl.lock`).
///
/// The directory is created if it does not exist yet, so a missing directory cannot
/// split the key, and a symlinked directory maps to the same key as its target. The
/// session file itself is never resolved: it need not exist. The realpath is remembered
/// per spelling of the directory and reused only while that spelling still names the
/// same directory (see `dir.rs`).
///
/// # Errors
/// When `session` names no file (it ends in `..` or is empty), or its directory cannot
/// be created or resolved; the error names the path.
pub fn lock_path_for(session: &Path) -> io::Result<LockPath> {
    let Some(name) = session.file_name() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("session path {} names no file", session.display()),
        ));
    };
    let dir = match session.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut lock = name.to_owned();
    lock.push(".lock");
    Ok(LockPath::from_canonical(super::dir::canonical(dir, resolve_dir)?.join(lock)))
}

/// The session file a lock path protects: the lock path without its `.lock`, that is
/// the realpath of the session's directory plus the session's own name.
pub(crate) fn session_path_of(lock: &LockPath) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let path = lock.as_path();
    let name = path.file_name().unwrap_or_default().as_bytes();
    let name = name.strip_suffix(b".lock").unwrap_or(name);
    path.with_file_name(std::ffi::OsStr::from_bytes(name))
}

fn resolve_dir(dir: &Path) -> io::Result<PathBuf> {
    match fs_err::canonicalize(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs_err::create_dir_all(dir)?;
            fs_err::canonicalize(dir)
        }
        resolved => resolved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_of_a_session_is_beside_it() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().canonicalize().unwrap();
        let lock = lock_path_for(&tmp.path().join("s.jsonl")).unwrap();
        assert_eq!(lock.as_path(), real.join("s.jsonl.lock"));
    }

    #[test]
    fn a_missing_directory_is_created_and_gives_the_same_key() {
        let tmp = tempfile::tempdir().unwrap();
        let session = tmp.path().join("new/sub/s.jsonl");
        let first = lock_path_for(&session).unwrap();
        assert!(tmp.path().join("new/sub").is_dir());
        assert_eq!(lock_path_for(&session).unwrap(), first);
    }

    #[test]
    fn dots_and_symlinks_in_the_directory_resolve_to_one_key() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("real")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("real"), tmp.path().join("alias")).unwrap();
        let direct = lock_path_for(&tmp.path().join("real/s.jsonl")).unwrap();
        let aliased = lock_path_for(&tmp.path().join("alias/./s.jsonl")).unwrap();
        let dotted = lock_path_for(&tmp.path().join("alias/../real/s.jsonl")).unwrap();
        assert_eq!(direct, aliased);
        assert_eq!(direct, dotted);
    }

    #[test]
    fn a_path_without_a_file_name_is_refused() {
        let err = lock_path_for(Path::new("/tmp/..")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
