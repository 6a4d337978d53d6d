//! The boundary between the lock core and the world: storage, processes and time.
//!
//! The core decides; implementations of these traits only carry out primitives. Each
//! primitive promises exactly the atomicity Linux gives, and no more, so the in-memory
//! model in `sessionlock-model` cannot prove anything the real adapter would break.
//!
//! Every method returns a future so that the model can park a task at any step (gates,
//! single-stepping). The real adapter's futures complete at once, except
//! [`LockFs::lock_until`] and [`Clock::sleep_until`], which really wait.

use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A point on a monotonic clock, measured from the clock's own origin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Moment(Duration);

impl Moment {
    /// The clock's origin.
    pub const ZERO: Self = Self(Duration::ZERO);

    /// The moment `since_origin` after the origin.
    pub const fn from_duration(since_origin: Duration) -> Self {
        Self(since_origin)
    }

    /// Time since the origin.
    pub const fn as_duration(self) -> Duration {
        self.0
    }

    /// `self + d`, saturating at the far future.
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d))
    }

    /// Time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Self) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

/// Time, as the core sees it. Deadlines use [`Clock::now`]; the wall clock is only written
/// into payloads and used to age foreign lock files.
pub trait Clock: Send + Sync + 'static {
    /// The monotonic now.
    fn now(&self) -> Moment;

    /// Milliseconds since the Unix epoch, for `createdAt` and for aging foreign files.
    fn wall_ms(&self) -> u64;

    /// Resolves once [`Clock::now`] has reached `at`. Cancel-safe: dropping it is harmless.
    fn sleep_until(&self, at: Moment) -> impl Future<Output = ()> + Send;
}

/// The canonical path of a lock file: the registry key and the name on disk.
///
/// Canonicalising (realpath of the directory plus the file name) is the adapter's job;
/// the core treats two `LockPath`s as the same lock exactly when they are equal.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LockPath(PathBuf);

impl LockPath {
    /// Wraps a path that is already canonical.
    pub fn from_canonical(path: impl Into<PathBuf>) -> Self {
        Self(path.into())
    }

    /// The path on disk.
    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl fmt::Display for LockPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.display().fmt(f)
    }
}

/// A waiter's place in a lock's queue: the file `<lock>.q.<seq>.<id>` beside the lock
/// file (`spec/protocol.md`, section 11). Ordered as the queue is: by `seq`, then by `id`.
///
/// `seq` is decimal without leading zeros; `id` is 1 to 64 characters of `0-9`, `a-f`
/// and `-`, so a ticket's name never ends in `.lock` and never names another session's
/// lock file. A name beside the lock that does not have this shape is not a ticket.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket {
    seq: u64,
    id: String,
}

impl Ticket {
    /// The longest `id`.
    const MAX_ID: usize = 64;

    /// The ticket `seq`, `id`; `None` when `id` is empty, too long, or has a character
    /// outside `0-9`, `a-f` and `-`.
    pub fn new(seq: u64, id: impl Into<String>) -> Option<Self> {
        let id = id.into();
        let valid = !id.is_empty()
            && id.len() <= Self::MAX_ID
            && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b'-'));
        valid.then_some(Self { seq, id })
    }

    /// Its place number: the highest a waiter's listing found, plus one.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Its waiter's identity, which orders equal `seq`s.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The ticket's path beside the lock file `lock`.
    pub fn path(&self, lock: &LockPath) -> LockPath {
        let mut name = lock.as_path().as_os_str().to_owned();
        name.push(format!(".q.{}.{}", self.seq, self.id));
        LockPath(PathBuf::from(name))
    }

    /// The ticket a directory entry named `name` is, if it is one of `lock`'s: for
    /// adapters that list a directory.
    pub fn parse(lock: &LockPath, name: &std::ffi::OsStr) -> Option<Self> {
        let lock_name = lock.as_path().file_name()?.as_encoded_bytes();
        Self::after(name.as_encoded_bytes().strip_prefix(lock_name)?)
    }

    /// The ticket whose path is its lock's path followed by `suffix` (`.q.<seq>.<id>`).
    pub(crate) fn after(suffix: &[u8]) -> Option<Self> {
        let rest = std::str::from_utf8(suffix.strip_prefix(b".q.")?).ok()?;
        let (seq, id) = rest.split_once('.')?;
        let canonical = seq == "0" || (!seq.is_empty() && !seq.starts_with('0'));
        if !canonical || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Self::new(seq.parse().ok()?, id)
    }
}

