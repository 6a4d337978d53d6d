//! `run --postgres` stops its command when the lock is lost while it runs.
//!
//! The lock is held by `run`'s connection; a server restart, a failover or
//! `pg_terminate_backend` can end that session while the command runs, and nothing tells
//! the command. So `run` waits in the server, on a connection of its own, for the lock's
//! generation (`pg_advisory_lock`): the wait ends only when the holding session has let
//! go, and `run` lets go only after the command has exited. Waking up while the command
//! runs therefore means the lock was lost, and the watcher kills the command (`SIGKILL`:
//! no write of its may follow the loss), then lets go of the generation at once.
//!
//! | the wait ends                        | when                                   | the watcher             |
//! |--------------------------------------|----------------------------------------|-------------------------|
//! | with the lock                        | the holding session ended              | kills the command; reports it |
//! | with an error (its own session ended)| a server restart, a failover, a kill   | kills the command (the lock cannot be shown held); reports it |
//! | cancelled by `run`                   | the command exited; before the release | nothing                 |
//!
//! The wait is cancelled, and answered, before `run` releases, so the watcher never
//! takes the generation from a release and never delays a waiting contender.

use std::io;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};
use tokio_postgres::NoTls;

/// The running watcher of one held lock.
pub struct Watch {
    pid: Option<mpsc::Sender<u32>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Option<String>>>,
}

impl Watch {
    /// Connects to `url` and gets ready to wait for `generation`'s advisory lock. The
    /// wait begins with [`Watch::guard`].
    ///
    /// # Errors
    /// The watcher could not connect (the command is then not started).
    pub fn start(url: &str, generation: u64) -> io::Result<Self> {
        let generation = i64::try_from(generation).map_err(io::Error::other)?;
        let url = url.to_owned();
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
        let (pid_tx, pid_rx) = mpsc::channel::<u32>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread =
            std::thread::Builder::new().name("watch-lock".to_owned()).spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return None;
                    }
                };
                rt.block_on(watch(url, generation, ready_tx, pid_rx, stop_rx))
            })?;
        let watch = Self { pid: Some(pid_tx), stop: Some(stop_tx), thread: Some(thread) };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(watch),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other("the lock watcher ended before it was ready")),
        }
    }

    /// Starts waiting; `pid` (the command, an unreaped child) is killed if the lock is
    /// lost.
    pub fn guard(&mut self, pid: u32) {
        if let Some(tx) = self.pid.take() {
            let _ = tx.send(pid);
        }
    }

    /// Cancels the wait and waits until it has ended. Returns what the watcher saw, if
    /// the lock was lost (the command was killed then).
    pub fn stop(mut self) -> Option<String> {
        self.pid.take();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.thread.take().and_then(|t| t.join().ok().flatten())
    }
}

/// The watcher's thread: connect, report ready, wait for the pid, then wait in the
/// server until the lock is free or `stop` arrives.
async fn watch(
    url: String,
    generation: i64,
    ready: mpsc::Sender<io::Result<()>>,
    pid: mpsc::Receiver<u32>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Option<String> {
    let connected = async {
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
        let driver = tokio::spawn(connection);
        // The wait has no deadline: no server or role default may end it early.
        client.batch_execute("SET statement_timeout = 0; SET lock_timeout = 0").await?;
        Ok::<_, tokio_postgres::Error>((client, driver))
    };
    let (client, driver) = match connected.await {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(io::Error::other(e)));
            return None;
        }
    };
    let _ = ready.send(Ok(()));
    // Blocking, but only until `run` has started the command (or given up).
    let pid = pid.recv().ok()?;
    let cancel = client.cancel_token();
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&generation];
    let lost = {
        let wait = client.query_one("SELECT pg_advisory_lock($1)", &params);
        let mut wait = std::pin::pin!(wait);
        let ended = tokio::select! {
            ended = &mut wait => Some(ended),
            _ = &mut stop => None,
        };
        match ended {
            Some(Ok(_)) => Some("its session ended".to_owned()),
            Some(Err(e)) => Some(format!("the lock could no longer be watched ({e})")),
            // Cancel until the wait has ended: a cancel that arrives before it starts
            // is lost. Got in the race with the cancel: the holder let go meanwhile.
            None => loop {
                let _ = cancel.cancel_query(NoTls).await;
                let ended = tokio::time::timeout(Duration::from_millis(50), &mut wait).await;
                if let Ok(ended) = ended {
                    break ended.is_ok().then(|| "its session ended".to_owned());
                }
            },
        }
    };
    if lost.is_some() {
        kill(pid);
    }
    // Ends the session, and with it any hold on the generation.
    drop(client);
    driver.abort();
    lost
}

fn kill(pid: u32) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        // Our unreaped child: the pid cannot have been reused.
        let _ = kill_process(pid, Signal::KILL);
    }
}
