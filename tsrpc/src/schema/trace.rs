//! The tracer behind [`Shape`](super::Shape): a serde `Deserializer` that
//! makes up values and records the shape of every type a `Deserialize` impl
//! asks for.
//!
//! One pass deserializes each root type once, with default values: `0`,
//! `""`, one element per sequence and map, `Some` for options. What a pass
//! learns (the fields of structs, the content of enum variants) is kept for
//! the next; an enum gives one more variant each time it is reached, so
//! passes repeat until every type reached is known in full. Unlike
//! serde-reflection, sequences, options and maps are explored on every
//! pass, so an enum inside a `Vec` or an `Option` gets all its variants.
//!
//! Recursive types end where the recursion goes through a sequence or a map
//! (the element is left out), an option (`None`, once the option is known
//! to hold a type being built) or an enum (a variant known not to recurse).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use super::{ContainerShape, Field, TypeShape, Variant, VariantShape};

/// Passes before giving up; each pass must learn something.
const MAX_PASSES: usize = 4096;

/// Types nested deeper than this are reported rather than traced.
const MAX_DEPTH: usize = 256;

/// A shape not known yet.
type Slot = Option<TypeShape>;

/// What is known of one named type.
#[derive(Clone, Debug, PartialEq)]
enum Partial {
    Unit,
    Newtype(Slot),
    Tuple(Vec<Slot>),
    Struct(Vec<(&'static str, Slot)>),
    Enum {
        variants: Vec<(&'static str, Option<PartialVariant>)>,
        /// Variants whose exploration hit a recursion before another
        /// variant was known: tried again last.
        deferred: BTreeSet<usize>,
    },
}

/// What is known of one enum variant.
#[derive(Clone, Debug, PartialEq)]
enum PartialVariant {
    Unit,
    Newtype(Slot),
    Tuple(Vec<Slot>),
    Struct(Vec<(&'static str, Slot)>),
}

impl PartialVariant {
    fn is_complete(&self) -> bool {
        match self {
            PartialVariant::Unit => true,
            PartialVariant::Newtype(slot) => slot.is_some(),
            PartialVariant::Tuple(slots) => slots.iter().all(Option::is_some),
            PartialVariant::Struct(fields) => fields.iter().all(|(_, s)| s.is_some()),
        }
    }

    /// The shapes of the variant's content.
    fn slots(&self) -> Box<dyn Iterator<Item = &Slot> + '_> {
        match self {
            PartialVariant::Unit => Box::new(std::iter::empty()),
            PartialVariant::Newtype(slot) => Box::new(std::iter::once(slot)),
            PartialVariant::Tuple(slots) => Box::new(slots.iter()),
            PartialVariant::Struct(fields) => Box::new(fields.iter().map(|(_, s)| s)),
        }
    }
}

impl Partial {
    fn kind(&self) -> &'static str {
        match self {
            Partial::Unit => "a unit struct",
            Partial::Newtype(_) => "a newtype struct",
            Partial::Tuple(_) => "a tuple struct",
            Partial::Struct(_) => "a struct",
            Partial::Enum { .. } => "an enum",
        }
    }

    /// The shapes inside the type (of every variant, for an enum).
    fn slots(&self) -> Box<dyn Iterator<Item = &Slot> + '_> {
        match self {
            Partial::Unit => Box::new(std::iter::empty()),
            Partial::Newtype(slot) => Box::new(std::iter::once(slot)),
            Partial::Tuple(slots) => Box::new(slots.iter()),
            Partial::Struct(fields) => Box::new(fields.iter().map(|(_, s)| s)),
            Partial::Enum { variants, .. } => Box::new(
                variants
                    .iter()
                    .filter_map(|(_, v)| v.as_ref())
                    .flat_map(PartialVariant::slots),
            ),
        }
    }

    fn is_complete(&self) -> bool {
        match self {
            Partial::Unit => true,
            Partial::Newtype(slot) => slot.is_some(),
            Partial::Tuple(slots) => slots.iter().all(Option::is_some),
            Partial::Struct(fields) => fields.iter().all(|(_, s)| s.is_some()),
            Partial::Enum { variants, .. } => variants
                .iter()
                .all(|(_, v)| v.as_ref().is_some_and(PartialVariant::is_complete)),
        }
    }
}

/// Why a pass stopped.
#[derive(Debug)]
pub(crate) enum TraceError {
    /// A type was reached inside itself where no value can end the
    /// recursion yet; the pass is retried with what it learned.
    Recursion(String),
    /// A serde feature the tracer cannot follow, such as `deserialize_any`.
    Unsupported(&'static str),
    /// An error from a `Deserialize` impl, or a conflict between two types.
    Custom(String),
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Recursion(name) => write!(f, "type {name} contains itself"),
            TraceError::Unsupported(what) => write!(
                f,
                "{what} is not supported (the type needs the input to describe itself)"
            ),
            TraceError::Custom(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for TraceError {}

impl de::Error for TraceError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        TraceError::Custom(msg.to_string())
    }
}

/// What the passes learn.
#[derive(Default)]
pub(crate) struct Tracer {
    types: BTreeMap<&'static str, Partial>,
    /// Named types being deserialized, outermost first.
    stack: Vec<&'static str>,
    /// Set when a pass learns anything.
    changed: bool,
}

/// Fills `slot` when it is empty; true when it learned something.
fn learn(slot: &mut Slot, shape: Slot) -> bool {
    if slot.is_none() && shape.is_some() {
        *slot = shape;
        true
    } else {
        false
    }
}

fn learn_all(slots: &mut [Slot], shapes: Vec<Slot>) -> bool {
    let mut changed = false;
    for (slot, shape) in slots.iter_mut().zip(shapes) {
        changed |= learn(slot, shape);
    }
    changed
}

impl Tracer {
    fn on_stack(&self, name: &str) -> bool {
        self.stack.contains(&name)
    }

    /// Inside itself, a type is built again once all its fields are known
    /// (its options, sequences and maps of itself then end the recursion);
    /// before that, the pass stops here and learns from what it saw.
    fn check_recursion(&self, name: &str) -> Result<(), TraceError> {
        let known = self.types.get(name).is_some_and(Partial::is_complete);
        if self.on_stack(name) && !known {
            return Err(TraceError::Recursion(name.to_owned()));
        }
        Ok(())
    }

    fn enter(&mut self, name: &'static str) -> Result<(), TraceError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(TraceError::Custom(format!(
                "types are nested more than {MAX_DEPTH} deep at {name} (does it contain itself with no Option, sequence or map between?)"
            )));
        }
        self.stack.push(name);
        Ok(())
    }

    /// The entry of `name`, created by `fresh` when new; an error when the
    /// name is already used by another kind of type.
    fn entry(
        &mut self,
        name: &'static str,
        fresh: impl FnOnce() -> Partial,
    ) -> Result<&mut Partial, TraceError> {
        let fresh = fresh();
        if !self.types.contains_key(name) {
            self.changed = true;
        }
        let entry = self.types.entry(name).or_insert_with(|| fresh.clone());
        if std::mem::discriminant(entry) != std::mem::discriminant(&fresh)
            || slots_len(entry) != slots_len(&fresh)
        {
            return Err(TraceError::Custom(format!(
                "two different types are named {name} ({} and {})",
                entry.kind(),
                fresh.kind()
            )));
        }
        Ok(entry)
    }

    /// Picks the variant of enum `name` to build: the next one to explore,
    /// or, inside itself, one that ends the recursion.
    fn pick_variant(&self, name: &'static str) -> Result<usize, TraceError> {
        let Some(Partial::Enum { variants, deferred }) = self.types.get(name) else {
            return Err(TraceError::Custom(format!("enum {name} is not registered")));
        };
        let complete = |i: &usize| {
            variants[*i]
                .1
                .as_ref()
                .is_some_and(PartialVariant::is_complete)
        };
        // A known variant whose content needs no type being built.
        let ends = |i: &usize| {
            variants[*i].1.as_ref().is_some_and(|v| {
                v.is_complete()
                    && v.slots()
                        .flatten()
                        .all(|s| !self.needs_one_on_stack(s, &mut BTreeSet::new()))
            })
        };
        let all = 0..variants.len();
        if self.on_stack(name) {
            return all
                .clone()
                .find(|i| variants[*i].1 == Some(PartialVariant::Unit))
                .or_else(|| all.clone().find(ends))
                .ok_or_else(|| TraceError::Recursion(name.to_owned()));
        }
        // Every variant known: take one that leads to a type still to
        // learn (an enum inside it), else one that ends.
        let leads_on = |i: &usize| {
            variants[*i].1.as_ref().is_some_and(|v| {
                v.slots()
                    .any(|s| self.reaches_incomplete(s, &mut BTreeSet::new()))
            })
        };
        Ok(all
            .clone()
            .find(|i| !complete(i) && !deferred.contains(i))
            .or_else(|| all.clone().find(|i| !complete(i)))
            .or_else(|| all.clone().find(leads_on))
            .or_else(|| all.clone().find(ends))
            .unwrap_or(0))
    }

    /// True when a value of `shape` cannot be built without a value of a
    /// type being built: it holds one directly (through fields, newtypes
    /// and tuples, not through what can be empty: options, sequences,
    /// maps; nor through enums, which choose a variant).
    fn needs_one_on_stack<'s>(
        &'s self,
        shape: &'s TypeShape,
        seen: &mut BTreeSet<&'s str>,
    ) -> bool {
        match shape {
            TypeShape::Named(name) => {
                if self.on_stack(name) {
                    return true;
                }
                if !seen.insert(name.as_str()) {
                    return false;
                }
                match self.types.get(name.as_str()) {
                    Some(
                        partial @ (Partial::Newtype(_) | Partial::Tuple(_) | Partial::Struct(_)),
                    ) => partial
                        .slots()
                        .flatten()
                        .any(|s| self.needs_one_on_stack(s, seen)),
                    _ => false,
                }
            }
            TypeShape::Tuple(items) => items.iter().any(|i| self.needs_one_on_stack(i, seen)),
            TypeShape::Array { item, len } => *len > 0 && self.needs_one_on_stack(item, seen),
            _ => false,
        }
    }

    /// True when `slot` is unknown or reaches a named type not known in full.
    fn reaches_incomplete<'s>(&'s self, slot: &'s Slot, seen: &mut BTreeSet<&'s str>) -> bool {
        let Some(shape) = slot else {
            return true;
        };
        self.shape_reaches_incomplete(shape, seen)
    }

    fn shape_reaches_incomplete<'s>(
        &'s self,
        shape: &'s TypeShape,
        seen: &mut BTreeSet<&'s str>,
    ) -> bool {
        match shape {
            TypeShape::Named(name) => {
                let Some(partial) = self.types.get(name.as_str()) else {
                    return true;
                };
                if !partial.is_complete() {
                    return true;
                }
                if !seen.insert(name.as_str()) {
                    return false;
                }
                partial.slots().any(|s| self.reaches_incomplete(s, seen))
            }
            TypeShape::Option(inner) | TypeShape::Seq(inner) => {
                self.shape_reaches_incomplete(inner, seen)
            }
            TypeShape::Array { item, .. } => self.shape_reaches_incomplete(item, seen),
            TypeShape::Map { key, value } => {
                self.shape_reaches_incomplete(key, seen)
                    || self.shape_reaches_incomplete(value, seen)
            }
            TypeShape::Tuple(items) => items.iter().any(|i| self.shape_reaches_incomplete(i, seen)),
            _ => false,
        }
    }

    fn learn_variant(&mut self, name: &'static str, index: usize, learned: Option<PartialVariant>) {
        let Some(Partial::Enum { variants, .. }) = self.types.get_mut(name) else {
            return;
        };
        let Some((_, known)) = variants.get_mut(index) else {
            return;
        };
        let changed = match (known, learned) {
            (_, None) => false,
            (known @ None, learned) => {
                *known = learned;
                true
            }
            (Some(PartialVariant::Newtype(slot)), Some(PartialVariant::Newtype(new))) => {
                learn(slot, new)
            }
            (Some(PartialVariant::Tuple(slots)), Some(PartialVariant::Tuple(new))) => {
                learn_all(slots, new)
            }
            (Some(PartialVariant::Struct(fields)), Some(PartialVariant::Struct(new))) => {
                let mut changed = false;
                for ((_, slot), (_, shape)) in fields.iter_mut().zip(new) {
                    changed |= learn(slot, shape);
                }
                changed
            }
            _ => false,
        };
        self.changed |= changed;
    }

    fn defer(&mut self, name: &'static str, index: usize) {
        if let Some(Partial::Enum { deferred, .. }) = self.types.get_mut(name) {
            self.changed |= deferred.insert(index);
        }
    }

    /// The first type not known in full, if any.
    fn incomplete(&self) -> Option<&'static str> {
        self.types
            .iter()
            .find(|(_, t)| !t.is_complete())
            .map(|(name, _)| *name)
    }
}

