//! A throwaway PostgreSQL server for the tests: one per test binary, started on first
//! use and stopped when the binary exits (however it exits).
//!
//! The binaries are found through `pg_config --bindir`, or under
//! `/usr/lib/postgresql/*/bin`. The server gets a private data directory (`initdb`, trust
//! authentication), `fsync=off`, a private port on 127.0.0.1 and a private socket
//! directory. PostgreSQL refuses to run as root: as root, it runs as the `postgres` user
//! (or `nobody`) through `runuser`.
//!
//! Where the binaries are missing the tests skip, saying so on stderr (past the test
//! harness's capture); `SESSIONLOCK_REQUIRE_POSTGRES=1` turns that into a failure.
//! Helper processes started by a test reach the parent's server through
//! `SESSIONLOCK_TEST_PG_URL`.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// The environment variable that hands the server to helper processes.
pub const URL_VAR: &str = "SESSIONLOCK_TEST_PG_URL";

/// The running server.
pub struct Pg {
    /// A connection string for it (user `postgres`, database `postgres`).
    pub url: String,
    bindir: PathBuf,
    ctl: Option<Ctl>,
}

struct Ctl {
    data: PathBuf,
    user: Option<String>,
    /// The watchdog, whose stdin closes when this process exits, which stops the server.
    _watchdog: Mutex<Child>,
}

/// The server of this test binary, started on first call; `None` (after saying why,
/// loudly) when the PostgreSQL binaries are missing and no server is required.
pub fn pg() -> Option<&'static Pg> {
    static PG: OnceLock<Option<Pg>> = OnceLock::new();
    PG.get_or_init(|| match std::env::var(URL_VAR) {
        Ok(url) => Some(Pg { url, bindir: bindir().unwrap_or_default(), ctl: None }),
        Err(_) => match bindir() {
            Some(bin) => Some(start(bin)),
            None => {
                skip("no PostgreSQL server binaries (tried `pg_config --bindir` and /usr/lib/postgresql/*/bin)");
                None
            }
        },
    })
    .as_ref()
}

fn skip(why: &str) {
    if std::env::var("SESSIONLOCK_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
        panic!("SESSIONLOCK_REQUIRE_POSTGRES=1 but {why}");
    }
    // Past the harness's output capture, so a skip is always seen.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPING the PostgreSQL tests of this binary: {why}. \
         Install PostgreSQL (Debian: `apt-get install postgresql`) to run them; \
         SESSIONLOCK_REQUIRE_POSTGRES=1 makes this a failure. ***\n"
    );
}

/// A session key no other test (or run) uses.
pub fn key(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{name}/{}/{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

fn bindir() -> Option<PathBuf> {
    let has_initdb = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_initdb(&dir) {
            return Some(dir);
        }
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, dir)| has_initdb(dir))
        .collect();
    found.sort();
    found.pop().map(|(_, dir)| dir)
}

/// Who runs the server: the current user, or (as root) `postgres` or `nobody`.
fn server_user() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return None;
    }
    let exists =
        |u: &str| Command::new("id").arg("-u").arg(u).output().is_ok_and(|o| o.status.success());
    Some(if exists("postgres") { "postgres" } else { "nobody" }.to_owned())
}

fn as_user(user: Option<&str>, program: &Path) -> Command {
    match user {
        Some(user) => {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", user, "--"]).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

fn start(bin: PathBuf) -> Pg {
    let user = server_user();
    let dir = tempfile::Builder::new().prefix("sessionlock-pg").tempdir().expect("temp dir").keep();
    if let Some(user) = &user {
        run(
            {
                let mut c = Command::new("chown");
                c.arg(format!("{user}:")).arg(&dir);
                c
            },
            "chown",
        );
    }
    let data = dir.join("data");
    let mut initdb = as_user(user.as_deref(), &bin.join("initdb"));
    initdb.arg("-D").arg(&data).args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]);
    run(initdb, "initdb");
    // The watchdog stops the server and removes its directory once this process's end
    // closes its stdin, whether the tests pass, panic or are killed.
    let stop = format!(
        "read _; {} {} -D '{}' stop -m immediate >/dev/null 2>&1; rm -rf '{}'",
        user.as_ref().map(|u| format!("runuser -u {u} --")).unwrap_or_default(),
        bin.join("pg_ctl").display(),
        data.display(),
        dir.display()
    );
    let watchdog = Command::new("setsid")
        .args(["sh", "-c", &stop])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("watchdog");
    let ctl = Ctl { data, user, _watchdog: Mutex::new(watchdog) };
    let mut last = String::new();
    for _ in 0..5 {
        let port = free_port();
        let options = format!(
            "-F -p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300",
            dir.display()
        );
        let mut start = as_user(ctl.user.as_deref(), &bin.join("pg_ctl"));
        start
            .arg("-D")
            .arg(&ctl.data)
            .arg("-l")
            .arg(dir.join("log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]);
        let out = start.output().expect("pg_ctl start");
        if out.status.success() {
            let url = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres");
            return Pg { url, bindir: bin, ctl: Some(ctl) };
        }
        last = format!(
            "{}{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(dir.join("log")).unwrap_or_default()
        );
    }
    panic!("the PostgreSQL server did not start:\n{last}");
}

impl Pg {
    /// Runs `sql` through `psql` and returns its unaligned, tuples-only output, trimmed.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_at(&self.url, sql)
    }

    /// [`Pg::psql`] through another connection string (another user or database).
    pub fn psql_at(&self, url: &str, sql: &str) -> String {
        let out = Command::new(self.bindir.join("psql"))
            .arg(url)
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("psql");
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The connection string with `application_name` set, to find a client's sessions.
    pub fn url_named(&self, name: &str) -> String {
        format!("{} application_name={name}", self.url)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        let port = self.url.split(' ').find_map(|kv| kv.strip_prefix("port="));
        port.and_then(|p| p.parse().ok()).expect("a port in the URL")
    }

    /// Puts `line` first in `pg_hba.conf` (the first matching rule wins) and reloads.
    pub fn hba_first(&self, line: &str) {
        let ctl = self.ctl.as_ref().expect("only the process that started the server edits it");
        let hba = ctl.data.join("pg_hba.conf");
        let old = std::fs::read_to_string(&hba).expect("pg_hba.conf");
        std::fs::write(&hba, format!("{line}\n{old}")).expect("write pg_hba.conf");
        assert_eq!(self.psql("SELECT pg_reload_conf()"), "t");
    }

    /// The user the server runs as (`None`: this process's user).
    pub fn server_user(&self) -> Option<&str> {
        self.ctl.as_ref().and_then(|c| c.user.as_deref())
    }

    /// `pg_ctl restart -m MODE`: every session ends, every advisory lock is gone.
    /// `immediate` is a crash (recovery empties unlogged tables); `fast` is clean.
    pub fn restart(&self, mode: &str) {
        let ctl = self.ctl.as_ref().expect("only the process that started the server restarts it");
        let mut cmd = as_user(ctl.user.as_deref(), &self.bindir.join("pg_ctl"));
        cmd.arg("-D").arg(&ctl.data).arg("-l").arg(ctl.data.with_file_name("log"));
        cmd.args(["-w", "-t", "60", "-m", mode, "restart"]);
        run(cmd, "pg_ctl restart");
    }
}
