//! The read-lease probe: does any descriptor have a file open for writing?
//!
//! `fcntl(fd, F_SETLEASE, F_RDLCK)` on a read-only descriptor is granted exactly when no
//! descriptor, of any process in any namespace, has the file open for writing; otherwise
//! it fails with `EAGAIN`. The original lock keeps its file open for writing while it
//! holds, so the answer is a kernel fact about its holder, where a pid is only a guess.
//!
//! | `F_SETLEASE, F_RDLCK` | means | [`Lease`] |
//! |---|---|---|
//! | granted | no writer; given back at once with `F_UNLCK` | `NoWriter` |
//! | `EAGAIN` | a descriptor has it open for writing | `Writer` |
//! | `EACCES`, `EPERM` | another user's file, and no `CAP_LEASE` | `Unavailable` |
//! | `EINVAL`, `ENOSYS`, `EOPNOTSUPP`, `ENOLCK`, ... | no leases here (NFS, `fs.leases-enable = 0`) | `Unavailable` |
//!
//! The lease is never kept: while held, it would make a writer's `open` wait for the
//! lease-break time (45 s by default). Between the grant and the `F_UNLCK` (two system
//! calls apart), an `open` for writing or a `truncate` of the file by someone else would
//! start a lease break, which signals the lease holder, by default with `SIGIO`, whose
//! default action ends the process. So before asking, the descriptor's lease-break signal
//! is set (`F_SETSIG`) to `SIGURG`, which is ignored by default: the library installs no
//! signal handler and must never be killed by its own probe. (A process that handles
//! `SIGURG` may then see a spurious one; nobody who takes the lock opens its file for
//! writing, so in practice none is ever sent.)
//!
//! rustix has no binding for `F_SETLEASE` or `F_SETSIG`: the `fcntl` call itself is in
//! `sys.rs`, the crate's one module with `unsafe` code.

use std::os::fd::BorrowedFd;

use rustix::io::Errno;

use super::sys::fcntl_int;
use crate::fs::Lease;

/// `F_SETSIG` (`include/uapi/asm-generic/fcntl.h`: 10 on every Linux architecture but
/// alpha, mips, parisc and sparc), which the `libc` crate does not export for glibc.
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "riscv64",
    target_arch = "powerpc64",
    target_arch = "s390x",
    target_arch = "loongarch64"
))]
const F_SETSIG: libc::c_int = 10;

/// Probes whether any descriptor has `fd`'s file open for writing. `fd` must be open
/// read-only (a descriptor open for writing is itself a writer).
pub(crate) fn probe(fd: BorrowedFd<'_>) -> Lease {
    if let Err(error) = fcntl_int(fd, F_SETSIG, libc::SIGURG) {
        tracing::debug!(%error, "F_SETSIG failed; no lease probe");
        return Lease::Unavailable;
    }
    match fcntl_int(fd, libc::F_SETLEASE, libc::F_RDLCK) {
        Ok(_) => {
            if let Err(error) = fcntl_int(fd, libc::F_SETLEASE, libc::F_UNLCK) {
                // The lease goes with the descriptor, which the caller closes soon.
                tracing::warn!(%error, "sessionlock: could not give a read lease back");
            }
            Lease::NoWriter
        }
        Err(Errno::AGAIN) => Lease::Writer,
        Err(error) => {
            tracing::debug!(%error, "no read lease here; judging by the heuristics");
            Lease::Unavailable
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::os::fd::AsFd;

    use super::*;

    fn read_only(path: &std::path::Path) -> std::fs::File {
        std::fs::File::open(path).unwrap()
    }

    #[test]
    fn a_writer_refuses_the_lease_and_its_close_grants_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.lock");
        let writer = OpenOptions::new().create_new(true).append(true).open(&path).unwrap();
        let reader = read_only(&path);
        assert_eq!(probe(reader.as_fd()), Lease::Writer);
        drop(writer);
        assert_eq!(probe(reader.as_fd()), Lease::NoWriter);
        // Given back at once: a writer's non-blocking open would fail with EWOULDBLOCK
        // while a read lease is held; it succeeds, and the writer is seen.
        let again = std::os::unix::fs::OpenOptionsExt::custom_flags(
            OpenOptions::new().append(true),
            libc::O_NONBLOCK,
        )
        .open(&path)
        .expect("no lease is kept");
        assert_eq!(probe(reader.as_fd()), Lease::Writer);
        drop(again);
        assert_eq!(probe(reader.as_fd()), Lease::NoWriter);
    }

    #[test]
    fn another_process_writer_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.lock");
        std::fs::write(&path, b"{}").unwrap();
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("exec 3>>\"$1\"; echo ready; exec sleep 60")
            .arg("sh")
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let reader = read_only(&path);
        assert_eq!(probe(reader.as_fd()), Lease::Writer);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(probe(reader.as_fd()), Lease::NoWriter);
    }

    #[test]
    fn a_descriptor_open_for_writing_is_itself_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.lock");
        let rw = OpenOptions::new().create_new(true).read(true).write(true).open(&path).unwrap();
        assert_eq!(probe(rw.as_fd()), Lease::Writer);
    }
}
