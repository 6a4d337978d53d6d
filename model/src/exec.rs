//! A single-threaded executor that polls tasks one at a time, for scripted interleavings
//! (gates) and for single-stepping in the proptest machine. Std only: never under loom
//! or shuttle.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Where a task's result lands.
pub type Output<T> = Rc<RefCell<Option<T>>>;

struct Slot<'a> {
    future: Option<Pin<Box<dyn Future<Output = ()> + 'a>>>,
    woken: Arc<Flag>,
}

/// Tasks, polled only when asked.
#[derive(Default)]
pub struct Stepper<'a> {
    slots: Vec<Slot<'a>>,
}

impl<'a> Stepper<'a> {
    /// An executor with no tasks.
    pub fn new() -> Self {
        Self { slots: Vec::new() }
    }

    /// Adds a task (not yet polled); its result lands in the returned cell.
    pub fn spawn<T: 'a>(&mut self, future: impl Future<Output = T> + 'a) -> (usize, Output<T>) {
        let out: Output<T> = Rc::new(RefCell::new(None));
        let sink = Rc::clone(&out);
        let task = async move {
            let value = future.await;
            *sink.borrow_mut() = Some(value);
        };
        let woken = Arc::new(Flag(AtomicBool::new(true)));
        self.slots.push(Slot { future: Some(Box::pin(task)), woken });
        (self.slots.len() - 1, out)
    }

    /// Polls task `id` once if it is runnable (woken and unfinished). Returns whether it ran.
    pub fn poll(&mut self, id: usize) -> bool {
        let slot = &mut self.slots[id];
        let Some(future) = slot.future.as_mut() else {
            return false;
        };
        if !slot.woken.0.swap(false, Ordering::SeqCst) {
            return false;
        }
        let waker = Waker::from(Arc::clone(&slot.woken));
        if let Poll::Ready(()) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
            slot.future = None;
        }
        true
    }

    /// Polls runnable tasks, in id order, until none is runnable.
    pub fn run_until_stalled(&mut self) {
        while self.poll_all() {}
    }

    /// Polls every runnable task once; returns whether any ran.
    fn poll_all(&mut self) -> bool {
        let mut ran = false;
        for id in 0..self.slots.len() {
            ran |= self.poll(id);
        }
        ran
    }

    /// Drops task `id` unfinished, as a caller that gives up drops its future.
    pub fn cancel(&mut self, id: usize) {
        self.slots[id].future = None;
    }

    /// Whether task `id` has finished.
    pub fn is_done(&self, id: usize) -> bool {
        self.slots[id].future.is_none()
    }

    /// Whether task `id` is unfinished and woken.
    pub fn is_runnable(&self, id: usize) -> bool {
        !self.is_done(id) && self.slots[id].woken.0.load(Ordering::SeqCst)
    }

    /// Runs `future` to completion, polling the other tasks too; panics if everything stalls.
    pub fn block_on<T: 'a>(&mut self, future: impl Future<Output = T> + 'a) -> T {
        let (id, out) = self.spawn(future);
        while !self.is_done(id) {
            let ran = self.poll_all();
            assert!(ran || self.is_done(id), "every task is blocked");
        }
        out.borrow_mut().take().expect("finished")
    }
}
