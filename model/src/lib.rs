//! # sessionlock-model
//!
//! The world the checkers drive: an in-memory filesystem and process table ([`World`],
//! [`ModelFs`], [`ModelClock`]), the [`Invariant`]s, and the scenario harness.

pub mod fs;
pub mod injection;
pub mod invariant;
mod process;
mod trace;
pub mod world;
#[cfg(sessionlock_shuttle)]
pub mod zoo;

pub use fs::{ModelClock, ModelFs, ModelHandle};
pub use invariant::Invariant;
pub use world::{FlockScope, Gate, Pid, Stats, Whereabouts, World};
#[cfg(sessionlock_shuttle)]
pub mod checkers;
pub mod core_mutants;
#[cfg(sessionlock_shuttle)]
pub mod counterexample;
pub mod exec;
#[cfg(sessionlock_shuttle)]
mod exploring;
pub mod failure;
pub mod fault;
pub mod fuzz;
pub mod gate;
pub mod harness;
pub mod history;
pub mod interleaving;
pub mod machine;
pub mod mixed;
pub mod mutants;
pub mod observe;
pub mod op;
pub mod original;
pub mod places;
pub mod refine;
pub mod rt;
#[cfg(sessionlock_shuttle)]
pub mod runner;
pub mod scenarios;
#[cfg(sessionlock_shuttle)]
pub mod schedules;
pub mod scripts;
pub mod subject;

pub use observe::{Reach, Reachable};
pub use op::{Command, Op};
pub use subject::{Mutant, Subject};
