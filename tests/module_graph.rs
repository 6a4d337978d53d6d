//! Modules point one way: no module imports, directly or through others, from a module
//! that imports from it, and in particular no child imports from its parent while the
//! parent imports from the child. The test reads the `use` lines and the inline paths
//! (`super::conn::io_err(e)`, a child's `fifo::check(..)`) of the library, the CLI, the
//! spec and the model, resolves `crate::`, `super::`, `self::` and child paths to the
//! module they name, and fails naming every circle, with its edges, and every import of
//! a module from one of its ancestors (a parent only declares and re-exports).
//!
//! Unit tests (`mod tests`, at the end of a file) are left out: they import their parent
//! by design.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

/// The modules of the crate whose root file is `root` (its children under `dir`), each
/// with its source up to its unit tests.
fn modules(root: &Path, dir: &Path) -> BTreeMap<Module, String> {
    let mut found = BTreeMap::new();
    found.insert(Vec::new(), std::fs::read_to_string(root).expect("readable root"));
    let mut stack = vec![dir.to_owned()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).expect("readable source directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "bin") {
                    stack.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path == root {
                continue;
            }
            let rel = path.strip_prefix(dir).expect("under the source directory");
            let mut module: Module =
                rel.with_extension("").iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if module.last().is_some_and(|m| m == "mod") {
                module.pop();
            }
            let text = std::fs::read_to_string(&path).expect("readable source");
            let code = text.split("mod tests {").next().unwrap_or_default().to_owned();
            found.insert(module, code);
        }
    }
    found
}

/// Every `use` declaration of `code`, whitespace removed (`crate::a::{b,c::d}`).
fn uses(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or_default().trim();
        let rest = match &mut current {
            Some(_) => line,
            None => match line.split_once("use ") {
                Some((vis, rest)) if vis.is_empty() || vis.starts_with("pub") => {
                    current = Some(String::new());
                    rest
                }
                _ => continue,
            },
        };
        let decl = current.as_mut().expect("inside a use declaration");
        decl.extend(rest.chars().filter(|c| !c.is_whitespace()));
        if decl.ends_with(';') {
            out.push(decl.trim_end_matches(';').to_owned());
            current = None;
        }
    }
    out
}

/// Every path written inline in `code` that starts at `crate::` or `super::`
/// (`super::conn::io_err(e)`), or at one of the module's `children` (`fifo::check(..)`),
/// outside comments: an import as real as a `use`.
fn inline_paths(code: &str, children: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let starts = ["crate::", "super::"].map(str::to_owned);
    let starts: Vec<String> =
        starts.into_iter().chain(children.iter().map(|c| format!("{c}::"))).collect();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or_default();
        for start in &starts {
            for (at, _) in line.match_indices(start.as_str()) {
                let before = line[..at].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue; // `$crate::`, or the middle of a longer path
                }
                let path: String = line[at..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                out.push(path.trim_end_matches(':').to_owned());
            }
        }
    }
    out
}

/// The modules `decl`, a `use` of module `at`, imports from.
fn targets(at: &Module, decl: &str, all: &BTreeMap<Module, String>) -> BTreeSet<Module> {
    let (head, items) = match decl.split_once("::{") {
        Some((head, items)) => (head, items.trim_end_matches('}')),
        None => (decl, ""),
    };
    let mut parts: Vec<&str> = head.split("::").collect();
    let mut base = at.clone();
    match parts.first().copied() {
        Some("crate") => {
            base.clear();
            parts.remove(0);
        }
        Some("self") => {
            parts.remove(0);
        }
        Some("super") => {
            while parts.first() == Some(&"super") {
                base.pop();
                parts.remove(0);
            }
        }
        Some(child) if all.contains_key(&[at.clone(), vec![child.to_owned()]].concat()) => {}
        _ => return BTreeSet::new(), // another crate
    }
    base.extend(parts.iter().map(|p| (*p).to_owned()));
    let mut candidates = vec![base.clone()];
    for item in items.split(',').filter(|i| !i.is_empty()) {
        let first = item.split("::").next().unwrap_or_default().trim_start_matches('{');
        candidates.push([base.clone(), vec![first.to_owned()]].concat());
    }
    candidates
        .into_iter()
        .filter_map(|mut c| {
            while !all.contains_key(&c) {
                c.pop()?;
            }
            Some(c)
        })
        .filter(|c| c != at)
        .collect()
}

