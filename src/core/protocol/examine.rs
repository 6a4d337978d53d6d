//! Looking at a lock file: reading and judging it, changing nothing.

use std::time::Duration;

use super::{Ctx, close_quietly};
use crate::core::error::{AcquireError, Holder};
use crate::core::judge::{Evidence, KernelLock, Reason, judge};
use crate::fs::{Clock, FileId, LockFs, LockPath, Opened, PidState};
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
    let pid_state = match &payload {
        Some(p)
            if kernel == KernelLock::Unavailable
                || (kernel == KernelLock::Free && !p.kernel_locked) =>
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
    };
    let reasons = judge(&evidence, ctx.thresholds).reasons;
    let kernel_held = kernel == KernelLock::HeldByOther;
    let holder = describe(path, payload.as_ref(), kernel_held, pid_state, now_ms, reasons);
    Ok(Examined { holder, id: meta.id, nonce: payload.and_then(|p| p.nonce) })
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
