//! Liveness under weak fairness on the explicit state graph (`sessionlock_spec::liveness`):
//! the real protocol passes INV-3 (turn handed on, FIFO) and INV-4 (someone progresses),
//! cross-process starvation is found as the expected weakness, and the liveness mutants are
//! caught by the fair-cycle check, by name.

use sessionlock_spec::liveness::{
    self, INV3_FIFO, INV3_HANDED_ON, INV4_SOMEONE_PROGRESSES, INV9_STARVATION_FREE, LivenessReport,
    PREDECESSOR_WAIT, STARVATION, TWO_QUEUED,
};
use sessionlock_spec::{Mutant, SpecConfig};

fn config(processes: usize, tasks_in_first_process: usize, mutant: Option<Mutant>) -> SpecConfig {
    SpecConfig { processes, tasks_in_first_process, mutant, ..SpecConfig::default() }
}

/// Asserts that `report` refutes no property and reaches every situation it looks for.
fn assert_nothing_refuted_everything_reached(report: &LivenessReport) {
    assert!(
        report.violated.is_empty(),
        "{}: violated {:?}\n{}",
        report.name,
        report.violated,
        report.counterexample.as_deref().unwrap_or_default()
    );
    for (name, reached) in &report.reached {
        assert!(reached, "{}: {name:?} never reached", report.name);
    }
}

/// Asserts the real protocol's liveness report: nothing refuted, every situation reached
/// (a waiter parked, a turn handed on, the starvation lasso), and the lasso is a real one.
fn assert_live(report: &LivenessReport) {
    assert_nothing_refuted_everything_reached(report);
    assert!(report.cyclic > 0, "{}: no cycle at all, the check is vacuous", report.name);
    let starvation = report.starvation.as_deref().expect("a starvation lasso");
    assert!(starvation.contains("then, forever:"), "{starvation}");
}

/// Checks: INV-3, INV-4 (2 processes, the first with 2 tasks, 1 crash, 1 pid reuse).
#[test]
fn real_protocol_is_live_with_two_processes() {
    let report = liveness::check_liveness(&SpecConfig::default());
    assert_live(&report);
    // The same 7872 states stateright counts; 21559 transitions (its state count minus the
    // initial state). 2386 components, 90 of them with a cycle: the crash and the pid reuse
    // split the graph into the budget's layers, each with its own cycles. Before the
    // in-memory hand-off: 6080 states, 16263 transitions, 1954 components.
    assert_eq!((report.states, report.transitions), (7872, 21559));
    assert_eq!((report.components, report.cyclic), (2386, 90));
}

/// Checks: INV-3, INV-4 (3 processes, the first with 2 tasks, 1 crash, 1 pid reuse).
#[test]
fn real_protocol_is_live_with_three_processes() {
    let report = liveness::check_liveness(&config(3, 2, None));
    assert_live(&report);
    assert_eq!(report.states, 450_083);
}

/// Checks: INV-3 FIFO (three tasks in one process, so two waiters can queue at once).
#[test]
fn real_protocol_hands_the_turn_on_in_fifo_order() {
    let report = liveness::check_liveness(&config(2, 3, None));
    assert_live(&report);
    assert!(report.reached.iter().any(|(name, reached)| name == TWO_QUEUED && *reached));
}

/// Checks: INV-4 (the weaker property that holds): cross-process starvation-freedom is
/// *not* a property of the protocol. The lasso starves the second process's task while the
/// first process's tasks take turns; it is fair (the starved task keeps stepping, it just
/// always finds `L` named), so it is the expected weakness, not a failure.
#[test]
fn a_cross_process_waiter_can_starve() {
    let report = liveness::check_liveness(&SpecConfig::default());
    assert!(report.reached.iter().any(|(name, reached)| name == STARVATION && *reached));
    let lasso = report.starvation.expect("a starvation lasso");
    let cycle = lasso.split("then, forever:").nth(1).expect("a cycle");
    assert!(cycle.contains("task: 2, op: Linkat"), "the starved task keeps trying: {lasso}");
    assert!(cycle.contains("task: 0, op: Linkat"), "while another one gets in: {lasso}");
    assert!(lasso.contains("task 2 wants the lock and never gets it"), "{lasso}");
}

/// The cycle part of a lasso.
fn cycle(lasso: &str) -> &str {
    lasso.split("then, forever:").nth(1).unwrap_or_else(|| panic!("no cycle in {lasso}"))
}

