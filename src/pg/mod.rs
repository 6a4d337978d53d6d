//! The PostgreSQL adapter (feature `postgres`): [`PgFs`], the same verified core over
//! lock rows and advisory locks, for writers on several hosts.
//!
//! Kernel `flock` and pids prove nothing across hosts. Here the proof of life is a
//! database session: a holder keeps the advisory lock of its row's generation on a
//! connection of its own, and the server drops it when that session ends (the process
//! is killed, the host crashes, `pg_terminate_backend`, a server restart).
//!
//! | `LockFs` primitive | PostgreSQL                                                     |
//! |--------------------|----------------------------------------------------------------|
//! | lock file          | a row of `sessionlock_locks`, keyed by the session key (`path`) |
//! | inode (`FileId`)   | the row's generation, from a sequence, never reused (`dev` 0)   |
//! | `publish`          | one statement: `nextval`, `pg_advisory_lock(generation)`, a WAL message so that its commit flushes, `INSERT ... ON CONFLICT DO NOTHING`; a conflict is `Exists` |
//! | `open`             | `SELECT` the row: a snapshot (rows never change)               |
//! | `try_lock`         | `pg_try_advisory_lock(generation)` on a pooled connection, which the handle keeps while it holds |
//! | `lock_until`       | `pg_advisory_lock(generation)`, waiting in the server, bounded by `lock_timeout` and cancelled if the future is dropped; a `SELECT generation` at the key is pipelined right behind it on the same connection, a look taken as soon as the lock is granted |
//! | `meta`, `read`     | the snapshot: generation, creation time (server clock), payload |
//! | `path_id`          | `SELECT generation` at the key                                 |
//! | `tickets`          | `SELECT path, generation` of the rows whose keys are the key followed by `.q.` |
//! | `unlink`           | compare-and-delete: `DELETE ... WHERE path AND generation`, run on the connection that holds the lock |
//! | `unlink_if`        | one statement on that connection: the compare-and-delete, and the generation the key named before it (the default would be `path_id` on another pooled connection, then `unlink`); none after a `lock_until` whose look found the key no longer naming the generation |
//! | `close`, drop      | `pg_advisory_unlock_all()`, then the connection is pooled again |
//! | `pid_state`        | never judged: a pid from another host means nothing here       |
//! | `lease`            | the trait's default, `Unavailable`: a row has no writers to probe. The judge treats it as "no writer", so the only proof of death stays the free advisory lock |
//!
//! ## The judge's rules, for rows
//!
//! - A free advisory lock on a row's generation proves its holder's session ended: the
//!   row is stale ([`Reason::KernelProvenDead`](crate::core::Reason::KernelProvenDead)),
//!   taken over at once, with no age threshold.
//! - A held one proves a live session: the contender waits in the server, in
//!   `pg_advisory_lock`, and is woken by the release or the holder's death.
//! - A pid is never judged: [`PgFs::pid_state`](crate::fs::LockFs::pid_state) answers
//!   "alive, start time unknown" for every pid, so a row without the advisory-lock
//!   marker in its payload (which sessionlock never writes) is never broken by pid.
//! - Age is reported (`TooOld`, `HoldExceeded`), never acted on.
//!
//! ## Connections
//!
//! Advisory locks re-enter within one session, so every held lock has a connection of
//! its own, taken from a pool: an uncontended acquire does not connect. A connection
//! goes back to the pool only after `pg_advisory_unlock_all()` succeeded. A runtime
//! owned by the `PgFs` (one worker thread) drives the connections, so the primitives'
//! futures can be awaited on any executor, and the blocking API needs none.
//!
//! ## What it does not survive
//!
//! - **A server restart or failover** drops every advisory lock: every holder has lost
//!   its lock, and [`append_fenced`] rejects its token. After a clean restart the rows
//!   stay, provably dead; after a crash or failover the lock table (`UNLOGGED`: its
//!   rows write no WAL) is empty. Generations survive: the sequence is logged, and each
//!   publish commits with a WAL flush that covers its generation (see `sql::PUBLISH`).
//! - **A partitioned client** is noticed only through the server's TCP keepalive
//!   (`tcp_keepalives_idle` and friends); until then its lock is held.
//! - **Transaction-mode poolers** (pgbouncer) break session-level advisory locks:
//!   [`PgFs::connect`] refuses one it can tell ([`ConnectError::Pooler`]); connect
//!   directly, or through session pooling.
//!
//! A lock cannot stop a paused or partitioned holder from writing after a takeover; the
//! store must check the writer's token at commit: see [`append_fenced`] and
//! [`check_fence`].

