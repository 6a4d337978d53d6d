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
//! A signal sent to a whole process group (`kill -TERM -PGID`, as `timeout(1)` and
//! supervisors send it, or a shell's `kill %1`) must reach the command once, not once
//! directly and again through `run`. Nothing in a signal says whether it was sent to a
//! process or to its group, so the command's place decides:
//!
//! | `run` has                | the command's process group | a signal `run` passes on goes to |
//! |--------------------------|-----------------------------|----------------------------------|
//! | a controlling terminal   | `run`'s (job control: `^C`, `^Z`, `fg` and terminal reads work as without `run`) | the command |
//! | no terminal (a service, a script, CI) | its own, so a signal to `run`'s group reaches it only through `run` | the command's group |
//!
//! With a terminal, a signal sent by hand to `run`'s whole group still reaches the command
//! twice. Without one, `SIGKILL` or `SIGSTOP` sent to `run`'s group no longer reaches the
//! command: like `SIGKILL` of `run` alone, it leaves the lock with the command (under
//! `run --postgres` the command dies with `run`, as it always does there).
//!
//! The thread is stopped and joined before the holder is reaped, so a signal is never
//! sent to a pid that may have been reused.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::thread::JoinHandle;

use rustix::process::{Pid, Signal, kill_process, kill_process_group};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::{Handle, SignalsInfo};
use signal_hook::low_level::siginfo::Cause;

/// The signals passed on to the command.
pub const FORWARDED: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// The forwarded signals, caught, with nowhere to send them yet.
pub struct Caught {
    signals: SignalsInfo<WithOrigin>,
    /// No controlling terminal: the command gets a process group of its own.
    own_group: bool,
}

impl Caught {
    /// Catches [`FORWARDED`] from now on; they are queued until [`Caught::forward_to`].
    pub fn install() -> io::Result<Self> {
        let signals = SignalsInfo::<WithOrigin>::new(FORWARDED)?;
        Ok(Self { signals, own_group: !has_terminal() })
    }

    /// Places the command's process (`cmd`, not started yet) as the module docs' table
    /// says: in a process group of its own when `run` has no terminal.
    pub fn place(&self, cmd: &mut Command) {
        if self.own_group {
            cmd.process_group(0);
        }
    }

    /// Starts sending every caught signal that did not come from the kernel to `pid`,
    /// started as [`Caught::place`] said (to its group when it leads one of its own).
    pub fn forward_to(self, pid: u32) -> io::Result<Forwarder> {
        let Self { mut signals, own_group } = self;
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
                    let Some(signal) = Signal::from_named_raw(origin.signal) else { continue };
                    // The target is our unreaped child (or the group it leads, whose id
                    // cannot be reused while it is unreaped); it may have exited already.
                    // A command that moved itself to another group still gets it.
                    if !own_group || kill_process_group(target, signal).is_err() {
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

/// Whether `run` has a controlling terminal, and with it job control: `/dev/tty` opens
/// only then.
fn has_terminal() -> bool {
    use rustix::fs::{Mode, OFlags, open};
    open(
        "/dev/tty",
        OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .is_ok()
}
