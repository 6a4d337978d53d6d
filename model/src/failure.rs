//! A checker's own failures, named: a deadlock or a step budget overrun is an invariant
//! broken, not a crash.
//!
//! | the checker says                                         | reported as                       |
//! |----------------------------------------------------------|-----------------------------------|
//! | shuttle `deadlock!`, loom `deadlock;`, the stepper's `every task is blocked` | INV-3: a task waits and is never woken |
//! | shuttle `exceeded max_steps`, loom `exceeded maximum number of branches` | INV-4: no progress within the step budget (livelock) |
//! | anything naming an invariant already                     | unchanged                          |
//!
//! The message keeps the checker's own words, and its schedule where it gives one.

use crate::invariant::Invariant;

/// What the checkers' own failure messages mean, in order of precedence.
const MEANINGS: [(&str, Invariant, &str); 6] = [
    ("deadlock!", Invariant::NoSpuriousTimeout, "a task waits and is never woken (deadlock)"),
    ("deadlock;", Invariant::NoSpuriousTimeout, "a task waits and is never woken (deadlock)"),
    ("deadlock while dropping", Invariant::NoSpuriousTimeout, "tasks never finish (deadlock)"),
    ("every task is blocked", Invariant::NoSpuriousTimeout, "every task waits, none is woken"),
    ("exceeded max_steps", Invariant::Recovery, "no progress within the step budget (livelock)"),
    (
        "exceeded maximum number of branches",
        Invariant::Recovery,
        "no progress within the branch budget (livelock)",
    ),
];

/// `message` with the invariant it breaks named in front (`"INV-n Name: …"`), if it is
/// a checker's deadlock or budget overrun; otherwise `message` unchanged.
pub fn named(message: &str) -> String {
    if Invariant::in_message(message).is_some() {
        return message.to_owned();
    }
    match MEANINGS.iter().find(|(pattern, _, _)| message.contains(pattern)) {
        Some((_, inv, what)) => format!("{inv}: {what}: {message}"),
        None => message.to_owned(),
    }
}

/// Runs `f`; a panic comes back as its message, named as [`named`] does.
///
/// # Errors
/// The panic's message.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "panic without a message".to_owned());
        named(&message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deadlock is a lost wake-up, a budget overrun is no progress.
    /// Checks: INV-3, INV-4
    #[test]
    fn checker_failures_are_named() {
        assert!(named("deadlock! blocked tasks: [main]").starts_with("INV-3 NoSpuriousTimeout:"));
        assert!(named("deadlock; threads = [...]").starts_with("INV-3 NoSpuriousTimeout:"));
        let budget = named("exceeded max_steps bound 1000. this might be caused by");
        assert!(budget.starts_with("INV-4 Recovery:") && budget.contains("max_steps bound 1000"));
        assert_eq!(named("INV-1 MutualExclusion: two inside"), "INV-1 MutualExclusion: two inside");
        assert_eq!(named("index out of bounds"), "index out of bounds");
    }
}