mod conn;
mod fence;
mod handle;
mod setup;
mod sql;

use std::io;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::error::SqlState;

pub use fence::{FenceError, append_fenced, check_fence};
pub(crate) use handle::PgHandle;
pub use setup::ConnectError;
pub use sql::SCHEMA;

use self::conn::{Conn, Shared};
use self::handle::id_of;
use self::setup::io_err;
use crate::api::{self, Builder};
use crate::core::Registry;
use crate::core::protocol::HeldFile;
use crate::fs::{Clock, FileId, FileMeta, FsError, FsOp, FsResult, LockFs, LockPath, Moment};
use crate::fs::{Opened, PidState, ProcessId, Published, SessionFs, Ticket};
use crate::real::{RealClock, RealFs};

/// The session lock over PostgreSQL.
pub type PgSessionLock = api::SessionLock<PgFs, RealClock>;

/// Proof of holding a session's lock over PostgreSQL.
pub type PgSessionGuard = api::SessionGuard<PgFs, RealClock>;

/// How long [`PgFs::connect`] tries to reach the server when the connection string sets
/// no `connect_timeout`.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest session key accepted, in bytes.
pub(crate) const MAX_KEY_BYTES: usize = 1024;

/// A lock row as [`PgFs::rows`] lists it, for diagnostics: nothing in it is acted on
/// but `held`, and only by the core's own probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockRow {
    /// The session key.
    pub key: String,
    /// The row's generation: its holder's fencing token.
    pub generation: u64,
    /// The host its holder published from.
    pub host: String,
    /// Its holder's pid on that host (never judged here).
    pub pid: u32,
    /// How long ago it was published, by the server's clock (reported, never acted on).
    pub age: Duration,
    /// Whether a session holds the generation's advisory lock now. `false` proves the
    /// publishing session ended: the row is stale.
    pub held: bool,
}

/// Lock rows and advisory locks in one PostgreSQL database.
///
/// Cheap to clone; clones share the pool, the runtime and the registry. Build locks with
/// [`PgFs::session_lock`], so that every lock of this `PgFs` in the process shares one
/// registry.
#[derive(Clone)]
pub struct PgFs {
    shared: Arc<Shared>,
    registry: Arc<Registry<HeldFile<PgHandle>>>,
    _runtime: Arc<RuntimeOwner>,
}

impl std::fmt::Debug for PgFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgFs").field("idle", &self.shared.idle()).finish_non_exhaustive()
    }
}

/// Shuts the runtime down, without blocking, when the last `PgFs` clone goes (which may
/// happen inside an async task, where a blocking shutdown would panic).
struct RuntimeOwner(Option<tokio::runtime::Runtime>);

