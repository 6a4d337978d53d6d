//! Connecting: bad configuration told apart, each with what to fix, and the check that
//! refuses a transaction-mode pooler.
//!
//! | what is wrong                        | found by                                      | error |
//! |--------------------------------------|-----------------------------------------------|-------|
//! | the connection string                | parsing it, before any connection             | [`ConnectError::InvalidUrl`] |
//! | no server at the address             | the connect failing below the protocol (refused, unknown host, timeout) | [`ConnectError::Unreachable`] |
//! | the login (password, role, `pg_hba.conf`, database) | the server's answer to the startup (SQLSTATE class 28, `3D000`) | [`ConnectError::Refused`] |
//! | the lock tables missing or out of reach, or the lock table an earlier version's (logged) and this role not its owner | looking them up; creating them if missing, making a logged lock table unlogged | [`ConnectError::Schema`] |
//! | a transaction-mode pooler in front   | [`PoolProbe`], on the first two connections    | [`ConnectError::Pooler`] |
//!
//! ## The pooler check
//!
//! A transaction-mode pooler (pgbouncer's `pool_mode = transaction`) hands each
//! transaction to whichever server session is free, so a session-level advisory lock
//! stays behind on a server session that other clients then use: they re-enter it, and
//! the holder's own statements may run elsewhere. Nothing errors; exclusion is silently
//! gone. Over two client connections A and B the check runs, each step its own
//! transaction:
//!
//! | step | on | statement                                              | direct connections: always |
//! |------|----|--------------------------------------------------------|----------------------------|
//! | 1    | A  | its backend pid `a`; `pg_try_advisory_lock(K, a)`        | got it                     |
//! | 2    | B  | its backend pid `b`; `pg_try_advisory_lock(K, a)` (and unlock if got) | `b != a`; not got (A's session holds it) |
//! | 3    | A  | its backend pid again; `pg_advisory_unlock(K, a)`        | still `a`; unlocked        |
//!
//! Every "always" holds for direct connections whatever else runs (two live sessions
//! never share a backend pid, and only backend `a` locks `(K, a)`), so any other
//! answer proves a pooler: the check never refuses a direct connection. It can miss
//! one: a pooler that happened to give every step the same server session, or each
//! connection one of its own, passes. `K` is in the two-`int4` key space, apart from
//! the generations' `bigint` keys.

use std::error::Error as _;
use std::io;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::sql;

/// Why [`PgFs::connect`](super::PgFs::connect) gave no store. Each message is one line
/// and says what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The connection string cannot be parsed.
    #[error("invalid PostgreSQL connection string: {}", cause(.0))]
    InvalidUrl(#[source] tokio_postgres::Error),
    /// No server answered at the address: refused, unknown host, timed out.
    #[error("cannot reach the PostgreSQL server: {}", cause(.0))]
    Unreachable(#[source] tokio_postgres::Error),
    /// The server refused the login: a wrong password, an unknown role or database, or
    /// a `pg_hba.conf` rule.
    #[error(
        "the PostgreSQL server refused the login: {}; check the user, password and \
         database in the connection string",
        cause(.0)
    )]
    Refused(#[source] tokio_postgres::Error),
    /// The lock tables are missing and this role may not create them, or they exist and
    /// this role may not use them.
    #[error(
        "the lock tables cannot be used: {why}; as a role that may create tables, run the \
         SQL `sessionlock schema` prints, then grant this role SELECT, INSERT and DELETE on \
         sessionlock_locks, SELECT and INSERT on sessionlock_transcript, USAGE on its \
         sequences, and EXECUTE on pg_logical_emit_message (every role has it by default)"
    )]
    Schema {
        /// What is missing or refused.
        why: String,
    },
    /// A transaction-mode pooler sits between this client and the server: session-level
    /// advisory locks would not exclude anyone.
    #[error(
        "refusing a transaction-mode pooler in front of PostgreSQL ({0}): advisory locks \
         need a session of their own; connect to the server directly, or through session \
         pooling"
    )]
    Pooler(String),
    /// Anything else (the server failed while the connection was set up).
    #[error("cannot set up the PostgreSQL connection: {0}")]
    Other(#[from] io::Error),
}

