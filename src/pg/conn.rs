//! Connections: the background runtime that drives them, the pool, the prepared
//! statements, and the asynchronous unlock that ends a hold.
//!
//! Every connection is driven by a task on [`Shared::rt`], a runtime owned by the `PgFs`,
//! so the primitives' futures (which only talk to a connection through channels) can be
//! awaited on any executor, or by the blocking API, which has none.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;
use tokio_postgres::{Client, Config, NoTls, Statement};

use super::setup::{self, ConnectError};
use super::sql;

/// One open connection and its prepared statements.
pub(crate) struct Conn {
    pub(crate) client: Client,
    pub(crate) st: Statements,
}

/// The statements every primitive runs, prepared once per connection so that each
/// primitive costs one round trip.
pub(crate) struct Statements {
    pub(crate) publish: Statement,
    pub(crate) open: Statement,
    pub(crate) path_id: Statement,
    pub(crate) tickets: Statement,
    pub(crate) try_lock: Statement,
    pub(crate) lock: Statement,
    pub(crate) delete: Statement,
    pub(crate) delete_if: Statement,
    pub(crate) unlock_all: Statement,
}

/// What every handle and every primitive of one `PgFs` shares.
pub(crate) struct Shared {
    /// The runtime that drives the connections (owned by the `PgFs`; see `RuntimeOwner`).
    pub(crate) rt: tokio::runtime::Handle,
    config: Config,
    idle: Mutex<Vec<Conn>>,
    /// Generations this process is still unlocking: see [`Shared::unlock_later`].
    pending: Mutex<HashMap<i64, usize>>,
    settled: Notify,
    /// How many connections were opened, for diagnostics.
    opened: std::sync::atomic::AtomicU64,
    /// How many statements a primitive sent and awaited the answer of, for diagnostics.
    round_trips: std::sync::atomic::AtomicU64,
    /// This host's name, written into each lock row for diagnostics.
    pub(crate) host: String,
}

/// The most idle connections kept for reuse.
const MAX_IDLE: usize = 32;

impl Shared {
    pub(crate) fn new(rt: tokio::runtime::Handle, config: Config) -> Self {
        Self {
            rt,
            config,
            idle: Mutex::new(Vec::new()),
            pending: Mutex::new(HashMap::new()),
            settled: Notify::new(),
            opened: std::sync::atomic::AtomicU64::new(0),
            round_trips: std::sync::atomic::AtomicU64::new(0),
            host: host_name(),
        }
    }

    /// An idle connection, or a new one. Connections whose server went away are dropped.
    pub(crate) async fn get(&self) -> io::Result<Conn> {
        loop {
            let conn = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            match conn {
                Some(conn) if conn.client.is_closed() => continue,
                Some(conn) => return Ok(conn),
                None => return self.connect().await,
            }
        }
    }

    /// Opens a connection on the runtime and prepares every statement (pipelined).
    pub(crate) async fn connect(&self) -> io::Result<Conn> {
        let config = self.config.clone();
        self.opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let task = self.rt.spawn(async move { prepare(open(&config).await?).await });
        Ok(AbortOnDrop(task).await?)
    }

    /// The first two connections of a [`PgFs`](super::PgFs), set up on the runtime:
    /// the lock tables checked (and created if missing), the pooler check passed.
    pub(crate) async fn first(&self) -> Result<[Conn; 2], ConnectError> {
        let config = self.config.clone();
        self.opened.fetch_add(2, std::sync::atomic::Ordering::Relaxed);
        let task = self.rt.spawn(async move {
            let a = open(&config).await?;
            setup::install(&a).await?;
            let b = open(&config).await?;
            // Before anything is prepared: a transaction-mode pooler would fail the
            // prepared statements with a message that names no pooler.
            setup::PoolProbe::run(&a, &b).await.map_err(ConnectError::setting_up)?.verdict()?;
            Ok([prepare(a).await?, prepare(b).await?])
        });
        AbortOnDrop(task).await
    }

