//! The protocol's atomic steps: [`Action`]s and the transition function.
//!
//! # Atomicity assumptions (Linux)
//!
//! Every [`Action`] is one atomic step. A step contains at most one system call
//! visible to other processes, plus in-process bookkeeping that only the task's own
//! process can observe:
//!
//! * `linkat`, `unlink`, `rename`, `flock(LOCK_NB)` and `close` are each atomic.
//! * `open(L)` and `flock` are **not** atomic together: `Open` and `FlockNb` are
//!   separate steps, and `L` may be unlinked and republished in between. That gap is why
//!   a breaker must re-check that `L` still names its inode *after* the flock succeeds.
//! * The check that `L` names an inode (`fstat` of the handle vs. `stat(L)`) and the
//!   `unlink(L)` after it are separate steps, and `unlink` is path-based: it removes
//!   whatever `L` names at that moment. The model shows the check-then-unlink is safe
//!   because only a kernel-lock holder of inode I unlinks `L` while `L` names I, and the
//!   unlinker *is* that holder, so nobody else can change what `L` names in between
//!   ("INV-2 NoLiveRemoval" checks `kernel_locked` on every unlink).
//! * Publication (`O_TMPFILE` + `flock` + `write`, then `linkat`) is one step: everything
//!   before `linkat` happens on an unnamed inode that no other process can reach, and a
//!   crash before `linkat` leaves nothing behind.
//! * A refused `flock` does not close: as the code does, the task keeps its handle and
//!   waits in the kernel (`lock_until`, [`Pc::Waiting`]) until the flock is free, takes it
//!   ([`Op::LockWait`]) and judges the inode under the lock it then holds, exactly as after
//!   a granted `flock(LOCK_NB)`. A path check that finds `L` naming another inode keeps the
//!   flock until a separate `close` ([`Pc::Unbound`]), as the code does. (The historic
//!   mutants close and retry on a refused flock, and a payload judged alive closes in the
//!   same step: a handle without a lock affects nobody. The breaker-livelock mutant waits
//!   in the kernel too, but closes what the wait returned with unjudged.)
//! * Deadlines and cancellation ([`Action::Abandon`], with [`ProtocolModel::deadlines`]):
//!   a task may stop acquiring at any step before it holds; its handle closes, and it
//!   leaves the queue, or hands its process's turn on if it had it, in that one step. A
//!   guard dropped where its release cannot complete (the fallback release, before its
//!   unlink) is the same step from `Held`, `RelCheck` or `RelUnlink`: the file stays,
//!   kernel-unlocked, for the next contender to break. Time itself is not modelled: a
//!   deadline is a nondeterministic choice, so the spec allows a timeout at any moment.
//! * A registry update and the in-memory hand-off are atomic (a mutex in the real code): the
//!   turn goes to the first queued waiter, whose next step is its wake-up.
//! * The last holder may instead hand the hold itself to the first queued waiter of its
//!   process ([`Op::HandOff`]), in one step: the waiter gets the published inode, with its
//!   handle and flock, and the entry is held by it; nothing on the filesystem changes. At
//!   most [`ProtocolModel::hand_off_bound`] hand-offs of one published file follow each
//!   other (INV-9); the code also stops them once the file is a second old, which the model,
//!   having no clock, leaves as a choice: with a waiter queued, a holder may always release
//!   through the disk instead.
//! * With [`ProtocolModel::queue`] (`spec/protocol.md`, section 11): a listing of the
//!   tickets ([`Op::List`]) and the `linkat` of a ticket it leads to ([`Op::LinkTicket`])
//!   are separate steps, so a listing may be stale at its `linkat`. Finding the
//!   predecessor is one step (the listing and the open of what it found: a failed open only
//!   repeats it). The return of the kernel wait on the predecessor's ticket, the check that
//!   its name still names it, its unlink and the close are one step
//!   ([`Op::PredecessorWait`]): the waiter holds that flock throughout, and only a holder
//!   of a ticket's flock unlinks it. A release's unlink and close of its own ticket are one
//!   step ([`Op::UnlinkTicket`]), for the same reason.
//! * With [`ProtocolModel::tries`] (a try-acquire with the queue, T1 to T3 of section 11):
//!   its listing ([`Op::TryList`]) marks every ticket it lists; trying one listed
//!   ticket's flock ([`Op::TryTicket`]) is one step: the `open`, the `flock(LOCK_NB)` and,
//!   granted, the unlink of the dead waiter's ticket under it and the close (as
//!   [`Op::PredecessorWait`], with a single try instead of a kernel wait); refused, the
//!   close follows as a step of no consequence (a ticket's handle affects nobody else).
//!   A ticket gone since the listing is skipped (its `open` fails): it is no longer marked.
//!   Whoever removes a ticket (a successor, its owner, another try-acquire) unlinks and
//!   closes it in one spec step, and the code holds its flock from its grant (or from
//!   before the unlink) to the close: a try in between is refused, and the try-acquire
//!   finds the queue busy ([`Op::TryBusy`]), as the code does; giving up is always safe.
//! * A crash closes every handle of the process at once (the kernel drops its flocks);
//!   files stay.
//! * There are no timers: no step depends on time, so whatever recovery the model shows
//!   happens without any age threshold (INV-4).

