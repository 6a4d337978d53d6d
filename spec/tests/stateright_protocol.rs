//! Exhaustive stateright checks of the lock protocol model: the real protocol passes,
//! every historic failure (mutant) is caught.
//!
//! The pinned state counts below are exact: the state space is explored to completion
//! and states are canonical (see `sessionlock_spec::state`), so any change in them means
//! the model changed. If the change is intended, update the number *and* its comment.

use sessionlock_spec::actions::Action;
use sessionlock_spec::actions::Op::{self, *};
use sessionlock_spec::progress::{self, INV4_PROGRESS};
use sessionlock_spec::properties::{
    self, INV1, INV2, INV4, INV6, INV9, INV9_OVERTAKING, OVERTAKEN,
};
use sessionlock_spec::state::{Entry, Pc};
use sessionlock_spec::{Mutant, ProtocolModel, SpecConfig, SpecReport, State, check, trace};
use stateright::Model;

fn config(processes: usize, mutant: Option<Mutant>) -> SpecConfig {
    SpecConfig { processes, mutant, ..SpecConfig::default() }
}

/// Asserts the real protocol's report: no counterexample, every situation reached.
fn assert_passes(report: &SpecReport) {
    assert_passes_with(report, 7);
}

/// Asserts a passing report with `sometimes` sometimes-properties, all reached.
fn assert_passes_with(report: &SpecReport, sometimes: usize) {
    assert!(
        report.violated.is_empty(),
        "{}: violated {:?}\n{:?}",
        report.name,
        report.violated,
        report.counterexample
    );
    assert!(report.counterexample.is_none());
    for (name, reached) in &report.reached {
        assert!(reached, "{}: sometimes-property {name:?} never reached", report.name);
    }
    assert_eq!(report.reached.len(), sometimes, "every sometimes-property is reported");
}

/// Checks: INV-1, INV-2, INV-4 (+ progress), INV-6 (2 processes, 3 tasks, 1 crash, 1 pid reuse).
#[test]
fn real_protocol_two_processes() {
    let report = check(&SpecConfig::default());
    assert_passes(&report);
    // 7872 states: P0 runs two tasks sharing one registry entry (FIFO queue included), P1
    // one task, each looping acquire/hold/release forever. One crash adds its aftermath, and one pid reuse lets a
    // fresh incarnation run against the leftovers of the dead one (stale file, the
    // survivor mid-break or waiting in the kernel on the dead holder's inode). The kernel
    // wait on a refused flock (`Pc::Waiting`) and the separate close after a failed path
    // check (`Pc::Unbound`) took the space from 3982 to 6080 states (3840 to 5886 before
    // the FIFO queue); the in-memory hand-off (`Pc::Handed`, and the count of hand-offs of
    // one file, up to K = 2) took it to 7872. 21560 = transitions explored + 1 initial state.
    assert_eq!(report.unique_states, 7872);
    assert_eq!(report.state_count, 21560);
}

/// Checks: INV-1, INV-2, INV-4 (+ progress), INV-6 (3 processes, 4 tasks, 1 crash, 1 pid reuse).
#[test]
fn real_protocol_three_processes() {
    let report = check(&SpecConfig { threads: 2, ..config(3, None) });
    assert_passes(&report);
    // 450083 states: the 2-process space plus a third single-task process; the pid reuse
    // multiplies the post-crash part, since the reborn process and two survivors race over
    // (or wait in the kernel on) the dead holder's file. 140551 before the kernel wait
    // (351643 before the FIFO queue), 362323 before the in-memory hand-off.
    assert_eq!(report.unique_states, 450_083);
}

