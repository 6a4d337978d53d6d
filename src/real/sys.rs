//! The two system calls that no safe binding offers, and the only `unsafe` code of the
//! crate:
//!
//! | call | why not rustix | used by |
//! |---|---|---|
//! | `fcntl(fd, F_SETSIG / F_SETLEASE, int)` | no binding for either command | the read-lease probe (`lease.rs`) |
//! | `close(fd)` reporting its error | `rustix::io::close` is itself `unsafe`, and dropping an `OwnedFd` discards the error | `RealHandle::close` |
//!
//! Each function takes its descriptor in a form that makes the call sound: a borrow that
//! outlives the call, or an owned descriptor that is consumed.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};

use rustix::io::Errno;

/// `fcntl(fd, cmd, arg)` for commands whose third argument is a plain integer.
pub(crate) fn fcntl_int(
    fd: BorrowedFd<'_>,
    cmd: libc::c_int,
    arg: libc::c_int,
) -> Result<i32, Errno> {
    // SAFETY: `fd` is a live descriptor borrowed for the duration of the call, and the
    // callers pass only `F_SETSIG` and `F_SETLEASE`, whose third argument is an integer
    // (a signal number, a lease type): no pointer is passed, no memory is read or written,
    // and neither command closes or replaces the descriptor.
    let ret = unsafe { libc::fcntl(fd.as_raw_fd(), cmd, arg) };
    match ret {
        -1 => Err(last_errno()),
        n => Ok(n),
    }
}

/// Closes `fd` and reports what `close(2)` said. The descriptor is gone either way; on
/// Linux `EINTR` still closes it, so it is not an error.
pub(crate) fn close(fd: OwnedFd) -> io::Result<()> {
    let raw = fd.into_raw_fd();
    // SAFETY: `raw` came from an `OwnedFd` that `into_raw_fd` consumed, so this is its
    // only owner and nothing can use or close it after this call.
    let ret = unsafe { libc::close(raw) };
    match ret {
        -1 => match last_errno() {
            Errno::INTR => Ok(()),
            errno => Err(errno.into()),
        },
        _ => Ok(()),
    }
}

fn last_errno() -> Errno {
    Errno::from_io_error(&io::Error::last_os_error()).unwrap_or(Errno::IO)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn close_really_closes_the_descriptor() {
        let (mut reader, writer) = std::io::pipe().unwrap();
        close(OwnedFd::from(writer)).unwrap();
        // With its only write end closed, the pipe reads as end of file at once.
        let mut buf = [0u8; 1];
        assert_eq!(reader.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn fcntl_int_reports_the_kernel_error() {
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let fd = std::os::fd::AsFd::as_fd(&file);
        assert!(fcntl_int(fd, libc::F_GETFD, 0).is_ok());
        assert_eq!(fcntl_int(fd, -1, 0), Err(Errno::INVAL));
    }
}