use crate::config::ProtocolModel;
use crate::mutant::Mutant;
use crate::state::{
    Attempt, Entry, Inode, InodeId, Pc, State, Task, TaskId, Ticket, UnlinkEvent, UnlinkKind,
};

/// The system call or in-process operation a step performs (for readable traces).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Look up the registry entry: take it if idle, else queue behind it (FIFO).
    Request,
    /// A parked waiter that was handed the turn wakes and starts the filesystem acquire.
    Wake,
    /// Create a locked unnamed inode and `linkat` it to `L` (EEXIST on contention).
    Linkat,
    /// Mutant H3: create a locked inode and `rename` it over `L`.
    RenameOver,
    /// `open(L)`.
    Open,
    /// `flock(LOCK_EX|LOCK_NB)` on the opened inode (H7: skipped if the pid looks alive).
    FlockNb,
    /// The kernel wait (`lock_until`) ends: the inode's flock was freed and is now ours.
    LockWait,
    /// Mutants H1/H2/H4: judge the opened inode from its payload, then close it.
    ReadPayload,
    /// Compare the inode of the handle (or the judged inode) with what `L` names.
    CheckPath,
    /// `unlink(L)`.
    Unlink,
    /// `close` the handle, dropping its flock.
    Close,
    /// Enter the release: set the registry entry releasing (H1: end the turn at once).
    BeginRelease,
    /// End the turn: hand it to the first queued waiter and wake it, or set the entry idle.
    EndRelease,
    /// The last holder hands its hold (inode, handle, flock) to the first queued waiter of
    /// its process, in memory, and is done: no unlink, no publish (INV-9).
    HandOff,
    /// Queue: list the tickets (`tickets(L)`), to take one or go without.
    List,
    /// Queue: publish the ticket `L.q.<seq>.<id>` (the id is the waiter's own, so the name
    /// is new).
    LinkTicket,
    /// Queue: list the tickets and open the predecessor's.
    FindPredecessor,
    /// Queue: the kernel wait on the predecessor's ticket returns; unlink the ticket if its
    /// name still names it (its waiter died or gave up); close.
    PredecessorWait,
    /// Queue: the release unlinks its own ticket and closes it.
    UnlinkTicket,
    /// Queue, a try-acquire (T1): list the tickets (`tickets(L)`), to try each one's flock
    /// once before publishing `L` without a ticket.
    TryList,
    /// Queue, a try-acquire (T2): open the first listed ticket still named and try its
    /// flock once: held, someone is queued (probe `L`, give up); free, unlink the dead
    /// waiter's ticket (Q2) and close it.
    TryTicket,
    /// Queue, a try-acquire (T2): the try of a listed ticket is refused by whoever is
    /// removing it, inside a step the spec takes whole and the code in parts (the ticket's
    /// unlink and close: a successor's [`Op::PredecessorWait`], its owner's
    /// [`Op::UnlinkTicket`] or give-up): someone is queued (probe `L`, give up). Enabled
    /// when a ticket it listed was removed since ([`Task::lost`]), or its next listed
    /// ticket has a free flock that another task may hold in the code from its grant to its
    /// close: a successor waiting on it (`Behind`), or another try-acquire at it (`Scan`).
    TryBusy,
}