/// Checks: INV-1, INV-2, INV-4 (+ progress), INV-6 under a harsher environment: 3 processes, two
/// crashes and two pid reuses (a reborn process may crash again, mid-break included).
#[test]
fn real_protocol_survives_repeated_crashes_and_pid_reuse() {
    let report = check(&SpecConfig {
        processes: 3,
        crashes: 2,
        pid_reuses: 2,
        threads: 2,
        ..SpecConfig::default()
    });
    assert_passes(&report);
    // 2185637 states (~6x the 1-crash/1-reuse space): a reborn process may die again, and
    // the second reuse may hit another pid, so stale files and half-done breaks of two dead
    // incarnations meet live contenders. 821639 before the kernel wait (2135277 before
    // the FIFO queue), 2185637 before the in-memory hand-off.
    assert_eq!(report.unique_states, 2_656_229);
}

/// The violated always-properties the checker finds for each mutant (same with 2 and 3
/// processes). Every historic mutant except H7 breaks INV-1, INV-2 and INV-6 together (and
/// keeps progress); H7 keeps safety and only loses recovery, in both its state and its
/// progress form; `unbounded-hand-off` keeps all of that and only breaks the bound.
fn expected_violations(m: Mutant) -> Vec<&'static str> {
    match m {
        Mutant::H7PidReuseTrust => vec![INV4, INV4_PROGRESS],
        Mutant::UnboundedHandOff => vec![INV9],
        Mutant::ReleaserBarges => vec![INV9_OVERTAKING],
        _ => vec![INV1, INV2, INV6],
    }
}

fn assert_caught(m: Mutant, report: &SpecReport, expected: &[&str]) {
    assert!(
        report.violated.iter().any(|v| v.starts_with(m.invariant())),
        "{}: expected a counterexample to {}, got {:?}",
        report.name,
        m.invariant(),
        report.violated
    );
    assert_eq!(report.violated, expected, "{}", report.name);
    let trace = report.counterexample.as_deref().expect("a counterexample path");
    assert!(trace.contains("violates"), "{trace}");
}

/// Checks: INV-1, INV-2, INV-4, INV-6 are refuted for every mutant that breaks safety
/// (2 processes); the liveness mutants are caught in `tests/fair_cycles.rs`.
#[test]
fn every_mutant_is_caught_with_two_processes() {
    for &m in Mutant::ALL.iter().filter(|m| m.breaks_safety()) {
        assert_caught(m, &check(&config(2, Some(m))), &expected_violations(m));
    }
}

/// Checks: INV-1, INV-2, INV-4, INV-6 are refuted for every mutant (3 processes). The
/// progress check is skipped here (it is covered with 2 processes above and would double
/// the time spent on H1's ~950k-state space). The queue's mutant is checked with three
/// processes in `releaser_barges_is_caught_with_three_processes` (the queue's space with
/// three processes, two tasks in the first and a crash is millions of states).
#[test]
fn every_mutant_is_caught_with_three_processes() {
    for &m in Mutant::ALL.iter().filter(|m| m.breaks_safety() && !m.needs_queue()) {
        let report = check(&SpecConfig { progress_budget: None, ..config(3, Some(m)) });
        let mut expected = expected_violations(m);
        expected.retain(|&v| v != INV4_PROGRESS);
        assert_caught(m, &report, &expected);
    }
}

/// Checks: INV-4 (H7 needs pid reuse: without it the pid heuristic is accurate).
#[test]
fn h7_is_harmless_without_pid_reuse() {
    let report = check(&SpecConfig {
        mutant: Some(Mutant::H7PidReuseTrust),
        pid_reuses: 0,
        ..SpecConfig::default()
    });
    assert!(report.violated.is_empty(), "{:?}", report.violated);
}

/// Checks: INV-1, INV-4 (the reported counterexample is a shortest one).
#[test]
fn counterexamples_are_shortest() {
    let h3 = check(&config(2, Some(Mutant::H3RenameOverwrite)));
    let steps = |t: &str| t.lines().take_while(|l| !l.starts_with("violates")).count();
    // Request, rename, request, rename: two holders.
    assert_eq!(steps(h3.counterexample.as_deref().unwrap()), 4);
    let h7 = check(&config(2, Some(Mutant::H7PidReuseTrust)));
    // Request, publish, crash, pid reuse: the stale file now looks alive forever.
    assert_eq!(steps(h7.counterexample.as_deref().unwrap()), 4);
    let model = config(2, Some(Mutant::H1ReleaseOrder)).model();
    let inv1 = trace::shortest_violation(&model, Some(INV1)).unwrap();
    assert_eq!(steps(&inv1), 13, "{inv1}");
}

