//! The world a protocol step runs in, and what a holder keeps: what every step of the
//! protocol shares, so the steps' modules import it from here, never from their parent.

use crate::core::judge::Thresholds;
use crate::core::observe::{self, Event, Observer};
use crate::fs::{FileId, Location, LockFs, LockPath, ProcessId, Ticket};

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
    /// Where we live: a recorded pid is judged only if its holder lives here too.
    pub here: &'a Location,
    /// Who hears about it.
    pub observer: Option<&'a dyn Observer>,
}

impl<F, C> Ctx<'_, F, C> {
    /// Traces `event` and passes it to the observer.
    pub fn emit(&self, event: Event<'_>) {
        observe::emit(self.observer, &event);
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
    /// The holder's place in the cross-process queue, kept until the end of its release
    /// (R5q); `None` without the queue, or when the lock was free and nobody queued.
    pub ticket: Option<HeldTicket<H>>,
}

/// A ticket this process published and holds the kernel lock of: its place in the
/// cross-process queue (`spec/protocol.md`, section 11).
#[derive(Debug)]
pub struct HeldTicket<H> {
    /// Its place: `seq` and id.
    pub ticket: Ticket,
    /// The handle keeping its kernel lock.
    pub handle: H,
    /// The inode published.
    pub id: FileId,
}

/// Closes `handle`; a failure is reported, never propagated (closing is best-effort).
pub async fn close_quietly<F: LockFs, C>(ctx: &Ctx<'_, F, C>, path: &LockPath, handle: F::Handle) {
    if let Err(error) = ctx.fs.close(handle).await {
        tracing::warn!(%path, %error, "close failed");
        ctx.emit(Event::CloseFailed { path });
    }
}
