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

mod ctx;
mod examine;
mod queue;
mod remove;

pub use ctx::{Ctx, HeldFile, HeldTicket, close_quietly};
use examine::examine;
pub use examine::inspect;
pub use queue::{anyone_queued, leave as leave_queue};
pub use remove::{Removal, identify, remove_if_names, remove_own};

use super::error::{AcquireError, Holder};
use super::judge::{KernelLock, Reason};
use super::observe::Event;
use crate::fs::{Clock, FsError, LockFs, LockPath, Moment, Opened, Published};
use crate::payload::Payload;

/// What a probe of an existing lock file found.
pub enum Probe<H> {
    /// Nothing to judge at the path any more: the file went away, or was replaced, before
    /// it could be judged, or its holder let go meanwhile. Publish again.
    Missing,
    /// It was stale and has been removed: publish again.
    Broken(Vec<Reason>),
    /// A holder is alive. `handle` is the open file when there is something to wait on in
    /// the kernel: its kernel lock, held by another handle (`holder.kernel_held`), or its
    /// writers' descriptors, for a foreign holder proven alive by the lease probe
    /// (`holder.writer`). `None` for a holder judged alive by the heuristics only, which
    /// is re-probed after a backoff.
    Alive {
        /// Who holds it.
        holder: Holder,
        /// The open file, when the kernel can tell us the holder let go.
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
        Published::Created { handle, id } => Some(HeldFile { handle, id, nonce, ticket: None }),
        Published::Exists => None,
    })
}

/// Runs the cross-process acquire until the lock file is ours or `deadline` passes.
/// `createdAt` is stamped afresh before each publish, so it says when the lock was taken.
pub async fn acquire_file<F: LockFs, C: Clock>(
    ctx: &Ctx<'_, F, C>,
    path: &LockPath,
    mut payload: Payload,
    started: Moment,
    deadline: Moment,
) -> Result<HeldFile<F::Handle>, AcquireError> {
    let mut wait = Wait::new(started, deadline);
    loop {
        payload.created_at_ms = Some(ctx.clock.wall_ms());
        if let Some(file) = publish(ctx, path, &payload).await? {
            return Ok(file);
        }
        ctx.emit(Event::Contended { path });
        let outcome = probe(ctx, path).await?;
        wait.settle(ctx, path, outcome).await?;
    }
}

/// [`acquire_file`] with the cross-process queue (`spec/protocol.md`, section 11; the
/// states W0–W5 are in the `queue` module): publish L at once only when nobody is queued;
/// otherwise take a ticket, wait on the predecessor only, and publish at the head. A head
/// that finds L held probes and settles as [`acquire_file`] does; a task without a ticket
/// that finds L held joins the queue. The ticket goes with the held file, and is removed
/// at the end of its release (R5q); a give-up (deadline, error, the future dropped)
/// removes it too.
pub async fn acquire_queued<F: LockFs, C: Clock>(
    ctx: &Ctx<'_, F, C>,
    path: &LockPath,
    payload: Payload,
    started: Moment,
    deadline: Moment,
) -> Result<HeldFile<F::Handle>, AcquireError> {
    let mut slot = queue::Slot::new(ctx, path);
    let held = queued(ctx, path, payload, started, deadline, &mut slot).await;
    match held {
        Ok(mut file) => {
            file.ticket = slot.ticket.take();
            Ok(file)
        }
        Err(error) => {
            slot.give_up().await;
            Err(error)
        }
    }
}

async fn queued<F: LockFs, C: Clock>(
    ctx: &Ctx<'_, F, C>,
    path: &LockPath,
    mut payload: Payload,
    started: Moment,
    deadline: Moment,
    slot: &mut queue::Slot<'_, '_, F, C>,
) -> Result<HeldFile<F::Handle>, AcquireError> {
    let mut wait = Wait::new(started, deadline);
    // W0: a newcomer, the releaser included, queues behind whoever is queued.
    #[cfg(not(sessionlock_mutant = "releaser_barges"))] // the mutant publishes at once
    if let Some(seq) = queue::look(ctx, path).await? {
        slot.ticket = Some(queue::take(ctx, path, seq, &payload.to_bytes()).await?);
    }
    let mut head = false;
    loop {
        if let Some(mine) = &slot.ticket
            && !head
        {
            if !queue::wait_turn(ctx, path, mine, deadline).await? {
                return Err(wait.timeout(ctx, path, None));
            }
            head = true;
        }
        payload.created_at_ms = Some(ctx.clock.wall_ms());
        if let Some(file) = publish(ctx, path, &payload).await? {
            return Ok(file);
        }
        ctx.emit(Event::Contended { path });
        if slot.ticket.is_none() {
            // W5: L held and nobody queued before us: join.
            let seq = queue::look(ctx, path).await?.unwrap_or(1);
            slot.ticket = Some(queue::take(ctx, path, seq, &payload.to_bytes()).await?);
            continue;
        }
        let outcome = probe(ctx, path).await?;
        wait.settle(ctx, path, outcome).await?;
    }
}

