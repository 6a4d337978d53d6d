//! The generating half of the reference: the fault plan, which processes are alive, and
//! what the generator believes each task is doing. Beliefs only steer generation and shrinking;
//! the checks use the exact model the [`Sut`](super::Sut) keeps.

use proptest::prelude::*;
use proptest::strategy::Union;
use proptest_state_machine::ReferenceStateMachine;

use proptest::collection::vec;
use proptest::option;
use proptest::sample::select;
use sessionlock::fs::FsOp;

use super::shape::{FIRST_PID, MAX_GUARDS, PROCESSES, TASKS, Transition, process_of};
use crate::fault::{Fault, FaultKind};
use crate::op::{Command, Op};
use crate::world::Pid;

/// What the generator believes about one task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Belief {
    /// The op believed in flight.
    pub busy: Option<Op>,
    /// Polls given to it so far.
    pub steps: u8,
    /// Guards believed held (acquires and try-acquires are assumed to succeed).
    pub guards: u8,
}

impl Belief {
    /// Polls after which the op is believed done: an uncontended run of it.
    fn expected_steps(op: Op) -> u8 {
        match op {
            Op::Acquire | Op::TryAcquire => 2,
            _ => 4,
        }
    }
}

/// The reference state: what the transition sequence alone decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The faults installed in the world before the first transition (none for
    /// [`Reference`]).
    pub faults: Vec<Fault>,
    /// Whether each process is alive.
    pub alive: [bool; PROCESSES],
    /// Each task's belief.
    pub tasks: [Belief; TASKS],
}

impl Default for Plan {
    fn default() -> Self {
        Self { faults: Vec::new(), alive: [true; PROCESSES], tasks: [Belief::default(); TASKS] }
    }
}

impl Plan {
    fn live(&self, task: usize) -> bool {
        task < TASKS && self.alive[process_of(task)]
    }

    /// Whether a task of `task`'s process other than `task` is believed to be releasing.
    fn sibling_releasing(&self, task: usize) -> bool {
        (0..TASKS).any(|o| {
            o != task
                && process_of(o) == process_of(task)
                && self.tasks[o].busy == Some(Op::Release)
        })
    }

    /// The weighted transitions worth generating from here: steps go mostly to busy
    /// tasks, releases and re-entries to holders, acquires to siblings of a releasing
    /// task (the seed race's window), restarts soon after crashes.
    fn choices(&self) -> Vec<(u32, BoxedStrategy<Transition>)> {
        let mut choices = vec![(3, Just(Transition::Settle).boxed()), (2, advance().boxed())];
        for task in (0..TASKS).filter(|&t| self.live(t)) {
            self.task_choices(task, &mut choices);
        }
        for (p, &alive) in self.alive.iter().enumerate() {
            let (weight, transition) = match alive {
                true => (1, Transition::Crash(p)),
                false => (6, Transition::Restart(p)),
            };
            choices.push((weight, Just(transition).boxed()));
        }
        choices
    }

    fn task_choices(&self, task: usize, choices: &mut Vec<(u32, BoxedStrategy<Transition>)>) {
        let belief = self.tasks[task];
        if belief.busy.is_some() {
            choices.push((10, step(task)));
            return;
        }
        choices.push((1, step(task)));
        let holding = belief.guards > 0;
        if usize::from(belief.guards) < MAX_GUARDS {
            let acquire = 3 + u32::from(holding) + 6 * u32::from(self.sibling_releasing(task));
            choices.push((acquire, begin(task, Op::Acquire)));
            choices.push((2, begin(task, Op::TryAcquire)));
        }
        if holding {
            choices.push((6, begin(task, Op::Release)));
        }
    }
}

fn step(task: usize) -> BoxedStrategy<Transition> {
    Just(Transition::Step(task)).boxed()
}

fn begin(task: usize, op: Op) -> BoxedStrategy<Transition> {
    Just(Transition::Begin(Command { task, op })).boxed()
}

/// Mostly small moves; sometimes past the 10 s acquire timeout.
fn advance() -> impl Strategy<Value = Transition> {
    prop_oneof![
        4 => Just(10u64),
        2 => Just(1_000),
        1 => Just(11_000),
    ]
    .prop_map(Transition::Advance)
}

/// The reference state machine (proptest-state-machine's generating model).
#[derive(Clone, Copy, Debug)]
pub struct Reference;

impl ReferenceStateMachine for Reference {
    type State = Plan;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Plan> {
        Just(Plan::default()).boxed()
    }

