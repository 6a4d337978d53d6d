//! [`RealClock`]: the monotonic clock, the wall clock, and sleeping through the reactor.

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use super::reactor::monotonic_now;
use super::registration::Sleep;
use crate::fs::{Clock, Moment};

/// Time on Linux: [`Moment`]s count from a process-wide origin on the monotonic clock,
/// the wall clock is [`SystemTime`], and sleeps are served by the adapter's reactor
/// thread, so they work under tokio, under any other executor, and in the blocking API.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealClock;

/// The origin every [`Moment`] of this process is measured from.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(monotonic_now)
}

impl RealClock {
    /// The monotonic instant a [`Moment`] stands for.
    pub fn instant(at: Moment) -> Instant {
        origin()
            .checked_add(at.as_duration())
            .unwrap_or_else(|| origin() + Duration::from_secs(100 * 365 * 86_400))
    }
}

impl Clock for RealClock {
    fn now(&self) -> Moment {
        Moment::from_duration(monotonic_now().saturating_duration_since(origin()))
    }

    #[allow(clippy::disallowed_methods)]
    fn wall_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    fn sleep_until(&self, at: Moment) -> impl Future<Output = ()> + Send {
        Sleep::until(Self::instant(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_map_back_to_instants() {
        let clock = RealClock;
        let now = clock.now();
        let later = now.saturating_add(Duration::from_millis(5));
        let gap = RealClock::instant(later) - RealClock::instant(now);
        assert_eq!(gap, Duration::from_millis(5));
    }

    #[test]
    fn far_moments_do_not_overflow() {
        let far = Moment::from_duration(Duration::MAX);
        assert!(RealClock::instant(far) > monotonic_now());
    }

    #[test]
    fn wall_clock_is_after_2020() {
        assert!(RealClock.wall_ms() > 1_577_836_800_000);
    }
}
