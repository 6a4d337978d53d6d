//! The fenced store over PostgreSQL (INV-8 FencedWrites), checked exhaustively.
//!
//! A lock cannot stop a holder that lost its lock without knowing it (its session was
//! terminated, the network cut, the process paused past a takeover, the server
//! restarted) from writing. The store must check the writer's token at commit. This
//! model has the lock row (its generation, from a sequence), each holder's session (which
//! keeps the generation's advisory lock), and the writers' transactions on the store:
//!
//! | action        | what it stands for                                                        |
//! |---------------|---------------------------------------------------------------------------|
//! | `Acquire`     | publish: a fresh generation, its advisory lock and the row, atomically    |
//! | `Break`       | a contender takes a dead session's advisory lock and deletes the row (compare-and-delete); the delete waits for every transaction that share-locked the row |
//! | `Begin`       | a write transaction's fence check: the row has the writer's generation and its publisher's session still holds the lock; then the row is share-locked (`FOR SHARE`) |
//! | `Commit`      | the write commits, ending the share lock                                  |
//! | `Release`     | the holder deletes its row and ends its hold                              |
//! | `Zombie`      | the server ends a holder's session; the holder does not notice and keeps writing |
//! | `Restart`     | the server restarts cleanly: every session and every transaction in flight ends; rows and the sequence survive |
//! | `Crash`       | the server crashes and recovers: as `Restart`, and the lock row is gone (the lock table is unlogged); the sequence survives, since every publish flushed its generation |
//!
//! The fence check passes when the row has the writer's token and the session that
//! published the row still holds its advisory lock: the session of whoever published it,
//! which the check finds through the row, not the writer's own. A holder whose write is
//! rejected stops and drops its hold, as `examples/pg_append.rs` does. Mutants take the
//! check away ([`FenceMutant::SkipCheck`]) or the share lock
//! ([`FenceMutant::NoShareLock`]), or let a crash roll the sequence back
//! ([`FenceMutant::SequenceRollback`]); each must be caught.

use stateright::{Checker, Expectation, Model, Property};

/// The always-property.
pub const INV8: &str = "INV-8 FencedWrites";

/// A fence bug to re-introduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FenceMutant {
    /// The store commits without checking the token.
    SkipCheck,
    /// The store checks the token but does not share-lock the row, so a takeover can
    /// slip in between the check and the commit.
    NoShareLock,
    /// A crash rolls the sequence back below the last generation issued (a publish that
    /// committed without flushing the WAL record of its generation), so a token is given
    /// out again.
    SequenceRollback,
}

impl FenceMutant {
    /// Every fence mutant.
    pub const ALL: [Self; 3] = [Self::SkipCheck, Self::NoShareLock, Self::SequenceRollback];

    /// A short name, e.g. `F1-skip-check`.
    pub fn name(self) -> &'static str {
        match self {
            Self::SkipCheck => "F1-skip-check",
            Self::NoShareLock => "F2-no-share-lock",
            Self::SequenceRollback => "F3-sequence-rollback",
        }
    }

    /// The invariant its checks must report.
    pub fn invariant(self) -> &'static str {
        "INV-8"
    }
}

/// One holder process.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Holder {
    /// The generation it believes it holds.
    pub token: Option<u8>,
    /// Whether its session still holds that generation's advisory lock.
    pub session: bool,
    /// The token its write transaction checked, while that transaction is open.
    pub writing: Option<u8>,
    /// Write transactions it may still start.
    pub writes_left: u8,
    /// Ghost: which publication its hold is (publications are counted apart from
    /// generations, so that a generation given out twice is told apart).
    pub hold: Option<u8>,
}

/// The whole system.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FenceState {
    /// The last generation the sequence issued.
    pub issued: u8,
    /// The lock row's generation, if a row exists.
    pub row: Option<u8>,
    /// The holders.
    pub holders: Vec<Holder>,
    /// Faults (`Zombie`, `Restart`, `Crash`) the environment may still inject.
    pub faults_left: u8,
    /// Ghost: publications so far (never rolled back).
    pub holds: u8,
    /// Ghost: a write committed under a hold other than the newest publication's.
    pub stale_commit: bool,
    /// Ghost: a write was rejected by the fence.
    pub rejected: bool,
    /// Ghost: a write committed.
    pub committed: bool,
    /// Ghost: a lost session's row was taken over.
    pub took_over: bool,
    /// Ghost: the server restarted while someone held.
    pub restarted_holding: bool,
    /// Ghost: the server crashed while someone held.
    pub crashed_holding: bool,
}

