//! The layout keeps its promises: imports between sibling modules run one
//! way (no cycles, in either crate), and `unsafe` appears only in the
//! kernels crate and the arena module.
//!
//! The source is read as text: every `crate::…` and `super::…` path outside
//! comments and test modules is an import of the module it names. A file
//! may use its parent and its children (Rust's usual split of a module into
//! files); between siblings, at every level, imports must form no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file holds, relative to its crate's `src` folder:
/// `lib.rs` is the root, `a/mod.rs` and `a.rs` are `a`, `a/b.rs` is `a::b`.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without its test module (by
/// convention the last item: a line `#[cfg(test)]` then `mod tests`).
fn code(text: &str) -> String {
    let text = text.split("\n#[cfg(test)]\nmod ").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(s: &[u8], mut i: usize) -> (String, usize) {
    let start = i;
    while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_') {
        i += 1;
    }
    (String::from_utf8_lossy(&s[start..i]).into_owned(), i)
}

fn skip_space(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The paths of a use tree at `i` (after `crate::` or `super::`), each
/// prefixed with `prefix`; returns them and the position after the tree.
fn use_tree(s: &[u8], i: usize, prefix: &Module, out: &mut Vec<Module>) -> usize {
    let i = skip_space(s, i);
    if s.get(i) == Some(&b'{') {
        let mut i = i + 1;
        loop {
            i = skip_space(s, i);
            match s.get(i) {
                None => return i,
                Some(b'}') => return i + 1,
                Some(b',') => i += 1,
                _ => {
                    let next = use_tree(s, i, prefix, out);
                    // Skip what a tree may end with (`as name`, `*`).
                    i = next.max(i + 1);
                    while i < s.len() && !matches!(s[i], b',' | b'}') {
                        i += 1;
                    }
                }
            }
        }
    }
    let (name, j) = ident(s, i);
    let mut path = prefix.clone();
    if !name.is_empty() && name != "self" {
        path.push(name);
    }
    if s[j..].starts_with(b"::") {
        return use_tree(s, j + 2, &path, out);
    }
    out.push(path);
    j
}

/// The modules `file`'s code names through `crate::` and `super::` paths.
fn imports(module: &Module, text: &str) -> Vec<Module> {
    let code = code(text);
    let s = code.as_bytes();
    let mut out = Vec::new();
    for (key, base) in [
        ("crate::", Module::new()),
        ("super::", module[..module.len().saturating_sub(1)].to_vec()),
    ] {
        let mut from = 0;
        while let Some(at) = code[from..].find(key) {
            let i = from + at;
            let word_start = i == 0 || !(s[i - 1].is_ascii_alphanumeric() || s[i - 1] == b'_');
            if word_start {
                use_tree(s, i + key.len(), &base, &mut out);
            }
            from = i + key.len();
        }
    }
    out
}

/// The import graph of the crate under `src`: an edge per (file's module,
/// deepest module its path names), self-imports left out.
fn import_graph(src: &Path) -> BTreeSet<(Module, Module)> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(src, f)).collect();
    let mut edges = BTreeSet::new();
    for file in &files {
        let from = module_of(src, file);
        let text = std::fs::read_to_string(file).unwrap();
        for mut path in imports(&from, &text) {
            while !modules.contains(&path) {
                path.pop();
            }
            if path != from {
                edges.insert((from.clone(), path));
            }
        }
    }
    edges
}

/// Edges between siblings: for an import a → b, the children of their
/// deepest common ancestor that contain a and b. Imports of an ancestor or
/// a descendant give none.
fn sibling_edges(
    edges: &BTreeSet<(Module, Module)>,
) -> BTreeMap<Module, BTreeSet<(String, String)>> {
    let mut out: BTreeMap<Module, BTreeSet<(String, String)>> = BTreeMap::new();
    for (a, b) in edges {
        let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        if let (Some(x), Some(y)) = (a.get(common), b.get(common)) {
            let parent = a[..common].to_vec();
            out.entry(parent)
                .or_default()
                .insert((x.clone(), y.clone()));
        }
    }
    out
}

/// A cycle in `edges`, if any, as the list of its nodes.
fn find_cycle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeSet<(String, String)>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for (_, next) in edges.iter().filter(|(from, _)| from == node) {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .iter()
        .find_map(|(from, _)| visit(from, edges, &mut Vec::new(), &mut done))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn imports_between_sibling_modules_have_no_cycle() {
    for src in ["src", "kernels/src"] {
        let edges = import_graph(&root().join(src));
        // The reader sees the imports it should (or this test checks nothing).
        let module = |m: &str| m.split("::").map(String::from).collect::<Module>();
        let expected = match src {
            "src" => (module("train::setup"), module("compile")),
            _ => (module("reference"), module("update")),
        };
        assert!(edges.contains(&expected), "{src}: {expected:?} not seen");
        for (parent, siblings) in sibling_edges(&edges) {
            if let Some(cycle) = find_cycle(&siblings) {
                panic!(
                    "{src}: imports in a cycle under `{}`: {}",
                    parent.join("::"),
                    cycle.join(" → ")
                );
            }
        }
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let edges: BTreeSet<(String, String)> = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
        .iter()
        .map(|(x, y)| (x.to_string(), y.to_string()))
        .collect();
    assert_eq!(find_cycle(&edges).unwrap(), ["a", "b", "c", "a"]);
    let mut graph = BTreeSet::new();
    let m = |s: &str| s.split("::").map(String::from).collect::<Module>();
    graph.insert((m("train"), m("train::checkpoint")));
    graph.insert((m("train::checkpoint"), m("train")));
    graph.insert((m("train::checkpoint"), m("train::metrics")));
    graph.insert((m("train::metrics"), m("report::train")));
    graph.insert((m("report::train"), m("train::checkpoint")));
    let siblings = sibling_edges(&graph);
    // Parent and child may use each other; train and report may not.
    assert!(
        siblings
            .get(&m("train"))
            .is_some_and(|e| find_cycle(e).is_none())
    );
    assert!(find_cycle(&siblings[&Module::new()]).is_some());
    let mut paths = Vec::new();
    use_tree(b"{a::{self, B}, c as d}", 0, &m("x"), &mut paths);
    assert_eq!(paths, [m("x::a"), m("x::a::B"), m("x::c")]);
}

#[test]
fn unsafe_only_in_the_kernels_and_the_arena() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("tests"), &mut files);
    rust_files(&root().join("bench"), &mut files);
    let arena = root().join("src/arena");
    // The benches call the matrixmultiply baseline, whose API is unsafe:
    // that call, in this one file, is the exception.
    let baseline = root().join("bench/common.rs");
    for file in files
        .iter()
        .filter(|f| !f.starts_with(&arena) && **f != baseline)
    {
        let text = std::fs::read_to_string(file).unwrap();
        // Whole file, tests included; comments and string literals aside
        // (the text between a line's quotes is dropped).
        let code: String = text
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .flat_map(|l| l.split('"').step_by(2).chain([" "]))
            .collect();
        let found = code
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|w| w == "unsafe");
        assert!(!found, "`unsafe` in {}", file.display());
    }
    let text = std::fs::read_to_string(&baseline).unwrap();
    assert_eq!(text.matches("unsafe {").count(), 1, "bench/common.rs");
    assert!(text.contains("unsafe {\n        matrixmultiply::sgemm("));
}
