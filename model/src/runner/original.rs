//! The rows for the original lock's contender (`crate::mixed`): the grace holds, the
//! residual risk past it, and the no-grace variant as a mutant.

use std::time::Duration;

use super::verdict::{Catch, Row};
use crate::invariant::Invariant;
use crate::mixed::{GRACE, MixedReport, Release, Timing, explore};

const MS: Duration = Duration::from_millis(1);

/// Our processes stay alive for [`GRACE`] after their release (through the library, or
/// supervised as `sessionlock run` does, with a grace whoever removed the file); original
/// contenders whose read-to-unlink window is shorter (1 ms, 20 ms, 99 ms), against a
/// short and a long hold of our successor: every schedule must be free of overlap, and
/// some must have the original judge a holder that had already released (and find it
/// alive).
pub fn original_row() -> Row {
    let releases = [Release::Own, Release::Supervised { always: true }];
    let timings = [MS, 20 * MS, GRACE - MS].into_iter().flat_map(|pause| {
        [5 * MS, 2 * GRACE].into_iter().flat_map(move |hold| {
            releases.map(|release| Timing { grace: GRACE, pause, hold, release })
        })
    });
    let reports: Vec<MixedReport> = timings.map(explore).collect();
    let schedules: u32 = reports.iter().map(|r| r.schedules).sum();
    let survived: u32 = reports.iter().map(|r| r.outdated_but_alive).sum();
    let result = reports.iter().try_for_each(MixedReport::expect_safe);
    Row {
        scenario: "original contender".to_owned(),
        checker: "script, logical".to_owned(),
        checks: vec![Invariant::MutualExclusion],
        explored: format!("{schedules} schedules"),
        hits: u64::from(survived),
        reached: format!("released holder judged alive in grace {survived}"),
        result,
    }
}

/// The residual risk, shown reachable: an original contender paused longer than the
/// grace (120 ms against 100 ms) while our successor is still inside removes its file.
/// The row passes when that overlap is found and our successor's release reported it.
pub fn original_residual_row() -> Row {
    let report = explore(Timing {
        grace: GRACE,
        pause: GRACE + 20 * MS,
        hold: GRACE + 50 * MS,
        release: Release::Own,
    });
    let reported = report.compromised == report.overlaps;
    let result = match report.overlaps {
        0 => Err(format!("the residual risk did not reproduce: {report:?}")),
        _ if !reported => Err(format!("an overlap went unreported at release: {report:?}")),
        _ => Ok(()),
    };
    Row {
        scenario: "original past grace".to_owned(),
        checker: "script, logical".to_owned(),
        checks: Vec::new(),
        explored: format!("{} schedules", report.schedules),
        hits: 0,
        reached: format!("residual: INV-1 broken in {}, all reported", report.overlaps),
        result,
    }
}

/// The no-grace variant (our holder's process exits as it releases, as `sessionlock run`
/// did) must be caught with INV-1.
pub fn original_catch() -> Catch {
    let report = explore(Timing {
        grace: Duration::ZERO,
        pause: 20 * MS,
        hold: 5 * MS,
        release: Release::Own,
    });
    Catch {
        history: "H2-no-grace",
        checker: "script",
        expected: Invariant::MutualExclusion.id().to_owned(),
        reported: report.reported(),
    }
}

/// A supervisor that waits the grace only when it removed the lock file itself (our
/// waiting successor may break it first, and then the command is reaped at once) must be
/// caught with INV-1.
pub fn original_conditional_grace_catch() -> Catch {
    let release = Release::Supervised { always: false };
    let report = explore(Timing { grace: GRACE, pause: 20 * MS, hold: 5 * MS, release });
    Catch {
        history: "H2-cond-grace",
        checker: "script",
        expected: Invariant::MutualExclusion.id().to_owned(),
        reported: report.reported(),
    }
}