/// Asserts `m` is refuted by the liveness checker as `property`, and returns the lasso.
fn assert_caught(m: Mutant, config: &SpecConfig, property: &str) -> String {
    let report = liveness::check_liveness(config);
    assert!(property.starts_with(m.invariant()), "{property} is not {}", m.invariant());
    assert!(
        report.violated.iter().any(|v| v == property),
        "{}: {:?}",
        report.name,
        report.violated
    );
    let text = report.counterexample.expect("a lasso");
    assert!(!text.is_empty());
    // A fair cycle never contains an environment action: they are budgeted.
    if let Some(tail) = text.split("then, forever:").nth(1) {
        assert!(!tail.contains("Crash") && !tail.contains("ReusePid"), "{text}");
    }
    text
}

/// Checks: INV-3 (M3: the turn is handed on, the waiter never woken). The lasso parks a
/// task with its process's turn while the other process goes on forever.
#[test]
fn m3_turn_not_woken_is_caught_as_inv3() {
    for processes in [2, 3] {
        let config = config(processes, 2, Some(Mutant::M3TurnNotWoken));
        let lasso = assert_caught(Mutant::M3TurnNotWoken, &config, INV3_HANDED_ON);
        assert!(lasso.contains("stays parked while its process's turns go on"), "{lasso}");
        assert!(cycle(&lasso).contains("pid: 1,"), "another process goes on: {lasso}");
    }
    let config = liveness::mutant_config(Mutant::M3TurnNotWoken);
    assert_caught(Mutant::M3TurnNotWoken, &config, INV3_HANDED_ON);
}

/// Checks: INV-3 (M3 with a single process: every task ends up parked behind the waiter
/// that was never woken, a deadlock, reported as a lasso that stutters).
#[test]
fn m3_alone_is_a_deadlock() {
    let config = config(1, 2, Some(Mutant::M3TurnNotWoken));
    let lasso = assert_caught(Mutant::M3TurnNotWoken, &config, INV3_HANDED_ON);
    assert!(lasso.contains("then no task can move, forever"), "{lasso}");
    let report = liveness::check_liveness(&config);
    assert!(report.violated.iter().any(|v| v == INV4_SOMEONE_PROGRESSES), "{:?}", report.violated);
}

/// Checks: INV-4 (the breaker livelock of `spec/history.md`). A contender waits in the
/// kernel on a live holder, the holder crashes, and two contenders (with two processes: the
/// survivor and the holder's reborn pid; with three: the two survivors) hand the dead
/// holder's flock back and forth forever: the cycle has both kernel waits and no break. The safety search and the bounded progress check both pass this mutant
/// (`stateright_protocol::liveness_mutants_keep_safety`): only the fair cycle catches it.
#[test]
fn breaker_livelock_is_caught_as_inv4() {
    for processes in [2, 3] {
        let config = config(processes, 2, Some(Mutant::KernelWaitUnjudged));
        let lasso = assert_caught(Mutant::KernelWaitUnjudged, &config, INV4_SOMEONE_PROGRESSES);
        let (stem, cycle) = (lasso.split("then, forever:").next().unwrap(), cycle(&lasso));
        assert!(stem.contains("Crash") && stem.contains("FlockNb"), "{lasso}");
        let waiters = (0..4).filter(|t| cycle.contains(&format!("task: {t}, op: LockWait")));
        assert_eq!(waiters.count(), 2, "two tasks take the flock in turn: {lasso}");
        assert!(!cycle.contains("Unlink"), "nobody breaks the dead file: {lasso}");
    }
}

/// Checks: INV-3 FIFO (the turn handed to the last waiter: a later waiter overtakes an
/// earlier one; with three tasks the first waiter is even passed over forever, and that
/// lasso is the one reported).
#[test]
fn lifo_hand_off_is_caught_as_inv3_fifo() {
    let config = liveness::mutant_config(Mutant::LifoHandOff);
    assert_caught(Mutant::LifoHandOff, &config, INV3_FIFO);
    let lasso = assert_caught(Mutant::LifoHandOff, &config, INV3_HANDED_ON);
    assert!(lasso.contains("task 0 stays parked"), "{lasso}");
    // With two tasks in a process at most one waits at a time: LIFO is FIFO there.
    assert!(
        liveness::check_liveness(&self::config(2, 2, Some(Mutant::LifoHandOff)))
            .violated
            .is_empty()
    );
}