/// One atomic step of the model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Task `task` of process `pid` performs `op`.
    Step {
        /// The process.
        pid: u8,
        /// The task (global index).
        task: TaskId,
        /// What it does.
        op: Op,
    },
    /// Process `pid` dies (SIGKILL, OOM, power loss).
    Crash {
        /// The process.
        pid: u8,
    },
    /// A new process (a restart, or an unrelated program) gets the dead pid `pid`.
    ReusePid {
        /// The pid.
        pid: u8,
    },
    /// Task `task` of process `pid` stops acquiring (its deadline passed, or its caller
    /// dropped the acquire), or drops its guard where the release cannot complete (before
    /// its unlink). Its handle, if any, closes (dropping its flock; a holder's file stays),
    /// and its registry entry, if it owned it, becomes idle. Only with
    /// [`ProtocolModel::deadlines`].
    Abandon {
        /// The process.
        pid: u8,
        /// The task (global index).
        task: TaskId,
    },
}

impl ProtocolModel {
    /// The operation task `t` performs next, or `None` if it cannot move.
    pub(crate) fn op(&self, s: &State, t: TaskId) -> Option<Op> {
        let pid = self.owner[usize::from(t)];
        let granted = s.procs[usize::from(pid)].entry == Entry::Acquiring(t);
        Some(match s.tasks[usize::from(t)].pc {
            Pc::Dead => return None,
            Pc::Parked if !granted || self.is(Mutant::M3TurnNotWoken) => return None,
            Pc::Want => Op::Request,
            Pc::Parked | Pc::Handed(_) => Op::Wake,
            Pc::Publish if self.is(Mutant::H3RenameOverwrite) => Op::RenameOver,
            Pc::Publish => Op::Linkat,
            Pc::Contended => Op::Open,
            Pc::Opened(j) => {
                let own = s.inodes[usize::from(j)].pid == pid;
                let payload = self.mutant.is_some_and(Mutant::judges_by_payload);
                if payload || (own && self.is(Mutant::H1ReleaseOrder)) {
                    Op::ReadPayload
                } else {
                    Op::FlockNb
                }
            }
            // A try-acquire never waits: a refused flock closes and gives up.
            Pc::Waiting(_) if s.tasks[usize::from(t)].attempt != Attempt::Acquire => Op::Close,
            Pc::Waiting(j) if s.inodes[usize::from(j)].flock.is_some() => return None,
            Pc::Waiting(_) => Op::LockWait,
            Pc::Proved(_) | Pc::RelCheck(_) => Op::CheckPath,
            Pc::Stale(_) if self.is(Mutant::H4CompareThenUnlink) => Op::CheckPath,
            Pc::Checked(_) | Pc::Stale(_) | Pc::Compared(_) | Pc::Orphan => Op::Unlink,
            Pc::RelUnlink(_) | Pc::RelUnlinkByPath(_) => Op::Unlink,
            Pc::Broke(_) | Pc::Unbound(_) | Pc::RelClose(_) | Pc::RelCloseFirst(_) => Op::Close,
            Pc::Held(_) => Op::BeginRelease,
            Pc::RelDone => Op::EndRelease,
            Pc::Look | Pc::Join => Op::List,
            Pc::Take(_) => Op::LinkTicket,
            Pc::Queued => Op::FindPredecessor,
            Pc::Behind(j)
                if s.inodes[usize::from(j)].flock.is_some() || self.is(Mutant::WakesNobody) =>
            {
                return None;
            }
            Pc::Behind(_) => Op::PredecessorWait,
            Pc::RelTicket => Op::UnlinkTicket,
            Pc::Scan => Op::TryTicket,
        })
    }

    /// Whether task `t` may go the try-acquire way ([`Op::TryList`]): with
    /// [`ProtocolModel::tries`], it has its process's turn and has not listed yet (`Look`).
    pub(crate) fn may_try(&self, s: &State, t: TaskId) -> bool {
        self.tries && s.tasks[usize::from(t)].pc == Pc::Look
    }

