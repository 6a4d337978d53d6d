//! The state of the abstract world: one lock path, its inodes, processes and tasks.
//!
//! # Abstraction
//!
//! * **Lock path `L`** ([`State::path`]): one directory entry that names an inode or
//!   nothing. Only `linkat`, `unlink` and (mutant H3) `rename` change it; each is
//!   atomic on Linux and is one model step.
//! * **Inodes** ([`Inode`]): the kernel object behind a lock file, with its publisher
//!   (task, pid, incarnation) and the open file description holding `flock` on it, if
//!   any. The payload is not modelled byte by byte: since publication is atomic, a named
//!   inode always carries its full payload, i.e. its publisher.
//! * **Processes** ([`Proc`]): a pid slot with an alive flag, an incarnation (bumped
//!   when the pid is reused) and the in-process registry [`Entry`] for `L`.
//! * **Tasks** ([`Task`]): the program counter ([`Pc`]) of one acquirer. A task holds at
//!   most one open handle, and the inode of that handle is in its `Pc`, so a handle is
//!   identified by its task; `flock` is per open file description, so two tasks (even of
//!   one process) never share a kernel lock.
//!
//! * **Tickets** ([`State::tickets`], with [`ProtocolModel::queue`](crate::ProtocolModel::queue)):
//!   the files `L.q.<seq>.<id>` of the cross-process queue (`spec/protocol.md`, section
//!   11), each an inode like a lock file (published kernel-locked by its waiter), in queue
//!   order. Only the order of the `seq` numbers and which of them are one apart matter, so
//!   they are canonical too (see [`State::canonicalize`]).
//!
//! Inode ids are canonical: after every step unreferenced inodes (no name, no handle,
//! no pending reference in a `Pc`) are dropped and the rest renumbered in order of first
//! reference (see [`State::canonicalize`]). Tasks loop forever (acquire, hold, release,
//! acquire ...), so the state space is finite without an acquire budget; only crashes
//! and pid reuses are budgeted.

/// Index of an inode in [`State::inodes`] (canonical, see [`State::canonicalize`]).
pub type InodeId = u8;
/// Index of a task in [`State::tasks`]; also identifies the task's open handle.
pub type TaskId = u8;

/// A lock-file inode.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Inode {
    /// The task that created and published it.
    pub publisher: TaskId,
    /// The publisher's pid (its process slot): what a payload-reading judge sees.
    pub pid: u8,
    /// The publisher process's incarnation: what a start-time check would see.
    pub incarnation: u8,
    /// The task whose open handle holds `flock(LOCK_EX)` on this inode, if any.
    pub flock: Option<TaskId>,
}

/// The in-process registry entry of one process for `L`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entry {
    /// No task of this process is in the protocol for `L` (H1: the entry is absent).
    Idle,
    /// The task runs the filesystem acquire protocol.
    Acquiring(TaskId),
    /// The task holds the lock.
    Held(TaskId),
    /// The task is tearing down; waiters queue until it hands the turn on.
    Releasing(TaskId),
}

/// A process (pid slot).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Proc {
    /// Whether the current incarnation is running.
    pub alive: bool,
    /// How many times this pid has been (re)used.
    pub incarnation: u8,
    /// The in-process registry entry for `L`.
    pub entry: Entry,
    /// The tasks parked on the entry, in the order they parked. Whoever ends a turn hands
    /// it to the first (the entry becomes `Acquiring` for it before it is woken), as the
    /// code's registry does, so a woken waiter never races a newcomer.
    pub queue: Vec<TaskId>,
    /// In-memory hand-offs of the held file since this process published it
    /// ([`Op::HandOff`](crate::actions::Op::HandOff)); at most
    /// [`ProtocolModel::hand_off_bound`](crate::ProtocolModel::hand_off_bound) (INV-9).
    /// Zero whenever the process holds no file.
    pub handed: u8,
}

