//! onn-core's modules depend on each other without a loop: read bottom-up, each module needs
//! only modules below it. The graph is what the sources name (`crate::…`, `super::…`, a child
//! module's name in the file that declares it) outside comments and test modules.
//!
//! Its nodes: each top-level module, and each module a folder declares `pub` or `pub(crate)`
//! (`ground::runner`, `storage::lvm`, `image::fetch`: the rest of the crate names them by
//! path). A folder's private modules (`plan/layout.rs`, `apply/exec.rs`) are parts of the
//! folder's own node, so `plan/` counts as one module, as its parts use each other freely.
//!
//!     cargo test -p onn-core --test module_graph

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The source text that builds the library: comments and `#[cfg(test)]` modules left out.
fn production_code(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed == "#[cfg(test)]" && lines.peek().is_some_and(|l| l.contains("mod ")) {
            // An inline test module runs to the file's end or its closing brace at column 0.
            if lines.next().is_some_and(|l| l.trim_end().ends_with('{')) {
                for l in lines.by_ref() {
                    if l == "}" {
                        break;
                    }
                }
            }
            continue;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        code.push_str(line.split(" //").next().unwrap_or(line));
        code.push('\n');
    }
    code
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The module path a `::`-path starting at `code[at..]` names: its identifiers, `::`-joined
/// segments only (a trailing item or `{` ends it).
fn path_at(code: &str, at: usize) -> Vec<String> {
    let mut segments = Vec::new();
    let mut rest = &code[at..];
    loop {
        let ident: String = rest.chars().take_while(|c| is_ident(*c)).collect();
        if ident.is_empty() {
            break;
        }
        rest = &rest[ident.len()..];
        segments.push(ident);
        match rest.strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    segments
}

/// The modules a file's own `mod x;` lines declare, with whether the rest of the crate may name
/// them (`pub` or `pub(crate)`).
fn declared(code: &str) -> Vec<(String, bool)> {
    code.lines()
        .filter_map(|l| {
            let l = l.trim();
            let (public, rest) = match l.strip_prefix("pub(crate) mod ") {
                Some(r) => (true, r),
                None => match l.strip_prefix("pub mod ") {
                    Some(r) => (true, r),
                    None => (false, l.strip_prefix("mod ")?),
                },
            };
            let name = rest.strip_suffix(';')?;
            name.chars()
                .all(is_ident)
                .then(|| (name.to_string(), public))
        })
        .collect()
}

/// A source file: its module path (`["plan", "layout"]`; a `mod.rs` is its folder's) and its code.
struct Source {
    module: Vec<String>,
    code: String,
}

fn sources(src: &Path) -> Vec<Source> {
    fn walk(dir: &Path, module: &[String], out: &mut Vec<Source>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let mut here = module.to_vec();
            if path.is_dir() {
                here.push(stem);
                walk(&path, &here, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || stem == "tests" {
                continue;
            }
            if stem != "mod" && stem != "lib" {
                here.push(stem);
            }
            let code = production_code(&std::fs::read_to_string(&path).unwrap());
            out.push(Source { module: here, code });
        }
    }
    let mut out = Vec::new();
    walk(src, &[], &mut out);
    out
}

/// Module graph of the crate at `src`: node → the nodes it uses.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files = sources(src);
    // Nodes: the top-level modules, and what a folder declares for the rest of the crate.
    let mut nodes: BTreeSet<Vec<String>> = BTreeSet::new();
    for f in &files {
        for (name, public) in declared(&f.code) {
            if f.module.is_empty() || public {
                let mut m = f.module.clone();
                m.push(name);
                nodes.insert(m);
            }
        }
    }
    let node_of = |path: &[String]| -> Option<String> {
        (1..=path.len())
            .rev()
            .map(|n| &path[..n])
            .find(|p| nodes.contains(*p))
            .map(|p| p.join("::"))
    };
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files.iter().filter(|f| !f.module.is_empty()) {
        let me = node_of(&f.module).unwrap();
        let children: Vec<String> = declared(&f.code).into_iter().map(|(n, _)| n).collect();
        let mut used = BTreeSet::new();
        for (at, _) in f.code.match_indices(|c: char| is_ident(c)) {
            // Only where a path starts: not inside an identifier or after `::`.
            let before = &f.code[..at];
            if before.ends_with(is_ident) || before.ends_with("::") {
                continue;
            }
            let path = path_at(&f.code, at);
            let full: Vec<String> = match path.first().map(String::as_str) {
                Some("crate") => path[1..].to_vec(),
                Some("super") => {
                    // Each `super` goes up one: that of `a::b` (a file b.rs in folder a) is `a`.
                    let ups = path.iter().take_while(|s| *s == "super").count();
                    let keep = f.module.len().saturating_sub(ups);
                    [&f.module[..keep], &path[ups..]].concat()
                }
                Some("self") => [f.module.as_slice(), &path[1..]].concat(),
                Some(first) if path.len() > 1 && children.iter().any(|c| c == first) => {
                    [f.module.as_slice(), &path].concat()
                }
                _ => continue,
            };
            used.extend(node_of(&full));
        }
        used.remove(&me);
        graph.entry(me).or_default().extend(used);
    }
    for node in &nodes {
        graph.entry(node.join("::")).or_default();
    }
    graph
}

/// A loop through `module`, if its uses lead back to it.
fn find_loop(
    graph: &BTreeMap<String, BTreeSet<String>>,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    let here = path.last().unwrap().clone();
    for next in &graph[&here] {
        if let Some(at) = path.iter().position(|m| m == next) {
            let mut cycle = path[at..].to_vec();
            cycle.push(next.clone());
            return Some(cycle);
        }
        if !done.contains(next) {
            path.push(next.clone());
            if let Some(cycle) = find_loop(graph, path, done) {
                return Some(cycle);
            }
            path.pop();
        }
    }
    done.insert(here);
    None
}

fn any_loop(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|module| find_loop(graph, &mut vec![module.clone()], &mut done))
}

#[test]
fn no_module_of_onn_core_depends_on_itself_through_others() {
    let graph = graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(
        graph.len() > 20
            && graph["apply"].contains("plan")
            && graph["ground::atomic"].contains("ground::fault")
            && graph["image"].contains("image::squash"),
        "{graph:#?}"
    );
    if let Some(cycle) = any_loop(&graph) {
        panic!("import loop: {}", cycle.join(" -> "));
    }
}

/// A crate's `src` made of these files, in a temporary directory.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        write(dir.path(), rel, text);
    }
    dir
}

