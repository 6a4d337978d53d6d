//! Shuttle: holders whose pid we cannot see (`model/src/places.rs`): an original-format
//! holder in another pid namespace, proven alive by the lease probe, and holders of our
//! format in another pid namespace or on another host where `flock` proves nothing.
//! Each must never be removed while alive, and the mutants that judge their pids must
//! be caught. `SHUTTLE_ITERATIONS` sets the depth.
#![cfg(sessionlock_shuttle)]

use sessionlock_model::checkers::env_count;
use sessionlock_model::places::{Check, Mutation, PlaceReach, shuttle};
use sessionlock_model::runner::{guarded, reported_id};

fn core(check: Check) -> PlaceReach {
    let reach = shuttle(check, Mutation::None, env_count("SHUTTLE_ITERATIONS", 2000));
    println!("{}: {reach:?}", check.name());
    reach.assert_reached(check);
    reach
}

fn caught(check: Check, mutation: Mutation) -> Option<String> {
    let outcome = guarded(|| shuttle(check, mutation, env_count("SHUTTLE_ITERATIONS", 2000)));
    outcome.err().map(|e| reported_id(&e).unwrap_or(e))
}

/// An original-format holder in pid namespace 1, whose pid names no process here, keeps
/// its file open for writing: the contender waits (the lease probe finds the writer),
/// and takes over at once when the holder crashes.
/// Checks: INV-1, INV-2, INV-4
#[test]
fn shuttle_places_lease_probe() {
    core(Check::LeaseProbe);
}

/// Our format in another pid namespace, with no `flock`: its pid is never judged here.
/// Checks: INV-1, INV-2
#[test]
fn shuttle_places_foreign_namespace() {
    core(Check::ForeignNamespace);
}

/// Our format on another host (NFS: `flock` local to each host): never judged by pid.
/// Checks: INV-1, INV-2
#[test]
fn shuttle_places_remote_host() {
    core(Check::RemoteHost);
}

/// The checks have teeth: ignoring the lease, or judging a pid from elsewhere, removes a
/// live holder's file.
/// Checks: INV-2
#[test]
fn shuttle_places_catch_their_mutants() {
    assert_eq!(caught(Check::LeaseProbe, Mutation::IgnoreLease).as_deref(), Some("INV-2"));
    let ns = caught(Check::ForeignNamespace, Mutation::JudgeForeignPids);
    assert_eq!(ns.as_deref(), Some("INV-2"));
    let host = caught(Check::RemoteHost, Mutation::JudgeForeignPids);
    assert_eq!(host.as_deref(), Some("INV-2"));
}
