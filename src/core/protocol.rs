//! The filesystem half of the protocol, run only by the task holding a path's turn.
//!
//! Lock file lifecycle (see `spec/protocol.md` for why each step keeps the invariants):
//!
//! | state on disk                          | entered by                 | left by                              |
//! |----------------------------------------|----------------------------|--------------------------------------|
//! | absent                                 | release, break             | [`publish`] (atomic, complete, locked) |
//! | present, kernel lock held by holder    | [`publish`]                | holder's [`remove_own`], or holder death |
//! | present, kernel lock free (dead holder)| crash, dropped handle      | a contender's [`probe`] + bound removal |
//!
//! A file is only ever unlinked by a task that holds its kernel lock and has just checked
//! that the path still names that inode (INV-2). Nothing here polls for a kernel-locked
//! file: contenders wait in [`LockFs::lock_until`]. Only foreign files, which carry no
//! kernel lock, are re-probed with a bounded backoff.

use std::time::Duration;

use super::error::{AcquireError, Found, Holder, ReleaseError};
use super::judge::{Evidence, KernelLock, Reason, Thresholds, judge};
use super::observe::{Event, Observer, trace};
use crate::fs::{Clock, FileId, FsError, LockFs, LockPath, Moment, Opened, Published};
use crate::fs::{PidState, ProcessId};
use crate::payload::{MAX_PAYLOAD_BYTES, Payload};

/// The world a protocol step runs in.
pub struct Ctx<'a, F, C> {
    /// Storage and processes.
    pub fs: &'a F,
    /// Time.
    pub clock: &'a C,
    /// Heuristic thresholds for foreign files.
    pub thresholds: &'a Thresholds,
    /// Who we are.
    pub me: ProcessId,
    /// Who hears about it.
    pub observer: Option<&'a dyn Observer>,
}

impl<F, C> Ctx<'_, F, C> {
    /// Traces `event` and passes it to the observer.
    pub fn emit(&self, event: Event<'_>) {
        trace(&event);
        if let Some(o) = self.observer {
            o.event(&event);
        }
    }
}

/// A lock file this process published and holds the kernel lock of.
#[derive(Debug)]
pub struct HeldFile<H> {
    /// The handle keeping the kernel lock.
    pub handle: H,
    /// The inode published.
    pub id: FileId,
    /// The publication's nonce, to recognise the file if inode numbers drift (H17).
    pub nonce: String,
}

/// What a probe of an existing lock file found.
pub enum Probe<H> {
    /// The file went away, or was replaced, before it could be judged: publish again.
    Vanished,
    /// It was stale and has been removed: publish again.
    Broken(Vec<Reason>),
    /// A holder is alive. `handle` is the open file when its kernel lock is held, to wait
    /// on; `None` for a foreign holder, which has no kernel lock to wait on.
    Alive {
        /// Who holds it.
        holder: Holder,
        /// The open file, when its kernel lock can be waited on.
        handle: Option<H>,
    },
}

/// Publishes `payload` at `path`. `None` on contention.
pub async fn publish<F: LockFs, C>(
    ctx: &Ctx<'_, F, C>,
    path: &LockPath,
    payload: &Payload,
) -> Result<Option<HeldFile<F::Handle>>, FsError> {
    let nonce = payload.nonce.clone().unwrap_or_default();
    Ok(match ctx.fs.publish(path, &payload.to_bytes()).await? {
        Published::Created { handle, id } => Some(HeldFile { handle, id, nonce }),
        Published::Exists => None,
    })
}

/// Runs the cross-process acquire until the lock file is ours or `deadline` passes.
pub async fn acquire_file<F: LockFs, C: Clock>(
    ctx: &Ctx<'_, F, C>,
    path: &LockPath,
    payload: &Payload,
    started: Moment,
    deadline: Moment,
) -> Result<HeldFile<F::Handle>, AcquireError> {
    let mut wait = Wait::new(started, deadline);
    loop {
        if let Some(file) = publish(ctx, path, payload).await? {
            return Ok(file);
        }
        ctx.emit(Event::Contended { path });
        let outcome = probe(ctx, path).await?;
        wait.settle(ctx, path, outcome).await?;
    }
}

/// How a contender waits out what a probe found, within one deadline.
pub struct Wait {
    started: Moment,
    deadline: Moment,
    backoff: Backoff,
}

impl Wait {
    /// Waiting for an acquire that started at `started` and gives up at `deadline`.
    pub fn new(started: Moment, deadline: Moment) -> Self {
        Self { started, deadline, backoff: Backoff::default() }
    }

