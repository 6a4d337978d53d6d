//! The shuttle build's tests, run from the ordinary build, so that the README's one test
//! command (`cargo test --workspace --release`) runs them too.
//!
//! The shuttle checkers, the runner and their tests exist only in the build with
//! `--cfg sessionlock_shuttle` (see `src/sync.rs`): a cfg, not a feature, so that the
//! library's own tests keep std's primitives in a workspace build. This test runs that
//! build's tests with cargo, in `target/shuttle` (the directory the runner uses), with
//! their output shown, and fails if any of them fails. Its first run there builds every
//! dependency once more.
#![cfg(not(any(sessionlock_loom, sessionlock_shuttle)))]

use std::path::Path;
use std::process::Command;

/// Checks: INV-1, INV-2, INV-3, INV-4, INV-5, INV-6, INV-7, INV-9 (those the shuttle
/// build's tests check, each named in its own test)
#[test]
fn the_shuttle_build_passes_its_tests() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    let status = Command::new(env!("CARGO"))
        .args(["test", "--release", "--locked", "-p", "sessionlock-model"])
        .current_dir(&workspace)
        .env("RUSTFLAGS", format!("{flags} --cfg sessionlock_shuttle").trim_start())
        .env("CARGO_TARGET_DIR", workspace.join("target").join("shuttle"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the shuttle build's tests failed: {status}");
}