impl Drop for RuntimeOwner {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl PgFs {
    /// Connects to the database named by `url` (a libpq connection string or URL,
    /// without TLS), checks the lock tables (creating them if missing), refuses a
    /// transaction-mode pooler in front of the server, and keeps the first two
    /// connections in the pool. Without a `connect_timeout` in `url`, connecting gives
    /// up after 10 s (`CONNECT_TIMEOUT`).
    ///
    /// # Errors
    /// A [`ConnectError`] saying what is wrong and what to fix: the connection string,
    /// the server's reachability, the login, the lock tables, or a pooler.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(ConnectError::InvalidUrl)?;
        if config.get_application_name().is_none() {
            config.application_name("sessionlock");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sessionlock-pg")
            .enable_all()
            .build()?;
        let shared = Arc::new(Shared::new(rt.handle().clone(), config));
        let fs = Self {
            shared: Arc::clone(&shared),
            registry: Arc::default(),
            _runtime: Arc::new(RuntimeOwner(Some(rt))),
        };
        for conn in shared.first().await? {
            shared.put(conn);
        }
        Ok(fs)
    }

    /// [`PgFs::connect`] on the calling thread.
    ///
    /// # Errors
    /// As [`PgFs::connect`].
    pub fn connect_blocking(url: &str) -> Result<Self, ConnectError> {
        api::block_on(Self::connect(url))
    }

    /// The registry every lock of this `PgFs` in this process shares.
    pub(crate) fn registry(&self) -> Arc<Registry<HeldFile<PgHandle>>> {
        Arc::clone(&self.registry)
    }

    /// A session lock over this database, with `builder`'s options.
    pub fn session_lock(&self, builder: Builder) -> PgSessionLock {
        builder.build_shared(self.clone(), RealClock, self.registry())
    }

    /// How many connections sit idle in the pool now (for diagnostics and tests).
    pub fn idle_connections(&self) -> usize {
        self.shared.idle()
    }

    /// How many connections this `PgFs` has opened so far (for diagnostics and tests).
    pub fn connections_opened(&self) -> u64 {
        self.shared.opened()
    }

    /// How many round trips to the server this `PgFs`'s primitives have awaited so far
    /// (for diagnostics and tests). The unlock of a `close` is sent without waiting, and
    /// the look pipelined behind a `lock_until` rides on the wait's round trip: neither
    /// is counted.
    pub fn round_trips(&self) -> u64 {
        self.shared.round_trips()
    }

    /// The lock rows at `keys` (every row when `keys` is empty), sorted by key: what
    /// `sessionlock inspect --postgres` shows. A read that takes no lock and changes
    /// nothing; to remove dead rows, probe them through the core, as a contender does.
    ///
    /// # Errors
    /// The database failed.
    pub async fn rows(&self, keys: &[&str]) -> io::Result<Vec<LockRow>> {
        let rows = self
            .with_retry(|conn| async move {
                match conn.client.query(sql::ROWS, &[&keys]).await {
                    Ok(rows) => {
                        self.shared.put(conn);
                        Ok(rows)
                    }
                    Err(e) => Err((Some(conn), e)),
                }
            })
            .await?;
        Ok(rows
            .iter()
            .map(|row| LockRow {
                key: row.get(0),
                generation: row.get::<_, i64>(1).unsigned_abs(),
                host: row.get(2),
                pid: row.get::<_, i32>(3).unsigned_abs(),
                age: Duration::from_millis(row.get::<_, i64>(4).try_into().unwrap_or(0)),
                held: row.get(5),
            })
            .collect())
    }

    /// [`PgFs::rows`] on the calling thread.
    ///
    /// # Errors
    /// As [`PgFs::rows`].
    pub fn rows_blocking(&self, keys: &[&str]) -> io::Result<Vec<LockRow>> {
        api::block_on(self.rows(keys))
    }

    /// A pooled connection that failed before the server could run anything is
    /// replaced once: after a server restart, the pool may still hold connections
    /// whose end the client has not noticed yet.
    async fn with_retry<T, Fut>(&self, run: impl Fn(Conn) -> Fut) -> io::Result<T>
    where
        Fut: Future<Output = Result<T, (Option<Conn>, tokio_postgres::Error)>>,
    {
        let mut retried = false;
        loop {
            let conn = self.shared.get().await?;
            self.shared.round_trip();
            match run(conn).await {
                Ok(value) => return Ok(value),
                Err((conn, e)) if e.is_closed() && !retried => {
                    drop(conn);
                    retried = true;
                }
                Err((conn, e)) => {
                    if let Some(conn) = conn {
                        self.shared.put(conn);
                    }
                    return Err(io_err(e));
                }
            }
        }
    }