/// One task step, in a replay script.
fn step(model: &ProtocolModel, task: u8, op: Op) -> Action {
    Action::Step { pid: model.owner[usize::from(task)], task, op }
}

/// The steps `ops` of task `task`, in a replay script.
fn steps(model: &ProtocolModel, task: u8, ops: &[Op]) -> Vec<Action> {
    ops.iter().map(|&op| step(model, task, op)).collect()
}

/// Replays `script` from the initial state, asserting each action is enabled.
fn replay(model: &ProtocolModel, script: &[Action]) -> State {
    let mut s = model.init_states().remove(0);
    for action in script {
        let mut enabled = Vec::new();
        model.actions(&s, &mut enabled);
        assert!(enabled.contains(action), "{action:?} not enabled in {s:#?}");
        s = model.next_state(&s, action.clone()).unwrap();
    }
    s
}

/// Checks: INV-1, INV-2, INV-6 on the exact H1 own-pid-orphan interleaving of `spec/history.md`.
#[test]
fn h1_field_note_interleaving() {
    // Tasks 0 and 1 are T1 and T2 of P0; task 2 is the third process.
    let m = config(2, Some(Mutant::H1ReleaseOrder)).model();
    let mut script = steps(&m, 0, &[Request, Linkat, BeginRelease, Close]);
    // T2 finds no entry, gets EEXIST, reads its own pid, removes L as an orphan...
    script.extend(steps(&m, 1, &[Request, Linkat, Open, ReadPayload, Unlink]));
    assert!(!properties::no_live_removal(&m, &replay(&m, &script)), "removal without proof");
    // ... and publishes L'; T1's pending path-based removal deletes L'.
    script.extend([step(&m, 1, Linkat), step(&m, 0, Unlink)]);
    let s = replay(&m, &script);
    assert!(!properties::no_live_removal(&m, &s));
    assert!(!properties::stale_guard_harmless(&m, &s));
    // A third party gets in: two holders.
    script.extend(steps(&m, 2, &[Request, Linkat]));
    assert!(!properties::mutual_exclusion(&m, &replay(&m, &script)));
}

/// Checks: INV-1 on the H2 and H4 interleavings (P0 holds and dies, P1 and P2 both reclaim).
#[test]
fn h2_h4_field_note_interleavings() {
    let cases = [
        (Mutant::H2StaleTocttou, &[ReadPayload][..]),
        (Mutant::H4CompareThenUnlink, &[ReadPayload, CheckPath][..]),
    ];
    for (mutant, judge) in cases {
        let m = config(3, Some(mutant)).model();
        let mut script = steps(&m, 0, &[Request, Linkat]);
        script.push(Action::Crash { pid: 0 });
        // Task 2 (P1) and task 3 (P2) both judge the dead holder's L stale (and unchanged).
        for t in [2, 3] {
            script.extend(steps(&m, t, &[Request, Linkat, Open]));
            script.extend(steps(&m, t, judge));
        }
        // P2 replaces L with its own file; P1 then removes P2's file and creates its own.
        script.extend(steps(&m, 3, &[Unlink, Linkat]));
        script.extend(steps(&m, 2, &[Unlink, Linkat]));
        assert!(!properties::mutual_exclusion(&m, &replay(&m, &script)), "{mutant:?}");
    }
}

