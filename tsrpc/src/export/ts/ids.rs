//! Ids kept from an existing `serviceProto.json`.
//!
//! The export gives every property, union member and service an id; TSRPC's
//! generator keeps the ids of what did not change from the previous
//! `serviceProto.json`, and a TSRPC client sends the ids of the file it was
//! built with. [`align`] walks the Rust types' schemas (exported with
//! position ids) beside the file's, and learns which id each field,
//! variant and service has there: a property by its name, an enum's
//! variant by its name (a string literal, or the one property of its
//! interface), a service by its name and kind. It names every place where
//! the two do not describe the same bytes; [`Alignment::ids`] gives
//! what did not match a fresh id (after the largest the file used there).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::TsExport;
use super::schema::{Origin, Schema};
use crate::export::service_proto::{self, extends_problem, list, str_of, variant_of};
use crate::proto::{ServiceKind, ServiceTable};
use crate::schema::ids::Ids;

/// References followed in a row at most (a longer chain is a cycle).
const MAX_REFERENCES: usize = 64;

/// The largest property, member or service id taken from a file: ids are
/// small in practice, and a fresh one (one more than the largest) must fit
/// a block header (`(id + 10) << 2`) and JavaScript's exact integers.
const MAX_ID: u64 = 1 << 31;

/// What [`align`] learned.
#[derive(Debug, Default)]
pub(super) struct Alignment {
    /// Property ids by origin, by field position.
    fields: BTreeMap<(String, Option<String>), Learned>,
    /// Member ids by enum, by variant index.
    members: BTreeMap<String, Learned>,
    /// Wire ids by table id; the largest wire id in the file.
    services: BTreeMap<u32, u32>,
    max_service: Option<u32>,
    /// Where the Rust types and the file differ, one line each.
    pub(super) differences: Vec<String>,
}

/// The ids learned for one struct's fields or one enum's variants.
#[derive(Debug)]
struct Learned {
    ids: Vec<Option<u64>>,
    /// The largest id the file used there (matched or not).
    max: Option<u64>,
}

impl Learned {
    fn new(len: usize) -> Self {
        Learned {
            ids: vec![None; len],
            max: None,
        }
    }

    /// Every position's id: the learned one, or a fresh one.
    fn complete(&self) -> Box<[u64]> {
        let mut next = self.max.map_or(0, |m| m + 1);
        self.ids
            .iter()
            .map(|id| {
                id.unwrap_or_else(|| {
                    next += 1;
                    next - 1
                })
            })
            .collect()
    }

    /// True when every id is its position.
    fn is_positions(ids: &[u64]) -> bool {
        ids.iter().enumerate().all(|(i, &id)| id == i as u64)
    }
}

impl Alignment {
    /// The ids to use: those learned, fresh ones (after the largest the
    /// file used in that place) for the rest.
    pub(super) fn ids(&self, table: &ServiceTable) -> Ids {
        let mut ids = Ids::default();
        for ((container, variant), learned) in &self.fields {
            let complete = learned.complete();
            if Learned::is_positions(&complete) {
                continue;
            }
            let entry = ids.container_mut(container);
            match variant {
                None => entry.fields = Some(complete),
                Some(variant) => {
                    entry.variant_fields.insert(variant.clone(), complete);
                }
            }
        }
        for (name, learned) in &self.members {
            let complete = learned.complete();
            if !Learned::is_positions(&complete) {
                ids.container_mut(name).members = Some(complete);
            }
        }
        if self.max_service.is_some() {
            // Every service gets a wire id, so none can be taken for
            // another's: a service the file lacks gets a fresh one.
            let mut next = self.max_service.map_or(0, |m| m + 1);
            for service in table.iter() {
                let wire = match self.services.get(&service.id()) {
                    Some(&wire) => wire,
                    None => {
                        next += 1;
                        next - 1
                    }
                };
                ids.set_service(service.id(), wire);
            }
        }
        ids
    }
}