fn write(src: &Path, rel: &str, text: &str) {
    let p = src.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn the_reader_sees_a_loop_where_there_is_one() {
    let a = "use crate::b::X;\n// crate::a in a comment\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n";
    let src = tree(&[("lib.rs", "mod a;\nmod b;\n"), ("a.rs", a), ("b.rs", "")]);
    assert_eq!(graph(src.path())["a"], ["b".to_string()].into());
    let graph = BTreeMap::from([
        ("a".to_string(), ["b".to_string()].into()),
        ("b".to_string(), ["a".to_string()].into()),
    ]);
    let cycle = find_loop(&graph, &mut vec!["a".into()], &mut BTreeSet::new());
    assert_eq!(cycle.unwrap(), ["a", "b", "a"]);
}

/// A tree of the crate's shape: a folder of public modules (`g`), one with a private part
/// (`p`), a plain module (`q`); then a loop inside the folder (`g::a` → `g::b` → `g::a`, the
/// second through `super`), and one between modules through the folder's private part.
#[test]
fn loops_through_folders_are_found() {
    let src = tree(&[
        ("lib.rs", "pub mod g;\nmod p;\nmod q;\n"),
        ("g/mod.rs", "pub mod a;\npub(crate) mod b;\n"),
        ("g/a.rs", "use crate::g::b::Y;\npub struct X;\n"),
        ("g/b.rs", "pub struct Y;\n"),
        ("p/mod.rs", "mod part;\npub use part::Z;\n"),
        ("p/part.rs", "use super::super::q;\npub struct Z(q::W);\n"),
        ("q.rs", "pub struct W;\n"),
    ]);
    let g = graph(src.path());
    assert_eq!(g["g::a"], ["g::b".to_string()].into());
    assert_eq!(g["p"], ["q".to_string()].into());
    assert_eq!(any_loop(&g), None, "{g:?}");

    write(src.path(), "g/b.rs", "use super::a::X;\npub struct Y;\n");
    assert_eq!(
        any_loop(&graph(src.path())).unwrap(),
        ["g::a", "g::b", "g::a"]
    );
    write(src.path(), "g/b.rs", "pub struct Y;\n");
    write(src.path(), "q.rs", "pub struct W(crate::p::Z);\n");
    assert_eq!(any_loop(&graph(src.path())).unwrap(), ["p", "q", "p"]);
}