impl From<ConnectError> for io::Error {
    fn from(e: ConnectError) -> Self {
        let kind = match e {
            ConnectError::InvalidUrl(_) => io::ErrorKind::InvalidInput,
            ConnectError::Unreachable(_) => io::ErrorKind::ConnectionRefused,
            ConnectError::Refused(_) | ConnectError::Schema { .. } => {
                io::ErrorKind::PermissionDenied
            }
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// The innermost message of `e`: the server's own words, or the socket's.
fn cause(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_owned();
    }
    match e.source() {
        Some(inner) => inner.to_string(),
        None => e.to_string(),
    }
}

impl ConnectError {
    /// Sorts a failure to open a connection.
    pub(crate) fn opening(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(code)
                if code.code().starts_with("28") || *code == SqlState::INVALID_CATALOG_NAME =>
            {
                Self::Refused(e)
            }
            Some(_) => Self::Other(io_err(e)),
            // Below the protocol: the socket (refused, unreachable, DNS, the timeout).
            None if e.source().is_some_and(|s| s.is::<io::Error>()) => Self::Unreachable(e),
            // The client's side of the login (a password the server asks for and the
            // connection string lacks, an authentication method it cannot do).
            None => Self::Refused(e),
        }
    }

    /// Sorts a failure of a statement run while setting up.
    pub(crate) fn setting_up(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(&SqlState::INSUFFICIENT_PRIVILEGE) => Self::Schema { why: cause(&e) },
            _ => Self::Other(io_err(e)),
        }
    }
}

/// Checks the lock tables; creates them if any is missing, and upgrades a lock table of
/// the first version (logged) to unlogged.
pub(crate) async fn install(client: &Client) -> Result<(), ConnectError> {
    let state = first_row(client, sql::SCHEMA_STATE).await.map_err(ConnectError::setting_up)?;
    let column = |i: usize| state.get(i).map(String::as_str);
    match (column(0), column(1), column(2)) {
        (Some("t"), Some("t"), Some("f")) => Ok(()),
        (Some("t"), Some("t"), _) => {
            client.batch_execute(sql::SCHEMA).await.map_err(|e| match e.code() {
                Some(&SqlState::INSUFFICIENT_PRIVILEGE) => ConnectError::Schema {
                    why: format!(
                        "sessionlock_locks is a logged table from an earlier version, which \
                         only its owner may make unlogged ({}): run the SQL `sessionlock \
                         schema` prints as its owner",
                        cause(&e)
                    ),
                },
                _ => ConnectError::setting_up(e),
            })
        }
        (Some("t"), _, _) => Err(ConnectError::Schema {
            why: "this role may not use the lock tables (SELECT, INSERT and DELETE on \
                  sessionlock_locks, USAGE on sessionlock_generation, EXECUTE on \
                  pg_logical_emit_message)"
                .to_owned(),
        }),
        _ => client.batch_execute(sql::SCHEMA).await.map_err(ConnectError::setting_up),
    }
}

/// The first row of `query`, run with the simple protocol (no prepared statement, so
/// that it works whatever sits in front of the server), as text.
async fn first_row(client: &Client, query: &str) -> Result<Vec<String>, tokio_postgres::Error> {
    for message in client.simple_query(query).await? {
        if let SimpleQueryMessage::Row(row) = message {
            return Ok((0..row.len()).map(|i| row.get(i).unwrap_or_default().to_owned()).collect());
        }
    }
    Ok(Vec::new())
}

/// The advisory-lock class of the pooler check (`K` in the module docs): "sl" in ASCII
/// plus one, beside the schema installer's key.
const PROBE_CLASS: i32 = 1_936_028_013;

