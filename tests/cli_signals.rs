//! `sessionlock run` holds the lock exactly as long as its command can write: signals
//! that would end `run` reach the command, `run` releases only after the command has
//! exited and passes its status through, and even a `SIGKILL` of `run` leaves the lock
//! with the command, named in the lock file, so the original lock's contenders (which
//! judge by the payload's pid alone) wait too. Also: the warning for aliased session
//! files. Every wait is polled, bounded by a count (a hang guard), never asserted on
//! wall time; sleeps in the commands only give a racing contender its chance.
#![cfg(not(sessionlock_loom))]

#[path = "common/original.rs"]
mod original;

mod cli_support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use cli_support::{UNTIL_GO, alive, bin, read_line_of, send, tempdir};
use serde_json::Value;

/// A first `run` whose command notes its pid in `started`, then runs `body`.
struct First {
    run: Child,
    dir: PathBuf,
    cmd_pid: u32,
}

impl First {
    fn start(dir: &Path, body: &str) -> Self {
        let script = format!("echo $$ > started; {body}");
        let run = bin(dir).args(["run", "s.jsonl", "--", "sh", "-c", &script]).spawn().unwrap();
        let cmd_pid = read_line_of(&dir.join("started")).parse().unwrap();
        Self { run, dir: dir.to_owned(), cmd_pid }
    }
}

impl Drop for First {
    /// Never leaves the command behind, even when a test fails (or runs on a `run` that
    /// does not forward signals).
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("go"), "");
        let _ = self.run.kill();
        let _ = self.run.wait();
        if alive(self.cmd_pid) {
            let _ = Command::new("kill").args(["-9", &self.cmd_pid.to_string()]).status();
        }
    }
}

/// A second `run` that appends `second` to the session, with its stderr read.
struct Second {
    run: Child,
    stderr: BufReader<ChildStderr>,
    said: String,
}

impl Second {
    fn start(dir: &Path) -> Self {
        let mut run = bin(dir)
            .args([
                "run",
                "--timeout",
                "30s",
                "s.jsonl",
                "--",
                "sh",
                "-c",
                "echo second >> s.jsonl",
            ])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(run.stderr.take().unwrap());
        Self { run, stderr, said: String::new() }
    }

    /// Reads stderr until the waiting line: proof that it met the lock held. Fails if it
    /// ends without waiting (it got in at once).
    fn expect_waiting(&mut self) {
        loop {
            let mut line = String::new();
            let n = self.stderr.read_line(&mut line).unwrap();
            self.said.push_str(&line);
            assert!(n > 0, "the second run got in without waiting: {:?}", self.said);
            if line.contains("waiting for lock on s.jsonl held by") {
                return;
            }
        }
    }

    fn finish(mut self) -> Option<i32> {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut self.stderr, &mut rest);
        self.said.push_str(&rest);
        let code = self.run.wait().unwrap().code();
        assert!(!self.said.contains("panicked"), "{}", self.said);
        code
    }
}

/// `signal` sent to `run` reaches its command, which traps it and writes a line only
/// after the signal; a second `run` started right after the signal waits, and gets in
/// only after that write and the command's exit. `run` passes the command's status
/// (0, from the trap) through and leaves no lock file.
/// Checks: INV-1, INV-5
fn forwarded_signal_keeps_the_lock_until_the_command_is_done(signal: &str) {
    let (_tmp, dir) = tempdir();
    let trap = format!("trap '{UNTIL_GO}; echo late >> s.jsonl; exit 0' {signal}");
    let nap = "j=0; while [ $j -lt 3000 ]; do sleep 0.02; j=$((j+1)); done";
    let mut first = First::start(&dir, &format!("{trap}; echo trapped > trapped; {nap}"));
    read_line_of(&dir.join("trapped"));
    send(signal, first.run.id());
    let mut second = Second::start(&dir);
    second.expect_waiting();
    std::fs::write(dir.join("go"), "").unwrap();
    let second_code = second.finish();
    assert_eq!(first.run.wait().unwrap().code(), Some(0), "the trap's status, passed through");
    assert_eq!(second_code, Some(0));
    let text = std::fs::read_to_string(dir.join("s.jsonl")).unwrap();
    assert_eq!(text, "late\nsecond\n", "the second writer got in before the first was done");
    assert!(!dir.join("s.jsonl.lock").exists(), "a lock file was left behind");
}

