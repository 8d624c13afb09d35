//! The shape of the workspace, checked on every test run: what ARCHITECTURE.md promises about
//! it stays true because breaking it fails here.
//!
//! - the core crate depends on no terminal, HTTP-server, HTTP-client or command-line crate,
//!   directly or through another crate (read from `Cargo.lock`);
//! - no import cycle between modules: within each crate, for every module, the graph of its
//!   child modules, with an edge from one child to another when any file under the first names
//!   a path under the second (`crate::...`, `super::...`), has no cycle (a module using its own
//!   parent's items is not a cycle: the parent declares it);
//! - no `.rs` file over 500 lines, and no two modules of one crate with the same name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 500;
const CORE: &str = "flashsale-core";
/// Crates the core must never build on: terminal, HTTP server, HTTP client, command line.
const FACE_CRATES: [&str; 6] = ["ratatui", "crossterm", "axum", "hyper", "reqwest", "clap"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The source folders of every crate: (crate name, `src`).
fn crate_sources() -> Vec<(String, PathBuf)> {
    let mut out = vec![("flashsale".to_string(), root().join("src"))];
    let crates = std::fs::read_dir(root().join("crates")).expect("crates/");
    for e in crates.flatten() {
        let manifest = std::fs::read_to_string(e.path().join("Cargo.toml")).expect("manifest");
        let manifest: toml::Table = manifest.parse().expect("manifest is TOML");
        let name = manifest["package"]["name"]
            .as_str()
            .expect("package name")
            .to_string();
        out.push((name, e.path().join("src")));
    }
    out.sort();
    out
}

/// The module path of a file under `src` (`[]` for the crate root).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("lib" | "main" | "mod")
    ) {
        parts.pop();
    }
    parts
}

/// The paths a file names through `crate::`, `super::` or a module name it imported (`aliases`:
/// name -> module path), resolved to absolute segment lists (items included: the caller keeps
/// the longest known-module prefix).
fn named_paths(
    module: &[String],
    text: &str,
    aliases: &BTreeMap<String, Vec<String>>,
) -> Vec<Vec<String>> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let mut prev: Option<char> = None;
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let starts_word = prev.is_none_or(|c| !(is_ident(c) || c == ':' || c == '$'));
        let word_len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if !starts_word || word_len == 0 || !rest[word_len..].starts_with("::") {
            let c = rest.chars().next().unwrap_or(' ');
            prev = Some(c);
            i += c.len_utf8();
            continue;
        }
        let word = &rest[..word_len];
        let mut skip = word_len + 2;
        let base = match word {
            "crate" => Some(Vec::new()),
            "super" => {
                let mut base = module.to_vec();
                base.pop();
                let mut r = &rest[skip..];
                while let Some(more) = r.strip_prefix("super::") {
                    base.pop();
                    skip += "super::".len();
                    r = more;
                }
                Some(base)
            }
            _ => aliases.get(word).cloned(),
        };
        if let Some(base) = base {
            for segs in expand(&code[i + skip..]) {
                let mut p = base.clone();
                p.extend(segs.into_iter().filter(|s| s != "self"));
                out.push(p);
            }
        }
        prev = Some(':');
        i += skip;
    }
    out
}

/// The segment lists at the start of `tail`: `a::b::C` gives one, `{a::X, b}` one per item
/// (one level of braces is enough for the paths we care about: the module named first).
fn expand(tail: &str) -> Vec<Vec<String>> {
    let ident = |s: &str| -> (String, usize) {
        let n = s
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map_or(s.len(), |(i, _)| i);
        (s[..n].to_string(), n)
    };
    let mut segs = Vec::new();
    let mut s = tail;
    loop {
        if let Some(inner) = s.strip_prefix('{') {
            let end = inner.find('}').unwrap_or(inner.len());
            return inner[..end]
                .split(',')
                .map(|item| {
                    let mut p = segs.clone();
                    p.extend(expand(item.trim()).into_iter().next().unwrap_or_default());
                    p
                })
                .collect();
        }
        let (id, n) = ident(s);
        if id.is_empty() {
            break;
        }
        segs.push(id);
        s = &s[n..];
        match s.strip_prefix("::") {
            Some(r) => s = r,
            None => break,
        }
    }
    vec![segs]
}

struct CrateModules {
    name: String,
    /// Module path -> its file.
    modules: BTreeMap<Vec<String>, PathBuf>,
    /// Inline `mod name {` blocks (test modules), by the module that holds them.
    inline: Vec<Vec<String>>,
}

fn crate_modules(name: &str, src: &Path) -> CrateModules {
    let mut modules = BTreeMap::new();
    let mut inline = Vec::new();
    for f in rust_files(src) {
        let m = module_of(src, &f);
        let text = std::fs::read_to_string(&f).expect("readable");
        for line in text.lines() {
            let t = line.trim_start();
            let t = t.strip_prefix("pub ").unwrap_or(t);
            if let Some(rest) = t.strip_prefix("mod ")
                && let Some(inner) = rest.strip_suffix(" {")
            {
                let mut p = m.clone();
                p.push(inner.trim().to_string());
                inline.push(p);
            }
        }
        modules.insert(m, f);
    }
    CrateModules {
        name: name.to_string(),
        modules,
        inline,
    }
}

