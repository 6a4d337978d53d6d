//! One builder per kind of row and per kind of catch: each runs one checker.

use super::verdict::{Catch, Row, guarded, render_reach, reported_id};
use crate::checkers::{self, Strategy};
use crate::harness::Scenario;
use crate::invariant::Invariant;
use crate::observe::{Reach, Reachable};
use crate::subject::{Mutant, Subject};

/// A shuttle row for `scenario` under `strategy` against the real core.
pub fn shuttle_row(scenario: &'static Scenario, strategy: Strategy) -> Row {
    shuttle_row_of(scenario, strategy, Subject::Core)
}

/// A shuttle row for one of the queue's `scenario`s under `strategy`, against the core
/// with the cross-process queue ([`Subject::Queue`]).
pub fn queue_shuttle_row(scenario: &'static Scenario, strategy: Strategy) -> Row {
    shuttle_row_of(scenario, strategy, Subject::Queue)
}

/// A shuttle row against `subject`: the core's reach for the core; for the queue, the
/// hits of its scenario's own states and the queue's counts besides the core's.
fn shuttle_row_of(scenario: &'static Scenario, strategy: Strategy, subject: Subject) -> Row {
    let queue = subject == Subject::Queue;
    let outcome = guarded(|| checkers::shuttle(scenario, subject, strategy));
    let (reach, result) = match outcome {
        Ok(reach) => {
            let reached = guarded(|| reach.assert_reached(scenario.name, scenario.reaches));
            (reach, reached)
        }
        Err(e) => (Reach::default(), Err(e)),
    };
    let name = strategy_name(strategy);
    let states: &[Reachable] = if queue { scenario.reaches } else { &Reachable::ALL };
    Row {
        scenario: scenario.name.to_owned(),
        checker: if queue { format!("shuttle {name} (queue)") } else { format!("shuttle {name}") },
        checks: scenario.checks.to_vec(),
        explored: format!("{} schedules", reach.executions),
        hits: states.iter().map(|s| reach.count(*s)).sum(),
        reached: if queue { render_queue_reach(&reach) } else { render_reach(&reach) },
        result,
    }
}

/// The proptest machine's row against the core with the cross-process queue: the core's
/// checks, INV-9 (the world's ghost), and the queue's reach besides the core's.
pub fn queue_proptest_row(cases: u32) -> Row {
    let report = crate::machine::check_machine(Subject::Queue, cases);
    let reached = guarded(|| {
        report.reach.assert_reached("proptest queue", &Reachable::ALL);
        report.reach.assert_reached("proptest queue", &Reachable::QUEUE);
    });
    let result = match report.failure {
        Some(failure) => Err(failure),
        None => reached,
    };
    let mut checks = machine_checks();
    checks.push(Invariant::BoundedBypass);
    Row {
        scenario: "random op sequences".to_owned(),
        checker: "proptest machine (queue)".to_owned(),
        checks,
        explored: format!("{} cases", report.cases),
        hits: Reachable::QUEUE.iter().map(|s| report.reach.count(*s)).sum(),
        reached: render_queue_reach(&report.reach),
        result,
    }
}

fn strategy_name(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::Pct { .. } => "pct",
        Strategy::Random => "random",
        Strategy::Dfs => "dfs",
    }
}

/// What a queue run reached: the core's counts, then the queue's.
fn render_queue_reach(reach: &Reach) -> String {
    format!(
        "{}, queue of 2 {}, dead tickets removed {}, give-ups {}, overtakes {}",
        render_reach(reach),
        reach.queue_of_two,
        reach.dead_ticket_removed,
        reach.ticket_given_up,
        reach.overtaken
    )
}

/// Whether the zoo's `check` catches `mutant` with its expected invariant.
pub fn zoo_catch(mutant: Mutant, check: &crate::zoo::Check) -> Catch {
    let reported = match crate::zoo::run(check, Subject::Mutant(mutant)) {
        crate::zoo::Outcome::Broke(inv) => Some(inv.id().to_owned()),
        crate::zoo::Outcome::Failed(_) => Some("failure without an invariant".to_owned()),
        crate::zoo::Outcome::Pass => None,
    };
    Catch {
        history: mutant.name(),
        checker: check.name,
        expected: mutant.breaks().id().to_owned(),
        reported,
    }
}