/// The identity of a file: device and inode number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

/// What `fstat` says about an open lock file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// Identity of the inode behind the handle.
    pub id: FileId,
    /// Last modification, in milliseconds since the Unix epoch.
    pub mtime_ms: u64,
}

/// What sits at a lock path when it is not a regular file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A directory.
    Directory,
    /// A symbolic link (never followed).
    Symlink,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A block or character device, or anything else.
    Other,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Directory => "directory",
            Self::Symlink => "symlink",
            Self::Fifo => "fifo",
            Self::Socket => "socket",
            Self::Other => "other",
        })
    }
}

/// The outcome of [`LockFs::publish`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Published<H> {
    /// The lock file now exists, complete and kernel-locked through `handle`.
    Created {
        /// The handle holding the kernel lock.
        handle: H,
        /// The identity of the new inode.
        id: FileId,
    },
    /// Something already exists at the path: contention.
    Exists,
}

/// The outcome of [`LockFs::open`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Opened<H> {
    /// A regular file, now open (not yet kernel-locked).
    File(H),
    /// Nothing at the path.
    Missing,
    /// Something that is not a regular file; it is never touched.
    NotALockFile(FileKind),
}

/// Who a process is: its pid and its start time (field 22 of `/proc/<pid>/stat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProcessId {
    /// The pid.
    pub pid: u32,
    /// Start time in clock ticks after boot, when known.
    pub starttime: Option<u64>,
}

/// Where a process lives: the host, its boot and its pid namespace. A pid means
/// something only there.
///
/// Each part is `None` when it could not be learned. Two places are the same only when
/// every part is known on both sides and equal (see `core::judge::Place`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Location {
    /// The host name (`uname`'s nodename).
    pub host: Option<String>,
    /// The boot id (`/proc/sys/kernel/random/boot_id`): one per boot of a kernel.
    pub boot: Option<String>,
    /// The pid namespace: the inode number of `/proc/self/ns/pid`.
    pub pid_ns: Option<u64>,
}

impl Location {
    /// Nowhere known: every part unknown.
    pub const UNKNOWN: Self = Self { host: None, boot: None, pid_ns: None };

    /// Whether no part is known.
    pub fn is_unknown(&self) -> bool {
        self.host.is_none() && self.boot.is_none() && self.pid_ns.is_none()
    }
}

/// What a read-lease probe ([`LockFs::lease`]) says about who has a file open for writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Lease {
    /// No descriptor anywhere has the file open for writing (the lease was granted, and
    /// given back at once).
    NoWriter,
    /// Some descriptor has the file open for writing (the lease was refused): a writer
    /// is alive, whatever its pid says.
    Writer,
    /// The kernel gives no answer here: leases unsupported by the filesystem (NFS), not
    /// permitted (another user's file without `CAP_LEASE`), or meaningless because the
    /// kernel lock proves nothing either ([`LockFs::kernel_proof`] is false).
    Unavailable,
}

/// What the process table says about a pid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PidState {
    /// No such process (or a zombie).
    Dead,
    /// A process with this pid exists; its start time when it could be read.
    Alive {
        /// Its start time in clock ticks, when readable.
        starttime: Option<u64>,
    },
}

/// The primitive the core was performing when an error occurred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsOp {
    /// [`LockFs::publish`].
    Publish,
    /// [`LockFs::open`].
    Open,
    /// [`LockFs::try_lock`].
    TryLock,
    /// [`LockFs::lock_until`].
    LockUntil,
    /// [`LockFs::meta`].
    Meta,
    /// [`LockFs::path_id`].
    PathId,
    /// [`LockFs::read`].
    Read,
    /// [`LockFs::unlink`].
    Unlink,
    /// [`LockFs::close`].
    Close,
    /// [`LockFs::lease`].
    Lease,
    /// [`LockFs::writers_closed_until`].
    WriterWait,
    /// [`LockFs::tickets`]. The error's path is the lock path.
    Tickets,
    /// Resolving a session path to its canonical lock path, before any primitive runs.
    /// The error's path is then the session path.
    Resolve,
    /// Opening the session file for appending, once the lock was checked to be still
    /// held. The error's path is then the session path.
    OpenSession,
}