/// A task's program counter: what its *next* step does.
///
/// Variants carrying an [`InodeId`] refer to the inode of the task's open handle, except
/// `Stale`, `Compared` and `RelUnlinkByPath`, which only remember which inode was judged
/// (the handle is closed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pc {
    /// The process crashed; the task does nothing.
    Dead,
    /// Outside the lock; next: look up the registry entry.
    Want,
    /// Queued in memory on a busy registry entry ([`Proc::queue`]); moves once it has been
    /// handed the turn (the entry is `Acquiring` for it).
    Parked,
    /// Was parked, and the last holder of its process handed it the hold in memory: the
    /// published inode, its handle and flock are now this task's, and the entry is
    /// `Held` by it; next: wake up holding it.
    Handed(InodeId),
    /// Owns the registry entry; next: publish (O_TMPFILE + flock + write, `linkat`).
    Publish,
    /// `linkat` failed with EEXIST; next: `open(L)`.
    Contended,
    /// Has a handle on the inode `L` named at open; next: judge it (`flock(LOCK_NB)`).
    Opened(InodeId),
    /// `flock(LOCK_NB)` was refused: the handle stays open and the task waits in the kernel
    /// (`lock_until`) until the inode's flock is free; next: take it, then judge the inode
    /// under the lock it then holds (as [`Pc::Proved`]).
    Waiting(InodeId),
    /// Holds the flock of a named-at-open inode (its holder is dead); next: check `L`
    /// still names it.
    Proved(InodeId),
    /// Holds the flock and saw `L` name the inode; next: `unlink(L)`.
    Checked(InodeId),
    /// Holds the flock but saw `L` name another inode or nothing (mutant breaker-livelock:
    /// its kernel wait just returned with the flock, unjudged); next: close the handle (drop
    /// the flock), then publish again.
    Unbound(InodeId),
    /// Unlinked `L`; next: close the handle (drop the flock), then publish again.
    Broke(InodeId),
    /// Mutants H2/H4: judged the inode stale from its payload, handle closed.
    Stale(InodeId),
    /// Mutant H4: re-read `L` and found it unchanged; next: unlink by path.
    Compared(InodeId),
    /// Mutant H1: judged `L` an orphan of its own pid; next: unlink by path.
    Orphan,
    /// Queue (W0): has its process's turn; next: list the tickets (none: publish `L`
    /// without a ticket; some: take one, `seq` = highest + 1).
    Look,
    /// Queue (W5): `linkat(L)` failed with EEXIST without a ticket; next: list the tickets
    /// and take one, `seq` = highest + 1.
    Join,
    /// Queue, a try-acquire (T1, [`Attempt::Try`]): listed the tickets (each marked in
    /// [`Ticket::listed`]); next: open the first one still marked and try its flock once:
    /// held, someone is queued (T2, [`Attempt::Busy`]: probe `L`, then give up); free, its
    /// waiter is dead (Q2): unlink it, go on. With none marked left it is at `Publish`
    /// (see [`State::canonicalize`]): the scan's end is no step of its own.
    Scan,
    /// Queue (W1): next: publish the ticket `L.q.<seq>.<id>` (its own id: never EEXIST).
    Take(u8),
    /// Queue (W2): holds a named ticket; next: list the tickets and open the predecessor
    /// (the one just before its own in the order of [`State::ticket_key`]), or, with none,
    /// publish `L` as the head.
    Queued,
    /// Queue (W3): waits in the kernel on its predecessor's ticket (an open handle); next,
    /// once that flock is free: take it, unlink the ticket if its name is still there (its
    /// waiter died or gave up), close, and find the predecessor again.
    Behind(InodeId),
    /// In the critical section, holding the flock of its published inode.
    Held(InodeId),
    /// Releasing, registry entry already `Releasing`; next: check `L` names own inode.
    RelCheck(InodeId),
    /// Releasing, saw `L` name own inode; next: `unlink(L)`.
    RelUnlink(InodeId),
    /// Releasing, unlinked; next: close the handle (drop the flock).
    RelClose(InodeId),
    /// Releasing, closed `L`'s handle, holds a ticket (queue, R5q); next: unlink the
    /// ticket and close it (its successor's kernel wait returns).
    RelTicket,
    /// Releasing, closed; next: end the turn (hand it to the first queued waiter, or set
    /// the entry `Idle`).
    RelDone,
    /// Mutants H1/H5: releasing in the upstream order; next: close (drop the flock).
    RelCloseFirst(InodeId),
    /// Mutants H1/H5: closed; next: unlink whatever `L` names.
    RelUnlinkByPath(InodeId),
}