/// Checks: INV-2, INV-1 on H5: the old holder drops its flock before its path-based
/// unlink, a breaker proves it "dead", republishes, and the old holder deletes that file.
#[test]
fn h5_old_holder_deletes_successor() {
    let m = config(3, Some(Mutant::H5OldHolderDeletesSuccessor)).model();
    let mut script = steps(&m, 0, &[Request, Linkat, BeginRelease, Close]);
    let breaker = [Request, Linkat, Open, FlockNb, CheckPath, Unlink, Close, Linkat];
    script.extend(steps(&m, 2, &breaker));
    script.push(step(&m, 0, Unlink));
    assert!(!properties::no_live_removal(&m, &replay(&m, &script)));
    script.extend(steps(&m, 3, &[Request, Linkat]));
    assert!(!properties::mutual_exclusion(&m, &replay(&m, &script)));
}

/// Checks: INV-4 on the real protocol: after the holder is SIGKILLed, a contender breaks
/// and takes the lock with its own steps only, no timer involved.
#[test]
fn crashed_holder_is_taken_over_without_timer() {
    let m = config(2, None).model();
    let mut script = steps(&m, 2, &[Request, Linkat]);
    script.push(Action::Crash { pid: 1 });
    assert!(properties::recovery(&m, &replay(&m, &script)));
    let contender = [Request, Linkat, Open, FlockNb, CheckPath, Unlink, Close, Linkat];
    script.extend(steps(&m, 0, &contender));
    let s = replay(&m, &script);
    assert!(properties::mutual_exclusion(&m, &s) && properties::no_live_removal(&m, &s));
    assert!(s.tasks[0].took_over && matches!(s.tasks[0].pc, Pc::Held(_)));
}

/// Checks: INV-4 (progress bound): from every reachable state, fairly scheduled live
/// tasks put one of them in the critical section within a fixed number of steps.
#[test]
fn progress_bounds_are_pinned() {
    // 16 steps (2 processes; 17 before the kernel wait, when a refused flock meant a
    // close and a fresh publish). A breaker's 8 steps (request, linkat/EEXIST, open,
    // flock, check, unlink, close, linkat) interleave with the others' steps under the
    // rotation.
    assert_eq!(progress::check_progress(&config(2, None).model(), 64), Ok(16));
    // 24 steps (3 processes; 23 before the kernel wait, 22 before the FIFO hand-off too): a
    // third process in the rotation.
    assert_eq!(progress::check_progress(&config(3, None).model(), 64), Ok(24));
    let h7 = progress::check_progress(&config(2, Some(Mutant::H7PidReuseTrust)).model(), 64);
    assert!(h7.unwrap_err().contains("ReusePid"), "stuck only after a pid reuse");
}

/// Checks: the `Mutant` API the runner relies on (ids, expected INV-1/INV-2/INV-3/INV-4).
#[test]
fn mutant_api() {
    let names: Vec<_> = Mutant::ALL.iter().map(|m| m.name()).collect();
    let liveness = ["M3", "breaker-livelock", "lifo-hand-off"];
    let history = ["H1", "H2", "H3", "H4", "H5", "H7"];
    let queue = ["releaser-barges", "wakes-nobody"];
    assert_eq!(names, [&history[..], &liveness, &["unbounded-hand-off"], &queue].concat());
    for &m in Mutant::ALL {
        assert!(["INV-1", "INV-2", "INV-3", "INV-4", "INV-9"].contains(&m.invariant()));
        let keeps_safety = liveness.contains(&m.name()) || m.name() == "wakes-nobody";
        assert_eq!(m.breaks_safety(), !keeps_safety, "{}", m.name());
        assert_eq!(m.needs_queue(), queue.contains(&m.name()), "{}", m.name());
        if m.breaks_safety() {
            assert!(expected_violations(m).iter().any(|v| v.starts_with(m.invariant())));
        }
    }
}

