//! `sessionlock clean`: remove the lock files whose holders are provably gone.
//!
//! The real run uses the library's [`SessionLock::clean`], the very step a contender
//! takes: it opens the file, takes its kernel lock, judges it while holding that lock,
//! and removes it only if it is stale and the path still names the inode judged (INV-2).
//! A live holder, or one merely old (H6), is kept. `--dry-run` uses the read-only
//! [`SessionLock::inspect`] instead.

use std::io::Write;
use std::path::Path;

use sessionlock::{AcquireError, Cleaned, Clock, LockPath, SessionFs, SessionLock};

use crate::error::{CliError, kind_name};
use crate::inspect::{self, Found, reason_names};
use crate::targets;

/// What `clean` did with one lock path: the library's judgement, or why the path was
/// left alone unjudged.
pub enum Disposition {
    /// Judged: removed (or, in a dry run, would be), kept, or nothing there.
    Cleaned(Cleaned),
    /// Not a lock file: left alone.
    Skipped(String),
    /// Could not be examined (the error, without the path): left alone.
    Failed(String),
}

/// The tally printed at the end.
#[derive(Default)]
pub struct Tally {
    removed: usize,
    kept: usize,
    skipped: usize,
    /// Lock paths that could not be examined (reported on stderr too): never counted as
    /// kept or removed.
    failed: usize,
}

/// Runs `clean` on `dir`. Exit code 0, or 1 when some lock could not be examined: each
/// such lock gets a `failed` line and is counted apart in the summary.
pub fn main(dir: &Path, dry_run: bool) -> Result<u8, CliError> {
    let targets = targets::scan(dir)?;
    let lock = SessionLock::new();
    let mut out = std::io::stdout().lock();
    let mut tally = Tally::default();
    let mut code = 0;
    for target in &targets {
        let disposition =
            if dry_run { look(&lock, &target.lock) } else { clean(&lock, &target.lock) };
        let disposition = disposition.unwrap_or_else(|error| failed(error, &mut code));
        report(&mut out, &target.lock, &disposition, dry_run, &mut tally)?;
    }
    summary(&mut out, &tally, dry_run)?;
    out.flush()?;
    Ok(code)
}

/// Reports a lock path that could not be examined, and raises `code` to its exit code.
pub fn failed(error: AcquireError, code: &mut u8) -> Disposition {
    let error = CliError::from(error);
    error.report();
    *code = (*code).max(error.exit_code());
    Disposition::Failed(error.detail())
}

/// Probes `lock` and removes it if stale, under its kernel lock and bound to its inode.
pub fn clean<F: SessionFs, C: Clock>(
    lock: &SessionLock<F, C>,
    path: &LockPath,
) -> Result<Disposition, AcquireError> {
    match lock.clean_blocking(path) {
        Ok(cleaned) => Ok(Disposition::Cleaned(cleaned)),
        Err(AcquireError::NotALockFile { kind, .. }) => Ok(Disposition::Skipped(kind_name(kind))),
        Err(e) => Err(e),
    }
}

/// What [`clean`] would do, from a read-only look.
pub fn look<F: SessionFs, C: Clock>(
    lock: &SessionLock<F, C>,
    path: &LockPath,
) -> Result<Disposition, AcquireError> {
    Ok(match inspect::look(lock, path)? {
        Found::Lock(holder) if holder.is_stale() => {
            Disposition::Cleaned(Cleaned::Removed(holder.reasons().to_vec()))
        }
        Found::Lock(holder) => Disposition::Cleaned(Cleaned::Kept(holder)),
        Found::Nothing => Disposition::Cleaned(Cleaned::Missing),
        Found::NotALockFile(kind) => Disposition::Skipped(kind_name(kind)),
        Found::Failed(error) => Disposition::Failed(error),
    })
}

/// Prints what cleaning `lock` did, and counts it.
pub fn report(
    out: &mut impl Write,
    lock: &LockPath,
    disposition: &Disposition,
    dry_run: bool,
    tally: &mut Tally,
) -> std::io::Result<()> {
    match disposition {
        Disposition::Cleaned(Cleaned::Removed(reasons)) => {
            tally.removed += 1;
            let verb = if dry_run { "would remove" } else { "removed" };
            writeln!(out, "{verb} {lock} ({})", reason_names(reasons).join(", "))
        }
        Disposition::Cleaned(Cleaned::Kept(holder)) => {
            tally.kept += 1;
            writeln!(out, "kept {lock}: {holder}")
        }
        Disposition::Cleaned(Cleaned::Missing) => Ok(()),
        Disposition::Cleaned(_) => {
            tally.failed += 1;
            writeln!(out, "failed {lock}: an outcome this version does not know")
        }
        Disposition::Skipped(kind) => {
            tally.skipped += 1;
            writeln!(out, "skipped {lock}: a {kind}, not a lock file")
        }
        Disposition::Failed(error) => {
            tally.failed += 1;
            writeln!(out, "failed {lock}: {error}")
        }
    }
}

/// Prints the tally.
pub fn summary(out: &mut impl Write, tally: &Tally, dry_run: bool) -> std::io::Result<()> {
    let Tally { removed, kept, skipped, failed } = tally;
    let verb = if dry_run { "dry run: would remove" } else { "removed" };
    write!(out, "{verb} {removed} stale lock(s), kept {kept} live")?;
    if *skipped > 0 {
        write!(out, ", skipped {skipped} not a lock file")?;
    }
    if *failed > 0 {
        write!(out, ", failed to examine {failed}")?;
    }
    writeln!(out)
}
