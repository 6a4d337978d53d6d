//! Conformance of the PostgreSQL adapter: random sequences of `LockFs` primitives on a
//! few handles and six keys (two locks, and tickets beside them, see `NAMES`) run on
//! `PgFs` (against a throwaway server) and on
//! `ModelFs` side by side; every answer must match, with generations and model inode
//! numbers compared up to a consistent renaming. So what the checkers prove of the core
//! over the model holds for the core over PostgreSQL.
//!
//! One difference is by design: `unlink` is compare-and-delete over PostgreSQL and
//! refuses a handle that does not hold the lock, where Linux unlinks whatever the path
//! names. So only the unlinks the protocol makes are run (the handle holds the lock and
//! the path names its file; `unlink_if` compares the path itself, so it runs whenever
//! the handle holds the lock), every case checks that the model recorded no INV-2
//! violation, and a separate test shows the adapter refusing the others.
#![cfg(all(not(any(sessionlock_loom, sessionlock_shuttle)), feature = "postgres"))]

#[path = "../../tests/pg_server/mod.rs"]
mod pg_server;

use std::collections::HashMap;
use std::io;
use std::sync::OnceLock;

use proptest::prelude::*;
use sessionlock::api::block_on;
use sessionlock::fs::{FileId, FsResult, LockFs, LockPath, Opened, Published, Ticket};
use sessionlock::pg::PgFs;
use sessionlock_model::{Invariant, ModelFs, World};

/// The keys in play, as suffixes of two lock keys `a` and `b`: the two locks, two tickets
/// of `a` (queue order is not name order), a key that only looks like a ticket (a leading
/// zero), which no listing may report, and a ticket of `b`.
const NAMES: [(usize, &str); 6] =
    [(0, ""), (1, ""), (0, ".q.10.0a"), (0, ".q.9.ff-1"), (0, ".q.09.1"), (1, ".q.1.1")];

/// One primitive; indices pick a key (of [`NAMES`]) or an open handle (modulo how many).
#[derive(Clone, Copy, Debug)]
enum Prim {
    Publish(usize),
    Open(usize),
    TryLock(usize),
    Meta(usize),
    PathId(usize),
    Read(usize),
    Unlink(usize, usize),
    UnlinkIf(usize, usize),
    Close(usize),
    /// `tickets` of one of the two locks.
    Tickets(usize),
}

fn prim() -> impl Strategy<Value = Prim> {
    let i = 0..8usize;
    prop_oneof![
        (0..NAMES.len()).prop_map(Prim::Publish),
        (0..NAMES.len()).prop_map(Prim::Open),
        i.clone().prop_map(Prim::TryLock),
        i.clone().prop_map(Prim::Meta),
        (0..NAMES.len()).prop_map(Prim::PathId),
        (0..2usize).prop_map(Prim::Tickets),
        i.clone().prop_map(Prim::Read),
        ((0..NAMES.len()), i.clone()).prop_map(|(p, h)| Prim::Unlink(p, h)),
        ((0..NAMES.len()), i.clone()).prop_map(|(p, h)| Prim::UnlinkIf(p, h)),
        i.prop_map(Prim::Close),
    ]
}

/// The one `PgFs` of this test binary, over its throwaway server.
fn pg_fs() -> Option<&'static PgFs> {
    static FS: OnceLock<Option<PgFs>> = OnceLock::new();
    FS.get_or_init(|| {
        let pg = pg_server::pg()?;
        Some(PgFs::connect_blocking(&pg.url_named("conformance")).expect("connect"))
    })
    .as_ref()
}

/// Both worlds, their open handles side by side (with whether each holds its lock), and
/// the identity renaming seen so far.
struct Pair {
    fs: &'static PgFs,
    pg_paths: Vec<LockPath>,
    model_paths: Vec<LockPath>,
    world: std::sync::Arc<World>,
    model: ModelFs,
    handles: Vec<(<PgFs as LockFs>::Handle, <ModelFs as LockFs>::Handle, bool)>,
    ids: HashMap<FileId, FileId>,
}