impl Pc {
    /// The inode this program counter refers to, if any.
    pub fn inode(self) -> Option<InodeId> {
        match self {
            Pc::Opened(i)
            | Pc::Handed(i)
            | Pc::Waiting(i)
            | Pc::Behind(i)
            | Pc::Proved(i)
            | Pc::Checked(i)
            | Pc::Unbound(i)
            | Pc::Broke(i)
            | Pc::Stale(i)
            | Pc::Compared(i)
            | Pc::Held(i)
            | Pc::RelCheck(i)
            | Pc::RelUnlink(i)
            | Pc::RelClose(i)
            | Pc::RelCloseFirst(i)
            | Pc::RelUnlinkByPath(i) => Some(i),
            _ => None,
        }
    }

    /// The inode of the open handle of a task at this program counter, if any.
    pub fn handle(self) -> Option<InodeId> {
        match self {
            Pc::Stale(_) | Pc::Compared(_) | Pc::RelUnlinkByPath(_) => None,
            pc => pc.inode(),
        }
    }

    fn renumber(self, map: &[Option<InodeId>]) -> Pc {
        let m = |i: InodeId| map[usize::from(i)].expect("referenced inode is kept");
        match self {
            Pc::Opened(i) => Pc::Opened(m(i)),
            Pc::Handed(i) => Pc::Handed(m(i)),
            Pc::Waiting(i) => Pc::Waiting(m(i)),
            Pc::Behind(i) => Pc::Behind(m(i)),
            Pc::Unbound(i) => Pc::Unbound(m(i)),
            Pc::Proved(i) => Pc::Proved(m(i)),
            Pc::Checked(i) => Pc::Checked(m(i)),
            Pc::Broke(i) => Pc::Broke(m(i)),
            Pc::Stale(i) => Pc::Stale(m(i)),
            Pc::Compared(i) => Pc::Compared(m(i)),
            Pc::Held(i) => Pc::Held(m(i)),
            Pc::RelCheck(i) => Pc::RelCheck(m(i)),
            Pc::RelUnlink(i) => Pc::RelUnlink(m(i)),
            Pc::RelClose(i) => Pc::RelClose(m(i)),
            Pc::RelCloseFirst(i) => Pc::RelCloseFirst(m(i)),
            Pc::RelUnlinkByPath(i) => Pc::RelUnlinkByPath(m(i)),
            pc => pc,
        }
    }
}

/// One task (an acquirer inside a process).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Task {
    /// What the task does next.
    pub pc: Pc,
    /// Set when this task unlinked a crashed holder's file; cleared when it releases.
    /// Only used by the "stale takeover after crash" reachability property.
    pub took_over: bool,
    /// Queue ghost (INV-9, cross-process part): bit `w` is set if task `w` was queued
    /// when this task arrived (named its ticket, or listed and found it could go without
    /// one); cleared for `w` once `w` is no longer queued. Zero without the queue.
    pub before: u8,
    /// Queue ghost: how many later arrivals entered the critical section by publishing `L`
    /// while this task was queued (saturates at the number of processes). Zero without
    /// the queue.
    pub overtaken: u8,
    /// How this acquire ends if it finds the lock taken (with
    /// [`ProtocolModel::tries`](crate::ProtocolModel::tries)): it waits, or it gives up.
    pub attempt: Attempt,
    /// A try-acquire's scan ([`Pc::Scan`], or at its first `Publish` after it): a ticket it
    /// listed was removed by someone else before it tried that ticket's flock. The remover
    /// (its owner's release or give-up, or its successor) unlinks and closes in one spec
    /// step, and the code in two, holding the flock in between: a try of it there is
    /// refused, and the try-acquire finds the queue busy ([`Op::TryBusy`](crate::actions::Op::TryBusy)).
    pub lost: bool,
}

/// How an acquire that finds the lock taken goes on (`Locker::try_acquire` with the queue:
/// `spec/protocol.md`, section 11, T1 to T3).
///
/// | attempt   | set at                                   | `L` taken at `Publish` | a refused flock (`Waiting`) | a probe's end (`Broke`, `Unbound`, `L` gone at `Contended`) |
/// |-----------|------------------------------------------|------------------------|-----------------------------|------|
/// | `Acquire` | every acquire's start                    | `Join` (with the queue) | wait in the kernel          | publish again |
/// | `Try`     | `TryList` (T1)                           | `Contended`: probe `L` | close and give up           | publish again |
/// | `Busy`    | `TryTicket` found a flock held (T2)      | —                      | close and give up           | give up |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Attempt {
    /// An acquire: it waits (in the queue, or in the kernel).
    #[default]
    Acquire,
    /// A try-acquire: it never waits; it probes `L` (and may break a dead holder's file),
    /// and gives up if the holder is alive.
    Try,
    /// A try-acquire that found a live waiter queued: it probes `L` once (the probe may
    /// break a dead holder's file), then gives up.
    Busy,
}