#[test]
fn sigint_to_run_reaches_the_command_and_the_lock_outlives_it() {
    forwarded_signal_keeps_the_lock_until_the_command_is_done("INT");
}

#[test]
fn sigterm_to_run_reaches_the_command_and_the_lock_outlives_it() {
    forwarded_signal_keeps_the_lock_until_the_command_is_done("TERM");
}

#[test]
fn sighup_to_run_reaches_the_command_and_the_lock_outlives_it() {
    forwarded_signal_keeps_the_lock_until_the_command_is_done("HUP");
}

#[test]
fn sigquit_to_run_reaches_the_command_and_the_lock_outlives_it() {
    forwarded_signal_keeps_the_lock_until_the_command_is_done("QUIT");
}

/// A `^C` typed at the terminal goes, from the kernel, to the whole foreground process
/// group: `run` survives it and does not pass it on again, and its command, which traps
/// it, gets it once, keeps the lock until its write after the `^C`, and ends with its own
/// status. (`run` is made a session leader on a fresh pseudo-terminal by `setsid -c`.)
/// Checks: INV-1
#[test]
fn ctrl_c_at_the_terminal_reaches_the_command_once_and_the_lock_outlives_it() {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let (_tmp, dir) = tempdir();
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let slave_path = ptsname(&master, Vec::new()).unwrap().into_string().unwrap();
    let slave = std::fs::OpenOptions::new().read(true).write(true).open(slave_path).unwrap();
    // `wait` returns at once for a trapped signal, so a second ^C (or a copy passed on by
    // `run`) would run the trap a second time rather than merge with the first.
    let trap = "trap 'echo int >> ints' INT";
    let nap =
        "i=0; while [ ! -e go ] && [ $i -lt 3000 ]; do sleep 0.02 & wait $!; i=$((i+1)); done";
    let script =
        format!("echo $$ > started; {trap}; echo trapped > trapped; {nap}; echo late >> s.jsonl");
    let run = Command::new("setsid")
        .args(["-c", env!("CARGO_BIN_EXE_sessionlock"), "run", "s.jsonl", "--", "sh", "-c"])
        .arg(&script)
        .current_dir(&dir)
        .stdin(slave)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let cmd_pid = read_line_of(&dir.join("started")).parse().unwrap();
    let mut first = First { run, dir: dir.clone(), cmd_pid };
    read_line_of(&dir.join("trapped"));
    rustix::io::write(&master, b"\x03").unwrap(); // ^C
    read_line_of(&dir.join("ints"));
    let mut second = Second::start(&dir);
    second.expect_waiting();
    std::fs::write(dir.join("go"), "").unwrap();
    let second_code = second.finish();
    assert_eq!(first.run.wait().unwrap().code(), Some(0), "run survived ^C; the command's status");
    assert_eq!(second_code, Some(0));
    let text = std::fs::read_to_string(dir.join("s.jsonl")).unwrap();
    assert_eq!(text, "late\nsecond\n", "the second writer got in before the first was done");
    let ints = std::fs::read_to_string(dir.join("ints")).unwrap();
    assert_eq!(ints, "int\n", "the command got the ^C once");
    assert!(!dir.join("s.jsonl.lock").exists(), "a lock file was left behind");
}

