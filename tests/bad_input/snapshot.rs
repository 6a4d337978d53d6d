//! What a directory holds, deeply and without following symlinks, so that a test can show
//! that a failed or refused acquire removed, replaced and changed nothing (INV-2) and left
//! nothing behind (INV-5).

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hasher};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// One directory entry: its identity, its kind, and for a regular file its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    kind: &'static str,
    dev: u64,
    ino: u64,
    mode: u32,
    len: u64,
    mtime_ns: i128,
    /// A hash of a regular file's bytes.
    content: Option<u64>,
    /// Where a symlink points.
    target: Option<PathBuf>,
}

/// Every entry below a directory, by path relative to it. The directory itself is not
/// recorded: its own times change whenever anyone looks up or adds a temporary name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot(BTreeMap<PathBuf, Entry>);

impl Snapshot {
    /// Everything below `dir` now.
    pub fn of(dir: &Path) -> Self {
        let mut entries = BTreeMap::new();
        walk(dir, Path::new(""), &mut entries);
        Self(entries)
    }

    /// Panics, naming INV-2 or INV-5, unless `dir` holds exactly what it held at `self`.
    pub fn assert_same(&self, dir: &Path, after: &str) {
        let now = Self::of(dir);
        for (path, entry) in &self.0 {
            match now.0.get(path) {
                None => panic!("INV-2 NoLiveRemoval: {after} removed {}", path.display()),
                Some(e) => assert_eq!(
                    e,
                    entry,
                    "INV-2 NoLiveRemoval: {after} replaced or changed {}",
                    path.display()
                ),
            }
        }
        let left: Vec<_> = now.0.keys().filter(|p| !self.0.contains_key(*p)).collect();
        assert!(left.is_empty(), "INV-5 NoLeak: {after} left {left:?} behind");
    }
}

fn walk(root: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
    for dirent in std::fs::read_dir(root.join(rel)).unwrap() {
        let rel = rel.join(dirent.unwrap().file_name());
        let path = root.join(&rel);
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let ft = meta.file_type();
        let kind = match () {
            () if ft.is_file() => "file",
            () if ft.is_dir() => "directory",
            () if ft.is_symlink() => "symlink",
            () if ft.is_fifo() => "fifo",
            () if ft.is_socket() => "socket",
            () => "other",
        };
        let entry = Entry {
            kind,
            dev: meta.dev(),
            ino: meta.ino(),
            mode: meta.mode(),
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            content: ft.is_file().then(|| hash(&std::fs::read(&path).unwrap())),
            target: ft.is_symlink().then(|| std::fs::read_link(&path).unwrap()),
        };
        out.insert(rel.clone(), entry);
        if ft.is_dir() {
            walk(root, &rel, out);
        }
    }
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    h.write(bytes);
    h.finish()
}
