//! The threaded scenarios under shuttle, with a fault plan drawn per iteration from
//! shuttle's own random source, so a failing schedule replays with its plan.
//! `SHUTTLE_ITERATIONS` (default 1000) sets the iterations.

use std::sync::{Arc, Mutex, PoisonError};

use shuttle::rand::{Rng, thread_rng};

use crate::checkers::{Strategy, env_count};
use crate::harness::{Scenario, run_faulted};
use crate::injection::{FS_OPS, Fault, FaultHits, FaultKind};
use crate::subject::Subject;
use crate::world::Pid;

/// Explores `scenario` against `subject` under `strategy`, each iteration with its own
/// random fault plan; panics on a violation. Returns where the faults landed, over every
/// iteration.
pub fn check(scenario: &'static Scenario, subject: Subject, strategy: Strategy) -> FaultHits {
    let total = Arc::new(Mutex::new(FaultHits::default()));
    let sink = Arc::clone(&total);
    let body = move || {
        let hits = run_faulted(scenario, subject, random_plan(scenario));
        sink.lock().unwrap_or_else(PoisonError::into_inner).add(&hits);
    };
    crate::checkers::explore(body, strategy, env_count("SHUTTLE_ITERATIONS", 1000));
    *total.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One or two faults on the first few primitives of one process (or of any), usually
/// of one primitive; a race kind only on a primitive it applies to.
pub fn random_plan(scenario: &Scenario) -> Vec<Fault> {
    let mut rng = thread_rng();
    let processes = scenario.processes.len() as Pid;
    let count = rng.gen_range(1..=2);
    (0..count)
        .map(|_| {
            let kind = FaultKind::ALL[rng.gen_range(0..FaultKind::ALL.len())];
            let ops: Vec<_> = FS_OPS.into_iter().filter(|op| kind.applies_to(*op)).collect();
            let op = ops[rng.gen_range(0..ops.len())];
            Fault {
                at: rng.gen_range(0..4),
                pid: rng.gen_bool(0.5).then(|| 100 + rng.gen_range(0..processes)),
                op: rng.gen_bool(0.8).then_some(op),
                kind,
            }
        })
        .collect()
}
