//! The refinement check: recorded traces of the real core replay in the spec, and a
//! trace the spec does not allow is rejected.
#![cfg(sessionlock_shuttle)]

use std::collections::BTreeMap;

use sessionlock_model::checkers::sequential;
use sessionlock_model::machine::Transition;
use sessionlock_model::refine::drivers::{TASKS, machine};
use sessionlock_model::refine::record::Registry;
use sessionlock_model::refine::{InodeView, Prim, Step, View, collect, replay, replay_queue};
use sessionlock_model::{Command, ModelFs, Op, Subject, World, runner};

/// Checks: INV-2 (refinement): the recorded traces of a small proptest-machine run
/// replay in the spec step by step, and the run reached contention and releases.
#[test]
fn machine_traces_replay_in_the_spec() {
    sequential(|| {
        let (coverage, result) = machine(32);
        result.unwrap();
        assert!(coverage.traces > 0 && coverage.steps > 0, "{coverage:?}");
        assert!(coverage.contention > 0 && coverage.releases > 0, "{coverage:?}");
        assert!(coverage.registry > 0, "registry transitions replayed: {coverage:?}");
        assert!(
            coverage.hand_offs > 0 && coverage.ends > 0,
            "FIFO hand-offs and ends: {coverage:?}"
        );
        assert!(coverage.handed > 0, "in-memory hand-offs replayed: {coverage:?}");
        eprintln!("{coverage:?}");
    });
}

/// An inode published by `pid` (first incarnation), its kernel lock held by `flock`.
fn inode(pid: u32, flock: Option<u32>) -> InodeView {
    InodeView { publisher: Some((pid, 1)), flock }
}

/// Builds a trace step by step, each step with the world's abstraction after it.
#[derive(Default)]
struct Trace {
    steps: Vec<Step>,
    view: View,
}

impl Trace {
    fn step(&mut self, pid: u32, prim: Prim, change: impl FnOnce(&mut View)) -> &mut Self {
        change(&mut self.view);
        self.view.unnamed.sort();
        self.steps.push(Step { pid, task: None, prim, ticket: false, after: self.view.clone() });
        self
    }

    /// Step `prim` of `pid` on a ticket of the queue.
    fn on_ticket(&mut self, pid: u32, prim: Prim, change: impl FnOnce(&mut View)) -> &mut Self {
        self.step(pid, prim, change);
        if let Some(last) = self.steps.last_mut() {
            last.ticket = true;
        }
        self
    }

    /// The core's registry transition `event` of process `pid`, by the driver's task `task`.
    fn event(&mut self, pid: u32, task: u8, event: Registry) -> &mut Self {
        self.step(pid, Prim::Registry(event), |_| {});
        if let Some(last) = self.steps.last_mut() {
            last.task = Some(task);
        }
        self
    }
}

/// Two breakers of a crashed holder's file X: process 101 breaks it and publishes Y,
/// while 102, which opened X before the break, waits in the kernel on X, gets its lock,
/// and finds the path naming Y. `last` is what 102 does then.
fn two_breakers(last: Prim) -> Vec<Step> {
    let x = |flock| inode(100, flock);
    let y = inode(101, Some(101));
    let mut t =
        Trace { view: View { procs: BTreeMap::new(), ..View::default() }, ..Trace::default() };
    for pid in [100, 101, 102] {
        t.step(pid, Prim::Spawn { reused: false }, |v| _ = v.procs.insert(pid, (true, 1)));
    }
    t.step(100, Prim::Publish { created: true }, |v| v.named = Some(x(Some(100))))
        .step(100, Prim::Crash, |v| {
            v.named = Some(x(None));
            v.procs.insert(100, (false, 1));
        })
        .step(101, Prim::Publish { created: false }, |_| {})
        .step(101, Prim::Open { found: true }, |_| {})
        .step(102, Prim::Publish { created: false }, |_| {})
        .step(102, Prim::Open { found: true }, |_| {})
        .step(101, Prim::TryLock { got: true }, |v| v.named = Some(x(Some(101))))
        .step(102, Prim::TryLock { got: false }, |_| {})
        .step(102, Prim::LockWait, |_| {})
        .step(101, Prim::PathId, |_| {})
        .step(101, Prim::Unlink, |v| {
            v.named = None;
            v.unnamed = vec![x(Some(101))];
        })
        .step(101, Prim::Close, |v| v.unnamed = vec![x(None)])
        .step(102, Prim::LockGranted, |v| v.unnamed = vec![x(Some(102))])
        .step(101, Prim::Publish { created: true }, |v| v.named = Some(y))
        .step(102, Prim::PathId, |_| {});
    match last {
        Prim::Unlink => t.step(102, Prim::Unlink, |v| {
            v.named = None;
            v.unnamed = vec![x(Some(102)), y];
        }),
        _ => t.step(102, Prim::Close, |v| v.unnamed = vec![]),
    };
    t.steps
}

/// Checks: INV-2 (refinement): the second breaker's unlink of a path that names another
/// inode than the one it judged (the M2 mutant's step) is rejected, naming the step, even
/// though the trace never shows two holders; the same trace with the close the protocol
/// does instead replays, takeover included.
#[test]
fn an_unlink_of_another_inode_than_judged_is_rejected() {
    sequential(|| {
        let good = replay(&two_breakers(Prim::Close), TASKS).expect("the protocol's trace replays");
        assert_eq!((good.takeovers, good.kernel_waits, good.contention), (1, 1, 2), "{good:?}");
        let bad = two_breakers(Prim::Unlink);
        let rejection = replay(&bad, TASKS).expect_err("an unlink of an unjudged inode");
        assert_eq!(rejection.index, bad.len() - 1, "{rejection}");
        assert_eq!((rejection.step.pid, rejection.step.prim), (102, Prim::Unlink));
        let message = rejection.to_string();
        assert!(message.contains("is not enabled in the spec"), "{message}");
        assert!(message.starts_with("refinement: step 19 (process 102 Unlink)"), "{message}");
    });
}