impl fmt::Display for FsOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Publish => "publish",
            Self::Open => "open",
            Self::TryLock => "try-lock",
            Self::LockUntil => "wait for kernel lock",
            Self::Meta => "stat",
            Self::PathId => "stat path",
            Self::Read => "read",
            Self::Unlink => "unlink",
            Self::Close => "close",
            Self::Lease => "probe read lease of",
            Self::WriterWait => "wait for the writers to close",
            Self::Tickets => "list the queue of",
            Self::Resolve => "resolve lock path for",
            Self::OpenSession => "open for appending",
        };
        f.write_str(name)
    }
}

/// An I/O failure, naming the primitive and the path.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {source}")]
#[non_exhaustive]
pub struct FsError {
    /// What was being done.
    pub op: FsOp,
    /// The lock path it was done to.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

impl FsError {
    /// Builds an error for `op` on `path`.
    pub fn new(op: FsOp, path: &LockPath, source: io::Error) -> Self {
        Self { op, path: path.as_path().to_owned(), source }
    }
}

/// Result of a filesystem primitive.
pub type FsResult<T> = Result<T, FsError>;

/// The storage and process primitives the core is written against.
///
/// A `Handle` is an open file description. Dropping it closes it, which releases any
/// kernel lock it holds, exactly as closing the last descriptor of an open file
/// description does on Linux. Kernel locks are per handle, not per process: two handles
/// in one process conflict.
pub trait LockFs: Send + Sync + 'static {
    /// An open lock file.
    type Handle: Send + Sync + 'static;

    /// Publishes a complete lock file holding `payload` at `path`, atomically.
    ///
    /// Atomic: either the path did not exist and now names a new inode that already holds
    /// all of `payload` and whose kernel lock is already held by the returned handle, or the
    /// path existed and nothing changed ([`Published::Exists`]). No observer can ever see an
    /// empty, partial or unlocked file at `path`. (Linux: `O_TMPFILE`, `flock`, `write`,
    /// `linkat`.)
    fn publish(
        &self,
        path: &LockPath,
        payload: &[u8],
    ) -> impl Future<Output = FsResult<Published<Self::Handle>>> + Send;

    /// Opens whatever `path` names, without following symlinks.
    ///
    /// Atomic: the handle refers to the inode the path named at one instant. Nothing ties
    /// the handle to the path afterwards: the path may be unlinked or replaced at any time.
    fn open(&self, path: &LockPath) -> impl Future<Output = FsResult<Opened<Self::Handle>>> + Send;

    /// Tries to take the exclusive kernel lock of the handle's inode, without waiting.
    ///
    /// Atomic. `Ok(true)`: this handle now holds it, so no other handle does, so whoever
    /// published the inode has closed it or died. `Ok(false)`: another handle holds it.
    fn try_lock(&self, handle: &Self::Handle) -> impl Future<Output = FsResult<bool>> + Send;

    /// Whether this handle's kernel lock proves anything. `false` where `flock` is
    /// unavailable or only local (NFS and other network filesystems): there a "free"
    /// answer from [`LockFs::try_lock`] does not mean the holder is gone, and the core
    /// judges the file by heuristics instead. Default: `true`.
    fn kernel_proof(&self, handle: &Self::Handle) -> bool {
        let _ = handle;
        true
    }

    /// Waits until this handle holds the inode's kernel lock, or until `deadline`.
    ///
    /// `Ok(true)`: acquired, as with [`LockFs::try_lock`]. `Ok(false)`: the deadline passed.
    /// The wait is done by the kernel (or, in the model, by the logical clock), never by
    /// polling in the core. Cancel-safe.
    fn lock_until(
        &self,
        handle: &Self::Handle,
        deadline: Moment,
    ) -> impl Future<Output = FsResult<bool>> + Send;

    /// The identity and mtime of the handle's inode (`fstat`).
    fn meta(&self, handle: &Self::Handle) -> impl Future<Output = FsResult<FileMeta>> + Send;

    /// The identity of what `path` names now, without following symlinks (`lstat`).
    fn path_id(&self, path: &LockPath) -> impl Future<Output = FsResult<Option<FileId>>> + Send;

