//! The Rust protocol module of a TSRPC project's `serviceProto`
//! ([`rust_protocol`]), which the `tsrpc import` command writes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::proto::ServiceKind;

use super::service_proto::{self, extends_problem, list, str_of, variant_of};

/// Why a `serviceProto.json` could not be brought over: one line per
/// place, naming the type and property as the file does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    problems: Vec<String>,
}

impl ImportError {
    /// One line per problem.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot bring the serviceProto over: {}",
            self.problems.join("; ")
        )
    }
}

impl std::error::Error for ImportError {}

/// The Rust protocol module of a TSRPC project: `text` is its
/// `serviceProto.json`, or the `serviceProto.ts` TSRPC's generator writes;
/// `source` names the file in the module's header.
///
/// Every API and message of the file becomes a `#[tsrpc::api]` request and
/// response or a `#[tsrpc::msg]` struct, and every type they use a Rust
/// type whose TypeScript export is the file's schema again, so a server
/// started with the file ([`ServerBuilder::service_proto`], which the
/// module's `SERVICE_PROTO` holds) answers the project's clients, in JSON
/// mode and in TSRPC's binary mode, with the file's ids. What has no Rust
/// form is named, every place at once, and nothing is written. The
/// `tsrpc` command (crate `tsrpc-cli`) runs it: `tsrpc import
/// serviceProto.ts -o src/protocol.rs`; the guide, with TSRPC's chatroom
/// as the worked example, is [`crate::guide::migration`].
///
/// ```
/// let proto = r#"{ "version": 1,
///     "services": [{ "id": 0, "name": "Chat", "type": "msg" }],
///     "types": { "MsgChat/MsgChat": { "type": "Interface", "properties": [
///         { "id": 0, "name": "content", "type": { "type": "String" } },
///         { "id": 1, "name": "sentAt", "optional": true, "type": { "type": "Date" } } ] } } }"#;
/// let module = tsrpc::export::rust_protocol(proto, "serviceProto.json").unwrap();
/// assert!(module.contains("#[tsrpc::msg(name = \"Chat\")]\n"));
/// assert!(module.contains("    #[serde(rename = \"sentAt\")]\n    pub sent_at: Option<tsrpc::Timestamp>,\n"));
/// ```
///
/// [`ServerBuilder::service_proto`]: crate::server::ServerBuilder::service_proto
pub fn rust_protocol(text: &str, source: &str) -> Result<String, ImportError> {
    let fail = |problem: String| ImportError {
        problems: vec![problem],
    };
    let proto = service_proto::parse(text).map_err(fail)?;
    let types = &proto.types;
    let mut generator = Generator {
        types,
        names: BTreeMap::new(),
        taken: BTreeSet::new(),
        queue: VecDeque::new(),
        items: Vec::new(),
        problems: Vec::new(),
        owner: None,
        indirect: 0,
    };
    let mut services: Vec<&Value> = proto.services.iter().collect();
    services.sort_by_key(|s| s.get("id").and_then(Value::as_u64));
    let roots = generator.name_roots(&services);
    for root in roots {
        generator.service(root);
    }
    while let Some(key) = generator.queue.pop_front() {
        generator.named(&key);
    }
    if !generator.problems.is_empty() {
        let mut problems = generator.problems;
        problems.sort();
        problems.dedup();
        return Err(ImportError { problems });
    }
    let mut out = header(source, proto.version.as_ref());
    let _ = writeln!(
        out,
        "/// The serviceProto of `{}`, as JSON: start the server with\n\
         /// `.service_proto(SERVICE_PROTO)` to use its service and property ids.\n\
         pub const SERVICE_PROTO: &str = {};",
        doc(source),
        raw_string(proto.text)
    );
    for item in &generator.items {
        out.push('\n');
        out.push_str(item);
    }
    Ok(out)
}

fn header(source: &str, version: Option<&Value>) -> String {
    let version = version
        .map(|v| format!(" (version {v})"))
        .unwrap_or_default();
    format!(
        "//! The protocol of a TSRPC project, written by `tsrpc import` from\n\
         //! `{}`{version}. Written again from a newer file rather than edited.\n\
         //!\n\
         //! Each type's TypeScript export is the file's schema again: a server\n\
         //! started with `.service_proto(SERVICE_PROTO)` answers the project's\n\
         //! clients unchanged (JSON and binary modes).\n\
         \n\
         use serde::{{Deserialize, Serialize}};\n\
         \n",
        doc(source)
    )
}