/// An action of the model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FenceAction {
    /// Holder `p` publishes the row.
    Acquire(usize),
    /// Holder `p` breaks a dead session's row.
    Break(usize),
    /// Holder `p` starts a write transaction (the fence check).
    Begin(usize),
    /// Holder `p` commits its write.
    Commit(usize),
    /// Holder `p` releases.
    Release(usize),
    /// The server ends holder `p`'s session; `p` does not notice.
    Zombie(usize),
    /// The server restarts.
    Restart,
    /// The server crashes and recovers.
    Crash,
}

/// The model's configuration.
#[derive(Clone, Debug)]
pub struct FenceModel {
    /// Number of holder processes.
    pub holders: usize,
    /// Generations the sequence may issue.
    pub generations: u8,
    /// Faults the environment may inject.
    pub faults: u8,
    /// Write transactions per holder.
    pub writes: u8,
    /// The bug re-introduced, if any.
    pub mutant: Option<FenceMutant>,
}

impl Default for FenceModel {
    fn default() -> Self {
        Self { holders: 2, generations: 3, faults: 2, writes: 2, mutant: None }
    }
}

impl FenceModel {
    /// Whether some holder's session holds the advisory lock of `generation`.
    fn locked(s: &FenceState, generation: u8) -> bool {
        s.holders.iter().any(|h| h.session && h.token == Some(generation))
    }

    /// Whether a write transaction share-locks the row now.
    fn share_locked(&self, s: &FenceState) -> bool {
        self.mutant != Some(FenceMutant::NoShareLock)
            && s.holders.iter().any(|h| h.writing.is_some() && h.writing == s.row)
    }

    /// The fence check of a write under `token`: the row has it, and the session that
    /// published the row holds its advisory lock (whoever's that is).
    fn fence_passes(&self, s: &FenceState, token: u8) -> bool {
        self.mutant == Some(FenceMutant::SkipCheck)
            || (s.row == Some(token) && Self::locked(s, token))
    }
}

impl Model for FenceModel {
    type State = FenceState;
    type Action = FenceAction;

    fn init_states(&self) -> Vec<FenceState> {
        let holder = Holder {
            token: None,
            session: false,
            writing: None,
            writes_left: self.writes,
            hold: None,
        };
        vec![FenceState {
            issued: 0,
            row: None,
            holders: vec![holder; self.holders],
            faults_left: self.faults,
            holds: 0,
            stale_commit: false,
            rejected: false,
            committed: false,
            took_over: false,
            restarted_holding: false,
            crashed_holding: false,
        }]
    }

    fn actions(&self, s: &FenceState, actions: &mut Vec<FenceAction>) {
        for (p, h) in s.holders.iter().enumerate() {
            match (h.token, h.writing) {
                (None, _) if s.row.is_none() && s.issued < self.generations => {
                    actions.push(FenceAction::Acquire(p));
                }
                (None, _) => {
                    let dead = s.row.is_some_and(|g| !Self::locked(s, g));
                    if dead && !self.share_locked(s) {
                        actions.push(FenceAction::Break(p));
                    }
                }
                (Some(_), Some(_)) => actions.push(FenceAction::Commit(p)),
                (Some(_), None) => {
                    if h.writes_left > 0 {
                        actions.push(FenceAction::Begin(p));
                    }
                    if h.session {
                        actions.push(FenceAction::Release(p));
                    }
                }
            }
            if h.session && s.faults_left > 0 {
                actions.push(FenceAction::Zombie(p));
            }
        }
        if s.faults_left > 0 && s.holders.iter().any(|h| h.session || h.writing.is_some()) {
            actions.push(FenceAction::Restart);
            actions.push(FenceAction::Crash);
        }
    }

