//! Bad configuration fails fast, typed, and says what to fix: an unreachable server, a
//! wrong or missing password (a `scram-sha-256` role on the throwaway server), missing
//! lock tables that this role may not create, lock tables it may not use, and a
//! transaction-mode pooler in front (a real pgbouncer). Each refusal has its
//! reachability check beside it: the same role, database or pooler accepted once the
//! configuration is right (the password, the tables created by the SQL `sessionlock
//! schema` prints, session pooling).
#![cfg(all(feature = "postgres", not(sessionlock_loom)))]

mod pg_server;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use pg_server::{Pg, pg};
use sessionlock::pg::{ConnectError, PgFs};
use sessionlock::{Builder, Owner, TryAcquire};

fn connect(url: &str) -> Result<PgFs, ConnectError> {
    PgFs::connect_blocking(url)
}

/// The server's URL with `user`, `dbname` and `password` replaced (when given).
fn url_as(pg: &Pg, user: &str, dbname: &str, password: Option<&str>) -> String {
    let mut url = format!("host=127.0.0.1 port={} user={user} dbname={dbname}", pg.port());
    if let Some(password) = password {
        url.push_str(&format!(" password={password}"));
    }
    url
}

/// A name no other test of this binary uses.
fn fresh(name: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{name}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A lock taken and released through `fs`: the store is usable.
fn usable(fs: &PgFs) {
    let lock = fs.session_lock(Builder::new());
    let key = fresh("usable");
    match lock.try_acquire_blocking(&key, Owner::new()).expect("try_acquire") {
        TryAcquire::Acquired(guard) => {
            guard.release_blocking().expect("release");
        }
        TryAcquire::Held(holder) => panic!("a fresh key held by {holder}"),
    }
}

/// Nothing listens on the port: `Unreachable`, at once (refused), not a hang.
#[test]
fn an_unreachable_server_is_told_apart() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let error = connect(&format!("host=127.0.0.1 port={port} user=postgres")).unwrap_err();
    assert!(matches!(error, ConnectError::Unreachable(_)), "{error:?}");
    assert!(error.to_string().starts_with("cannot reach the PostgreSQL server: "), "{error}");
    let error = connect("host=127.0.0.1 port=notaport").unwrap_err();
    assert!(matches!(error, ConnectError::InvalidUrl(_)), "{error:?}");
}