/// Checks: INV-1, INV-2, INV-4, INV-6 all hold for the liveness mutants, and the
/// breaker livelock passes even the bounded progress check: only the fair-cycle check of
/// `tests/fair_cycles.rs` tells it from the real protocol.
#[test]
fn liveness_mutants_keep_safety() {
    for &m in Mutant::ALL.iter().filter(|m| !m.breaks_safety()) {
        let report = check(&config(2, Some(m)));
        let safety: Vec<_> = report.violated.iter().filter(|v| *v != INV4_PROGRESS).collect();
        assert!(safety.is_empty(), "{}: {safety:?}", report.name);
        for (name, reached) in &report.reached {
            assert!(reached, "{}: sometimes-property {name:?} never reached", report.name);
        }
    }
    let livelock = check(&config(2, Some(Mutant::KernelWaitUnjudged)));
    assert!(livelock.violated.is_empty(), "{:?}", livelock.violated);
}

/// Checks: INV-1, INV-2, INV-4 (+ progress), INV-6 with deadlines and cancellation: any
/// task may abandon its acquire at any step before it holds, or its hold before its
/// release's unlink (closing its handle, leaving the queue or handing the turn on). The
/// refinement check replays the code's timeouts and cancellations as these steps, so the model it replays in must keep every property.
#[test]
fn real_protocol_with_deadlines() {
    let report = check(&SpecConfig { deadlines: true, ..SpecConfig::default() });
    assert_passes(&report);
    // 23777 states (7872 without): a task abandons from every acquiring step (a queued
    // waiter leaves the queue, one with the turn hands it on), and a dropped guard leaves
    // its file kernel-unlocked from every step before its unlink. 20455 before the FIFO
    // queue, 21361 before the in-memory hand-off.
    assert_eq!(report.unique_states, 23_777);
}

/// Checks: INV-3, INV-5 with deadlines: whoever gives up the turn hands it on. In every
/// reachable state of the 2-process model with `Abandon`, a process whose queue holds a
/// waiter has a non-idle entry (a waiter behind an idle entry is never woken), and a task
/// that abandons is in no queue. Reachability: waiters queue, and abandons are taken from
/// states with a waiter queued.
#[test]
fn an_abandon_hands_the_turn_on() {
    let model = SpecConfig { deadlines: true, ..SpecConfig::default() }.model();
    let (nodes, _) = trace::search(&model, |_| false);
    let mut abandons_with_waiters = 0;
    let mut actions = Vec::new();
    for (s, _) in &nodes {
        for (p, proc) in s.procs.iter().enumerate() {
            let stranded = !proc.queue.is_empty() && proc.entry == Entry::Idle;
            assert!(!stranded, "process {p}'s waiters behind an idle entry: {s:#?}");
        }
        model.actions(s, &mut actions);
        for action in actions.drain(..) {
            let Action::Abandon { task, .. } = action else { continue };
            abandons_with_waiters += usize::from(s.procs.iter().any(|p| !p.queue.is_empty()));
            let after = model.next_state(s, action).expect("an abandon always applies");
            assert!(after.procs.iter().all(|p| !p.queue.contains(&task)), "{after:#?}");
        }
    }
    assert!(abandons_with_waiters > 0, "no abandon with a waiter queued was explored");
}

/// The cross-process queue (`spec/protocol.md`, section 11), checked with `processes`
/// processes, the first with `tasks` tasks, and `crashes` crashes and as many pid reuses.
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

/// Checks: INV-1, INV-2, INV-4 (+ progress), INV-6, INV-9 (both parts) with the
/// cross-process queue: 2 processes (the first with 2 tasks), 1 crash, 1 pid reuse. Its
/// sometimes-properties add a queue of two waiters across processes, a waiter overtaken
/// N = P − 1 = 1 times (the bound is reached, so it is tight) and a crashed waiter's ticket
/// left in the queue.
#[test]
fn queue_keeps_every_invariant_with_two_processes() {
    let report = check(&queue_config(2, 2, 1));
    assert_passes_with(&report, 10);
    assert!(report.reached.iter().any(|(name, reached)| name == OVERTAKEN && *reached));
    // 53215 states (7872 without the queue): tickets, stale listings and the waits on a
    // predecessor's ticket, with the overtaking ghost; a ticket handed on in memory keeps
    // the id in its name.
    assert_eq!(report.unique_states, 53_215);
}