    /// Reads at most `limit` bytes of the handle's content from the start.
    fn read(
        &self,
        handle: &Self::Handle,
        limit: usize,
    ) -> impl Future<Output = FsResult<Vec<u8>>> + Send;

    /// Unlinks `path` on the strength of holding the kernel lock through `held`.
    ///
    /// Atomic. The caller must hold the kernel lock through `held` and must have checked that
    /// `path` names `held`'s inode; the model treats a call that breaks either rule as an
    /// INV-2 violation. The real adapter trusts the caller.
    fn unlink(
        &self,
        path: &LockPath,
        held: &Self::Handle,
    ) -> impl Future<Output = FsResult<()>> + Send;

    /// Compare-and-unlink: looks at what `path` names and, if it is the file `id`, unlinks
    /// it on the strength of holding the kernel lock through `held`. Answers what `path`
    /// named at the look, as [`LockFs::path_id`] does: `Some(id)` exactly when it was
    /// unlinked, anything else when nothing changed.
    ///
    /// The caller must hold the kernel lock through `held`, and `id` must be the identity
    /// of `held`'s file. Then no other participant can unlink or replace the path between
    /// the look and the unlink, so the default, exactly [`LockFs::path_id`] then
    /// [`LockFs::unlink`] when it names `id`, and an adapter doing both as one step are
    /// indistinguishable to every other participant (`spec/protocol.md`, section 3). An
    /// adapter that has compare-and-delete in one round trip overrides it; the model and
    /// the real adapter keep the default, two steps.
    ///
    /// When `path` did not name `id` at a look the adapter took while `held` already held
    /// the kernel lock, that look may be the answer, and nothing is unlinked: only a
    /// holder of that kernel lock unlinks the file, and an identity is never published
    /// twice, so `path` cannot name `id` again.
    fn unlink_if(
        &self,
        path: &LockPath,
        held: &Self::Handle,
        id: FileId,
    ) -> impl Future<Output = FsResult<Option<FileId>>> + Send {
        async move {
            let now = self.path_id(path).await?;
            if now == Some(id) {
                self.unlink(path, held).await?;
            }
            Ok(now)
        }
    }

    /// The tickets beside the lock file `lock` (its queue, `spec/protocol.md` section 11),
    /// in queue order, each with the identity of the file its name named.
    ///
    /// One listing: a ticket named throughout the call is listed, one named or removed
    /// during it may or may not be, and nothing else beside `lock` is (Linux:
    /// `getdents` of the lock's directory, then `lstat` of each ticket's name, dropping
    /// one that went away in between). A ticket is created with [`LockFs::publish`] at
    /// [`Ticket::path`], so it is complete and kernel-locked from the moment it is named,
    /// and it is removed with [`LockFs::unlink_if`], as the lock file is.
    fn tickets(
        &self,
        lock: &LockPath,
    ) -> impl Future<Output = FsResult<Vec<(Ticket, FileId)>>> + Send;

    /// Closes a handle, releasing its kernel lock. The handle is gone even when this fails.
    fn close(&self, handle: Self::Handle) -> impl Future<Output = FsResult<()>> + Send;

    /// Whether any descriptor, of any process, has the handle's file open for writing.
    ///
    /// Atomic: one look at the inode's writers. A writer is a live holder of a foreign
    /// lock file (the original lock keeps its file open for writing while it holds), in
    /// any pid namespace and under any uid. (Linux: `fcntl(F_SETLEASE, F_RDLCK)` on the
    /// read-only handle, granted exactly when no writer exists, and given back at once
    /// with `F_UNLCK`.) Default: [`Lease::Unavailable`], which sends the judge to the pid
    /// heuristics.
    fn lease(&self, handle: &Self::Handle) -> impl Future<Output = FsResult<Lease>> + Send {
        let _ = handle;
        std::future::ready(Ok(Lease::Unavailable))
    }

