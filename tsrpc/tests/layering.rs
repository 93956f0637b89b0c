//! The dependency rules of the crate (README, "Layout"), checked on the
//! sources so they stay true:
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
            first_segments(group)
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

/// The first path segment of each item of a `use` group (`a::b, c::{d}`
/// gives `a`, `c`), up to the group's closing brace.
fn first_segments(group: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
        .into_iter()
        .map(|item| item.trim().split("::").next().unwrap_or("").trim())
        .collect()
}

/// The names lib.rs re-exports at the root from `module` (`pub use
/// module::{A, B}`): `crate::A` names that module too.
fn root_exports<'a>(lib: &'a str, module: &str) -> Vec<&'a str> {
    let head = format!("pub use {module}::{{");
    let Some(at) = lib.find(&head) else {
        return Vec::new();
    };
    let group = &lib[at + head.len()..];
    let group = &group[..group.find('}').unwrap_or(group.len())];
    group
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// How `code` names `module`, directly or through a root re-export.
fn names(code: &str, module: &str, lib: &str) -> Option<String> {
    let direct = format!("crate::{module}");
    if code.contains(&direct) {
        return Some(direct);
    }
    root_exports(lib, module).into_iter().find_map(|name| {
        let path = format!("crate::{name}");
        code.match_indices(&path)
            .any(|(i, _)| {
                !code[i + path.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
            })
            .then_some(path)
    })
}

#[test]
fn root_exports_and_use_groups_are_read() {
    let files = src();
    let lib = &files["lib.rs"];
    assert!(root_exports(lib, "server").contains(&"Server"));
    assert!(root_exports(lib, "client").contains(&"WsClient"));
    assert_eq!(first_segments("a::{b, c}, d::e, f}"), ["a", "d", "f"]);
    assert_eq!(
        names("use crate::Server;", "server", lib).as_deref(),
        Some("crate::Server")
    );
    assert!(names("use crate::ServerInfo;", "server", lib).is_none());
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

/// What each part of the crate may not name: dependencies point from the
/// server and the client down to the transport, the codecs and the
/// protocol definitions, never back.
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("transport/", &["server", "client"]),
    ("codec/", &["server", "client"]),
    ("client/", &["server"]),
    ("proto/", &["server", "client", "transport"]),
    (
        "schema/",
        &["server", "client", "transport", "codec", "proto", "export"],
    ),
    ("export/", &["server", "client", "transport", "codec"]),
];

#[test]
fn dependencies_point_one_way() {
    let files = src();
    let lib = &files["lib.rs"];
    for (prefix, layers) in FORBIDDEN {
        let mut seen = false;
        for (file, code) in files.iter().filter(|(f, _)| f.starts_with(prefix)) {
            seen = true;
            for layer in *layers {
                let named = names(code, layer, lib);
                assert!(named.is_none(), "{file} names {named:?}");
            }
        }
        assert!(seen, "no file under {prefix}");
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
