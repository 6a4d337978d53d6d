//! Where the kernel proof of death is unavailable, and what the adapter does about it.
//!
//! | directory is on                          | `flock`                    | mode        |
//! |------------------------------------------|----------------------------|-------------|
//! | a local filesystem                       | works                      | kernel proof |
//! | NFS, SMB/CIFS, FUSE, 9p, Ceph, AFS (`statfs`) | may be local-only or absent | heuristics only |
//! | anything                                 | fails `ENOLCK`/`EOPNOTSUPP`/`ENOSYS` | heuristics only |
//!
//! In heuristics-only mode the adapter:
//! - warns once per directory through `tracing::warn!` (never silent);
//! - writes `"flock": false` into the payloads it publishes there, so that no process
//!   takes a free kernel lock on our file as a proof of death: others judge it by pid,
//!   start time and the payload-less grace, like a file of the original lock;
//! - still takes `flock` where it works, so a holder seen holding it is still alive;
//! - answers "free" when `flock` itself is unavailable, which sends the judge to the
//!   same heuristics, which judge a pid only for a holder recorded on this host, boot and
//!   pid namespace (or recording no place, as the original's files). A holder recorded on
//!   another NFS client is never removed on pid grounds; if it died, its file stays until
//!   an operator removes it. That is the documented limit of this mode.

use std::borrow::Cow;
use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock, PoisonError};

use rustix::io::Errno;

use crate::payload::Payload;

/// What is known about one lock directory.
#[derive(Debug)]
pub(crate) struct DirInfo {
    dir: PathBuf,
    network: Option<&'static str>,
    flock_unsupported: AtomicBool,
    warned: Once,
}

impl DirInfo {
    fn new(dir: PathBuf, network: Option<&'static str>) -> Self {
        let info =
            Self { dir, network, flock_unsupported: AtomicBool::new(false), warned: Once::new() };
        if let Some(fs) = network {
            info.warn(&format!("it is on {fs}, where flock is not reliable"));
        }
        info
    }

    /// Whether locks in this directory are judged by heuristics only.
    pub(crate) fn heuristic_only(&self) -> bool {
        self.network.is_some() || self.flock_unsupported.load(Ordering::Relaxed)
    }

    /// Whether `error` from `flock` means the kernel lock is unavailable here (rather
    /// than a real failure). On network filesystems `flock` is emulated with byte-range
    /// locks, which refuse read-only descriptors with `EBADF`.
    pub(crate) fn flock_unavailable(&self, error: Errno) -> bool {
        let unavailable = matches!(error, Errno::NOLCK | Errno::OPNOTSUPP | Errno::NOSYS)
            || (error == Errno::BADF && self.network.is_some());
        if unavailable && !self.flock_unsupported.swap(true, Ordering::Relaxed) {
            self.warn(&format!("flock fails there ({error})"));
        }
        unavailable
    }

    /// The payload to publish here: as given, or with `"flock": false` in
    /// heuristics-only mode.
    pub(crate) fn payload<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        if !self.heuristic_only() {
            return Cow::Borrowed(bytes);
        }
        match Payload::parse(bytes) {
            Some(p) if p.kernel_locked => {
                Cow::Owned(Payload { kernel_locked: false, ..p }.to_bytes())
            }
            _ => Cow::Borrowed(bytes),
        }
    }

    fn warn(&self, why: &str) {
        self.warned.call_once(|| {
            tracing::warn!(
                dir = %self.dir.display(),
                "sessionlock: {why}; the kernel proof of death is unavailable in this \
                 directory, so locks there are judged by heuristics only (pid, start time, \
                 payload-less grace)"
            );
        });
    }
}

/// The process-wide table of lock directories, each examined (`statfs`) once.
pub(crate) fn dir_info(dir: &Path, fd: Option<impl AsFd>) -> Arc<DirInfo> {
    static DIRS: OnceLock<Mutex<HashMap<PathBuf, Arc<DirInfo>>>> = OnceLock::new();
    let dirs = DIRS.get_or_init(Mutex::default);
    if let Some(info) = dirs.lock().unwrap_or_else(PoisonError::into_inner).get(dir) {
        return Arc::clone(info);
    }
    let f_type = match fd {
        Some(fd) => rustix::fs::fstatfs(fd).map(|s| s.f_type),
        None => rustix::fs::statfs(dir).map(|s| s.f_type),
    };
    #[allow(clippy::useless_conversion)] // `f_type`'s width differs between targets
    let network = f_type.ok().and_then(|t| network_fs(i64::from(t)));
    let mut table = dirs.lock().unwrap_or_else(PoisonError::into_inner);
    let info = table
        .entry(dir.to_owned())
        .or_insert_with(|| Arc::new(DirInfo::new(dir.to_owned(), network)));
    Arc::clone(info)
}

/// Names a filesystem (by `statfs` magic) on which `flock` is not a reliable proof.
fn network_fs(f_type: i64) -> Option<&'static str> {
    Some(match f_type {
        0x6969 => "NFS",
        0x517B => "SMB",
        0xFF53_4D42 => "CIFS",
        0xFE53_4D42 => "SMB2",
        0x6573_5546 => "FUSE",
        0x0102_1997 => "9p",
        0x00C3_6400 => "Ceph",
        0x5346_414F => "AFS",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(network: Option<&'static str>) -> DirInfo {
        DirInfo::new(PathBuf::from("/x"), network)
    }

    fn ours() -> Payload {
        Payload {
            pid: Some(7),
            kernel_locked: true,
            nonce: Some("7.1.1".into()),
            ..Payload::default()
        }
    }

    #[test]
    fn network_filesystems_are_recognised() {
        assert_eq!(network_fs(0x6969), Some("NFS"));
        assert_eq!(network_fs(0xFF53_4D42), Some("CIFS"));
        assert_eq!(network_fs(0x6573_5546), Some("FUSE"));
        assert_eq!(network_fs(0xEF53), None, "ext4");
        assert_eq!(network_fs(0x0102_1994), None, "tmpfs");
    }

    #[test]
    fn a_local_directory_publishes_the_payload_unchanged() {
        let bytes = ours().to_bytes();
        assert!(matches!(info(None).payload(&bytes), Cow::Borrowed(_)));
    }

    #[test]
    fn a_network_directory_publishes_flock_false() {
        let bytes = ours().to_bytes();
        let written = Payload::parse(&info(Some("NFS")).payload(&bytes)).unwrap();
        assert_eq!(written, Payload { kernel_locked: false, ..ours() });
    }

    #[test]
    fn a_flock_failure_switches_to_heuristics() {
        let dir = info(None);
        assert!(!dir.flock_unavailable(Errno::BADF), "EBADF is a bug locally");
        assert!(!dir.heuristic_only());
        assert!(dir.flock_unavailable(Errno::NOLCK));
        assert!(dir.heuristic_only());
        let written = Payload::parse(&dir.payload(&ours().to_bytes())).unwrap();
        assert!(!written.kernel_locked);
    }

    #[test]
    fn ebadf_on_a_network_filesystem_means_no_flock() {
        assert!(info(Some("NFS")).flock_unavailable(Errno::BADF));
    }
}