/// An outcome, with identities already mapped to the PostgreSQL side's.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Unit,
    Bool(bool),
    Created,
    Exists,
    File,
    Missing,
    Id(Option<FileId>),
    Bytes(Vec<u8>),
    Tickets(Vec<(Ticket, FileId)>),
    Err(io::ErrorKind),
    Skipped,
}

impl Pair {
    fn new(fs: &'static PgFs) -> Self {
        let keys = [pg_server::key("conformance-a"), pg_server::key("conformance-b")];
        let key = |&(lock, suffix): &(usize, &str)| {
            LockPath::from_canonical(format!("{}{suffix}", keys[lock]))
        };
        let fake = |&(lock, suffix): &(usize, &str)| {
            LockPath::from_canonical(format!("/model/{}.lock{suffix}", ["a", "b"][lock]))
        };
        let world = World::new();
        // The model records, rather than panics at, what one process does to itself
        // here (two handles on one lock); INV-2 is checked after each case.
        world.set_strict(false);
        Self {
            fs,
            pg_paths: NAMES.iter().map(key).collect(),
            model_paths: NAMES.iter().map(fake).collect(),
            model: ModelFs::spawn(&world, 100),
            world,
            handles: Vec::new(),
            ids: HashMap::new(),
        }
    }

    /// Maps a model identity to the generation seen with it, 1:1. Neither side ever
    /// reuses an identity, so nothing is forgotten.
    fn same(&mut self, pg: FileId, model: FileId) -> bool {
        let known = self.ids.iter().find(|(_, m)| **m == model).map(|(p, _)| *p);
        match (self.ids.get(&pg), known) {
            (None, None) => {
                self.ids.insert(pg, model);
                true
            }
            (Some(m), Some(p)) => *m == model && p == pg,
            _ => false,
        }
    }

    /// Whether the protocol could make this unlink: the model handle holds its lock
    /// and the model path names its file.
    /// The INV-2 violations the model recorded: none, if only protocol unlinks ran.
    fn removals_of_live_files(&self) -> Vec<String> {
        let violations = self.world.violations().into_iter();
        violations.filter(|(inv, _)| *inv == Invariant::NoLiveRemoval).map(|(_, d)| d).collect()
    }

    fn legal_unlink(&self, path: &LockPath, h: usize) -> bool {
        let (_, mh, locked) = &self.handles[h];
        let here = block_on(self.model.path_id(path)).ok().flatten();
        let mine = block_on(self.model.meta(mh)).ok().map(|m| m.id);
        *locked && here.is_some() && here == mine
    }

