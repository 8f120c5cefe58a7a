//! onn-core's modules depend on each other without a loop: read bottom-up, each module needs
//! only modules below it. The graph is what the sources name (`crate::module`) outside
//! comments and test modules; a module directory (`plan/`) counts as its module.
//!
//!     cargo test -p onn-core --test module_graph

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

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

fn uses(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    code.match_indices("crate::")
        .map(|(i, m)| {
            code[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|m| modules.contains(m))
        .collect()
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: BTreeMap<String, Vec<std::path::PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            for inner in std::fs::read_dir(&path).unwrap() {
                let inner = inner.unwrap().path();
                if inner.file_stem().is_some_and(|s| s != "tests") {
                    files.entry(name.clone()).or_default().push(inner);
                }
            }
        } else if name != "lib" {
            files.entry(name).or_default().push(path);
        }
    }
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    files
        .iter()
        .map(|(module, paths)| {
            let mut used = BTreeSet::new();
            for p in paths {
                used.extend(uses(
                    &production_code(&std::fs::read_to_string(p).unwrap()),
                    &modules,
                ));
            }
            used.remove(module);
            (module.clone(), used)
        })
        .collect()
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

#[test]
fn no_module_of_onn_core_depends_on_itself_through_others() {
    let graph = graph();
    assert!(
        graph.len() > 20 && graph["apply"].contains("plan"),
        "{graph:?}"
    );
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if let Some(cycle) = find_loop(&graph, &mut vec![module.clone()], &mut done) {
            panic!("import loop: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_reader_sees_a_loop_where_there_is_one() {
    let modules: BTreeSet<String> = ["a", "b"].map(String::from).into();
    let a = "use crate::b::X;\n// crate::a in a comment\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n";
    assert_eq!(
        uses(&production_code(a), &modules),
        ["b".to_string()].into()
    );
    let graph = BTreeMap::from([
        ("a".to_string(), ["b".to_string()].into()),
        ("b".to_string(), ["a".to_string()].into()),
    ]);
    let cycle = find_loop(&graph, &mut vec!["a".into()], &mut BTreeSet::new());
    assert_eq!(cycle.unwrap(), ["a", "b", "a"]);
}
