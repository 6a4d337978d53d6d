//! The seed race (H1) as a scripted gate test: the fix waits in memory and acquires with
//! no filesystem polls and no time passing; the pre-fix order polls and times out.
#![cfg(not(sessionlock_loom))]

#[cfg(not(sessionlock_shuttle))]
use sessionlock_model::gate::seed_race;
#[cfg(not(sessionlock_shuttle))]
use sessionlock_model::{Mutant, Subject};

/// Reproduces H1 against the real core: zero polls, zero logical time, acquired.
/// Checks: INV-3, INV-5
#[test]
#[cfg(not(sessionlock_shuttle))]
fn gate_h1_core_waits_in_memory() {
    assert_eq!(seed_race(Subject::Core).expect_fixed(), Ok(()));
}

/// Reproduces H1 against the pre-fix release order: polls, then times out after 10 s.
/// Checks: INV-3
#[test]
#[cfg(not(sessionlock_shuttle))]
fn gate_h1_mutant_polls_then_times_out() {
    let outcome = seed_race(Subject::Mutant(Mutant::H1ReleaseOrder));
    assert_eq!(outcome.expect_seed_race(), Ok(()));
    assert!(outcome.polls_while_frozen > 0 && outcome.timed_out, "{outcome:?}");
}

/// A guard whose file was removed under it reports the compromise on release and leaves
/// the successor's file alone.
/// Checks: INV-6, INV-2
#[test]
#[cfg(not(sessionlock_shuttle))]
fn script_stale_guard_is_harmless() {
    assert_eq!(sessionlock_model::gate::stale_guard(Subject::Core), Ok(()));
}

/// The original's path-based release deletes the successor's file.
/// Checks: INV-6
#[test]
#[cfg(not(sessionlock_shuttle))]
fn script_stale_guard_catches_release_by_path() {
    let outcome = sessionlock_model::gate::stale_guard(Subject::Mutant(Mutant::H1OwnPidOrphan));
    assert!(outcome.as_ref().is_err_and(|e| e.contains("INV-")), "{outcome:?}");
}

/// Replays `explain H1`, step by step.
/// Checks: INV-3
#[test]
#[cfg(sessionlock_shuttle)]
fn explain_h1_replays() {
    sessionlock_model::checkers::sequential(|| {
        let expected = [
            "  1. T1 (pid 100): publish /sessions/s.jsonl.lock -> created inode 3 (handle 4), kernel-locked",
            "  2. T1: acquire returned a guard",
            "  3. driver: closes the gate before pid 100's unlink",
            "  4. T1 (pid 100): stat path /sessions/s.jsonl.lock -> names inode 3",
            "  5. T1 (pid 100): frozen at a closed gate before unlink",
            "  6. T2 (pid 100): publish /sessions/s.jsonl.lock -> exists: the path is taken",
            "  7. T2 (pid 100): open /sessions/s.jsonl.lock -> opened (handle 5)",
            "  8. T2 (pid 100): try-lock /sessions/s.jsonl.lock -> refused: held",
            "  9. ** INV-3 NoSpuriousTimeout broken: process 100 met its own kernel lock on inode 3: in-process contention reached the filesystem instead of waiting in memory",
            " 10. T2 (pid 100): stat /sessions/s.jsonl.lock -> inode 3, modified at 1770976800000 ms",
            " 11. T2 (pid 100): read /sessions/s.jsonl.lock -> 180 bytes: {\"pid\":100,\"createdAt\":\"2026-02-13T10:00:00.000Z\",\"starttime\":1001,\"sessionlock\":{\"version\":1,\"flock\":true,\"nonce\":\"100.1001.*\",\"host\":\"host-0\",\"boot\":\"boot-0\",\"pidns\":4026531836}}",
            " 12. T2 (pid 100): wait for kernel lock /sessions/s.jsonl.lock -> taken; waits until 10s",
            " 13. ** INV-3 NoSpuriousTimeout broken: process 100 met its own kernel lock on inode 3: in-process contention reached the filesystem instead of waiting in memory",
            " 14. clock +50ms (now 50ms)",
            "     ... steps 14-14 repeated 199 more times, until: clock +50ms (now 10s)",
            " 15. T2 (pid 100): wait for kernel lock /sessions/s.jsonl.lock -> the deadline passed",
            " 16. T2 (pid 100): close /sessions/s.jsonl.lock -> done",
            " 17. T2: acquire failed: timed out after 10.0s waiting for /sessions/s.jsonl.lock, held by pid 100 (alive, held 0.0s)  <- INV-3 NoSpuriousTimeout broken",
        ];
        assert_eq!(sessionlock_model::counterexample::replay("H1", &expected), Ok(()));
    });
}
