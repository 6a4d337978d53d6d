//! Replaying a recorded trace in the spec (see [`super`] for the abstraction and the
//! step mapping).

use std::collections::{BTreeSet, HashSet};

use sessionlock_spec::actions::Op;
use sessionlock_spec::state::{Attempt, Entry, Pc, State as SpecState, Task, TaskId, UnlinkKind};
use sessionlock_spec::{Action, ProtocolModel};
use stateright::Model;

use sessionlock::core::registry::HAND_OFF_BOUND;

use super::record::{InodeView, Prim, Registry, Step, View};
use crate::world::Pid;

/// Spec states the replay may track at once before it gives up (it never passes then).
const FRONTIER_LIMIT: usize = 50_000;

/// What a replayed trace reached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Recorded steps matched.
    pub steps: usize,
    /// Publishes that found the path taken.
    pub contention: u64,
    /// Kernel waits that ended with the lock (`LockWait`).
    pub kernel_waits: u64,
    /// Unlinks of a crashed holder's file by a breaker (`Unlink` of kind `Break`, victim dead).
    pub takeovers: u64,
    /// Unlinks by a holder's release.
    pub releases: u64,
    /// Registry transitions the core reported (drivers that record them).
    pub registry: u64,
    /// Grants, by a named task, of a turn that task had queued for: FIFO hand-offs checked.
    pub hand_offs: u64,
    /// Recorded ends of acquires without the lock, by a named task.
    pub ends: u64,
    /// In-memory hand-offs of a held file (`HandedOff`), by a named task: each one the
    /// spec's `HandOff`, enabled only below the bound K (INV-9).
    pub handed: u64,
    /// Queue: tickets published (`LinkTicket`).
    pub tickets_linked: u64,
    /// Queue: dead waiters' tickets removed by their successor (`PredecessorWait` at the
    /// unlink of a still named ticket).
    pub dead_tickets: u64,
    /// Queue: tickets removed at the end of a release (`UnlinkTicket`, R5q).
    pub tickets_left: u64,
    /// Queue: give-ups with a ticket (`Abandon` at the unlink of the own ticket).
    pub ticket_give_ups: u64,
    /// Queue: dead waiters' tickets removed by a try-acquire (`TryTicket` at the unlink of
    /// a listed ticket whose flock it was granted at once).
    pub try_dead_tickets: u64,
    /// Queue: try-acquires that found a live waiter queued (`TryTicket` at a refused
    /// `flock(LOCK_NB)` of a listed ticket); each then probes L and gives up.
    pub tries_busy: u64,
    /// Queue: the most tickets named at once.
    pub longest_queue: usize,
    /// The most spec states the replay tracked at once.
    pub frontier: usize,
    /// `Some(why)` if the trace has a step outside the spec (foreign files, faults): not
    /// replayed.
    pub skipped: Option<&'static str>,
}

impl Replayed {
    /// Adds `o`'s counts to these (the frontier: the larger); `skipped` is left alone.
    pub fn absorb(&mut self, o: &Replayed) {
        self.steps += o.steps;
        self.contention += o.contention;
        self.kernel_waits += o.kernel_waits;
        self.takeovers += o.takeovers;
        self.releases += o.releases;
        self.registry += o.registry;
        self.hand_offs += o.hand_offs;
        self.ends += o.ends;
        self.handed += o.handed;
        self.tickets_linked += o.tickets_linked;
        self.dead_tickets += o.dead_tickets;
        self.tickets_left += o.tickets_left;
        self.ticket_give_ups += o.ticket_give_ups;
        self.try_dead_tickets += o.try_dead_tickets;
        self.tries_busy += o.tries_busy;
        self.longest_queue = self.longest_queue.max(o.longest_queue);
        self.frontier = self.frontier.max(o.frontier);
    }
}

/// A step the spec does not allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Its index in the trace (0-based), after the registry events that commute with a
    /// ticket's unlink were taken before it (`commuted`; a trace without tickets is as
    /// recorded).
    pub index: usize,
    /// The step.
    pub step: Box<Step>,
    /// Why, naming what the spec enables instead.
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refinement: step {} (process {} {:?}) {}",
            self.index + 1,
            self.step.pid,
            self.step.prim,
            self.reason
        )
    }
}

