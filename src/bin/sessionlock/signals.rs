//! Passing the signals that would end `run` on to the command it supervises.
//!
//! `run` catches `SIGINT`, `SIGTERM`, `SIGHUP` and `SIGQUIT` from before it starts its
//! holder until it exits, so none of them can end it while the command runs, and a
//! thread sends each one on to the holder (which becomes the command) unless the
//! kernel generated it: a terminal's `^C`, `^\` or hang-up goes to the whole foreground
//! process group, so the command has it already.
//!
//! | signal to `run`                    | origin        | forwarded |
//! |------------------------------------|---------------|-----------|
//! | `kill`, `timeout`, a supervisor    | sent          | yes       |
//! | `^C`, `^\`, terminal hang-up       | kernel        | no: the command got it too |
//! | `SIGKILL`                          | -             | cannot be caught: the command keeps the lock |
//!
//! A signal sent to the whole process group (`kill -TERM -PGID`) reaches the command
//! directly and again through `run`.
//!
//! The thread is stopped and joined before the holder is reaped, so a signal is never
//! sent to a pid that may have been reused.

use std::io;
use std::thread::JoinHandle;

use rustix::process::{Pid, Signal, kill_process};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::{Handle, SignalsInfo};
use signal_hook::low_level::siginfo::Cause;

/// The signals passed on to the command.
pub const FORWARDED: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// The forwarded signals, caught, with nowhere to send them yet.
pub struct Caught(SignalsInfo<WithOrigin>);

impl Caught {
    /// Catches [`FORWARDED`] from now on; they are queued until [`Caught::forward_to`].
    pub fn install() -> io::Result<Self> {
        SignalsInfo::<WithOrigin>::new(FORWARDED).map(Self)
    }

    /// Starts sending every caught signal that did not come from the kernel to `pid`.
    pub fn forward_to(self, pid: u32) -> io::Result<Forwarder> {
        let Self(mut signals) = self;
        let handle = signals.handle();
        let target = i32::try_from(pid).ok().and_then(Pid::from_raw).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("bad child pid {pid}"))
        })?;
        let thread =
            std::thread::Builder::new().name("forward-signals".to_owned()).spawn(move || {
                for origin in signals.forever() {
                    if origin.cause == Cause::Kernel {
                        continue;
                    }
                    if let Some(signal) = Signal::from_named_raw(origin.signal) {
                        // The target is our unreaped child; it may have exited already.
                        let _ = kill_process(target, signal);
                    }
                }
            })?;
        Ok(Forwarder { handle, thread })
    }
}

/// The running forwarder.
pub struct Forwarder {
    handle: Handle,
    thread: JoinHandle<()>,
}

impl Forwarder {
    /// Stops forwarding and waits until no signal can be sent any more. Signals that
    /// arrive from here on are caught and dropped.
    pub fn stop(self) {
        self.handle.close();
        let _ = self.thread.join();
    }
}