/// A `scram-sha-256` role: a wrong or missing password is `Refused`, naming what to
/// check; the right one connects and locks.
#[test]
fn bad_credentials_are_refused_and_the_right_ones_accepted() {
    let Some(pg) = pg() else { return };
    let (role, db) = (fresh("pw"), fresh("pwdb"));
    pg.psql(&format!(
        "SET password_encryption = 'scram-sha-256'; CREATE ROLE {role} LOGIN PASSWORD 'right'"
    ));
    // A database of its own, so the right login creates the lock tables there.
    pg.psql(&format!("CREATE DATABASE {db} OWNER {role}"));
    pg.hba_first(&format!("host all {role} 127.0.0.1/32 scram-sha-256"));
    // The reload is asynchronous: wait (a hang guard) until the rule is in force.
    let wrong = url_as(pg, &role, &db, Some("wrong"));
    let mut refused = None;
    for _ in 0..250 {
        match connect(&wrong) {
            Err(e) => {
                refused = Some(e);
                break;
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let error = refused.expect("the password rule never took effect");
    assert!(matches!(error, ConnectError::Refused(_)), "{error:?}");
    let said = error.to_string();
    assert!(said.contains("password authentication failed") && said.contains("check the user"));
    assert_eq!(said.lines().count(), 1, "{said}");
    let error = connect(&url_as(pg, &role, &db, None)).unwrap_err();
    assert!(matches!(error, ConnectError::Refused(_)), "no password: {error:?}");
    let error = connect(&url_as(pg, "no_such_role", "postgres", None)).unwrap_err();
    assert!(matches!(error, ConnectError::Refused(_)), "no such role: {error:?}");
    usable(&connect(&url_as(pg, &role, &db, Some("right"))).expect("the right password"));
}

/// A fresh database whose `public` schema this role may not create in: `Schema`, saying
/// how to create the tables. Created with the SQL `sessionlock schema` prints, but not
/// granted: `Schema` again (may not use them). Granted: usable.
#[test]
fn missing_lock_tables_say_how_to_create_them() {
    let Some(pg) = pg() else { return };
    let (db, role) = (fresh("noschema"), fresh("plain"));
    pg.psql(&format!("CREATE ROLE {role} LOGIN"));
    pg.psql(&format!("CREATE DATABASE {db}"));
    let url = url_as(pg, &role, &db, None);
    let error = connect(&url).unwrap_err();
    let ConnectError::Schema { why } = &error else { panic!("{error:?}") };
    assert!(why.contains("permission denied"), "{why}");
    assert!(error.to_string().contains("run the SQL `sessionlock schema` prints"), "{error}");
    // As the owner, with the CLI's SQL: the tables exist, this role may not use them.
    let schema = Command::new(env!("CARGO_BIN_EXE_sessionlock")).arg("schema").output().unwrap();
    assert!(schema.status.success());
    let schema = String::from_utf8(schema.stdout).unwrap();
    let owner = url_as(pg, "postgres", &db, None);
    pg.psql_at(&owner, &schema);
    let error = connect(&url).unwrap_err();
    let ConnectError::Schema { why } = &error else { panic!("{error:?}") };
    assert!(why.contains("may not use the lock tables"), "{why}");
    pg.psql_at(
        &owner,
        &format!(
            "GRANT SELECT, INSERT, DELETE ON sessionlock_locks TO {role}; \
         GRANT SELECT, INSERT ON sessionlock_transcript TO {role}; \
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}"
        ),
    );
    usable(&connect(&url).expect("granted"));
}

/// A lock table of the first version (logged, as its SQL created it): a role that may
/// not alter it is refused with `Schema`, saying to run the SQL `sessionlock schema`
/// prints as the owner; the owner's connect upgrades it to unlogged, keeping its rows;
/// then the other role is accepted.
#[test]
fn a_logged_lock_table_of_an_earlier_version_is_upgraded_or_refused() {
    let Some(pg) = pg() else { return };
    let (db, role) = (fresh("oldschema"), fresh("user"));
    pg.psql(&format!("CREATE ROLE {role} LOGIN"));
    pg.psql(&format!("CREATE DATABASE {db}"));
    let owner = url_as(pg, "postgres", &db, None);
    let first = sessionlock::pg::SCHEMA.replace(
        "CREATE UNLOGGED TABLE IF NOT EXISTS sessionlock_locks",
        "CREATE TABLE sessionlock_locks",
    );
    // Without this version's upgrade step, which the first version did not have.
    let first = match first.split_once("DO $$") {
        Some((head, upgrade)) => format!("{head}{}", upgrade.split_once("END $$;").unwrap().1),
        None => first,
    };
    assert!(!first.contains("UNLOGGED"), "{first}");
    pg.psql_at(&owner, &first);
    pg.psql_at(
        &owner,
        &format!(
            "INSERT INTO sessionlock_locks (path, generation, payload, host, pid, backend) \
             VALUES ('dead', nextval('sessionlock_generation'), '\\x7b7d', 'h', 1, 1); \
             GRANT SELECT, INSERT, DELETE ON sessionlock_locks TO {role}; \
             GRANT SELECT, INSERT ON sessionlock_transcript TO {role}; \
             GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}"
        ),
    );
    let persistence = "SELECT relpersistence FROM pg_class WHERE relname = 'sessionlock_locks'";
    assert_eq!(pg.psql_at(&owner, persistence), "p", "the first version's table");
    let url = url_as(pg, &role, &db, None);
    let error = connect(&url).unwrap_err();
    let ConnectError::Schema { why } = &error else { panic!("{error:?}") };
    assert!(why.contains("logged table from an earlier version"), "{why}");
    assert!(why.contains("run the SQL `sessionlock schema` prints as its owner"), "{why}");
    assert_eq!(pg.psql_at(&owner, persistence), "p", "a refused role changed nothing");
    usable(&connect(&owner).expect("the owner upgrades"));
    assert_eq!(pg.psql_at(&owner, persistence), "u", "upgraded");
    assert_eq!(pg.psql_at(&owner, "SELECT path FROM sessionlock_locks"), "dead", "rows kept");
    usable(&connect(&url).expect("upgraded: the role is accepted"));
}

/// A pgbouncer in front of the server, one database per pool mode: `tx` (transaction
/// pooling) and `session`. Stopped on drop.
struct Bouncer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pgbouncer_binary() -> Option<PathBuf> {
    let found = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"].map(PathBuf::from);
    found.into_iter().find(|p| p.is_file())
}

impl Bouncer {
    fn start(pg: &Pg, binary: &Path) -> Self {
        let dir = tempfile::Builder::new().prefix("sessionlock-pgbouncer").tempdir().unwrap();
        let user = pg.server_user();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server = format!("host=127.0.0.1 port={} user=postgres dbname=postgres", pg.port());
        let mut ini = format!(
            "[databases]\ntx = {server} pool_mode=transaction\nsession = {server} pool_mode=session\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {users}\ndefault_pool_size = 4\n\
             ignore_startup_parameters = extra_float_digits,options\nlogfile = {log}\n",
            users = dir.path().join("users.txt").display(),
            log = dir.path().join("log").display(),
        );
        std::fs::write(dir.path().join("users.txt"), "\"postgres\" \"\"\n").unwrap();
        if let Some(user) = user {
            // pgbouncer refuses to run as root; it changes to `user` itself (so the
            // child is pgbouncer, which a kill stops).
            let chown = Command::new("chown")
                .args(["-R", &format!("{user}:")])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(chown.success());
            ini.push_str(&format!("user = {user}\n"));
        }
        std::fs::write(dir.path().join("pgbouncer.ini"), ini).unwrap();
        let child = Command::new(binary)
            .arg(dir.path().join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let bouncer = Self { child, port, _dir: dir };
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return bouncer;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("pgbouncer did not start");
    }

    fn url(&self, db: &str) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname={db}", self.port)
    }
}

/// A real pgbouncer: transaction pooling is refused, naming the tell; session pooling,
/// which keeps advisory locks with their holder, is accepted and locks.
#[test]
fn a_transaction_mode_pooler_is_refused_and_session_pooling_accepted() {
    let Some(pg) = pg() else { return };
    let Some(binary) = pgbouncer_binary() else {
        let why = "pgbouncer is not installed (Debian: `apt-get install pgbouncer`)";
        if std::env::var("SESSIONLOCK_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            panic!("SESSIONLOCK_REQUIRE_POSTGRES=1 but {why}");
        }
        eprintln!("\n*** SKIPPING the pooler test: {why}. ***\n");
        return;
    };
    // The lock tables exist already, as on a server that has been used directly.
    connect(&pg.url).expect("direct");
    let bouncer = Bouncer::start(pg, &binary);
    let error = connect(&bouncer.url("tx")).unwrap_err();
    let ConnectError::Pooler(tell) = &error else { panic!("{error:?}") };
    assert!(!tell.is_empty());
    assert!(error.to_string().contains("refusing a transaction-mode pooler"), "{error}");
    usable(&connect(&bouncer.url("session")).expect("session pooling"));
}
