//! `cargo run --release -p sessionlock-model`: the scenario report.
//!
//! Runs the shuttle, stateright, proptest and scripted-gate checks of the real core and of
//! every mutant in one process, shows progress on stderr, prints one table row per run,
//! one line per invariant and one line per mutant, and exits non-zero if an invariant
//! breaks on the real core or a mutant is missed.
//!
//! `-- explain NAME` prints the counterexample a checker found for `NAME` instead
//! ([`sessionlock_model::counterexample`]); `-- explain` lists the names.

use std::process::ExitCode;

/// Under loom's cfg every primitive is loom's, which only works inside `loom::model`.
#[cfg(any(sessionlock_loom, not(feature = "shuttle")))]
fn main() -> ExitCode {
    eprintln!("the runner needs the default `shuttle` feature and no `--cfg sessionlock_loom`");
    ExitCode::FAILURE
}

#[cfg(all(feature = "shuttle", not(sessionlock_loom)))]
fn main() -> ExitCode {
    use sessionlock_model::checkers::{self, Strategy};
    use sessionlock_model::places::{Check, Mutation};
    use sessionlock_model::runner::{self, Catch, Progress, Row};
    use sessionlock_model::runner::{catch_or_failure, row_or_failure, rows_or_failure};
    use sessionlock_model::{
        Invariant, Mutant, Subject, core_mutants, gate, machine, scenarios, zoo,
    };

    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => {}
        ["explain"] => return explain(None),
        ["explain", name] => return explain(Some(name)),
        _ => {
            eprintln!("usage: sessionlock-model [explain [NAME]]");
            return ExitCode::from(2);
        }
    }
    // Every failure is caught and reported in the table; the default hook would only
    // interleave backtraces with the progress lines.
    std::panic::set_hook(Box::new(|_| {}));
    // A build with a mutant compiled into the core runs the core's rows only: they are
    // what must catch it (model/mutants.sh).
    let core_mutant = core_mutants::active();
    let with_zoo = core_mutant.is_none();
    let shuttle_runs: Vec<_> = scenarios::ALL
        .iter()
        .flat_map(|s| [(s, Strategy::Pct { depth: 3 }), (s, Strategy::Random)])
        .chain([(&scenarios::SEED_WINDOW, Strategy::Dfs)])
        .collect();
    let spec_mutants = if with_zoo { sessionlock_spec::Mutant::ALL } else { &[] };
    let zoo_mutants: &[Mutant] = if with_zoo { &Mutant::ALL } else { &[] };
    let fence_mutants: &[sessionlock_spec::fence::FenceMutant] =
        if with_zoo { &sessionlock_spec::fence::FenceMutant::ALL } else { &[] };
    let place_mutants: &[(Check, Mutation)] = if with_zoo {
        &[
            (Check::LeaseProbe, Mutation::IgnoreLease),
            (Check::ForeignNamespace, Mutation::JudgeForeignPids),
            (Check::RemoteHost, Mutation::JudgeForeignPids),
        ]
    } else {
        &[]
    };
    let cases = checkers::env_count("PROPTEST_CASES", 256) as u32;
    let zoo_checks: usize = zoo_mutants.iter().map(|m| zoo::checks(*m).len()).sum();
    // Sixteen core rows besides shuttle's (the queue's proptest row among them), the
    // scripts' and the places'; the zoo adds three catches (the seed race's gate, two
    // original contenders) and two per mutant of the stepped driver (with and without
    // faults).
    let queue_runs: Vec<_> = scenarios::QUEUE
        .iter()
        .map(|s| (s, Strategy::Random))
        .chain([(&scenarios::QUEUE_THREE_PROCESSES, Strategy::Pct { depth: 3 })])
        .collect();
    let total = shuttle_runs.len()
        + queue_runs.len()
        + 16
        + zoo::core_scripts().len()
        + Check::ALL.len()
        + zoo_checks
        + if with_zoo { 3 + 2 * machine::MUTANTS.len() } else { 0 }
        + place_mutants.len()
        + spec_mutants.iter().filter(|m| m.breaks_safety()).count()
        + spec_mutants.iter().filter(|m| m.breaks_liveness()).count()
        + fence_mutants.len();
    let mut progress = Progress::new(total);
    let mut rows: Vec<Row> = Vec::new();
    let mut catches: Vec<Catch> = Vec::new();

    for (scenario, strategy) in shuttle_runs {
        let what = format!("shuttle {strategy:?} {}", scenario.name);
        rows.push(
            progress
                .step(&what, || row_or_failure(&what, || runner::shuttle_row(scenario, strategy))),
        );
    }
    for (scenario, strategy) in queue_runs {
        let what = format!("shuttle {strategy:?} {} (queue)", scenario.name);
        rows.push(progress.step(&what, || {
            row_or_failure(&what, || runner::queue_shuttle_row(scenario, strategy))
        }));
    }
    for processes in [2, 3] {
        let what = format!("stateright protocol, {processes} processes");
        rows.push(progress.step(&what, || row_or_failure(&what, || runner::spec_row(processes))));
    }
    for (processes, tasks) in [(2, 2), (3, 2), (2, 3)] {
        let what = format!("fair cycles, {processes} processes, {tasks} tasks in the first");
        rows.push(
            progress
                .step(&what, || row_or_failure(&what, || runner::liveness_row(processes, tasks))),
        );
    }
    let what = "stateright fenced store, 2 holders";
    rows.push(progress.step(what, || row_or_failure(what, || runner::fence_row(2))));
    let what = "proptest machine against the core";
    rows.push(progress.step(what, || row_or_failure(what, || runner::proptest_row(cases))));
    let what = "proptest machine against the core with the queue";
    rows.push(progress.step(what, || row_or_failure(what, || runner::queue_proptest_row(cases))));
    let what = "refinement: recorded traces replayed in the spec";
    let refine_schedules = checkers::env_count("REFINE_SHUTTLE_ITERATIONS", 400);
    rows.push(
        progress.step(what, || {
            row_or_failure(what, || runner::refinement_row(cases, refine_schedules))
        }),
    );
    let what = "proptest fault plans against the core";
    rows.push(progress.step(what, || row_or_failure(what, || runner::fault_row(cases))));
    let what = "crash at every point of three scripts";
    rows.extend(progress.step(what, || rows_or_failure(what, runner::crash_point_rows)));
    let what = "gate: seed race against the core";
    rows.push(progress.step(what, || row_or_failure(what, runner::gate_row)));
    let what = "script: stale guard against the core";
    rows.push(progress.step(what, || row_or_failure(what, runner::stale_guard_row)));
    let what = "script: stale generation against the core";
    rows.push(progress.step(what, || row_or_failure(what, runner::stale_generation_row)));
    let what = "script: original contender within the grace";
    rows.push(progress.step(what, || row_or_failure(what, runner::original_row)));
    let what = "script: original contender past the grace";
    rows.push(progress.step(what, || row_or_failure(what, runner::original_residual_row)));
    for check in zoo::core_scripts() {
        let what = format!("{} against the core", check.name);
        rows.push(progress.step(&what, || row_or_failure(&what, || runner::script_row(&check))));
    }
    for check in Check::ALL {
        let what = format!("shuttle random {} against the core", check.name());
        rows.push(progress.step(&what, || row_or_failure(&what, || runner::places_row(check))));
    }
    for &(check, mutation) in place_mutants {
        let what = format!("shuttle random {} against mutant {}", check.name(), mutation.name());
        catches.push(progress.step(&what, || {
            catch_or_failure(mutation.name(), check.name(), "INV-2".into(), || {
                runner::places_catch(check, mutation, check.name())
            })
        }));
    }
    if with_zoo {
        let what = "script: original contender, no grace";
        catches.push(progress.step(what, || {
            catch_or_failure("H2-no-grace", "script", "INV-1".into(), runner::original_catch)
        }));
        let what = "script: original contender, grace only if the supervisor removed";
        catches.push(progress.step(what, || {
            catch_or_failure(
                "H2-cond-grace",
                "script",
                "INV-1".into(),
                runner::original_conditional_grace_catch,
            )
        }));
        catches.push(progress.step("gate: seed race against H1", || {
            catch_or_failure("H1", "gate", "INV-3".into(), || {
                let outcome = gate::seed_race(Subject::Mutant(Mutant::H1ReleaseOrder));
                let reported = outcome.expect_seed_race().ok().map(|()| "INV-3".to_owned());
                Catch { history: "H1", checker: "gate", expected: "INV-3".into(), reported }
            })
        }));
    }
    for &mutant in zoo_mutants {
        let expected = || mutant.breaks().id().to_owned();
        for check in zoo::checks(mutant) {
            let what = format!("{} against mutant {}", check.name, mutant.name());
            catches.push(progress.step(&what, || {
                catch_or_failure(mutant.name(), check.name, expected(), || {
                    runner::zoo_catch(mutant, &check)
                })
            }));
        }
        if !machine::MUTANTS.contains(&mutant) {
            continue;
        }
        for (checker, faults) in [("proptest", false), ("proptest faults", true)] {
            let what = format!("{checker} against mutant {}", mutant.name());
            let invariants =
                if faults { mutant.breaks_under_faults() } else { vec![mutant.breaks()] };
            let expected = invariants.iter().map(|inv| inv.id()).collect::<Vec<_>>().join(" or ");
            catches.push(progress.step(&what, || {
                catch_or_failure(mutant.name(), checker, expected, || {
                    runner::proptest_catch(mutant, cases, faults)
                })
            }));
        }
    }
    for &mutant in spec_mutants.iter().filter(|m| m.breaks_safety()) {
        let what = format!("stateright against mutant {}", mutant.name());
        catches.push(progress.step(&what, || {
            let expected = mutant.invariant().to_owned();
            catch_or_failure(mutant.name(), "stateright", expected, || runner::spec_catch(mutant))
        }));
    }
    for &mutant in spec_mutants.iter().filter(|m| m.breaks_liveness()) {
        let what = format!("fair cycles against mutant {}", mutant.name());
        catches.push(progress.step(&what, || {
            let expected = mutant.invariant().to_owned();
            catch_or_failure(mutant.name(), "fair cycles", expected, || {
                runner::liveness_catch(mutant)
            })
        }));
    }
    for &mutant in fence_mutants {
        let what = format!("stateright against fence mutant {}", mutant.name());
        catches.push(progress.step(&what, || {
            catch_or_failure(mutant.name(), "stateright", "INV-8".into(), || {
                runner::fence_catch(mutant)
            })
        }));
    }

    println!("{}", runner::table(&rows));
    println!("{}", runner::coverage(&rows));
    let missed = if with_zoo { runner::print_mutants(&catches) } else { 0 };
    println!(
        "loom: needs RUSTFLAGS=\"--cfg sessionlock_loom\", so it runs under cargo test:\n  \
         RUSTFLAGS=\"--cfg sessionlock_loom\" CARGO_TARGET_DIR=target/loom \
         cargo test --release -p sessionlock-model --test loom_core"
    );
    let broken = rows.iter().filter(|r| r.result.is_err()).count();
    let hits_ok =
        Invariant::ALL.iter().all(|inv| rows.iter().any(|r| r.checks.contains(inv) && r.hits > 0));
    println!(
        "core: {} runs, {broken} failed; every invariant reached: {hits_ok}; {:.0}s",
        rows.len(),
        progress.elapsed_s()
    );
    if let Some(mutant) = core_mutant {
        // A mutant build always fails: caught, the core's rows broke as they should;
        // missed, the mutant went unseen. The line above says which.
        runner::print_core_mutant(mutant, &rows);
        return ExitCode::FAILURE;
    }
    if broken == 0 && missed == 0 && hits_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// `explain NAME`: prints the counterexample; without a name, lists the names. An unknown
/// name, or one with nothing to show in this build, exits 2.
#[cfg(all(feature = "shuttle", not(sessionlock_loom)))]
fn explain(name: Option<&str>) -> ExitCode {
    use sessionlock_model::counterexample::{self, Refusal};
    let Some(name) = name else {
        println!("explain NAME prints a checker's counterexample; the names:");
        counterexample::all_names().iter().for_each(|(n, what)| println!("  {n:<26} {what}"));
        return ExitCode::SUCCESS;
    };
    match counterexample::spec::find(name) {
        Some(Ok(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Some(Err(why)) => {
            eprintln!("{why}");
            return ExitCode::FAILURE;
        }
        None => {}
    }
    match counterexample::find(name) {
        Ok(found) => {
            print!("{}", found.report());
            ExitCode::SUCCESS
        }
        Err(refusal @ Refusal::NotReproduced(_)) => {
            eprintln!("{refusal}");
            ExitCode::FAILURE
        }
        Err(refusal) => {
            eprintln!("{refusal}");
            ExitCode::from(2)
        }
    }
}