    /// Whether task `t` may find the queue busy at a ticket whose remover holds its flock
    /// ([`Op::TryBusy`]).
    pub(crate) fn may_find_busy(&self, s: &State, t: TaskId) -> bool {
        let task = &s.tasks[usize::from(t)];
        let scanning = task.attempt == Attempt::Try && matches!(task.pc, Pc::Scan | Pc::Publish);
        // A dead waiter's ticket whose flock another task may have taken (the code holds it
        // until its close): a successor waiting on it, or another try-acquire's scan at it.
        let seized = s.next_listed(t).is_some_and(|k| {
            let j = s.tickets[k].inode;
            let other = |w: usize| {
                let id = TaskId::try_from(w).expect("few tasks");
                id != t
                    && (s.tasks[w].pc == Pc::Behind(j)
                        || s.tasks[w].pc == Pc::Scan && s.next_listed(id) == Some(k))
            };
            s.inodes[usize::from(j)].flock.is_none() && (0..s.tasks.len()).any(other)
        });
        scanning && (task.lost || seized)
    }

    /// Task `t` finds the queue busy (T2): it probes `L`, then gives up.
    pub(crate) fn find_busy(s: &mut State, t: TaskId) {
        let task = &mut s.tasks[usize::from(t)];
        task.attempt = Attempt::Busy;
        task.lost = false;
        task.pc = Pc::Contended;
        s.unlist(t);
    }

    /// Task `t` lists the tickets as a try-acquire (T1): it marks each one to try its flock,
    /// and arrives (the ghost of INV-9) as a listing without a ticket does. With none
    /// listed it is at its publish ([`State::canonicalize`]).
    pub(crate) fn try_list(&self, s: &mut State, t: TaskId) {
        let ti = usize::from(t);
        s.tasks[ti].before = Self::queued(s);
        s.tasks[ti].attempt = Attempt::Try;
        for k in &mut s.tickets {
            k.listed |= 1 << t;
        }
        s.tasks[ti].pc = Pc::Scan;
    }

    /// The end of a try-acquire that found the lock taken: as an [`Action::Abandon`] (its
    /// handle closes, its turn goes on); it is back outside.
    fn give_up(&self, s: &mut State, t: TaskId) -> Pc {
        self.abandon(s, t);
        Pc::Want
    }

    /// Where a task that has its process's turn starts the filesystem acquire: with the
    /// queue, by listing the tickets; without it, by publishing `L`.
    fn start(&self) -> Pc {
        if self.queue { Pc::Look } else { Pc::Publish }
    }

    /// The tasks queued now (a named ticket whose flock they hold, not yet inside), as a
    /// bit mask.
    fn queued(s: &State) -> u8 {
        let waiting = |t: usize| {
            !matches!(
                s.tasks[t].pc,
                Pc::Held(_)
                    | Pc::Handed(_)
                    | Pc::RelCheck(_)
                    | Pc::RelUnlink(_)
                    | Pc::RelClose(_)
                    | Pc::RelTicket
                    | Pc::RelDone
            )
        };
        (0..s.tasks.len())
            .filter(|&t| waiting(t) && s.own_ticket(TaskId::try_from(t).expect("few")).is_some())
            .fold(0, |m, t| m | 1 << t)
    }

    /// Queue ghost: task `t` enters the critical section by publishing `L`; every waiter
    /// that was queued when `t` arrived and is queued still is overtaken once more.
    fn enter(&self, s: &mut State, t: TaskId) {
        let ti = usize::from(t);
        let overtaken = s.tasks[ti].before & Self::queued(s);
        let cap = u8::try_from(self.processes).expect("few processes");
        for (w, task) in s.tasks.iter_mut().enumerate() {
            if overtaken & (1 << w) != 0 {
                task.overtaken = task.overtaken.saturating_add(1).min(cap);
            }
        }
        s.tasks[ti].before = 0;
        s.tasks[ti].overtaken = 0;
        s.forget(t);
    }

    /// `unlink(L)`: removes whatever `L` names (ENOENT if nothing) and records the event.
    fn unlink(s: &mut State, by: TaskId, kind: UnlinkKind) {
        let Some((victim, inode)) = s.named() else {
            return;
        };
        let publisher = &s.tasks[usize::from(inode.publisher)];
        let dead = s.publisher_dead(inode);
        s.unlinked = Some(UnlinkEvent {
            by,
            kind,
            kernel_locked: inode.flock == Some(by),
            victim_live_holder: !dead && publisher.pc == Pc::Held(victim),
            victim_dead: dead,
            own: inode.publisher == by && !dead,
        });
        s.path = None;
        if kind == UnlinkKind::Break && dead {
            s.tasks[usize::from(by)].took_over = true;
        }
    }