impl Task {
    /// A task at `pc`, with no ghost state.
    pub fn at(pc: Pc) -> Task {
        Task {
            pc,
            took_over: false,
            before: 0,
            overtaken: 0,
            attempt: Attempt::Acquire,
            lost: false,
        }
    }
}

/// A named ticket `L.q.<seq>` of the cross-process queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ticket {
    /// Its sequence number (canonical: see [`State::canonicalize`]).
    pub seq: u8,
    /// The id in its name: the task that took it and that task's process incarnation
    /// (fixed at creation; an in-memory hand-off passes the ticket, not its name).
    pub id: (TaskId, u8),
    /// The ticket's inode: its publisher is its waiter, its flock that waiter's handle.
    pub inode: InodeId,
    /// The try-acquiring tasks ([`Pc::Scan`]) that listed this ticket and have not tried
    /// its flock yet, as a bit mask.
    pub listed: u8,
}

/// Why an unlink (or a replacing rename) happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnlinkKind {
    /// A breaker that proved the holder dead under the kernel lock.
    Break,
    /// A holder's release.
    Release,
    /// A payload/pid heuristic (mutants H1, H2, H4).
    Heuristic,
    /// `rename` over an existing `L` (mutant H3).
    RenameOver,
}

/// The name removal performed by the step that produced the current state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnlinkEvent {
    /// Who removed the name.
    pub by: TaskId,
    /// Which protocol step removed it.
    pub kind: UnlinkKind,
    /// The remover held `flock` on the removed inode (INV-2: the unlink is inode-bound).
    pub kernel_locked: bool,
    /// The removed inode's publisher was alive and in its critical section with it.
    pub victim_live_holder: bool,
    /// The removed inode's publisher incarnation was dead.
    pub victim_dead: bool,
    /// The removed inode was published by the remover itself (same task, same
    /// incarnation): a holder removing its own file needs no proof (INV-2), and a
    /// release must never remove anything else (INV-6).
    pub own: bool,
}

/// The whole model state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    /// The inode the lock path `L` names, if any.
    pub path: Option<InodeId>,
    /// The named tickets, in queue order ([`State::ticket_key`]; always empty without the
    /// queue).
    pub tickets: Vec<Ticket>,
    /// Live inodes (named by `L` or referenced by some task), canonically numbered.
    pub inodes: Vec<Inode>,
    /// Processes, indexed by pid.
    pub procs: Vec<Proc>,
    /// Tasks; the task-to-process map is static and lives in the model.
    pub tasks: Vec<Task>,
    /// Crashes the environment may still inject.
    pub crashes_left: u8,
    /// Pid reuses the environment may still inject.
    pub respawns_left: u8,
    /// The unlink done by the last step, if it did one (reset by every step).
    pub unlinked: Option<UnlinkEvent>,
}

impl State {
    /// The inode `L` names, with its id.
    pub fn named(&self) -> Option<(InodeId, &Inode)> {
        self.path.map(|i| (i, &self.inodes[usize::from(i)]))
    }

    /// Whether the process incarnation that published `inode` is dead.
    pub fn publisher_dead(&self, inode: &Inode) -> bool {
        let p = &self.procs[usize::from(inode.pid)];
        !(p.alive && p.incarnation == inode.incarnation)
    }

    /// Adds a fresh inode and returns its (temporary, pre-canonical) id.
    pub(crate) fn create_inode(&mut self, inode: Inode) -> InodeId {
        self.inodes.push(inode);
        InodeId::try_from(self.inodes.len() - 1).expect("few inodes")
    }

    /// The index in [`State::tickets`] of the ticket whose flock task `t` holds: its own
    /// (only its waiter holds a ticket's flock, outside one atomic step).
    pub fn own_ticket(&self, t: TaskId) -> Option<usize> {
        self.tickets.iter().position(|k| self.inodes[usize::from(k.inode)].flock == Some(t))
    }

    /// Queue ghost: task `t` is no longer queued (it entered, gave up, died, or its hold
    /// went on): clear it from every task's [`Task::before`].
    pub(crate) fn forget(&mut self, t: TaskId) {
        for task in &mut self.tasks {
            task.before &= !(1 << t);
        }
    }

