//! The two system calls that no safe binding offers, and the only `unsafe` code of the
//! crate:
//!
//! | call | why not rustix | used by |
//! |---|---|---|
//! | `fcntl(fd, F_SETSIG / F_SETLEASE, int)` | no binding for either command | the read-lease probe (`lease.rs`) |
//! | `close(fd)` reporting its error | `rustix::io::close` is itself `unsafe`, and dropping an `OwnedFd` discards the error | `RealHandle::close` |
//! | `pthread_atfork(NULL, NULL, child)` | not a system call; rustix has no binding | forgetting the remembered pid in a forked child (`proc.rs`) |
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

/// Registers `child` to run in the child of every `fork` made through the C library,
/// before `fork` returns there. `child` runs in a process with one thread, so it may only
/// do what is async-signal-safe (an atomic store). `false`: not registered (`ENOMEM`).
pub(crate) fn at_fork_in_child(child: extern "C" fn()) -> bool {
    // SAFETY: no prepare or parent handler is passed (null), and `child` is a plain
    // `extern "C" fn()` with a `'static` lifetime, as `pthread_atfork` requires; it is
    // never unregistered, so it outlives every fork.
    unsafe { libc::pthread_atfork(None, None, Some(child)) == 0 }
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

    /// A forked child does not inherit the pid its parent remembered.
    #[test]
    fn a_forked_child_asks_for_its_own_pid() {
        let parent = crate::real::proc::me().pid;
        assert_eq!(parent, std::process::id());
        // SAFETY: the child only reads atomics, makes system calls and `_exit`s: it takes
        // no lock another thread of this test process might have held at the fork.
        let child = unsafe { libc::fork() };
        if child == 0 {
            let seen = crate::real::proc::pid();
            let own = rustix::process::getpid().as_raw_nonzero().get().unsigned_abs();
            // SAFETY: `_exit` ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(if seen == own && seen != parent { 0 } else { 1 }) };
        }
        assert!(child > 0, "fork failed");
        let mut status = 0;
        // SAFETY: `status` is a valid `int` for the duration of the call.
        let waited = unsafe { libc::waitpid(child, &raw mut status, 0) };
        assert_eq!(waited, child);
        assert!(libc::WIFEXITED(status), "the child ended by a signal: {status}");
        assert_eq!(libc::WEXITSTATUS(status), 0, "the child saw its parent's pid");
    }

    #[test]
    fn fcntl_int_reports_the_kernel_error() {
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let fd = std::os::fd::AsFd::as_fd(&file);
        assert!(fcntl_int(fd, libc::F_GETFD, 0).is_ok());
        assert_eq!(fcntl_int(fd, -1, 0), Err(Errno::INVAL));
    }
}