    /// Ends process `pi`'s turn: hands it to the first queued waiter (the entry becomes
    /// `Acquiring` for it, and it is woken), or sets the entry idle if nobody waits.
    /// (Mutant `lifo_hand_off`: to the last queued waiter.)
    fn hand_on(&self, s: &mut State, pi: usize) {
        let proc = &mut s.procs[pi];
        let next = if self.is(Mutant::LifoHandOff) {
            proc.queue.pop()
        } else if proc.queue.is_empty() {
            None
        } else {
            Some(proc.queue.remove(0))
        };
        proc.entry = next.map_or(Entry::Idle, Entry::Acquiring);
    }

    /// Whether task `t` may hand its hold off in memory ([`Op::HandOff`]): it holds, a task
    /// of its process is queued, and fewer than K hand-offs of its file came before (mutant
    /// `unbounded-hand-off`: whatever came before).
    pub(crate) fn may_hand_off(&self, s: &State, t: TaskId) -> bool {
        let proc = &s.procs[usize::from(self.owner[usize::from(t)])];
        let bounded = proc.handed < self.hand_off_bound || self.is(Mutant::UnboundedHandOff);
        matches!(s.tasks[usize::from(t)].pc, Pc::Held(_)) && !proc.queue.is_empty() && bounded
    }

    /// Task `t` hands its hold to the first queued waiter of its process: the waiter gets
    /// the inode (it is now its publisher, as far as its process's tasks go: same pid and
    /// incarnation), the handle and the flock; the entry is held by it; `t` is outside.
    /// (Mutant `unbounded-hand-off` counts past K, up to K + 1.)
    pub(crate) fn hand_off(&self, s: &mut State, t: TaskId) {
        let ti = usize::from(t);
        let pi = usize::from(self.owner[ti]);
        let Pc::Held(i) = s.tasks[ti].pc else { unreachable!("only a holder hands off") };
        let next = s.procs[pi].queue.remove(0);
        let proc = &mut s.procs[pi];
        proc.entry = Entry::Held(next);
        proc.handed = proc.handed.saturating_add(1).min(self.hand_off_bound.saturating_add(1));
        let inode = &mut s.inodes[usize::from(i)];
        inode.publisher = next;
        inode.flock = Some(next);
        if let Some(k) = s.own_ticket(t) {
            let ticket = &mut s.inodes[usize::from(s.tickets[k].inode)];
            ticket.publisher = next;
            ticket.flock = Some(next);
        }
        s.tasks[usize::from(next)].pc = Pc::Handed(i);
        s.tasks[usize::from(next)].took_over = s.tasks[ti].took_over;
        s.tasks[ti] = Task::at(Pc::Want);
        s.forget(t);
    }

    fn close(s: &mut State, i: InodeId) {
        s.inodes[usize::from(i)].flock = None;
    }

    /// Whether task `t` may abandon what it does now ([`Action::Abandon`]): it is queued in
    /// memory, runs the filesystem acquire protocol, or holds or releases the lock with a
    /// guard dropped where its release cannot complete (before its unlink).
    pub(crate) fn may_abandon(&self, s: &State, t: TaskId) -> bool {
        self.deadlines
            && matches!(
                s.tasks[usize::from(t)].pc,
                Pc::Parked
                    | Pc::Publish
                    | Pc::Contended
                    | Pc::Opened(_)
                    | Pc::Waiting(_)
                    | Pc::Proved(_)
                    | Pc::Checked(_)
                    | Pc::Unbound(_)
                    | Pc::Broke(_)
                    | Pc::Look
                    | Pc::Join
                    | Pc::Take(_)
                    | Pc::Queued
                    | Pc::Behind(_)
                    | Pc::Scan
                    | Pc::Held(_)
                    | Pc::RelCheck(_)
                    | Pc::RelUnlink(_)
            )
    }

