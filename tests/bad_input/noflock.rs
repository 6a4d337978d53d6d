//! A filesystem without `flock`, simulated for real: a seccomp filter makes the `flock`
//! system call of one thread fail with a chosen errno, so the real adapter (`RealFs`) meets
//! exactly what it meets on such a filesystem. Plus a capture of what the adapter says
//! through `tracing`.
//!
//! The filter is installed on a thread of its own and dies with it; threads and processes
//! started from elsewhere are unaffected.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use rustix::fs::FlockOperation;
use rustix::io::Errno;
use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

/// `flock`'s system call number.
#[cfg(target_arch = "x86_64")]
const SYS_FLOCK: i64 = 73;
/// `flock`'s system call number (the generic table).
#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
const SYS_FLOCK: i64 = 32;

/// Makes every `flock` of the calling thread fail with `errno` from now on, and checks it.
pub fn deny_flock_here(errno: Errno) {
    let arch = TargetArch::try_from(std::env::consts::ARCH).expect("seccompiler supports it");
    let errno_raw = u32::try_from(errno.raw_os_error()).unwrap();
    let rules = BTreeMap::from([(SYS_FLOCK, vec![])]);
    let filter =
        SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(errno_raw), arch)
            .unwrap();
    let program: BpfProgram = filter.try_into().unwrap();
    seccompiler::apply_filter(&program)
        .expect("seccomp is needed to simulate a filesystem without flock");
    let probe = tempfile::tempfile().unwrap();
    assert_eq!(
        rustix::fs::flock(&probe, FlockOperation::NonBlockingLockExclusive),
        Err(errno),
        "the seccomp filter must make flock fail"
    );
}

/// Runs `f` on a new thread whose `flock` fails with `errno`; a panic in `f` is re-raised.
pub fn without_flock<T: Send + 'static>(errno: Errno, f: impl FnOnce() -> T + Send + 'static) -> T {
    let thread = std::thread::spawn(move || {
        deny_flock_here(errno);
        f()
    });
    thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Runs `f` with every `tracing` event of this thread, at WARN and above, written to a
/// buffer; returns `f`'s result and the text.
pub fn capture_warnings<T>(f: impl FnOnce() -> T) -> (T, String) {
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buffer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    (out, text)
}

/// A shared in-memory log.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}
