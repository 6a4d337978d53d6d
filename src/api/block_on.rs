//! A minimal executor for the blocking API: poll, park the thread, repeat.
//!
//! Every wait of the real adapter is a future woken by the reactor thread (or by the
//! registry, for in-process hand-offs), so parking the caller's thread between polls is
//! all a blocking call needs: no runtime is built, and an uncontended acquire costs no
//! more than its system calls.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on the current thread, parking it while the future waits.
///
/// This is the executor behind every `*_blocking` method; it is public so that tools
/// (the `sessionlock` CLI) can drive core steps such as
/// [`protocol::inspect`](crate::core::protocol::inspect) without a runtime.
///
/// Do not call it from inside an async task: it blocks the task's thread.
///
/// ```
/// assert_eq!(sessionlock::api::block_on(async { 7 }), 7);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    thread_local! {
        static WAKER: Waker = Waker::from(Arc::new(Unpark(thread::current())));
    }
    WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        let mut future = pin!(future);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            thread::park();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn runs_a_ready_future() {
        assert_eq!(block_on(async { 7 }), 7);
    }

    #[test]
    fn is_woken_from_another_thread() {
        let slot: Arc<Mutex<(bool, Option<Waker>)>> = Arc::default();
        let setter = Arc::clone(&slot);
        let waiter = std::future::poll_fn(move |cx| {
            let mut s = slot.lock().unwrap();
            if s.0 {
                return Poll::Ready(());
            }
            s.1 = Some(cx.waker().clone());
            Poll::Pending
        });
        let t = thread::spawn(move || {
            thread::sleep(std::time::Duration::from_millis(10));
            let mut s = setter.lock().unwrap();
            s.0 = true;
            if let Some(w) = s.1.take() {
                w.wake();
            }
        });
        block_on(waiter);
        t.join().unwrap();
    }
}