/// Checks: INV-2 (refinement): in a build with a core mutant compiled in, a refinement
/// rejection (here the M2 mutant's unlink) is a catch of its own kind, named by the step
/// the spec refused and the driver whose trace took it, not one of the "other failures";
/// a failure that names neither an invariant of the mutant nor a step is no catch.
#[test]
fn a_refinement_rejection_counts_as_a_mutant_catch() {
    sequential(|| {
        let rejection = replay(&two_breakers(Prim::Unlink), TASKS).expect_err("M2's unlink");
        let failed = |message: String| runner::Row {
            scenario: "traces of machines, scripts, crash points, shuttle".into(),
            checker: "refinement (trace replay)".into(),
            checks: Vec::new(),
            explored: "-".into(),
            hits: 0,
            reached: "-".into(),
            result: Err(message),
        };
        let m2 = sessionlock_model::core_mutants::ALL
            .iter()
            .find(|m| m.name == "m2_remove_by_path")
            .expect("M2 is a core mutant");
        let message = format!("proptest machine: {rejection}\nminimal case (3 transitions): []");
        assert!(runner::print_core_mutant(m2, &[failed(message.clone())]), "{message}");
        assert_eq!(
            runner::refinement_rejection(&message).as_deref(),
            Some("refinement step 19 in proptest machine"),
        );
        let unnamed = "proptest machine: aborted: too many global rejects".to_owned();
        assert!(!runner::print_core_mutant(m2, &[failed(unnamed.clone())]));
        assert_eq!(runner::refinement_rejection(&unnamed), None);
    });
}

/// Checks: INV-2, INV-3 (refinement): the traces of the scripts (the zoo's, the seed-race
/// gate) and of a crash at every point of the crash-point scripts replay in the spec,
/// registry transitions included (each by its task), and they reached a takeover after a
/// crash and recorded ends of acquires.
#[test]
fn script_traces_replay_in_the_spec() {
    sequential(|| {
        use sessionlock_model::refine::drivers::{crash_points, scripts};
        for (what, (coverage, result)) in [("scripts", scripts()), ("crash points", crash_points())]
        {
            result.unwrap();
            assert!(coverage.traces > 0 && coverage.takeovers > 0, "{what}: {coverage:?}");
            assert!(coverage.registry > 0, "{what}: registry transitions replayed: {coverage:?}");
            eprintln!("{what}: {coverage:?}");
        }
    });
}

/// Checks: INV-2, INV-3 (refinement): the traces of shuttle's random schedules of every
/// scenario replay in the spec, registry transitions included (each by the task whose
/// thread reported it), FIFO hand-offs, in-memory hand-offs and ends of acquires among
/// them.
#[test]
fn shuttle_traces_replay_in_the_spec() {
    sequential(|| {
        let (coverage, result) = sessionlock_model::refine::drivers::shuttle(20);
        result.unwrap();
        assert!(coverage.traces > 0 && coverage.contention > 0, "{coverage:?}");
        assert!(coverage.registry > 0 && coverage.hand_offs > 0, "{coverage:?}");
        assert!(coverage.handed > 0 && coverage.ends > 0, "{coverage:?}");
        eprintln!("{coverage:?}");
    });
}

/// Checks: INV-3 (refinement), H1: a second task of a process publishing while the
/// process's first task is still releasing (the entry handed on before the file is
/// removed, mutant `m1_release_before_remove`) is rejected at that publish; the order
/// the protocol keeps (remove, close, then hand on) replays, with the core's registry
/// transitions.
#[test]
fn a_publish_while_the_own_process_releases_is_rejected() {
    sequential(|| {
        let x = inode(100, Some(100));
        let trace = |handed_on_first: bool| {
            let mut t = Trace::default();
            t.step(100, Prim::Spawn { reused: false }, |v| _ = v.procs.insert(100, (true, 1)))
                .step(100, Prim::Publish { created: true }, |v| v.named = Some(x))
                .step(100, Prim::Registry(Registry::Acquired), |_| {})
                .step(100, Prim::Registry(Registry::Queued { behind_releasing: false }), |_| {});
            if handed_on_first {
                // The waiter runs before the holder's file is gone: it meets that file.
                t.step(100, Prim::Publish { created: false }, |_| {});
            }
            t.step(100, Prim::PathId, |_| {})
                .step(100, Prim::Unlink, |v| {
                    v.named = None;
                    v.unnamed = vec![x];
                })
                .step(100, Prim::Close, |v| v.unnamed = vec![])
                .step(100, Prim::Registry(Registry::Released), |_| {})
                .step(100, Prim::Publish { created: true }, |v| v.named = Some(x))
                .step(100, Prim::Registry(Registry::Acquired), |_| {});
            t.steps
        };
        let good = replay(&trace(false), TASKS).expect("remove, close, then hand on");
        assert_eq!((good.releases, good.registry), (1, 4), "{good:?}");
        let rejection = replay(&trace(true), TASKS).expect_err("a publish while releasing");
        assert_eq!((rejection.index, rejection.step.prim), (4, Prim::Publish { created: false }));
        assert!(rejection.to_string().contains("is not enabled in the spec"), "{rejection}");
    });
}

/// Checks: INV-2 (refinement): the traces of the fault-plan machine replay in the spec
/// (an injected error is a failed primitive without effect; race faults are skipped).
#[test]
fn fault_plan_traces_replay_in_the_spec() {
    sequential(|| {
        let (coverage, result) = sessionlock_model::refine::drivers::fault_plans(32);
        result.unwrap();
        assert!(coverage.traces > 0 && coverage.steps > 0, "{coverage:?}");
        eprintln!("{coverage:?}");
    });
}

/// A driver that panics inside `collect` leaves the thread as it found it: a world made
/// afterwards, outside any `collect`, records nothing (before, it recorded every step into
/// a sink nobody read, for the rest of the thread's life).
#[test]
fn a_panic_inside_collect_stops_the_collecting() {
    sequential(|| {
        // The same steps inside a collect are recorded: the check below is not vacuous.
        let (_, traces) = collect(|| {
            let world = World::new();
            ModelFs::spawn(&world, 100);
        });
        assert!(traces.iter().any(|t| !t.is_empty()), "a spawn inside collect is recorded");
        let failed = runner::guarded(|| {
            collect(|| {
                let _world = World::new();
                panic!("a driver failed");
            })
        });
        assert!(failed.is_err(), "the driver's panic came through");
        let world = World::new();
        ModelFs::spawn(&world, 100);
        assert!(world.trace().is_empty(), "a world outside collect recorded: {:?}", world.trace());
    });
}

