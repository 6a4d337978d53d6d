//! `sessionlock inspect`: who holds each lock, changing nothing.
//!
//! Each lock path is looked at with the library's read-only [`SessionLock::inspect`]:
//! the file is opened, its kernel lock tried (to learn whether a live holder has it) and
//! let go at once, and its payload judged. Nothing is ever removed.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use sessionlock::fs::{FileKind, PidState};
use sessionlock::{AcquireError, Clock, Holder, LockPath, Place, Reason, SessionFs, SessionLock};

use crate::error::{CliError, kind_name};
use crate::targets::{self, Target};

/// What one look at a lock path found.
#[derive(Debug)]
pub enum Found {
    /// A lock file, and who holds it.
    Lock(Box<Holder>),
    /// Nothing at the path: no lock.
    Nothing,
    /// Something that is not a lock file; it was left alone.
    NotALockFile(FileKind),
    /// Looking failed (a lock file this user may not read, say): the error's message.
    /// The lock's state is unknown, never reported as free.
    Failed(String),
}

/// One line of the report.
struct Row {
    path: LockPath,
    found: Found,
}

/// Runs `inspect` on `paths`; prints a table, or one JSON array with `json`.
///
/// Each failure is reported on stderr as it happens and the other paths are still shown;
/// a lock path that could not be looked at gets a row saying so (`error`), never "no
/// lock". The exit code is then the worst failure's (2 for an explicitly named non-lock
/// file or an unusable path, 1 for I/O).
pub fn main(paths: &[PathBuf], json: bool) -> Result<u8, CliError> {
    let lock = SessionLock::new();
    let mut rows = Vec::new();
    let mut code = 0;
    let mut failures = 0;
    let mut fail = |error: CliError| {
        error.report();
        code = code.max(error.exit_code());
        failures += 1;
    };
    for arg in paths {
        match targets::resolve(arg) {
            Ok(targets) => targets.iter().for_each(|t| look_one(&lock, t, &mut rows, &mut fail)),
            Err(error) => fail(error),
        }
    }
    let mut out = std::io::stdout().lock();
    if json {
        print_json(&mut out, &rows)?
    } else if !rows.is_empty() || failures == 0 {
        print_table(&mut out, &rows)?
    }
    out.flush()?;
    Ok(code)
}

/// Looks at one target and adds its row, unless that lock path already has one (named
/// twice, say as a directory and as a file in it). Something other than a lock file at
/// a path the user named gets a row *and* is a failure.
fn look_one(lock: &SessionLock, target: &Target, rows: &mut Vec<Row>, fail: impl FnOnce(CliError)) {
    let found = match look(lock, &target.lock) {
        Ok(found) => found,
        Err(error) => {
            let error = CliError::from(error);
            if !rows.iter().any(|r| r.path == target.lock) {
                rows.push(Row { path: target.lock.clone(), found: Found::Failed(error.detail()) });
            }
            return fail(error);
        }
    };
    let not_a_lock = match &found {
        Found::NotALockFile(kind) if target.explicit => Some(*kind),
        _ => None,
    };
    if !rows.iter().any(|r| r.path == target.lock) {
        rows.push(Row { path: target.lock.clone(), found });
    }
    if let Some(kind) = not_a_lock {
        fail(CliError::NotALockFile { path: target.lock.as_path().to_owned(), kind });
    }
}

/// One read-only look at `lock`.
///
/// # Errors
/// A lock primitive's failure.
pub fn look<F: SessionFs, C: Clock>(
    lock: &SessionLock<F, C>,
    path: &LockPath,
) -> Result<Found, AcquireError> {
    match lock.inspect_blocking(path) {
        Ok(Some(holder)) => Ok(Found::Lock(Box::new(holder))),
        Ok(None) => Ok(Found::Nothing),
        Err(AcquireError::NotALockFile { kind, .. }) => Ok(Found::NotALockFile(kind)),
        Err(e) => Err(e),
    }
}

/// Whether the holder is alive: `None` when nothing says either way (a foreign file
/// whose pid could not be judged, a payload-less file within its grace).
pub fn alive(holder: &Holder) -> Option<bool> {
    if holder.is_in_process() || holder.is_kernel_held() || holder.has_writer() {
        return Some(true);
    }
    if holder.is_stale() {
        return Some(false);
    }
    match holder.pid_state() {
        Some(PidState::Alive { .. }) => Some(true),
        Some(PidState::Dead) => Some(false),
        _ => None,
    }
}

/// The reasons' names, as the core spells them (`KernelProvenDead`, `DeadPid`, ...).
pub fn reason_names(reasons: &[Reason]) -> Vec<String> {
    reasons.iter().map(Reason::to_string).collect()
}

fn millis(d: Option<Duration>) -> Option<u64> {
    d.map(|d| d.as_millis().try_into().unwrap_or(u64::MAX))
}

