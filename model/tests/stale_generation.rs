//! INV-6 in memory: a guard of an earlier hold of the same process is refused and leaves
//! the current holder alone (the registry's generation check).
#![cfg(not(any(sessionlock_loom, sessionlock_shuttle)))]

/// Checks: INV-6
#[test]
fn script_stale_generation_is_harmless() {
    sessionlock_model::gate::stale_generation().expect("the old guard changes nothing");
}
