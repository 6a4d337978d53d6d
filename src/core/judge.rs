//! Judging whether a lock file's holder is gone: a pure function of the evidence.
//!
//! | kernel lock       | payload                  | verdict                                   |
//! |-------------------|--------------------------|-------------------------------------------|
//! | held by another   | anything                 | alive: a live handle holds it             |
//! | free (now ours)   | ours (`flock: true`)     | stale: [`Reason::KernelProvenDead`]       |
//! | free (now ours)   | foreign, a writer has it open (lease refused) | alive: a live writer, in any namespace |
//! | free (now ours)   | foreign, no writer or no lease answer, holder [`Place::Here`] or [`Place::Unrecorded`] | heuristics: dead pid, recycled pid, own-pid orphan |
//! | free (now ours)   | foreign, holder elsewhere (another pid namespace or host) | alive as far as we can tell: its pid is never judged |
//! | free (now ours)   | none (empty or garbage)  | alive while a writer has it open; else stale only past the grace period (by mtime) |
//! | unavailable       | any                      | as foreign without a lease: the heuristics where the place allows, never a proof |
//!
//! A pid means something only on its own host, boot and pid namespace. Our payloads
//! record all three ([`crate::fs::Location`]); a pid is judged only when they all match
//! ours, or when the payload records none (the original lock's files), where we cannot
//! know better. The lease probe ([`crate::fs::LockFs::lease`]) is a kernel fact that holds
//! across namespaces and uids: a writer means a live holder. Its absence is not taken as
//! death on its own: the original lock closes its file *before* it unlinks it, so a file
//! with no writer may be one its live holder is about to remove, and breaking it then
//! would let that holder's unlink remove the successor's file (H5 on its side).
//!
//! Age ([`Reason::TooOld`]) and an exceeded hold budget ([`Reason::HoldExceeded`]) are
//! reported, never acted on: age is not death (H6).

use std::time::Duration;

use crate::fs::{Lease, Location, PidState, ProcessId};
use crate::payload::Payload;

/// Why a lock file's holder is, or looks, gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Our format, and its kernel lock was free: the holder closed it or died.
    KernelProvenDead,
    /// Foreign format, and no process has the recorded pid.
    DeadPid,
    /// Foreign format, and the recorded pid now belongs to a process that started later.
    RecycledPid,
    /// Foreign format naming this very process, which holds no such lock (H8).
    OwnPidOrphan,
    /// No usable payload, and the file is older than the grace period (H9).
    PayloadlessPastGrace,
    /// Older than the stale age. Reported only.
    TooOld,
    /// Held longer than its declared `maxHoldMs`. Reported only.
    HoldExceeded,
}

impl Reason {
    /// Whether this reason alone proves the holder gone, so the file may be removed.
    pub const fn is_actionable(self) -> bool {
        !matches!(self, Self::TooOld | Self::HoldExceeded)
    }
}

impl std::fmt::Display for Reason {
    /// The reason's name, as reports print it (`KernelProvenDead`, `DeadPid`, ...): a
    /// stable word, the same in a table, in JSON and in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::KernelProvenDead => "KernelProvenDead",
            Self::DeadPid => "DeadPid",
            Self::RecycledPid => "RecycledPid",
            Self::OwnPidOrphan => "OwnPidOrphan",
            Self::PayloadlessPastGrace => "PayloadlessPastGrace",
            Self::TooOld => "TooOld",
            Self::HoldExceeded => "HoldExceeded",
        })
    }
}

/// What the kernel said when we tried the file's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelLock {
    /// Another handle holds it: someone is alive and holding.
    HeldByOther,
    /// We took it: nobody else holds it.
    Free,
    /// The kernel lock proves nothing here (no `flock`, or one that is only local): the
    /// file is judged by the heuristics, whatever its payload says about `flock`.
    Unavailable,
}

/// Where a lock file's holder lives, compared with the judging process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Place {
    /// Same host, boot and pid namespace: its pid means what it says here.
    Here,
    /// The payload records no location (the original lock's files, payload-less files):
    /// judged as if here, where nothing better is known.
    Unrecorded,
    /// Same host and boot, another pid namespace (or ours is unknown): its pid names
    /// another process here, or none.
    OtherPidNamespace,
    /// Another host, or another boot, or a host we cannot compare with: its pid means
    /// nothing here.
    OtherHost,
}

impl Place {
    /// Where a holder recorded at `theirs` lives, seen from `ours`.
    pub fn of(theirs: &Location, ours: &Location) -> Self {
        if theirs.is_unknown() {
            return Self::Unrecorded;
        }
        let same = |a: &Option<String>, b: &Option<String>| a.is_some() && a == b;
        if !same(&theirs.host, &ours.host) || !same(&theirs.boot, &ours.boot) {
            return Self::OtherHost;
        }
        match (theirs.pid_ns, ours.pid_ns) {
            (Some(a), Some(b)) if a == b => Self::Here,
            _ => Self::OtherPidNamespace,
        }
    }