/// A signal sent to `run`'s whole process group (`kill -TERM -PGID`, as `timeout(1)` and
/// supervisors send it) reaches the command once, not once directly and again through
/// `run`. The command traps it and counts each delivery; it keeps the lock until its
/// write after the signal, and `run` ends with its status and leaves no lock file. (`run`
/// is made a session leader with no terminal by `setsid`, so its group is its pid. It is
/// stopped while the group is signalled and continued after a pause, so that a copy
/// passed on by `run` can never merge with one delivered directly.)
/// Checks: INV-1
#[test]
fn a_signal_to_runs_process_group_reaches_the_command_once() {
    let (_tmp, dir) = tempdir();
    // `wait` returns at once for a trapped signal, so a second copy runs the trap again.
    let trap = "trap 'echo term >> terms' TERM";
    let nap =
        "i=0; while [ ! -e go ] && [ $i -lt 3000 ]; do sleep 0.02 & wait $!; i=$((i+1)); done";
    let script =
        format!("echo $$ > started; {trap}; echo trapped > trapped; {nap}; echo late >> s.jsonl");
    let run = Command::new("setsid")
        .args([env!("CARGO_BIN_EXE_sessionlock"), "run", "s.jsonl", "--", "sh", "-c"])
        .arg(&script)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let cmd_pid = read_line_of(&dir.join("started")).parse().unwrap();
    let mut first = First { run, dir: dir.clone(), cmd_pid };
    read_line_of(&dir.join("trapped"));
    send("STOP", first.run.id());
    let group = format!("-{}", first.run.id());
    let status = Command::new("kill").args(["-s", "TERM", "--", &group]).status().unwrap();
    assert!(status.success(), "kill -s TERM -- {group}");
    sleep(Duration::from_millis(300)); // gives a direct copy its chance to be trapped
    send("CONT", first.run.id());
    read_line_of(&dir.join("terms"));
    sleep(Duration::from_millis(300)); // gives a copy passed on by `run` its chance
    let mut second = Second::start(&dir);
    second.expect_waiting();
    std::fs::write(dir.join("go"), "").unwrap();
    let second_code = second.finish();
    assert_eq!(first.run.wait().unwrap().code(), Some(0), "run survived; the command's status");
    assert_eq!(second_code, Some(0));
    let terms = std::fs::read_to_string(dir.join("terms")).unwrap();
    assert_eq!(terms, "term\n", "the command got the group's SIGTERM once");
    let text = std::fs::read_to_string(dir.join("s.jsonl")).unwrap();
    assert_eq!(text, "late\nsecond\n", "the second writer got in before the first was done");
    assert!(!dir.join("s.jsonl.lock").exists(), "a lock file was left behind");
}

/// After `SIGKILL` of `run`, its command keeps the lock: a second `run` waits, and gets
/// in only after the command's write and exit.
/// Checks: INV-1
#[test]
fn sigkill_of_run_leaves_the_lock_with_the_command() {
    let (_tmp, dir) = tempdir();
    let mut first = First::start(&dir, &format!("{UNTIL_GO}; echo late >> s.jsonl"));
    first.run.kill().unwrap(); // SIGKILL `run`, not its command
    first.run.wait().unwrap();
    assert!(alive(first.cmd_pid), "the command outlives run");
    let mut second = Second::start(&dir);
    second.expect_waiting();
    std::fs::write(dir.join("go"), "").unwrap();
    assert_eq!(second.finish(), Some(0));
    let text = std::fs::read_to_string(dir.join("s.jsonl")).unwrap();
    assert_eq!(text, "late\nsecond\n", "the second writer got in while the command ran");
    assert!(!dir.join("s.jsonl.lock").exists());
}