    /// Waits until no descriptor has the handle's file open for writing, or until
    /// `deadline`. Called only after [`LockFs::lease`] answered [`Lease::Writer`].
    ///
    /// `Ok(true)`: the writers closed (a lease probe would now answer otherwise).
    /// `Ok(false)`: the deadline passed. The wait is done by the kernel (Linux: inotify's
    /// `IN_CLOSE_WRITE` on the inode, then a lease probe), never by polling in the core.
    /// Cancel-safe. Default: `Ok(true)` at once, for adapters whose lease is never
    /// [`Lease::Writer`].
    fn writers_closed_until(
        &self,
        handle: &Self::Handle,
        deadline: Moment,
    ) -> impl Future<Output = FsResult<bool>> + Send {
        let _ = (handle, deadline);
        std::future::ready(Ok(true))
    }

    /// This process's own identity.
    fn process(&self) -> ProcessId;

    /// Where this process lives (host, boot, pid namespace), recorded in its payloads so
    /// that others judge its pid only where that pid means something. Computed once.
    /// Default: [`Location::UNKNOWN`], so payloads carry no location and others judge
    /// them as the original lock's.
    fn location(&self) -> &Location {
        static UNKNOWN: Location = Location::UNKNOWN;
        &UNKNOWN
    }

    /// Looks `pid` up in the process table.
    fn pid_state(&self, pid: u32) -> impl Future<Output = PidState> + Send;
}

/// A [`LockFs`] that can name the lock file of a session file: what a filesystem needs
/// for a [`SessionLock`](crate::SessionLock) over it.
pub trait SessionFs: LockFs {
    /// The canonical lock path of `session`: the realpath of its directory plus its file
    /// name plus `.lock`, the original lock's rule. Two session paths through aliased
    /// *directories* (a symlinked directory, `.` and `..`) give equal lock paths (H18);
    /// the file's name itself is never resolved, so a symlinked or hard-linked session
    /// file has a lock of its own, apart from its target's.
    ///
    /// # Errors
    /// Any I/O error met while resolving (or creating) the session's directory.
    fn lock_path_for(&self, session: &std::path::Path) -> io::Result<LockPath>;
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::{LockPath, Ticket};

    fn lock() -> LockPath {
        LockPath::from_canonical("/run/s/chat.jsonl.lock")
    }

    #[test]
    fn a_ticket_is_named_beside_its_lock_and_read_back() {
        let ticket = Ticket::new(12, "5f-a0").unwrap();
        let path = ticket.path(&lock());
        assert_eq!(path.as_path().to_str(), Some("/run/s/chat.jsonl.lock.q.12.5f-a0"));
        let name = path.as_path().file_name().unwrap();
        assert_eq!(Ticket::parse(&lock(), name), Some(ticket));
    }

    #[test]
    fn only_names_of_the_ticket_shape_are_tickets() {
        let not = [
            "chat.jsonl.lock",                           // the lock itself
            "chat.jsonl.lock.q.1",                       // no id
            "chat.jsonl.lock.q.1.",                      // an empty id
            "chat.jsonl.lock.q..ab",                     // no seq
            "chat.jsonl.lock.q.01.ab",                   // a leading zero: two names for one place
            "chat.jsonl.lock.q.1.AB",                    // upper case
            "chat.jsonl.lock.q.1.a.b",                   // a dot in the id
            "chat.jsonl.lock.q.-1.ab",                   // a sign
            "chat.jsonl.lock.q.1.lock",                  // an id outside 0-9, a-f and -
            "other.lock.q.1.ab",                         // another lock's
            "chat.jsonl.lock.q.99999999999999999999.ab", // past u64
        ];
        for name in not {
            assert_eq!(Ticket::parse(&lock(), OsStr::new(name)), None, "{name}");
        }
        let long = format!("chat.jsonl.lock.q.1.{}", "a".repeat(65));
        assert_eq!(Ticket::parse(&lock(), OsStr::new(&long)), None, "an id too long");
        assert!(Ticket::parse(&lock(), OsStr::new("chat.jsonl.lock.q.0.a")).is_some());
        assert_eq!(Ticket::new(1, ""), None);
    }

    #[test]
    fn the_queue_is_ordered_by_number_then_id() {
        let t = |seq, id: &str| Ticket::new(seq, id).unwrap();
        let mut queue = vec![t(10, "0"), t(9, "ff"), t(9, "0a"), t(2, "f")];
        queue.sort();
        assert_eq!(queue, [t(2, "f"), t(9, "0a"), t(9, "ff"), t(10, "0")]);
    }
}