/// One process (pid 100) of two tasks: task 0 holds its file X, task 1 queues behind it,
/// task 0 releases (removes X, closes it, hands the turn on), then `next` happens. The
/// events name the driver's task, as the proptest machine records them.
fn hand_off(next: impl FnOnce(&mut Trace)) -> Vec<Step> {
    let x = inode(100, Some(100));
    let mut t = Trace::default();
    t.step(100, Prim::Spawn { reused: false }, |v| _ = v.procs.insert(100, (true, 1)))
        .event(100, 0, Registry::Begun)
        .step(100, Prim::Publish { created: true }, |v| v.named = Some(x))
        .event(100, 0, Registry::Acquired)
        .event(100, 1, Registry::Begun)
        .event(100, 1, Registry::Queued { behind_releasing: false })
        .step(100, Prim::PathId, |_| {})
        .step(100, Prim::Unlink, |v| {
            v.named = None;
            v.unnamed = vec![x];
        })
        .step(100, Prim::Close, |v| v.unnamed = vec![])
        .event(100, 0, Registry::Released);
    next(&mut t);
    t.steps
}

/// Erases the task names of `trace`'s events (as a driver that does not name them records).
fn unnamed(mut trace: Vec<Step>) -> Vec<Step> {
    for step in &mut trace {
        step.task = None;
    }
    trace
}

/// Checks: INV-3 (refinement, FIFO within a process): after a release, the turn goes to
/// the waiter queued behind it; a newcomer (the releasing task acquiring again) that
/// wins the turn over that waiter is rejected at its grant, naming it. It is the task
/// names that catch it: the same trace with the names erased replays (the waiter may
/// then be the one granted). A waiter that gave up (its recorded end) lets the newcomer
/// in, and the FIFO order replays.
#[test]
fn a_newcomer_winning_the_turn_over_a_waiter_is_rejected() {
    sequential(|| {
        let x = inode(100, Some(100));
        let republish =
            |t: &mut Trace| _ = t.step(100, Prim::Publish { created: true }, |v| v.named = Some(x));
        let fifo = hand_off(|t| {
            republish(t);
            t.event(100, 1, Registry::Acquired);
        });
        let good = replay(&fifo, TASKS).expect("the waiter gets the turn");
        assert_eq!((good.releases, good.registry), (1, 6), "{good:?}");
        let newcomer = hand_off(|t| {
            t.event(100, 0, Registry::Begun);
            republish(t);
            t.event(100, 0, Registry::Acquired);
        });
        let rejection = replay(&newcomer, TASKS).expect_err("a newcomer wins the turn");
        assert_eq!(rejection.index, newcomer.len() - 1, "{rejection}");
        assert_eq!(
            (rejection.step.task, rejection.step.prim),
            (Some(0), Prim::Registry(Registry::Acquired))
        );
        assert!(rejection.to_string().contains("registry transition no spec state"), "{rejection}");
        replay(&unnamed(newcomer), TASKS).expect("without names, the grant may be the waiter's");
        let gave_up = hand_off(|t| {
            t.event(100, 1, Registry::Ended).event(100, 0, Registry::Begun);
            republish(t);
            t.event(100, 0, Registry::Acquired);
        });
        let good = replay(&gave_up, TASKS).expect("the waiter gave up first");
        assert_eq!(good.registry, 8, "{good:?}");
    });
}

/// Checks: INV-3 (refinement), mutant `withdraw_ignores_granted`: a waiter handed the
/// turn that then gives up must hand it on; a turn it keeps (the next acquire of the
/// process queues behind it) is rejected at that queueing. Without the recorded end, the
/// trace replays (the spec may keep the waiter parked), so the end is what catches it.
#[test]
fn a_turn_kept_by_a_waiter_that_gave_up_is_rejected() {
    sequential(|| {
        let kept = hand_off(|t| {
            t.event(100, 1, Registry::Ended).event(100, 0, Registry::Begun).event(
                100,
                0,
                Registry::Queued { behind_releasing: false },
            );
        });
        let rejection = replay(&kept, TASKS).expect_err("a turn kept by a waiter that gave up");
        assert_eq!(rejection.index, kept.len() - 1, "{rejection}");
        assert_eq!(
            rejection.step.prim,
            Prim::Registry(Registry::Queued { behind_releasing: false })
        );
        let no_end: Vec<Step> =
            kept.iter().filter(|s| s.prim != Prim::Registry(Registry::Ended)).cloned().collect();
        replay(&no_end, TASKS).expect("without the end, the waiter may still be parked");
    });
}

/// Checks: INV-3 (refinement, FIFO within a process): the proptest machine's run where
/// task 1 of pid 100 queues behind task 0 and times out, then task 0 releases and
/// acquires again, replays, and it reached that order (task 1's recorded end, task 0's
/// release, task 0's grant). The same trace without task 1's end is rejected at task 0's
/// grant: the turn was task 1's, so it is the recorded end that lets task 0 in.
#[test]
fn a_waiter_that_timed_out_lets_the_next_acquire_in() {
    sequential(|| {
        let begin = |task, op| Transition::Begin(Command { task, op });
        let transitions = [
            begin(0, Op::Acquire),
            Transition::Settle,
            begin(1, Op::Acquire),
            Transition::Step(1),
            Transition::Advance(10_001),
            Transition::Step(1),
            begin(0, Op::Release),
            Transition::Settle,
            begin(0, Op::Acquire),
            Transition::Settle,
        ];
        let (_, traces) =
            collect(|| sessionlock_model::machine::replay(Subject::Core, &transitions));
        let trace = &traces[0];
        // The first step of `task` showing `event` after step `from`.
        let at = |from: usize, task, event| {
            let found = trace[from..]
                .iter()
                .position(|s| s.task == Some(task) && s.prim == Prim::Registry(event));
            found.map(|i| from + i)
        };
        let ended = at(0, 1, Registry::Ended).expect("task 1 gave up");
        let released = at(ended, 0, Registry::Released).expect("then task 0 released");
        let granted = at(released, 0, Registry::Acquired).expect("then task 0 acquired again");
        let replayed = replay(trace, TASKS).unwrap_or_else(|r| panic!("{r}"));
        assert_eq!(replayed.releases, 3, "two by task 0, one at teardown: {replayed:?}");
        let mut no_end = trace.clone();
        no_end.remove(ended);
        let rejection = replay(&no_end, TASKS).expect_err("the turn was task 1's");
        assert_eq!(rejection.index, granted - 1, "{rejection}");
    });
}