/// The modules that module `m`, whose source is `code`, imports from: through its `use`
/// lines and the paths it writes inline.
fn imports(m: &Module, code: &str, all: &BTreeMap<Module, String>) -> BTreeSet<Module> {
    let children: Vec<&str> = all
        .keys()
        .filter(|c| c.len() == m.len() + 1 && c.starts_with(m))
        .filter_map(|c| c.last().map(String::as_str))
        .collect();
    let paths = uses(code).into_iter().chain(inline_paths(code, &children));
    paths.flat_map(|u| targets(m, &u, all)).collect()
}

/// Every circle of the crate rooted at `root`, as lines naming its modules and edges.
fn circles(root: &Path, dir: &Path) -> Vec<String> {
    let all = modules(root, dir);
    let edges: BTreeMap<&Module, BTreeSet<Module>> =
        all.iter().map(|(m, code)| (m, imports(m, code, &all))).collect();
    let reaches = |from: &Module, to: &Module| -> bool {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(m) = stack.pop() {
            if &m == to {
                return true;
            }
            if seen.insert(m.clone()) {
                stack.extend(edges.get(&m).into_iter().flatten().cloned());
            }
        }
        false
    };
    let name = |m: &Module| format!("crate::{}", m.join("::"));
    let mut found = Vec::new();
    for (from, tos) in &edges {
        for to in tos {
            if reaches(to, from) {
                found.push(format!("{} -> {} (and back)", name(from), name(to)));
            }
        }
    }
    found
}

