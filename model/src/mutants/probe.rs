//! The mutants' probes: how each historic bug judged and removed an existing lock file.

use sessionlock::core::AcquireError;
use sessionlock::core::Holder;
use sessionlock::core::error;
use sessionlock::core::judge::{Evidence, KernelLock, Place, Reason, judge};
use sessionlock::core::protocol::{self, Probe, Removal};
use sessionlock::fs::{Clock, LockFs, LockPath, Opened, PidState};
use sessionlock::payload::{MAX_PAYLOAD_BYTES, Payload};

use crate::fs::{ModelCtx, ModelHandle};
use crate::history::Mutant;

/// Opens, tries the kernel lock, judges and maybe removes the file at `path`, the way
/// `mutant` did. Mutants that judge as the core does defer to the core's probe.
pub async fn probe(
    mutant: Mutant,
    ctx: &ModelCtx<'_>,
    path: &LockPath,
) -> Result<Probe<ModelHandle>, AcquireError> {
    if !judges_differently(mutant) {
        return protocol::probe(ctx, path).await;
    }
    let handle = match ctx.fs.open(path).await? {
        Opened::File(handle) => handle,
        Opened::Missing => return Ok(Probe::Missing),
        Opened::NotALockFile(kind) => {
            return Err(AcquireError::NotALockFile { path: path.clone(), kind });
        }
        // An outcome the mutants do not know: judge as the core does.
        _ => return protocol::probe(ctx, path).await,
    };
    let payload = read_payload(ctx, &handle).await?;
    if mutant == Mutant::H1OwnPidOrphan && payload.as_ref().and_then(|p| p.pid) == Some(ctx.me.pid)
    {
        // The original: a file naming our own pid is an orphan, removed unchecked.
        ctx.fs.unlink(path, &handle).await?;
        return Ok(Probe::Missing);
    }
    let kernel =
        if ctx.fs.try_lock(&handle).await? { KernelLock::Free } else { KernelLock::HeldByOther };
    let (stale, reasons) = verdict(mutant, ctx, kernel, payload.as_ref(), &handle).await?;
    if !stale {
        let holder = holder(path, payload.as_ref(), kernel, reasons);
        let handle = (kernel == KernelLock::HeldByOther).then_some(handle);
        return Ok(Probe::Alive { holder, handle });
    }
    remove(mutant, ctx, path, handle, kernel, payload.as_ref()).await
}

fn judges_differently(mutant: Mutant) -> bool {
    matches!(
        mutant,
        Mutant::H1OwnPidOrphan
            | Mutant::H2UnlockedBreak
            | Mutant::H4CompareThenUnlink
            | Mutant::H5OldHolderDeletesSuccessor
            | Mutant::H6AgeIsDeath
            | Mutant::H7TrustsReusedPid
            | Mutant::H8WaitsOnItself
    )
}

async fn read_payload(
    ctx: &ModelCtx<'_>,
    handle: &ModelHandle,
) -> Result<Option<Payload>, AcquireError> {
    Ok(Payload::parse(&ctx.fs.read(handle, MAX_PAYLOAD_BYTES + 1).await?))
}

/// The core's judgement, bent the way `mutant` bent it.
async fn verdict(
    mutant: Mutant,
    ctx: &ModelCtx<'_>,
    kernel: KernelLock,
    payload: Option<&Payload>,
    handle: &ModelHandle,
) -> Result<(bool, Vec<Reason>), AcquireError> {
    let mtime_ms = ctx.fs.meta(handle).await?.mtime_ms;
    let mut pid_state = match payload.and_then(|p| p.pid) {
        Some(pid) if pid != ctx.me.pid => Some(ctx.fs.pid_state(pid).await),
        _ => None,
    };
    if mutant == Mutant::H7TrustsReusedPid
        && let Some(PidState::Alive { starttime }) = &mut pid_state
    {
        // H7: a live pid is the holder, whatever its start time says.
        *starttime = None;
    }
    // The historic code knew nothing of places or leases: every pid is judged here.
    let evidence = Evidence {
        kernel,
        payload,
        mtime_ms,
        now_ms: ctx.clock.wall_ms(),
        pid_state,
        me: ctx.me,
        place: Place::Unrecorded,
        lease: None,
    };
    let reasons = judge(&evidence, ctx.thresholds).reasons;
    let stale = match mutant {
        // H8: our own pid means a live holder, even when the kernel says nobody holds it.
        Mutant::H8WaitsOnItself if payload.and_then(|p| p.pid) == Some(ctx.me.pid) => false,
        // H5, H6: age is death.
        Mutant::H5OldHolderDeletesSuccessor | Mutant::H6AgeIsDeath => {
            reasons.iter().any(|r| r.is_actionable() || *r == Reason::TooOld)
        }
        _ => reasons.iter().any(|r| r.is_actionable()),
    };
    Ok((stale, reasons))
}

/// Removes a file judged stale, the way `mutant` did.
async fn remove(
    mutant: Mutant,
    ctx: &ModelCtx<'_>,
    path: &LockPath,
    handle: ModelHandle,
    kernel: KernelLock,
    judged: Option<&Payload>,
) -> Result<Probe<ModelHandle>, AcquireError> {
    let unlocked = match mutant {
        Mutant::H2UnlockedBreak | Mutant::H4CompareThenUnlink => true,
        _ => kernel == KernelLock::HeldByOther,
    };
    if !unlocked {
        let nonce = judged.and_then(|p| p.nonce.as_deref());
        let removal =
            protocol::remove_if_names(ctx, path, &handle, ctx.fs.meta(&handle).await?.id, nonce)
                .await;
        protocol::close_quietly(ctx, path, handle).await;
        return Ok(if removal? == Removal::Removed {
            Probe::Broken(Vec::new())
        } else {
            Probe::Missing
        });
    }
    // H2, H4, H5, H6: the unlink happens without the judged inode's kernel lock.
    protocol::close_quietly(ctx, path, handle).await;
    let Opened::File(again) = ctx.fs.open(path).await? else { return Ok(Probe::Missing) };
    if mutant == Mutant::H4CompareThenUnlink && read_payload(ctx, &again).await?.as_ref() != judged
    {
        return Ok(Probe::Missing);
    }
    ctx.fs.unlink(path, &again).await?;
    Ok(Probe::Broken(Vec::new()))
}

fn holder(
    path: &LockPath,
    payload: Option<&Payload>,
    kernel: KernelLock,
    reasons: Vec<Reason>,
) -> Holder {
    error::probed(path, payload.and_then(|p| p.pid), kernel == KernelLock::HeldByOther, reasons)
}
