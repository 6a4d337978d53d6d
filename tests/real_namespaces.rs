//! Holders a pid cannot describe: in another pid namespace (`unshare --pid --fork
//! --mount-proc`), or recorded on another host in degraded mode. A pid means something
//! only on its own host, boot and pid namespace, so such a holder must never be removed
//! on pid grounds while it lives, and must be taken over right after it dies.
//!
//! | holder | contender | while alive | after its death |
//! |---|---|---|---|
//! | original format, in another pid namespace, file kept open for writing | host namespace | `Held` (lease refused: a writer); file untouched | taken over |
//! | same | another pid namespace | `Held`; file untouched | taken over |
//! | same | host, waiting | waits in the kernel for the writer's close | acquires right after the kill |
//! | our format, in another pid namespace | host namespace | `Held`, shown as "a holder in another pid namespace", not as its pid there | `KernelProvenDead` |
//! | same | another pid namespace | `Held` | `KernelProvenDead` |
//! | our format, `"flock": false`, recorded on another host, dead pid | no `flock` (degraded) | `Held`, "a holder on another host"; never `DeadPid` | — (nothing here can tell) |
//! | same, another pid namespace of this host | no `flock` | `Held`, "a holder in another pid namespace" | — |
//! | same, recorded here (this host, boot, namespace) | no `flock` | `DeadPid`: the pid is judged where it means something | — |
//!
//! And `sessionlock inspect` shows the difference (`place`, `recorded_pid`, `writer`).
//! Where no lease can be taken (another user's file, no `CAP_LEASE`), the pid heuristics
//! are all that is left: the writer goes unseen.
//!
//! Needs root (for `unshare --pid`); the tests say so and fail otherwise.
#![cfg(not(sessionlock_loom))]

mod common;
#[path = "bad_input/noflock.rs"]
#[allow(dead_code)]
mod noflock;
#[path = "bad_input/unprivileged.rs"]
#[allow(dead_code)]
mod unprivileged;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use common::{Seen, dead_pid, helper_role, hold, lock_file, now_iso, recorded, report, session};
use rustix::io::Errno;
use sessionlock::Reason;
use sessionlock::{Owner, SessionLock, TryAcquire};

/// Not a test: the body of the helper processes. Does nothing unless started by
/// [`in_new_pid_namespace`].
#[test]
#[ignore = "helper process for the tests that need another process"]
fn helper_process() {
    let Some((role, s)) = helper_role() else {
        return;
    };
    match role.as_str() {
        "hold" => hold(&s),
        "original-hold" => original_hold(&s),
        "try" => try_once(&s),
        unprivileged::ROLE => unprivileged::run(&s),
        other => panic!("unknown role {other}"),
    }
}