/// Checks: INV-4 (H7, a pid trusted before the kernel: after a pid reuse the contenders
/// wait on the dead holder's file forever, a fair cycle as well).
#[test]
fn h7_is_caught_as_inv4_by_fair_cycles() {
    let config = liveness::mutant_config(Mutant::H7PidReuseTrust);
    let lasso = assert_caught(Mutant::H7PidReuseTrust, &config, INV4_SOMEONE_PROGRESSES);
    assert!(lasso.split("then, forever:").next().unwrap().contains("ReusePid"), "{lasso}");
}

/// Checks: INV-3, INV-4: each mutant that [`Mutant::breaks_liveness`] is refuted by the
/// liveness checker in the runner's configuration, with its own invariant, and the ones
/// that break only safety are not (the liveness checker has no false alarms on them).
#[test]
fn the_runner_configuration_catches_every_liveness_mutant() {
    for &m in Mutant::ALL {
        let report = liveness::check_liveness(&liveness::mutant_config(m));
        let named = report.violated.iter().any(|v| v.starts_with(m.invariant()));
        assert_eq!(named, m.breaks_liveness(), "{}: {:?}", m.name(), report.violated);
    }
}

/// The cross-process queue with `processes` processes, the first with `tasks` tasks, and
/// `crashes` crashes and as many pid reuses.
fn queue_config(processes: usize, tasks: usize, crashes: u8) -> SpecConfig {
    SpecConfig {
        processes,
        tasks_in_first_process: tasks,
        crashes,
        pid_reuses: crashes,
        queue: true,
        ..SpecConfig::default()
    }
}

/// Asserts the queue's liveness report: nothing refuted (INV-9 StarvationFree included,
/// for every task), every situation reached, cycles exist, and no starvation lasso.
fn assert_starvation_free(report: &LivenessReport) {
    assert_nothing_refuted_everything_reached(report);
    assert!(report.reached.iter().any(|(name, _)| name == PREDECESSOR_WAIT));
    assert!(!report.reached.iter().any(|(name, _)| name == STARVATION));
    assert!(report.cyclic > 0, "{}: no cycle at all, the check is vacuous", report.name);
    assert_eq!(report.starvation, None);
}

/// Checks: INV-3, INV-4, INV-9 (cross-process starvation-freedom under weak fairness, with
/// the queue): 2 processes (the first with 2 tasks, then 3), 1 crash, 1 pid reuse; and 3
/// processes of one task each without crashes. The same configurations without the queue
/// have the starvation lasso (`a_cross_process_waiter_can_starve`, and the queue's
/// mutants below show the check is not vacuous).
#[test]
fn the_queue_is_starvation_free() {
    let report = liveness::check_liveness(&queue_config(2, 2, 1));
    assert_starvation_free(&report);
    assert_eq!(report.name, "queue/2p/2t");
    assert_eq!(report.states, 53_215);
    let report = liveness::check_liveness(&queue_config(2, 3, 1));
    assert_starvation_free(&report);
    assert!(report.reached.iter().any(|(name, reached)| name == TWO_QUEUED && *reached));
    assert_eq!(report.states, 301_158);
    let report = liveness::check_liveness(&SpecConfig {
        processes: 3,
        tasks_in_first_process: 1,
        crashes: 0,
        pid_reuses: 0,
        queue: true,
        ..SpecConfig::default()
    });
    // One task per process: nobody parks in memory, the rest is reached.
    assert!(report.violated.is_empty(), "{:?}", report.counterexample);
    assert!(report.reached.iter().all(|(name, reached)| *reached || name.contains("parked")));
    assert_eq!(report.states, 100_669);
}

/// Checks: INV-9 (`releaser-barges`: newcomers publish past the queue, and a queued waiter
/// of the other process starves while they take turns).
#[test]
fn releaser_barges_is_caught_as_inv9_starvation() {
    let config = liveness::mutant_config(Mutant::ReleaserBarges);
    let lasso = assert_caught(Mutant::ReleaserBarges, &config, INV9_STARVATION_FREE);
    assert!(lasso.contains("wants the lock and never gets it"), "{lasso}");
    assert!(cycle(&lasso).contains("op: List"), "the barging newcomers list: {lasso}");
}

/// Checks: INV-9 (`wakes-nobody`: a successor never moves on from its predecessor's
/// ticket, so it and everyone behind it wait forever).
#[test]
fn wakes_nobody_is_caught_as_inv9_starvation() {
    let config = liveness::mutant_config(Mutant::WakesNobody);
    let lasso = assert_caught(Mutant::WakesNobody, &config, INV9_STARVATION_FREE);
    assert!(lasso.contains("FindPredecessor"), "a waiter found its predecessor: {lasso}");
    assert!(!lasso.contains("PredecessorWait"), "and no wait on it ever returned: {lasso}");
}
