//! `cargo run --release -p sessionlock-model`: the scenario report.
//!
//! Runs the shuttle, stateright, proptest and scripted-gate checks of the real core and of
//! every mutant in one process, shows progress on stderr, prints one table row per run,
//! one line per invariant and one line per mutant, and exits non-zero if an invariant
//! breaks on the real core or a mutant is missed.

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
    use sessionlock_model::{Invariant, Mutant, Subject, gate, scenarios, zoo};

    // Every failure is caught and reported in the table; the default hook would only
    // interleave backtraces with the progress lines.
    std::panic::set_hook(Box::new(|_| {}));
    let shuttle_runs: Vec<_> = scenarios::ALL
        .iter()
        .flat_map(|s| [(s, Strategy::Pct { depth: 3 }), (s, Strategy::Random)])
        .chain([(&scenarios::SEED_WINDOW, Strategy::Dfs)])
        .collect();
    let spec_mutants = sessionlock_spec::Mutant::ALL;
    let fence_mutants = sessionlock_spec::fence::FenceMutant::ALL;
    let cases = checkers::env_count("PROPTEST_CASES", 256) as u32;
    let zoo_checks: usize = Mutant::ALL.iter().map(|m| zoo::checks(*m).len()).sum();
    let total = shuttle_runs.len()
        + 4
        + 2
        + runner::core_scripts().len()
        + zoo_checks
        + 2
        + 4
        + spec_mutants.len()
        + Check::ALL.len() * 2
        + 1
        + fence_mutants.len();
    let mut progress = Progress::new(total);
    let mut rows: Vec<Row> = Vec::new();
    let mut catches: Vec<Catch> = Vec::new();

    for (scenario, strategy) in shuttle_runs {
        let what = format!("shuttle {strategy:?} {}", scenario.name);
        rows.push(progress.step(&what, || runner::shuttle_row(scenario, strategy)));
    }
    for processes in [2, 3] {
        let what = format!("stateright protocol, {processes} processes");
        rows.push(progress.step(&what, || runner::spec_row(processes)));
    }
    rows.push(progress.step("stateright fenced store, 2 holders", || runner::fence_row(2)));
    rows.push(progress.step("proptest machine against the core", || runner::proptest_row(cases)));
    rows.push(progress.step("proptest fault plans against the core", || runner::fault_row(cases)));
    rows.extend(progress.step("crash at every point of three scripts", runner::crash_point_rows));
    rows.push(progress.step("gate: seed race against the core", runner::gate_row));
    rows.push(progress.step("script: stale guard against the core", runner::stale_guard_row));
    rows.push(progress.step("script: original contender within the grace", runner::original_row));
    rows.push(
        progress.step("script: original contender past the grace", runner::original_residual_row),
    );
    for check in runner::core_scripts() {
        let what = format!("{} against the core", check.name);
        rows.push(progress.step(&what, || runner::script_row(&check)));
    }
    for check in Check::ALL {
        let what = format!("shuttle random {} against the core", check.name());
        rows.push(progress.step(&what, || runner::places_row(check)));
    }
    for (check, mutation) in [
        (Check::LeaseProbe, Mutation::IgnoreLease),
        (Check::ForeignNamespace, Mutation::JudgeForeignPids),
        (Check::RemoteHost, Mutation::JudgeForeignPids),
    ] {
        let what = format!("shuttle random {} against mutant {}", check.name(), mutation.name());
        catches.push(progress.step(&what, || runner::places_catch(check, mutation, check.name())));
    }
    catches.push(progress.step("gate: seed race against H1", || {
        let outcome = gate::seed_race(Subject::Mutant(Mutant::H1ReleaseOrder));
        let reported = outcome.expect_seed_race().ok().map(|()| "INV-3".to_owned());
        Catch { history: "H1", checker: "gate", expected: "INV-3".into(), reported }
    }));
    catches.push(progress.step("script: original contender, no grace", runner::original_catch));
    catches.push(progress.step(
        "script: original contender, grace only if the supervisor removed",
        runner::original_conditional_grace_catch,
    ));
    for mutant in Mutant::ALL {
        for check in zoo::checks(mutant) {
            let what = format!("{} against mutant {}", check.name, mutant.name());
            catches.push(progress.step(&what, || runner::zoo_catch(mutant, &check)));
        }
        if matches!(mutant, Mutant::H1ReleaseOrder | Mutant::H1OwnPidOrphan) {
            let what = format!("proptest against mutant {}", mutant.name());
            catches.push(progress.step(&what, || runner::proptest_catch(mutant, cases)));
        }
    }
    for &mutant in spec_mutants {
        let what = format!("stateright against mutant {}", mutant.name());
        catches.push(progress.step(&what, || runner::spec_catch(mutant)));
    }
    for mutant in fence_mutants {
        let what = format!("stateright against fence mutant {}", mutant.name());
        catches.push(progress.step(&what, || runner::fence_catch(mutant)));
    }

    println!("{}", runner::table(&rows));
    println!("{}", runner::coverage(&rows));
    let missed = runner::print_mutants(&catches);
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
    if broken == 0 && missed == 0 && hits_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
