//! Conformance: the real adapter and the model agree. Random sequences of `LockFs`
//! primitives on a few handles and five paths (two lock files, two tickets of the first
//! and a name beside it that is not a ticket) run on `RealFs` (in a temporary
//! directory) and on `ModelFs` side by side, in one process; every answer must match,
//! with inode numbers compared up to a consistent renaming. What the model promises is
//! then what Linux does, so what the checkers prove holds for the real adapter.
#![cfg(not(any(sessionlock_loom, sessionlock_shuttle)))]

use std::collections::HashMap;
use std::io;

use proptest::prelude::*;
use sessionlock::api::block_on;
use sessionlock::fs::Ticket;
use sessionlock::fs::{FileId, FsResult, Lease, LockFs, LockPath, Moment, Opened, Published};
use sessionlock::real::RealFs;
use sessionlock_model::{ModelFs, World};

/// The names in play: two lock files, two tickets of the first (queue order is not
/// name order: `10` sorts after `9` by number, before it by name), and a name that only
/// looks like one (a leading zero), which no listing may report.
const NAMES: [&str; 6] =
    ["a.lock", "b.lock", "a.lock.q.10.0a", "a.lock.q.9.ff-1", "a.lock.q.09.1", "b.lock.q.1.1"];

/// One primitive; indices pick a path (of [`NAMES`]) or an open handle (modulo how many).
#[derive(Clone, Copy, Debug)]
enum Prim {
    Publish(usize),
    Open(usize),
    TryLock(usize),
    Meta(usize),
    PathId(usize),
    Read(usize),
    Unlink(usize, usize),
    Close(usize),
    Lease(usize),
    /// `writers_closed_until` with a deadline already past: one look.
    WriterWait(usize),
    /// `tickets` of one of the two lock files.
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
        i.clone().prop_map(Prim::Close),
        i.clone().prop_map(Prim::Lease),
        i.prop_map(Prim::WriterWait),
    ]
}

/// Both worlds, their open handles side by side, and the inode renaming seen so far.
struct Pair {
    _dir: tempfile::TempDir,
    real_paths: Vec<LockPath>,
    model_paths: Vec<LockPath>,
    model: ModelFs,
    handles: Vec<(<RealFs as LockFs>::Handle, <ModelFs as LockFs>::Handle)>,
    ids: HashMap<FileId, FileId>,
}

/// An outcome, with inode numbers already mapped to the real side's.
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
    Lease(Lease),
    Tickets(Vec<(Ticket, FileId)>),
    Err(io::ErrorKind),
    Skipped,
}

