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
//! | unnamed inodes some open handle refers to (sorted, each as above) | unnamed inodes some live task's `Pc::handle` refers to |
//! | each started process: alive, incarnation         | `Proc::alive`, `Proc::incarnation` (+1)                     |
//!
//! Pids map to spec process indices in the order the trace starts them. Program counters
//! and registry entries are **hidden**: the world cannot see them, and the replay keeps
//! the set of every spec state consistent with the trace so far (trace validation
//! against a nondeterministic spec), so which task of a process took a step need not be
//! known.
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
//!
//! The registry transitions come from the core's observe hook ([`record::Recording`]),
//! installed by the proptest machine; the other drivers record primitives only.
//!
//! Before each recorded step of a process, the replay may take any number of that
//! process's registry steps (`Request`, `Wake`, `BeginRelease`, `EndRelease`) and
//! abandons of its tasks that have no handle: they touch no file, so the world shows
//! nothing of them.
//!
//! # Abstracted
//!
//! * Registry entries and program counters: hidden, inferred (see above), because the
//!   core's observe hook carries no task identity and the world sees only primitives.
//!   The hook's events (in the machine) pin the entry's phase at each queueing, grant,
//!   re-entry and release. The spec hands the turn on in FIFO order (`Proc::queue`), so
//!   the replay only takes FIFO hand-offs; but the FIFO *order* of the code's hand-off is
//!   not checked: the events name no task (the spec's tasks of a process are
//!   interchangeable to the replay), and a waiter's deadline or cancellation is a hidden
//!   `Abandon` (it touches no file and the hook reports no withdrawal), so a hand-off to
//!   a later waiter replays as the earlier ones abandoning. Checking it needs the events
//!   to name their task and a recorded withdrawal, with the replay tracking which spec
//!   task each code task is. (FIFO is checked on the spec by the fair-cycle monitor
//!   "INV-3 FifoWithinProcess" and on the code by the registry's own tests.)
//! * Time: a deadline is the spec's nondeterministic `Abandon`, because the spec has no
//!   clock; the timeout itself (`lock_until` expiring) is a stutter.
//! * Foreign payloads, special files, operator removals, injected race faults (a
//!   made-up answer) and the degraded mode: a trace with such a step is skipped and counted, because the spec
//!   models the protocol's own files on a filesystem whose kernel lock proves death.
//! * Inode numbers: the spec has none, so inode drift (H17) is replayed as it is; the
//!   nonce comparison it forces (open, read, close of what the path names, right after
//!   a path check) is a *look*, tracked beside the spec state: it takes no lock and
//!   decides nothing the spec models.
//! * One lock path per world.

#[cfg(all(feature = "shuttle", not(sessionlock_loom)))]
pub mod drivers;
pub mod record;
pub mod replay;

pub use record::{InodeView, Prim, Step, View, collect};
pub use replay::{Rejection, Replayed, replay};
