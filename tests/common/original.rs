//! The original TypeScript lock's rules for a lock file it finds, re-implemented
//! faithfully: `open(path, "wx")` must fail; the JSON payload's `pid` must be alive (the
//! original asks `kill(pid, 0)`, which a zombie answers too: here, `/proc/<pid>` exists);
//! its `starttime` must match field 22 of `/proc/<pid>/stat`; and `createdAt` must be
//! younger than 30 min. Otherwise it removes the file by path.

use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Field 22 (`starttime`) of `/proc/<pid>/stat`, read the way the original reads it.
pub fn starttime(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    let after_comm = &stat[stat.rfind(')').expect("comm") + 2..];
    after_comm.split(' ').nth(19).expect("field 22").parse().expect("number")
}

/// The original's verdict on a lock file: `true` when it must wait for a live, fresh holder.
pub fn original_waits_for(lock_file: &Path) -> Result<bool, String> {
    match OpenOptions::new().write(true).create_new(true).open(lock_file) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        other => return Err(format!("open(path, \"wx\") should fail with EEXIST: {other:?}")),
    }
    let text = std::fs::read_to_string(lock_file).map_err(|e| e.to_string())?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let pid = json["pid"].as_u64().filter(|p| *p > 0).ok_or("no positive integer pid")?;
    let pid = u32::try_from(pid).map_err(|e| e.to_string())?;
    let alive = Path::new(&format!("/proc/{pid}")).exists();
    let same_process = alive && json["starttime"].as_u64() == Some(starttime(pid));
    let created = json["createdAt"].as_str().ok_or("no createdAt")?;
    let at = humantime::parse_rfc3339(created).map_err(|e| format!("{created}: {e}"))?;
    #[allow(clippy::disallowed_methods)] // the original ages files by the wall clock
    let age = SystemTime::now().duration_since(at).unwrap_or_default();
    let fresh = age < Duration::from_secs(30 * 60);
    Ok(alive && same_process && fresh)
}
