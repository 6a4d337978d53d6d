//! The channel over which `run`'s holder hands the lock's descriptor back to `run`.
//!
//! A `SOCK_SEQPACKET` Unix socket in the abstract namespace, named at random by `run`
//! (nothing on disk to clean up). The holder connects as soon as it starts; once it
//! holds the lock it sends one message, the lock path, with a descriptor of the lock
//! file's open file description attached (`SCM_RIGHTS`). Its end of the connection is
//! `O_CLOEXEC`, so the exec of the command closes it and `run` reads end-of-file. `run`
//! only listens to a peer whose pid is its holder's.
//!
//! | holder does                        | `run` receives                   |
//! |------------------------------------|----------------------------------|
//! | times out, fails, dies before holding | end-of-file, no descriptor    |
//! | holds, sends, execs the command    | the lock path and the descriptor |

use std::ffi::OsString;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
    accept_with, bind, connect, listen, recvmsg, sendmsg, socket_with,
};

/// The longest lock path the message may carry (`PATH_MAX`).
const MAX_PATH: usize = 4096;

/// What the holder handed over: the lock path and a descriptor that shares its kernel
/// lock.
#[derive(Debug)]
pub struct Handed {
    /// The lock path, as the holder resolved it.
    pub path: OsString,
    /// A descriptor of the lock file's open file description.
    pub fd: OwnedFd,
}

/// `run`'s end, before the holder has connected.
pub struct Listener {
    socket: OwnedFd,
    name: String,
}

impl Listener {
    /// Binds a fresh, randomly named socket.
    pub fn bind() -> io::Result<Self> {
        let pid = std::process::id();
        let mut attempts = 0;
        loop {
            let name =
                format!("sessionlock-run.{pid}.{:016x}", RandomState::new().hash_one(attempts));
            let socket = seqpacket()?;
            match bind(&socket, &SocketAddrUnix::new_abstract_name(name.as_bytes())?) {
                Ok(()) => {
                    listen(&socket, 4)?;
                    return Ok(Self { socket, name });
                }
                Err(Errno::ADDRINUSE) if attempts < 16 => attempts += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The name the holder connects to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits for the process `pid` to connect. `None` when `exited` says it is gone
    /// first. `exited` is asked whenever `pidfd` (readable once the process has exited)
    /// or, without one, a 20 ms tick wakes the wait.
    pub fn accept(
        &self,
        pid: u32,
        pidfd: Option<BorrowedFd<'_>>,
        mut exited: impl FnMut() -> io::Result<bool>,
    ) -> io::Result<Option<OwnedFd>> {
        let tick = Timespec { tv_sec: 0, tv_nsec: 20_000_000 };
        loop {
            let mut fds = vec![PollFd::new(&self.socket, PollFlags::IN)];
            if let Some(pidfd) = pidfd {
                fds.push(PollFd::from_borrowed_fd(pidfd, PollFlags::IN));
            }
            let timeout = if pidfd.is_some() { None } else { Some(&tick) };
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            let connecting = !fds[0].revents().is_empty();
            if connecting {
                match accept_with(&self.socket, SocketFlags::CLOEXEC) {
                    Ok(link) if peer_pid(&link) == Some(pid) => return Ok(Some(link)),
                    Ok(_stranger) => {}
                    Err(Errno::INTR | Errno::AGAIN | Errno::CONNABORTED) => {}
                    Err(e) => return Err(e.into()),
                }
            } else if exited()? {
                return Ok(None);
            }
        }
    }
}

/// The pid of the process at the other end of `link`.
fn peer_pid(link: &OwnedFd) -> Option<u32> {
    let cred = rustix::net::sockopt::socket_peercred(link).ok()?;
    u32::try_from(cred.pid.as_raw_nonzero().get()).ok()
}

fn seqpacket() -> io::Result<OwnedFd> {
    Ok(socket_with(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)?)
}

/// The holder's end: connects to `run`'s socket `name`.
pub fn connect_to(name: &str) -> io::Result<OwnedFd> {
    let socket = seqpacket()?;
    connect(&socket, &SocketAddrUnix::new_abstract_name(name.as_bytes())?)?;
    Ok(socket)
}

/// Sends the lock path and `fd` over `link` (the holder's one message).
pub fn send(link: &OwnedFd, fd: BorrowedFd<'_>, path: &Path) -> io::Result<()> {
    let fds = [fd];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other("no room for the descriptor"));
    }
    let bytes = path.as_os_str().as_bytes();
    loop {
        match sendmsg(link, &[IoSlice::new(bytes)], &mut control, SendFlags::NOSIGNAL) {
            Ok(n) if n == bytes.len() => return Ok(()),
            Ok(_) => return Err(io::ErrorKind::WriteZero.into()),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives the holder's message; `None` at end-of-file (the holder exec'd or exited
/// without handing anything over).
pub fn receive(link: &OwnedFd) -> io::Result<Option<Handed>> {
    let mut buf = vec![0u8; MAX_PATH + 1];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = loop {
        let mut iov = [IoSliceMut::new(&mut buf)];
        match recvmsg(link.as_fd(), &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC) {
            Ok(msg) => break msg,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    };
    let mut fds: Vec<OwnedFd> = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    if msg.bytes == 0 && fds.is_empty() {
        return Ok(None);
    }
    let cut = msg.flags.intersects(ReturnFlags::TRUNC | ReturnFlags::CTRUNC);
    match (cut, fds.pop(), fds.is_empty()) {
        (false, Some(fd), true) if msg.bytes <= MAX_PATH => {
            buf.truncate(msg.bytes);
            Ok(Some(Handed { path: OsString::from_vec(buf), fd }))
        }
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, "malformed hand-off message")),
    }
}