/// One object of the `--json` array. A path with nothing at it has `found: "nothing"`
/// and `held: false`; a non-lock file there has `found` naming what it is; a path that
/// could not be looked at has `found: "error"`, `held: null` (unknown) and `error`.
#[derive(Serialize)]
struct JsonRow {
    path: String,
    found: String,
    held: Option<bool>,
    /// The holder's pid, only where it names a process here.
    pid: Option<u32>,
    /// The pid the payload records, wherever the holder lives.
    recorded_pid: Option<u32>,
    /// Where the holder lives: `here`, `unrecorded` (the original's files),
    /// `another-pid-namespace` or `another-host`.
    place: Option<&'static str>,
    alive: Option<bool>,
    kernel_held: bool,
    /// A descriptor had the file open for writing (a foreign holder, proven alive).
    writer: bool,
    age_ms: Option<u64>,
    max_hold_ms: Option<u64>,
    /// A file with no usable payload, within its grace: when it becomes stale.
    stale_in_ms: Option<u64>,
    stale: bool,
    reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn print_json(out: &mut impl Write, rows: &[Row]) -> std::io::Result<()> {
    let array: Vec<JsonRow> = rows.iter().map(row_json).collect();
    serde_json::to_writer_pretty(&mut *out, &array)?;
    writeln!(out)
}

fn row_json(row: &Row) -> JsonRow {
    let path = row.path.as_path().to_string_lossy().into_owned();
    let h = match &row.found {
        Found::Lock(h) => h,
        Found::Nothing => return JsonRow::empty(path, "nothing".to_owned()),
        Found::NotALockFile(kind) => return JsonRow::empty(path, kind_name(*kind)),
        Found::Failed(error) => {
            let error = Some(error.clone());
            return JsonRow { held: None, error, ..JsonRow::empty(path, "error".to_owned()) };
        }
    };
    JsonRow {
        path,
        found: "lock-file".to_owned(),
        held: Some(!h.is_stale()),
        pid: h.pid().filter(|_| !h.place().is_elsewhere()),
        recorded_pid: h.pid(),
        place: Some(place_name(h.place())),
        alive: alive(h),
        kernel_held: h.is_kernel_held(),
        writer: h.has_writer(),
        age_ms: millis(h.age()),
        max_hold_ms: millis(h.max_hold()),
        stale_in_ms: millis(h.stale_in()),
        stale: h.is_stale(),
        reasons: reason_names(h.reasons()),
        error: None,
    }
}

impl JsonRow {
    fn empty(path: String, found: String) -> Self {
        Self {
            path,
            found,
            held: Some(false),
            pid: None,
            recorded_pid: None,
            place: None,
            alive: None,
            kernel_held: false,
            writer: false,
            age_ms: None,
            max_hold_ms: None,
            stale_in_ms: None,
            stale: false,
            reasons: Vec::new(),
            error: None,
        }
    }
}

/// Where a holder lives, as `--json` names it.
fn place_name(place: Place) -> &'static str {
    match place {
        Place::Here => "here",
        Place::Unrecorded => "unrecorded",
        Place::OtherPidNamespace => "another-pid-namespace",
        Place::OtherHost => "another-host",
        _ => "elsewhere",
    }
}

/// The PID cell: the pid where it names a process here, else where the holder lives.
fn pid_cell(h: &Holder) -> String {
    match (h.place(), h.pid()) {
        (Place::OtherPidNamespace, _) => "other-pidns".to_owned(),
        (Place::OtherHost, _) => "other-host".to_owned(),
        (_, Some(pid)) => pid.to_string(),
        (_, None) => "-".to_owned(),
    }
}

const HEADER: [&str; 8] = ["STATUS", "PID", "ALIVE", "KERNEL", "AGE", "BUDGET", "REASONS", "PATH"];

fn print_table(out: &mut impl Write, rows: &[Row]) -> std::io::Result<()> {
    if rows.is_empty() {
        return writeln!(out, "no lock files");
    }
    print_columns(out, HEADER, rows.iter().map(row_cells))
}

/// Prints `header` and then `rows` as left-aligned columns, each as wide as its widest
/// cell; the last column is not padded. `inspect` of files and of PostgreSQL rows share it.
pub fn print_columns<const N: usize>(
    out: &mut impl Write,
    header: [&str; N],
    rows: impl Iterator<Item = [String; N]>,
) -> std::io::Result<()> {
    let mut cells = vec![header.map(str::to_owned)];
    cells.extend(rows);
    let widths: Vec<usize> =
        (0..N).map(|c| cells.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for row in &cells {
        let Some((last, padded)) = row.split_last() else { continue };
        for (cell, width) in padded.iter().zip(&widths) {
            write!(out, "{cell:<width$}  ")?;
        }
        writeln!(out, "{last}")?;
    }
    Ok(())
}

fn row_cells(row: &Row) -> [String; 8] {
    let path = row.path.to_string();
    let dash = || "-".to_owned();
    let Found::Lock(h) = &row.found else {
        let (status, reasons) = match &row.found {
            Found::NotALockFile(kind) => {
                (format!("not a lock file ({})", kind_name(*kind)), dash())
            }
            Found::Failed(error) => ("error".to_owned(), error.clone()),
            _ => ("no lock".to_owned(), dash()),
        };
        return [status, dash(), dash(), dash(), dash(), dash(), reasons, path];
    };
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let secs = |d: Option<Duration>| d.map_or_else(dash, |d| format!("{:.1}s", d.as_secs_f64()));
    let reasons = reason_names(h.reasons()).join(",");
    [
        if h.is_stale() { "stale" } else { "held" }.to_owned(),
        pid_cell(h),
        alive(h).map_or_else(|| "?".to_owned(), yes_no),
        yes_no(h.is_kernel_held()),
        secs(h.age()),
        secs(h.max_hold()),
        match (reasons.is_empty(), h.stale_in()) {
            (true, Some(left)) => format!("no payload, stale in {:.1}s", left.as_secs_f64()),
            (true, None) => dash(),
            (false, _) => reasons,
        },
        path,
    ]
}

#[cfg(test)]
mod tests {
    use super::print_columns;

    /// Each column is as wide as its widest cell plus two spaces; the last is not padded.
    #[test]
    fn columns_line_up_and_the_last_is_not_padded() {
        let mut out = Vec::new();
        let rows = [["held".to_owned(), "12345".to_owned(), "a".to_owned()]];
        print_columns(&mut out, ["STATUS", "PID", "PATH"], rows.into_iter()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "STATUS  PID    PATH\nheld    12345  a\n");
    }
}
