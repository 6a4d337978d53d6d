//! What the PostgreSQL failure tests share: fenced appends from a client of their own,
//! the transcript as the database has it, helper processes that hold a lock and take
//! orders on stdin, and waiting for a server-side session to end.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use sessionlock::LockPath;
use sessionlock::fs::FileId;
use sessionlock::pg::{FenceError, append_fenced};

use super::pg_server::{Pg, URL_VAR};

/// Appends `line` to the transcript of `path` under `token`, through a connection of its
/// own (as a writer's transcript store would).
pub fn append(url: &str, path: &LockPath, token: FileId, line: &str) -> Result<u64, FenceError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        let driver = tokio::spawn(connection);
        let outcome = append_fenced(&mut client, path, token, &[line]).await;
        drop(client);
        let _ = driver.await;
        outcome
    })
}

/// The transcript of `key`: (token, line) in append order.
pub fn transcript(pg: &Pg, key: &str) -> Vec<(u64, String)> {
    let out = pg.psql(&format!(
        "SELECT token || '|' || line FROM sessionlock_transcript WHERE path = '{key}' ORDER BY seq"
    ));
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (token, line) = l.split_once('|').unwrap();
            (token.parse().unwrap(), line.to_owned())
        })
        .collect()
}

/// The backend pid that published the lock row of `key`.
pub fn backend_of(pg: &Pg, key: &str) -> u32 {
    pg.psql(&format!("SELECT backend FROM sessionlock_locks WHERE path = '{key}'")).parse().unwrap()
}

/// Waits (a hang guard of 30 s, not a timing) until backend `pid` holds no lock.
pub fn wait_until_gone(pg: &Pg, pid: u32) {
    for _ in 0..1500 {
        if pg.psql(&format!("SELECT count(*) FROM pg_locks WHERE pid = {pid}")) == "0" {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("backend {pid} still holds locks");
}

/// The name of the hidden test that helper processes run.
pub const HELPER: &str = "helper_process";

/// A helper process: this test binary again, running [`HELPER`] in a role, reporting on
/// stdout (`@@tag value`) and taking orders on stdin.
pub struct PgHelper {
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl PgHelper {
    pub fn spawn(pg: &Pg, role: &str, key: &str) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", HELPER, "--nocapture", "--test-threads=1"])
            .env("SESSIONLOCK_TEST_ROLE", role)
            .env("SESSIONLOCK_TEST_SESSION", key)
            .env(URL_VAR, &pg.url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self { stdin: child.stdin.take(), child, stdout }
    }

    /// Waits for `@@tag` and returns what follows it.
    pub fn expect(&mut self, tag: &str) -> String {
        let marker = format!("@@{tag}");
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "helper exited before reporting {tag:?}");
            if let Some((_, rest)) = line.trim_end().split_once(&marker) {
                return rest.trim().to_owned();
            }
        }
    }

    /// Sends one order line.
    pub fn order(&mut self, order: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{order}").unwrap();
        stdin.flush().unwrap();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (a `kill` name: KILL, STOP, CONT).
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{signal}");
    }
}

impl Drop for PgHelper {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reports `tag` and `value` to the parent test, on a line of its own.
pub fn report(tag: &str, value: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n@@{tag} {value}").unwrap();
    out.flush().unwrap();
}

/// The role and key of this process, when started as a helper.
pub fn helper_role() -> Option<(String, String)> {
    let role = std::env::var("SESSIONLOCK_TEST_ROLE").ok()?;
    let key = std::env::var("SESSIONLOCK_TEST_SESSION").ok()?;
    Some((role, key))
}