/// Checks: INV-1, INV-2, INV-4 (+ progress), INV-6, INV-9 (both parts) with the queue and
/// its try-acquire (`spec/protocol.md` section 11, T1 to T3): 2 processes (the first with 2
/// tasks), 1 crash, 1 pid reuse; any task with its process's turn may go the try way. Its
/// sometimes-properties add a try-acquire about to remove a dead waiter's ticket it listed,
/// and one that found a live waiter queued (it probes `L` and gives up): both ways of T2
/// are reached, and a waiter is still overtaken N = P − 1 = 1 times, never more.
#[test]
fn queue_try_acquire_keeps_every_invariant_with_two_processes() {
    let report = check(&SpecConfig { tries: true, ..queue_config(2, 2, 1) });
    assert_passes_with(&report, 12);
    // 111724 states (53215 without the try way): a try-acquire's listing marks the tickets it
    // listed, and its scan, probe and give-up run beside every acquire's steps; 108058 before
    // a try refused by a ticket's remover (`TryBusy`).
    assert_eq!(report.unique_states, 111_724);
}

/// Checks: INV-1, INV-2, INV-4, INV-6, INV-9 (both parts) with the queue and 3 processes
/// of one task each, 1 crash, 1 pid reuse: a waiter is overtaken N = P − 1 = 2 times, and
/// never more. (The progress check is skipped: it is covered with 2 processes.)
#[test]
fn queue_bounds_overtaking_with_three_processes() {
    let config = SpecConfig { progress_budget: None, threads: 2, ..queue_config(3, 1, 1) };
    let report = check(&config);
    assert!(report.violated.is_empty(), "{:?}\n{:?}", report.violated, report.counterexample);
    let unreached: Vec<_> = report.reached.iter().filter(|(_, r)| !*r).map(|(n, _)| n).collect();
    // One task per process: nobody parks in memory or is handed a file.
    assert_eq!(
        unreached,
        ["waiter parked on releasing entry", "K in-memory hand-offs of one file"],
        "{}",
        report.name
    );
    assert_eq!(report.unique_states, 2_576_892);
}

/// Checks: INV-9 (the cross-process part is refuted for `releaser-barges` with three
/// processes too, and the real queue passes there).
#[test]
fn releaser_barges_is_caught_with_three_processes() {
    let mutant = SpecConfig { mutant: Some(Mutant::ReleaserBarges), ..queue_config(3, 1, 0) };
    let report = check(&SpecConfig { progress_budget: None, ..mutant });
    assert_caught(Mutant::ReleaserBarges, &report, &[INV9_OVERTAKING]);
    let real = check(&SpecConfig { progress_budget: None, ..queue_config(3, 1, 0) });
    assert!(real.violated.is_empty(), "{:?}", real.violated);
}