/// Edges between sibling modules: (parent, from child, to child).
fn sibling_edges(c: &CrateModules) -> BTreeSet<(Vec<String>, String, String)> {
    let mut edges = BTreeSet::new();
    for (module, file) in &c.modules {
        let text = std::fs::read_to_string(file).expect("readable");
        // Module names the file imports (`use crate::cli::{self, ..}`, `use super::exit;`),
        // then every path again with those names resolved too.
        let aliases: BTreeMap<String, Vec<String>> = named_paths(module, &text, &BTreeMap::new())
            .into_iter()
            .filter(|p| c.modules.contains_key(p))
            .filter_map(|p| Some((p.last()?.clone(), p)))
            .collect();
        for path in named_paths(module, &text, &aliases) {
            // The longest prefix that is a module of this crate.
            let target: Vec<String> = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| c.modules.contains_key(p))
                .unwrap_or_default();
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            // One inside the other: a child using its parent, or a parent its child.
            if common == module.len() || common == target.len() {
                continue;
            }
            edges.insert((
                module[..common].to_vec(),
                module[common].clone(),
                target[common].clone(),
            ));
        }
    }
    edges
}

/// A cycle in a directed graph, if it has one.
fn find_cycle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges {
        next.entry(a).or_default().push(b);
    }
    fn visit<'a>(
        n: &'a str,
        next: &BTreeMap<&'a str, Vec<&'a str>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        state.insert(n, 1);
        stack.push(n);
        for &m in next.get(n).into_iter().flatten() {
            match state.get(m) {
                Some(1) => {
                    let at = stack.iter().position(|s| *s == m).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[at..].iter().map(|s| s.to_string()).collect();
                    cycle.push(m.to_string());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, next, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n, 2);
        None
    }
    let mut state = BTreeMap::new();
    for &n in next.keys() {
        if !state.contains_key(n)
            && let Some(c) = visit(n, &next, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_import_cycle_between_the_modules_of_any_crate() {
    let mut cycles = Vec::new();
    for (name, src) in crate_sources() {
        let c = crate_modules(&name, &src);
        let mut by_parent: BTreeMap<Vec<String>, BTreeSet<(String, String)>> = BTreeMap::new();
        for (parent, a, b) in sibling_edges(&c) {
            by_parent.entry(parent).or_default().insert((a, b));
        }
        for (parent, edges) in by_parent {
            if let Some(cycle) = find_cycle(&edges) {
                let at = if parent.is_empty() {
                    "the crate root".to_string()
                } else {
                    parent.join("::")
                };
                cycles.push(format!("{}: under {at}: {}", c.name, cycle.join(" -> ")));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let edges = |pairs: &[(&str, &str)]| -> BTreeSet<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(find_cycle(&edges(&[("a", "b"), ("b", "c")])), None);
    let cycle = find_cycle(&edges(&[("a", "b"), ("b", "c"), ("c", "a")])).expect("a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4);
    // A path in braces names each of its items' modules.
    let module = vec!["store".to_string(), "postgres".to_string()];
    let code = "use super::{batch::Batcher, Sale};\nuse crate::config::X;\nfn f() { cli::run(); }";
    let aliases = BTreeMap::from([("cli".to_string(), vec!["cli".to_string()])]);
    let paths = named_paths(&module, code, &aliases);
    assert!(paths.contains(&vec!["store".into(), "batch".into(), "Batcher".into()]));
    assert!(paths.contains(&vec!["store".into(), "Sale".into()]));
    assert!(paths.contains(&vec!["config".into(), "X".into()]));
    assert!(
        paths.contains(&vec!["cli".into(), "run".into()]),
        "{paths:?}"
    );
}

#[test]
fn no_rust_file_is_over_500_lines() {
    let mut long = Vec::new();
    for dir in ["src", "crates", "tests"] {
        for f in rust_files(&root().join(dir)) {
            let lines = std::fs::read_to_string(&f)
                .expect("readable")
                .lines()
                .count();
            if lines > MAX_LINES {
                long.push(format!(
                    "{} ({lines} lines)",
                    f.strip_prefix(root()).unwrap_or(&f).display()
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn no_two_modules_of_one_crate_share_a_name() {
    let mut clashes = Vec::new();
    for (name, src) in crate_sources() {
        let c = crate_modules(&name, &src);
        let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for m in c.modules.keys().chain(&c.inline) {
            if let Some(last) = m.last() {
                by_name.entry(last.clone()).or_default().push(m.join("::"));
            }
        }
        for (module, places) in by_name {
            if places.len() > 1 && module != "tests" {
                clashes.push(format!("{name}: {module}: {}", places.join(", ")));
            }
        }
    }
    assert!(
        clashes.is_empty(),
        "modules with the same name:\n{}",
        clashes.join("\n")
    );
}

#[test]
fn the_core_builds_on_no_terminal_http_or_command_line_crate() {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).expect("Cargo.lock");
    let lock: toml::Table = lock.parse().expect("Cargo.lock is TOML");
    let packages = lock["package"].as_array().expect("packages");
    let deps: BTreeMap<&str, Vec<&str>> = packages
        .iter()
        .map(|p| {
            let name = p["name"].as_str().expect("name");
            let ds = p
                .get("dependencies")
                .and_then(|d| d.as_array())
                .map(|d| {
                    d.iter()
                        .filter_map(|x| x.as_str())
                        // "name version" when several versions are locked.
                        .map(|x| x.split(' ').next().unwrap_or(x))
                        .collect()
                })
                .unwrap_or_default();
            (name, ds)
        })
        .collect();
    // Cargo.lock lists normal and dev dependencies alike; the core's dev-dependencies must
    // stay clear of the faces too, so the closure over all of them is the stricter check.
    let mut seen = BTreeSet::new();
    let mut todo = vec![CORE];
    while let Some(p) = todo.pop() {
        if seen.insert(p) {
            todo.extend(deps.get(p).into_iter().flatten());
        }
    }
    assert!(seen.contains("sqlx"), "the closure is read: {seen:?}");
    let found: Vec<&str> = FACE_CRATES
        .iter()
        .copied()
        .filter(|c| seen.contains(c))
        .collect();
    assert!(found.is_empty(), "{CORE} builds on {found:?}");
}