    /// Task `t` abandons (deadline, cancellation, a dropped guard's fallback): its handle
    /// closes (dropping its flock; a holder's file stays, kernel-unlocked, for the next
    /// contender to break); its ticket, if it has one, is unlinked and closed (it holds
    /// its flock); a queued waiter leaves the queue (the registry's `withdraw`),
    /// and a task that has its process's turn hands it on as a release does (`abandon`,
    /// `finish_release`); it is back outside the lock.
    pub(crate) fn abandon(&self, s: &mut State, t: TaskId) {
        let ti = usize::from(t);
        let pi = usize::from(self.owner[ti]);
        if let Some(j) = s.tasks[ti].pc.handle()
            && s.inodes[usize::from(j)].flock == Some(t)
        {
            Self::close(s, j);
        }
        if let Some(k) = s.own_ticket(t) {
            let inode = s.remove_ticket(k).inode;
            Self::close(s, inode);
        }
        s.unlist(t);
        s.procs[pi].queue.retain(|&q| q != t);
        if matches!(s.procs[pi].entry, Entry::Acquiring(o) | Entry::Held(o) | Entry::Releasing(o) if o == t)
        {
            s.procs[pi].handed = 0;
            self.hand_on(s, pi);
        }
        s.tasks[ti] = Task::at(Pc::Want);
        s.forget(t);
    }

