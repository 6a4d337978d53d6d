//! Who a process is, from `getpid`, `kill(pid, 0)` and `/proc/<pid>/stat`, and where it
//! lives, from `/proc`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use rustix::io::Errno;
use rustix::process::{Pid, getpid, test_kill_process};

use crate::fs::{Location, PidState, ProcessId};

/// Where this process lives, learned once per process and cached: the host name
/// (`/proc/sys/kernel/hostname`, this UTS namespace's), the boot id
/// (`/proc/sys/kernel/random/boot_id`) and the pid namespace (the inode number of
/// `/proc/self/ns/pid`). A part that cannot be read is unknown, which makes others treat
/// our pid as one they cannot judge. A process's own pid namespace never changes, and a
/// forked child shares it; a host name changed at run time is not noticed.
pub(crate) fn location() -> &'static Location {
    static HERE: OnceLock<Location> = OnceLock::new();
    HERE.get_or_init(|| Location {
        host: proc_text("/proc/sys/kernel/hostname"),
        boot: proc_text("/proc/sys/kernel/random/boot_id"),
        pid_ns: rustix::fs::stat("/proc/self/ns/pid").ok().map(|st| st.st_ino),
    })
}

/// The trimmed content of a small `/proc` file: 1 to 128 characters, else `None`.
fn proc_text(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty() && text.len() <= 128).then(|| text.to_owned())
}

/// This process's identity. The start time is read once per pid, so a forked child
/// that uses the lock gets its own.
pub(crate) fn me() -> ProcessId {
    static CACHE: Mutex<Option<ProcessId>> = Mutex::new(None);
    let pid = pid();
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    match *cache {
        Some(me) if me.pid == pid => me,
        _ => {
            let me = ProcessId { pid, starttime: read_stat("self").and_then(|s| s.starttime) };
            *cache = Some(me);
            me
        }
    }
}

/// This process's pid: `getpid` once, then remembered. A child forked through the C
/// library forgets it before `fork` returns there (`pthread_atfork`), so the child asks
/// again; where the handler could not be registered, every call asks.
pub(crate) fn pid() -> u32 {
    static PID: AtomicU32 = AtomicU32::new(0);
    static REMEMBERS: OnceLock<bool> = OnceLock::new();
    extern "C" fn forget() {
        PID.store(0, Ordering::Relaxed);
    }
    let remembers = *REMEMBERS.get_or_init(|| super::sys::at_fork_in_child(forget));
    match PID.load(Ordering::Relaxed) {
        0 => {
            let pid = getpid().as_raw_nonzero().get().unsigned_abs();
            if remembers {
                PID.store(pid, Ordering::Relaxed);
            }
            pid
        }
        pid => pid,
    }
}

/// What the process table says about `pid`. A zombie counts as dead: it holds no locks
/// and will never write again. When `/proc` cannot be read for a process that exists
/// (`hidepid`), it is alive with an unknown start time: never guess death.
pub(crate) fn state(pid: u32) -> PidState {
    let Some(raw) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return PidState::Dead;
    };
    match test_kill_process(raw) {
        Ok(()) | Err(Errno::PERM) => {}
        Err(_) => return PidState::Dead,
    }
    match read_stat(&pid.to_string()) {
        Some(Stat { zombie: true, .. }) => PidState::Dead,
        Some(Stat { starttime, .. }) => PidState::Alive { starttime },
        None => PidState::Alive { starttime: None },
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Stat {
    zombie: bool,
    starttime: Option<u64>,
}

fn read_stat(pid: &str) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) may hold spaces and parentheses,
/// so fields are counted after the *last* `)`: field 3 is the state, field 22 the start
/// time in clock ticks after boot.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    let starttime = fields.nth(22 - 4).and_then(|f| f.parse().ok());
    Some(Stat { zombie: matches!(state, "Z" | "X" | "x"), starttime })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str =
        "4242 (a) b) (c) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 2";

    #[test]
    fn parses_after_the_last_parenthesis() {
        let stat = parse_stat(LINE).unwrap();
        assert_eq!(stat, Stat { zombie: false, starttime: Some(987_654) });
    }

    #[test]
    fn a_zombie_is_recognised() {
        let zombie = LINE.replace(") S ", ") Z ");
        assert!(parse_stat(&zombie).unwrap().zombie);
    }

    #[test]
    fn garbage_gives_nothing() {
        assert_eq!(parse_stat("no parenthesis"), None);
        assert_eq!(parse_stat("1 (x)").map(|s| s.starttime), None);
        assert_eq!(parse_stat("1 (x) S 1").unwrap().starttime, None);
    }

    #[test]
    fn this_process_knows_where_it_lives() {
        let here = location();
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
        assert_eq!(here.boot.as_deref(), Some(boot.trim()));
        let ns = std::fs::read_link("/proc/self/ns/pid").unwrap();
        let expected = format!("pid:[{}]", here.pid_ns.expect("pid namespace"));
        assert_eq!(ns.to_string_lossy(), expected);
        assert!(here.host.as_deref().is_some_and(|h| !h.is_empty()));
        assert!(std::ptr::eq(here, location()), "computed once");
    }

    #[test]
    fn this_process_is_alive_with_its_own_start_time() {
        let me = me();
        assert!(me.starttime.is_some());
        assert_eq!(state(me.pid), PidState::Alive { starttime: me.starttime });
    }

    #[test]
    fn a_reaped_child_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(state(pid), PidState::Dead);
    }

    #[test]
    fn an_unreaped_child_is_dead_as_a_zombie() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        while read_stat(&pid.to_string()).is_some_and(|s| !s.zombie) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(state(pid), PidState::Dead);
        child.wait().unwrap();
    }
}