/// A scripted check's row against the real core.
pub fn script_row(check: &crate::zoo::Check) -> Row {
    let verdict = crate::zoo::run(check, Subject::Core);
    let checks = Mutant::ALL
        .iter()
        .filter(|m| crate::zoo::checks(**m).iter().any(|c| c.name == check.name))
        .map(|m| m.breaks())
        .collect();
    Row {
        scenario: check.name.trim_start_matches("script ").to_owned(),
        checker: "script".to_owned(),
        checks,
        explored: "1 script".to_owned(),
        hits: 1,
        reached: "the history's interleaving".to_owned(),
        result: match verdict {
            crate::zoo::Outcome::Pass => Ok(()),
            other => Err(format!("{other:?}")),
        },
    }
}

/// A stateright row: the real protocol with `processes` processes.
pub fn spec_row(processes: usize) -> Row {
    let config = sessionlock_spec::SpecConfig { processes, ..Default::default() };
    let report = sessionlock_spec::check(&config);
    let reached = report.reached.iter().filter(|(_, r)| *r).count();
    let result = if !report.violated.is_empty() {
        Err(format!(
            "violated {:?}: {}",
            report.violated,
            report.counterexample.unwrap_or_default()
        ))
    } else if reached < report.reached.len() {
        Err(format!("sometimes-properties not reached: {:?}", report.reached))
    } else {
        Ok(())
    };
    Row {
        scenario: report.name,
        checker: "stateright bfs".to_owned(),
        checks: always_properties(&config),
        explored: format!("{} states", report.unique_states),
        hits: reached as u64,
        reached: format!("sometimes {reached}/{}", report.reached.len()),
        result,
    }
}

/// The invariants stateright's always-properties check, from the model's own list.
fn always_properties(config: &sessionlock_spec::SpecConfig) -> Vec<Invariant> {
    use stateright::Model as _;
    let mut checks: Vec<Invariant> = config
        .model()
        .properties()
        .iter()
        .filter(|p| matches!(p.expectation, stateright::Expectation::Always))
        .filter_map(|p| Invariant::named_in(p.name))
        .collect();
    checks.dedup();
    checks
}

/// Whether stateright refutes `mutant` with its expected invariant.
pub fn spec_catch(mutant: sessionlock_spec::Mutant) -> Catch {
    let config = sessionlock_spec::SpecConfig { mutant: Some(mutant), ..Default::default() };
    let report = sessionlock_spec::check(&config);
    Catch {
        history: mutant.name(),
        checker: "stateright",
        expected: mutant.invariant().to_owned(),
        reported: strongest_report(&report.violated, mutant.invariant()),
    }
}

/// A liveness row: the fair-cycle check on the real protocol with `processes` processes,
/// the first with `tasks` tasks.
pub fn liveness_row(processes: usize, tasks: usize) -> Row {
    use sessionlock_spec::liveness;
    let config = sessionlock_spec::SpecConfig {
        processes,
        tasks_in_first_process: tasks,
        ..Default::default()
    };
    let report = liveness::check_liveness(&config);
    let reached = report.reached.iter().filter(|(_, r)| *r).count();
    let result = if !report.violated.is_empty() {
        Err(format!(
            "violated {:?}: {}",
            report.violated,
            report.counterexample.unwrap_or_default()
        ))
    } else if reached < report.reached.len() || report.cyclic == 0 {
        Err(format!("not reached: {:?}, {} cyclic components", report.reached, report.cyclic))
    } else {
        Ok(())
    };
    let starved = if report.starvation.is_some() { "found" } else { "NOT found" };
    Row {
        scenario: report.name,
        checker: "fair cycles".to_owned(),
        checks: vec![Invariant::NoSpuriousTimeout, Invariant::Recovery],
        explored: format!("{} states, {} SCCs", report.states, report.components),
        hits: reached as u64,
        reached: format!(
            "weak fairness; {reached}/{}; cross-process starvation {starved} (expected)",
            report.reached.len()
        ),
        result,
    }
}

/// Whether the liveness checker (fair cycles) refutes `mutant` with its expected invariant.
pub fn liveness_catch(mutant: sessionlock_spec::Mutant) -> Catch {
    use sessionlock_spec::liveness;
    let report = liveness::check_liveness(&liveness::mutant_config(mutant));
    Catch {
        history: mutant.name(),
        checker: "fair cycles",
        expected: mutant.invariant().to_owned(),
        reported: strongest_report(&report.violated, mutant.invariant()),
    }
}

