//! The dependency rules of `ARCHITECTURE.md`, checked on the sources so
//! they stay true:
//! - `transport/` and `codec/` never name `server/` (or `client/`);
//! - `client/` names nothing of `server/`;
//! - in `server/`, only the WebSocket session (`ws.rs`) and the HTTP
//!   adapter (`http.rs`) name the transport, tungstenite, close codes or
//!   HTTP statuses;
//! - the crate's modules form no import cycle, nor do the files of
//!   `transport/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, by path relative to `src/`.
fn sources(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).expect("read the source folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read a source file");
            let rel = path
                .strip_prefix(root)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel, code_only(&text));
        }
    }
}

/// The text without comments (doc comments name modules in links).
fn code_only(text: &str) -> String {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn src() -> BTreeMap<String, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    sources(&root, &root, &mut files);
    assert!(files.len() > 20, "found the sources");
    files
}

/// The crate's top-level module a file belongs to (`server/ws.rs` ->
/// `server`, `flow.rs` -> `flow`); `None` for the crate root.
fn module_of(file: &str) -> Option<&str> {
    let first = file.split('/').next()?;
    let module = first.strip_suffix(".rs").unwrap_or(first);
    (module != "lib").then_some(module)
}

/// The top-level modules a file names through `crate::`.
fn named_modules(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let idents: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            group
                .split(',')
                .map(|s| s.trim().split("::").next().unwrap_or(""))
                .collect()
        } else {
            vec![
                rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                    .next()
                    .unwrap_or(""),
            ]
        };
        for ident in idents {
            if modules.contains(ident) {
                named.insert(ident.to_owned());
            }
        }
    }
    named
}

/// A cycle in `graph`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn transport_and_codec_never_name_the_server_or_the_client() {
    for (file, code) in src() {
        if file.starts_with("transport/") || file.starts_with("codec/") {
            for layer in ["crate::server", "crate::client"] {
                assert!(!code.contains(layer), "{file} names {layer}");
            }
        }
    }
}

#[test]
fn the_client_names_nothing_of_the_server() {
    for (file, code) in src() {
        if file.starts_with("client/") {
            assert!(
                !code.contains("crate::server"),
                "{file} names crate::server"
            );
        }
    }
}

#[test]
fn only_the_transport_adapters_of_the_server_know_their_transport() {
    let adapters = ["server/ws.rs", "server/http.rs"];
    for (file, code) in src() {
        if !file.starts_with("server/") || adapters.contains(&file.as_str()) {
            continue;
        }
        for word in [
            "crate::transport",
            "tungstenite",
            "close_code",
            "StatusCode",
            "hyper",
        ] {
            assert!(
                !code.contains(word),
                "{file} names {word}: only {adapters:?} may know the transport"
            );
        }
    }
}

#[test]
fn no_import_cycles() {
    let files = src();
    let modules: BTreeSet<String> = files
        .keys()
        .filter_map(|f| module_of(f))
        .map(str::to_owned)
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, code) in &files {
        let Some(module) = module_of(file) else {
            continue;
        };
        let uses = named_modules(code, &modules);
        let edges = graph.entry(module.to_owned()).or_default();
        edges.extend(uses.into_iter().filter(|m| m != module));
    }
    assert!(
        graph.get("server").is_some_and(|s| s.contains("codec")),
        "the graph is read"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle between modules: {}", cycle.join(" -> "));
    }
    // The files of `transport/` among themselves (`super::x`).
    let mut inner: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, code) in &files {
        let Some(name) = file
            .strip_prefix("transport/")
            .and_then(|f| f.strip_suffix(".rs"))
        else {
            continue;
        };
        let edges = inner.entry(name.to_owned()).or_default();
        for (i, _) in code.match_indices("super::") {
            let rest = &code[i + "super::".len()..];
            let ident = rest
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .next()
                .unwrap_or("");
            if ident != name && files.contains_key(&format!("transport/{ident}.rs")) {
                edges.insert(ident.to_owned());
            }
        }
    }
    if let Some(cycle) = find_cycle(&inner) {
        panic!("import cycle in transport/: {}", cycle.join(" -> "));
    }
}