/// Checks: INV-3 (refinement, FIFO within a process), the spec mutant `lifo-hand-off`'s
/// order in the code: with three tasks in pid 100, task 0 holds, tasks 1 then 2 queue,
/// and task 0 releases; the turn must go to task 1. A grant to task 2 (the last queued)
/// is rejected at that grant; the grant to task 1 replays.
#[test]
fn a_hand_off_to_the_last_waiter_is_rejected() {
    sequential(|| {
        let x = inode(100, Some(100));
        let trace = |granted: u8| {
            let mut t = Trace::default();
            t.step(100, Prim::Spawn { reused: false }, |v| _ = v.procs.insert(100, (true, 1)))
                .event(100, 0, Registry::Begun)
                .step(100, Prim::Publish { created: true }, |v| v.named = Some(x))
                .event(100, 0, Registry::Acquired)
                .event(100, 1, Registry::Begun)
                .event(100, 1, Registry::Queued { behind_releasing: false })
                .event(100, 2, Registry::Begun)
                .event(100, 2, Registry::Queued { behind_releasing: false })
                .step(100, Prim::PathId, |_| {})
                .step(100, Prim::Unlink, |v| {
                    v.named = None;
                    v.unnamed = vec![x];
                })
                .step(100, Prim::Close, |v| v.unnamed = vec![])
                .event(100, 0, Registry::Released)
                .step(100, Prim::Publish { created: true }, |v| v.named = Some(x))
                .event(100, granted, Registry::Acquired);
            t.steps
        };
        let fifo = replay(&trace(1), 3).expect("the first waiter gets the turn");
        assert_eq!((fifo.registry, fifo.hand_offs), (8, 1), "{fifo:?}");
        let lifo = trace(2);
        let rejection = replay(&lifo, 3).expect_err("the last waiter gets the turn");
        assert_eq!(rejection.index, lifo.len() - 1, "{rejection}");
        assert_eq!(rejection.step.task, Some(2), "{rejection}");
    });
}

/// One process (pid 100) of two tasks: task 0 publishes X and holds it; then `rounds`
/// times, the other task queues behind the holder, which hands it the hold in memory
/// (nothing on the filesystem changes), and it wakes holding. The events name the task.
fn in_memory_hand_offs(rounds: u32) -> (Trace, u8) {
    let x = inode(100, Some(100));
    let mut t = Trace::default();
    t.step(100, Prim::Spawn { reused: false }, |v| _ = v.procs.insert(100, (true, 1)))
        .event(100, 0, Registry::Begun)
        .step(100, Prim::Publish { created: true }, |v| v.named = Some(x))
        .event(100, 0, Registry::Acquired);
    let mut holder = 0;
    for _ in 0..rounds {
        let next = 1 - holder;
        t.event(100, next, Registry::Begun)
            .event(100, next, Registry::Queued { behind_releasing: false })
            .event(100, holder, Registry::HandedOff)
            .event(100, next, Registry::Acquired);
        holder = next;
    }
    (t, holder)
}

/// Checks: INV-9 (refinement): a release with a sibling queued hands it the hold in memory,
/// with no filesystem step at all, and the new holder later releases the same file through
/// the disk; the spec's `HandOff` and the waiter's wake-up replay it.
#[test]
fn an_in_memory_hand_off_replays() {
    sequential(|| {
        let (mut t, holder) = in_memory_hand_offs(1);
        let x = inode(100, Some(100));
        t.step(100, Prim::PathId, |_| {})
            .step(100, Prim::Unlink, |v| {
                v.named = None;
                v.unnamed = vec![x];
            })
            .step(100, Prim::Close, |v| v.unnamed = vec![])
            .event(100, holder, Registry::Released);
        let replayed = replay(&t.steps, TASKS).unwrap_or_else(|r| panic!("{r}"));
        assert_eq!(
            (replayed.handed, replayed.hand_offs, replayed.releases),
            (1, 1, 1),
            "{replayed:?}"
        );
    });
}

/// Checks: INV-9 (refinement): K = `HAND_OFF_BOUND` hand-offs of one file in a row replay;
/// one more, instead of the release through the disk, is rejected at that hand-off (the
/// spec's `HandOff` is disabled at the bound), as the mutant `unbounded-hand-off` of the
/// spec would do it.
#[test]
fn a_hand_off_past_the_bound_is_rejected() {
    sequential(|| {
        let bound = sessionlock::core::registry::HAND_OFF_BOUND;
        let (at_bound, _) = in_memory_hand_offs(bound);
        let replayed = replay(&at_bound.steps, TASKS).unwrap_or_else(|r| panic!("{r}"));
        assert_eq!(replayed.handed, u64::from(bound), "{replayed:?}");
        let (past, _) = in_memory_hand_offs(bound + 1);
        let rejection = replay(&past.steps, TASKS).expect_err("K + 1 hand-offs of one file");
        assert_eq!(rejection.index, past.steps.len() - 2, "{rejection}");
        assert_eq!(rejection.step.prim, Prim::Registry(Registry::HandedOff), "{rejection}");
    });
}