    fn handle(&self, path: &LockPath, generation: i64, payload: Vec<u8>, created: i64) -> PgHandle {
        PgHandle {
            shared: Arc::clone(&self.shared),
            path: path.clone(),
            generation,
            payload,
            created_ms: created.try_into().unwrap_or(0),
            held: std::sync::Mutex::new(None),
            looked: std::sync::Mutex::new(None),
        }
    }

    async fn publish_row(
        &self,
        path: &LockPath,
        payload: &[u8],
    ) -> io::Result<Published<PgHandle>> {
        let key = key_of(path)?;
        let pid = i32::try_from(self.process().pid).unwrap_or(i32::MAX);
        let host = self.shared.host.as_str();
        let shared = &self.shared;
        self.with_retry(|conn| async move {
            let row = conn.client.query_opt(&conn.st.publish, &[&key, &payload, &host, &pid]).await;
            match row {
                Ok(Some(row)) => Ok(Ok((row.get::<_, i64>(0), row.get::<_, i64>(1), conn))),
                Ok(None) => {
                    shared.unlock_later(None, conn); // the fresh generation's lock
                    Ok(Err(()))
                }
                Err(e) => Err((None, e)),
            }
        })
        .await
        .map(|outcome| match outcome {
            Ok((generation, created, conn)) => {
                let handle = self.handle(path, generation, payload.to_vec(), created);
                handle.keep(conn);
                Published::Created { handle, id: id_of(generation) }
            }
            Err(()) => Published::Exists,
        })
    }

    async fn open_row(&self, path: &LockPath) -> io::Result<Opened<PgHandle>> {
        let key = key_of(path)?;
        let row = self
            .with_retry(|conn| async move {
                match conn.client.query_opt(&conn.st.open, &[&key]).await {
                    Ok(row) => {
                        self.shared.put(conn);
                        Ok(row)
                    }
                    Err(e) => Err((Some(conn), e)),
                }
            })
            .await?;
        Ok(match row {
            Some(row) => Opened::File(self.handle(path, row.get(0), row.get(1), row.get(2))),
            None => Opened::Missing,
        })
    }

    async fn try_lock_row(&self, handle: &PgHandle) -> io::Result<bool> {
        if handle.is_locked() {
            return Ok(true);
        }
        self.shared.settled(handle.generation).await;
        let generation = handle.generation;
        let got = self
            .with_retry(|conn| async move {
                match conn.client.query_one(&conn.st.try_lock, &[&generation]).await {
                    Ok(row) if row.get::<_, bool>(0) => Ok(Some(conn)),
                    Ok(_) => {
                        self.shared.put(conn);
                        Ok(None)
                    }
                    Err(e) => Err((Some(conn), e)),
                }
            })
            .await?;
        Ok(match got {
            Some(conn) => {
                handle.keep(conn);
                true
            }
            None => false,
        })
    }

    async fn lock_row_until(&self, handle: &PgHandle, deadline: Moment) -> io::Result<bool> {
        if handle.is_locked() {
            return Ok(true);
        }
        let remaining = deadline.saturating_since(RealClock.now());
        if remaining.is_zero() {
            return self.try_lock_row(handle).await;
        }
        let key = key_of(&handle.path)?.to_owned();
        self.shared.settled(handle.generation).await;
        let (abandon, abandoned) = tokio::sync::oneshot::channel::<()>();
        let task = self.shared.rt.spawn(wait_for_lock(
            Arc::clone(&self.shared),
            handle.generation,
            key,
            remaining,
            abandoned,
        ));
        let outcome = WaitTask { task, _abandon: abandon }.await?;
        Ok(match outcome {
            Some((conn, looked)) => {
                handle.keep(conn);
                handle.set_looked(looked);
                true
            }
            None => false,
        })
    }

