//! Reads a session file of section markers back and finds the sections that overlapped.
//!
//! Each section appends `B <id> <seq>` when it enters and `E <id> <seq>` when it leaves,
//! each line in one `O_APPEND` write. Two sections overlap when one begins while another
//! has begun and not ended.

use std::collections::BTreeSet;

/// What a session file shows.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sections {
    /// Sections that began.
    pub begun: usize,
    /// Sections that began and ended.
    pub complete: usize,
    /// Sections that were inside at the same time as another one.
    pub overlapped: usize,
    /// Overlapping pairs by kind, from the ids' first letter: `o` for an original
    /// appender, `u` for one of ours: `[o+o, o+u, u+u]`.
    pub pairs: [usize; 3],
    /// Lines that are not markers, or an end with no begin.
    pub malformed: usize,
}

/// Appends one marker line to `session`.
///
/// # Errors
/// The open or the write failed.
pub fn mark(session: &std::path::Path, what: char, id: &str, seq: u64) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(session)?;
    file.write_all(format!("{what} {id} {seq}\n").as_bytes())
}

/// Scans the markers in `text`.
pub fn scan(text: &str) -> Sections {
    let mut found = Sections::default();
    let mut open: BTreeSet<(String, u64)> = BTreeSet::new();
    let mut overlapped: BTreeSet<(String, u64)> = BTreeSet::new();
    for line in text.lines() {
        let mut parts = line.split(' ');
        let (kind, id, seq) =
            (parts.next(), parts.next(), parts.next().and_then(|s| s.parse().ok()));
        let (Some(kind), Some(id), Some(seq), None) = (kind, id, seq, parts.next()) else {
            found.malformed += 1;
            continue;
        };
        let section = (id.to_owned(), seq);
        match kind {
            "B" => {
                found.begun += 1;
                if !open.is_empty() {
                    for other in &open {
                        let ours = usize::from(other.0.starts_with('u'));
                        found.pairs[ours + usize::from(id.starts_with('u'))] += 1;
                    }
                    overlapped.extend(open.iter().cloned());
                    overlapped.insert(section.clone());
                }
                open.insert(section);
            }
            "E" if open.remove(&section) => found.complete += 1,
            _ => found.malformed += 1,
        }
    }
    found.overlapped = overlapped.len();
    found
}