/// Holds the lock of `s` the way the original TypeScript lock does: `open(path, "wx")`,
/// write `{pid, createdAt, starttime}`, and keep the file open for writing while holding.
fn original_hold(s: &Path) -> ! {
    let pid = std::process::id();
    let payload =
        format!(r#"{{"pid":{pid},"createdAt":"{}","starttime":{}}}"#, now_iso(), starttime("self"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(lock_file(s))
        .expect("the original's open(path, \"wx\")");
    file.write_all(payload.as_bytes()).unwrap();
    report("held", pid);
    let _keep = file;
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// One `try_acquire` of `s`: reports `held <holder>` or `acquired <reasons broken>`.
fn try_once(s: &Path) {
    let (lock, rec) = recorded(SessionLock::builder());
    match lock.try_acquire_blocking(s, Owner::new()).unwrap() {
        TryAcquire::Held(holder) => report("outcome", format!("held {holder}")),
        TryAcquire::Acquired(guard) => {
            guard.release_blocking().unwrap();
            report("outcome", format!("acquired {:?}", rec.broken()));
        }
    }
}

/// Field 22 of `/proc/<pid>/stat`.
fn starttime(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(19).unwrap().parse().unwrap()
}

/// A helper process run as pid 1 of a new pid namespace, with its own `/proc`.
struct NsHelper {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

/// Starts this test binary again, in a new pid namespace, as a helper playing `role`.
fn in_new_pid_namespace(role: &str, session: &Path) -> NsHelper {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(exe)
        .args(["--ignored", "--exact", common::HELPER, "--nocapture", "--test-threads=1"])
        .env("SESSIONLOCK_TEST_ROLE", role)
        .env("SESSIONLOCK_TEST_SESSION", session)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("unshare (util-linux) is needed");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    NsHelper { child, stdout }
}

impl NsHelper {
    /// Waits for the line `@@<tag> ...`; returns what follows.
    fn expect(&mut self, tag: &str) -> String {
        let marker = format!("@@{tag}");
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "helper exited before reporting {tag:?} (are we root, for unshare?)");
            if let Some((_, rest)) = line.trim_end().split_once(&marker) {
                return rest.trim().to_owned();
            }
        }
    }

    /// SIGKILLs the helper (the namespace's pid 1) and `unshare`, and waits until the
    /// helper has exited, its descriptors closed by the kernel.
    fn kill(mut self) {
        let children = format!("/proc/{0}/task/{0}/children", self.child.id());
        let pid: i32 = std::fs::read_to_string(children).unwrap().trim().parse().unwrap();
        let raw = rustix::process::Pid::from_raw(pid).unwrap();
        rustix::process::kill_process(raw, rustix::process::Signal::KILL).unwrap();
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        // Every thread gone (reaped, or only the zombie leader left): each ran
        // `exit_files`, so the kernel has closed the helper's descriptors.
        let running = || {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
                return false;
            };
            let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|st| st[st.rfind(')').unwrap()..].starts_with(") Z"));
            tasks.count() > 1 || !zombie
        };
        for _ in 0..30_000 {
            if !running() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("the helper (pid {pid}) did not die");
    }
}

impl Drop for NsHelper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A contender in another new pid namespace: one `try_acquire`; what it saw.
fn try_from_another_namespace(s: &Path) -> String {
    let mut contender = in_new_pid_namespace("try", s);
    contender.expect("outcome")
}

/// A `try_acquire` from this (the host) namespace; `Ok(display)` when held.
fn try_from_here(s: &Path) -> Result<String, Vec<Vec<Reason>>> {
    let (lock, rec) = recorded(SessionLock::builder());
    match lock.try_acquire_blocking(s, Owner::new()).unwrap() {
        TryAcquire::Held(holder) => Ok(holder.to_string()),
        TryAcquire::Acquired(guard) => {
            guard.release_blocking().unwrap();
            Err(rec.broken())
        }
    }
}

fn content(s: &Path) -> Vec<u8> {
    std::fs::read(lock_file(s)).expect("the holder's lock file is still there")
}

/// An original-format holder in another pid namespace (pid 1 there, which here is init
/// with another start time) keeps its file open for writing. Neither a contender here
/// nor one in a third namespace (where pid 1 is the contender itself) may remove it while
/// it lives; both take it over once it is dead.
/// Bug: judged by its pid, the file was removed as `RecycledPid` (here) or as this
/// process's own `RecycledPid`/`OwnPidOrphan` (there): two holders.
/// Checks: INV-2, INV-1, INV-4
#[test]
fn original_holder_in_another_pid_namespace_is_never_removed_while_alive() {
    let (_dir, s) = session();
    let mut holder = in_new_pid_namespace("original-hold", &s);
    assert_eq!(holder.expect("held"), "1", "the holder is pid 1 of its namespace");
    let before = content(&s);
    for round in 0..3 {
        let seen = try_from_here(&s).unwrap_or_else(|broken| {
            panic!("INV-2 NoLiveRemoval: round {round}: a live writer's file broken as {broken:?}")
        });
        assert!(seen.contains("alive"), "{seen}");
        let there = try_from_another_namespace(&s);
        assert!(there.starts_with("held "), "INV-2 NoLiveRemoval: from another namespace: {there}");
        assert_eq!(content(&s), before, "the live holder's file is untouched");
    }
    holder.kill();
    let broken = try_from_here(&s).expect_err("a dead holder's file is taken over at once");
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].iter().any(|r| r.is_actionable()), "{broken:?}");
}

/// The same holder, seen from a third namespace after its death, is taken over there too.
/// Checks: INV-4
#[test]
fn dead_original_holder_of_another_namespace_is_taken_over_from_a_third() {
    let (_dir, s) = session();
    let mut holder = in_new_pid_namespace("original-hold", &s);
    holder.expect("held");
    holder.kill();
    let there = try_from_another_namespace(&s);
    assert!(there.starts_with("acquired "), "{there}");
    assert!(!lock_file(&s).exists());
}

