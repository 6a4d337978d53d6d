//! What the world injects into its primitives: filesystem faults and crash points, and
//! the plan that arms them. The world owns the plan ([`World`](crate::World) keeps one and
//! consults it at every primitive); the drivers that use it are in [`crate::fault`].
//!
//! Each plan entry counts the primitives it could hit, per process, from 0 when the plan
//! is installed, and fires once:
//!
//! | entry | fires at | the primitive |
//! |---|---|---|
//! | [`Fault`] `Io`, `NoSpace`, `Access`, `Interrupted` | its `at`-th matching primitive | fails with EIO, ENOSPC, EACCES, EINTR, before any effect |
//! | [`Fault`] `ShortWrite` | a publish | fails with `WriteZero` and leaves nothing behind (the adapter removes its temporary file) |
//! | [`Fault`] `NotFoundRace` | an open or a path stat | reports nothing at the path, as if the file had just vanished |
//! | [`Fault`] `AlreadyExistsRace` | a publish | reports [`Published::Exists`](sessionlock::fs::Published), as if a racing creator won |
//! | [`CrashAt`] `Before` | the process's `at`-th primitive | the process dies before it takes effect |
//! | [`CrashAt`] `After` | the process's `at`-th primitive | it takes effect, then the process dies |

use std::collections::BTreeMap;
use std::io;

use sessionlock::fs::FsOp;

use crate::process::Pid;

/// `EIO`, without libc.
pub const EIO: i32 = 5;
/// `ENOSPC`, without libc.
pub const ENOSPC: i32 = 28;
/// `EACCES`, without libc.
pub const EACCES: i32 = 13;
/// `EINTR`, without libc.
pub const EINTR: i32 = 4;

/// Every primitive a plan can hit (all of [`FsOp`] but `Resolve`, which the core does
/// not run).
pub const FS_OPS: [FsOp; 9] = [
    FsOp::Publish,
    FsOp::Open,
    FsOp::TryLock,
    FsOp::LockUntil,
    FsOp::Meta,
    FsOp::PathId,
    FsOp::Read,
    FsOp::Unlink,
    FsOp::Close,
];

/// How an injected fault makes a primitive fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// `EIO`.
    Io,
    /// `ENOSPC`.
    NoSpace,
    /// `EACCES`.
    Access,
    /// `EINTR`.
    Interrupted,
    /// An open or path stat finds nothing: the file vanished in between.
    NotFoundRace,
    /// A publish finds the path taken: a racing creator.
    AlreadyExistsRace,
    /// A publish could not write the whole payload; it fails with `WriteZero` and leaves
    /// nothing behind.
    ShortWrite,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [Self; 7] = [
        Self::Io,
        Self::NoSpace,
        Self::Access,
        Self::Interrupted,
        Self::NotFoundRace,
        Self::AlreadyExistsRace,
        Self::ShortWrite,
    ];

    /// Whether this kind can hit `op`: the races only where they mean something, the
    /// errors anywhere.
    pub fn applies_to(self, op: FsOp) -> bool {
        match self {
            Self::NotFoundRace => matches!(op, FsOp::Open | FsOp::PathId),
            Self::AlreadyExistsRace | Self::ShortWrite => op == FsOp::Publish,
            Self::Io | Self::NoSpace | Self::Access | Self::Interrupted => true,
        }
    }

    /// The error the primitive fails with; `None` for a race, which is reported as an
    /// outcome instead.
    pub fn error(self) -> Option<io::Error> {
        let code = match self {
            Self::Io => EIO,
            Self::NoSpace => ENOSPC,
            Self::Access => EACCES,
            Self::Interrupted => EINTR,
            Self::ShortWrite => {
                let detail = "short write: publication abandoned, temporary file removed";
                return Some(io::Error::new(io::ErrorKind::WriteZero, detail));
            }
            Self::NotFoundRace | Self::AlreadyExistsRace => return None,
        };
        Some(io::Error::from_raw_os_error(code))
    }

    /// Whether `error` is the one this kind injects.
    pub fn produced(self, error: &io::Error) -> bool {
        match self.error() {
            Some(own) if own.raw_os_error().is_some() => own.raw_os_error() == error.raw_os_error(),
            Some(own) => own.kind() == error.kind() && error.raw_os_error().is_none(),
            None => false,
        }
    }

    /// What the primitive returns instead of running: the error, or `raced` for a race.
    pub(crate) fn inject<T>(self, raced: Option<T>) -> io::Result<T> {
        match self.error() {
            Some(error) => Err(error),
            None => {
                raced.ok_or_else(|| io::Error::other("race fault on a primitive it cannot hit"))
            }
        }
    }
}

