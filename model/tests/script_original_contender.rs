//! Mixed with the original lock's contenders, in logical time (`model/src/mixed.rs`):
//! its check-then-remove-by-path against our short-lived holder and its successor.
#![cfg(not(any(sessionlock_loom, sessionlock_shuttle)))]

use std::time::Duration;

use sessionlock_model::mixed::{GRACE, Release, Timing, explore};

const MS: Duration = Duration::from_millis(1);

/// With no grace (our holder's process exits as it releases), the original's stale read,
/// dead-pid check and unlink by path remove our successor's live file and let it in beside
/// our successor; our successor's release reports the compromise. H2, by the original.
/// Checks: INV-1
#[test]
fn script_original_without_grace_removes_live_successor() {
    let report = explore(Timing {
        grace: Duration::ZERO,
        pause: 20 * MS,
        hold: 5 * MS,
        release: Release::Own,
    });
    assert!(report.overlaps > 0, "{report:?}");
    assert_eq!(report.reported().as_deref(), Some("INV-1"), "{report:?}");
    assert_eq!(
        report.compromised, report.overlaps,
        "every overlap is reported at release: {report:?}"
    );
    assert!(report.live_removals >= report.overlaps, "{report:?}");
}

/// Our processes stay alive for the grace after their release; an original contender
/// whose read-to-unlink window is shorter never judges a released holder dead: no
/// overlap, in every schedule, however long our successor holds, though it did judge
/// released holders (reachability).
/// Checks: INV-1
#[test]
fn script_original_within_grace_never_overlaps() {
    let releases = [Release::Own, Release::Supervised { always: true }];
    for pause in [MS, 20 * MS, GRACE - MS] {
        for hold in [5 * MS, 2 * GRACE] {
            for release in releases {
                let report = explore(Timing { grace: GRACE, pause, hold, release });
                assert_eq!(report.expect_safe(), Ok(()), "{report:?}");
                assert_eq!(report.compromised, 0, "{report:?}");
                assert!(report.outdated_but_alive > 0, "{report:?}");
                let supervised = matches!(release, Release::Supervised { .. });
                assert_eq!(report.supervisor_lost > 0, supervised, "{report:?}");
            }
        }
    }
}

/// A supervisor (as `sessionlock run`) that waits the grace only when it removed the
/// lock file itself: when our waiting successor, woken by the command's exit, breaks the
/// file first, the command's pid is reaped at once, and the original's stale read removes
/// our successor's live file again.
/// Checks: INV-1
#[test]
fn script_original_supervisor_grace_only_if_it_removed_overlaps() {
    let release = Release::Supervised { always: false };
    let report = explore(Timing { grace: GRACE, pause: 20 * MS, hold: 5 * MS, release });
    assert!(report.overlaps > 0, "{report:?}");
    assert!(report.supervisor_lost >= report.overlaps, "{report:?}");
    assert_eq!(report.reported().as_deref(), Some("INV-1"), "{report:?}");
    assert_eq!(report.compromised, report.overlaps, "{report:?}");
}

/// The residual risk: an original contender paused longer than the grace between its
/// read and its unlink removes our successor's live file again, when the successor is
/// still inside as it wakes (here it holds longer than the grace).
/// Checks: INV-1
#[test]
fn script_original_paused_past_grace_overlaps() {
    let report = explore(Timing {
        grace: GRACE,
        pause: GRACE + 20 * MS,
        hold: GRACE + 50 * MS,
        release: Release::Own,
    });
    assert!(report.overlaps > 0, "{report:?}");
    assert_eq!(report.reported().as_deref(), Some("INV-1"), "{report:?}");
    assert_eq!(report.compromised, report.overlaps, "{report:?}");
}