    /// Whether a pid recorded there may be looked up here.
    pub const fn pid_means_something(self) -> bool {
        matches!(self, Self::Here | Self::Unrecorded)
    }

    /// Whether the holder lives elsewhere: its pid is not shown as ours.
    pub const fn is_elsewhere(self) -> bool {
        !self.pid_means_something()
    }
}

/// The thresholds the heuristics use for foreign files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// Age past which a foreign holder is reported as [`Reason::TooOld`].
    pub stale_age: Duration,
    /// Age (by mtime) past which a payload-less foreign file is stale.
    pub payloadless_grace: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self { stale_age: Duration::from_secs(30 * 60), payloadless_grace: Duration::from_secs(30) }
    }
}

/// Everything known about one lock file at one moment.
#[derive(Clone, Debug)]
pub struct Evidence<'a> {
    /// The kernel's answer.
    pub kernel: KernelLock,
    /// The parsed payload, if any.
    pub payload: Option<&'a Payload>,
    /// The file's mtime, ms since the epoch.
    pub mtime_ms: u64,
    /// The wall clock now, ms since the epoch.
    pub now_ms: u64,
    /// The process table's answer for the payload's pid, if it was asked.
    pub pid_state: Option<PidState>,
    /// The judging process.
    pub me: ProcessId,
    /// Where the holder lives, from the payload's location and ours.
    pub place: Place,
    /// The read-lease probe's answer, if it was asked (foreign files whose kernel lock
    /// we took, where that lock proves something).
    pub lease: Option<Lease>,
}

/// The reasons found; the file is stale when any of them is actionable (see
/// [`Holder::is_stale`](crate::core::Holder::is_stale), the one place that says so).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Every reason that applies.
    pub reasons: Vec<Reason>,
    /// For a file with no usable payload still within its grace: how long until it is
    /// past it (by its mtime, H9), unless it is written meanwhile. `None` for every other
    /// file, whose staleness no clock decides.
    pub stale_in: Option<Duration>,
}

/// Judges one lock file.
pub fn judge(e: &Evidence<'_>, limits: &Thresholds) -> Verdict {
    let mut reasons = Vec::new();
    let mut stale_in = None;
    let writer = e.lease == Some(Lease::Writer);
    if e.kernel != KernelLock::HeldByOther {
        match e.payload {
            Some(p) if p.kernel_locked && e.kernel == KernelLock::Free => {
                #[cfg(not(sessionlock_mutant = "m5_free_lock_no_proof"))]
                reasons.push(Reason::KernelProvenDead);
            }
            Some(p) if p.pid.is_some() => {
                if !writer && e.place.pid_means_something() {
                    reasons.extend(foreign_death(p, e));
                }
            }
            _ if writer => {}
            _ => {
                let age = age(e.now_ms, e.mtime_ms);
                if age > limits.payloadless_grace {
                    reasons.push(Reason::PayloadlessPastGrace);
                } else {
                    stale_in = Some(limits.payloadless_grace - age);
                }
            }
        }
    }
    if let Some(created) = e.payload.and_then(|p| p.created_at_ms) {
        let held = age(e.now_ms, created);
        if held > limits.stale_age {
            reasons.push(Reason::TooOld);
        }
        if e.payload.and_then(|p| p.max_hold_ms).is_some_and(|max| held.as_millis() > max.into()) {
            reasons.push(Reason::HoldExceeded);
        }
    }
    Verdict { reasons, stale_in }
}

/// The pid heuristics for a foreign payload that names a pid.
fn foreign_death(p: &Payload, e: &Evidence<'_>) -> Option<Reason> {
    let pid = p.pid?;
    if pid == e.me.pid {
        let same_start = p.starttime.is_none() || p.starttime == e.me.starttime;
        return Some(if same_start { Reason::OwnPidOrphan } else { Reason::RecycledPid });
    }
    match e.pid_state? {
        PidState::Dead => Some(Reason::DeadPid),
        PidState::Alive { starttime: Some(now) } if p.starttime.is_some_and(|s| s != now) => {
            Some(Reason::RecycledPid)
        }
        PidState::Alive { .. } => None,
    }
}