/// A contender here waits for the original holder of another namespace in the kernel
/// (the close of its writer), and acquires right after the holder is killed: no pid
/// guess, and no timeout.
/// Checks: INV-4, INV-2
#[test]
fn waiter_takes_over_from_a_killed_original_holder_of_another_namespace() {
    let (_dir, s) = session();
    let mut holder = in_new_pid_namespace("original-hold", &s);
    holder.expect("held");
    let (lock, rec) = recorded(SessionLock::builder().timeout(Duration::from_secs(60)));
    let waiter = {
        let s = s.clone();
        std::thread::spawn(move || lock.acquire_blocking(&s, Owner::new()).map(drop))
    };
    rec.wait_for(&Seen::KernelWait);
    assert!(!waiter.is_finished(), "acquired while the holder was alive: {:?}", rec.seen());
    assert_eq!(rec.broken(), Vec::<Vec<Reason>>::new());
    holder.kill();
    waiter.join().unwrap().expect("acquired after the holder's death");
    assert_eq!(rec.broken().len(), 1, "{:?}", rec.seen());
}

/// Our own format held from another pid namespace: held (its kernel lock says so), and
/// shown as a holder in another pid namespace, not as "pid 1", which here is init.
/// Checks: INV-2
#[test]
fn our_holder_in_another_pid_namespace_is_not_shown_as_a_local_pid() {
    let (_dir, s) = session();
    let mut holder = in_new_pid_namespace("hold", &s);
    assert_eq!(holder.expect("held"), "1");
    let seen = try_from_here(&s).expect("held by a live kernel lock");
    assert!(seen.starts_with("a holder in another pid namespace"), "{seen}");
    assert!(!seen.contains("pid 1"), "pid 1 here is another process: {seen}");
    let there = try_from_another_namespace(&s);
    assert!(there.starts_with("held a holder in another pid namespace"), "{there}");
    holder.kill();
    let broken = try_from_here(&s).expect_err("taken over after death");
    assert_eq!(broken, vec![vec![Reason::KernelProvenDead]]);
}

/// Writes our format by hand, as a holder in degraded mode (`"flock": false`) at the
/// given place.
fn write_ours_degraded(s: &Path, pid: u32, host: &str, boot: &str, pid_ns: u64) {
    let text = format!(
        r#"{{"pid":{pid},"createdAt":"{}","sessionlock":{{"version":1,"flock":false,"nonce":"{pid}.0.1","host":"{host}","boot":"{boot}","pidns":{pid_ns}}}}}"#,
        now_iso()
    );
    std::fs::write(lock_file(s), text).unwrap();
}

/// Where this process lives, as `/proc` says.
fn here() -> (String, String, u64) {
    let read = |p: &str| std::fs::read_to_string(p).unwrap().trim().to_owned();
    let ns = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let ns = ns.to_string_lossy();
    let ino = ns.trim_start_matches("pid:[").trim_end_matches(']').parse().unwrap();
    (read("/proc/sys/kernel/hostname"), read("/proc/sys/kernel/random/boot_id"), ino)
}

/// Degraded mode (no `flock`, as on NFS): a holder recorded on another host is never
/// broken on pid grounds, however dead its pid looks here.
/// Bug: judged `DeadPid` and removed, with the holder alive on its own host.
/// Checks: INV-2
#[test]
fn degraded_holder_on_another_host_is_never_broken_on_pid_grounds() {
    let (_dir, s) = session();
    write_ours_degraded(&s, dead_pid(), "another-host", "0d1e2f3a-boot", 4_026_531_836);
    let before = content(&s);
    let s2 = s.clone();
    let seen = noflock::without_flock(Errno::NOLCK, move || try_from_here(&s2));
    let seen = seen.unwrap_or_else(|b| panic!("INV-2 NoLiveRemoval: broken as {b:?}"));
    assert!(seen.starts_with("a holder on another host"), "{seen}");
    assert_eq!(content(&s), before);
}