    async fn path_generation(&self, path: &LockPath) -> io::Result<Option<FileId>> {
        let key = key_of(path)?;
        let row = self
            .with_retry(|conn| async move {
                match conn.client.query_opt(&conn.st.path_id, &[&key]).await {
                    Ok(row) => {
                        self.shared.put(conn);
                        Ok(row)
                    }
                    Err(e) => Err((Some(conn), e)),
                }
            })
            .await?;
        Ok(row.map(|row| id_of(row.get(0))))
    }

    async fn ticket_rows(&self, lock: &LockPath) -> io::Result<Vec<(Ticket, FileId)>> {
        let key = key_of(lock)?;
        let prefix = format!("{key}.q.");
        let prefix = &prefix;
        let rows = self
            .with_retry(|conn| async move {
                match conn.client.query(&conn.st.tickets, &[prefix]).await {
                    Ok(rows) => {
                        self.shared.put(conn);
                        Ok(rows)
                    }
                    Err(e) => Err((Some(conn), e)),
                }
            })
            .await?;
        let mut found: Vec<(Ticket, FileId)> = rows
            .iter()
            .filter_map(|row| {
                let path: &str = row.get(0);
                let ticket = Ticket::after(path.as_bytes().strip_prefix(key.as_bytes())?)?;
                Some((ticket, id_of(row.get(1))))
            })
            .collect();
        found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    async fn delete_row(&self, path: &LockPath, held: &PgHandle) -> io::Result<()> {
        let key = key_of(path)?;
        let Some(conn) = held.take() else {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "unlink without holding the row's advisory lock",
            ));
        };
        self.shared.round_trip();
        let deleted = conn.client.execute(&conn.st.delete, &[&key, &held.generation]).await;
        match deleted {
            Ok(1) => {
                held.keep(conn);
                Ok(())
            }
            Ok(_) => {
                held.keep(conn);
                Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no lock row of generation {} at the key", held.generation),
                ))
            }
            // The holding session is gone (terminated, server restarted): so is the lock.
            Err(e) => Err(io_err(e)),
        }
    }

    async fn delete_if_row(
        &self,
        path: &LockPath,
        held: &PgHandle,
        id: FileId,
    ) -> io::Result<Option<FileId>> {
        let key = key_of(path)?;
        if id != held.id() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "compare-and-delete of {id:?} through the handle of generation {}",
                    held.generation
                ),
            ));
        }
        if !held.is_locked() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "unlink without holding the row's advisory lock",
            ));
        }
        // The key stopped naming our generation at a look taken while we held its lock
        // (behind our `lock_until`). Only a holder of that lock deletes the row, and a
        // generation is never published twice, so the key names it no more, now or ever:
        // that look is the answer, and nothing is deleted.
        if let Some(found) = held.looked()
            && found != Some(held.generation)
        {
            return Ok(found.map(id_of));
        }
        let Some(conn) = held.take() else {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "unlink without holding the row's advisory lock",
            ));
        };
        self.shared.round_trip();
        let row = match conn.client.query_one(&conn.st.delete_if, &[&key, &held.generation]).await {
            Ok(row) => {
                held.keep(conn);
                row
            }
            // The statement failed, so it deleted nothing; most likely the holding
            // session is gone (terminated, server restarted), and so is the lock. Answer
            // as the default would have: its look at the key comes first, on a pooled
            // connection, and a key naming another generation (a takeover) is reported,
            // not the failure; only a key still naming ours goes on to the failed delete.
            Err(e) => {
                drop(conn);
                return match self.path_generation(path).await? {
                    Some(found) if found != id => Ok(Some(found)),
                    None => Ok(None),
                    Some(_) => Err(io_err(e)),
                };
            }
        };
        Ok(match (row.get::<_, bool>(0), row.get::<_, Option<i64>>(1)) {
            (true, _) => Some(id),
            // Our row, deleted by another session meanwhile (never by the protocol,
            // which deletes only under the advisory lock we hold): gone now.
            (false, Some(generation)) if generation == held.generation => None,
            (false, found) => found.map(id_of),
        })
    }
}