/// Replays `trace` in the spec with `tasks` tasks per process, deadlines enabled, the
/// cross-process queue off.
///
/// # Errors
/// The first step the spec does not enable, or after which no spec state's projection
/// equals the world's abstraction.
pub fn replay(trace: &[Step], tasks: usize) -> Result<Replayed, Rejection> {
    replay_in(trace, tasks, false)
}

/// Replays `trace`, a trace of the core with the cross-process queue on, in the spec with
/// its `queue` option (`spec/protocol.md`, section 11), as [`replay()`] does.
///
/// # Errors
/// As [`replay()`].
pub fn replay_queue(trace: &[Step], tasks: usize) -> Result<Replayed, Rejection> {
    replay_in(trace, tasks, true)
}

fn replay_in(trace: &[Step], tasks: usize, queue: bool) -> Result<Replayed, Rejection> {
    let trace = &commuted(trace);
    let mut done = Replayed::default();
    if let Some(why) = outside(trace) {
        done.skipped = Some(why);
        return Ok(done);
    }
    let mut pids: Vec<Pid> = Vec::new();
    for step in trace {
        if matches!(step.prim, Prim::Spawn { .. }) && !pids.contains(&step.pid) {
            pids.push(step.pid);
        }
    }
    let processes = pids.len().max(1);
    let owner = (0..processes)
        .flat_map(|p| std::iter::repeat_n(u8::try_from(p).expect("few processes"), tasks))
        .collect();
    let model = ProtocolModel {
        owner,
        processes,
        mutant: None,
        crashes: u8::MAX,
        respawns: u8::MAX,
        deadlines: true,
        hand_off_bound: u8::try_from(HAND_OFF_BOUND).expect("a small bound"),
        queue,
        tries: queue,
    };
    // Where the driver names the task of each registry event, it records where each
    // acquire begins and ends: a task requests the registry entry only once its acquire
    // began, and abandons without a handle only where its acquire ended.
    let anchored = trace.iter().any(|s| s.task.is_some());
    let mut frontier: HashSet<Tracked> =
        model.init_states().into_iter().map(|s| (s, Vec::new(), Ids::default())).collect();
    let mut started = BTreeSet::new();
    // The driver's tasks that queued and have not been granted or given up since.
    let mut waiting: BTreeSet<(Pid, u8)> = BTreeSet::new();
    for (index, step) in trace.iter().enumerate() {
        let reject = |reason: String| Rejection { index, step: Box::new(step.clone()), reason };
        let Some(p) = pids.iter().position(|&q| q == step.pid) else {
            return Err(reject("comes from a process that never started".into()));
        };
        let p = u8::try_from(p).expect("few processes");
        if matches!(step.prim, Prim::Spawn { .. }) {
            started.insert(step.pid);
        }
        let before = hidden_closure(&model, frontier, p, anchored);
        if let Prim::Registry(event) = step.prim {
            let next: HashSet<Tracked> = before
                .into_iter()
                .flat_map(|tracked| registry_moves(&model, tracked, p, step.task, event))
                .collect();
            if next.is_empty() {
                return Err(reject(format!(
                    "is a registry transition no spec state consistent with the trace has for process {}",
                    step.pid
                )));
            }
            done.frontier = done.frontier.max(next.len());
            done.steps += 1;
            done.registry += 1;
            if let Some(k) = step.task {
                let was_waiting = waiting.remove(&(step.pid, k));
                match event {
                    Registry::Queued { .. } => _ = waiting.insert((step.pid, k)),
                    Registry::Acquired if was_waiting => done.hand_offs += 1,
                    Registry::Ended => done.ends += 1,
                    Registry::HandedOff => done.handed += 1,
                    _ => {}
                }
            }
            frontier = next;
            continue;
        }
        let mut next = HashSet::new();
        let mut enabled_any = false;
        let mut reached = Replayed::default();
        for (s, looks, ids) in &before {
            let mut moves: Vec<(Option<Action>, SpecState, Vec<Look>, Ids)> =
                candidates(&model, s, step, p)
                    .into_iter()
                    .map(|(a, t)| (a, t, looks.clone(), ids.clone()))
                    .collect();
            let looked = look_moves(&model, s, looks, step, p, &pids);
            moves.extend(looked.into_iter().map(|(t, looks)| (None, t, looks, ids.clone())));
            for task in early_closes(&model, s, ids, step, p) {
                let mut ids = ids.clone();
                ids.closed.push(task);
                ids.closed.sort_unstable();
                moves.push((None, s.clone(), looks.clone(), ids));
            }
            for (action, t, looks, mut ids) in moves {
                enabled_any = true;
                if let Some(Action::Abandon { task, .. }) = &action {
                    ids.closed.retain(|c| c != task);
                }
                if step.prim == Prim::Crash {
                    ids.may_request.retain(|&t| model.owner[usize::from(t)] != p);
                    ids.closed.retain(|&t| model.owner[usize::from(t)] != p);
                }
                if matches(&view(&model, &t, &pids, &started, &ids.closed), &step.after, &looks) {
                    tally(&mut reached, step, action.as_ref(), &t);
                    next.insert((t, looks, ids));
                }
            }
        }
        if next.is_empty() {
            let why = if enabled_any {
                "is enabled in the spec, but no spec state after it matches the world".to_owned()
            } else {
                "is not enabled in the spec in any state consistent with the trace".to_owned()
            };
            let states: HashSet<SpecState> = before.into_iter().map(|(s, ..)| s).collect();
            let allowed = allowed_here(&model, &states, p);
            return Err(reject(format!(
                "{why}; process {} may do here: {allowed}; world after it: {:?}",
                step.pid, step.after
            )));
        }
        if next.len() > FRONTIER_LIMIT {
            return Err(reject(format!("leaves {} spec states to track", next.len())));
        }
        // A step counts once, as whatever some matching spec step shows it to be.
        done.contention += reached.contention.min(1);
        done.kernel_waits += reached.kernel_waits.min(1);
        done.takeovers += reached.takeovers.min(1);
        done.releases += reached.releases.min(1);
        done.tickets_linked += reached.tickets_linked.min(1);
        done.dead_tickets += reached.dead_tickets.min(1);
        done.tickets_left += reached.tickets_left.min(1);
        done.ticket_give_ups += reached.ticket_give_ups.min(1);
        done.try_dead_tickets += reached.try_dead_tickets.min(1);
        done.tries_busy += reached.tries_busy.min(1);
        done.longest_queue = done.longest_queue.max(step.after.tickets.len());
        done.frontier = done.frontier.max(next.len());
        done.steps += 1;
        frontier = next;
    }
    Ok(done)
}

