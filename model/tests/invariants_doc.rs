//! `spec/invariants.md` cannot drift from the code: its rows are exactly
//! `Invariant::ALL`, and every test it cites as `file::function` exists.
#![cfg(not(any(sessionlock_loom, sessionlock_shuttle)))]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sessionlock_model::Invariant;

const DOC: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/invariants.md"));

const HEADER: [&str; 5] = ["ID", "name", "statement", "why it holds", "checked by"];

/// Test-file stems that start this way are test references even if the file is missing.
const CHECKER_PREFIXES: [&str; 6] =
    ["loom_", "shuttle_", "stateright_", "proptest_", "gate_", "regression_"];

/// The folders whose `*.rs` files a `file::function` reference may name.
fn test_dirs() -> [PathBuf; 3] {
    let model = Path::new(env!("CARGO_MANIFEST_DIR"));
    [model.join("tests"), model.join("../spec/tests"), model.join("../tests")]
}

/// The cells of one Markdown table line, trimmed; `None` if it is not a table line.
fn cells(line: &str) -> Option<Vec<&str>> {
    let inner = line.trim().strip_prefix('|')?.strip_suffix('|')?;
    Some(inner.split('|').map(str::trim).collect())
}

/// The rows of the invariant table (the one with [`HEADER`]), separator excluded.
fn invariant_rows() -> Vec<Vec<&'static str>> {
    let mut lines = DOC.lines();
    lines.by_ref().find(|l| cells(l).is_some_and(|c| c == HEADER)).expect(
        "spec/invariants.md has a table headed `ID | name | statement | why it holds | checked by`",
    );
    lines
        .skip(1)
        .map_while(cells)
        .inspect(|row| assert_eq!(row.len(), HEADER.len(), "malformed row {row:?}"))
        .collect()
}

/// The text inside backticks.
fn code_spans(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

/// `(file, function)` if `span` is `file::function` with identifier parts.
fn as_reference(span: &str) -> Option<(&str, &str)> {
    let (file, function) = span.split_once("::")?;
    let ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (ident(file) && ident(function)).then_some((file, function))
}

/// The test file `stem.rs`, if it exists in one of [`test_dirs`].
fn test_file(stem: &str) -> Option<PathBuf> {
    test_dirs().into_iter().map(|dir| dir.join(format!("{stem}.rs"))).find(|path| path.is_file())
}

/// Whether `file` defines `fn function`.
fn defines(file: &Path, function: &str) -> bool {
    let source = std::fs::read_to_string(file).expect("readable test file");
    [format!("fn {function}("), format!("fn {function}<")]
        .iter()
        .any(|needle| source.contains(needle.as_str()))
}

/// A description of what is wrong with the reference `file::function`, if anything.
fn broken(file: &str, function: &str) -> Option<String> {
    match test_file(file) {
        None => Some(format!(
            "`{file}::{function}`: no {file}.rs under model/tests, spec/tests or tests"
        )),
        Some(path) if !defines(&path, function) => {
            Some(format!("`{file}::{function}`: {} has no `fn {function}`", path.display()))
        }
        Some(_) => None,
    }
}

/// The table's `(ID, name)` rows are exactly the `Invariant` enum's, with no duplicates.
/// Checks: INV-1, INV-2, INV-3, INV-4, INV-5, INV-6, INV-7
#[test]
fn invariant_table_matches_the_enum() {
    let rows: Vec<(String, String)> = invariant_rows()
        .iter()
        .map(|row| (row[0].replace('`', ""), row[1].replace('`', "")))
        .collect();
    let documented: BTreeSet<(String, String)> = rows.iter().cloned().collect();
    assert_eq!(documented.len(), rows.len(), "duplicate rows in {rows:?}");
    let defined: BTreeSet<(String, String)> =
        Invariant::ALL.iter().map(|inv| (inv.id().to_owned(), inv.name().to_owned())).collect();
    assert_eq!(documented, defined, "spec/invariants.md and Invariant::ALL differ");
    for row in invariant_rows() {
        for (at, cell) in row.iter().enumerate().skip(2) {
            assert!(!cell.is_empty(), "{}: the `{}` cell is empty", row[0], HEADER[at]);
        }
    }
}

/// Every invariant cites at least one test in its "checked by" cell, every cited
/// `file::function` there names an existing test function, and so does every such
/// reference elsewhere in the document that names a test file or a checker suite.
/// Checks: INV-1, INV-2, INV-3, INV-4, INV-5, INV-6, INV-7 (their "checked by" cells)
#[test]
fn every_cited_test_exists() {
    let mut problems = Vec::new();
    for row in invariant_rows() {
        let references: Vec<(&str, &str)> = code_spans(row[4]).filter_map(as_reference).collect();
        if references.is_empty() {
            problems.push(format!("{}: cites no `file::function` test", row[0]));
        }
        let code_refs = code_spans(row[4]).filter(|s| s.contains("::"));
        for span in code_refs.filter(|s| as_reference(s).is_none()) {
            problems.push(format!("{}: `{span}` is not a `file::function` reference", row[0]));
        }
        problems.extend(references.into_iter().filter_map(|(f, func)| broken(f, func)));
    }
    let elsewhere = code_spans(DOC).filter_map(as_reference).filter(|(file, _)| {
        test_file(file).is_some() || CHECKER_PREFIXES.iter().any(|p| file.starts_with(p))
    });
    let mut seen = BTreeSet::new();
    for (file, function) in elsewhere {
        if seen.insert((file, function)) {
            problems.extend(broken(file, function));
        }
    }
    let problems: BTreeSet<String> = problems.into_iter().collect();
    assert!(
        problems.is_empty(),
        "spec/invariants.md cites tests that do not exist:\n{}",
        problems.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// The reference checker has teeth: it rejects a missing file and a missing function.
/// Checks: no invariant; the checker behind `every_cited_test_exists`.
#[test]
fn reference_checker_rejects_what_does_not_exist() {
    assert_eq!(
        as_reference("loom_core::loom_crash_takeover"),
        Some(("loom_core", "loom_crash_takeover"))
    );
    assert_eq!(as_reference("Invariant::ALL()"), None);
    assert_eq!(broken("loom_core", "loom_crash_takeover"), None);
    assert!(broken("loom_core", "loom_no_such_test").is_some());
    assert!(broken("no_such_suite", "anything").is_some());
    assert_eq!(cells("| a | b |"), Some(vec!["a", "b"]));
}