/// The expected id if any violated property names it, else the first id named.
fn strongest_report(violated: &[String], expected: &str) -> Option<String> {
    let ids: Vec<Invariant> = violated.iter().filter_map(|v| Invariant::named_in(v)).collect();
    let hit = ids.iter().find(|i| i.id() == expected).or(ids.first());
    hit.map(|i| i.id().to_owned())
}

/// The scripted seed-race row against the real core.
pub fn gate_row() -> Row {
    let outcome = crate::gate::seed_race(Subject::Core);
    Row {
        scenario: "seed-race".to_owned(),
        checker: "gate script".to_owned(),
        checks: vec![Invariant::NoSpuriousTimeout, Invariant::NoLeak],
        explored: "1 script".to_owned(),
        hits: 1,
        reached: format!("releasing wait, {} polls while frozen", outcome.polls_while_frozen),
        result: outcome.expect_fixed(),
    }
}

/// The proptest machine's row against the real core.
pub fn proptest_row(cases: u32) -> Row {
    let report = crate::machine::check_machine(Subject::Core, cases);
    let reached = guarded(|| report.reach.assert_reached("proptest", &Reachable::ALL));
    let result = match report.failure {
        Some(failure) => Err(failure),
        None => reached,
    };
    Row {
        scenario: "random op sequences".to_owned(),
        checker: "proptest machine".to_owned(),
        checks: machine_checks(),
        explored: format!("{} cases", report.cases),
        hits: Reachable::ALL.iter().map(|s| report.reach.count(*s)).sum(),
        reached: render_reach(&report.reach),
        result,
    }
}

/// Whether the stepped driver catches `mutant` with its expected invariant, under random
/// fault plans if `faults`.
pub fn proptest_catch(mutant: Mutant, cases: u32, faults: bool) -> Catch {
    let subject = Subject::Mutant(mutant);
    let (checker, report, expected) = match faults {
        false => ("proptest", crate::machine::check_machine(subject, cases), vec![mutant.breaks()]),
        true => (
            "proptest faults",
            crate::machine::check_faults_on(subject, cases),
            mutant.breaks_under_faults(),
        ),
    };
    Catch {
        history: mutant.name(),
        checker,
        expected: expected.iter().map(|inv| inv.id()).collect::<Vec<_>>().join(" or "),
        reported: report.failure.as_deref().and_then(reported_id),
    }
}

/// The scripted stale-guard row against the real core.
pub fn stale_guard_row() -> Row {
    Row {
        scenario: "stale-guard".to_owned(),
        checker: "script".to_owned(),
        checks: vec![Invariant::StaleGuardHarmless, Invariant::NoLiveRemoval],
        explored: "1 script".to_owned(),
        hits: 1,
        reached: "file removed under a holder, successor holds".to_owned(),
        result: crate::gate::stale_guard(Subject::Core),
    }
}

/// The scripted stale-generation row against the real core (INV-6 in memory).
pub fn stale_generation_row() -> Row {
    Row {
        scenario: "stale-generation".to_owned(),
        checker: "script".to_owned(),
        checks: vec![Invariant::StaleGuardHarmless],
        explored: "1 script".to_owned(),
        hits: 1,
        reached: "an earlier hold's guard released under a later holder".to_owned(),
        result: crate::gate::stale_generation(),
    }
}

/// The fault-plan machine's row against the real core.
pub fn fault_row(cases: u32) -> Row {
    let report = crate::machine::check_faults(cases);
    let hits = report.hits;
    let evidence = hits.publish > 0 && hits.release > 0 && hits.probe > 0;
    let result = match report.failure {
        Some(failure) => Err(failure),
        None if !evidence => Err(format!("some step kinds were never faulted: {hits:?}")),
        None => Ok(()),
    };
    Row {
        scenario: "random fault plans".to_owned(),
        checker: "proptest faults".to_owned(),
        checks: machine_checks(),
        explored: format!("{} cases", report.cases),
        hits: hits.injected,
        reached: format!(
            "faults {} (publish {}, release {}, probe {})",
            hits.injected, hits.publish, hits.release, hits.probe
        ),
        result,
    }
}

