//! The fuzz targets, as plain functions: `fuzz/` runs them under libFuzzer, and
//! `model/tests/fuzz_corpus.rs` replays every saved input through the same code, so an
//! ordinary `cargo test` re-checks what the fuzzer found.
//!
//! | target | input | checks |
//! |---|---|---|
//! | [`payload`] | a lock file's bytes | [`Payload::parse`] never panics; past [`MAX_PAYLOAD_BYTES`] it gives `None`; whatever parses re-encodes and re-parses to the same value |
//! | [`ops`] | two bytes per [`Transition`] ([`decode`]) | [`machine::replay`] of the core: INV-1, INV-2, INV-3, INV-4, INV-5, INV-7 |
//!
//! Both panic on a violation, which is what libFuzzer reports as a crash.

use sessionlock::payload::{MAX_PAYLOAD_BYTES, Payload};

use crate::machine::{self, PROCESSES, TASKS, Transition};
use crate::observe::Reach;
use crate::op::{Command, Op};
use crate::subject::Subject;

/// Input bytes per decoded [`Transition`]: a kind, then an argument.
pub const BYTES_PER_TRANSITION: usize = 2;
/// Transitions decoded from one input at most; later bytes are ignored.
pub const MAX_FUZZ_TRANSITIONS: usize = 64;
/// The clock moves an [`Transition::Advance`] can make, in ms: small steps, the backoff's
/// scale, and both sides of the 10 s acquire timeout.
pub const ADVANCES_MS: [u64; 8] = [1, 10, 50, 1_000, 5_000, 9_999, 10_000, 11_000];

/// The payload target: parses `data` as a lock file.
///
/// # Panics
/// If [`Payload::parse`] panics, accepts input longer than [`MAX_PAYLOAD_BYTES`], or
/// parses a value that does not survive [`Payload::to_bytes`] and a second parse.
pub fn payload(data: &[u8]) {
    let parsed = Payload::parse(data);
    if data.len() > MAX_PAYLOAD_BYTES {
        assert_eq!(parsed, None, "{} bytes, past MAX_PAYLOAD_BYTES, parsed", data.len());
    }
    if let Some(parsed) = parsed {
        let bytes = parsed.to_bytes();
        let again = Payload::parse(&bytes);
        assert_eq!(
            again.as_ref(),
            Some(&parsed),
            "re-encoded as {:?}, which parses differently",
            String::from_utf8_lossy(&bytes)
        );
    }
}

/// The ops target: runs the transitions [`decode`]d from `data` against the core, then
/// the machine's teardown, checking every step against the reference. Returns the
/// interesting states the run reached.
///
/// # Panics
/// With `"INV-n Name: …"` and the transitions, if [`machine::replay`] fails: a bug in
/// the core, or in the harness.
pub fn ops(data: &[u8]) -> Reach {
    replay_ops(Subject::Core, data).unwrap_or_else(|failure| panic!("{failure}"))
}

/// Runs the transitions [`decode`]d from `data` against `subject`, as [`ops`] does for
/// the core: for showing that a corpus input catches a mutant.
///
/// # Errors
/// `"INV-n Name: …"`, then the transitions, for the first invariant broken.
pub fn replay_ops(subject: Subject, data: &[u8]) -> Result<Reach, String> {
    let transitions = decode(data);
    machine::replay(subject, &transitions).map_err(|failure| {
        format!("{failure}\ntransitions ({}): {transitions:?}", transitions.len())
    })
}

/// Decodes fuzz input into machine transitions. Total: every input decodes, two bytes
/// to a transition (an odd last byte is ignored), up to [`MAX_FUZZ_TRANSITIONS`].
///
/// | `kind % 8` | transition | `arg` picks |
/// |---|---|---|
/// | 0 | `Begin(Acquire)` | the task, `% TASKS` |
/// | 1 | `Begin(TryAcquire)` | the task |
/// | 2 | `Begin(Release)` | the task |
/// | 3 | `Step` | the task |
/// | 4 | `Crash` | the process, `% PROCESSES` |
/// | 5 | `Restart` | the process |
/// | 6 | `Advance` | the move, `% 8` into [`ADVANCES_MS`] |
/// | 7 | `Settle` | nothing |
pub fn decode(data: &[u8]) -> Vec<Transition> {
    data.chunks_exact(BYTES_PER_TRANSITION)
        .take(MAX_FUZZ_TRANSITIONS)
        .map(|pair| transition(pair[0], pair[1]))
        .collect()
}

fn transition(kind: u8, arg: u8) -> Transition {
    let arg = usize::from(arg);
    let begin = |op| Transition::Begin(Command { task: arg % TASKS, op });
    match kind % 8 {
        0 => begin(Op::Acquire),
        1 => begin(Op::TryAcquire),
        2 => begin(Op::Release),
        3 => Transition::Step(arg % TASKS),
        4 => Transition::Crash(arg % PROCESSES),
        5 => Transition::Restart(arg % PROCESSES),
        6 => Transition::Advance(ADVANCES_MS[arg % ADVANCES_MS.len()]),
        _ => Transition::Settle,
    }
}

/// Encodes transitions as fuzz input, the inverse of [`decode`]: for turning a sequence
/// found elsewhere (a proptest regression, a scenario) into a corpus seed.
///
/// `None` if a transition has no encoding: an index out of range, an op other than
/// acquire, try-acquire or release, or a clock move not in [`ADVANCES_MS`].
pub fn encode(transitions: &[Transition]) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(transitions.len() * BYTES_PER_TRANSITION);
    for &transition in transitions {
        let (kind, arg) = match transition {
            Transition::Begin(Command { task, op }) => {
                let kind = match op {
                    Op::Acquire => 0,
                    Op::TryAcquire => 1,
                    Op::Release => 2,
                    Op::Crash | Op::Advance(_) => return None,
                };
                (kind, index(task, TASKS)?)
            }
            Transition::Step(task) => (3, index(task, TASKS)?),
            Transition::Crash(p) => (4, index(p, PROCESSES)?),
            Transition::Restart(p) => (5, index(p, PROCESSES)?),
            Transition::Advance(ms) => {
                let at = ADVANCES_MS.iter().position(|&m| m == ms)?;
                (6, index(at, ADVANCES_MS.len())?)
            }
            Transition::Settle => (7, 0),
        };
        bytes.extend([kind, arg]);
    }
    Some(bytes)
}

fn index(i: usize, bound: usize) -> Option<u8> {
    (i < bound).then(|| u8::try_from(i).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transition_round_trips_through_its_encoding() {
        let all: Vec<Transition> = (0..=u8::MAX)
            .flat_map(|kind| (0..=u8::MAX).map(move |arg| transition(kind, arg)))
            .collect();
        for t in all {
            let bytes = encode(&[t]).expect("every decoded transition has an encoding");
            assert_eq!(decode(&bytes), vec![t]);
        }
    }

    #[test]
    fn decoding_is_total_and_capped() {
        assert!(decode(&[]).is_empty());
        assert!(decode(&[0]).is_empty());
        assert_eq!(decode(&[0xff; 1000]).len(), MAX_FUZZ_TRANSITIONS);
        let odd = decode(&[0, 1, 3]);
        assert_eq!(odd, vec![Transition::Begin(Command { task: 1, op: Op::Acquire })]);
    }

    #[test]
    fn encode_refuses_what_decode_cannot_produce() {
        assert_eq!(encode(&[Transition::Step(TASKS)]), None);
        assert_eq!(encode(&[Transition::Advance(7)]), None);
        let crash = Transition::Begin(Command { task: 0, op: Op::Crash });
        assert_eq!(encode(&[crash]), None);
    }
}