/// The tracked states after the registry transition `event` of process `p`, by the
/// driver's task `by` if it is named: for each spec task of `p` that may be `by` (the one
/// `by` is named to, or, at its first sight, any of `p`'s tasks not yet named to another),
/// the state if it shows `event` by that task, `by` then named to it.
///
/// | event | the spec task, in the state |
/// |---|---|
/// | `Queued` | `Parked`, last in the queue (it just queued) of a busy entry, releasing exactly when the core says so |
/// | `Acquired`, `Reentered` | `Held`, the entry held by it |
/// | `Released` | `RelDone`, the entry still releasing for it |
/// | `Begun` | outside (`Want`), or holding (a re-entry); it may now request the entry once |
/// | `Ended` | back outside (`Want`: it abandoned at a recorded close), or it abandons now without a handle |
/// | `HandedOff` | `Held`, and it hands off now (`HandOff`: a waiter queued, fewer than K before) |
fn registry_moves(
    model: &ProtocolModel,
    (s, looks, ids): Tracked,
    p: u8,
    by: Option<u8>,
    event: Registry,
) -> Vec<Tracked> {
    let named = by.and_then(|k| ids.names.iter().find(|(c, _)| *c == k).map(|&(_, t)| t));
    let proc = &s.procs[usize::from(p)];
    let entry = proc.entry;
    let mut out = Vec::new();
    for (ti, task) in s.tasks.iter().enumerate() {
        let t = TaskId::try_from(ti).expect("few tasks");
        let fits_name = match (by, named) {
            (_, Some(n)) => n == t,
            (Some(_), None) => !ids.names.iter().any(|&(_, n)| n == t),
            (None, None) => true,
        };
        if model.owner[ti] != p || !fits_name {
            continue;
        }
        let after = match event {
            Registry::Queued { behind_releasing } => (task.pc == Pc::Parked
                && proc.queue.last() == Some(&t)
                && entry != Entry::Idle
                && matches!(entry, Entry::Releasing(_)) == behind_releasing)
                .then(|| s.clone()),
            Registry::Acquired | Registry::Reentered => {
                (matches!(task.pc, Pc::Held(_)) && entry == Entry::Held(t)).then(|| s.clone())
            }
            Registry::Released => {
                (task.pc == Pc::RelDone && entry == Entry::Releasing(t)).then(|| s.clone())
            }
            Registry::Begun => matches!(task.pc, Pc::Want | Pc::Held(_)).then(|| s.clone()),
            Registry::HandedOff => {
                let hand_off = Action::Step { pid: p, task: t, op: Op::HandOff };
                let mut enabled = Vec::new();
                model.actions(&s, &mut enabled);
                enabled.contains(&hand_off).then(|| model.next_state(&s, hand_off)).flatten()
            }
            Registry::Ended if task.pc == Pc::Want => Some(s.clone()),
            Registry::Ended => {
                let abandon = Action::Abandon { pid: p, task: t };
                let mut enabled = Vec::new();
                model.actions(&s, &mut enabled);
                let silent = handle(&s, t).is_none() && s.own_ticket(t).is_none();
                (silent && enabled.contains(&abandon))
                    .then(|| model.next_state(&s, abandon))
                    .flatten()
            }
        };
        if let Some(after) = after {
            let mut ids = ids.clone();
            if let (Some(k), None) = (by, named) {
                ids.names.push((k, t));
                ids.names.sort_unstable();
            }
            // An acquire's start lets its task request once; its end takes that back.
            ids.may_request.retain(|&r| r != t);
            if event == Registry::Begun {
                ids.may_request.push(t);
                ids.may_request.sort_unstable();
            }
            out.push((after, looks.clone(), ids));
        }
    }
    out
}