/// Aligns `export` (of `table`, with position ids) with the text of a
/// `serviceProto.json`; an error when the text is not one.
pub(super) fn align(
    table: &ServiceTable,
    export: &TsExport,
    previous: &str,
) -> Result<Alignment, String> {
    let proto = service_proto::parse(previous)?;
    let services = &proto.services;
    let mut walker = Walker {
        new_types: &export.schemas,
        old_types: &proto.types,
        seen: BTreeSet::new(),
        out: Alignment::default(),
    };
    let (ids, max) = walker.ids_of("services", "service", services);
    walker.out.max_service = max.and_then(|m| u32::try_from(m).ok());
    for (old, id) in services.iter().zip(ids) {
        if let Some(id) = id {
            walker.service(table, export, old, id);
        }
    }
    let mut out = walker.out;
    out.differences.sort();
    out.differences.dedup();
    Ok(out)
}

struct Walker<'a> {
    new_types: &'a BTreeMap<String, Schema>,
    old_types: &'a Map<String, Value>,
    /// Pairs of named types already walked (recursive types end here).
    /// Pairs of schemas already walked, by address (both trees stay as
    /// they are during the walk): recursive types end here.
    seen: BTreeSet<(usize, usize)>,
    out: Alignment,
}

/// A schema's `type`, as TSBuffer names it.
fn kind(schema: &Schema) -> &'static str {
    match schema {
        Schema::Boolean => "Boolean",
        Schema::Number { .. } => "Number",
        Schema::String => "String",
        Schema::Array { .. } => "Array",
        Schema::Tuple { .. } => "Tuple",
        Schema::Literal { .. } => "Literal",
        Schema::Interface { .. } => "Interface",
        Schema::Buffer { .. } => "Buffer",
        Schema::Reference { .. } => "Reference",
        Schema::Union { .. } => "Union",
        Schema::Date => "Date",
    }
}

impl<'a> Walker<'a> {
    fn differ(&mut self, at: &str, what: impl std::fmt::Display) {
        self.out.differences.push(format!("`{at}`: {what}"));
    }

    /// The ids of a list of properties, members or services of the file,
    /// each checked (present, at most [`MAX_ID`], used once: a second use
    /// would give two Rust fields one block), and the largest.
    fn ids_of(&mut self, at: &str, what: &str, items: &[Value]) -> (Vec<Option<u64>>, Option<u64>) {
        let mut used = BTreeSet::new();
        let mut ids = Vec::with_capacity(items.len());
        for item in items {
            let id = match item.get("id").and_then(Value::as_u64) {
                None => {
                    self.differ(at, format_args!("a {what} without an id: {item}"));
                    None
                }
                Some(id) if id > MAX_ID => {
                    self.differ(at, format_args!("{what} id {id} is larger than {MAX_ID}"));
                    None
                }
                Some(id) if !used.insert(id) => {
                    self.differ(at, format_args!("{what} id {id} is used twice"));
                    None
                }
                Some(id) => Some(id),
            };
            ids.push(id);
        }
        let max = ids.iter().flatten().copied().max();
        (ids, max)
    }

    fn service(&mut self, table: &ServiceTable, export: &TsExport, old: &Value, id: u64) {
        let (name, kind) = match service_proto::service(old) {
            Ok(service) => service,
            Err((at, problem)) => return self.differ(&at, problem),
        };
        // `ids_of` checked it is at most `MAX_ID`.
        let wire = u32::try_from(id).unwrap_or(u32::MAX);
        let Some(service) = table.find(kind, name) else {
            self.differ(
                name,
                format_args!(
                    "the serviceProto's {} has no Rust definition",
                    if kind == ServiceKind::Api {
                        "API"
                    } else {
                        "message"
                    }
                ),
            );
            return;
        };
        self.out.services.insert(service.id(), wire);
        for key in service_proto::root_keys(kind, name) {
            let Some(new) = self.new_types.get(&key) else {
                let why = export
                    .left_out
                    .iter()
                    .find(|l| l.contains(&format!("{name:?}")))
                    .map_or("the Rust types were not exported", String::as_str);
                return self.differ(name, format_args!("no TSBuffer form: {why}"));
            };
            let Some(old) = self.old_types.get(&key) else {
                self.differ(&key, "not in the serviceProto's types");
                continue;
            };
            self.schema(&key, new, old);
        }
    }

