//! Scripted lock cycles for the point enumerations: acquire (unless already held),
//! enter the critical section under the ghost, yield, leave, release; each step logged.

use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;

use sessionlock::core::{AcquireError, Owner, ReleaseError, Released};

use super::explain::{Failure, Witness, WitnessCell, witnessed};
use crate::exec::Stepper;
use crate::harness::{Ghost, check_release, lock_path};
use crate::invariant::Invariant;
use crate::refine::record;
use crate::subject::{ModelGuard, ModelLocker, Subject};
use crate::world::{Pid, World};

/// What one step of a cycle did.
#[derive(Debug)]
pub enum Logged {
    /// The acquire returned a guard.
    Acquired,
    /// The acquire failed.
    AcquireFailed(AcquireError),
    /// The release returned.
    Released(Result<Released, ReleaseError>),
}

/// One scripted cycle in flight on a [`Stepper`].
pub struct Cycle {
    /// The process it runs in.
    pub pid: Pid,
    /// Its slot on the stepper.
    pub slot: usize,
    /// What it met.
    pub witness: WitnessCell,
    /// What it did, in order.
    pub log: Rc<RefCell<Vec<Logged>>>,
}

/// Who runs a cycle, and in which world.
pub struct Actor {
    /// The core, or a mutant.
    pub subject: Subject,
    /// The world (for ghost violations).
    pub world: std::sync::Arc<World>,
    /// The process's locker.
    pub locker: ModelLocker,
    /// The process.
    pub pid: Pid,
    /// The task's owner.
    pub owner: Owner,
    /// The task, in the trace.
    pub task: usize,
    /// Who is inside.
    pub ghost: Rc<Ghost>,
}

impl Actor {
    /// Its acquire, its start and end recorded (if the world records).
    async fn acquire(&self) -> Result<ModelGuard, AcquireError> {
        let path = lock_path();
        let acquire = self.subject.acquire(&self.locker, &path, self.owner);
        record::acquiring(&self.world, self.pid, self.task, acquire).await
    }

    /// Spawns the cycle on `ex`, starting from `held` if the actor already holds (and is
    /// already inside under the ghost).
    pub fn spawn(self, ex: &mut Stepper<'static>, held: Option<ModelGuard>) -> Cycle {
        let (witness, log) = (WitnessCell::default(), Rc::new(RefCell::new(Vec::new())));
        let world = std::sync::Arc::clone(&self.world);
        let (pid, sink) = (self.pid, Rc::clone(&log));
        let cycle = record::named(self.task, self.cycle(held, sink));
        let future = witnessed(&world, lock_path(), &witness, cycle);
        let (slot, _) = ex.spawn(future);
        Cycle { pid, slot, witness, log }
    }

    async fn cycle(self, held: Option<ModelGuard>, log: Rc<RefCell<Vec<Logged>>>) {
        let guard = match held {
            Some(guard) => guard,
            None => match self.acquire().await {
                Ok(guard) => {
                    log.borrow_mut().push(Logged::Acquired);
                    if let Some((inv, clash)) =
                        self.ghost.enter(self.pid, self.owner, guard.owner())
                    {
                        self.world.record(inv, clash);
                    }
                    guard
                }
                Err(error) => return log.borrow_mut().push(Logged::AcquireFailed(error)),
            },
        };
        yield_now().await;
        self.ghost.leave(self.owner);
        let released = self.subject.release(guard).await;
        log.borrow_mut().push(Logged::Released(released));
    }
}

impl Cycle {
    /// How many of its operations failed.
    pub fn failures(&self) -> u64 {
        let log = self.log.borrow();
        log.iter()
            .filter(|l| matches!(l, Logged::AcquireFailed(_) | Logged::Released(Err(_))))
            .count() as u64
    }

    /// Whether it acquired (unless it began holding) and released cleanly.
    pub fn clean(&self, began_holding: bool) -> bool {
        let log = self.log.borrow();
        let acquired = began_holding || matches!(log.first(), Some(Logged::Acquired));
        acquired && matches!(log.last(), Some(Logged::Released(Ok(Released::Removed))))
    }

    /// Checks what it did: every failure is the report of a fault injected into it; a
    /// failed acquire leaves no file it published at the path.
    ///
    /// # Errors
    /// The invariant broken, with what happened.
    pub fn check(&self, world: &World) -> Result<(), (Invariant, String)> {
        let witness: Witness = self.witness.borrow().clone();
        for logged in self.log.borrow().iter() {
            let who = format!("a cycle of pid {}", self.pid);
            match logged {
                Logged::Acquired => {}
                Logged::AcquireFailed(error) => {
                    Failure::of_acquire(error).explain(&witness.injected, &lock_path()).map_err(
                        |d| (Invariant::NoSpuriousTimeout, format!("{who}: acquire failed: {d}")),
                    )?;
                    let left = world.lock_file(lock_path().as_path());
                    if let Some(file) = left.filter(|f| witness.published.contains(&f.id)) {
                        let detail =
                            format!("{who}: failed acquire left the file it published: {file:?}");
                        return Err((Invariant::NoLeak, detail));
                    }
                }
                Logged::Released(Err(error))
                    if Failure::of_release(error)
                        .explain(&witness.injected, &lock_path())
                        .is_ok() => {}
                Logged::Released(Err(error)) => {
                    let detail =
                        format!("{who}: release failed: {error}; injected: {:?}", witness.injected);
                    return Err((Invariant::NoLeak, detail));
                }
                Logged::Released(Ok(released)) => check_release(Ok(*released), 0)?,
            }
        }
        Ok(())
    }
}

/// Returns pending once, waking itself: lets the other tasks run while this one is inside.
pub async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}