/// How a contender waits out what a probe found, within one deadline.
pub struct Wait {
    started: Moment,
    deadline: Moment,
    backoff: Backoff,
    missing: u32,
}

/// Files that vanish before they can be judged, in a row and with no wait between, before
/// the contender backs off. Each one is normally someone else's progress, so the next
/// publish may well succeed; but on a filesystem whose inode numbers drift (H17), a stale
/// file without a nonce can never be bound, and must not be spun on.
const MISSING_BEFORE_BACKOFF: u32 = 64;

impl Wait {
    /// Waiting for an acquire that started at `started` and gives up at `deadline`.
    pub fn new(started: Moment, deadline: Moment) -> Self {
        Self { started, deadline, backoff: Backoff::default(), missing: 0 }
    }

    /// Waits out `outcome`, after which the caller publishes again.
    ///
    /// A kernel-held file is waited on in the kernel. Once the lock is ours, whoever held
    /// it let go, and the file is judged while we hold it, as a probe does: closing it
    /// unjudged would let two contenders hand a dead holder's lock back and forth forever
    /// without either breaking the file (a livelock the proptest machine found). A
    /// foreign holder with a writer open on its file is waited on in the kernel too,
    /// until its writers close (it released or died), then probed afresh. Any other
    /// foreign live holder, with nothing to wait on, is re-probed after a backoff, and so
    /// is a file that keeps vanishing before it can be judged.
    ///
    /// # Errors
    /// [`AcquireError::Timeout`] at the deadline, or a primitive's failure.
    pub async fn settle<F: LockFs, C: Clock>(
        &mut self,
        ctx: &Ctx<'_, F, C>,
        path: &LockPath,
        mut outcome: Probe<F::Handle>,
    ) -> Result<(), AcquireError> {
        if matches!(&outcome, Probe::Alive { holder, handle: Some(_) } if !holder.kernel_held)
            && let Probe::Alive { holder, handle: Some(handle) } = outcome
        {
            // A foreign writer: wait for its descriptors to close, then probe afresh.
            self.missing = 0;
            ctx.emit(Event::KernelWait { path });
            let closed = ctx.fs.writers_closed_until(&handle, self.deadline).await;
            close_quietly(ctx, path, handle).await;
            if !closed? {
                return Err(self.timeout(ctx, path, Some(holder)));
            }
            // The original closes its file, then unlinks it: if the next probe lands in
            // between, the file is re-probed within a few milliseconds, not 25.
            self.backoff.hurry();
            if ctx.clock.now() >= self.deadline {
                return Err(self.timeout(ctx, path, Some(holder)));
            }
            return Ok(());
        }
        if let Probe::Alive { holder, handle: Some(handle) } = outcome {
            self.missing = 0;
            ctx.emit(Event::KernelWait { path });
            if !ctx.fs.lock_until(&handle, self.deadline).await? {
                close_quietly(ctx, path, handle).await;
                return Err(self.timeout(ctx, path, Some(holder)));
            }
            #[cfg(sessionlock_mutant = "kernel_wait_unjudged")] // closed unjudged: livelock
            return Ok(close_quietly(ctx, path, handle).await);
            let kernel = examine::kernel_answer(ctx, &handle, true);
            outcome = assess(ctx, path, handle, kernel).await?;
        }
        let holder = match outcome {
            Probe::Broken(_) => {
                self.missing = 0;
                return Ok(());
            }
            Probe::Missing => {
                self.missing += 1;
                if self.missing < MISSING_BEFORE_BACKOFF {
                    return self.check_deadline(ctx, path);
                }
                None
            }
            Probe::Alive { holder, .. } => Some(holder),
        };
        let now = ctx.clock.now();
        if now >= self.deadline {
            return Err(self.timeout(ctx, path, holder));
        }
        let retry = now.saturating_add(self.backoff.next());
        ctx.clock.sleep_until(self.deadline.min(retry)).await;
        Ok(())
    }

    fn check_deadline<F, C: Clock>(
        &self,
        ctx: &Ctx<'_, F, C>,
        path: &LockPath,
    ) -> Result<(), AcquireError> {
        if ctx.clock.now() >= self.deadline { Err(self.timeout(ctx, path, None)) } else { Ok(()) }
    }