    /// Removes the ticket at index `k` of [`State::tickets`] (its unlink); a try-acquire
    /// that listed it and has not tried it yet lost it ([`Task::lost`]).
    pub(crate) fn remove_ticket(&mut self, k: usize) -> Ticket {
        let gone = self.tickets.remove(k);
        for (t, task) in self.tasks.iter_mut().enumerate() {
            if gone.listed & (1 << t) != 0 {
                task.lost = true;
            }
        }
        gone
    }

    /// Task `t` no longer scans the tickets it listed ([`Pc::Scan`]): clear its marks.
    pub(crate) fn unlist(&mut self, t: TaskId) {
        for k in &mut self.tickets {
            k.listed &= !(1 << t);
        }
    }

    /// The index in [`State::tickets`] of the first ticket task `t` listed and has not
    /// tried yet ([`Pc::Scan`]).
    pub fn next_listed(&self, t: TaskId) -> Option<usize> {
        self.tickets.iter().position(|k| k.listed & (1 << t) != 0)
    }

    /// A ticket's place in the queue: its `seq`, then the id in its name between equal
    /// `seq`s.
    pub fn ticket_key(k: &Ticket) -> (u8, (TaskId, u8)) {
        (k.seq, k.id)
    }

    /// The highest named `seq`, 0 if there is no ticket.
    pub fn highest_seq(&self) -> u8 {
        self.tickets.last().map_or(0, |k| k.seq)
    }

    /// Drops unreferenced inodes and renumbers the rest in order of first reference
    /// (`L` first, then tickets in queue order, then tasks by index), so that states
    /// differing only in inode names or in garbage are one state. The `seq` numbers
    /// (of tickets and of pending [`Pc::Take`]s) are renumbered too, keeping their order,
    /// their equalities and whether two are one apart (a gap of two or more becomes two,
    /// counting from 0): a listing takes the highest plus one, and only order and equality
    /// place a ticket, so nothing else about them is ever observed. A try-acquire's scan
    /// with no listed ticket left ([`Pc::Scan`]) is at its publish (`Publish`): the code
    /// goes there without a step of its own.
    pub fn canonicalize(&mut self) {
        for t in 0..self.tasks.len() {
            let id = TaskId::try_from(t).expect("few tasks");
            if self.tasks[t].pc == Pc::Scan && self.next_listed(id).is_none() {
                self.tasks[t].pc = Pc::Publish;
            }
        }
        self.canonicalize_seqs();
        let tickets = self.tickets.iter().map(|k| k.inode);
        let refs = self
            .path
            .into_iter()
            .chain(tickets)
            .chain(self.tasks.iter().filter_map(|t| t.pc.inode()));
        let mut map = vec![None; self.inodes.len()];
        let mut order = Vec::new();
        for old in refs {
            if map[usize::from(old)].is_none() {
                map[usize::from(old)] = Some(InodeId::try_from(order.len()).expect("few inodes"));
                order.push(old);
            }
        }
        self.inodes = order.iter().map(|&o| self.inodes[usize::from(o)].clone()).collect();
        self.path = self.path.and_then(|i| map[usize::from(i)]);
        for k in &mut self.tickets {
            k.inode = map[usize::from(k.inode)].expect("a named ticket is kept");
        }
        for t in &mut self.tasks {
            t.pc = t.pc.renumber(&map);
        }
    }

    fn canonicalize_seqs(&mut self) {
        let pending = self.tasks.iter().filter_map(|t| match t.pc {
            Pc::Take(q) => Some(q),
            _ => None,
        });
        let mut seqs: Vec<u8> = self.tickets.iter().map(|k| k.seq).chain(pending).collect();
        if seqs.is_empty() {
            return;
        }
        seqs.sort_unstable();
        seqs.dedup();
        let (mut old, mut new) = (0u8, 0u8);
        let mut map = Vec::with_capacity(seqs.len());
        for &q in &seqs {
            new += (q - old).min(2);
            old = q;
            map.push((q, new));
        }
        let m = |q: u8| map.iter().find(|(o, _)| *o == q).expect("every seq is mapped").1;
        for k in &mut self.tickets {
            k.seq = m(k.seq);
        }
        for t in &mut self.tasks {
            if let Pc::Take(q) = t.pc {
                t.pc = Pc::Take(m(q));
            }
        }
    }
}