/// Checks: INV-9, INV-3 (refinement): a hand-off to a waiter that gave up (its recorded
/// end comes first, so it left the queue) is rejected at the hand-off: nobody is queued.
#[test]
fn a_hand_off_to_a_waiter_that_gave_up_is_rejected() {
    sequential(|| {
        let x = inode(100, Some(100));
        let mut t = Trace::default();
        t.step(100, Prim::Spawn { reused: false }, |v| _ = v.procs.insert(100, (true, 1)))
            .event(100, 0, Registry::Begun)
            .step(100, Prim::Publish { created: true }, |v| v.named = Some(x))
            .event(100, 0, Registry::Acquired)
            .event(100, 1, Registry::Begun)
            .event(100, 1, Registry::Queued { behind_releasing: false })
            .event(100, 1, Registry::Ended)
            .event(100, 0, Registry::HandedOff);
        let rejection = replay(&t.steps, TASKS).expect_err("a hand-off to a waiter that gave up");
        assert_eq!(rejection.index, t.steps.len() - 1, "{rejection}");
        let mut kept = t.steps.clone();
        kept.retain(|s| s.prim != Prim::Registry(Registry::Ended));
        replay(&kept, TASKS)
            .unwrap_or_else(|r| panic!("without the end, the waiter is there: {r}"));
    });
}

/// Checks: INV-9 (refinement): the proptest machine's run where task 1 of pid 100 queues
/// behind task 0's hold and task 0 releases: the core hands the hold off in memory (no
/// unlink, no publish in between), and the trace replays with that hand-off.
#[test]
fn the_core_hands_off_in_memory_and_the_trace_replays() {
    sequential(|| {
        let begin = |task, op| Transition::Begin(Command { task, op });
        let transitions = [
            begin(0, Op::Acquire),
            Transition::Settle,
            begin(1, Op::Acquire),
            Transition::Step(1),
            begin(0, Op::Release),
            Transition::Settle,
        ];
        let (_, traces) =
            collect(|| sessionlock_model::machine::replay(Subject::Core, &transitions));
        let trace = &traces[0];
        let handed = trace
            .iter()
            .position(|s| s.task == Some(0) && s.prim == Prim::Registry(Registry::HandedOff))
            .expect("task 0 handed its hold off");
        let publishes = trace
            .iter()
            .filter(|s| s.pid == trace[handed].pid && matches!(s.prim, Prim::Publish { .. }))
            .count();
        let unlinks_before = trace[..handed].iter().filter(|s| s.prim == Prim::Unlink).count();
        assert_eq!(unlinks_before, 0, "nothing was unlinked before the hand-off");
        let granted = trace[handed..]
            .iter()
            .position(|s| s.task == Some(1) && s.prim == Prim::Registry(Registry::Acquired))
            .expect("task 1 acquired");
        assert!(
            trace[handed..handed + granted].iter().all(|s| matches!(s.prim, Prim::Registry(_))),
            "no filesystem step between the hand-off and the grant: {trace:?}"
        );
        assert_eq!(publishes, 1, "one publish of the process for both holds: {trace:?}");
        let replayed = replay(trace, TASKS).unwrap_or_else(|r| panic!("{r}"));
        assert_eq!(replayed.handed, 1, "{replayed:?}");
    });
}

/// A guard of a crashed incarnation, dropped by the driver after its pid came back as a
/// new incarnation, hands its hold off in memory as part of the teardown: the process ran
/// no code, so that is no step of it, and its trace (the shrunk case the proptest machine
/// found) replays.
/// Checks: INV-9
#[test]
fn a_hand_off_by_a_dropped_guard_of_an_old_incarnation_is_no_step() {
    sequential(|| {
        use sessionlock_model::machine::Transition::{Begin, Crash, Restart, Settle, Step as Poll};
        let command = |task, op| Begin(Command { task, op });
        let transitions = [
            Poll(1),
            Settle,
            Crash(1),
            Settle,
            command(1, Op::Acquire),
            Settle,
            command(1, Op::Release),
            Settle,
            Restart(1),
            command(2, Op::Acquire),
            Settle,
            command(2, Op::Release),
            command(3, Op::Acquire),
            Poll(3),
            Crash(1),
            Restart(1),
        ];
        let (_, traces) =
            collect(|| sessionlock_model::machine::replay(Subject::Core, &transitions));
        let queued = traces
            .iter()
            .flatten()
            .any(|s| matches!(s.prim, Prim::Registry(Registry::Queued { .. })) && s.pid == 101);
        assert!(queued, "task 3 queued behind task 2's hold: {traces:?}");
        for trace in &traces {
            replay(trace, TASKS).unwrap();
        }
    });
}

/// In a recorded trace of one process, the first grant (`Acquired`) of a task while
/// another task queued after it still waits: the grant's index and that later waiter.
fn first_grant_with_a_later_waiter(trace: &[Step]) -> Option<(usize, u8)> {
    let mut waiting: Vec<u8> = Vec::new();
    for (index, step) in trace.iter().enumerate() {
        let (Prim::Registry(event), Some(task)) = (step.prim, step.task) else { continue };
        match event {
            Registry::Queued { .. } => waiting.push(task),
            Registry::Acquired if waiting.len() >= 2 && waiting[0] == task => {
                return Some((index, waiting[1]));
            }
            Registry::Acquired | Registry::Ended => waiting.retain(|&t| t != task),
            _ => {}
        }
    }
    None
}

/// Checks: INV-3 (refinement, FIFO within a process), under shuttle: shuttle's random
/// schedules of three tasks of one process record the core's registry transitions, each
/// by the task whose thread reports it, and every trace replays. In each recorded trace
/// where two tasks wait and the first of them is granted, the same grant given to the
/// later waiter instead is rejected at that grant.
#[test]
fn a_later_waiter_granted_in_a_shuttle_trace_is_rejected() {
    sequential(|| {
        use sessionlock_model::checkers::{Strategy, explore_from};
        let scenario = &sessionlock_model::scenarios::THREE_TASKS_TWO_ROUNDS;
        let body = move || {
            sessionlock_model::harness::run(scenario, Subject::Core);
        };
        let (_, traces) =
            collect(|| runner::guarded(|| explore_from(body, Strategy::Random, 200, Some(7))));
        assert_eq!(traces.len(), 200, "one trace per schedule");
        let mut overtakings = 0;
        for trace in &traces {
            let replayed = replay(trace, 3).unwrap_or_else(|r| panic!("{r}"));
            assert!(replayed.registry > 0, "registry transitions recorded under shuttle");
            let Some((grant, later)) = first_grant_with_a_later_waiter(trace) else { continue };
            let mut overtaken = trace.clone();
            overtaken[grant].task = Some(later);
            let rejection = replay(&overtaken, 3).expect_err("a later waiter granted first");
            assert_eq!(rejection.index, grant, "{rejection}");
            overtakings += 1;
        }
        assert!(overtakings > 0, "no schedule had two waiters with the first one granted");
        eprintln!("{overtakings} of {} schedules had two waiters", traces.len());
    });
}