/// Every import of a module from one of its ancestors (`use super::Ctx`, or an item of
/// the crate root), as lines naming the two. Unit-test modules (`tests.rs`) are left out.
fn upward(root: &Path, dir: &Path) -> Vec<String> {
    let all = modules(root, dir);
    let name = |m: &Module| format!("crate::{}", m.join("::"));
    let mut found = Vec::new();
    for (m, code) in all.iter().filter(|(m, _)| m.last().is_none_or(|l| l != "tests")) {
        for to in imports(m, code, &all) {
            if to.len() < m.len() && m.starts_with(&to) {
                found.push(format!("{} -> {}", name(m), name(&to)));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

fn assert_one_way(root: &str, dir: &str) {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (root, dir) = (here.join(root), here.join(dir));
    let found = circles(&root, &dir);
    assert!(found.is_empty(), "import circles in {}:\n{}", dir.display(), found.join("\n"));
    let up = upward(&root, &dir);
    assert!(up.is_empty(), "imports from a parent in {}:\n{}", dir.display(), up.join("\n"));
}

/// The library's modules point one way.
#[test]
fn the_library_has_no_import_circle() {
    assert_one_way("src/lib.rs", "src");
}

/// The CLI's modules point one way.
#[test]
fn the_cli_has_no_import_circle() {
    assert_one_way("src/bin/sessionlock.rs", "src/bin/sessionlock");
}

/// The protocol spec's modules point one way.
#[test]
fn the_spec_has_no_import_circle() {
    assert_one_way("spec/src/lib.rs", "spec/src");
}

/// The model's modules point one way: the world, the filesystem over it, the subjects,
/// the recorders and the runners each import only from modules below them.
#[test]
fn the_model_has_no_import_circle() {
    assert_one_way("model/src/lib.rs", "model/src");
}

/// The reader sees a circle where there is one: a child importing from its parent,
/// which imports from it.
#[test]
fn a_parent_child_circle_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path();
    std::fs::write(src.join("lib.rs"), "mod a;\n").unwrap();
    std::fs::create_dir(src.join("a")).unwrap();
    std::fs::write(src.join("a/mod.rs"), "mod b;\nuse b::Thing;\npub struct Ctx;\n").unwrap();
    std::fs::write(src.join("a/b.rs"), "use super::{Ctx, close};\npub struct Thing;\n").unwrap();
    let found = circles(&src.join("lib.rs"), src);
    assert!(found.contains(&"crate::a -> crate::a::b (and back)".to_owned()), "{found:?}");
    std::fs::write(src.join("a/b.rs"), "use crate::c::Ctx;\npub struct Thing;\n").unwrap();
    assert_eq!(circles(&src.join("lib.rs"), src), Vec::<String>::new());
}

/// A path written inline, without a `use`, is an import too: two sibling modules that
/// each call into the other form a circle.
#[test]
fn an_inline_path_is_an_import() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path();
    std::fs::write(src.join("lib.rs"), "mod conn;\nmod setup;\n").unwrap();
    std::fs::write(src.join("conn.rs"), "use crate::setup::Probe;\npub fn io_err() {}\n").unwrap();
    std::fs::write(src.join("setup.rs"), "pub struct Probe;\nfn f() { super::conn::io_err() }\n")
        .unwrap();
    let found = circles(&src.join("lib.rs"), src);
    assert!(found.contains(&"crate::setup -> crate::conn (and back)".to_owned()), "{found:?}");
    std::fs::write(src.join("setup.rs"), "pub struct Probe;\n// super::conn::io_err()\n").unwrap();
    assert_eq!(circles(&src.join("lib.rs"), src), Vec::<String>::new());
}

/// A parent that names its child inline (`fifo::check(..)`, no `use`) imports from it: with
/// a child that imports from the parent, that is a circle.
#[test]
fn a_child_named_inline_is_an_import() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path();
    std::fs::write(src.join("lib.rs"), "mod live;\n").unwrap();
    std::fs::create_dir(src.join("live")).unwrap();
    let parent = "mod fifo;\npub fn alive() {}\nfn f() { fifo::check() }\n";
    std::fs::write(src.join("live/mod.rs"), parent).unwrap();
    std::fs::write(src.join("live/fifo.rs"), "use super::alive;\npub fn check() {}\n").unwrap();
    let found = circles(&src.join("lib.rs"), src);
    assert!(found.contains(&"crate::live -> crate::live::fifo (and back)".to_owned()), "{found:?}");
    std::fs::write(src.join("live/fifo.rs"), "pub fn check() {}\n").unwrap();
    assert_eq!(circles(&src.join("lib.rs"), src), Vec::<String>::new());
}

/// A child that imports an item of its parent is found even when the parent imports
/// nothing from it (no circle): children import nothing from their parent.
#[test]
fn a_child_importing_from_its_parent_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path();
    std::fs::write(src.join("lib.rs"), "mod api;\n").unwrap();
    std::fs::create_dir(src.join("api")).unwrap();
    std::fs::write(src.join("api/mod.rs"), "mod lock;\nmod linux;\npub struct Lock;\n").unwrap();
    std::fs::write(src.join("api/linux.rs"), "use super::Lock;\n").unwrap();
    std::fs::write(src.join("api/lock.rs"), "pub struct Lock;\n").unwrap();
    let (root, found) = (src.join("lib.rs"), upward(&src.join("lib.rs"), src));
    assert_eq!(found, vec!["crate::api::linux -> crate::api".to_owned()]);
    assert_eq!(circles(&root, src), Vec::<String>::new());
    std::fs::write(src.join("api/linux.rs"), "use super::lock::Lock;\n").unwrap();
    assert_eq!(upward(&root, src), Vec::<String>::new());
}