    fn run(&mut self, p: Prim) -> (Answer, Answer) {
        let fs = self.fs;
        let n = self.handles.len();
        let (pp, mp) = match p {
            Prim::Publish(i)
            | Prim::Open(i)
            | Prim::PathId(i)
            | Prim::Unlink(i, _)
            | Prim::UnlinkIf(i, _)
            | Prim::Tickets(i) => (self.pg_paths[i].clone(), self.model_paths[i].clone()),
            _ => (self.pg_paths[0].clone(), self.model_paths[0].clone()),
        };
        let handle = |h: usize| (n > 0).then(|| h % n);
        match p {
            Prim::Publish(_) => {
                let bytes = br#"{"pid":100,"sessionlock":{"flock":true}}"#;
                let r = block_on(fs.publish(&pp, bytes));
                let m = block_on(self.model.publish(&mp, bytes));
                match (r, m) {
                    (
                        Ok(Published::Created { handle: ph, id: pi }),
                        Ok(Published::Created { handle: mh, id: mi }),
                    ) => {
                        let same = self.same(pi, mi);
                        self.handles.push((ph, mh, true));
                        (Answer::Created, if same { Answer::Created } else { Answer::Id(Some(mi)) })
                    }
                    (r, m) => (published(r), published(m)),
                }
            }
            Prim::Open(_) => match (block_on(fs.open(&pp)), block_on(self.model.open(&mp))) {
                (Ok(Opened::File(ph)), Ok(Opened::File(mh))) => {
                    self.handles.push((ph, mh, false));
                    (Answer::File, Answer::File)
                }
                (r, m) => (opened(r), opened(m)),
            },
            Prim::Tickets(_) => {
                let (r, m) = (block_on(fs.tickets(&pp)), block_on(self.model.tickets(&mp)));
                match (r, m) {
                    (Ok(r), Ok(m)) => {
                        let mapped = r
                            .iter()
                            .zip(&m)
                            .map(|((_, ri), (mt, mi))| {
                                (mt.clone(), if self.same(*ri, *mi) { *ri } else { *mi })
                            })
                            .chain(m.iter().skip(r.len()).cloned())
                            .collect();
                        (Answer::Tickets(r), Answer::Tickets(mapped))
                    }
                    (r, m) => (tickets(r), tickets(m)),
                }
            }
            Prim::PathId(_) => {
                let (r, m) = (block_on(fs.path_id(&pp)), block_on(self.model.path_id(&mp)));
                match (r, m) {
                    (Ok(Some(r)), Ok(Some(m))) => {
                        let mapped = if self.same(r, m) { Some(r) } else { Some(m) };
                        (Answer::Id(Some(r)), Answer::Id(mapped))
                    }
                    (r, m) => (id(r), id(m)),
                }
            }
            Prim::Unlink(_, h) => {
                let Some(h) = handle(h) else { return (Answer::Skipped, Answer::Skipped) };
                if !self.legal_unlink(&mp, h) {
                    return (Answer::Skipped, Answer::Skipped);
                }
                let (ph, mh, _) = &self.handles[h];
                (unit(block_on(fs.unlink(&pp, ph))), unit(block_on(self.model.unlink(&mp, mh))))
            }
            Prim::UnlinkIf(_, h) => {
                let Some(h) = handle(h) else { return (Answer::Skipped, Answer::Skipped) };
                if !self.handles[h].2 {
                    return (Answer::Skipped, Answer::Skipped);
                }
                // PostgreSQL's one statement against the model's default (`path_id`, then
                // `unlink` when it names the file): same answer, same effect, which the
                // next `PathId` of either key compares.
                let (ph, mh, _) = &self.handles[h];
                let mid = block_on(self.model.meta(mh)).expect("meta").id;
                let pid = block_on(fs.meta(ph)).expect("meta").id;
                let r = block_on(fs.unlink_if(&pp, ph, pid));
                let m = block_on(self.model.unlink_if(&mp, mh, mid));
                match (r, m) {
                    (Ok(Some(r)), Ok(Some(m))) => {
                        let mapped = if self.same(r, m) { Some(r) } else { Some(m) };
                        (Answer::Id(Some(r)), Answer::Id(mapped))
                    }
                    (r, m) => (id(r), id(m)),
                }
            }
            Prim::TryLock(h) | Prim::Meta(h) | Prim::Read(h) | Prim::Close(h) => {
                let Some(h) = handle(h) else { return (Answer::Skipped, Answer::Skipped) };
                self.on_handle(p, h)
            }
        }
    }

    fn on_handle(&mut self, p: Prim, h: usize) -> (Answer, Answer) {
        let fs = self.fs;
        match p {
            Prim::TryLock(_) => {
                let (ph, mh, _) = &self.handles[h];
                let r = boolean(block_on(fs.try_lock(ph)));
                let m = boolean(block_on(self.model.try_lock(mh)));
                if m == Answer::Bool(true) {
                    self.handles[h].2 = true;
                }
                (r, m)
            }
            Prim::Meta(_) => {
                let (ph, mh, _) = &self.handles[h];
                let (r, m) = (block_on(fs.meta(ph)), block_on(self.model.meta(mh)));
                match (r, m) {
                    (Ok(r), Ok(m)) => {
                        let mapped = if self.same(r.id, m.id) { r.id } else { m.id };
                        (Answer::Id(Some(r.id)), Answer::Id(Some(mapped)))
                    }
                    (r, m) => (id(r.map(|x| Some(x.id))), id(m.map(|x| Some(x.id)))),
                }
            }
            Prim::Read(_) => {
                let (ph, mh, _) = &self.handles[h];
                (bytes(block_on(fs.read(ph, 4096))), bytes(block_on(self.model.read(mh, 4096))))
            }
            _ => {
                let (ph, mh, _) = self.handles.remove(h);
                (unit(block_on(fs.close(ph))), unit(block_on(self.model.close(mh))))
            }
        }
    }
}