    /// Follows references on both sides; `None` when this pair was walked
    /// already.
    fn resolve(
        &mut self,
        at: &str,
        mut new: &'a Schema,
        mut old: &'a Value,
    ) -> Option<(&'a Schema, &'a Value)> {
        for _ in 0..MAX_REFERENCES {
            let Schema::Reference { target } = new else {
                break;
            };
            new = self.new_types.get(target)?;
        }
        for _ in 0..MAX_REFERENCES {
            if str_of(old, "type") != Some("Reference") {
                break;
            }
            let target = str_of(old, "target").unwrap_or_default();
            let Some(next) = self.old_types.get(target) else {
                self.differ(at, format_args!("the serviceProto has no type {target:?}"));
                return None;
            };
            old = next;
        }
        let pair = (
            std::ptr::from_ref(new) as usize,
            std::ptr::from_ref(old) as usize,
        );
        self.seen.insert(pair).then_some((new, old))
    }

    fn schema(&mut self, at: &str, new: &'a Schema, old: &'a Value) {
        let Some((new, old)) = self.resolve(at, new, old) else {
            return;
        };
        let old_kind = str_of(old, "type").unwrap_or("(none)");
        if kind(new) != old_kind {
            let new_kind = match new {
                Schema::Number { scalar_type } => {
                    format!("Number ({})", scalar_type.unwrap_or("double"))
                }
                other => kind(other).to_owned(),
            };
            let old_kind = match str_of(old, "scalarType") {
                Some(scalar) => format!("{old_kind} ({scalar})"),
                None => old_kind.to_owned(),
            };
            return self.differ(
                at,
                format_args!("{new_kind} in Rust, {old_kind} in the serviceProto"),
            );
        }
        match new {
            Schema::Boolean | Schema::String | Schema::Date | Schema::Reference { .. } => {}
            Schema::Number { scalar_type } => {
                let new_scalar = scalar_type.unwrap_or("double");
                let old_scalar = str_of(old, "scalarType").unwrap_or("double");
                if new_scalar != old_scalar {
                    self.differ(
                        at,
                        format_args!("Number ({new_scalar}) in Rust, Number ({old_scalar}) in the serviceProto"),
                    );
                }
            }
            Schema::Buffer { array_type } => {
                let old_type = str_of(old, "arrayType").unwrap_or("Uint8Array");
                if *array_type != old_type {
                    self.differ(
                        at,
                        format_args!("{array_type} in Rust, {old_type} in the serviceProto"),
                    );
                }
            }
            Schema::Literal { literal } => {
                let new_value = literal.clone().map_or(Value::Null, Value::String);
                let old_value = old.get("literal").cloned().unwrap_or(Value::Null);
                if new_value != old_value {
                    self.differ(
                        at,
                        format_args!(
                            "the literal {new_value} in Rust, {old_value} in the serviceProto"
                        ),
                    );
                }
            }
            Schema::Array { element_type } => match old.get("elementType") {
                Some(old_element) => self.schema(&format!("{at}[]"), element_type, old_element),
                None => self.differ(at, "an Array without its elementType"),
            },
            Schema::Tuple { element_types } => {
                let old_elements = list(old, "elementTypes");
                if old_elements.len() != element_types.len()
                    || old.get("optionalStartIndex").is_some()
                {
                    return self.differ(
                        at,
                        format_args!(
                            "a tuple of {} in Rust, of {}{} in the serviceProto",
                            element_types.len(),
                            old_elements.len(),
                            if old.get("optionalStartIndex").is_some() {
                                " with optional elements"
                            } else {
                                ""
                            }
                        ),
                    );
                }
                for (i, (new, old)) in element_types.iter().zip(old_elements).enumerate() {
                    self.schema(&format!("{at}.{i}"), new, old);
                }
            }
            Schema::Interface {
                properties,
                index_signature,
                origin,
            } => {
                if let Some(problem) = extends_problem(self.old_types, old) {
                    self.differ(at, format_args!("the serviceProto's interface {problem}"));
                }
                let old_props = list(old, "properties");
                let mut learned = Learned::new(properties.len());
                let (old_ids, max) = self.ids_of(at, "property", old_props);
                learned.max = max;
                for (position, new) in properties.iter().enumerate() {
                    let field_at = format!("{at}.{}", new.name);
                    let Some((old, old_id)) = old_props
                        .iter()
                        .zip(&old_ids)
                        .find(|(p, _)| str_of(p, "name") == Some(new.name.as_str()))
                    else {
                        // An optional field the file's peers do not know
                        // is never missed: it gets a fresh id.
                        if !new.optional {
                            self.differ(&field_at, "required in Rust, not in the serviceProto");
                        }
                        continue;
                    };
                    let old_optional = old
                        .get("optional")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    if new.optional != old_optional {
                        let (rust, file) = if new.optional {
                            ("optional", "required")
                        } else {
                            ("required", "optional")
                        };
                        self.differ(
                            &field_at,
                            format_args!("{rust} in Rust, {file} in the serviceProto"),
                        );
                    }
                    match (origin, *old_id) {
                        // Reported by `ids_of`.
                        (_, None) => {}
                        (Some(_), Some(id)) => learned.ids[position] = Some(id),
                        (None, Some(id)) if id != new.id => self.differ(
                            &field_at,
                            format_args!("property id {} here, {id} in the serviceProto", new.id),
                        ),
                        (None, Some(_)) => {}
                    }
                    if let Some(old_type) = old.get("type") {
                        self.schema(&field_at, &new.schema, old_type);
                    }
                }
                for old in old_props {
                    let name = str_of(old, "name").unwrap_or_default();
                    let optional = old.get("optional").and_then(Value::as_bool) == Some(true);
                    // An optional one is skipped where it comes, and
                    // never expected.
                    if !optional && !properties.iter().any(|p| p.name == name) {
                        self.differ(
                            &format!("{at}.{name}"),
                            "required in the serviceProto, not in Rust",
                        );
                    }
                }
                match (index_signature, old.get("indexSignature")) {
                    (None, None) => {}
                    (Some(new), Some(old)) => {
                        let old_key = str_of(old, "keyType").unwrap_or_default();
                        if new.key_type != old_key {
                            self.differ(
                                at,
                                format_args!(
                                    "keys are {} in Rust, {old_key} in the serviceProto",
                                    new.key_type
                                ),
                            );
                        }
                        if let Some(old_type) = old.get("type") {
                            self.schema(&format!("{at}[key]"), &new.schema, old_type);
                        }
                    }
                    (new, _) => self.differ(
                        at,
                        if new.is_some() {
                            "a map in Rust, no index signature in the serviceProto"
                        } else {
                            "an index signature in the serviceProto, not in Rust"
                        },
                    ),
                }
                if let Some(origin) = origin {
                    self.learn_fields(at, origin, learned);
                }
            }
            Schema::Union { members, origin } => {
                let old_members = list(old, "members");
                let mut learned = Learned::new(members.len());
                let (member_ids, max) = self.ids_of(at, "union member", old_members);
                learned.max = max;
                let mut matched = BTreeSet::new();
                for (index, new) in members.iter().enumerate() {
                    let found = match origin {
                        // An enum's variant, by its name.
                        Some(_) => {
                            let key = self.new_member_key(&new.schema);
                            let found = old_members.iter().zip(&member_ids).find(|(m, _)| {
                                m.get("type").and_then(|t| self.old_member_key(t)) == key
                            });
                            let variant_at = format!("{at}<{}>", key.unwrap_or_default());
                            match found {
                                Some(found) => Some((found, variant_at)),
                                None => {
                                    self.differ(&variant_at, "in Rust, not in the serviceProto");
                                    None
                                }
                            }
                        }
                        // `T | null`: by id, as the codec writes them.
                        None => {
                            let found = old_members
                                .iter()
                                .zip(&member_ids)
                                .find(|(_, id)| **id == Some(new.id));
                            if found.is_none() {
                                self.differ(
                                    at,
                                    format_args!(
                                        "the serviceProto's union has no member {}",
                                        new.id
                                    ),
                                );
                            }
                            found.map(|found| (found, format!("{at}|{}", new.id)))
                        }
                    };
                    let Some(((found, id), member_at)) = found else {
                        continue;
                    };
                    matched.insert(*id);
                    learned.ids[index] = *id;
                    if let Some(old_type) = found.get("type") {
                        self.schema(&member_at, &new.schema, old_type);
                    }
                }
                if old_members.len() > matched.len() {
                    self.differ(
                        at,
                        format_args!(
                            "the serviceProto's union has {} member(s) that Rust does not",
                            old_members.len() - matched.len()
                        ),
                    );
                }
                if let Some(name) = origin
                    && let Some(problem) = record(&mut self.out.members, name.clone(), learned)
                {
                    self.differ(
                        at,
                        format_args!("the Rust enum {name} is used where {problem}"),
                    );
                }
            }
        }
    }