    /// Performs task `t`'s next step (its `Pc` decides which).
    pub(crate) fn step(&self, s: &mut State, t: TaskId) {
        let ti = usize::from(t);
        let pid = self.owner[ti];
        let pi = usize::from(pid);
        let pc = s.tasks[ti].pc;
        let next = match pc {
            Pc::Dead => unreachable!("dead tasks have no steps"),
            Pc::Want if s.procs[pi].entry == Entry::Idle => {
                s.procs[pi].entry = Entry::Acquiring(t);
                self.start()
            }
            Pc::Want => {
                s.procs[pi].queue.push(t);
                Pc::Parked
            }
            Pc::Parked => self.start(),
            Pc::Handed(i) => Pc::Held(i),
            Pc::Publish => {
                s.tasks[ti].lost = false;
                let renames = self.is(Mutant::H3RenameOverwrite);
                if s.path.is_some() && !renames {
                    // Without a ticket, a task that finds L held joins the queue (a
                    // try-acquire probes L instead).
                    let acquire = s.tasks[ti].attempt == Attempt::Acquire;
                    if self.queue && acquire && s.own_ticket(t).is_none() {
                        Pc::Join
                    } else {
                        Pc::Contended
                    }
                } else {
                    self.enter(s, t);
                    if renames {
                        Self::unlink(s, t, UnlinkKind::RenameOver);
                    }
                    let incarnation = s.procs[pi].incarnation;
                    let fresh = Inode { publisher: t, pid, incarnation, flock: Some(t) };
                    let i = s.create_inode(fresh);
                    s.path = Some(i);
                    s.procs[pi].entry = Entry::Held(t);
                    s.procs[pi].handed = 0;
                    s.tasks[ti].attempt = Attempt::Acquire;
                    Pc::Held(i)
                }
            }
            Pc::Contended if s.path.is_none() && s.tasks[ti].attempt == Attempt::Busy => {
                self.give_up(s, t)
            }
            Pc::Contended => s.path.map_or(Pc::Publish, Pc::Opened),
            Pc::Opened(j) => match self.op(s, t) {
                Some(Op::ReadPayload) if self.is(Mutant::H1ReleaseOrder) => Pc::Orphan,
                Some(Op::ReadPayload) if s.publisher_dead(&s.inodes[usize::from(j)]) => {
                    Pc::Stale(j)
                }
                Some(Op::ReadPayload) => Pc::Publish,
                _ if self.probe_reports_dead(s, &s.inodes[usize::from(j)]) => {
                    s.inodes[usize::from(j)].flock = Some(t);
                    Pc::Proved(j)
                }
                // The real protocol waits in the kernel on the refused flock; the historic
                // mutants close and retry, as they did.
                _ if self.mutant.is_some_and(Mutant::retries_refused_flock) => Pc::Publish,
                _ => Pc::Waiting(j),
            },
            Pc::Waiting(_) if s.tasks[ti].attempt != Attempt::Acquire => self.give_up(s, t),
            Pc::Waiting(j) => {
                s.inodes[usize::from(j)].flock = Some(t);
                // Breaker livelock: the file the wait returned with is closed unjudged.
                if self.is(Mutant::KernelWaitUnjudged) { Pc::Unbound(j) } else { Pc::Proved(j) }
            }
            Pc::Proved(j) if s.path == Some(j) => Pc::Checked(j),
            Pc::Proved(j) => Pc::Unbound(j),
            Pc::Unbound(j) | Pc::Broke(j) => {
                Self::close(s, j);
                if s.tasks[ti].attempt == Attempt::Busy { self.give_up(s, t) } else { Pc::Publish }
            }
            Pc::Checked(j) => {
                Self::unlink(s, t, UnlinkKind::Break);
                Pc::Broke(j)
            }
            Pc::Stale(j) if self.is(Mutant::H4CompareThenUnlink) => {
                if s.path == Some(j) {
                    Pc::Compared(j)
                } else {
                    Pc::Publish
                }
            }
            Pc::Stale(_) | Pc::Compared(_) | Pc::Orphan => {
                Self::unlink(s, t, UnlinkKind::Heuristic);
                Pc::Publish
            }
            Pc::Held(i) => {
                s.tasks[ti].took_over = false;
                s.procs[pi].handed = 0;
                if self.is(Mutant::H1ReleaseOrder) {
                    self.hand_on(s, pi);
                } else {
                    s.procs[pi].entry = Entry::Releasing(t);
                }
                if self.mutant.is_some_and(Mutant::closes_before_unlink) {
                    Pc::RelCloseFirst(i)
                } else {
                    Pc::RelCheck(i)
                }
            }
            Pc::RelCheck(i) if s.path == Some(i) => Pc::RelUnlink(i),
            Pc::RelCheck(i) => Pc::RelClose(i),
            Pc::RelUnlink(i) => {
                Self::unlink(s, t, UnlinkKind::Release);
                Pc::RelClose(i)
            }
            Pc::RelClose(i) => {
                Self::close(s, i);
                if s.own_ticket(t).is_some() { Pc::RelTicket } else { Pc::RelDone }
            }
            Pc::RelTicket => {
                let k = s.own_ticket(t).expect("a releaser with a ticket");
                let inode = s.remove_ticket(k).inode;
                Self::close(s, inode);
                Pc::RelDone
            }
            Pc::Look if s.tickets.is_empty() || self.is(Mutant::ReleaserBarges) => {
                s.tasks[ti].before = Self::queued(s);
                Pc::Publish
            }
            Pc::Look | Pc::Join => Pc::Take(s.highest_seq() + 1),
            Pc::Take(seq) => {
                s.tasks[ti].before = Self::queued(s);
                let incarnation = s.procs[pi].incarnation;
                let fresh = Inode { publisher: t, pid, incarnation, flock: Some(t) };
                let inode = s.create_inode(fresh);
                let ticket = Ticket { seq, id: (t, incarnation), inode, listed: 0 };
                let at = s.tickets.partition_point(|k| State::ticket_key(k) < (seq, ticket.id));
                s.tickets.insert(at, ticket);
                Pc::Queued
            }
            Pc::Queued => {
                let own = s.own_ticket(t).expect("a queued task has a ticket");
                let predecessor = own.checked_sub(1).map(|k| s.tickets[k].inode);
                predecessor.map_or(Pc::Publish, Pc::Behind)
            }
            Pc::Behind(j) => {
                // Under the flock it waited for: a ticket still named is a dead waiter's.
                if let Some(k) = s.tickets.iter().position(|k| k.inode == j) {
                    s.remove_ticket(k);
                }
                Pc::Queued
            }
            Pc::Scan => {
                let k = s.next_listed(t).expect("a scan has a listed ticket");
                s.tickets[k].listed &= !(1 << t);
                if s.inodes[usize::from(s.tickets[k].inode)].flock.is_none() {
                    // Its flock was ours at once: its waiter is dead (Q2).
                    s.remove_ticket(k);
                    Pc::Scan
                } else {
                    // Someone is queued: probe L (a dead holder's file may go), give up.
                    Self::find_busy(s, t);
                    Pc::Contended
                }
            }
            Pc::RelDone => {
                self.hand_on(s, pi);
                Pc::Want
            }
            Pc::RelCloseFirst(i) => {
                Self::close(s, i);
                Pc::RelUnlinkByPath(i)
            }
            Pc::RelUnlinkByPath(_) => {
                Self::unlink(s, t, UnlinkKind::Release);
                // H1 already removed the entry (it may belong to another task by now).
                if self.is(Mutant::H1ReleaseOrder) { Pc::Want } else { Pc::RelDone }
            }
        };
        s.tasks[ti].pc = next;
    }
}