fn published<H>(r: FsResult<Published<H>>) -> Answer {
    match r {
        Ok(Published::Created { .. }) => Answer::Created,
        Ok(Published::Exists) => Answer::Exists,
        Ok(_) => panic!("an outcome of publish this test does not know"),
        Err(e) => Answer::Err(e.source.kind()),
    }
}

fn opened<H>(r: FsResult<Opened<H>>) -> Answer {
    match r {
        Ok(Opened::File(_)) => Answer::File,
        Ok(Opened::Missing) => Answer::Missing,
        Ok(Opened::NotALockFile(_)) => Answer::Skipped,
        Ok(_) => panic!("an outcome of open this test does not know"),
        Err(e) => Answer::Err(e.source.kind()),
    }
}

fn id(r: FsResult<Option<FileId>>) -> Answer {
    r.map_or_else(|e| Answer::Err(e.source.kind()), Answer::Id)
}

fn unit(r: FsResult<()>) -> Answer {
    r.map_or_else(|e| Answer::Err(e.source.kind()), |()| Answer::Unit)
}

fn boolean(r: FsResult<bool>) -> Answer {
    r.map_or_else(|e| Answer::Err(e.source.kind()), Answer::Bool)
}

fn tickets(r: FsResult<Vec<(Ticket, FileId)>>) -> Answer {
    r.map_or_else(|e| Answer::Err(e.source.kind()), Answer::Tickets)
}

fn bytes(r: FsResult<Vec<u8>>) -> Answer {
    r.map_or_else(|e| Answer::Err(e.source.kind()), Answer::Bytes)
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// The model answers every primitive as PostgreSQL does: atomic publication of a
    /// locked row, per-handle (per-session) advisory locks, generations, content,
    /// compare-and-delete (`unlink`, and `unlink_if` in one statement against the model's
/// default of two steps), close, and which tickets stand beside a lock, in queue order.
    /// Checks: INV-1, INV-2, INV-4
    #[test]
    fn the_model_answers_as_postgres_does(prims in proptest::collection::vec(prim(), 1..40)) {
        let Some(fs) = pg_fs() else { return Ok(()) };
        let mut pair = Pair::new(fs);
        for (step, p) in prims.iter().enumerate() {
            let (pg, model) = pair.run(*p);
            prop_assert_eq!(&pg, &model, "step {} {:?} of {:?}", step, p, prims);
        }
        prop_assert_eq!(pair.removals_of_live_files(), Vec::<String>::new());
    }
}

/// The comparison has teeth and reaches what matters: a lock taken twice through two
/// handles conflicts on both sides, a closed holder's lock is free at once for another
/// handle, a held row is deleted, by `unlink` and by `unlink_if` (which leaves another
/// key alone); and an identity renaming that is not 1:1 is refused.
/// Checks: INV-1, INV-4
#[test]
fn conformance_checks_can_fail() {
    let Some(fs) = pg_fs() else { return };
    let mut pair = Pair::new(fs);
    assert_eq!(pair.run(Prim::Publish(0)), (Answer::Created, Answer::Created));
    assert_eq!(pair.run(Prim::Open(0)), (Answer::File, Answer::File));
    assert_eq!(pair.run(Prim::TryLock(1)), (Answer::Bool(false), Answer::Bool(false)));
    assert_eq!(pair.run(Prim::Close(0)), (Answer::Unit, Answer::Unit));
    assert_eq!(pair.run(Prim::TryLock(0)), (Answer::Bool(true), Answer::Bool(true)));
    assert_eq!(pair.run(Prim::Unlink(0, 0)), (Answer::Unit, Answer::Unit));
    assert_eq!(pair.run(Prim::PathId(0)), (Answer::Id(None), Answer::Id(None)));
    assert_eq!(pair.run(Prim::Publish(1)), (Answer::Created, Answer::Created));
    assert_eq!(pair.run(Prim::UnlinkIf(0, 1)), (Answer::Id(None), Answer::Id(None)));
    let (pg, model) = pair.run(Prim::UnlinkIf(1, 1));
    assert!(matches!(pg, Answer::Id(Some(_))) && pg == model, "{pg:?} / {model:?}");
    assert_eq!(pair.run(Prim::PathId(1)), (Answer::Id(None), Answer::Id(None)));
    let live = block_on(pair.model.meta(&pair.handles[0].1)).expect("meta").id;
    let stranger = FileId { dev: 0, ino: 0 };
    assert!(!pair.same(stranger, live), "two generations cannot map to one model inode");
    assert!(pair.removals_of_live_files().is_empty());
}