    fn timeout<F, C: Clock>(
        &self,
        ctx: &Ctx<'_, F, C>,
        path: &LockPath,
        holder: Option<Holder>,
    ) -> AcquireError {
        AcquireError::Timeout {
            path: path.clone(),
            waited: ctx.clock.now().saturating_since(self.started),
            holder: holder.map(Box::new),
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
        Opened::Missing => return Ok(Probe::Missing),
        Opened::NotALockFile(kind) => {
            return Err(AcquireError::NotALockFile { path: path.clone(), kind });
        }
    };
    let got = ctx.fs.try_lock(&handle).await?;
    let kernel = examine::kernel_answer(ctx, &handle, got);
    assess(ctx, path, handle, kernel).await
}

/// Judges the open lock file behind `handle`, whose kernel lock we hold exactly when
/// `kernel` is [`KernelLock::Free`], and removes it (inode-bound) if it is stale. Where
/// the kernel lock proves nothing ([`KernelLock::Unavailable`]), the judgement and the
/// removal rest on the heuristics alone: the documented degraded mode.
pub async fn assess<F: LockFs, C: Clock>(
    ctx: &Ctx<'_, F, C>,
    path: &LockPath,
    handle: F::Handle,
    kernel: KernelLock,
) -> Result<Probe<F::Handle>, AcquireError> {
    let seen = examine(ctx, path, &handle, kernel).await?;
    if kernel == KernelLock::HeldByOther {
        return Ok(Probe::Alive { holder: seen.holder, handle: Some(handle) });
    }
    if !seen.holder.is_stale() {
        // A writer's file is kept open, to wait in the kernel for its writers to close.
        let kept = match seen.holder.writer {
            true => Some(handle),
            false => {
                close_quietly(ctx, path, handle).await;
                None
            }
        };
        // A holder judged alive but whose file is no longer at the path has let go (it
        // released while we waited): publish again at once rather than back off.
        if identify(ctx, path, seen.id, seen.nonce.as_deref()).await?.is_some() {
            if let Some(handle) = kept {
                close_quietly(ctx, path, handle).await;
            }
            return Ok(Probe::Missing);
        }
        return Ok(Probe::Alive { holder: seen.holder, handle: kept });
    }
    #[cfg(not(sessionlock_mutant = "break_without_recheck"))]
    let removal = remove_if_names(ctx, path, &handle, seen.id, seen.nonce.as_deref()).await;
    #[cfg(sessionlock_mutant = "break_without_recheck")] // the path is not re-checked
    let removal = ctx.fs.unlink(path, &handle).await.map(|()| Removal::Removed);
    close_quietly(ctx, path, handle).await;
    if removal? != Removal::Removed {
        return Ok(Probe::Missing);
    }
    ctx.emit(Event::BrokeStale { path, reasons: &seen.holder.reasons });
    Ok(Probe::Broken(seen.holder.reasons))
}

/// Re-probe delays where there is no kernel lock to wait on: 25 ms, doubling, to a cap
/// of 1 s. Right after a foreign holder's writers closed ([`Backoff::hurry`]), the first
/// retries are 1, 2, 4 and 8 ms: its unlink is due at once.
#[derive(Default)]
struct Backoff {
    attempt: u32,
    quick: u32,
}

/// The quick retries [`Backoff::hurry`] grants.
const QUICK_RETRIES: u32 = 4;

impl Backoff {
    fn next(&mut self) -> Duration {
        if self.quick > 0 {
            self.quick -= 1;
            return Duration::from_millis(1 << (QUICK_RETRIES - 1 - self.quick));
        }
        self.attempt = self.attempt.saturating_add(1);
        Duration::from_millis(25u64 << (self.attempt - 1).min(6)).min(Duration::from_secs(1))
    }

    /// The next retries come quickly: a foreign holder let go of its file, and its
    /// unlink is due.
    fn hurry(&mut self) {
        self.quick = QUICK_RETRIES;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_to_a_second_and_hurries_after_a_writer_closed() {
        let ms = |b: &mut Backoff, n: usize| -> Vec<u128> {
            (0..n).map(|_| b.next().as_millis()).collect()
        };
        let mut b = Backoff::default();
        assert_eq!(ms(&mut b, 8), [25, 50, 100, 200, 400, 800, 1000, 1000]);
        b.hurry();
        assert_eq!(ms(&mut b, 5), [1, 2, 4, 8, 1000]);
    }
}
