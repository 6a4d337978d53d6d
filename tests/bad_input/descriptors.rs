//! Running out of descriptors: a helper process fills its descriptor table, then frees one
//! descriptor at a time and tries a contended acquire after each.

use std::path::Path;

use rustix::fs::{Mode, OFlags, open};
use rustix::io::Errno;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use sessionlock::fs::FsOp;
use sessionlock::{AcquireError, Owner};

use crate::common::{report, session};

/// The role of the helper that acquires while out of descriptors (see [`run`]).
pub const ROLE: &str = "acquire-out-of-descriptors";

/// The helper's side. A warm-up acquire of another path first (uncontended: it starts no
/// reactor) lets the process learn its own identity while it can still open files. Then
/// the descriptor limit is lowered to 64 and the table filled with `/dev/null`; each
/// round frees one descriptor and tries to acquire `session`, which a live process
/// holds, with a 300 ms timeout. Each outcome is reported as `@@round <outcome>` (see
/// [`describe`]) until one times out, which needs the reactor, then `@@done`.
pub fn run(session_path: &Path) {
    let (_warm_dir, warm) = session();
    let lock = super::short().build();
    lock.acquire_blocking(&warm, Owner::new()).unwrap().release_blocking().unwrap();

    let limit = getrlimit(Resource::Nofile);
    setrlimit(Resource::Nofile, Rlimit { current: Some(64), maximum: limit.maximum }).unwrap();
    let mut spare = Vec::new();
    loop {
        match open("/dev/null", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) {
            Ok(fd) => spare.push(fd),
            Err(Errno::MFILE) => break,
            Err(e) => panic!("filling the descriptor table: {e}"),
        }
    }
    while let Some(fd) = spare.pop() {
        drop(fd);
        let outcome = describe(lock.acquire_blocking(session_path, Owner::new()).map(drop));
        report("round", &outcome);
        if outcome == "timeout" {
            break;
        }
    }
    report("done", spare.len());
}

/// `acquired`, `timeout`, or `fs <op> <message>`.
fn describe(outcome: Result<(), AcquireError>) -> String {
    match outcome {
        Ok(()) => "acquired".into(),
        Err(AcquireError::Timeout { .. }) => "timeout".into(),
        Err(AcquireError::Fs(e)) => format!("fs {:?} {e}", e.op),
        Err(other) => format!("other {other}"),
    }
}

/// Whether a round's outcome is a typed failure of the kernel-lock wait that names the
/// reactor and the lack of descriptors.
pub fn is_reactor_failure(outcome: &str) -> bool {
    outcome.starts_with(&format!("fs {:?} ", FsOp::LockUntil))
        && outcome.contains("reactor")
        && outcome.contains("Too many open files")
}