/// Checks: INV-9, INV-2, INV-4 (refinement, the queue): the recorded traces of the proptest
/// machine with the cross-process queue on replay in the spec with its `queue` option,
/// step by step, and they reached a ticket published, a dead waiter's ticket removed by
/// its successor (`PredecessorWait`), a ticket removed at the end of a release
/// (`UnlinkTicket`), a give-up with a ticket and a queue of two; and, from its
/// try-acquires, a dead waiter's ticket removed (`TryTicket` at its unlink) and a live
/// waiter found (`TryTicket` or `TryBusy` at a refused try), the lock then reported held.
/// No trace is skipped: a try-acquire that meets the queue or finds L taken replays too.
#[test]
fn queue_machine_traces_replay_in_the_spec() {
    sequential(|| {
        let (coverage, result) = sessionlock_model::refine::drivers::machine_queue(256);
        result.unwrap();
        eprintln!("{coverage:?}");
        assert!(coverage.traces > 0 && coverage.releases > 0, "{coverage:?}");
        assert!(coverage.tickets_linked > 0 && coverage.tickets_left > 0, "{coverage:?}");
        assert!(coverage.dead_tickets > 0, "a dead waiter's ticket removed: {coverage:?}");
        assert!(coverage.ticket_give_ups > 0, "a give-up with a ticket: {coverage:?}");
        assert!(coverage.longest_queue >= 2, "a queue of two: {coverage:?}");
        assert_eq!(coverage.skipped, 0, "every trace replays, try-acquires included");
        assert!(coverage.try_dead_tickets > 0, "a try-acquire removed a dead waiter's ticket");
        assert!(coverage.tries_busy > 0, "a try-acquire found the queue busy: {coverage:?}");
    });
}

/// Checks: INV-9, INV-2, INV-4 (refinement, the queue): the traces of shuttle's random
/// schedules of the queue's scenarios (three processes, a waiter's crash, give-ups, inode
/// drift) replay in the spec with its `queue` option, and reached a dead waiter's ticket
/// removed by its successor, give-ups with a ticket and a queue of two.
#[test]
fn queue_shuttle_traces_replay_in_the_spec() {
    sequential(|| {
        let (coverage, result) = sessionlock_model::refine::drivers::shuttle_queue(60);
        result.unwrap();
        eprintln!("{coverage:?}");
        assert!(coverage.traces > 0 && coverage.tickets_linked > 0, "{coverage:?}");
        assert!(coverage.tickets_left > 0 && coverage.dead_tickets > 0, "{coverage:?}");
        assert!(coverage.ticket_give_ups > 0 && coverage.longest_queue >= 2, "{coverage:?}");
    });
}

/// The start both [`queue_trace`] and [`try_trace`] share: process 100 holds L; 101 finds it
/// held, joins the queue (a ticket) and, at its head, waits in the kernel on 100's file;
/// 100 releases (its path check, unlink and close).
fn queued_behind_a_release() -> Trace {
    let x = |flock| inode(100, flock);
    let theirs = inode(101, Some(101));
    let mut t = Trace::default();
    for pid in [100, 101] {
        t.step(pid, Prim::Spawn { reused: false }, |v| _ = v.procs.insert(pid, (true, 1)));
    }
    t.step(100, Prim::Tickets, |_| {})
        .step(100, Prim::Publish { created: true }, |v| v.named = Some(x(Some(100))))
        .step(101, Prim::Tickets, |_| {})
        .step(101, Prim::Publish { created: false }, |_| {})
        .step(101, Prim::Tickets, |_| {})
        .on_ticket(101, Prim::Publish { created: true }, |v| v.tickets = vec![theirs])
        .step(101, Prim::Tickets, |_| {})
        .step(101, Prim::Publish { created: false }, |_| {})
        .step(101, Prim::Open { found: true }, |_| {})
        .step(101, Prim::TryLock { got: false }, |_| {})
        .step(101, Prim::LockWait, |_| {})
        .step(100, Prim::PathId, |_| {})
        .step(100, Prim::Unlink, |v| {
            v.named = None;
            v.unnamed = vec![x(Some(100))];
        })
        .step(100, Prim::Close, |v| v.unnamed = vec![x(None)]);
    t
}

/// How process 100 (one task) acquires again after its release, while process 101 waits
/// with a ticket ([`queue_trace`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Again {
    /// It lists the tickets, queues behind 101's, and gets in after 101's release.
    Queues,
    /// It publishes L at once, without a look at the tickets (the core mutant
    /// `releaser_barges`).
    Barges,
    /// It queues, then unlinks 101's ticket while 101, alive, holds its flock.
    UnlinksALiveTicket,
}

