//! The cross-process queue (`spec/protocol.md`, section 11): tickets beside the lock file,
//! each kernel-locked by its waiter, so that a waiter waits on its predecessor only and a
//! dead waiter is skipped through the kernel proof, never by age.
//!
//! One ticket `L.q.<seq>.<id>`:
//!
//! | state         | its name  | its flock          | left by                                              |
//! |---------------|-----------|--------------------|------------------------------------------------------|
//! | **Q1 queued** | named     | held by its waiter | its owner's [`leave`] (R5q, or a give-up); its owner's death → Q2 |
//! | **Q2 dead**   | named     | free               | its successor's [`wait_turn`] (W3), under its flock  |
//! | **Q3 gone**   | not named | held, then free    | (final)                                              |
//!
//! One acquire with the queue (the task with its process's turn; the parent runs W4, the
//! publish of L, and the probe of its holder):
//!
//! | state                         | step                                          | next |
//! |-------------------------------|-----------------------------------------------|------|
//! | **W0 look**                   | [`look`]: list the tickets                    | none: W4 without a ticket; some: W1 |
//! | **W1 take**                   | [`take`]: publish `L.q.<highest + 1>.<id>`    | W2 |
//! | **W2 find the predecessor**   | [`wait_turn`]: list, open the one before ours | one: W3; none (we are the head): W4 |
//! | **W3 wait on it**             | `lock_until` on its handle                    | its flock ours: unlink it if still named (Q2), close, W2; deadline: give up |
//! | **W4 publish L**              | the parent's publish                          | created: hold, the ticket kept with it; EEXIST with a ticket: probe and settle, W4; without: W5 |
//! | **W5 join**                   | [`look`], then [`take`]                       | W2 |
//!
//! A ticket is unlinked only by a holder of its flock, after checking that its name still
//! names it: its owner (R5q, a give-up) or a successor whose kernel wait returned.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::task::{Context, Waker};

use super::ctx::{Ctx, HeldTicket, close_quietly};
use crate::core::error::AcquireError;
use crate::fs::{Clock, FileId, FsError, FsOp, LockFs, LockPath, Moment, Opened, Published, Ticket};

/// W0 (and W5): lists the tickets beside `lock`; the `seq` a ticket taken now gets, or
/// `None` when nobody is queued.
///
/// # Errors
/// A primitive's failure.
pub async fn look<F: LockFs, C>(ctx: &Ctx<'_, F, C>, lock: &LockPath) -> Result<Option<u64>, FsError> {
    let tickets = ctx.fs.tickets(lock).await?;
    Ok(tickets.iter().map(|(t, _)| t.seq()).max().map(|seq| seq.saturating_add(1)))
}

/// W1: publishes this waiter's ticket `L.q.<seq>.<id>`, complete and kernel-locked, with
/// `payload` (who waits, for diagnostics). The id is new, so the name is: a publish that
/// finds it taken is an error, never a retry.
///
/// # Errors
/// A primitive's failure.
pub async fn take<F: LockFs, C>(
    ctx: &Ctx<'_, F, C>,
    lock: &LockPath,
    seq: u64,
    payload: &[u8],
) -> Result<HeldTicket<F::Handle>, FsError> {
    let id = format!(
        "{:x}-{:x}-{:x}",
        ctx.me.pid,
        ctx.me.starttime.unwrap_or(0),
        next_ticket()
    );
    let refused = |path: &LockPath, kind| FsError::new(FsOp::Publish, path, io::Error::from(kind));
    let Some(ticket) = Ticket::new(seq, id) else {
        return Err(refused(lock, io::ErrorKind::InvalidInput));
    };
    let path = ticket.path(lock);
    match ctx.fs.publish(&path, payload).await? {
        Published::Created { handle, id } => Ok(HeldTicket { ticket, handle, id }),
        Published::Exists => Err(refused(&path, io::ErrorKind::AlreadyExists)),
    }
}

/// W2 and W3: waits until `mine` heads the queue (`Ok(true)`), or until `deadline`
/// (`Ok(false)`).
///
/// Each round lists the tickets and waits in the kernel on the one just before ours, and
/// on that one only: it returns when its waiter let go of its flock, by its release (R5q:
/// the name is gone), its give-up, or its death (Q2: the name is still there, and is
/// removed now, under the flock we were given). Never by age.
///
/// # Errors
/// [`AcquireError::NotALockFile`] when something other than a regular file sits at a
/// ticket's name (it is never touched), or a primitive's failure.
pub async fn wait_turn<F: LockFs, C: Clock>(
    ctx: &Ctx<'_, F, C>,
    lock: &LockPath,
    mine: &HeldTicket<F::Handle>,
    deadline: Moment,
) -> Result<bool, AcquireError> {
    loop {
        let tickets = ctx.fs.tickets(lock).await?;
        let Some(before) = tickets.into_iter().take_while(|(t, _)| *t < mine.ticket).last()
        else {
            return Ok(true);
        };
        match seize(ctx, lock, before, async |h| ctx.fs.lock_until(h, deadline).await).await? {
            Seized::Gone | Seized::Removed => {}
            Seized::NoProof => return Ok(true),
            Seized::Held => return Ok(false), // the deadline
        }
    }
}