/// `trace`, with every `Queued` event of a process that came after that process's unlink
/// of a ticket (its last primitive) taken before that unlink, with the same task's events
/// since (the start of its acquire). A give-up with a ticket is one spec step (`Abandon`,
/// at the ticket's unlink: the name is what others see) that also hands the process's
/// turn on, which the code does only after the ticket's close; a sibling that queued in
/// between queued on the turn the give-up still had. Registry transitions touch no file,
/// and a ticket's unlink and close touch no registry entry, so the two orders are one
/// run. Traces without tickets are unchanged.
fn commuted(trace: &[Step]) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::with_capacity(trace.len());
    for step in trace {
        if matches!(step.prim, Prim::Registry(Registry::Queued { .. })) {
            let last =
                out.iter().rposition(|s| s.pid == step.pid && !matches!(s.prim, Prim::Registry(_)));
            if let Some(i) = last
                && out[i].ticket
                && out[i].prim == Prim::Unlink
            {
                // With the same task's earlier events since (its acquire's start).
                let (before, mut after): (Vec<Step>, Vec<Step>) =
                    out.split_off(i + 1).into_iter().partition(|s| {
                        s.pid == step.pid
                            && s.task == step.task
                            && matches!(s.prim, Prim::Registry(_))
                    });
                let unlink = out.pop().expect("the unlink is there");
                out.extend(before);
                out.push(step.clone());
                out.push(unlink);
                out.append(&mut after);
                continue;
            }
        }
        out.push(step.clone());
    }
    out
}