/// The session key a lock path stands for.
fn key_of(path: &LockPath) -> io::Result<&str> {
    path.as_path().to_str().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "a lock key must be valid UTF-8")
    })
}

/// Waits in the server for `generation`'s advisory lock, for at most `remaining`.
///
/// The server bounds the wait (`lock_timeout`); if the awaiting future is dropped, the
/// query is cancelled, and a lock got in the race is unlocked, so nothing is left held.
/// `Some(conn)`: the lock is held by `conn`.
async fn wait_for_lock(
    shared: Arc<Shared>,
    generation: i64,
    key: String,
    remaining: Duration,
    mut abandoned: tokio::sync::oneshot::Receiver<()>,
) -> io::Result<Option<Granted>> {
    let conn = shared.get().await?;
    shared.round_trip();
    let ms = remaining.as_millis().clamp(1, i32::MAX as u128).to_string();
    let cancel = conn.client.cancel_token();
    let mut cancelled = false;
    let (outcome, look) = {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&generation, &ms];
        // The look at the key is sent right behind the lock, on the same connection, so
        // the server runs it as soon as the lock is granted, and its answer arrives with
        // the lock's: no round trip of its own. If the lock is not granted, it is wasted.
        let lock = conn.client.query_one(&conn.st.lock, &params);
        let look_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&key];
        let look = conn.client.query_opt(&conn.st.path_id, &look_params);
        let query = async { tokio::join!(lock, look) };
        let mut query = std::pin::pin!(query);
        // A safety net only: the server's lock_timeout ends the wait first.
        let backstop = tokio::time::sleep(remaining + Duration::from_secs(2));
        let gave_up = tokio::select! {
            done = &mut query => Some(done),
            _ = backstop => None,
            _ = &mut abandoned => None,
        };
        match gave_up {
            Some(done) => done,
            None => {
                // Cancel until the query ends: a cancel that arrives before the query
                // starts is lost, so it is sent again.
                cancelled = true;
                loop {
                    let _ = cancel.cancel_query(tokio_postgres::NoTls).await;
                    let wait = tokio::time::timeout(Duration::from_millis(50), &mut query);
                    if let Ok(done) = wait.await {
                        break done;
                    }
                }
            }
        }
    };
    let still_wanted =
        abandoned.try_recv() != Err(tokio::sync::oneshot::error::TryRecvError::Closed);
    let looked = look.ok().map(|row| row.map(|row| row.get::<_, i64>(0)));
    match outcome {
        Ok(_) if still_wanted => Ok(Some((conn, looked))),
        Ok(_) => {
            shared.unlock_later(Some(generation), conn);
            Ok(None)
        }
        // The deadline (our `lock_timeout`), or our own cancel. A cancel we did not send
        // (a `statement_timeout` set on the server, an administrator) is an error, not a
        // timeout: the deadline may be far off.
        Err(e)
            if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
                || (cancelled && e.code() == Some(&SqlState::QUERY_CANCELED)) =>
        {
            shared.put(conn);
            Ok(None)
        }
        Err(e) => Err(io_err(e)),
    }
}

/// A wait that got the lock: the connection holding it, and what the look at the key sent
/// behind the wait found (`None` if that look failed).
type Granted = (Conn, Option<Option<i64>>);

/// The awaiting side of [`wait_for_lock`]: dropping it drops `_abandon`, which tells the
/// task to cancel; the task is never aborted, so it always cleans up.
struct WaitTask {
    task: tokio::task::JoinHandle<io::Result<Option<Granted>>>,
    _abandon: tokio::sync::oneshot::Sender<()>,
}