fn age(now_ms: u64, then_ms: u64) -> Duration {
    Duration::from_millis(now_ms.saturating_sub(then_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: ProcessId = ProcessId { pid: 100, starttime: Some(5) };
    const NOW: u64 = 10_000_000;

    fn verdict(
        kernel: KernelLock,
        payload: Option<&Payload>,
        pid: Option<PidState>,
    ) -> Vec<Reason> {
        judged(kernel, payload, pid, Place::Unrecorded, None)
    }

    fn judged(
        kernel: KernelLock,
        payload: Option<&Payload>,
        pid: Option<PidState>,
        place: Place,
        lease: Option<Lease>,
    ) -> Vec<Reason> {
        let e = Evidence {
            kernel,
            payload,
            mtime_ms: NOW,
            now_ms: NOW,
            pid_state: pid,
            me: ME,
            place,
            lease,
        };
        judge(&e, &Thresholds::default()).reasons
    }

    fn at(host: &str, boot: &str, pid_ns: u64) -> Location {
        Location { host: Some(host.into()), boot: Some(boot.into()), pid_ns: Some(pid_ns) }
    }

    #[test]
    fn a_place_is_here_only_when_host_boot_and_pid_namespace_all_match() {
        let here = at("a", "b1", 10);
        assert_eq!(Place::of(&at("a", "b1", 10), &here), Place::Here);
        assert_eq!(Place::of(&at("a", "b1", 11), &here), Place::OtherPidNamespace);
        assert_eq!(Place::of(&at("a", "b2", 10), &here), Place::OtherHost, "another boot");
        assert_eq!(Place::of(&at("z", "b1", 10), &here), Place::OtherHost);
        assert_eq!(Place::of(&Location::UNKNOWN, &here), Place::Unrecorded);
        let no_ns = Location { pid_ns: None, ..here.clone() };
        assert_eq!(Place::of(&here, &no_ns), Place::OtherPidNamespace, "ours unknown");
        assert_eq!(Place::of(&no_ns, &no_ns), Place::OtherPidNamespace, "theirs unknown");
        let host_only = Location { host: Some("a".into()), ..Location::UNKNOWN };
        assert_eq!(Place::of(&host_only, &here), Place::OtherHost, "boot unknown");
    }

    /// A pid recorded in another pid namespace or on another host is never judged here,
    /// however dead or recycled it looks, with or without a kernel proof.
    /// Checks: INV-2
    #[test]
    fn a_pid_from_elsewhere_is_never_judged() {
        let theirs = foreign(7, Some(1));
        let ours = Payload { kernel_locked: true, ..foreign(7, Some(1)) };
        let own_pid = foreign(ME.pid, None);
        for place in [Place::OtherPidNamespace, Place::OtherHost] {
            for kernel in [KernelLock::Free, KernelLock::Unavailable] {
                for p in [&theirs, &own_pid] {
                    for pid in [Some(PidState::Dead), Some(PidState::Alive { starttime: Some(9) })]
                    {
                        assert_eq!(judged(kernel, Some(p), pid, place, None), vec![], "{place:?}");
                    }
                }
            }
            let no_proof = judged(KernelLock::Unavailable, Some(&ours), None, place, None);
            assert_eq!(no_proof, vec![], "degraded, {place:?}");
        }
        let here = judged(KernelLock::Free, Some(&theirs), Some(PidState::Dead), Place::Here, None);
        assert_eq!(here, vec![Reason::DeadPid]);
    }

    /// A writer on the file (the lease refused) is a live holder, whatever its pid or age
    /// says; no writer leaves the judgement to the pid heuristics.
    /// Checks: INV-2
    #[test]
    fn a_live_writer_outweighs_every_heuristic() {
        let w = Some(Lease::Writer);
        let dead = Some(PidState::Dead);
        let free = KernelLock::Free;
        assert_eq!(judged(free, Some(&foreign(7, Some(1))), dead, Place::Unrecorded, w), vec![]);
        assert_eq!(judged(free, Some(&foreign(ME.pid, None)), None, Place::Unrecorded, w), vec![]);
        let e = Evidence {
            kernel: free,
            payload: None,
            mtime_ms: NOW - 31_000,
            now_ms: NOW,
            pid_state: None,
            me: ME,
            place: Place::Unrecorded,
            lease: w,
        };
        assert_eq!(judge(&e, &Thresholds::default()).reasons, vec![], "a paused writer (H9)");
        let gone = Some(Lease::NoWriter);
        let no_writer = judged(free, Some(&foreign(7, Some(1))), dead, Place::Unrecorded, gone);
        assert_eq!(no_writer, vec![Reason::DeadPid]);
        let releasing = Some(PidState::Alive { starttime: Some(1) });
        let live = judged(free, Some(&foreign(7, Some(1))), releasing, Place::Here, gone);
        assert_eq!(live, vec![], "no writer, live pid: closed and about to unlink");
        let old = Evidence { lease: gone, ..e };
        assert_eq!(judge(&old, &Thresholds::default()).reasons, vec![Reason::PayloadlessPastGrace]);
    }

    fn foreign(pid: u32, starttime: Option<u64>) -> Payload {
        Payload { pid: Some(pid), starttime, created_at_ms: Some(NOW), ..Payload::default() }
    }

    #[test]
    fn a_held_kernel_lock_means_alive_whatever_the_payload() {
        let p = foreign(7, Some(1));
        assert_eq!(verdict(KernelLock::HeldByOther, Some(&p), Some(PidState::Dead)), vec![]);
    }

    #[test]
    fn our_file_with_a_free_kernel_lock_is_proven_dead() {
        let p = Payload { kernel_locked: true, ..foreign(ME.pid, ME.starttime) };
        let alive = Some(PidState::Alive { starttime: ME.starttime });
        assert_eq!(verdict(KernelLock::Free, Some(&p), alive), vec![Reason::KernelProvenDead]);
    }

    /// Where the kernel lock proves nothing, even our own format is judged by its pid.
    /// Checks: INV-2
    #[test]
    fn without_a_kernel_proof_our_file_is_judged_by_its_pid() {
        let p = Payload { kernel_locked: true, ..foreign(7, Some(1)) };
        let live = Some(PidState::Alive { starttime: Some(1) });
        assert_eq!(verdict(KernelLock::Unavailable, Some(&p), live), vec![]);
        let dead = verdict(KernelLock::Unavailable, Some(&p), Some(PidState::Dead));
        assert_eq!(dead, vec![Reason::DeadPid]);
    }

    #[test]
    fn foreign_heuristics() {
        let free = KernelLock::Free;
        let dead = verdict(free, Some(&foreign(7, Some(1))), Some(PidState::Dead));
        assert_eq!(dead, vec![Reason::DeadPid]);
        let reused = Some(PidState::Alive { starttime: Some(2) });
        assert_eq!(verdict(free, Some(&foreign(7, Some(1))), reused), vec![Reason::RecycledPid]);
        let live = Some(PidState::Alive { starttime: Some(1) });
        assert_eq!(verdict(free, Some(&foreign(7, Some(1))), live), vec![]);
        assert_eq!(verdict(free, Some(&foreign(ME.pid, None)), None), vec![Reason::OwnPidOrphan]);
        assert_eq!(verdict(free, Some(&foreign(ME.pid, Some(4))), None), vec![Reason::RecycledPid]);
    }

    #[test]
    fn payloadless_is_stale_only_past_the_grace() {
        let fresh = Evidence {
            kernel: KernelLock::Free,
            payload: None,
            mtime_ms: NOW - 29_000,
            now_ms: NOW,
            pid_state: None,
            me: ME,
            place: Place::Unrecorded,
            lease: None,
        };
        let verdict = judge(&fresh, &Thresholds::default());
        assert_eq!(verdict.reasons, vec![]);
        assert_eq!(verdict.stale_in, Some(Duration::from_secs(1)), "says when it will be");
        let old = Evidence { mtime_ms: NOW - 31_000, ..fresh };
        let verdict = judge(&old, &Thresholds::default());
        assert_eq!(verdict.reasons, vec![Reason::PayloadlessPastGrace]);
        assert_eq!(verdict.stale_in, None);
        let ours = Payload { kernel_locked: true, ..Payload::default() };
        let with_payload =
            Evidence { payload: Some(&ours), kernel: KernelLock::HeldByOther, ..fresh };
        assert_eq!(judge(&with_payload, &Thresholds::default()).stale_in, None, "no clock decides");
    }

    #[test]
    fn reasons_print_their_names() {
        let names = [Reason::KernelProvenDead, Reason::PayloadlessPastGrace, Reason::TooOld]
            .map(|r| r.to_string());
        assert_eq!(names, ["KernelProvenDead", "PayloadlessPastGrace", "TooOld"]);
    }

    #[test]
    fn age_and_budget_are_reported_but_never_stale() {
        let mut p = foreign(7, Some(1));
        p.created_at_ms = Some(NOW - 31 * 60 * 1000);
        p.max_hold_ms = Some(1000);
        let alive = Some(PidState::Alive { starttime: Some(1) });
        let e = Evidence {
            kernel: KernelLock::Free,
            payload: Some(&p),
            mtime_ms: NOW,
            now_ms: NOW,
            pid_state: alive,
            me: ME,
            place: Place::Unrecorded,
            lease: None,
        };
        let v = judge(&e, &Thresholds::default());
        assert_eq!(v.reasons, vec![Reason::TooOld, Reason::HoldExceeded]);
        assert!(!v.reasons.into_iter().any(Reason::is_actionable), "report-only reasons");
    }
}