/// A row per crash-point script: a crash before and after every primitive.
pub fn crash_point_rows() -> Vec<Row> {
    use crate::fault::CrashWhen;
    use crate::fault::points::{Script, Strike, enumerate};
    Script::ALL
        .into_iter()
        .map(|script| {
            let mut points = 0;
            let mut left = 0;
            let mut result = Ok(());
            for when in [CrashWhen::Before, CrashWhen::After] {
                match enumerate(script, Strike::Crash(when)) {
                    Ok(report) => {
                        points += report.points;
                        left += report.left_behind;
                    }
                    Err(e) => result = Err(e),
                }
            }
            Row {
                scenario: format!("{script:?}"),
                checker: "crash points".to_owned(),
                checks: vec![Invariant::MutualExclusion, Invariant::Recovery],
                explored: format!("{points} points"),
                hits: left,
                reached: format!("crash, {left} files left for recovery"),
                result,
            }
        })
        .collect()
}

/// What the proptest machines check: every invariant but INV-6, which needs a file
/// removed from outside (the stale-guard script's job), INV-8, which is about the
/// store's commits (the fence model's job), and INV-9, whose bound the machines' oracles
/// do not count (the spec checks it, and the refinement row holds their traces to it).
fn machine_checks() -> Vec<Invariant> {
    let elsewhere =
        [Invariant::StaleGuardHarmless, Invariant::FencedWrites, Invariant::BoundedBypass];
    Invariant::ALL.into_iter().filter(|i| !elsewhere.contains(i)).collect()
}

/// A stateright row: the fenced store over PostgreSQL (INV-8) with `holders` holders,
/// zombie holders and server restarts.
pub fn fence_row(holders: usize) -> Row {
    use sessionlock_spec::fence::{FenceModel, check_fence};
    let report = check_fence(&FenceModel { holders, ..FenceModel::default() });
    let reached = report.reached.iter().filter(|(_, r)| *r).count();
    let result = if !report.violated.is_empty() {
        Err(format!(
            "violated {:?}: {}",
            report.violated,
            report.counterexample.unwrap_or_default()
        ))
    } else if reached < report.reached.len() {
        Err(format!("sometimes-properties not reached: {:?}", report.reached))
    } else {
        Ok(())
    };
    Row {
        scenario: report.name,
        checker: "stateright bfs".to_owned(),
        checks: vec![Invariant::FencedWrites],
        explored: format!("{} states", report.unique_states),
        hits: reached as u64,
        reached: format!("sometimes {reached}/{}", report.reached.len()),
        result,
    }
}

/// Whether the fence model refutes `mutant` with INV-8.
pub fn fence_catch(mutant: sessionlock_spec::fence::FenceMutant) -> Catch {
    use sessionlock_spec::fence::{FenceModel, check_fence};
    let report = check_fence(&FenceModel { mutant: Some(mutant), ..FenceModel::default() });
    Catch {
        history: mutant.name(),
        checker: "stateright",
        expected: mutant.invariant().to_owned(),
        reported: strongest_report(&report.violated, mutant.invariant()),
    }
}

/// A shuttle row for one of the [`crate::places`] checks against the real core.
pub fn places_row(check: crate::places::Check) -> Row {
    use crate::places::{Mutation, PlaceReach, shuttle};
    let iterations = crate::checkers::env_count("SHUTTLE_ITERATIONS", 2000);
    let outcome = guarded(|| shuttle(check, Mutation::None, iterations));
    let (reach, result) = match outcome {
        Ok(reach) => (reach, guarded(|| reach.assert_reached(check))),
        Err(e) => (PlaceReach::default(), Err(e)),
    };
    let required = reach.required(check);
    Row {
        scenario: check.name().to_owned(),
        checker: "shuttle random".to_owned(),
        checks: check.checks().to_vec(),
        explored: format!("{} schedules", reach.executions),
        hits: required.iter().map(|(_, n)| n).sum(),
        reached: required.iter().map(|(s, n)| format!("{s} {n}")).collect::<Vec<_>>().join(", "),
        result,
    }
}

/// Whether a [`crate::places`] check catches `mutation` as INV-2.
pub fn places_catch(
    check: crate::places::Check,
    mutation: crate::places::Mutation,
    checker: &'static str,
) -> Catch {
    let iterations = crate::checkers::env_count("SHUTTLE_ITERATIONS", 2000);
    let outcome = guarded(|| crate::places::shuttle(check, mutation, iterations));
    Catch {
        history: mutation.name(),
        checker,
        expected: Invariant::NoLiveRemoval.id().to_owned(),
        reported: outcome.err().map(|e| reported_id(&e).unwrap_or(e)),
    }
}