/// `r#"..."#` with as many `#` as the text needs.
fn raw_string(text: &str) -> String {
    let mut hashes = 1;
    while text.contains(&format!("\"{}", "#".repeat(hashes))) {
        hashes += 1;
    }
    let h = "#".repeat(hashes);
    format!("r{h}\"{text}\"{h}")
}

const DERIVE: &str = "#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]\n";

/// A service's root types, with their Rust names.
struct Root {
    name: String,
    kind: ServiceKind,
    /// (schema key, Rust name) of the request or message, then the response.
    keys: Vec<(String, String)>,
}

struct Generator<'v> {
    types: &'v Map<String, Value>,
    /// Schema key to Rust type name.
    names: BTreeMap<String, String>,
    taken: BTreeSet<String>,
    /// Named types to write.
    queue: VecDeque<String>,
    items: Vec<String>,
    problems: Vec<String>,
    /// The named type being written, and how many `Vec`s or maps deep
    /// the type being converted is in it: a reference back to it held
    /// directly must be boxed (a type cannot hold itself by value).
    owner: Option<String>,
    indirect: usize,
}

/// `UserId` from `user_id`, `userId`, `user-id`.
fn pascal(text: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    out
}

/// `user_id` from `userId`, `UserID`, `user-id`.
fn snake(text: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let after_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let before_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase())
                && i > 0
                && chars[i - 1].is_ascii_uppercase();
            if (after_lower || before_lower) && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where",
    "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv", "try",
    "typeof", "unsized", "virtual", "yield",
];

/// A field's Rust identifier (`r#type` for a keyword).
fn field_ident(name: &str) -> String {
    let ident = snake(name);
    if matches!(ident.as_str(), "self" | "super" | "crate" | "Self" | "_") {
        format!("{ident}_")
    } else if KEYWORDS.contains(&ident.as_str()) {
        format!("r#{ident}")
    } else {
        ident
    }
}

/// `#[serde(rename = ...)]` when the Rust name is not the wire name.
fn rename(indent: &str, rust: &str, wire: &str) -> String {
    if rust.trim_start_matches("r#") == wire {
        String::new()
    } else {
        format!("{indent}#[serde(rename = {})]\n", string_literal(wire))
    }
}

/// `text` as a Rust string literal.
fn string_literal(text: &str) -> String {
    format!("{text:?}")
}