/// Makes the `at`-th primitive matching `pid`, `op` and `kind` fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Which matching primitive of the target process, counting from 0 when the plan is
    /// installed. With `pid: None` each process counts its own, and the first to reach
    /// `at` is hit.
    pub at: u64,
    /// The target process; `None` for any.
    pub pid: Option<Pid>,
    /// The target primitive; `None` for any that `kind` applies to.
    pub op: Option<FsOp>,
    /// How it fails.
    pub kind: FaultKind,
}

impl Fault {
    /// Whether a primitive `op` of `pid` counts towards this fault.
    pub fn matches(&self, pid: Pid, op: FsOp) -> bool {
        self.pid.is_none_or(|p| p == pid)
            && self.op.is_none_or(|o| o == op)
            && self.kind.applies_to(op)
    }
}

/// When a crash point kills its process, relative to the primitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CrashWhen {
    /// Before the primitive takes effect.
    Before,
    /// Right after it takes effect.
    After,
}

/// Kills process `pid` at its `at`-th primitive (counting from 0 when installed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashAt {
    /// Which primitive of the process.
    pub at: u64,
    /// The process.
    pub pid: Pid,
    /// Before or after the primitive's effect.
    pub when: CrashWhen,
}

/// A fault the plan injected: which process, which primitive, how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Injected {
    /// The process whose primitive was hit.
    pub pid: Pid,
    /// The primitive.
    pub op: FsOp,
    /// The fault.
    pub kind: FaultKind,
}

/// A plan entry with its own per-process count of the primitives it could hit.
pub(crate) struct Armed<T> {
    entry: T,
    seen: BTreeMap<Pid, u64>,
    fired: bool,
}

impl<T> Armed<T> {
    pub(crate) fn new(entry: T) -> Self {
        Self { entry, seen: BTreeMap::new(), fired: false }
    }

    /// Counts a matching primitive of `pid`; `true` if it is the one to hit.
    fn hit(&mut self, pid: Pid, at: u64, matches: bool) -> bool {
        if self.fired || !matches {
            return false;
        }
        let seen = self.seen.entry(pid).or_default();
        let hit = *seen == at;
        *seen += 1;
        self.fired = hit;
        hit
    }
}

/// The fault plan a world carries (empty by default: nothing is injected).
#[derive(Default)]
pub(crate) struct FaultPlan {
    pub(crate) faults: Vec<Armed<Fault>>,
    pub(crate) crashes: Vec<Armed<CrashAt>>,
    pub(crate) log: Vec<Injected>,
    pub(crate) crashed: u64,
}

/// What the plan does to one primitive.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Intercept {
    /// Kill the process before or after the primitive.
    pub crash: Option<CrashWhen>,
    /// Make the primitive fail (ignored when the crash comes before it).
    pub fault: Option<FaultKind>,
}