/// Why a trace is outside the spec, if it is.
fn outside(trace: &[Step]) -> Option<&'static str> {
    if trace.iter().any(|s| s.prim == Prim::Foreign) {
        return Some("a foreign file, a fault or a degraded filesystem");
    }
    let foreign_inode = |v: &InodeView| v.publisher.is_none();
    let files = |v: &View| v.named.iter().chain(&v.unnamed).chain(&v.tickets).any(foreign_inode);
    trace.iter().any(|s| files(&s.after)).then_some("a file the protocol did not publish")
}

/// Counts what a matched step reached, as spec action `action` (`None`: a stutter).
fn tally(done: &mut Replayed, step: &Step, action: Option<&Action>, after: &SpecState) {
    match action {
        Some(Action::Step { op: Op::LinkTicket, .. }) => done.tickets_linked += 1,
        Some(Action::Step { op: Op::PredecessorWait, .. }) if step.prim == Prim::Unlink => {
            done.dead_tickets += 1;
        }
        Some(Action::Step { op: Op::UnlinkTicket, .. }) => done.tickets_left += 1,
        Some(Action::Abandon { .. }) if step.ticket => done.ticket_give_ups += 1,
        Some(Action::Step { op: Op::TryTicket, .. }) if step.prim == Prim::Unlink => {
            done.try_dead_tickets += 1;
        }
        Some(Action::Step { op: Op::TryTicket | Op::TryBusy, .. }) => done.tries_busy += 1,
        _ => {}
    }
    if step.ticket {
        return;
    }
    match step.prim {
        Prim::Publish { created: false } => done.contention += 1,
        Prim::LockGranted => done.kernel_waits += 1,
        Prim::Unlink => match &after.unlinked {
            Some(e) if e.kind == UnlinkKind::Break && e.victim_dead => done.takeovers += 1,
            Some(e) if e.kind == UnlinkKind::Release => done.releases += 1,
            _ => {}
        },
        _ => {}
    }
}

/// A handle that only looks: opened to read the payload of whatever the path names
/// after a path check found another inode there (the nonce comparison that tells one
/// file from another where inode numbers drift, H17), then closed. It takes no lock and
/// decides nothing the spec models; the replay tracks it beside the spec state as the
/// process and the inode it refers to.
type Look = (Pid, InodeView);

/// What the replay tracks of the driver's tasks, beside a spec state (for traces whose
/// events name their task), and of give-ups under way.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Ids {
    /// Which spec task each of the driver's tasks is, fixed at its first event:
    /// `(driver's task, spec task)`, sorted.
    names: Vec<(u8, TaskId)>,
    /// The spec tasks whose acquire began (`Begun`) and that have not requested the
    /// registry entry since, sorted.
    may_request: Vec<TaskId>,
    /// Queue: the spec tasks whose handle on L the world closed as the first primitive of
    /// a give-up with a ticket; the spec's `Abandon`, at the ticket's unlink, closes it.
    /// Until then their handle is in no view.
    closed: Vec<TaskId>,
}

/// A spec state, the looks open in it, and what is known of the driver's tasks.
type Tracked = (SpecState, Vec<Look>, Ids);