/// Checks: INV-9 (`releaser-barges`: the releaser publishes `L` past a queued waiter of
/// another process, twice, where the bound for 2 processes is once).
#[test]
fn releaser_barges_overtakes_a_queued_waiter() {
    let m = SpecConfig { mutant: Some(Mutant::ReleaserBarges), ..queue_config(2, 2, 1) }.model();
    // Task 0 (P0) holds; task 2 (P1) finds L held, queues (a ticket) and waits in the kernel
    // on L's holder.
    let mut script = steps(&m, 0, &[Request, List, Linkat]);
    script.extend(steps(&m, 2, &[Request, List, Linkat, List, LinkTicket, FindPredecessor]));
    script.extend(steps(&m, 2, &[Linkat, Open, FlockNb]));
    let s = replay(&m, &script);
    assert!(matches!(s.tasks[2].pc, Pc::Waiting(_)) && s.tickets.len() == 1);
    // Task 0 releases and, with task 1, barges in twice before task 2 moves.
    script.extend(steps(&m, 0, &[BeginRelease, CheckPath, Unlink, Close, EndRelease]));
    script.extend(steps(&m, 1, &[Request, List, Linkat]));
    let s = replay(&m, &script);
    assert_eq!(s.tasks[2].overtaken, 1);
    assert!(properties::bounded_overtaking(&m, &s));
    script.extend(steps(&m, 1, &[BeginRelease, CheckPath, Unlink, Close, EndRelease]));
    script.extend(steps(&m, 0, &[Request, List, Linkat]));
    let s = replay(&m, &script);
    assert_eq!(s.tasks[2].overtaken, 2);
    assert!(!properties::bounded_overtaking(&m, &s));
    // The real queue: the releaser's sibling lists, finds the ticket and queues behind it.
    let real = queue_config(2, 2, 1).model();
    let mut script = steps(&real, 0, &[Request, List, Linkat]);
    script.extend(steps(&real, 2, &[Request, List, Linkat, List, LinkTicket, FindPredecessor]));
    script.extend(steps(&real, 0, &[BeginRelease, CheckPath, Unlink, Close, EndRelease]));
    script.extend(steps(&real, 1, &[Request, List, LinkTicket, FindPredecessor]));
    let s = replay(&real, &script);
    assert!(matches!(s.tasks[1].pc, Pc::Behind(_)), "task 1 waits behind task 2: {s:#?}");
}

/// Checks: INV-4, INV-9: a queued waiter SIGKILLed is skipped at once, through the kernel
/// proof: its successor's wait on its ticket returns at the crash, the successor removes
/// the dead ticket and publishes, with no timer.
#[test]
fn a_crashed_queued_waiter_is_skipped_at_once() {
    let m = queue_config(3, 1, 1).model();
    // Task 0 holds; task 1 queues at the head, task 2 behind it.
    let mut script = steps(&m, 0, &[Request, List, Linkat]);
    script.extend(steps(&m, 1, &[Request, List, Linkat, List, LinkTicket, FindPredecessor]));
    script.extend(steps(&m, 2, &[Request, List, LinkTicket, FindPredecessor]));
    let s = replay(&m, &script);
    assert_eq!(s.tickets.len(), 2);
    assert!(matches!(s.tasks[2].pc, Pc::Behind(_)));
    script.push(Action::Crash { pid: 1 });
    // Its ticket stays, its flock is free: task 2's wait returns, it removes the ticket.
    script.extend(steps(&m, 2, &[PredecessorWait, FindPredecessor]));
    let s = replay(&m, &script);
    assert_eq!(s.tickets.len(), 1, "the dead waiter's ticket is gone: {s:#?}");
    assert!(matches!(s.tasks[2].pc, Pc::Publish), "task 2 is the head: {s:#?}");
    // Task 0 releases (and removes no ticket: it had none); task 2 gets in.
    script.extend(steps(&m, 0, &[BeginRelease, CheckPath, Unlink, Close, EndRelease]));
    script.push(step(&m, 2, Linkat));
    let s = replay(&m, &script);
    assert!(matches!(s.tasks[2].pc, Pc::Held(_)));
    assert!(properties::mutual_exclusion(&m, &s) && properties::recovery(&m, &s));
}

/// Checks: INV-1, INV-2, INV-4 (+ progress), INV-6, INV-9 (both parts) with the queue and
/// deadlines: a queued waiter may give up at any step (it unlinks its ticket and closes
/// it), as may a holder with a ticket. With the queue on, the replay of the code's
/// timeouts and cancellations (once the code has the queue) needs exactly this.
#[test]
fn queue_with_deadlines() {
    let report = check(&SpecConfig { deadlines: true, ..queue_config(2, 2, 1) });
    assert_passes_with(&report, 10);
    // 205773 states (53215 without deadlines).
    assert_eq!(report.unique_states, 205_773);
}