    /// Waits out `outcome`, after which the caller publishes again.
    ///
    /// A kernel-held file is waited on in the kernel. Once the lock is ours, whoever held
    /// it let go, and the file is judged while we hold it, as a probe does: closing it
    /// unjudged would let two contenders hand a dead holder's lock back and forth forever
    /// without either breaking the file (a livelock the proptest machine found). A
    /// foreign live holder, with no kernel lock to wait on, is re-probed after a backoff.
    ///
    /// # Errors
    /// [`AcquireError::Timeout`] at the deadline, or a primitive's failure.
    pub async fn settle<F: LockFs, C: Clock>(
        &mut self,
        ctx: &Ctx<'_, F, C>,
        path: &LockPath,
        mut outcome: Probe<F::Handle>,
    ) -> Result<(), AcquireError> {
        if let Probe::Alive { holder, handle: Some(handle) } = outcome {
            ctx.emit(Event::KernelWait { path });
            if !ctx.fs.lock_until(&handle, self.deadline).await? {
                close_quietly(ctx, path, handle).await;
                return Err(self.timeout(ctx, path, holder));
            }
            outcome = assess(ctx, path, handle, KernelLock::Free).await?;
        }
        if let Probe::Alive { holder, handle: None } = outcome {
            let now = ctx.clock.now();
            if now >= self.deadline {
                return Err(self.timeout(ctx, path, holder));
            }
            let retry = now.saturating_add(self.backoff.next());
            ctx.clock.sleep_until(self.deadline.min(retry)).await;
        }
        Ok(())
    }

    fn timeout<F, C: Clock>(
        &self,
        ctx: &Ctx<'_, F, C>,
        path: &LockPath,
        holder: Holder,
    ) -> AcquireError {
        AcquireError::Timeout {
            path: path.clone(),
            waited: ctx.clock.now().saturating_since(self.started),
            holder: Some(Box::new(holder)),
        }
    }
}

/// Opens the file at `path`, tries its kernel lock, and judges it; removes it if stale.
pub async fn probe<F: LockFs, C: Clock>(
    ctx: &Ctx<'_, F, C>,
    path: &LockPath,
) -> Result<Probe<F::Handle>, AcquireError> {
    let handle = match ctx.fs.open(path).await? {
        Opened::File(handle) => handle,
        Opened::Missing => return Ok(Probe::Vanished),
        Opened::NotALockFile(kind) => {
            return Err(AcquireError::NotALockFile { path: path.clone(), kind });
        }
    };
    let kernel = match ctx.fs.try_lock(&handle).await? {
        true => KernelLock::Free,
        false => KernelLock::HeldByOther,
    };
    assess(ctx, path, handle, kernel).await
}

/// Judges the open lock file behind `handle`, whose kernel lock we hold exactly when
/// `kernel` is [`KernelLock::Free`], and removes it (inode-bound) if it is stale.
pub async fn assess<F: LockFs, C: Clock>(
    ctx: &Ctx<'_, F, C>,
    path: &LockPath,
    handle: F::Handle,
    kernel: KernelLock,
) -> Result<Probe<F::Handle>, AcquireError> {
    let meta = ctx.fs.meta(&handle).await?;
    let payload = Payload::parse(&ctx.fs.read(&handle, MAX_PAYLOAD_BYTES + 1).await?);
    let pid_state = match &payload {
        Some(p) if kernel == KernelLock::Free && !p.kernel_locked => match p.pid {
            Some(pid) if pid != ctx.me.pid => Some(ctx.fs.pid_state(pid).await),
            _ => None,
        },
        _ => None,
    };
    let now_ms = ctx.clock.wall_ms();
    let evidence = Evidence {
        kernel,
        payload: payload.as_ref(),
        mtime_ms: meta.mtime_ms,
        now_ms,
        pid_state,
        me: ctx.me,
    };
    let verdict = judge(&evidence, ctx.thresholds);
    if kernel == KernelLock::HeldByOther {
        let holder = describe(path, payload.as_ref(), true, pid_state, now_ms, verdict.reasons);
        return Ok(Probe::Alive { holder, handle: Some(handle) });
    }
    if !verdict.is_stale() {
        close_quietly(ctx, path, handle).await;
        let holder = describe(path, payload.as_ref(), false, pid_state, now_ms, verdict.reasons);
        return Ok(Probe::Alive { holder, handle: None });
    }
    let nonce = payload.as_ref().and_then(|p| p.nonce.as_deref());
    let removal = remove_if_names(ctx, path, &handle, meta.id, nonce).await;
    close_quietly(ctx, path, handle).await;
    if removal? != Removal::Removed {
        return Ok(Probe::Vanished);
    }
    ctx.emit(Event::BrokeStale { path, reasons: &verdict.reasons });
    Ok(Probe::Broken(verdict.reasons))
}

