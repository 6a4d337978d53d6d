//! Looking at a lock file: reading and judging it, changing nothing.

use std::time::Duration;

use super::ctx::{Ctx, close_quietly};
use crate::core::error::{AcquireError, Holder};
use crate::core::judge::{Evidence, KernelLock, Place, Verdict, judge};
use crate::fs::{Clock, FileId, Lease, LockFs, LockPath, Opened, PidState};
use crate::payload::{MAX_PAYLOAD_BYTES, Payload};

/// Looks at the lock file at `path` and says who holds it, without taking or removing
/// it: its kernel lock is tried, to learn whether a live holder has it, and let go at
/// once. `None` when there is no lock file.
///
/// # Errors
/// [`AcquireError::NotALockFile`] when something else is at `path`; a primitive's failure.
pub async fn inspect<F: LockFs, C: Clock>(
    ctx: &Ctx<'_, F, C>,
    path: &LockPath,
) -> Result<Option<Holder>, AcquireError> {
    let handle = match ctx.fs.open(path).await? {
        Opened::File(handle) => handle,
        Opened::Missing => return Ok(None),
        Opened::NotALockFile(kind) => {
            return Err(AcquireError::NotALockFile { path: path.clone(), kind });
        }
    };
    let kernel = kernel_answer(ctx, &handle, ctx.fs.try_lock(&handle).await?);
    let seen = examine(ctx, path, &handle, kernel).await;
    close_quietly(ctx, path, handle).await;
    Ok(Some(seen?.holder))
}

/// What a kernel-lock attempt on `handle` that returned `got` means.
pub(super) fn kernel_answer<F: LockFs, C>(
    ctx: &Ctx<'_, F, C>,
    handle: &F::Handle,
    got: bool,
) -> KernelLock {
    match got {
        false => KernelLock::HeldByOther,
        true if ctx.fs.kernel_proof(handle) => KernelLock::Free,
        true => KernelLock::Unavailable,
    }
}

/// What one look at an open lock file found.
pub(super) struct Examined {
    pub(super) holder: Holder,
    pub(super) id: FileId,
    pub(super) nonce: Option<String>,
}

/// Reads and judges the open lock file behind `handle`; changes nothing.
pub(super) async fn examine<F: LockFs, C: Clock>(
    ctx: &Ctx<'_, F, C>,
    path: &LockPath,
    handle: &F::Handle,
    kernel: KernelLock,
) -> Result<Examined, AcquireError> {
    let meta = ctx.fs.meta(handle).await?;
    let payload = Payload::parse(&ctx.fs.read(handle, MAX_PAYLOAD_BYTES + 1).await?);
    let place = payload.as_ref().map_or(Place::Unrecorded, |p| Place::of(&p.location, ctx.here));
    let foreign = payload.as_ref().is_none_or(|p| !p.kernel_locked);
    // The lease is asked only where a free kernel lock proves something, of a file whose
    // kernel lock says nothing about its holder (foreign or payload-less).
    let lease = match kernel == KernelLock::Free && foreign {
        true => Some(ctx.fs.lease(handle).await?),
        false => None,
    };
    let pid_state = match &payload {
        Some(p)
            if (kernel == KernelLock::Unavailable
                || (kernel == KernelLock::Free && !p.kernel_locked))
                && lease != Some(Lease::Writer)
                && place.pid_means_something() =>
        {
            match p.pid {
                Some(pid) if pid != ctx.me.pid => Some(ctx.fs.pid_state(pid).await),
                _ => None,
            }
        }
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
        place,
        lease,
    };
    let verdict = judge(&evidence, ctx.thresholds);
    let seen = Seen {
        kernel_held: kernel == KernelLock::HeldByOther,
        writer: lease == Some(Lease::Writer),
        place,
        pid_state,
    };
    let holder = describe(path, payload.as_ref(), seen, now_ms, verdict);
    Ok(Examined { holder, id: meta.id, nonce: payload.and_then(|p| p.nonce) })
}

/// The liveness evidence one look gathered.
struct Seen {
    kernel_held: bool,
    writer: bool,
    place: Place,
    pid_state: Option<PidState>,
}

fn describe(
    path: &LockPath,
    payload: Option<&Payload>,
    seen: Seen,
    now_ms: u64,
    verdict: Verdict,
) -> Holder {
    Holder {
        path: path.clone(),
        in_process: false,
        pid: payload.and_then(|p| p.pid),
        place: seen.place,
        kernel_held: seen.kernel_held,
        writer: seen.writer,
        pid_state: seen.pid_state,
        age: payload
            .and_then(|p| p.created_at_ms)
            .map(|t| Duration::from_millis(now_ms.saturating_sub(t))),
        max_hold: payload.and_then(|p| p.max_hold_ms).map(Duration::from_millis),
        reasons: verdict.reasons,
        stale_in: verdict.stale_in,
    }
}