impl Future for WaitTask {
    type Output = io::Result<Option<Granted>>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.task)
            .poll(cx)
            .map(|joined| joined.map_err(io::Error::other)?)
    }
}

fn err(op: FsOp, path: &LockPath) -> impl FnOnce(io::Error) -> FsError + '_ {
    move |e| FsError::new(op, path, e)
}

impl LockFs for PgFs {
    type Handle = PgHandle;

    async fn publish(&self, path: &LockPath, payload: &[u8]) -> FsResult<Published<PgHandle>> {
        self.publish_row(path, payload).await.map_err(err(FsOp::Publish, path))
    }

    async fn open(&self, path: &LockPath) -> FsResult<Opened<PgHandle>> {
        self.open_row(path).await.map_err(err(FsOp::Open, path))
    }

    async fn try_lock(&self, handle: &PgHandle) -> FsResult<bool> {
        self.try_lock_row(handle).await.map_err(err(FsOp::TryLock, &handle.path))
    }

    async fn lock_until(&self, handle: &PgHandle, deadline: Moment) -> FsResult<bool> {
        self.lock_row_until(handle, deadline).await.map_err(err(FsOp::LockUntil, &handle.path))
    }

    async fn meta(&self, handle: &PgHandle) -> FsResult<FileMeta> {
        Ok(handle.meta())
    }

    async fn path_id(&self, path: &LockPath) -> FsResult<Option<FileId>> {
        self.path_generation(path).await.map_err(err(FsOp::PathId, path))
    }

    async fn tickets(&self, lock: &LockPath) -> FsResult<Vec<(Ticket, FileId)>> {
        self.ticket_rows(lock).await.map_err(err(FsOp::Tickets, lock))
    }

    async fn read(&self, handle: &PgHandle, limit: usize) -> FsResult<Vec<u8>> {
        Ok(handle.payload[..handle.payload.len().min(limit)].to_vec())
    }

    async fn unlink(&self, path: &LockPath, held: &PgHandle) -> FsResult<()> {
        self.delete_row(path, held).await.map_err(err(FsOp::Unlink, path))
    }

    /// One statement, `DELETE_IF`, on the connection that holds the lock, in place of the
    /// default's `path_id` (on another pooled connection) and then `unlink`.
    async fn unlink_if(
        &self,
        path: &LockPath,
        held: &PgHandle,
        id: FileId,
    ) -> FsResult<Option<FileId>> {
        self.delete_if_row(path, held, id).await.map_err(err(FsOp::Unlink, path))
    }

    /// Unlocks without waiting for the server's answer; see `Shared::unlock_later` for
    /// why that is still ordered before this process's next lock attempt. A failed
    /// unlock ends the connection, which unlocks too, so there is nothing to report.
    async fn close(&self, handle: PgHandle) -> FsResult<()> {
        handle.unlock();
        Ok(())
    }

    fn process(&self) -> ProcessId {
        RealFs.process()
    }

    /// Never judged: see the module docs.
    async fn pid_state(&self, _pid: u32) -> PidState {
        PidState::Alive { starttime: None }
    }
}

impl SessionFs for PgFs {
    /// The session key itself: a lock row is named by the session's key, the same on
    /// every host (no `.lock` suffix, no path resolution). It must be valid UTF-8,
    /// non-empty, without NUL, and at most 1024 bytes (`MAX_KEY_BYTES`) long.
    fn lock_path_for(&self, session: &Path) -> io::Result<LockPath> {
        let key = session.to_str().ok_or_else(|| invalid("a session key must be valid UTF-8"))?;
        if key.is_empty() {
            return Err(invalid("a session key must not be empty"));
        }
        if key.contains('\0') {
            return Err(invalid("a session key must not contain NUL"));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(invalid("a session key must be at most 1024 bytes"));
        }
        Ok(LockPath::from_canonical(key))
    }
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, why.to_owned())
}