    fn next_state(&self, last: &FenceState, action: FenceAction) -> Option<FenceState> {
        let mut s = last.clone();
        match action {
            FenceAction::Acquire(p) => {
                s.issued += 1;
                s.holds += 1;
                s.row = Some(s.issued);
                s.holders[p].token = Some(s.issued);
                s.holders[p].session = true;
                s.holders[p].hold = Some(s.holds);
            }
            FenceAction::Break(_) => {
                s.row = None;
                s.took_over = true;
            }
            FenceAction::Begin(p) => {
                let token = s.holders[p].token?;
                s.holders[p].writes_left -= 1;
                if self.fence_passes(&s, token) {
                    s.holders[p].writing = Some(token);
                } else {
                    // Rejected, nothing written: the writer stops and drops its hold.
                    s.rejected = true;
                    s.holders[p].token = None;
                    s.holders[p].session = false;
                }
            }
            FenceAction::Commit(p) => {
                let token = s.holders[p].writing.take()?;
                s.committed = true;
                if token != s.issued || s.holders[p].hold != Some(s.holds) {
                    s.stale_commit = true;
                }
            }
            FenceAction::Release(p) => {
                let token = s.holders[p].token.take();
                if s.row == token {
                    s.row = None;
                }
                s.holders[p].session = false;
            }
            FenceAction::Zombie(p) => {
                s.faults_left -= 1;
                s.holders[p].session = false;
            }
            FenceAction::Restart => {
                s.faults_left -= 1;
                s.restarted_holding |= s.holders.iter().any(|h| h.session);
                for h in &mut s.holders {
                    h.session = false;
                    h.writing = None;
                }
            }
            FenceAction::Crash => {
                s.faults_left -= 1;
                s.crashed_holding |= s.holders.iter().any(|h| h.session);
                for h in &mut s.holders {
                    h.session = false;
                    h.writing = None;
                }
                s.row = None;
                if self.mutant == Some(FenceMutant::SequenceRollback) {
                    s.issued = s.issued.saturating_sub(1);
                }
            }
        }
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always(INV8, |_, s: &FenceState| !s.stale_commit),
            Property::sometimes("a write committed", |_, s: &FenceState| s.committed),
            Property::sometimes("a zombie's write rejected", |_, s: &FenceState| s.rejected),
            Property::sometimes("a lost session taken over", |_, s: &FenceState| s.took_over),
            Property::sometimes("a restart while holding", |_, s: &FenceState| s.restarted_holding),
            Property::sometimes("a crash while holding", |_, s: &FenceState| s.crashed_holding),
            Property::sometimes(
                "a write in flight after its session ended",
                |_, s: &FenceState| s.holders.iter().any(|h| h.writing.is_some() && !h.session),
            ),
        ]
    }
}

/// What one exhaustive check of the fenced store found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FenceReport {
    /// `"fence/2h"` or the mutant's name.
    pub name: String,
    /// Distinct states reached.
    pub unique_states: usize,
    /// The always-properties with a counterexample.
    pub violated: Vec<String>,
    /// Each sometimes-property, and whether an example was reached.
    pub reached: Vec<(String, bool)>,
    /// The actions of a path to a violation, if any, one numbered line each.
    pub counterexample: Option<String>,
}

/// Explores every state of `model` (breadth-first) and reports.
pub fn check_fence(model: &FenceModel) -> FenceReport {
    let name = match model.mutant {
        Some(m) => format!("{}/{}h", m.name(), model.holders),
        None => format!("fence/{}h", model.holders),
    };
    let checker = model.clone().checker().spawn_bfs().join();
    let mut violated = Vec::new();
    let mut reached = Vec::new();
    let mut counterexample = None;
    for p in model.properties() {
        let found = checker.discovery(p.name);
        match p.expectation {
            Expectation::Sometimes => reached.push((p.name.to_owned(), found.is_some())),
            _ => {
                if let Some(path) = found {
                    violated.push(p.name.to_owned());
                    counterexample.get_or_insert_with(|| {
                        let actions = path.into_actions().into_iter().enumerate();
                        actions.map(|(i, a)| format!("{:>3}. {a:?}\n", i + 1)).collect::<String>()
                    });
                }
            }
        }
    }
    FenceReport {
        name,
        unique_states: checker.unique_state_count(),
        violated,
        reached,
        counterexample,
    }
}