/// After `SIGKILL` of `run`, the lock file names the command, so a contender that follows
/// the original lock's rules (the payload's pid must be alive, with its start time)
/// judges the holder alive while the command runs. Once the command has exited, the
/// lock is provably free: `inspect` calls it stale by the kernel's word alone
/// (`KernelProvenDead`), and the next `run` takes over at once, with no age wait.
/// Checks: INV-2, INV-4
#[test]
fn after_sigkill_of_run_original_rules_see_the_command_alive_then_we_take_over_at_once() {
    let (_tmp, dir) = tempdir();
    let mut first = First::start(&dir, UNTIL_GO);
    first.run.kill().unwrap();
    first.run.wait().unwrap();
    let lock = dir.join("s.jsonl.lock");
    let text = std::fs::read_to_string(&lock).unwrap();
    let payload: Value = serde_json::from_str(&text).unwrap();
    assert!(alive(first.cmd_pid));
    assert_eq!(original::original_waits_for(&lock), Ok(true), "{text}");
    assert_eq!(payload["pid"], first.cmd_pid, "the lock file names the command: {text}");
    std::fs::write(dir.join("go"), "").unwrap();
    for _ in 0..3000 {
        if !alive(first.cmd_pid) {
            break;
        }
        sleep(Duration::from_millis(10));
    }
    assert!(!alive(first.cmd_pid), "the command never ended");
    let out = bin(&dir).args(["inspect", "--json", "s.jsonl"]).output().unwrap();
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["stale"], true, "{rows:?}");
    assert_eq!(rows[0]["reasons"], serde_json::json!(["KernelProvenDead"]), "{rows:?}");
    let out =
        bin(&dir).args(["run", "--timeout", "30s", "s.jsonl", "--", "true"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("waiting for lock"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!lock.exists());
}

/// A forwarded signal that kills the command gives `run` the shell's status, 128+N, and
/// leaves no lock file.
#[test]
fn a_forwarded_signal_that_kills_the_command_gives_128_plus_n() {
    for (signal, number) in [("INT", 2), ("TERM", 15), ("HUP", 1), ("QUIT", 3)] {
        let (_tmp, dir) = tempdir();
        let mut first = First::start(&dir, "exec sleep 60");
        // `started` is written before the exec; wait until the command is `sleep`.
        for _ in 0..3000 {
            let comm = std::fs::read_to_string(format!("/proc/{}/comm", first.cmd_pid));
            if comm.is_ok_and(|c| c.trim() == "sleep") {
                break;
            }
            sleep(Duration::from_millis(10));
        }
        send(signal, first.run.id());
        let code = first.run.wait().unwrap().code();
        assert_eq!(code, Some(128 + number), "SIG{signal}");
        assert!(!dir.join("s.jsonl.lock").exists(), "SIG{signal} left a lock file");
    }
}

/// `timeout -s INT 1 sessionlock run S -- ...` ends the command and leaves no lock file.
/// Checks: INV-5
#[test]
fn timeout_with_sigint_leaves_no_lock_file() {
    let (_tmp, dir) = tempdir();
    let script = "echo held > started; exec sleep 10";
    let out = Command::new("timeout")
        .args(["-s", "INT", "1", env!("CARGO_BIN_EXE_sessionlock"), "run", "s.jsonl"])
        .args(["--", "sh", "-c", script])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124), "timeout fired while the command ran");
    assert!(dir.join("started").exists(), "the command ran under the lock");
    assert!(!dir.join("s.jsonl.lock").exists(), "a stale lock file was left behind");
}

/// The descriptor named by `SESSIONLOCK_FD` in the command's environment is the lock
/// file's (that it is the only one inherited is checked in `cli.rs`).
#[test]
fn the_command_inherits_the_lock_descriptor_named_in_the_environment() {
    let (_tmp, dir) = tempdir();
    let script = "stat -L -c 'fd-inode %i' /proc/$$/fd/$SESSIONLOCK_FD; \
        stat -c 'lock-inode %i' s.jsonl.lock";
    let out = bin(&dir).args(["run", "s.jsonl", "--", "sh", "-c", script]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let inode = |tag: &str| {
        let line = text.lines().find(|l| l.starts_with(tag));
        line.and_then(|l| l.split(' ').nth(1)).map(str::to_owned)
    };
    assert!(inode("fd-inode").is_some(), "{text}");
    assert_eq!(inode("fd-inode"), inode("lock-inode"), "{text}");
}

/// `run` warns, in one line, when the session file is a symlink or has other hard links:
/// the lock belongs to the name (realpath of the directory plus the file's name, as the
/// original lock has it), so another name of the same file takes another lock. A plain
/// file gets no warning.
#[test]
fn run_warns_when_the_session_file_is_a_symlink_or_hard_linked() {
    let (_tmp, dir) = tempdir();
    std::fs::write(dir.join("real.jsonl"), "").unwrap();
    std::os::unix::fs::symlink("real.jsonl", dir.join("sym.jsonl")).unwrap();
    std::fs::write(dir.join("a.jsonl"), "").unwrap();
    std::fs::hard_link(dir.join("a.jsonl"), dir.join("b.jsonl")).unwrap();
    std::fs::write(dir.join("plain.jsonl"), "").unwrap();
    let warnings = |name: &str| -> Vec<String> {
        let out = bin(&dir).args(["run", name, "--", "true"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        err.lines().filter(|l| l.contains("warning")).map(str::to_owned).collect()
    };
    let sym = warnings("sym.jsonl");
    assert_eq!(sym.len(), 1, "{sym:?}");
    assert!(sym[0].contains("sym.jsonl") && sym[0].contains("symbolic link"), "{sym:?}");
    let hard = warnings("b.jsonl");
    assert_eq!(hard.len(), 1, "{hard:?}");
    assert!(hard[0].contains("b.jsonl") && hard[0].contains("2 hard links"), "{hard:?}");
    assert_eq!(warnings("plain.jsonl"), Vec::<String>::new());
    assert_eq!(warnings("new.jsonl"), Vec::<String>::new(), "a file not there yet");
}
