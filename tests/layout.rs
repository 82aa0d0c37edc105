//! The layout keeps its promises: imports between sibling modules run one
//! way (no cycles, in either crate), and `unsafe` appears only in the
//! kernels crate and the arena module.
//!
//! The source is read as text: every `crate::…` and `super::…` path outside
//! comments, strings and test modules is an import of the module it names;
//! a name a module re-exports (`pub use metrics::EpochSums`) counts as an
//! import of the module that defines it. A file may use its parent and its
//! children (Rust's usual split of a module into files); between siblings,
//! at every level, imports must form no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        // Build output (bench/peers/faer/target once that peer has run)
        // holds generated code of other crates.
        if path.is_dir() && path.file_name().is_some_and(|n| n == "target") {
            continue;
        }
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

/// `text` with comments, string literals and character literals blanked
/// out (lifetimes kept), so only code is left.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c[i] == '"' || (c[i] == 'r' && matches!(next, Some('"' | '#'))) {
            i = skip_string(&c, i);
            out.push_str("\"\"");
        } else if c[i] == '\'' && (next == Some('\\') || c.get(i + 2) == Some(&'\'')) {
            // A character literal ('"', '\n'), not a lifetime ('a).
            i += 2;
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// The index after the string literal starting at `i` (`"…"` with
/// escapes, or a raw `r#"…"#`).
fn skip_string(c: &[char], mut i: usize) -> usize {
    if c[i] == 'r' {
        i += 1;
        let hashes = c[i..].iter().take_while(|&&ch| ch == '#').count();
        i += hashes + 1;
        while i < c.len() {
            if c[i] == '"'
                && c[i + 1..]
                    .iter()
                    .take(hashes)
                    .filter(|&&ch| ch == '#')
                    .count()
                    == hashes
            {
                return i + 1 + hashes;
            }
            i += 1;
        }
        return i;
    }
    i += 1;
    while i < c.len() && c[i] != '"' {
        i += if c[i] == '\\' { 2 } else { 1 };
    }
    i + 1
}

/// The code of a file without its test module (by convention the last
/// item: a line `#[cfg(test)]` then `mod `).
fn code(text: &str) -> String {
    let text = text.split("\n#[cfg(test)]\nmod ").next().unwrap_or("");
    code_only(text)
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
/// prefixed with `prefix`, with the name each ends as (its alias, if
/// `as`); returns the position after the tree.
fn use_tree(s: &[u8], i: usize, prefix: &Module, out: &mut Vec<(Module, String)>) -> usize {
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
        path.push(name.clone());
    }
    if s[j..].starts_with(b"::") {
        return use_tree(s, j + 2, &path, out);
    }
    // `as alias`
    let k = skip_space(s, j);
    let alias = if s[k..].starts_with(b"as ") {
        ident(s, skip_space(s, k + 3)).0
    } else {
        path.last().cloned().unwrap_or_default()
    };
    out.push((path, alias));
    j
}

/// The paths `code` (of module `module`) names through `crate::` and
/// `super::` chains, each resolved to an absolute path, with its local
/// name.
fn paths(module: &Module, code: &str) -> Vec<(Module, String)> {
    let s = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let starts_word =
            i == 0 || !(s[i - 1].is_ascii_alphanumeric() || s[i - 1] == b'_' || s[i - 1] == b':');
        if starts_word && s[i..].starts_with(b"crate::") {
            i = use_tree(s, i + 7, &Module::new(), &mut out);
        } else if starts_word && s[i..].starts_with(b"super::") {
            // `super::super::x`: one level up per `super::`.
            let mut base = module.clone();
            while s[i..].starts_with(b"super::") {
                base.pop();
                i += 7;
            }
            i = use_tree(s, i, &base, &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// The names each module re-exports (`pub use a::B;` in module m maps
/// m::B to a's module), resolved relative to the module (child modules)
/// or through `crate::`/`super::`.
fn re_exports(files: &[(Module, String)]) -> BTreeMap<Module, Module> {
    let mut out = BTreeMap::new();
    for (module, code) in files {
        for line in code.split(';') {
            let Some(rest) = line.trim().strip_prefix("pub use ") else {
                continue;
            };
            let mut found = Vec::new();
            if rest.starts_with("crate::") || rest.starts_with("super::") {
                found = paths(module, rest);
            } else {
                use_tree(rest.as_bytes(), 0, module, &mut found);
            }
            for (target, name) in found {
                let mut exported = module.clone();
                exported.push(name);
                out.insert(exported, target);
            }
        }
    }
    out
}

/// The import graph of the crate under `src`: an edge per (file's module,
/// module defining what its path names), self-imports left out.
fn import_graph(src: &Path) -> BTreeSet<(Module, Module)> {
    let mut paths_found = Vec::new();
    rust_files(src, &mut paths_found);
    let files: Vec<(Module, String)> = paths_found
        .iter()
        .map(|f| {
            (
                module_of(src, f),
                code(&std::fs::read_to_string(f).unwrap()),
            )
        })
        .collect();
    let modules: BTreeSet<Module> = files.iter().map(|(m, _)| m.clone()).collect();
    let exports = re_exports(&files);
    let resolve = |mut path: Module| {
        // Through re-exports (a chain of them at most a few long), then to
        // the deepest module the path lies in.
        for _ in 0..8 {
            match exports.get(&path) {
                Some(target) if *target != path => path = target.clone(),
                _ => break,
            }
        }
        while !modules.contains(&path) {
            path.pop();
        }
        path
    };
    let mut edges = BTreeSet::new();
    for (from, code) in &files {
        for (path, _) in paths(from, code) {
            let to = resolve(path);
            if to != *from {
                edges.insert((from.clone(), to));
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

fn m(path: &str) -> Module {
    path.split("::").map(String::from).collect()
}

#[test]
fn imports_between_sibling_modules_have_no_cycle() {
    for src in ["src", "kernels/src"] {
        let edges = import_graph(&root().join(src));
        // The reader sees the imports it should (or this test checks
        // nothing): a crate:: path, a super:: one through a re-export-free
        // sibling, and one through a parent's `pub use`.
        let expected: &[(&str, &str)] = match src {
            "src" => &[
                ("train::setup", "compile"),
                ("train::checkpoint", "train::metrics"),
                ("dataset::prepare", "dataset::error"),
            ],
            _ => &[("reference", "update"), ("activation", "simd")],
        };
        for (a, b) in expected {
            assert!(edges.contains(&(m(a), m(b))), "{src}: {a} → {b} not seen");
        }
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
fn the_reader_and_the_cycle_finder_work() {
    let edges: BTreeSet<(String, String)> = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
        .iter()
        .map(|(x, y)| (x.to_string(), y.to_string()))
        .collect();
    assert_eq!(find_cycle(&edges).unwrap(), ["a", "b", "c", "a"]);
    let mut graph = BTreeSet::new();
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
    let mut found = Vec::new();
    use_tree(b"{a::{self, B}, c as d}", 0, &m("x"), &mut found);
    let names: Vec<_> = found
        .iter()
        .map(|(p, n)| (p.join("::"), n.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("x::a".into(), "a"),
            ("x::a::B".into(), "B"),
            ("x::c".into(), "d")
        ]
    );
    // `super::super::` climbs two levels; strings and comments are not code.
    let code =
        code_only("use super::super::z::W; // crate::no\nlet s = \"crate::no\"; let c = '\"';");
    let found = paths(&m("p::q::r"), &code);
    assert_eq!(
        found.iter().map(|(p, _)| p.join("::")).collect::<Vec<_>>(),
        ["p::z::W"]
    );
}

/// How many times `unsafe` stands as a word in the code of `text`.
fn unsafe_words(text: &str) -> usize {
    code_only(text)
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| *w == "unsafe")
        .count()
}

#[test]
fn unsafe_only_in_the_kernels_and_the_arena() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("tests"), &mut files);
    rust_files(&root().join("bench"), &mut files);
    let arena = root().join("src/arena");
    // The benches call the matrixmultiply baseline, whose API is unsafe:
    // that one call, in this one file, is the exception.
    let baseline = root().join("bench/common.rs");
    for file in files.iter().filter(|f| !f.starts_with(&arena)) {
        let text = std::fs::read_to_string(file).unwrap();
        let allowed = usize::from(*file == baseline);
        assert_eq!(
            unsafe_words(&text),
            allowed,
            "`unsafe` in {}",
            file.display()
        );
    }
    assert!(
        std::fs::read_to_string(&baseline)
            .unwrap()
            .contains("unsafe {\n        matrixmultiply::sgemm(")
    );
    assert_eq!(
        unsafe_words("let x = \"unsafe\"; // unsafe\nunsafe fn f() {}"),
        1
    );
}