impl Pair {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let real = |n| LockPath::from_canonical(dir.path().join(n));
        let fake = |n| LockPath::from_canonical(format!("/model/{n}"));
        let world = World::new();
        world.set_strict(false); // the real side unlinks unchecked; so must the model
        Self {
            real_paths: NAMES.iter().map(real).collect(),
            model_paths: NAMES.iter().map(fake).collect(),
            model: ModelFs::spawn(&world, 100),
            _dir: dir,
            handles: Vec::new(),
            ids: HashMap::new(),
        }
    }

    /// Maps a model inode to the real one seen with it, checking the renaming stays 1:1
    /// among live inodes. (Linux reuses the number of an inode once it is freed, with no
    /// name and no open handle; the model never does, so freed inodes are forgotten.)
    fn same(&mut self, real: FileId, model: FileId) -> bool {
        self.forget_freed();
        let known = self.ids.iter().find(|(_, m)| **m == model).map(|(r, _)| *r);
        match (self.ids.get(&real), known) {
            (None, None) => {
                self.ids.insert(real, model);
                true
            }
            (Some(m), Some(r)) => *m == model && r == real,
            _ => false,
        }
    }

    fn forget_freed(&mut self) {
        let mut live: Vec<FileId> = self
            .handles
            .iter()
            .filter_map(|(_, m)| block_on(self.model.meta(m)).ok().map(|meta| meta.id))
            .collect();
        for path in &self.model_paths {
            live.extend(block_on(self.model.path_id(path)).ok().flatten());
        }
        self.ids.retain(|_, m| live.contains(m));
    }

    fn run(&mut self, p: Prim) -> (Answer, Answer) {
        let fs = RealFs;
        let n = self.handles.len();
        let (rp, mp) = match p {
            Prim::Publish(i)
            | Prim::Open(i)
            | Prim::PathId(i)
            | Prim::Unlink(i, _)
            | Prim::Tickets(i) => (self.real_paths[i].clone(), self.model_paths[i].clone()),
            _ => (self.real_paths[0].clone(), self.model_paths[0].clone()),
        };
        let handle = |h: usize| (n > 0).then(|| h % n);
        match p {
            Prim::Publish(_) => {
                let bytes = br#"{"pid":100,"sessionlock":{"flock":true}}"#;
                let r = block_on(fs.publish(&rp, bytes));
                let m = block_on(self.model.publish(&mp, bytes));
                match (r, m) {
                    (
                        Ok(Published::Created { handle: rh, id: ri }),
                        Ok(Published::Created { handle: mh, id: mi }),
                    ) => {
                        let same = self.same(ri, mi);
                        self.handles.push((rh, mh));
                        (Answer::Created, if same { Answer::Created } else { Answer::Id(Some(mi)) })
                    }
                    (r, m) => (published(r), published(m)),
                }
            }
            Prim::Open(_) => match (block_on(fs.open(&rp)), block_on(self.model.open(&mp))) {
                (Ok(Opened::File(rh)), Ok(Opened::File(mh))) => {
                    self.handles.push((rh, mh));
                    (Answer::File, Answer::File)
                }
                (r, m) => (opened(r), opened(m)),
            },
            Prim::Tickets(_) => {
                let (r, m) = (block_on(fs.tickets(&rp)), block_on(self.model.tickets(&mp)));
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
                let (r, m) = (block_on(fs.path_id(&rp)), block_on(self.model.path_id(&mp)));
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
                let (rh, mh) = &self.handles[h];
                (unit(block_on(fs.unlink(&rp, rh))), unit(block_on(self.model.unlink(&mp, mh))))
            }
            Prim::TryLock(h)
            | Prim::Meta(h)
            | Prim::Read(h)
            | Prim::Close(h)
            | Prim::Lease(h)
            | Prim::WriterWait(h) => {
                let Some(h) = handle(h) else { return (Answer::Skipped, Answer::Skipped) };
                self.on_handle(p, h)
            }
        }
    }

    fn on_handle(&mut self, p: Prim, h: usize) -> (Answer, Answer) {
        let fs = RealFs;
        match p {
            Prim::TryLock(_) => {
                let (rh, mh) = &self.handles[h];
                (boolean(block_on(fs.try_lock(rh))), boolean(block_on(self.model.try_lock(mh))))
            }
            Prim::Meta(_) => {
                let (rh, mh) = &self.handles[h];
                let (r, m) = (block_on(fs.meta(rh)), block_on(self.model.meta(mh)));
                match (r, m) {
                    (Ok(r), Ok(m)) => {
                        let mapped = if self.same(r.id, m.id) { r.id } else { m.id };
                        (Answer::Id(Some(r.id)), Answer::Id(Some(mapped)))
                    }
                    (r, m) => (id(r.map(|x| Some(x.id))), id(m.map(|x| Some(x.id)))),
                }
            }
            Prim::Read(_) => {
                let (rh, mh) = &self.handles[h];
                (bytes(block_on(fs.read(rh, 4096))), bytes(block_on(self.model.read(mh, 4096))))
            }
            Prim::Lease(_) => {
                let (rh, mh) = &self.handles[h];
                (lease(block_on(fs.lease(rh))), lease(block_on(self.model.lease(mh))))
            }
            Prim::WriterWait(_) => {
                let (rh, mh) = &self.handles[h];
                let r = block_on(fs.writers_closed_until(rh, Moment::ZERO));
                (boolean(r), boolean(block_on(self.model.writers_closed_until(mh, Moment::ZERO))))
            }
            _ => {
                let (rh, mh) = self.handles.remove(h);
                (unit(block_on(fs.close(rh))), unit(block_on(self.model.close(mh))))
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

fn lease(r: FsResult<Lease>) -> Answer {
    r.map_or_else(|e| Answer::Err(e.source.kind()), Answer::Lease)
}

fn tickets(r: FsResult<Vec<(Ticket, FileId)>>) -> Answer {
    r.map_or_else(|e| Answer::Err(e.source.kind()), Answer::Tickets)
}

fn bytes(r: FsResult<Vec<u8>>) -> Answer {
    r.map_or_else(|e| Answer::Err(e.source.kind()), Answer::Bytes)
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// The model answers every primitive as Linux does: atomic publication, per-handle
    /// kernel locks, identities, content, unlink and close, and who has a file open for
    /// writing (the read-lease probe: a publisher's handle is a writer, an opened one is
    /// not, and closing the last writer grants the lease), and which tickets stand beside
    /// a lock file, in queue order.
    /// Checks: INV-1, INV-2, INV-4
    #[test]
    fn the_model_answers_as_linux_does(prims in proptest::collection::vec(prim(), 1..40)) {
        let mut pair = Pair::new();
        for (step, p) in prims.iter().enumerate() {
            let (real, model) = pair.run(*p);
            prop_assert_eq!(&real, &model, "step {} {:?} of {:?}", step, p, prims);
        }
    }
}

/// The comparison has teeth: a lock taken twice through two handles conflicts on both
/// sides, and an inode renaming that is not 1:1 is refused.
#[test]
fn conformance_checks_can_fail() {
    let mut pair = Pair::new();
    assert_eq!(pair.run(Prim::Publish(0)), (Answer::Created, Answer::Created));
    assert_eq!(pair.run(Prim::Open(0)), (Answer::File, Answer::File));
    assert_eq!(pair.run(Prim::TryLock(1)), (Answer::Bool(false), Answer::Bool(false)));
    let live = block_on(pair.model.meta(&pair.handles[0].1)).expect("meta").id;
    let stranger = FileId { dev: 0, ino: 0 };
    assert!(!pair.same(stranger, live), "two real inodes cannot map to one live model inode");
    let writer = (Answer::Lease(Lease::Writer), Answer::Lease(Lease::Writer));
    assert_eq!(pair.run(Prim::Lease(1)), writer, "the publisher's handle is a writer");
    assert_eq!(pair.run(Prim::WriterWait(1)), (Answer::Bool(false), Answer::Bool(false)));
    assert_eq!(pair.run(Prim::Close(0)), (Answer::Unit, Answer::Unit));
    let gone = (Answer::Lease(Lease::NoWriter), Answer::Lease(Lease::NoWriter));
    assert_eq!(pair.run(Prim::Lease(0)), gone, "its close leaves no writer");
    assert_eq!(pair.run(Prim::WriterWait(0)), (Answer::Bool(true), Answer::Bool(true)));
}

/// A listing reports exactly the tickets of its own lock, in queue order (by number, then
/// id), with the identities `path_id` reports; not the lock file, not a name with a
/// leading zero, not another lock's ticket; and a removed ticket is no longer listed.
#[test]
fn a_listing_is_the_queue_in_order() {
    let mut pair = Pair::new();
    for name in 0..NAMES.len() {
        assert_eq!(pair.run(Prim::Publish(name)), (Answer::Created, Answer::Created));
    }
    let (real, model) = pair.run(Prim::Tickets(0));
    assert_eq!(real, model);
    let paths = pair.real_paths.clone();
    let id = |name: usize| block_on(RealFs.path_id(&paths[name])).unwrap().unwrap();
    let queue =
        vec![(Ticket::new(9, "ff-1").unwrap(), id(3)), (Ticket::new(10, "0a").unwrap(), id(2))];
    assert_eq!(real, Answer::Tickets(queue));
    assert_eq!(
        Ticket::new(9, "ff-1").unwrap().path(&paths[0]),
        paths[3],
        "a ticket's path is the one listed"
    );
    let (real, model) = pair.run(Prim::Tickets(1));
    assert_eq!((&real, &model), (&model, &real));
    assert_eq!(real, Answer::Tickets(vec![(Ticket::new(1, "1").unwrap(), id(5))]));
    assert_eq!(pair.run(Prim::Unlink(3, 3)), (Answer::Unit, Answer::Unit));
    let (real, model) = pair.run(Prim::Tickets(0));
    assert_eq!(real, model);
    assert_eq!(real, Answer::Tickets(vec![(Ticket::new(10, "0a").unwrap(), id(2))]));
}