/// The unlinks the comparison skips are refused by the adapter: a handle that does not
/// hold the lock cannot delete, and one holding another generation deletes nothing (and
/// `unlink_if` refuses an identity that is not its handle's).
/// Checks: INV-2
#[test]
fn unlinks_outside_the_protocol_are_refused() {
    let Some(fs) = pg_fs() else { return };
    let a = LockPath::from_canonical(pg_server::key("refused-a"));
    let Published::Created { handle: held, .. } = block_on(fs.publish(&a, b"{}")).unwrap() else {
        panic!("fresh key");
    };
    let Opened::File(unlocked) = block_on(fs.open(&a)).unwrap() else { panic!("published") };
    let err = block_on(fs.unlink(&a, &unlocked)).unwrap_err();
    assert_eq!(err.source.kind(), io::ErrorKind::PermissionDenied);
    let a_id = block_on(fs.meta(&unlocked)).unwrap().id;
    let err = block_on(fs.unlink_if(&a, &unlocked, a_id)).unwrap_err();
    assert_eq!(err.source.kind(), io::ErrorKind::PermissionDenied);
    let b = LockPath::from_canonical(pg_server::key("refused-b"));
    let Published::Created { handle: other, id } = block_on(fs.publish(&b, b"{}")).unwrap() else {
        panic!("fresh key");
    };
    let err = block_on(fs.unlink(&b, &held)).unwrap_err();
    assert_eq!(err.source.kind(), io::ErrorKind::NotFound);
    let err = block_on(fs.unlink_if(&b, &held, id)).unwrap_err();
    assert_eq!(err.source.kind(), io::ErrorKind::InvalidInput, "another generation's id");
    assert_eq!(block_on(fs.unlink_if(&b, &held, a_id)).unwrap(), Some(id), "names another");
    assert_eq!(block_on(fs.path_id(&b)).unwrap(), Some(id), "the other row stays");
    for h in [held, unlocked, other] {
        block_on(fs.close(h)).unwrap();
    }
}

/// A listing reports exactly the tickets of its own lock, in queue order (by number, then
/// id), with the generations `path_id` reports; not the lock row, not a key with a leading
/// zero, not another lock's ticket; and a deleted ticket is no longer listed.
#[test]
fn a_listing_is_the_queue_in_order() {
    let Some(fs) = pg_fs() else { return };
    let mut pair = Pair::new(fs);
    for name in 0..NAMES.len() {
        assert_eq!(pair.run(Prim::Publish(name)), (Answer::Created, Answer::Created));
    }
    let paths = pair.pg_paths.clone();
    let id = |name: usize| block_on(fs.path_id(&paths[name])).unwrap().unwrap();
    let (pg, model) = pair.run(Prim::Tickets(0));
    assert_eq!(pg, model);
    let queue =
        vec![(Ticket::new(9, "ff-1").unwrap(), id(3)), (Ticket::new(10, "0a").unwrap(), id(2))];
    assert_eq!(pg, Answer::Tickets(queue));
    assert_eq!(Ticket::new(9, "ff-1").unwrap().path(&paths[0]), paths[3]);
    let (pg, model) = pair.run(Prim::Tickets(1));
    assert_eq!(pg, model);
    assert_eq!(pg, Answer::Tickets(vec![(Ticket::new(1, "1").unwrap(), id(5))]));
    assert_eq!(pair.run(Prim::Unlink(3, 3)), (Answer::Unit, Answer::Unit));
    let (pg, model) = pair.run(Prim::Tickets(0));
    assert_eq!(pg, model);
    assert_eq!(pg, Answer::Tickets(vec![(Ticket::new(10, "0a").unwrap(), id(2))]));
    assert!(pair.removals_of_live_files().is_empty());
}