    /// Returns a connection that holds no advisory lock to the pool.
    pub(crate) fn put(&self, conn: Conn) {
        if conn.client.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// How many connections were opened so far.
    pub(crate) fn opened(&self) -> u64 {
        self.opened.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts one statement whose answer a primitive awaits (an unlock sent by
    /// [`Shared::unlock_later`] is not awaited, so not counted).
    pub(crate) fn round_trip(&self) {
        self.round_trips.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many statements primitives awaited so far.
    pub(crate) fn round_trips(&self) -> u64 {
        self.round_trips.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many connections are idle in the pool now.
    pub(crate) fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Ends a hold: unlocks every advisory lock of `conn` and returns it to the pool,
    /// without making the caller wait for the round trip.
    ///
    /// Ordered within this process: until the unlock has been answered, every lock
    /// attempt of this process on `generation` waits ([`Shared::settled`]), so a close
    /// followed by another handle's `try_lock` behaves as Linux's `close` + `flock` do.
    /// Another process sees the generation free when the server has run the unlock;
    /// one that was waiting for it is woken then. Should the unlock fail, the connection
    /// is dropped, which ends its session and so releases its locks anyway.
    pub(crate) fn unlock_later(self: &Arc<Self>, generation: Option<i64>, conn: Conn) {
        let pending = generation.map(|g| Pending::begin(Arc::clone(self), g));
        let shared = Arc::clone(self);
        self.rt.spawn(async move {
            let unlocked = conn.client.execute(&conn.st.unlock_all, &[]).await;
            drop(pending);
            match unlocked {
                Ok(_) => shared.put(conn),
                Err(error) => tracing::debug!(%error, "unlock failed; connection dropped"),
            }
        });
    }

    /// Waits until this process has no unlock of `generation` in flight.
    pub(crate) async fn settled(&self, generation: i64) {
        loop {
            let notified = self.settled.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if !self
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains_key(&generation)
            {
                return;
            }
            notified.await;
        }
    }
}

/// An unlock in flight; dropping it (when the unlock is answered, or when its task is
/// dropped with the runtime) lets the generation's lock attempts go on.
struct Pending {
    shared: Arc<Shared>,
    generation: i64,
}

impl Pending {
    fn begin(shared: Arc<Shared>, generation: i64) -> Self {
        *shared
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(generation)
            .or_default() += 1;
        Self { shared, generation }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut pending = self.shared.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = pending.get_mut(&self.generation) {
            *n -= 1;
            if *n == 0 {
                pending.remove(&self.generation);
            }
        }
        drop(pending);
        self.shared.settled.notify_waiters();
    }
}

/// Opens a connection, driven by a task of the current runtime.
async fn open(config: &Config) -> Result<Client, ConnectError> {
    let (client, connection) = config.connect(NoTls).await.map_err(ConnectError::opening)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "postgres connection ended");
        }
    });
    Ok(client)
}

/// Prepares every statement on `client` (pipelined: one round trip in all).
async fn prepare(client: Client) -> Result<Conn, ConnectError> {
    let (publish, open, path_id, tickets, try_lock, lock, delete, delete_if, unlock_all) = tokio::join!(
        client.prepare(sql::PUBLISH),
        client.prepare(sql::OPEN),
        client.prepare(sql::PATH_ID),
        client.prepare(sql::TICKETS),
        client.prepare(sql::TRY_LOCK),
        client.prepare(sql::LOCK),
        client.prepare(sql::DELETE),
        client.prepare(sql::DELETE_IF),
        client.prepare(sql::UNLOCK_ALL),
    );
    let up = ConnectError::setting_up;
    let st = Statements {
        publish: publish.map_err(up)?,
        open: open.map_err(up)?,
        path_id: path_id.map_err(up)?,
        tickets: tickets.map_err(up)?,
        try_lock: try_lock.map_err(up)?,
        lock: lock.map_err(up)?,
        delete: delete.map_err(up)?,
        delete_if: delete_if.map_err(up)?,
        unlock_all: unlock_all.map_err(up)?,
    };
    Ok(Conn { client, st })
}

/// A task on the runtime, aborted if its awaiter goes away.
pub(crate) struct AbortOnDrop<T>(pub(crate) tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T, E: From<io::Error>> std::future::Future for AbortOnDrop<Result<T, E>> {
    type Output = Result<T, E>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
            Ok(result) => result,
            Err(e) => Err(io::Error::other(e).into()),
        })
    }
}

/// The kernel's host name, for the lock rows' `host` column (diagnostics only).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
