//! The library's public face, as its documentation lists it: `cargo doc` of the library
//! (default features plus `postgres`, so with everything a user can turn on) must list
//! exactly the items below, and every public enum and error type must be
//! `#[non_exhaustive]`. An item made public by accident, or one dropped, fails here;
//! change the list only on purpose.
//!
//! The hidden `__model` feature, which makes the core public for the model crate, is off
//! here, as it is for every user.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every item `all.html` lists, by its page, sorted.
const PUBLIC_FACE: &[&str] = &[
    "api/enum.Cleaned.html",
    "api/enum.WithError.html",
    "api/struct.Builder.html",
    "api/struct.SessionGuard.html",
    "api/struct.SessionLock.html",
    "constant.OUTCOME_TARGET.html",
    "enum.AcquireError.html",
    "enum.Event.html",
    "enum.Found.html",
    "enum.Place.html",
    "enum.Reason.html",
    "enum.Reentrancy.html",
    "enum.ReleaseError.html",
    "enum.Released.html",
    "enum.TryAcquire.html",
    "fs/enum.FileKind.html",
    "fs/enum.FsOp.html",
    "fs/enum.Lease.html",
    "fs/enum.Opened.html",
    "fs/enum.PidState.html",
    "fs/enum.Published.html",
    "fs/struct.FileId.html",
    "fs/struct.FileMeta.html",
    "fs/struct.FsError.html",
    "fs/struct.Location.html",
    "fs/struct.LockPath.html",
    "fs/struct.Moment.html",
    "fs/struct.ProcessId.html",
    "fs/struct.Ticket.html",
    "fs/trait.Clock.html",
    "fs/trait.LockFs.html",
    "fs/trait.SessionFs.html",
    "fs/type.FsResult.html",
    "pg/constant.SCHEMA.html",
    "pg/enum.ConnectError.html",
    "pg/enum.FenceError.html",
    "pg/fn.append_fenced.html",
    "pg/fn.check_fence.html",
    "pg/struct.LockRow.html",
    "pg/struct.PgFs.html",
    "pg/type.PgSessionGuard.html",
    "pg/type.PgSessionLock.html",
    "real/struct.RealClock.html",
    "real/struct.RealFs.html",
    "struct.Holder.html",
    "struct.Owner.html",
    "trait.Observer.html",
];

/// The one public enum that is exhaustive on purpose: `Acquired` or `Held`, like a
/// `Result` (see its docs).
const EXHAUSTIVE: &[&str] = &["enum.TryAcquire.html"];

/// The public structs that are error types.
const ERROR_STRUCTS: &[&str] = &["fs/struct.FsError.html"];

/// Documents the library into a directory of its own and returns its `sessionlock` docs.
fn document() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("public-face");
    let status = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["doc", "--no-deps", "--locked", "-p", "sessionlock", "--features", "postgres"])
        .arg("--target-dir")
        .arg(&target)
        .env_remove("RUSTDOCFLAGS")
        .env_remove("RUSTFLAGS")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo doc failed: {status}");
    target.join("doc/sessionlock")
}

/// The pages `all.html` links to (`api/struct.SessionLock.html`, ...), sorted.
fn listed(all_html: &str) -> Vec<String> {
    let mut pages: Vec<String> = all_html
        .split("<li><a href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|page| !page.starts_with('#'))
        .map(str::to_owned)
        .collect();
    pages.sort();
    pages
}

#[test]
fn the_documented_items_are_exactly_the_public_face() {
    let doc = document();
    let all = std::fs::read_to_string(doc.join("all.html")).expect("all.html");
    let pages = listed(&all);
    assert!(pages.len() > 10, "all.html lists items (found {pages:?})");
    let added: Vec<&String> = pages.iter().filter(|p| !PUBLIC_FACE.contains(&p.as_str())).collect();
    let gone: Vec<&&str> = PUBLIC_FACE.iter().filter(|p| !pages.iter().any(|q| q == *p)).collect();
    assert!(
        added.is_empty() && gone.is_empty(),
        "the public face changed ({} items, {} expected): made public {added:?}, no longer \
         public {gone:?}",
        pages.len(),
        PUBLIC_FACE.len()
    );

    let enums =
        pages.iter().filter(|p| p.rsplit('/').next().is_some_and(|f| f.starts_with("enum.")));
    let errors = pages.iter().filter(|p| ERROR_STRUCTS.contains(&p.as_str()));
    let mut checked = 0;
    for page in enums.chain(errors) {
        if EXHAUSTIVE.contains(&page.as_str()) {
            continue;
        }
        let html = std::fs::read_to_string(doc.join(page)).expect("an item's page");
        assert!(html.contains("#[non_exhaustive]"), "{page} is not #[non_exhaustive]");
        checked += 1;
    }
    assert!(checked >= 15, "checked {checked} enums and error types");
}