    fn transitions(plan: &Plan) -> BoxedStrategy<Transition> {
        Union::new_weighted(plan.choices()).boxed()
    }

    fn apply(mut plan: Plan, transition: &Transition) -> Plan {
        match *transition {
            Transition::Begin(Command { task, op }) if plan.live(task) => {
                let belief = &mut plan.tasks[task];
                if belief.busy.is_none() {
                    belief.busy = Some(op);
                    belief.steps = 0;
                    belief.guards = match op {
                        Op::Release => belief.guards.saturating_sub(1),
                        _ => belief.guards + 1,
                    };
                }
            }
            Transition::Step(task) if plan.live(task) => {
                let belief = &mut plan.tasks[task];
                if let Some(op) = belief.busy {
                    belief.steps += 1;
                    if belief.steps >= Belief::expected_steps(op) {
                        belief.busy = None;
                    }
                }
            }
            Transition::Settle => plan.tasks.iter_mut().for_each(|b| b.busy = None),
            Transition::Crash(p) => {
                plan.alive[p] = false;
                for (task, belief) in plan.tasks.iter_mut().enumerate() {
                    if process_of(task) == p {
                        *belief = Belief::default();
                    }
                }
            }
            Transition::Restart(p) => plan.alive[p] = true,
            Transition::Begin(_) | Transition::Step(_) | Transition::Advance(_) => {}
        }
        plan
    }

    /// Only what keeps a sequence meaningful: indices in range, no release without a
    /// guard believed held, no acquire past `MAX_GUARDS`. Liveness is not required:
    /// the system ignores ops on a dead process and restarts of a live one, so the
    /// shrinker may drop a crash without also dropping everything that followed it.
    fn preconditions(plan: &Plan, transition: &Transition) -> bool {
        match *transition {
            Transition::Begin(Command { task, op }) => {
                let guards = plan.tasks.get(task).map_or(0, |b| b.guards);
                task < TASKS
                    && match op {
                        Op::Acquire | Op::TryAcquire => usize::from(guards) < MAX_GUARDS,
                        Op::Release => guards > 0,
                        Op::Crash | Op::Advance(_) => false,
                    }
            }
            Transition::Step(task) => task < TASKS,
            Transition::Crash(p) | Transition::Restart(p) => p < PROCESSES,
            Transition::Advance(_) | Transition::Settle => true,
        }
    }
}

/// The reference with a fault plan: one to three faults drawn with the initial state
/// (and shrunk with it), then transitions as [`Reference`] draws them.
#[derive(Clone, Copy, Debug)]
pub struct FaultReference;

impl ReferenceStateMachine for FaultReference {
    type State = Plan;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Plan> {
        vec(fault(), 1..=3).prop_map(|faults| Plan { faults, ..Plan::default() }).boxed()
    }

    fn transitions(plan: &Plan) -> BoxedStrategy<Transition> {
        Reference::transitions(plan)
    }

    fn apply(plan: Plan, transition: &Transition) -> Plan {
        Reference::apply(plan, transition)
    }

    fn preconditions(plan: &Plan, transition: &Transition) -> bool {
        Reference::preconditions(plan, transition)
    }
}

/// A fault on one of the first primitives of a process (or of any), usually of one
/// primitive. A race kind only targets a primitive it applies to.
fn fault() -> impl Strategy<Value = Fault> {
    let pids: Vec<Pid> = (0..PROCESSES).map(|p| FIRST_PID + p as Pid).collect();
    let pid = option::weighted(0.6, select(pids));
    let op = option::weighted(0.75, common_op());
    (0u64..4, pid, op, select(FaultKind::ALL.to_vec())).prop_map(|(at, pid, op, kind)| Fault {
        at,
        pid,
        op: op.filter(|op| kind.applies_to(*op)),
        kind,
    })
}

/// A primitive, weighted by how often the core runs it: every acquire publishes and
/// every release stats, unlinks and closes, while only contention probes.
fn common_op() -> impl Strategy<Value = FsOp> {
    prop_oneof![
        3 => Just(FsOp::Publish),
        2 => Just(FsOp::PathId),
        2 => Just(FsOp::Unlink),
        1 => Just(FsOp::Close),
        2 => Just(FsOp::Open),
        2 => Just(FsOp::TryLock),
        1 => Just(FsOp::LockUntil),
        1 => Just(FsOp::Meta),
        1 => Just(FsOp::Read),
    ]
}
