//! Replays the fuzzers' corpora and crash artifacts (`fuzz/corpus/TARGET/`,
//! `fuzz/artifacts/TARGET/`) through the same target functions libFuzzer runs
//! ([`sessionlock_model::fuzz`]), so an ordinary `cargo test` re-checks every input the
//! fuzzer kept and every crash it found.
#![cfg(not(any(sessionlock_loom, sessionlock_shuttle)))]

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use sessionlock_model::fuzz::{self, replay_ops};
use sessionlock_model::{Invariant, Mutant, Reach, Reachable, Subject};

/// The `fuzz/` directory, beside this crate.
const FUZZ_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz");

/// Hand-written payload seeds (`seed-*`) in the corpus; the fuzzer's finds add more.
const PAYLOAD_SEEDS: usize = 35;
/// Hand-written ops seeds (`seed-*`) in the corpus.
const OPS_SEEDS: usize = 12;

/// The fuzz targets, by directory name.
const TARGETS: [&str; 2] = ["payload", "ops"];

/// The input files under `fuzz/KIND/TARGET/`, sorted, with their bytes; none if the
/// directory does not exist.
fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(FUZZ_DIR).join(kind).join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.is_file())
        .filter(|path| !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let data = fs::read(&path).expect("a readable input");
            (path, data)
        })
        .collect()
}

/// Runs `target` on every input; panics naming each input that failed, with its
/// message. Returns what each run returned.
fn replay<R>(inputs: &[(PathBuf, Vec<u8>)], target: fn(&[u8]) -> R) -> Vec<R> {
    let mut outputs = Vec::with_capacity(inputs.len());
    let mut failures = Vec::new();
    for (path, data) in inputs {
        match panic::catch_unwind(AssertUnwindSafe(|| target(data))) {
            Ok(output) => outputs.push(output),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                failures.push(format!("{}: {message}", path.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{} input(s) failed:\n{}", failures.len(), failures.join("\n"));
    outputs
}

/// Every payload in the corpus parses without panicking, is refused past the size cap,
/// and round-trips through `to_bytes`.
/// Checks: the payload format (`Payload::parse` total, MAX_PAYLOAD_BYTES, round-trip)
#[test]
fn payload_corpus_replays_clean() {
    let replayed = replay(&inputs("corpus", "payload"), fuzz::payload).len();
    assert!(replayed >= PAYLOAD_SEEDS, "only {replayed} payload inputs replayed: moved?");
}

/// Every op sequence in the corpus runs against the core without breaking an invariant,
/// and the corpus as a whole reaches contention, a releasing wait, a stale takeover, a
/// crash and a re-entry.
/// Checks: INV-1, INV-2, INV-3, INV-4, INV-5, INV-7
#[test]
fn ops_corpus_replays_clean() {
    let reached = replay(&inputs("corpus", "ops"), fuzz::ops);
    assert!(reached.len() >= OPS_SEEDS, "only {} ops inputs replayed: moved?", reached.len());
    let mut total = Reach::default();
    reached.iter().for_each(|reach| total.add(reach));
    total.assert_reached("fuzz ops corpus", &Reachable::ALL);
}

/// Every payload crash the fuzzer saved is fixed.
/// Checks: the payload format (as the payload corpus)
#[test]
fn payload_artifacts_replay_clean() {
    replay(&inputs("artifacts", "payload"), fuzz::payload);
}

/// Every op-sequence crash the fuzzer saved is fixed.
/// Checks: INV-1, INV-2, INV-3, INV-4, INV-5, INV-7
#[test]
fn ops_artifacts_replay_clean() {
    replay(&inputs("artifacts", "ops"), fuzz::ops);
}

/// No corpus or artifact directory belongs to a target these tests do not replay.
/// Checks: the replay covers every fuzz target
#[test]
fn every_fuzz_directory_is_replayed() {
    for kind in ["corpus", "artifacts"] {
        let Ok(entries) = fs::read_dir(Path::new(FUZZ_DIR).join(kind)) else {
            continue;
        };
        for entry in entries {
            let name = entry.expect("a readable directory entry").file_name();
            let name = name.to_string_lossy();
            let known = TARGETS.contains(&name.as_ref());
            assert!(known || name.starts_with('.'), "fuzz/{kind}/{name} is not replayed");
        }
    }
}

/// The ops target has teeth: hand-written seeds, run against the historic bugs they
/// reproduce, break the invariant each bug breaks.
/// Checks: INV-2, INV-3 (H1, H1's own-pid-orphan variant, H2, H4)
#[test]
fn ops_seeds_catch_historic_bugs() {
    let cases = [
        ("seed-h1-release-race", Mutant::H1ReleaseOrder),
        ("seed-breaker-livelock", Mutant::H1OwnPidOrphan),
        ("seed-crash-holder-takeover", Mutant::H2UnlockedBreak),
        ("seed-crash-holder-takeover", Mutant::H4CompareThenUnlink),
    ];
    for (seed, mutant) in cases {
        let path = Path::new(FUZZ_DIR).join("corpus/ops").join(seed);
        let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let failure = replay_ops(Subject::Mutant(mutant), &data)
            .expect_err(&format!("{seed} must catch {}", mutant.name()));
        let found = Invariant::in_message(&failure);
        assert_eq!(found, Some(mutant.breaks()), "{seed} against {}: {failure}", mutant.name());
    }
}