/// Whether a live waiter is queued beside `lock` now, for an acquire that never waits
/// (`try_acquire`): it does not publish past one. Dead waiters' tickets (Q2) met on the
/// way are removed, under their flocks, as their successors would remove them. Where a
/// free flock proves nothing, no ticket is judged or removed, and nobody counts as
/// queued (the race of section 4).
///
/// # Errors
/// [`AcquireError::NotALockFile`] when something other than a regular file sits at a
/// ticket's name, or a primitive's failure.
pub async fn anyone_queued<F: LockFs, C>(
    ctx: &Ctx<'_, F, C>,
    lock: &LockPath,
) -> Result<bool, AcquireError> {
    for ticket in ctx.fs.tickets(lock).await? {
        match seize(ctx, lock, ticket, async |h| ctx.fs.try_lock(h).await).await? {
            Seized::Gone | Seized::Removed => {}
            Seized::NoProof => return Ok(false),
            Seized::Held => return Ok(true),
        }
    }
    Ok(false)
}

/// What [`seize`] found at a ticket's name.
enum Seized {
    /// Nothing any more: its waiter left.
    Gone,
    /// A file whose free flock would prove nothing (NFS, no `flock`): not judged, closed.
    NoProof,
    /// Its flock stayed its waiter's (`take` said no: held, or the deadline): closed.
    Held,
    /// Its flock became ours: its waiter is gone, and the name, if it still named that
    /// ticket (Q2, a dead waiter's), is removed; closed.
    Removed,
}

/// Opens the ticket `(ticket, id)` listed beside `lock` and takes its flock with `take` (a
/// kernel wait or a single try); if that succeeds, removes the name if it still names the
/// ticket opened. Every handle it opens is closed before it returns.
///
/// # Errors
/// [`AcquireError::NotALockFile`] when something other than a regular file sits at the
/// name, or a primitive's failure.
async fn seize<F: LockFs, C>(
    ctx: &Ctx<'_, F, C>,
    lock: &LockPath,
    (ticket, id): (Ticket, FileId),
    take: impl AsyncFnOnce(&F::Handle) -> Result<bool, FsError>,
) -> Result<Seized, AcquireError> {
    let path = ticket.path(lock);
    let handle = match ctx.fs.open(&path).await? {
        Opened::File(handle) => handle,
        Opened::Missing => return Ok(Seized::Gone),
        Opened::NotALockFile(kind) => return Err(AcquireError::NotALockFile { path, kind }),
    };
    if !ctx.fs.kernel_proof(&handle) {
        close_quietly(ctx, &path, handle).await;
        return Ok(Seized::NoProof);
    }
    let got = take(&handle).await;
    if !matches!(got, Ok(true)) {
        close_quietly(ctx, &path, handle).await;
        return got.map(|_| Seized::Held).map_err(AcquireError::from);
    }
    // Its flock is ours: its waiter is gone. A name still there is a dead waiter's.
    let removed = ctx.fs.unlink_if(&path, &handle, id).await;
    close_quietly(ctx, &path, handle).await;
    removed?;
    Ok(Seized::Removed)
}

/// R5q, and a give-up: unlinks our own ticket (we hold its flock, so its name still names
/// it) and closes it, which wakes its successor. Best-effort: a failure is reported, and a
/// ticket left named with its flock free is a dead waiter's (Q2), removed by its successor.
pub async fn leave<F: LockFs, C>(ctx: &Ctx<'_, F, C>, lock: &LockPath, mine: HeldTicket<F::Handle>) {
    let path = mine.ticket.path(lock);
    #[cfg(sessionlock_mutant = "wakes_nobody")] // R5q skipped: the successor is never woken
    {
        let _ = &path;
        return std::mem::forget(mine.handle);
    }
    // Where `lstat` and `fstat` disagree on inode numbers (H17), the name shows another
    // identity; it is still ours: the name is unique to this waiter, and only a holder of
    // its flock, which we are, unlinks it.
    #[allow(unreachable_code)]
    let removed = match ctx.fs.unlink_if(&path, &mine.handle, mine.id).await {
        Ok(Some(now)) if now != mine.id => ctx.fs.unlink(&path, &mine.handle).await,
        other => other.map(drop),
    };
    if let Err(error) = removed {
        tracing::warn!(%path, %error, "ticket not removed; its successor removes it");
    }
    close_quietly(ctx, &path, mine.handle).await;
}

/// Our ticket while the acquire runs: dropped with one still in it (the acquire future
/// dropped, a cancellation), it gives the ticket up as far as it can without waiting, as
/// a dropped guard releases. What cannot complete leaves a dead waiter's ticket (Q2).
pub struct Slot<'c, 'a, F: LockFs, C> {
    ctx: &'c Ctx<'a, F, C>,
    lock: &'c LockPath,
    /// The ticket, once taken.
    pub ticket: Option<HeldTicket<F::Handle>>,
}

impl<'c, 'a, F: LockFs, C> Slot<'c, 'a, F, C> {
    /// An empty slot for an acquire of `lock`.
    pub fn new(ctx: &'c Ctx<'a, F, C>, lock: &'c LockPath) -> Self {
        Self { ctx, lock, ticket: None }
    }

    /// Gives our ticket up, if we have one (a deadline, an error).
    pub async fn give_up(&mut self) {
        if let Some(mine) = self.ticket.take() {
            leave(self.ctx, self.lock, mine).await;
        }
    }
}

impl<F: LockFs, C> Drop for Slot<'_, '_, F, C> {
    fn drop(&mut self) {
        let Some(mine) = self.ticket.take() else { return };
        let mut cx = Context::from_waker(Waker::noop());
        if pin!(leave(self.ctx, self.lock, mine)).poll(&mut cx).is_pending() {
            tracing::warn!(lock = %self.lock, "acquire dropped: ticket left for its successor");
        }
    }
}

/// A number this process never handed out before, for ticket ids.
fn next_ticket() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering}; // purity: ids only, not checked state
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