/// The looks `step` may open or close: an `open` by process `p` while one of its tasks
/// has just checked the path (`Checked`, `Unbound`, or `RelUnlink`, `RelClose` of a
/// release: where inode numbers drift, the check compares nonces even when the path
/// names the judged inode), and a `close` of a look `p` has open.
fn look_moves(
    model: &ProtocolModel,
    s: &SpecState,
    looks: &[Look],
    step: &Step,
    p: u8,
    pids: &[Pid],
) -> Vec<(SpecState, Vec<Look>)> {
    let me = pids[usize::from(p)];
    if step.ticket {
        return Vec::new();
    }
    match step.prim {
        Prim::Open { found } => {
            let checking = s.tasks.iter().enumerate().any(|(t, task)| {
                model.owner[t] == p
                    && matches!(
                        task.pc,
                        Pc::Unbound(_) | Pc::RelClose(_) | Pc::Checked(_) | Pc::RelUnlink(_)
                    )
            });
            let mut looks = looks.to_vec();
            match (checking, found, step.after.named) {
                (false, _, _) => return Vec::new(),
                (true, true, Some(named)) => looks.push((me, named)),
                (true, true, None) => return Vec::new(),
                (true, false, _) => {}
            }
            looks.sort();
            vec![(s.clone(), looks)]
        }
        Prim::Close => (0..looks.len())
            .filter(|&i| looks[i].0 == me)
            .map(|i| {
                let mut rest = looks.to_vec();
                rest.remove(i);
                (s.clone(), rest)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether the world's abstraction `world` equals the spec's projection `spec`, up to the
/// unnamed inodes that only looks refer to.
fn matches(spec: &View, world: &View, looks: &[Look]) -> bool {
    if spec.named != world.named || spec.tickets != world.tickets || spec.procs != world.procs {
        return false;
    }
    spec.unnamed.iter().all(|i| world.unnamed.contains(i))
        && world.unnamed.iter().all(|i| {
            spec.unnamed.contains(i) || looks.iter().any(|(_, l)| l.publisher == i.publisher)
        })
}

/// Every state reachable from `frontier` by registry steps of process `p` and by its
/// tasks abandoning without a handle: steps that touch no file. In an `anchored` trace
/// (its events name their task), a task requests the entry only once per recorded start
/// of its acquire, and abandons without a handle only at a recorded end (not here).
fn hidden_closure(
    model: &ProtocolModel,
    frontier: HashSet<Tracked>,
    p: u8,
    anchored: bool,
) -> HashSet<Tracked> {
    let mut seen = frontier.clone();
    let mut todo: Vec<Tracked> = frontier.into_iter().collect();
    let mut actions = Vec::new();
    while let Some((s, looks, ids)) = todo.pop() {
        actions.clear();
        model.actions(&s, &mut actions);
        for a in actions.drain(..) {
            let mut ids = ids.clone();
            let hidden = match &a {
                Action::Step { pid, task, op: Op::Request } if anchored => {
                    let began = ids.may_request.contains(task);
                    ids.may_request.retain(|t| t != task);
                    *pid == p && began
                }
                // A hand-off is a registry step too; where events are recorded, only the
                // recorded `HandedOff` takes it (in `registry_moves`).
                Action::Step { pid, op: Op::HandOff, .. } => !anchored && *pid == p,
                Action::Step { pid, op, .. } => {
                    *pid == p
                        && matches!(op, Op::Request | Op::Wake | Op::BeginRelease | Op::EndRelease)
                }
                Action::Abandon { pid, task } => {
                    let silent = handle(&s, *task).is_none() && s.own_ticket(*task).is_none();
                    !anchored && *pid == p && silent
                }
                _ => false,
            };
            if hidden
                && let Some(t) = model.next_state(&s, a)
                && seen.insert((t.clone(), looks.clone(), ids.clone()))
            {
                todo.push((t, looks.clone(), ids));
            }
        }
    }
    seen
}

fn handle(s: &SpecState, task: TaskId) -> Option<u8> {
    s.tasks[usize::from(task)].pc.handle()
}

/// The results of the spec actions by process `p` enabled in `s` that `step` may be, each
/// with its action, and `s` itself (a stutter, no action) for a step that changes nothing
/// the spec models ([`stutters`]).
fn candidates(
    model: &ProtocolModel,
    s: &SpecState,
    step: &Step,
    p: u8,
) -> Vec<(Option<Action>, SpecState)> {
    let mut actions = Vec::new();
    model.actions(s, &mut actions);
    let mut out = Vec::new();
    if stutters(model, s, step, p) {
        out.push((None, s.clone()));
    }
    for a in actions {
        if let Some(t) = model.next_state(s, a.clone())
            && fits(&a, s, &t, step, p)
        {
            out.push((Some(a), t));
        }
    }
    out
}

/// Whether `step` of process `p` may leave spec state `s` as it is: a step that only
/// looks; with the queue, a listing is never one. On a ticket: the look before its
/// unlink, the kernel wait's start and expiry, the close after a step the spec took whole
/// (see the step mapping in [`super`]: a ticket's handles are in no view), and the grant
/// of the predecessor's ticket and its `open`, by a process with a task waiting behind
/// one (`Behind`). (The close of a handle on L that begins a give-up with a ticket is a
/// stutter too, tracked beside the spec state: [`early_closes`].)
fn stutters(model: &ProtocolModel, s: &SpecState, step: &Step, p: u8) -> bool {
    let tasks_of_p = || {
        (0..s.tasks.len())
            .filter(|&t| model.owner[t] == p)
            .map(|t| TaskId::try_from(t).expect("few tasks"))
    };
    if step.ticket {
        return match step.prim {
            Prim::PathId | Prim::LockWait | Prim::LockExpired | Prim::Close | Prim::Failed => true,
            Prim::LockGranted | Prim::Open { found: true }
                if tasks_of_p().any(|t| matches!(s.tasks[usize::from(t)].pc, Pc::Behind(_))) =>
            {
                true
            }
            // A try-acquire's scan: the open of a listed ticket (gone since the listing:
            // skipped), and a granted try of its flock (the unlink, if its name is still
            // there, carries `TryTicket`).
            Prim::Open { .. } | Prim::TryLock { got: true } => {
                tasks_of_p().any(|t| scanning(&s.tasks[usize::from(t)]))
            }
            _ => false,
        };
    }
    match step.prim {
        Prim::Tickets => !model.queue,
        Prim::PathId
        | Prim::Spawn { reused: false }
        | Prim::LockWait
        | Prim::LockExpired
        | Prim::Look
        | Prim::Failed => true,
        _ => false,
    }
}

/// Whether `task` is a try-acquire's scan of the tickets it listed (`Scan`), or has
/// scanned them all and is at its publish: the code tries the flocks of the tickets it
/// listed, some gone since, and the spec marks only those still named.
fn scanning(task: &Task) -> bool {
    task.attempt == Attempt::Try && matches!(task.pc, Pc::Scan | Pc::Publish)
}

/// The tasks of process `p` whose handle on L `step` may close as the first primitive of
/// a give-up with a ticket (the spec's `Abandon` is the unlink of the ticket, which
/// closes the handle too): a task with a ticket and a handle on L whose flock it does not
/// hold, that may abandon now, and whose handle is not closed already.
fn early_closes(
    model: &ProtocolModel,
    s: &SpecState,
    ids: &Ids,
    step: &Step,
    p: u8,
) -> Vec<TaskId> {
    if !model.queue || step.ticket || step.prim != Prim::Close {
        return Vec::new();
    }
    let mut enabled = Vec::new();
    model.actions(s, &mut enabled);
    (0..s.tasks.len())
        .filter(|&t| model.owner[t] == p)
        .map(|t| TaskId::try_from(t).expect("few tasks"))
        .filter(|&t| {
            let on_l = !matches!(s.tasks[usize::from(t)].pc, Pc::Behind(_));
            let unlocked = handle(s, t).is_some_and(|j| s.inodes[usize::from(j)].flock != Some(t));
            let gives_up = enabled.contains(&Action::Abandon { pid: p, task: t });
            on_l && unlocked && s.own_ticket(t).is_some() && gives_up && !ids.closed.contains(&t)
        })
        .collect()
}

/// Whether spec action `a`, taking `s` to `t`, is the recorded `step` of process `p`,
/// result included (see the step mapping in [`super`]).
fn fits(a: &Action, s: &SpecState, t: &SpecState, step: &Step, p: u8) -> bool {
    let pc = |task: TaskId| t.tasks[usize::from(task)].pc;
    let (prim, ticket) = (step.prim, step.ticket);
    match a {
        Action::Step { pid, task, op } if *pid == p => match (op, prim) {
            (Op::List | Op::FindPredecessor | Op::TryList, Prim::Tickets) => true,
            // A try-acquire's try of a listed ticket: granted, the unlink of the dead
            // waiter's ticket carries it; refused, the try itself (someone is queued).
            (Op::TryTicket, Prim::Unlink) => ticket && t.tickets.len() < s.tickets.len(),
            (Op::TryTicket | Op::TryBusy, Prim::TryLock { got: false }) => {
                ticket && t.tasks[usize::from(*task)].attempt == Attempt::Busy
            }
            (Op::LinkTicket, Prim::Publish { created: true }) => ticket,
            (Op::PredecessorWait, Prim::Unlink | Prim::Close | Prim::Open { found: false })
            | (Op::UnlinkTicket, Prim::Unlink) => ticket,
            _ if ticket => false,
            (Op::Linkat, Prim::Publish { created }) => matches!(pc(*task), Pc::Held(_)) == created,
            (Op::Open, Prim::Open { found }) => matches!(pc(*task), Pc::Opened(_)) == found,
            (Op::FlockNb, Prim::TryLock { got }) => matches!(pc(*task), Pc::Proved(_)) == got,
            (Op::LockWait, Prim::LockGranted)
            | (Op::CheckPath, Prim::PathId)
            | (Op::Unlink, Prim::Unlink)
            | (Op::Close, Prim::Close) => true,
            _ => false,
        },
        // A give-up with a ticket is the unlink of its ticket; without one, the close of
        // its handle.
        Action::Abandon { pid, task } => {
            let with_ticket = s.own_ticket(*task).is_some();
            *pid == p
                && match (ticket, prim) {
                    (false, Prim::Close) => handle(s, *task).is_some() && !with_ticket,
                    (true, Prim::Unlink) => with_ticket,
                    _ => false,
                }
        }
        Action::Crash { pid } => *pid == p && prim == Prim::Crash,
        Action::ReusePid { pid } => *pid == p && prim == Prim::Spawn { reused: true },
        Action::Step { .. } => false,
    }
}

/// What process `p` may do in the spec from `states`, for a rejection message.
fn allowed_here(model: &ProtocolModel, states: &HashSet<SpecState>, p: u8) -> String {
    let mut ops = BTreeSet::new();
    let mut actions = Vec::new();
    for s in states {
        actions.clear();
        model.actions(s, &mut actions);
        for a in &actions {
            match a {
                Action::Step { pid, op, .. } if *pid == p => _ = ops.insert(format!("{op:?}")),
                Action::Abandon { pid, .. } if *pid == p => _ = ops.insert("Abandon".to_owned()),
                _ => {}
            }
        }
    }
    if ops.is_empty() {
        "nothing".to_owned()
    } else {
        ops.into_iter().collect::<Vec<_>>().join(", ")
    }
}

/// The projection of spec state `s`, in the world's terms (see [`super`]).
fn view(
    model: &ProtocolModel,
    s: &SpecState,
    pids: &[Pid],
    started: &BTreeSet<Pid>,
    closed: &[TaskId],
) -> View {
    let pid = |p: u8| pids[usize::from(p)];
    let inode = |i: u8| {
        let inode = &s.inodes[usize::from(i)];
        InodeView {
            publisher: Some((pid(inode.pid), u32::from(inode.incarnation) + 1)),
            flock: inode.flock.map(|t| pid(model.owner[usize::from(t)])),
        }
    };
    // A handle on a ticket (`Behind`) is in no view: tickets are in `tickets` or gone; nor
    // is one the world closed first in a give-up (`closed`).
    let referenced: BTreeSet<u8> = (0..s.tasks.len())
        .filter(|&t| !closed.contains(&TaskId::try_from(t).expect("few tasks")))
        .map(|t| s.tasks[t].pc)
        .filter(|pc| !matches!(pc, Pc::Behind(_)))
        .filter_map(Pc::handle)
        .collect();
    let mut unnamed: Vec<InodeView> =
        referenced.into_iter().filter(|&i| Some(i) != s.path).map(inode).collect();
    unnamed.sort();
    let mut tickets: Vec<(u8, InodeView)> =
        s.tickets.iter().map(|k| (k.seq, inode(k.inode))).collect();
    tickets.sort();
    let tickets = tickets.into_iter().map(|(_, view)| view).collect();
    let procs = pids
        .iter()
        .enumerate()
        .filter(|(_, q)| started.contains(q))
        .map(|(i, &q)| (q, (s.procs[i].alive, u32::from(s.procs[i].incarnation) + 1)))
        .collect();
    View { named: s.path.map(inode), unnamed, tickets, procs }
}