/// What [`remove_if_names`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// The path named the file, and is now unlinked.
    Removed,
    /// Nothing was at the path.
    Missing,
    /// Another file was at the path; it was left alone.
    Other(FileId),
}

/// Unlinks `path` if it still names the file whose kernel lock `held` holds: the inode
/// `id` or, where inode numbers drift between `fstat` and `lstat` (H17), the file that
/// carries the same publication `nonce`. Inode-bound: while we hold that kernel lock, no
/// other task of the protocol can unlink or replace the path, so the check stays true
/// until the unlink.
pub async fn remove_if_names<F: LockFs, C>(
    ctx: &Ctx<'_, F, C>,
    path: &LockPath,
    held: &F::Handle,
    id: FileId,
    nonce: Option<&str>,
) -> Result<Removal, FsError> {
    match ctx.fs.path_id(path).await? {
        None => Ok(Removal::Missing),
        Some(now) if now != id && !names_nonce(ctx, path, nonce).await => Ok(Removal::Other(now)),
        Some(_) => {
            ctx.fs.unlink(path, held).await?;
            Ok(Removal::Removed)
        }
    }
}

/// The holder's teardown: remove its own file, inode-bound, then close best-effort.
pub async fn remove_own<F: LockFs, C>(
    ctx: &Ctx<'_, F, C>,
    path: &LockPath,
    file: HeldFile<F::Handle>,
) -> Result<(), ReleaseError> {
    let removal = remove_if_names(ctx, path, &file.handle, file.id, Some(&file.nonce)).await;
    close_quietly(ctx, path, file.handle).await;
    let found = match removal? {
        Removal::Removed => {
            ctx.emit(Event::Released { path });
            return Ok(());
        }
        Removal::Missing => Found::Missing,
        Removal::Other(id) => Found::Other(id),
    };
    ctx.emit(Event::Compromised { path });
    Err(ReleaseError::Compromised { path: path.clone(), found })
}

/// Whether the file at `path` carries the publication `nonce`.
async fn names_nonce<F: LockFs, C>(
    ctx: &Ctx<'_, F, C>,
    path: &LockPath,
    nonce: Option<&str>,
) -> bool {
    let Some(nonce) = nonce.filter(|n| !n.is_empty()) else { return false };
    let Ok(Opened::File(handle)) = ctx.fs.open(path).await else { return false };
    let bytes = ctx.fs.read(&handle, MAX_PAYLOAD_BYTES + 1).await;
    close_quietly(ctx, path, handle).await;
    let payload = bytes.ok().as_deref().and_then(Payload::parse);
    payload.and_then(|p| p.nonce).as_deref() == Some(nonce)
}

/// Closes `handle`; a failure is reported, never propagated (closing is best-effort).
pub async fn close_quietly<F: LockFs, C>(ctx: &Ctx<'_, F, C>, path: &LockPath, handle: F::Handle) {
    if let Err(error) = ctx.fs.close(handle).await {
        tracing::warn!(%path, %error, "close failed");
        ctx.emit(Event::CloseFailed { path });
    }
}

fn describe(
    path: &LockPath,
    payload: Option<&Payload>,
    kernel_held: bool,
    pid_state: Option<PidState>,
    now_ms: u64,
    reasons: Vec<Reason>,
) -> Holder {
    Holder {
        path: path.clone(),
        in_process: false,
        pid: payload.and_then(|p| p.pid),
        kernel_held,
        pid_state,
        age: payload
            .and_then(|p| p.created_at_ms)
            .map(|t| Duration::from_millis(now_ms.saturating_sub(t))),
        max_hold: payload.and_then(|p| p.max_hold_ms).map(Duration::from_millis),
        reasons,
    }
}

/// Re-probe delays for foreign holders, which have no kernel lock to wait on:
/// 25 ms doubling to a cap of 1 s.
#[derive(Default)]
struct Backoff {
    attempt: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        self.attempt = self.attempt.saturating_add(1);
        Duration::from_millis(25u64 << self.attempt.min(6)).min(Duration::from_secs(1))
    }
}