/// Process 100 holds L; 101 finds it held, joins the queue (a ticket) and, at its head,
/// waits in the kernel on 100's file; 100 releases, then acquires again as `again` says.
fn queue_trace(again: Again) -> Vec<Step> {
    let x = |flock| inode(100, flock);
    let mine = inode(100, Some(100));
    let theirs = inode(101, Some(101));
    let mut t = queued_behind_a_release();
    match again {
        Again::Barges => {
            t.step(100, Prim::Publish { created: true }, |v| v.named = Some(x(Some(100))));
            return t.steps;
        }
        Again::Queues | Again::UnlinksALiveTicket => {}
    }
    t.step(100, Prim::Tickets, |_| {})
        .on_ticket(100, Prim::Publish { created: true }, |v| v.tickets = vec![theirs, mine])
        .step(100, Prim::Tickets, |_| {})
        .on_ticket(100, Prim::Open { found: true }, |_| {})
        .on_ticket(100, Prim::LockWait, |_| {});
    if again == Again::UnlinksALiveTicket {
        t.on_ticket(100, Prim::PathId, |_| {})
            .on_ticket(100, Prim::Unlink, |v| v.tickets = vec![mine]);
        return t.steps;
    }
    let y = |flock| inode(101, flock);
    t.step(101, Prim::LockGranted, |v| v.unnamed = vec![x(Some(101))])
        .step(101, Prim::PathId, |_| {})
        .step(101, Prim::Close, |v| v.unnamed = vec![])
        .step(101, Prim::Publish { created: true }, |v| v.named = Some(y(Some(101))))
        .step(101, Prim::PathId, |_| {})
        .step(101, Prim::Unlink, |v| {
            v.named = None;
            v.unnamed = vec![y(Some(101))];
        })
        .step(101, Prim::Close, |v| v.unnamed = vec![])
        .on_ticket(101, Prim::PathId, |_| {})
        .on_ticket(101, Prim::Unlink, |v| v.tickets = vec![mine])
        .on_ticket(101, Prim::Close, |_| {})
        .on_ticket(100, Prim::LockGranted, |_| {})
        .on_ticket(100, Prim::PathId, |_| {})
        .on_ticket(100, Prim::Close, |_| {})
        .step(100, Prim::Tickets, |_| {})
        .step(100, Prim::Publish { created: true }, |v| v.named = Some(x(Some(100))));
    t.steps
}

/// Checks: INV-9 (refinement, the queue): a releaser that wants the lock again while
/// another process waits with a ticket lists the tickets, queues behind that ticket and
/// gets in after its release: the trace replays in the spec with the queue. The same
/// releaser publishing L at once (the core mutant `releaser_barges`) is rejected at that
/// publish, naming it; so is an unlink of the waiter's ticket while the waiter, alive,
/// holds its flock. Without the queue, the spec rejects the fair trace at its first
/// listing's outcome (a ticket it has no step for).
#[test]
fn a_releaser_barging_past_a_ticket_is_rejected() {
    sequential(|| {
        let fair = queue_trace(Again::Queues);
        let replayed = replay_queue(&fair, TASKS).unwrap_or_else(|r| panic!("{r}"));
        assert_eq!(
            (replayed.tickets_linked, replayed.tickets_left, replayed.longest_queue),
            (2, 1, 2),
            "{replayed:?}"
        );
        assert!(replay(&fair, TASKS).is_err(), "the queue's steps are outside the queue-off spec");
        let barges = queue_trace(Again::Barges);
        let rejection = replay_queue(&barges, TASKS).expect_err("a releaser barging");
        assert_eq!(rejection.index, barges.len() - 1, "{rejection}");
        assert_eq!(
            (rejection.step.pid, rejection.step.prim),
            (100, Prim::Publish { created: true })
        );
        assert!(rejection.to_string().contains("is not enabled in the spec"), "{rejection}");
        let unlinks = queue_trace(Again::UnlinksALiveTicket);
        let rejection = replay_queue(&unlinks, TASKS).expect_err("a live waiter's ticket unlinked");
        assert_eq!(rejection.index, unlinks.len() - 1, "{rejection}");
        assert_eq!(
            (rejection.step.pid, rejection.step.prim, rejection.step.ticket),
            (100, Prim::Unlink, true)
        );
    });
}

/// Checks: INV-9 (refinement, the queue): the proptest machine's recorded run where pid 101
/// holds and a task of pid 100 finds L taken and joins the queue replays, its ticket
/// published after a listing (W5); the same recorded trace without that listing (a ticket
/// taken with no look at the queue) is rejected at the ticket's publish.
#[test]
fn a_recorded_ticket_without_its_listing_is_rejected() {
    sequential(|| {
        let begin = |task, op| Transition::Begin(Command { task, op });
        let mut transitions =
            vec![begin(2, Op::Acquire), Transition::Settle, begin(1, Op::Acquire)];
        transitions.extend([Transition::Step(1); 6]);
        let (_, traces) =
            collect(|| sessionlock_model::machine::replay(Subject::Queue, &transitions));
        let trace = &traces[0];
        let replayed = replay_queue(trace, TASKS).unwrap_or_else(|r| panic!("{r}"));
        assert_eq!(replayed.tickets_linked, 1, "{replayed:?}");
        let linked = trace
            .iter()
            .position(|s| s.ticket && s.prim == Prim::Publish { created: true })
            .expect("task 1 published a ticket");
        assert_eq!((trace[linked - 1].pid, trace[linked - 1].prim), (100, Prim::Tickets));
        let mut unlisted = trace.clone();
        unlisted.remove(linked - 1);
        let rejection = replay_queue(&unlisted, TASKS).expect_err("a ticket without a listing");
        assert_eq!(rejection.index, linked - 1, "{rejection}");
        assert_eq!(
            (rejection.step.prim, rejection.step.ticket),
            (Prim::Publish { created: true }, true)
        );
        assert!(rejection.to_string().contains("is not enabled in the spec"), "{rejection}");
    });
}

/// What process 100's try-acquire does after its listing found 101's live ticket
/// ([`try_trace`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tried {
    /// It tries the ticket's flock once, is refused (someone is queued), closes, probes L
    /// (gone: 100 released it) and reports the lock held.
    Busy,
    /// It publishes L at once, without a try of the ticket's flock.
    Skips,
    /// It tries the ticket's flock, is refused, closes, and publishes L all the same.
    IgnoresRefusal,
}

/// Process 100 holds L; 101 finds it held, joins the queue (a ticket) and, at its head,
/// waits in the kernel on 100's file; 100 releases, then try-acquires: it lists the
/// tickets (101's) and goes on as `tried` says.
fn try_trace(tried: Tried) -> Vec<Step> {
    let x = |flock| inode(100, flock);
    let mut t = queued_behind_a_release();
    t.step(100, Prim::Tickets, |_| {});
    if tried != Tried::Skips {
        t.on_ticket(100, Prim::Open { found: true }, |_| {})
            .on_ticket(100, Prim::TryLock { got: false }, |_| {})
            .on_ticket(100, Prim::Close, |_| {});
    }
    match tried {
        Tried::Busy => t.step(100, Prim::Open { found: false }, |_| {}),
        Tried::Skips | Tried::IgnoresRefusal => {
            t.step(100, Prim::Publish { created: true }, |v| v.named = Some(x(Some(100))))
        }
    };
    t.steps
}

