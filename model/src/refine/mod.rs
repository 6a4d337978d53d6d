//! Refinement: the spec (`sessionlock-spec`) checks the real core step by step.
//!
//! Every step the core takes in the model world is **recorded** ([`record`]): the process,
//! the filesystem primitive with its result, and the world's abstraction right after it.
//! Each trace is then **replayed** in the spec ([`replay()`]): every recorded step must be
//! an action the spec enables in its current state, and after it the abstraction of the
//! world must equal the projection of the spec's state. A change to the code that the
//! spec does not allow fails here even when no invariant breaks.
//!
//! # The abstraction function
//!
//! | world (`World`)                                  | spec (`State`)                                              |
//! |--------------------------------------------------|-------------------------------------------------------------|
//! | the inode the lock path names                    | `path`                                                      |
//! | its publisher: the process incarnation that linked it (recorded at `publish`) | `Inode::pid`, `Inode::incarnation` (+1: the world counts from 1) |
//! | the process whose handle holds its kernel lock   | `owner[Inode::flock]`                                       |
//! | unnamed inodes some open handle refers to (sorted, each as above), a ticket's never | unnamed inodes some live task's `Pc::handle` refers to, but for a handle on a ticket (`Behind`) |
//! | the named tickets `<lock>.q.<seq>.<id>` in queue order (equal `seq`s sorted by inode), each its inode: publisher (the waiter) as above, flock only as far as the waiter's live incarnation holds it | `State::tickets` in queue order (equal `seq`s likewise), each its inode: `Inode::pid`, `Inode::incarnation`, `owner[Inode::flock]` |
//! | each started process: alive, incarnation         | `Proc::alive`, `Proc::incarnation` (+1)                     |
//!
//! Every recorded primitive says whether it acted on a ticket (its path, or a handle opened
//! at one: `Step::ticket`) or on the lock path. Only the order of the tickets' `seq`s is
//! in the view, as in the spec, whose `seq`s are canonical (order, equality and one-apart
//! kept). A ticket's handles are in no view: a named ticket's kernel lock is its waiter's
//! (shown) or nobody's, but for the successor that holds it inside one spec step
//! (`PredecessorWait`), and an unnamed ticket's is nobody's but that successor's. Queue-off
//! traces have no ticket, and their views are as before the queue.
//!
//! Pids map to spec process indices in the order the trace starts them. Program counters
//! and registry entries are **hidden**: the world cannot see them, and the replay keeps
//! the set of every spec state consistent with the trace so far (trace validation
//! against a nondeterministic spec), so which task of a process took a primitive need not
//! be known. Every driver names the task of each registry event, and the replay also
//! tracks which spec task each of the driver's tasks is: a mapping fixed at the task's
//! first event, kept beside each spec state. A process gets as many spec tasks as the
//! most tasks of one process the trace names, at least two.
//!
//! # Step mapping
//!
//! | recorded step                 | spec action(s)                                           |
//! |-------------------------------|----------------------------------------------------------|
//! | `publish` created / taken     | `Linkat` to `Held` / to `Contended`                      |
//! | `open` found / missing        | `Open` to `Opened` / back to `Publish`                   |
//! | `try_lock` granted / refused  | `FlockNb` to `Proved` / to `Waiting`                     |
//! | `lock_until` granted          | `LockWait`                                               |
//! | `path_id`                     | `CheckPath`, or a stutter (a look that decides nothing)  |
//! | `unlink`                      | `Unlink`                                                 |
//! | a handle closed               | `Close`, or `Abandon` of a task that has a handle        |
//! | `meta`, `read`, `lease`, a wait begins or expires, a primitive failed with an injected error | a stutter |
//! | crash, exit                   | `Crash`                                                  |
//! | a pid started again           | `ReusePid` (a first start is a stutter)                  |
//! | the core's `Queued` event     | a task of the process `Parked` on a busy entry, `Releasing` exactly when the event says so |
//! | `Acquired`, `Reentered`       | a task of the process `Held`, the entry held by it       |
//! | `Released`                    | a task of the process at `RelDone`, the entry releasing  |
//! | `HandedOff`                   | that task's `HandOff`: it holds, a waiter of its process is queued, fewer than K hand-offs of the file came before (INV-9); the waiter then wakes holding (`Wake`, hidden) |
//! | an acquire `Begun` (driver)   | a task of the process outside (`Want`) or holding (re-entry); it may now `Request` once |
//! | an acquire `Ended` without the lock (driver) | that task back at `Want` (it abandoned at a recorded close), or its `Abandon` without a handle, now |
//! | *with the queue* (the spec's `queue` option, `spec/protocol.md` section 11): | |
//! | `tickets` (a listing)         | `List` (W0 from `Look`, W5 from `Join`: it decides publish or take), `TryList` (T1 from `Look`: a try-acquire marks the tickets it listed), or `FindPredecessor` (W2, from `Queued`: it decides wait or publish); never a stutter |
//! | `publish` of a ticket         | `LinkTicket`                                             |
//! | `open` of a ticket found      | a stutter, by a process with a task `Behind` (the `open` of the predecessor its `FindPredecessor` found) |
//! | `open` of a ticket missing    | `PredecessorWait` of a task `Behind` an unnamed ticket: its waiter left after the listing, so the wait is over and the search repeats |
//! | `lock_until` of a ticket begins, expires; `path_id` of a ticket | a stutter |
//! | `lock_until` of a ticket granted | a stutter, by a process with a task `Behind`     |
//! | `unlink` of a ticket          | `PredecessorWait` that removes a dead waiter's ticket, `UnlinkTicket` (R5q), or `Abandon` of a task with a ticket (a give-up) |
//! | a ticket's handle closed      | `PredecessorWait` (the predecessor's ticket already gone: R5q or a give-up), or a stutter (after the unlink that carried the step) |
//! | `open` of a ticket (found or missing), `try_lock` of a ticket granted, by a try-acquire's scan (`Scan`, or at its publish after it: with the spec's `tries`) | a stutter: the unlink that follows a grant, if the name is still there, carries the step |
//! | `unlink` of a listed ticket by a try-acquire | `TryTicket`: the next ticket it listed, its flock free (a dead waiter's, Q2), removed |
//! | `try_lock` of a ticket refused, by a try-acquire | `TryTicket` (the next ticket it listed, its flock its waiter's), or `TryBusy` (whoever removes that ticket holds its flock, inside a step the spec takes whole): it then probes L and gives up |
//! | a try-acquire's `publish` of L taken, `open` of L, `try_lock` refused and the close | `Linkat` to `Contended` (never `Join`), `Open`, `FlockNb` to `Waiting`, then `Close` from `Waiting`: it gives up (or `Abandon`, the same state); after `TryTicket`/`TryBusy` the probe's end (L gone, or broken) gives up too |
//! | a handle on L closed, its flock not held, by a task with a ticket that may give up | a stutter: the first primitive of the give-up (`Abandon` is its ticket's unlink); the replay tracks the handle as closed beside the spec state, and it is in no view until then |
//!
//! **Why one primitive may carry a queue step.** `PredecessorWait` (the kernel wait
//! granted, `unlink_if` of the predecessor's ticket, the close), `UnlinkTicket` and a
//! give-up with a ticket (`unlink_if` of the own ticket, the close) are one spec step each,
//! and several primitives in the code. The unlink carries the step when there is one: it
//! is the only one of them another process can see (a listing sees the name go), so at
//! every other primitive the world and the spec agree on every name. Before it, the
//! unlinker holds the ticket's flock (the successor from its grant, the owner throughout),
//! so nobody else can take that flock, and a ticket's flock held by someone other than its
//! waiter is in no view; after it, the close only frees a flock on an unnamed inode (no
//! process can open it any more, and the successor waiting on it is granted it after the
//! close, where the spec allows it from the unlink on). Without an unlink (the predecessor's ticket was already gone),
//! the close carries `PredecessorWait`, or a failed `open` does: the spec's step is
//! enabled exactly when nobody holds the predecessor's flock any more, as the code's grant
//! requires. A give-up's `Abandon` also hands its process's turn on, which the code does
//! after the ticket's close: a sibling's `Queued` (and the start of its acquire) recorded
//! after the unlink is replayed before it, since registry transitions touch no file and a
//! ticket's unlink and close touch no registry entry (the two orders are one run).
//!
//! The registry transitions come from the core's observe hook ([`record::Recording`]),
//! installed by every driver, which names the task each event comes from
//! ([`record::Polled`]) and records where each acquire begins and ends
//! ([`record::acquiring`]):
//!
//! | driver | the task of an event |
//! |---|---|
//! | the proptest machine | the task it polls, set before each poll |
//! | the fault-plan machine, the scripts, the seed-race gate, the crash points | the task whose future is polled ([`record::named`]) |
//! | shuttle (the threaded scenarios) | the task whose shuttle thread reports it (each thread names its task when it starts) |
//!
//! With the cross-process queue on, the proptest machine (`drivers::machine_queue`) and
//! shuttle's random scheduler over the queue's scenarios (`drivers::shuttle_queue`) are
//! replayed with the spec's `queue` and `tries` options (`replay_queue`), and so are the
//! queue's scripts (in the refinement tests; their events are not recorded). Every
//! try-acquire replays, whether it meets the queue or finds L taken.
//!
//! Under shuttle two reports may land after later steps, and the recorder puts them back
//! where their transition was (see `late_report` in [`record`]). A named event must be by
//! the spec task its driver's task is mapped to (`Queued`: that task, last in the queue).
//!
//! Before each recorded step of a process, the replay may take any number of that
//! process's registry steps (`Request`, `Wake`, `BeginRelease`, `EndRelease`, and
//! `HandOff` in traces without events) and
//! abandons of its tasks that have no handle: they touch no file, so the world shows
//! nothing of them. In a trace whose events name their task, a task requests only once
//! per recorded start of its acquire, and abandons without a handle only at its recorded
//! end: so a waiter cannot silently give up, nor a task silently join the queue.
//!
//! # Abstracted
//!
//! * Registry entries and program counters: hidden, inferred (see above), because the
//!   world sees only primitives. In every driver, the hook's events, each by a named
//!   task, pin the entry and that task at each queueing, grant, re-entry and release, and
//!   the recorded starts and ends of acquires pin every request and every give-up without
//!   a handle. The spec hands the turn on in FIFO order (`Proc::queue`), so the **code's
//!   FIFO hand-off is checked** on every driver's traces: a grant to a newcomer, or to a
//!   later waiter, while an earlier waiter of the process still waits is rejected at that
//!   grant, and so is a turn kept by a waiter that gave up. (The machine's processes run
//!   two tasks, so at most one waits at a time; shuttle's three-task scenario has two
//!   waiters at once.) Primitives still name no task, so a close that is a give-up with a
//!   handle may be any task's of the process (its recorded end then pins which). An event
//!   reported outside any named task (a guard dropped by the driver) may be any task's of
//!   its process. Loom's runs are not recorded.
//! * Time: a deadline is the spec's nondeterministic `Abandon`, because the spec has no
//!   clock; the timeout itself (`lock_until` expiring) is a stutter.
//! * Foreign payloads, special files, operator removals, injected race faults (a
//!   made-up answer) and the degraded mode: a trace with such a step is skipped and counted, because the spec
//!   models the protocol's own files on a filesystem whose kernel lock proves death.
//! * Inode numbers: the spec has none, so inode drift (H17) is replayed as it is; the
//!   nonce comparison it forces (open, read, close of what the path names, right after
//!   a path check) is a *look*, tracked beside the spec state: it takes no lock and
//!   decides nothing the spec models.
//! * A try-acquire's try of a ticket refused by whoever removes it: the code holds a
//!   ticket's flock from its grant (a successor, another try-acquire) or from before its
//!   unlink (its owner) to its close, and the spec takes the removal as one step, so the
//!   spec's `TryBusy` lets a try-acquire find the queue busy after a ticket it listed was
//!   removed, or at a dead waiter's ticket another task waits on or tries: a give-up,
//!   which is always safe; publishing L still needs every listed ticket tried and found
//!   dead (`a_try_acquire_publishing_past_a_live_ticket_is_rejected`).
//! * The early R5q of an exec hand-off (`spec/protocol.md`, section 11): only the Linux
//!   API runs it, never a driver of the model world, so no trace has it.
//! * One lock path per world.

#[cfg(sessionlock_shuttle)]
pub mod drivers;
pub mod record;
pub mod replay;

pub use record::{InodeView, Prim, Step, View, collect};
pub use replay::{Rejection, Replayed, replay, replay_queue};