    /// An enum variant's name, from its member's schema: a string literal,
    /// or the one property of an interface.
    fn new_member_key(&self, schema: &Schema) -> Option<String> {
        match schema {
            Schema::Literal {
                literal: Some(name),
            } => Some(name.clone()),
            Schema::Interface { properties, .. } if properties.len() == 1 => {
                Some(properties[0].name.clone())
            }
            _ => None,
        }
    }

    fn old_member_key(&self, schema: &'a Value) -> Option<String> {
        variant_of(self.old_types, schema).map(|(name, _)| name.to_owned())
    }

    fn learn_fields(&mut self, at: &str, origin: &Origin, learned: Learned) {
        let name = match &origin.variant {
            Some(variant) => format!("{}::{variant}", origin.container),
            None => origin.container.clone(),
        };
        let key = (origin.container.clone(), origin.variant.clone());
        if let Some(problem) = record(&mut self.out.fields, key, learned) {
            self.differ(
                at,
                format_args!("the Rust type {name} is used where {problem}"),
            );
        }
    }
}

/// Records what one place taught about a Rust type under `key`; what it
/// disagrees on with another place, if anything.
fn record<K: Ord>(map: &mut BTreeMap<K, Learned>, key: K, learned: Learned) -> Option<String> {
    let Some(known) = map.get_mut(&key) else {
        map.insert(key, learned);
        return None;
    };
    if known.ids.len() != learned.ids.len() {
        return Some(
            "another Rust type of the same serde name is used too: rename one with #[serde(rename = \"...\")] so that each has ids of its own".into(),
        );
    }
    if let Some(problem) = merge(known, learned) {
        return Some(problem);
    }
    let mut used = BTreeSet::new();
    known
        .ids
        .iter()
        .flatten()
        .find(|id| !used.insert(**id))
        .map(|id| format!("the serviceProto gives two of its fields or variants id {id}"))
}

/// Merges what a second place taught about one Rust type; what they
/// disagree on, if anything.
fn merge(known: &mut Learned, learned: Learned) -> Option<String> {
    // (`record` checked the lengths.)
    known.max = known.max.max(learned.max);
    for (a, b) in known.ids.iter_mut().zip(learned.ids) {
        match (*a, b) {
            (Some(x), Some(y)) if x != y => {
                return Some(format!(
                    "the serviceProto gives one of its ids as {x} and as {y}"
                ));
            }
            (None, Some(y)) => *a = Some(y),
            _ => {}
        }
    }
    None
}