/// The refinement row: every step the core took under the proptest machine, the fault-plan
/// machine, the scripts (zoo scripts, the seed-race gate), the crash points and shuttle's
/// random scheduler, registry transitions included, replayed in the spec (see
/// [`crate::refine`]), and the core with the cross-process queue on under the proptest
/// machine and shuttle's random scheduler over the queue's scenarios, replayed in the spec
/// with its `queue` and `tries` options (try-acquires included). Fails on the first step the spec does not enable, or that
/// leaves the world unlike every spec state; if a driver replayed no registry transition;
/// and if the replayed traces reached no contention, no kernel wait, no takeover after a
/// crash, no release, no FIFO hand-off, no end of an acquire or no in-memory hand-off, or
/// (the queue) no ticket published, no dead waiter's ticket removed by its successor, no
/// ticket removed by its release, no give-up with a ticket, no queue of two, no dead
/// waiter's ticket removed by a try-acquire or no try-acquire that found the queue busy.
pub fn refinement_row(cases: u32, shuttle_iterations: usize) -> Row {
    use crate::refine::drivers::{self, Coverage};
    let runs = [
        ("machine", drivers::machine(cases)),
        ("fault plans", drivers::fault_plans(cases)),
        ("scripts", drivers::scripts()),
        ("crash points", drivers::crash_points()),
        ("shuttle", drivers::shuttle(shuttle_iterations)),
        ("machine queue", drivers::machine_queue(cases)),
        ("shuttle queue", drivers::shuttle_queue(shuttle_iterations)),
    ];
    let mut coverage = Coverage::default();
    let mut result = Ok(());
    let mut silent = Vec::new();
    let mut per_driver = Vec::new();
    for (driver, (c, r)) in runs {
        coverage.merge(&c);
        result = result.and(r);
        per_driver.push(format!("{driver} {}/{}", c.traces, c.registry));
        if c.registry == 0 {
            silent.push(driver);
        }
    }
    let c = &coverage;
    let reached = c.contention > 0
        && c.kernel_waits > 0
        && c.takeovers > 0
        && c.releases > 0
        && c.registry > 0
        && c.hand_offs > 0
        && c.handed > 0
        && c.ends > 0
        && c.tickets_linked > 0
        && c.dead_tickets > 0
        && c.tickets_left > 0
        && c.ticket_give_ups > 0
        && c.longest_queue >= 2
        && c.try_dead_tickets > 0
        && c.tries_busy > 0;
    if result.is_ok() && !silent.is_empty() {
        result = Err(format!("no registry transition replayed from: {}", silent.join(", ")));
    }
    if result.is_ok() && !reached {
        result = Err(format!("the replayed traces missed a reachability target: {c:?}"));
    }
    Row {
        scenario: "traces of machines, scripts, crash points, shuttle".to_owned(),
        checker: "refinement (trace replay)".to_owned(),
        checks: vec![
            Invariant::NoLiveRemoval,
            Invariant::NoSpuriousTimeout,
            Invariant::BoundedBypass,
        ],
        explored: format!(
            "{} traces, {} steps ({} skipped); traces/registry transitions replayed: {}",
            c.traces,
            c.steps,
            c.skipped,
            per_driver.join(", ")
        ),
        hits: c.contention + c.kernel_waits + c.takeovers + c.releases + c.handed,
        reached: format!(
            "contention {}, kernel waits {}, takeovers after crash {}, releases {}, registry {} \
             (FIFO hand-offs {}, in memory {}, ends {}); queue: tickets {}, dead waiters' \
             removed {}, removed by releases {}, give-ups {}, longest {}; try-acquires: dead \
             waiters' removed {}, queue busy {}",
            c.contention,
            c.kernel_waits,
            c.takeovers,
            c.releases,
            c.registry,
            c.hand_offs,
            c.handed,
            c.ends,
            c.tickets_linked,
            c.dead_tickets,
            c.tickets_left,
            c.ticket_give_ups,
            c.longest_queue,
            c.try_dead_tickets,
            c.tries_busy
        ),
        result,
    }
}