/// What the pooler check saw (the module docs' steps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PoolProbe {
    /// A's backend pid in step 1.
    pub a_first: i32,
    /// Whether A got `(K, a)` in step 1.
    pub a_locked: bool,
    /// B's backend pid in step 2.
    pub b: i32,
    /// Whether B got `(K, a)` in step 2.
    pub b_locked: bool,
    /// A's backend pid in step 3.
    pub a_again: i32,
    /// Whether A's unlock in step 3 found the lock held by its session.
    pub a_unlocked: bool,
}

impl PoolProbe {
    /// Runs the check over `a` and `b`, two connections of this client, with the simple
    /// protocol (a transaction-mode pooler may break prepared statements).
    pub(crate) async fn run(a: &Client, b: &Client) -> Result<Self, tokio_postgres::Error> {
        let k = PROBE_CLASS;
        let row = first_row(
            a,
            &format!("SELECT pg_backend_pid(), pg_try_advisory_lock({k}, pg_backend_pid())"),
        )
        .await?;
        let (a_first, a_locked) = (pid(&row, 0), flag(&row, 1));
        let row = first_row(
            b,
            &format!(
                "SELECT pid, got AND pg_advisory_unlock({k}, {a_first}) FROM \
             (SELECT pg_backend_pid() AS pid, pg_try_advisory_lock({k}, {a_first}) AS got) AS t"
            ),
        )
        .await?;
        let (b, b_locked) = (pid(&row, 0), flag(&row, 1));
        let row =
            first_row(a, &format!("SELECT pg_backend_pid(), pg_advisory_unlock({k}, {a_first})"))
                .await?;
        let (a_again, a_unlocked) = (pid(&row, 0), flag(&row, 1));
        Ok(Self { a_first, a_locked, b, b_locked, a_again, a_unlocked })
    }

    /// What proves a pooler, if anything: each answer that direct connections never give.
    pub(crate) fn verdict(&self) -> Result<(), ConnectError> {
        let mut tells = Vec::new();
        if self.a_again != self.a_first {
            tells.push(format!(
                "one connection's backend changed from pid {} to {}",
                self.a_first, self.a_again
            ));
        }
        if self.b == self.a_first {
            tells.push(format!("two connections share backend pid {}", self.b));
        }
        if !self.a_locked || self.b_locked || !self.a_unlocked {
            tells.push("a session-level advisory lock did not stay with its session".to_owned());
        }
        if tells.is_empty() { Ok(()) } else { Err(ConnectError::Pooler(tells.join("; "))) }
    }
}

/// Column `i` of a text row as a backend pid (0 if absent: never a backend's).
fn pid(row: &[String], i: usize) -> i32 {
    row.get(i).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Column `i` of a text row as a boolean.
fn flag(row: &[String], i: usize) -> bool {
    row.get(i).is_some_and(|v| v == "t")
}

/// A statement's failure as an I/O error: a closed connection reads as
/// `ConnectionAborted`, anything else as `Other`, the server's message kept.
pub(crate) fn io_err(e: tokio_postgres::Error) -> io::Error {
    let kind = if e.is_closed() { io::ErrorKind::ConnectionAborted } else { io::ErrorKind::Other };
    io::Error::new(kind, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIRECT: PoolProbe = PoolProbe {
        a_first: 10,
        a_locked: true,
        b: 11,
        b_locked: false,
        a_again: 10,
        a_unlocked: true,
    };

    /// Direct connections pass; every single answer that only a pooler gives is refused.
    #[test]
    fn the_pooler_check_refuses_exactly_what_direct_connections_never_answer() {
        assert!(DIRECT.verdict().is_ok());
        let pooled = [
            PoolProbe { a_again: 11, ..DIRECT },
            PoolProbe { b: 10, ..DIRECT },
            PoolProbe { a_locked: false, ..DIRECT },
            PoolProbe { b_locked: true, ..DIRECT },
            PoolProbe { a_unlocked: false, ..DIRECT },
        ];
        for probe in pooled {
            let refused = probe.verdict();
            assert!(matches!(refused, Err(ConnectError::Pooler(_))), "{probe:?} passed");
        }
    }
}