/// `text` for a doc comment: on one line.
fn doc(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The schema of a union `T | null` as tsrpc reads it (T member 0, null
/// member 1): `Some(T)`; `Err` for the members the other way round.
fn nullable(schema: &Value) -> Option<Result<&Value, ()>> {
    if str_of(schema, "type") != Some("Union") {
        return None;
    }
    let members = list(schema, "members");
    let [a, b] = members else { return None };
    let is_null = |m: &Value| {
        m.get("type").is_some_and(|t| {
            str_of(t, "type") == Some("Literal") && t.get("literal").is_none_or(Value::is_null)
        })
    };
    let id = |m: &Value| m.get("id").and_then(Value::as_u64);
    let (value, null) = match (is_null(a), is_null(b)) {
        (false, true) => (a, b),
        (true, false) => (b, a),
        _ => return None,
    };
    if id(value) == Some(0) && id(null) == Some(1) {
        Some(value.get("type").ok_or(()))
    } else {
        Some(Err(()))
    }
}

impl<'v> Generator<'v> {
    fn problem(&mut self, at: &str, what: impl std::fmt::Display) {
        self.problems.push(format!("`{at}`: {what}"));
    }

    /// A Rust type name for `wanted` not given yet (`key` disambiguates:
    /// its folders go in front).
    fn fresh_name(&mut self, wanted: &str, key: &str) -> String {
        let base = pascal(wanted);
        let mut name = base.clone();
        let folders: Vec<&str> = key.split('/').rev().skip(1).collect();
        let mut prefix = String::new();
        for folder in folders {
            if !self.taken.contains(&name) && !is_reserved(&name) {
                break;
            }
            prefix = format!("{}{prefix}", pascal(folder));
            name = format!("{prefix}{base}");
        }
        let mut n = 2;
        let stem = name.clone();
        while self.taken.contains(&name) || is_reserved(&name) {
            name = format!("{stem}{n}");
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    /// The Rust name of the named type `key`, queued to be written.
    fn name_of(&mut self, key: &str) -> String {
        if let Some(name) = self.names.get(key) {
            return name.clone();
        }
        let last = key.rsplit('/').next().unwrap_or(key);
        let name = self.fresh_name(last, key);
        self.names.insert(key.to_owned(), name.clone());
        self.queue.push_back(key.to_owned());
        name
    }

    fn name_roots(&mut self, services: &[&'v Value]) -> Vec<Root> {
        let mut roots = Vec::new();
        for service in services {
            let (name, kind) = match service_proto::service(service) {
                Ok(service) => service,
                Err((at, problem)) => {
                    self.problem(&at, problem);
                    continue;
                }
            };
            let keys = service_proto::root_keys(kind, name);
            let mut named = Vec::new();
            for key in keys {
                if !self.types.contains_key(&key) {
                    self.problem(&key, "not in the serviceProto's types");
                    continue;
                }
                let last = key.rsplit('/').next().unwrap_or(&key).to_owned();
                let rust = self.fresh_name(&last, &key);
                self.names.insert(key.clone(), rust.clone());
                named.push((key, rust));
            }
            roots.push(Root {
                name: name.to_owned(),
                kind,
                keys: named,
            });
        }
        roots
    }

    fn service(&mut self, root: Root) {
        // (A root missing from the file's types was named; the others are
        // still checked, so that every problem is named at once.)
        let attribute = match root.kind {
            ServiceKind::Api => format!(
                "#[tsrpc::api(name = {}, res = {})]\n",
                string_literal(&root.name),
                root.keys.get(1).map_or("()", |(_, rust)| rust.as_str())
            ),
            ServiceKind::Msg => format!("#[tsrpc::msg(name = {})]\n", string_literal(&root.name)),
        };
        for (i, (key, rust)) in root.keys.iter().enumerate() {
            self.owner = Some(key.clone());
            let schema = &self.types[key.as_str()];
            if str_of(schema, "type") != Some("Interface") || schema.get("indexSignature").is_some()
            {
                self.problem(
                    key,
                    "a request, response or message must be an interface of properties",
                );
                continue;
            }
            let attr = if i == 0 { attribute.as_str() } else { "" };
            if let Some(item) = self.interface(key, rust, schema, attr) {
                self.items.push(item);
            }
        }
    }

    /// Writes the named type `key`.
    fn named(&mut self, key: &str) {
        self.owner = Some(key.to_owned());
        let rust = self.names[key].clone();
        let Some(schema) = self.types.get(key) else {
            return self.problem(key, "referenced, but not in the serviceProto's types");
        };
        let doc = format!("/// `{}` in the serviceProto.\n", doc(key));
        let item = match str_of(schema, "type") {
            Some("Interface") if schema.get("indexSignature").is_none() => {
                self.interface(key, &rust, schema, "")
            }
            Some("Union") if nullable(schema).is_none() => self.enumeration(key, &rust, schema),
            _ => self
                .ty(schema, key, &rust)
                .map(|inner| format!("{doc}{DERIVE}pub struct {rust}(pub {inner});\n")),
        };
        if let Some(item) = item {
            self.items.push(item);
        }
    }

    /// A struct of the interface's properties.
    fn interface(
        &mut self,
        at: &str,
        rust: &str,
        schema: &Value,
        attribute: &str,
    ) -> Option<String> {
        let fields = self.fields(at, rust, schema, "    pub ")?;
        Some(format!(
            "/// `{}` in the serviceProto.\n{attribute}{DERIVE}pub struct {rust} {{\n{fields}}}\n",
            doc(at)
        ))
    }

    /// The fields of an interface, each line starting with `lead`.
    fn fields(&mut self, at: &str, owner: &str, schema: &Value, lead: &str) -> Option<String> {
        if let Some(problem) = extends_problem(self.types, schema) {
            self.problem(at, problem);
            return None;
        }
        if schema.get("indexSignature").is_some() {
            self.problem(
                at,
                "properties and an index signature together have no Rust form",
            );
            return None;
        }
        let indent = &lead[..lead.len() - lead.trim_start().len()];
        let mut out = String::new();
        let mut idents = BTreeSet::new();
        let mut ok = true;
        for property in list(schema, "properties") {
            let Some(name) = str_of(property, "name") else {
                self.problem(at, "a property without a name");
                ok = false;
                continue;
            };
            let field_at = format!("{at}.{name}");
            let optional = property.get("optional").and_then(Value::as_bool) == Some(true);
            let Some(schema) = property.get("type") else {
                self.problem(&field_at, "a property without a type");
                ok = false;
                continue;
            };
            let hint = format!("{owner}{}", pascal(name));
            let ty = match nullable(schema) {
                // A required `T | null`: a newtype of `Option<T>`, which the
                // export writes out where it is used.
                Some(Ok(inner)) if !optional => {
                    let wrapper = self.fresh_name(&hint, &field_at);
                    let inner = self.ty(inner, &field_at, &format!("{hint}Value"));
                    inner.map(|inner| {
                        self.items.push(format!(
                            "/// `{}`: `{inner} | null`.\n{DERIVE}pub struct {wrapper}(pub Option<{inner}>);\n",
                            doc(&field_at)
                        ));
                        wrapper
                    })
                }
                _ => self.ty(schema, &field_at, &hint),
            };
            let Some(ty) = ty else {
                ok = false;
                continue;
            };
            let mut ident = field_ident(name);
            let stem = ident.clone();
            let mut n = 2;
            while !idents.insert(ident.clone()) {
                ident = format!("{stem}_{n}");
                n += 1;
            }
            let ty = if optional {
                format!("Option<{ty}>")
            } else {
                ty
            };
            out.push_str(&rename(indent, &ident, name));
            let _ = writeln!(out, "{lead}{ident}: {ty},");
        }
        ok.then_some(out)
    }

    /// An enum of the union's members: string literals are unit variants,
    /// `{ Name: T }` interfaces variants carrying `T`.
    fn enumeration(&mut self, at: &str, rust: &str, schema: &Value) -> Option<String> {
        let mut members: Vec<&Value> = list(schema, "members").iter().collect();
        members.sort_by_key(|m| m.get("id").and_then(Value::as_u64));
        let mut variants = String::new();
        let mut names = BTreeSet::new();
        let mut ok = true;
        for member in members {
            let Some(ty) = member.get("type") else {
                ok = false;
                continue;
            };
            let Some((wire, carried)) = variant_of(self.types, ty) else {
                self.problem(
                    at,
                    "a union whose members are not string literals and `{ Name: value }` interfaces has no Rust form (serde's untagged and internally tagged enums cannot be read without the input describing itself)",
                );
                return None;
            };
            if let Some((_, property)) = carried
                && property.get("id").and_then(Value::as_u64) != Some(0)
            {
                self.problem(
                    &format!("{at}<{wire}>"),
                    "the property of a `{ Name: value }` member must have id 0 (the codec writes a variant's value as property 0)",
                );
                ok = false;
                continue;
            }
            let carried = carried.map(|(value, _)| value);
            let mut variant = pascal(wire);
            if variant == "Self" {
                variant.push('_');
            }
            let stem = variant.clone();
            let mut n = 2;
            while !names.insert(variant.clone()) {
                variant = format!("{stem}{n}");
                n += 1;
            }
            variants.push_str(&rename("    ", &variant, wire));
            let variant_at = format!("{at}<{wire}>");
            match carried {
                None => {
                    let _ = writeln!(variants, "    {variant},");
                }
                Some(value)
                    if str_of(value, "type") == Some("Interface")
                        && value.get("indexSignature").is_none() =>
                {
                    match self.fields(&variant_at, &format!("{rust}{variant}"), value, "        ") {
                        Some(fields) => {
                            let _ = write!(variants, "    {variant} {{\n{fields}    }},\n");
                        }
                        None => ok = false,
                    }
                }
                Some(value) => match self.ty(value, &variant_at, &format!("{rust}{variant}")) {
                    Some(ty) => {
                        let _ = writeln!(variants, "    {variant}({ty}),");
                    }
                    None => ok = false,
                },
            }
        }
        ok.then(|| {
            format!(
                "/// `{}` in the serviceProto.\n{DERIVE}pub enum {rust} {{\n{variants}}}\n",
                doc(at)
            )
        })
    }

    /// The Rust type of a schema used in place; `hint` names a type it
    /// needs to define (an inline interface or union).
    fn ty(&mut self, schema: &Value, at: &str, hint: &str) -> Option<String> {
        let kind = str_of(schema, "type").unwrap_or("(none)");
        Some(match kind {
            "String" => "String".into(),
            "Boolean" => "bool".into(),
            "Date" => "tsrpc::Timestamp".into(),
            "Number" => match str_of(schema, "scalarType") {
                None | Some("double") => "f64".into(),
                Some("int") => "i64".into(),
                Some("uint") => "u64".into(),
                Some(other) => {
                    self.problem(at, format_args!("a {other} has no Rust form in tsrpc yet"));
                    return None;
                }
            },
            "Buffer" => match str_of(schema, "arrayType") {
                None | Some("Uint8Array") => "tsrpc::Binary".into(),
                Some(other) => {
                    self.problem(
                        at,
                        format_args!(
                            "a {other} has no Rust form (`Uint8Array` has: `tsrpc::Binary`)"
                        ),
                    );
                    return None;
                }
            },
            "Array" => {
                let element = schema.get("elementType")?;
                let at = format!("{at}[]");
                let item = self.held_indirectly(|g| g.ty(element, &at, &format!("{hint}Item")))?;
                format!("Vec<{item}>")
            }
            "Tuple" => {
                if schema.get("optionalStartIndex").is_some() {
                    self.problem(at, "a tuple with optional elements has no Rust form");
                    return None;
                }
                let elements = list(schema, "elementTypes");
                let mut types = Vec::new();
                for (i, element) in elements.iter().enumerate() {
                    types.push(self.ty(element, &format!("{at}.{i}"), &format!("{hint}{i}"))?);
                }
                match types.len() {
                    0 => {
                        self.problem(at, "an empty tuple has no Rust form");
                        return None;
                    }
                    1 => format!("({},)", types[0]),
                    _ => format!("({})", types.join(", ")),
                }
            }
            "Reference" => {
                let target = str_of(schema, "target").unwrap_or_default();
                if !self.types.contains_key(target) {
                    self.problem(
                        at,
                        format_args!("refers to {target:?}, not in the serviceProto's types"),
                    );
                    return None;
                }
                let name = self.name_of(target);
                match &self.owner {
                    Some(owner) if self.indirect == 0 && self.reaches(target, owner) => {
                        format!("Box<{name}>")
                    }
                    _ => name,
                }
            }
            "Union" => match nullable(schema) {
                Some(Ok(inner)) => format!("Option<{}>", self.ty(inner, at, hint)?),
                Some(Err(())) => {
                    self.problem(at, "`null | T` with null as member 0: tsrpc writes `T | null` (T member 0, null member 1)");
                    return None;
                }
                None => {
                    let name = self.fresh_name(hint, at);
                    let item = self.enumeration(at, &name, schema)?;
                    self.items.push(item);
                    name
                }
            },
            "Interface" => match schema.get("indexSignature") {
                Some(index)
                    if list(schema, "properties").is_empty()
                        && list(schema, "extends").is_empty() =>
                {
                    let key = match str_of(index, "keyType") {
                        Some("Number") => "i64",
                        _ => "String",
                    };
                    let at = format!("{at}[key]");
                    let value = self.held_indirectly(|g| {
                        g.ty(index.get("type")?, &at, &format!("{hint}Value"))
                    })?;
                    format!("std::collections::HashMap<{key}, {value}>")
                }
                _ => {
                    let name = self.fresh_name(hint, at);
                    let item = self.interface(at, &name, schema, "")?;
                    self.items.push(item);
                    name
                }
            },
            "Literal" => {
                self.problem(
                    at,
                    "a literal type outside a union has no Rust form yet (TSRPC never writes it in binary mode)",
                );
                return None;
            }
            other => {
                self.problem(at, format_args!("{other} types have no Rust form in tsrpc"));
                return None;
            }
        })
    }
}

impl Generator<'_> {
    /// Runs `convert` for a type held in a `Vec` or a map.
    fn held_indirectly<T>(&mut self, convert: impl FnOnce(&mut Self) -> T) -> T {
        self.indirect += 1;
        let out = convert(self);
        self.indirect -= 1;
        out
    }

    /// True when the named type `from` holds `to` (or is it) by value:
    /// not through a `Vec` or a map.
    fn reaches(&self, from: &str, to: &str) -> bool {
        let mut todo = vec![from];
        let mut seen = BTreeSet::new();
        while let Some(key) = todo.pop() {
            if key == to {
                return true;
            }
            if seen.insert(key)
                && let Some(schema) = self.types.get(key)
            {
                direct_references(schema, &mut todo);
            }
        }
        false
    }
}

/// The named types `schema` holds by value (not in an array or a map).
fn direct_references<'v>(schema: &'v Value, out: &mut Vec<&'v str>) {
    match str_of(schema, "type") {
        Some("Reference") => out.extend(str_of(schema, "target")),
        Some("Interface") => {
            for property in list(schema, "properties") {
                if let Some(ty) = property.get("type") {
                    direct_references(ty, out);
                }
            }
        }
        Some("Union") => {
            for member in list(schema, "members") {
                if let Some(ty) = member.get("type") {
                    direct_references(ty, out);
                }
            }
        }
        Some("Tuple") => {
            for element in list(schema, "elementTypes") {
                direct_references(element, out);
            }
        }
        _ => {}
    }
}

/// Names a generated type may not take.
fn is_reserved(name: &str) -> bool {
    matches!(
        name,
        "Self"
            | "Option"
            | "Vec"
            | "String"
            | "Box"
            | "Result"
            | "Some"
            | "None"
            | "Ok"
            | "Err"
            | "Serialize"
            | "Deserialize"
            | "SERVICE_PROTO"
    )
}

#[cfg(test)]
mod tests;
