//! The core touches the world only through the `LockFs` and `Clock` traits, and shares
//! memory only through the sync facade. This test reads the core's
//! source and fails on any direct use of the filesystem, tokio, the system clocks or
//! `std::sync`. A line may opt out only with a `// purity:` comment saying why.

use std::path::{Path, PathBuf};

const FORBIDDEN: &[&str] = &[
    "std::fs",
    "fs_err",
    "rustix",
    "tokio",
    "Instant::now",
    "SystemTime::now",
    "std::thread",
    "std::process",
    "std::sync",
];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src/core is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The core is pure: no I/O, no clocks, no primitives outside the facade.
#[test]
fn core_uses_only_its_traits_and_the_facade() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let files = rust_files(&core);
    assert!(files.len() >= 5, "expected the core's modules under {}", core.display());
    let offences: Vec<String> = files
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(file).expect("readable source");
            offences(&text).into_iter().map(move |o| format!("{}:{o}", file.display()))
        })
        .collect();
    assert!(offences.is_empty(), "the core must stay pure:\n{}", offences.join("\n"));
}

/// `line: what it uses: the line` for every forbidden use in `source`.
fn offences(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        if let Some(word) = FORBIDDEN.iter().find(|w| code.contains(*w))
            && !line.contains("// purity:")
        {
            found.push(format!("{}: uses {word}: {}", n + 1, line.trim()));
        }
    }
    found
}

/// The purity check has teeth: it flags forbidden uses and honours justified ones.
#[test]
fn purity_check_flags_a_forbidden_line() {
    let bad = "fn f() {\n    let t = std::time::Instant::now();\n}";
    assert_eq!(offences(bad).len(), 1, "{:?}", offences(bad));
    let justified = "use std::sync::atomic::AtomicU64; // purity: ids only";
    assert!(offences(justified).is_empty());
}