/// Checks: INV-9 (refinement, the queue's try-acquire, `spec/protocol.md` section 11, T1
/// to T3): a try-acquire that lists a live waiter's ticket, tries its flock once, is
/// refused, probes L and gives up replays in the spec with the queue (`TryList`, then
/// `TryTicket` at the refused try). The same try-acquire publishing L past that live
/// ticket is rejected at its publish, whether it skipped the try of the ticket's flock or
/// was refused there.
#[test]
fn a_try_acquire_publishing_past_a_live_ticket_is_rejected() {
    sequential(|| {
        let fair = try_trace(Tried::Busy);
        let replayed = replay_queue(&fair, TASKS).unwrap_or_else(|r| panic!("{r}"));
        assert_eq!((replayed.tickets_linked, replayed.tries_busy), (1, 1), "{replayed:?}");
        for tried in [Tried::Skips, Tried::IgnoresRefusal] {
            let barges = try_trace(tried);
            let rejection = replay_queue(&barges, TASKS).expect_err("a try-acquire barging");
            assert_eq!(rejection.index, barges.len() - 1, "{tried:?}: {rejection}");
            assert_eq!(
                (rejection.step.pid, rejection.step.prim),
                (100, Prim::Publish { created: true }),
                "{tried:?}"
            );
            assert!(rejection.to_string().contains("is not enabled in the spec"), "{rejection}");
        }
    });
}

/// Polls `future` once, with a waker that does nothing.
fn poll_once<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    future.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

/// Checks: INV-9, INV-5 (refinement, the queue): the queue's scripts, recorded and
/// replayed with the spec's `queue` option. Process 100 holds and releases while 101 waits
/// with a ticket, then wants the lock again at once: it queues behind 101's ticket, and
/// 101, woken by the release, gets in. 100's acquire is then dropped while it waits (a
/// cancellation): it gives its ticket up (the spec's `Abandon`, at the ticket's unlink),
/// and 101's release removes 101's ticket (`UnlinkTicket`). Nothing is left.
#[test]
fn queue_script_traces_replay_in_the_spec() {
    use sessionlock::core::{Locker, Owner};
    use sessionlock_model::rt::block_on;
    use sessionlock_model::{ModelClock, harness::lock_path};
    use std::task::Poll;
    sequential(|| {
        let (_, traces) = collect(|| {
            let world = World::new();
            let options = Subject::Queue.options();
            let locker = |pid| {
                Locker::new(ModelFs::spawn(&world, pid), ModelClock::new(&world), options.clone())
            };
            let (a, b) = (locker(100), locker(101));
            let path = lock_path();
            let first = block_on(a.acquire(&path, Owner::from_raw(1))).expect("the lock is free");
            let mut waiter = std::pin::pin!(b.acquire(&path, Owner::from_raw(2)));
            assert!(poll_once(waiter.as_mut()).is_pending(), "b waits for a's hold");
            block_on(first.release()).expect("a releases");
            let inside = {
                let mut again = std::pin::pin!(a.acquire(&path, Owner::from_raw(1)));
                assert!(poll_once(again.as_mut()).is_pending(), "a queues behind b's ticket");
                assert_eq!(world.live_tickets(), 2, "b's ticket and a's, behind it");
                let Poll::Ready(Ok(inside)) = poll_once(waiter.as_mut()) else {
                    panic!("b, woken by a's release, gets in");
                };
                inside
            };
            assert_eq!(world.stats().tickets_given_up, 1, "a's dropped acquire gave up");
            block_on(inside.release()).expect("b releases");
            assert_eq!(world.file_count(), 0, "no lock file and no ticket is left");
        });
        assert_eq!(traces.len(), 1);
        let replayed = replay_queue(&traces[0], TASKS).unwrap_or_else(|r| panic!("{r}"));
        assert_eq!(
            (replayed.tickets_linked, replayed.ticket_give_ups, replayed.tickets_left),
            (2, 1, 1),
            "{replayed:?}"
        );
        assert_eq!(replayed.longest_queue, 2, "{replayed:?}");
    });
}

/// Checks: INV-4, INV-9 (refinement, the queue): a release that ends (the core's
/// `Released`) with its ticket still named and kernel-locked, never removed and closed
/// (R5q skipped: the core mutant `wakes_nobody`, whose successor's kernel wait never
/// returns) is rejected at that event; the fair trace, where the release removes its
/// ticket before it ends, replays with the same event.
#[test]
fn a_release_that_keeps_its_ticket_is_rejected() {
    sequential(|| {
        let fair = queue_trace(Again::Queues);
        let released = |after: &View| Step {
            pid: 101,
            task: None,
            prim: Prim::Registry(Registry::Released),
            ticket: false,
            after: after.clone(),
        };
        // 101's release: its unlink of L, then its close of L, then (R5q) its ticket's.
        let closed = fair
            .iter()
            .rposition(|s| (s.pid, s.prim, s.ticket) == (101, Prim::Close, false))
            .expect("101 closed its file");
        let r5q = fair
            .iter()
            .rposition(|s| (s.pid, s.prim, s.ticket) == (101, Prim::Close, true))
            .expect("101 closed its ticket");
        let mut with_r5q = fair[..=r5q].to_vec();
        with_r5q.push(released(&fair[r5q].after));
        replay_queue(&with_r5q, TASKS).unwrap_or_else(|r| panic!("{r}"));
        let mut kept = fair[..=closed].to_vec();
        kept.push(released(&fair[closed].after));
        let rejection = replay_queue(&kept, TASKS).expect_err("a release that kept its ticket");
        assert_eq!(rejection.index, kept.len() - 1, "{rejection}");
        assert_eq!(rejection.step.prim, Prim::Registry(Registry::Released), "{rejection}");
    });
}