/// Degraded mode: a holder recorded in another pid namespace of this very host is not
/// judged by its pid either.
/// Checks: INV-2
#[test]
fn degraded_holder_in_another_pid_namespace_is_never_broken_on_pid_grounds() {
    let (_dir, s) = session();
    let (host, boot, ns) = here();
    write_ours_degraded(&s, dead_pid(), &host, &boot, ns + 1);
    let s2 = s.clone();
    let seen = noflock::without_flock(Errno::NOLCK, move || try_from_here(&s2));
    let seen = seen.unwrap_or_else(|b| panic!("INV-2 NoLiveRemoval: broken as {b:?}"));
    assert!(seen.starts_with("a holder in another pid namespace"), "{seen}");
}

/// The check has teeth: recorded here (same host, boot and namespace), a dead pid is
/// still judged dead in degraded mode.
/// Checks: INV-4
#[test]
fn degraded_holder_recorded_here_with_a_dead_pid_is_broken() {
    let (_dir, s) = session();
    let (host, boot, ns) = here();
    write_ours_degraded(&s, dead_pid(), &host, &boot, ns);
    let s2 = s.clone();
    let seen = noflock::without_flock(Errno::NOLCK, move || try_from_here(&s2));
    assert_eq!(seen, Err(vec![vec![Reason::DeadPid]]));
}

/// `sessionlock inspect` shows our holder in another pid namespace as such, never as a
/// pid of ours, and an original holder there as alive (its file open for writing; the
/// original records no place, so its pid is shown as recorded).
/// Bug: our holder shown as "pid 1", which here is init; the original holder as stale.
/// Checks: INV-2
#[test]
fn inspect_shows_holders_in_another_pid_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let (ours, original) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let mut held = in_new_pid_namespace("hold", &ours);
    held.expect("held");
    let mut writer = in_new_pid_namespace("original-hold", &original);
    writer.expect("held");
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_sessionlock")).args(args).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let dir_arg = dir.path().to_str().unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&cli(&["inspect", "--json", dir_arg])).unwrap();
    let row = |name: &str| {
        let rows = json.as_array().unwrap();
        rows.iter().find(|r| r["path"].as_str().unwrap().ends_with(name)).unwrap().clone()
    };
    let a = row("a.jsonl.lock");
    assert_eq!(a["place"], "another-pid-namespace", "{a}");
    assert_eq!(a["pid"], serde_json::Value::Null, "no pid of ours: {a}");
    assert_eq!(a["recorded_pid"], 1, "{a}");
    assert_eq!((&a["held"], &a["alive"]), (&true.into(), &true.into()), "{a}");
    let b = row("b.jsonl.lock");
    assert_eq!(b["place"], "unrecorded", "{b}");
    assert_eq!(b["writer"], true, "{b}");
    assert_eq!((&b["held"], &b["alive"], &b["stale"]), (&true.into(), &true.into(), &false.into()));
    let table = cli(&["inspect", dir_arg]);
    let line = table.lines().find(|l| l.ends_with("a.jsonl.lock")).unwrap();
    assert_eq!(line.split_whitespace().nth(1), Some("other-pidns"), "{table}");
}

/// The lease is what sees a writer; without it, the pid heuristics decide. A file whose
/// payload names a dead pid but which a live process keeps open for writing: as root
/// (`CAP_LEASE`) the contender sees the writer and waits; as `nobody`, for whom the lease
/// is refused (`EACCES`: not the file's owner), it falls back to the pid and breaks it.
/// Checks: INV-2
#[test]
fn without_a_lease_only_the_pid_heuristics_remain() {
    let (dir, s) = session();
    unprivileged::chmod(dir.path(), 0o777);
    let text = format!(r#"{{"pid":{},"createdAt":"{}"}}"#, dead_pid(), now_iso());
    let mut writer = std::fs::File::create_new(lock_file(&s)).unwrap();
    writer.write_all(text.as_bytes()).unwrap();
    unprivileged::chmod(&lock_file(&s), 0o644);
    let seen =
        try_from_here(&s).unwrap_or_else(|b| panic!("INV-2: a live writer's file broken as {b:?}"));
    assert!(seen.contains("file open for writing"), "{seen}");
    assert_eq!(
        unprivileged::try_acquire_as_nobody(&s),
        "acquired",
        "no lease: judged by its dead pid"
    );
    drop(writer);
}