fn slots_len(partial: &Partial) -> usize {
    match partial {
        Partial::Unit => 0,
        Partial::Newtype(_) => 1,
        Partial::Tuple(slots) => slots.len(),
        Partial::Struct(fields) => fields.len(),
        Partial::Enum { variants, .. } => variants.len(),
    }
}

/// Deserializes one value, writing its shape into `out`.
struct De<'t> {
    tracer: &'t mut Tracer,
    /// The shape learned by earlier passes, if any.
    expected: Slot,
    out: &'t mut Slot,
}

macro_rules! primitive {
    ($($method:ident => $shape:ident, $visit:ident($($value:expr)?);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
                *self.out = Some(TypeShape::$shape);
                visitor.$visit($($value)?)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for De<'_> {
    type Error = TraceError;

    primitive! {
        deserialize_bool => Bool, visit_bool(false);
        deserialize_i8 => I8, visit_i8(0);
        deserialize_i16 => I16, visit_i16(0);
        deserialize_i32 => I32, visit_i32(0);
        deserialize_i64 => I64, visit_i64(0);
        deserialize_i128 => I128, visit_i128(0);
        deserialize_u8 => U8, visit_u8(0);
        deserialize_u16 => U16, visit_u16(0);
        deserialize_u32 => U32, visit_u32(0);
        deserialize_u64 => U64, visit_u64(0);
        deserialize_u128 => U128, visit_u128(0);
        deserialize_f32 => F32, visit_f32(0.0);
        deserialize_f64 => F64, visit_f64(0.0);
        deserialize_char => Char, visit_char('A');
        deserialize_str => Str, visit_borrowed_str("");
        deserialize_string => Str, visit_string(String::new());
        deserialize_bytes => Bytes, visit_borrowed_bytes(&[]);
        deserialize_byte_buf => Bytes, visit_byte_buf(Vec::new());
        deserialize_unit => Unit, visit_unit();
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, TraceError> {
        Err(TraceError::Unsupported("deserialize_any"))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, TraceError> {
        Err(TraceError::Unsupported("deserialize_ignored_any"))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, TraceError> {
        Err(TraceError::Unsupported("deserialize_identifier"))
    }

    fn is_human_readable(&self) -> bool {
        // Binary mode's forms: a Timestamp is an i64, a Binary raw bytes.
        false
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        let expected = match self.expected {
            Some(TypeShape::Option(inner)) => Some(*inner),
            _ => None,
        };
        let wrap = |inner: Slot| inner.map(|i| TypeShape::Option(Box::new(i)));
        // A type being built, inside itself: `None` ends the recursion.
        if let Some(TypeShape::Named(name)) = &expected
            && self.tracer.on_stack(name)
        {
            *self.out = wrap(expected);
            return visitor.visit_none();
        }
        let mut inner = None;
        let result = visitor.visit_some(De {
            tracer: &mut *self.tracer,
            expected: expected.clone(),
            out: &mut inner,
        });
        *self.out = wrap(inner.or(expected));
        result
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        let expected = match self.expected {
            Some(TypeShape::Seq(inner)) => Some(*inner),
            _ => None,
        };
        let mut element = None;
        let result = visitor.visit_seq(OneElement {
            tracer: &mut *self.tracer,
            expected: expected.clone(),
            out: &mut element,
            done: false,
        });
        *self.out = element.or(expected).map(|e| TypeShape::Seq(Box::new(e)));
        result
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        let (key, value) = match self.expected {
            Some(TypeShape::Map { key, value }) => (Some(*key), Some(*value)),
            _ => (None, None),
        };
        let mut slots = [None, None];
        let result = visitor.visit_map(OneEntry {
            tracer: &mut *self.tracer,
            expected: [key.clone(), value.clone()],
            out: &mut slots,
            state: EntryState::Key,
        });
        let [learned_key, learned_value] = slots;
        *self.out = match (learned_key.or(key), learned_value.or(value)) {
            (Some(key), Some(value)) => Some(TypeShape::Map {
                key: Box::new(key),
                value: Box::new(value),
            }),
            _ => None,
        };
        result
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let expected = match self.expected {
            Some(TypeShape::Tuple(items)) if items.len() == len => {
                items.into_iter().map(Some).collect()
            }
            _ => vec![None; len],
        };
        let mut slots = vec![None; len];
        let result = visitor.visit_seq(Fixed {
            tracer: &mut *self.tracer,
            expected: &expected,
            out: &mut slots,
            index: 0,
        });
        let items: Option<Vec<TypeShape>> = slots
            .into_iter()
            .zip(expected)
            .map(|(learned, known)| learned.or(known))
            .collect();
        *self.out = items.map(TypeShape::Tuple);
        result
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        *self.out = Some(TypeShape::Named(name.to_owned()));
        self.tracer.entry(name, || Partial::Unit)?;
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        *self.out = Some(TypeShape::Named(name.to_owned()));
        self.tracer.check_recursion(name)?;
        let expected = match self.tracer.entry(name, || Partial::Newtype(None))? {
            Partial::Newtype(slot) => slot.clone(),
            _ => None,
        };
        self.tracer.enter(name)?;
        let mut inner = None;
        let result = visitor.visit_newtype_struct(De {
            tracer: &mut *self.tracer,
            expected,
            out: &mut inner,
        });
        self.tracer.stack.pop();
        if let Some(Partial::Newtype(slot)) = self.tracer.types.get_mut(name) {
            self.tracer.changed |= learn(slot, inner);
        }
        result
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        *self.out = Some(TypeShape::Named(name.to_owned()));
        self.tracer.check_recursion(name)?;
        let expected = match self
            .tracer
            .entry(name, || Partial::Tuple(vec![None; len]))?
        {
            Partial::Tuple(slots) => slots.clone(),
            _ => vec![None; len],
        };
        self.tracer.enter(name)?;
        let mut slots = vec![None; len];
        let result = visitor.visit_seq(Fixed {
            tracer: &mut *self.tracer,
            expected: &expected,
            out: &mut slots,
            index: 0,
        });
        self.tracer.stack.pop();
        if let Some(Partial::Tuple(known)) = self.tracer.types.get_mut(name) {
            self.tracer.changed |= learn_all(known, slots);
        }
        result
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        *self.out = Some(TypeShape::Named(name.to_owned()));
        self.tracer.check_recursion(name)?;
        let fresh = || Partial::Struct(fields.iter().map(|f| (*f, None)).collect());
        let expected: Vec<Slot> = match self.tracer.entry(name, fresh)? {
            Partial::Struct(known) => known.iter().map(|(_, s)| s.clone()).collect(),
            _ => vec![None; fields.len()],
        };
        self.tracer.enter(name)?;
        let mut slots = vec![None; fields.len()];
        // Structs are read as sequences of their fields, in order.
        let mut seq = Fixed {
            tracer: &mut *self.tracer,
            expected: &expected,
            out: &mut slots,
            index: 0,
        };
        let result = visitor.visit_seq(&mut seq);
        let read = seq.index;
        self.tracer.stack.pop();
        if result.is_ok() && read < fields.len() {
            // serde lists a field's aliases among its names: names and
            // fields no longer line up, which TSBuffer's property ids need.
            super::ids::mark_unnumbered(name, None);
            return Err(TraceError::Custom(format!(
                "struct {name} has {read} fields but deserializes {} names ({}): `#[serde(alias)]` is not supported (TSBuffer names fields by position)",
                fields.len(),
                fields.join(", ")
            )));
        }
        if let Some(Partial::Struct(known)) = self.tracer.types.get_mut(name) {
            for ((_, slot), shape) in known.iter_mut().zip(slots) {
                self.tracer.changed |= learn(slot, shape);
            }
        }
        result
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        *self.out = Some(TypeShape::Named(name.to_owned()));
        if variants.is_empty() {
            return Err(TraceError::Custom(format!(
                "enum {name} has no variants, so no value"
            )));
        }
        let fresh = || Partial::Enum {
            variants: variants.iter().map(|v| (*v, None)).collect(),
            deferred: BTreeSet::new(),
        };
        self.tracer.entry(name, fresh)?;
        let recursing = self.tracer.on_stack(name);
        let index = self.tracer.pick_variant(name)?;
        let expected = match self.tracer.types.get(name) {
            Some(Partial::Enum { variants, .. }) => {
                variants.get(index).and_then(|(_, v)| v.clone())
            }
            _ => None,
        };
        self.tracer.enter(name)?;
        let mut learned = None;
        let result = visitor.visit_enum(OneVariant {
            tracer: &mut *self.tracer,
            enum_name: name,
            name: variants[index],
            expected,
            out: &mut learned,
        });
        self.tracer.stack.pop();
        self.tracer.learn_variant(name, index, learned);
        if matches!(result, Err(TraceError::Recursion(_))) && !recursing {
            self.tracer.defer(name, index);
        }
        result
    }
}

/// A sequence of one element (none when the element's type is being built).
struct OneElement<'t> {
    tracer: &'t mut Tracer,
    expected: Slot,
    out: &'t mut Slot,
    done: bool,
}

impl<'de> SeqAccess<'de> for OneElement<'_> {
    type Error = TraceError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, TraceError> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(None);
        }
        if let Some(TypeShape::Named(name)) = &self.expected
            && self.tracer.on_stack(name)
        {
            return Ok(None);
        }
        let mut element = None;
        let result = seed.deserialize(De {
            tracer: &mut *self.tracer,
            expected: self.expected.clone(),
            out: &mut element,
        });
        learn(self.out, element);
        match result {
            Ok(value) => Ok(Some(value)),
            // The element's type contains itself here: leave it out.
            Err(TraceError::Recursion(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(usize::from(!self.done))
    }
}

enum EntryState {
    Key,
    Value,
    Done,
}

/// A map of one entry (none when its value's type is being built).
struct OneEntry<'t> {
    tracer: &'t mut Tracer,
    expected: [Slot; 2],
    out: &'t mut [Slot; 2],
    state: EntryState,
}

impl<'de> MapAccess<'de> for OneEntry<'_> {
    type Error = TraceError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TraceError> {
        if !matches!(self.state, EntryState::Key) {
            return Ok(None);
        }
        self.state = EntryState::Done;
        let cut = self.expected.iter().any(|e| match e {
            Some(TypeShape::Named(name)) => self.tracer.on_stack(name),
            _ => false,
        });
        if cut {
            return Ok(None);
        }
        let mut key = None;
        let result = seed.deserialize(De {
            tracer: &mut *self.tracer,
            expected: self.expected[0].clone(),
            out: &mut key,
        });
        learn(&mut self.out[0], key);
        match result {
            Ok(value) => {
                self.state = EntryState::Value;
                Ok(Some(value))
            }
            Err(TraceError::Recursion(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, TraceError> {
        self.state = EntryState::Done;
        let mut value = None;
        let result = seed.deserialize(De {
            tracer: &mut *self.tracer,
            expected: self.expected[1].clone(),
            out: &mut value,
        });
        learn(&mut self.out[1], value);
        result
    }

    fn size_hint(&self) -> Option<usize> {
        Some(usize::from(matches!(self.state, EntryState::Key)))
    }
}

/// A sequence of a fixed number of elements: tuples, struct fields.
struct Fixed<'t, 'e> {
    tracer: &'t mut Tracer,
    expected: &'e [Slot],
    out: &'t mut [Slot],
    index: usize,
}

impl<'de> SeqAccess<'de> for Fixed<'_, '_> {
    type Error = TraceError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, TraceError> {
        let index = self.index;
        let Some(out) = self.out.get_mut(index) else {
            return Ok(None);
        };
        self.index += 1;
        let mut element = None;
        let result = seed.deserialize(De {
            tracer: &mut *self.tracer,
            expected: self.expected.get(index).cloned().flatten(),
            out: &mut element,
        });
        learn(out, element);
        result.map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.out.len().saturating_sub(self.index))
    }
}

/// One variant of an enum, chosen by [`Tracer::pick_variant`].
struct OneVariant<'t> {
    tracer: &'t mut Tracer,
    /// The enum's serde name.
    enum_name: &'static str,
    name: &'static str,
    expected: Option<PartialVariant>,
    out: &'t mut Option<PartialVariant>,
}

impl<'de, 't> EnumAccess<'de> for OneVariant<'t> {
    type Error = TraceError;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self), TraceError> {
        let identifier: StrDeserializer<'_, TraceError> = self.name.into_deserializer();
        let value = seed.deserialize(identifier)?;
        Ok((value, self))
    }
}

impl<'de> VariantAccess<'de> for OneVariant<'_> {
    type Error = TraceError;

    fn unit_variant(self) -> Result<(), TraceError> {
        *self.out = Some(PartialVariant::Unit);
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, TraceError> {
        let expected = match self.expected {
            Some(PartialVariant::Newtype(slot)) => slot,
            _ => None,
        };
        let mut inner = None;
        let result = seed.deserialize(De {
            tracer: &mut *self.tracer,
            expected: expected.clone(),
            out: &mut inner,
        });
        *self.out = Some(PartialVariant::Newtype(inner.or(expected)));
        result
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let expected = match self.expected {
            Some(PartialVariant::Tuple(slots)) if slots.len() == len => slots,
            _ => vec![None; len],
        };
        let mut slots = vec![None; len];
        let result = visitor.visit_seq(Fixed {
            tracer: &mut *self.tracer,
            expected: &expected,
            out: &mut slots,
            index: 0,
        });
        learn_all(&mut slots, expected);
        *self.out = Some(PartialVariant::Tuple(slots));
        result
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let expected: Vec<Slot> = match self.expected {
            Some(PartialVariant::Struct(known)) if known.len() == fields.len() => {
                known.into_iter().map(|(_, s)| s).collect()
            }
            _ => vec![None; fields.len()],
        };
        let mut slots = vec![None; fields.len()];
        let mut seq = Fixed {
            tracer: &mut *self.tracer,
            expected: &expected,
            out: &mut slots,
            index: 0,
        };
        let result = visitor.visit_seq(&mut seq);
        let read = seq.index;
        if result.is_ok() && read < fields.len() {
            // Aliases, as for a struct (`deserialize_struct`).
            super::ids::mark_unnumbered(self.enum_name, Some(self.name));
            return Err(TraceError::Custom(format!(
                "variant {}::{} has {read} fields but deserializes {} names ({}): `#[serde(alias)]` is not supported (TSBuffer names fields by position)",
                self.enum_name,
                self.name,
                fields.len(),
                fields.join(", ")
            )));
        }
        learn_all(&mut slots, expected);
        *self.out = Some(PartialVariant::Struct(
            fields.iter().copied().zip(slots).collect(),
        ));
        result
    }
}

/// Traces one root type; returns its shape (as far as known) and how the
/// pass went.
pub(crate) type RootFn = fn(&mut Tracer, Slot) -> (Slot, Result<(), TraceError>);

pub(crate) fn root<T: DeserializeOwned>(
    tracer: &mut Tracer,
    expected: Slot,
) -> (Slot, Result<(), TraceError>) {
    let mut out = None;
    let result = T::deserialize(De {
        tracer,
        expected,
        out: &mut out,
    });
    (out, result.map(|_value: T| ()))
}

/// What a trace found: the roots' shapes and every named type reached.
pub(crate) type Traced = (
    Vec<(&'static str, TypeShape)>,
    BTreeMap<String, ContainerShape>,
);

/// Traces `roots` (by role) until every type reached is known in full.
pub(crate) fn trace(roots: &[(&'static str, RootFn)]) -> Result<Traced, String> {
    let mut tracer = Tracer::default();
    let mut shapes: Vec<Slot> = vec![None; roots.len()];
    for _ in 0..MAX_PASSES {
        tracer.changed = false;
        let mut stopped = None;
        for ((_, trace_root), shape) in roots.iter().zip(shapes.iter_mut()) {
            tracer.stack.clear();
            let (learned, result) = trace_root(&mut tracer, shape.clone());
            tracer.changed |= learn(shape, learned);
            match result {
                Ok(()) => {}
                Err(TraceError::Recursion(name)) => stopped = Some(name),
                Err(e) => return Err(e.to_string()),
            }
        }
        let complete = stopped.is_none() && tracer.incomplete().is_none();
        if complete {
            let roots = roots
                .iter()
                .zip(&shapes)
                .map(|((role, _), shape)| Some((*role, shape.clone()?)))
                .collect::<Option<Vec<_>>>();
            if let Some(roots) = roots {
                let types = std::mem::take(&mut tracer.types)
                    .into_iter()
                    .filter_map(|(name, partial)| Some((name.to_owned(), finish(partial)?)))
                    .collect();
                return Ok((roots, types));
            }
        }
        if !tracer.changed {
            let what = stopped.or_else(|| tracer.incomplete().map(str::to_owned));
            return Err(match what {
                Some(name) => format!(
                    "type {name} could not be traced in full (a recursion that no Option, sequence, map or other enum variant ends?)"
                ),
                None => "the trace stopped learning".to_owned(),
            });
        }
    }
    Err(format!("no complete trace after {MAX_PASSES} passes"))
}

/// A known type, with tuples of identical items written as arrays (their
/// wire forms are the same: `(u8, u8, u8)` is `[u8; 3]`).
fn finish(partial: Partial) -> Option<ContainerShape> {
    let slot = |s: Slot| s.map(normalize);
    let slots = |s: Vec<Slot>| s.into_iter().map(slot).collect::<Option<Vec<_>>>();
    let fields = |f: Vec<(&'static str, Slot)>| {
        f.into_iter()
            .map(|(name, s)| {
                Some(Field {
                    name: name.to_owned(),
                    shape: slot(s)?,
                })
            })
            .collect::<Option<Vec<_>>>()
    };
    Some(match partial {
        Partial::Unit => ContainerShape::UnitStruct,
        Partial::Newtype(s) => ContainerShape::Newtype(slot(s)?),
        Partial::Tuple(s) => ContainerShape::Tuple(slots(s)?),
        Partial::Struct(f) => ContainerShape::Struct(fields(f)?),
        Partial::Enum { variants, .. } => ContainerShape::Enum(
            variants
                .into_iter()
                .map(|(name, v)| {
                    let shape = match v? {
                        PartialVariant::Unit => VariantShape::Unit,
                        PartialVariant::Newtype(s) => VariantShape::Newtype(slot(s)?),
                        PartialVariant::Tuple(s) => VariantShape::Tuple(slots(s)?),
                        PartialVariant::Struct(f) => VariantShape::Struct(fields(f)?),
                    };
                    Some(Variant {
                        name: name.to_owned(),
                        shape,
                    })
                })
                .collect::<Option<Vec<_>>>()?,
        ),
    })
}

fn normalize(shape: TypeShape) -> TypeShape {
    let boxed = |s: Box<TypeShape>| Box::new(normalize(*s));
    match shape {
        TypeShape::Option(inner) => TypeShape::Option(boxed(inner)),
        TypeShape::Seq(inner) => TypeShape::Seq(boxed(inner)),
        TypeShape::Map { key, value } => TypeShape::Map {
            key: boxed(key),
            value: boxed(value),
        },
        TypeShape::Array { item, len } => TypeShape::Array {
            item: boxed(item),
            len,
        },
        TypeShape::Tuple(items) => {
            let items: Vec<TypeShape> = items.into_iter().map(normalize).collect();
            match items.split_first() {
                Some((first, rest)) if !rest.is_empty() && rest.iter().all(|i| i == first) => {
                    TypeShape::Array {
                        item: Box::new(first.clone()),
                        len: items.len(),
                    }
                }
                _ => TypeShape::Tuple(items),
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::{RootFn, root, trace};
    use crate::schema::Shape;

    fn shape_of<T: serde::de::DeserializeOwned>() -> Result<String, String> {
        let (roots, types) = trace(&[("msg", root::<T> as RootFn)])?;
        Ok(Shape { roots, types }.to_string())
    }

    #[derive(Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
    enum Level {
        Low,
        High,
    }

    #[derive(Serialize, Deserialize)]
    enum Mode {
        Off,
        On { level: u8 },
    }

    #[derive(Serialize, Deserialize)]
    enum Kind {
        A(String),
        B(u8, u8),
    }

    #[derive(Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
    enum Key {
        K1,
        K2,
    }

    #[derive(Serialize, Deserialize)]
    struct InContainers {
        levels: Vec<Level>,
        mode: Option<Mode>,
        kinds: BTreeMap<String, Kind>,
        keys: BTreeMap<Key, u8>,
        nested: Vec<Option<Vec<Level>>>,
    }

    #[test]
    fn enums_inside_sequences_options_and_maps_get_every_variant() {
        let text = shape_of::<InContainers>().unwrap();
        for expected in [
            "enum Level { Low, High }",
            "enum Mode { Off, On { level: u8 } }",
            "enum Kind { A(str), B(u8, u8) }",
            "enum Key { K1, K2 }",
            "nested: Vec<Option<Vec<Level>>>",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
    }

    /// The recursive variant comes first: the trace must find `Lit` to end it.
    #[derive(Serialize, Deserialize)]
    enum Expr {
        Neg(Box<Expr>),
        Add(Box<Expr>, Box<Expr>),
        Lit(u32),
    }

    #[derive(Serialize, Deserialize)]
    struct Tree {
        left: Option<Box<Tree>>,
        right: Option<Box<Tree>>,
        children: Vec<Tree>,
        by_name: BTreeMap<String, Tree>,
        expr: Expr,
    }

    /// Mutual recursion where the way back is a plain field.
    #[derive(Serialize, Deserialize)]
    struct A {
        b: Option<Box<B>>,
    }

    #[derive(Serialize, Deserialize)]
    struct B {
        a: A,
        pair: (u8, u8),
    }

    #[derive(Serialize, Deserialize)]
    struct Pair(u8, u8);

    #[derive(Serialize, Deserialize)]
    struct Recursive {
        tree: Tree,
        a: A,
        pair: Pair,
    }

    #[test]
    fn recursion_ends_through_options_sequences_maps_and_enum_variants() {
        let text = shape_of::<Recursive>().unwrap();
        for expected in [
            "enum Expr { Neg(Expr), Add(Expr, Expr), Lit(u32) }",
            "Tree { left: Option<Tree>, right: Option<Tree>, children: Vec<Tree>, by_name: Map<str, Tree>, expr: Expr }",
            "A { b: Option<B> }",
            // Tuples of one type are arrays (the same on the wire); tuple
            // structs stay tuples.
            "B { a: A, pair: [u8; 2] }",
            "Pair(u8, u8)",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
    }

    mod other {
        #[derive(serde::Deserialize)]
        pub(super) struct Level {
            pub(super) _x: u8,
        }
    }

    #[derive(Deserialize)]
    struct Clash {
        _a: Level,
        _b: other::Level,
    }

    #[derive(Deserialize)]
    enum Never {}

    #[derive(Deserialize)]
    struct HasNever {
        _n: Option<Never>,
    }

    #[derive(Deserialize)]
    struct Infinite {
        _again: Box<Infinite>,
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Loose {
        _A(#[allow(dead_code)] u8),
    }

    #[test]
    fn impossible_types_are_errors_not_loops() {
        let err = shape_of::<Clash>().unwrap_err();
        assert!(err.contains("two different types are named Level"), "{err}");
        let err = shape_of::<HasNever>().unwrap_err();
        assert!(err.contains("enum Never has no variants"), "{err}");
        let err = shape_of::<Infinite>().unwrap_err();
        assert!(
            err.contains("nested more than 256 deep at Infinite"),
            "{err}"
        );
        let err = shape_of::<Loose>().unwrap_err();
        assert!(err.contains("deserialize_any is not supported"), "{err}");
    }
}