impl FaultPlan {
    pub(crate) fn intercept(&mut self, pid: Pid, op: FsOp) -> Intercept {
        let mut crash = None;
        for armed in &mut self.crashes {
            let (at, target, when) = (armed.entry.at, armed.entry.pid, armed.entry.when);
            if armed.hit(pid, at, target == pid) {
                crash = crash.or(Some(when));
            }
        }
        self.crashed += u64::from(crash.is_some());
        if crash == Some(CrashWhen::Before) {
            return Intercept { crash, fault: None };
        }
        let mut fault = None;
        for armed in &mut self.faults {
            let (at, matches) = (armed.entry.at, armed.entry.matches(pid, op));
            if armed.hit(pid, at, matches) {
                fault = fault.or(Some(armed.entry.kind));
            }
        }
        if let Some(kind) = fault {
            self.log.push(Injected { pid, op, kind });
        }
        Intercept { crash, fault }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_kind_is_recognised_only_by_itself() {
        for kind in FaultKind::ALL {
            for other in FaultKind::ALL {
                let produced = kind.error().is_some_and(|e| other.produced(&e));
                assert_eq!(
                    produced,
                    kind == other && kind.error().is_some(),
                    "{kind:?} vs {other:?}"
                );
            }
        }
    }

    #[test]
    fn races_apply_only_where_they_mean_something() {
        let hits = |kind: FaultKind| FS_OPS.iter().filter(|op| kind.applies_to(**op)).count();
        assert_eq!(hits(FaultKind::NotFoundRace), 2);
        assert_eq!(hits(FaultKind::AlreadyExistsRace), 1);
        assert_eq!(hits(FaultKind::ShortWrite), 1);
        assert_eq!(hits(FaultKind::Io), FS_OPS.len());
    }

    #[test]
    fn a_fault_counts_only_matching_primitives_of_its_process_and_fires_once() {
        let fault = Fault { at: 1, pid: Some(7), op: Some(FsOp::Open), kind: FaultKind::Io };
        let mut plan = FaultPlan { faults: vec![Armed::new(fault)], ..FaultPlan::default() };
        let mut fired = Vec::new();
        for (pid, op) in
            [(7, FsOp::Open), (8, FsOp::Open), (7, FsOp::Read), (7, FsOp::Open), (7, FsOp::Open)]
        {
            fired.push(plan.intercept(pid, op).fault.is_some());
        }
        assert_eq!(fired, [false, false, false, true, false]);
        assert_eq!(plan.log, [Injected { pid: 7, op: FsOp::Open, kind: FaultKind::Io }]);
    }

    #[test]
    fn a_crash_before_a_primitive_preempts_its_fault() {
        let fault = Fault { at: 0, pid: None, op: None, kind: FaultKind::Io };
        let crash = CrashAt { at: 0, pid: 3, when: CrashWhen::Before };
        let mut plan = FaultPlan {
            faults: vec![Armed::new(fault)],
            crashes: vec![Armed::new(crash)],
            ..FaultPlan::default()
        };
        let hook = plan.intercept(3, FsOp::Publish);
        assert_eq!((hook.crash, hook.fault), (Some(CrashWhen::Before), None));
        let next = plan.intercept(3, FsOp::Publish);
        assert_eq!(
            (next.crash, next.fault),
            (None, Some(FaultKind::Io)),
            "a crashed primitive is not counted"
        );
    }
}

/// How many faults a run injected, and where they landed: the evidence that a pass
/// under faults means something.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultHits {
    /// Faults injected in all.
    pub injected: u64,
    /// Faults that hit a publish.
    pub publish: u64,
    /// Faults that hit a step of a release (seen by the release).
    pub release: u64,
    /// Faults that hit a probe step of an acquire: open, try-lock, the kernel wait,
    /// stat, read, or the removal of a stale file.
    pub probe: u64,
}

impl FaultHits {
    /// Adds another run's counts.
    pub fn add(&mut self, other: &Self) {
        self.injected += other.injected;
        self.publish += other.publish;
        self.release += other.release;
        self.probe += other.probe;
    }

    /// Panics unless faults were injected, and hit a publish, a release and a probe.
    #[track_caller]
    pub fn assert_exercised(&self, run: &str) {
        let missing: Vec<&str> = [
            ("any step", self.injected),
            ("a publish", self.publish),
            ("a release step", self.release),
            ("a probe step", self.probe),
        ]
        .into_iter()
        .filter(|(_, n)| *n == 0)
        .map(|(what, _)| what)
        .collect();
        assert!(
            missing.is_empty(),
            "{run}: no fault hit {missing:?}, so its pass proves nothing ({self:?})"
        );
    }
}
