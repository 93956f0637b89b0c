//! Type shapes: what a service's types look like on the wire, traced from
//! their serde implementations (by the tracer of `trace.rs`).
//!
//! The [`ServiceTable`](crate::ServiceTable) traces every service when it is
//! built ([`ServiceInfo::shape`](crate::ServiceInfo::shape)); its fingerprint
//! hashes the shapes, and the TypeScript export
//! ([`crate::export`]) writes them out as TypeScript and TSBuffer schemas.
//!
//! Tracing sees every type reachable from a request, response or message
//! (nested structs, enums, options, sequences, maps), whether or not a tsrpc
//! macro was put on it, so the table's fingerprint changes whenever any
//! field that travels changes.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

pub(crate) mod ids;
mod trace;

pub(crate) use trace::{RootFn, root};

/// The traced shape of one service's types.
///
/// `roots` are the service's own types (`req` and `res` for an API, `msg`
/// for a message); `types` holds every named type reachable from them.
/// `Display` lists both, one per line, for example:
///
/// ```text
/// req: ReqSend
/// res: ResSend
/// ReqSend { content: str }
/// ResSend { time: tsrpc::Timestamp }
/// tsrpc::Timestamp(i64)
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Shape {
    /// The service's root types, by role (`req`, `res` or `msg`).
    pub roots: Vec<(&'static str, TypeShape)>,
    /// Every named type reachable from the roots, by serde name.
    pub types: BTreeMap<String, ContainerShape>,
}

/// The shape of one value as it travels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum TypeShape {
    /// A named type described in [`Shape::types`] (`tsrpc::Timestamp` and
    /// `tsrpc::Binary` stand for [`Timestamp`](crate::Timestamp) and [`Binary`](crate::Binary)).
    Named(String),
    /// `()`.
    Unit,
    /// `bool`.
    Bool,
    /// `i8`.
    I8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `i128`.
    I128,
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `u128`.
    U128,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `char`.
    Char,
    /// A string.
    Str,
    /// Raw bytes.
    Bytes,
    /// `Option<T>`: an optional property in TypeScript.
    Option(Box<TypeShape>),
    /// A sequence such as `Vec<T>`.
    Seq(Box<TypeShape>),
    /// A map such as `HashMap<K, V>`.
    Map {
        /// The key's shape.
        key: Box<TypeShape>,
        /// The value's shape.
        value: Box<TypeShape>,
    },
    /// A tuple.
    Tuple(Vec<TypeShape>),
    /// A fixed-size array `[T; N]`.
    Array {
        /// The item's shape.
        item: Box<TypeShape>,
        /// The number of items.
        len: usize,
    },
}

/// The shape of a named struct or enum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum ContainerShape {
    /// `struct A;`
    UnitStruct,
    /// `struct A(T);`
    Newtype(TypeShape),
    /// `struct A(T, U);`
    Tuple(Vec<TypeShape>),
    /// `struct A { .. }`
    Struct(Vec<Field>),
    /// `enum A { .. }`, variants in declaration order.
    Enum(Vec<Variant>),
}

/// A named field of a struct or struct variant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Field {
    /// The field's serde name.
    pub name: String,
    /// The field's shape.
    pub shape: TypeShape,
}

/// An enum variant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Variant {
    /// The variant's serde name.
    pub name: String,
    /// What the variant carries.
    pub shape: VariantShape,
}

/// What an enum variant carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum VariantShape {
    /// Nothing.
    Unit,
    /// One value.
    Newtype(TypeShape),
    /// Several values.
    Tuple(Vec<TypeShape>),
    /// Named fields.
    Struct(Vec<Field>),
}

/// Why a service's types could not be traced.
///
/// This happens with serde features that need the input to describe itself
/// (`#[serde(untagged)]`, internally tagged enums, `#[serde(flatten)]`,
/// `serde_json::Value`), which binary mode cannot encode either, with
/// custom `Deserialize` impls that reject the tracer's sample values (zeros
/// and empty strings), with two different types of one serde name, and with
/// types that cannot have a finite value (a struct that holds itself with
/// no `Option`, sequence or map between, an enum without variants).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot trace the type shape of {type_name}: {reason}")]
pub struct ShapeError {
    type_name: &'static str,
    reason: String,
}

/// Traces the shape of the service `type_name` from its named roots
/// (`("req", root::<ReqX>)`, ...).
pub(crate) fn trace(
    type_name: &'static str,
    roots: &[(&'static str, trace::RootFn)],
) -> Result<Shape, ShapeError> {
    let (roots, types) = trace::trace(roots).map_err(|reason| ShapeError { type_name, reason })?;
    Ok(Shape { roots, types })
}

impl Shape {
    /// A canonical byte form, equal for equal shapes, for fingerprints.
    pub(crate) fn canonical_bytes(&self) -> Vec<u8> {
        // `types` is a BTreeMap and `roots` keep their fixed order, so the
        // JSON text is deterministic. Serializing these plain types into a
        // Vec cannot fail; the Debug form would stand in if it did.
        serde_json::to_vec(self).unwrap_or_else(|_| format!("{self:?}").into_bytes())
    }
}

fn write_list<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: impl IntoIterator<Item = T>,
) -> fmt::Result {
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl fmt::Display for TypeShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let simple = match self {
            TypeShape::Named(n) => n.as_str(),
            TypeShape::Unit => "()",
            TypeShape::Bool => "bool",
            TypeShape::I8 => "i8",
            TypeShape::I16 => "i16",
            TypeShape::I32 => "i32",
            TypeShape::I64 => "i64",
            TypeShape::I128 => "i128",
            TypeShape::U8 => "u8",
            TypeShape::U16 => "u16",
            TypeShape::U32 => "u32",
            TypeShape::U64 => "u64",
            TypeShape::U128 => "u128",
            TypeShape::F32 => "f32",
            TypeShape::F64 => "f64",
            TypeShape::Char => "char",
            TypeShape::Str => "str",
            TypeShape::Bytes => "bytes",
            TypeShape::Option(inner) => return write!(f, "Option<{inner}>"),
            TypeShape::Seq(inner) => return write!(f, "Vec<{inner}>"),
            TypeShape::Map { key, value } => return write!(f, "Map<{key}, {value}>"),
            TypeShape::Tuple(items) => {
                f.write_str("(")?;
                write_list(f, items)?;
                return f.write_str(")");
            }
            TypeShape::Array { item, len } => return write!(f, "[{item}; {len}]"),
        };
        f.write_str(simple)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.shape)
    }
}

struct Fields<'a>(&'a [Field]);

impl fmt::Display for Fields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{ ")?;
        write_list(f, self.0)?;
        f.write_str(" }")
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        match &self.shape {
            VariantShape::Unit => f.write_str(name),
            VariantShape::Newtype(inner) => write!(f, "{name}({inner})"),
            VariantShape::Tuple(items) => {
                write!(f, "{name}(")?;
                write_list(f, items)?;
                f.write_str(")")
            }
            VariantShape::Struct(fields) => write!(f, "{name} {}", Fields(fields)),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (role, shape) in &self.roots {
            writeln!(f, "{role}: {shape}")?;
        }
        for (name, container) in &self.types {
            match container {
                ContainerShape::UnitStruct => writeln!(f, "{name}")?,
                ContainerShape::Newtype(inner) => writeln!(f, "{name}({inner})")?,
                ContainerShape::Tuple(items) => {
                    write!(f, "{name}(")?;
                    write_list(f, items)?;
                    writeln!(f, ")")?;
                }
                ContainerShape::Struct(fields) => writeln!(f, "{name} {}", Fields(fields))?,
                ContainerShape::Enum(variants) => {
                    write!(f, "enum {name} {{ ")?;
                    write_list(f, variants)?;
                    writeln!(f, " }}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde::{Deserialize, Serialize};

    use crate::{Binary, Timestamp};

    fn msg<T: serde::de::DeserializeOwned>() -> Result<super::Shape, super::ShapeError> {
        super::trace(
            std::any::type_name::<T>(),
            &[("msg", super::root::<T> as super::RootFn)],
        )
    }

    #[derive(Serialize, Deserialize)]
    enum Color {
        Red,
        Custom { rgb: (u8, u8, u8) },
    }

    #[derive(Serialize, Deserialize)]
    enum Status {
        Idle,
        Busy(Color),
    }

    #[derive(Serialize, Deserialize)]
    struct Tree {
        label: String,
        children: Vec<Tree>,
        parent: Option<Box<Tree>>,
    }

    #[crate::api(name = "shape/Everything")]
    #[derive(Serialize, Deserialize)]
    struct ReqEverything {
        a: Option<u32>,
        tags: Vec<String>,
        scores: HashMap<String, f64>,
        status: Status,
        at: Timestamp,
        data: Binary,
        tree: Tree,
    }

    #[derive(Serialize, Deserialize)]
    enum ResEverything {
        Done,
        Failed { reason: String },
    }

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Loose {
        A(u32),
        B(String),
    }

    #[crate::msg(name = "shape/Loose")]
    #[derive(Serialize, Deserialize)]
    struct MsgLoose {
        value: Loose,
    }

    #[derive(Serialize, Deserialize)]
    struct Inner {
        x: u32,
    }

    #[crate::msg(name = "shape/Flat")]
    #[derive(Serialize, Deserialize)]
    struct MsgFlat {
        #[serde(flatten)]
        inner: Inner,
    }

    #[test]
    fn traces_nested_enums_recursion_and_special_types() {
        let shape = super::trace(
            "ReqEverything",
            &[
                ("req", super::root::<ReqEverything> as super::RootFn),
                ("res", super::root::<ResEverything>),
            ],
        )
        .unwrap();
        let text = shape.to_string();
        assert!(text.contains("req: ReqEverything"), "{text}");
        assert!(text.contains("res: ResEverything"), "{text}");
        assert!(
            text.contains("enum Color { Red, Custom { rgb: [u8; 3] } }"),
            "{text}"
        );
        assert!(text.contains("enum Status { Idle, Busy(Color) }"), "{text}");
        assert!(
            text.contains("Tree { label: str, children: Vec<Tree>, parent: Option<Tree> }"),
            "{text}"
        );
        assert!(text.contains("tsrpc::Timestamp(i64)"), "{text}");
        assert!(text.contains("tsrpc::Binary(bytes)"), "{text}");
        assert!(
            text.contains("enum ResEverything { Done, Failed { reason: str } }"),
            "{text}"
        );
        assert!(text.contains("scores: Map<str, f64>"), "{text}");
    }

    #[derive(Serialize, Deserialize)]
    enum Level {
        Low,
        High,
    }

    #[crate::msg(name = "shape/Levels")]
    #[derive(Serialize, Deserialize)]
    struct MsgLevels {
        levels: Vec<Level>,
    }

    #[test]
    fn enums_inside_containers_get_every_variant() {
        let shape = msg::<MsgLevels>().unwrap();
        assert!(
            shape.to_string().contains("enum Level { Low, High }"),
            "{shape}"
        );
    }

    #[derive(Serialize, Deserialize)]
    struct Aliased {
        #[serde(alias = "w")]
        x: u32,
        y: String,
    }

    #[test]
    fn aliases_are_reported() {
        let err = msg::<Aliased>().unwrap_err();
        assert!(
            err.to_string()
                .contains("struct Aliased has 2 fields but deserializes 3 names (w, x, y): `#[serde(alias)]` is not supported"),
            "{err}"
        );
        // And the TSBuffer codec is told.
        assert!(super::ids::unnumbered("Aliased", None));
        assert!(!super::ids::unnumbered("MsgLevels", None));
    }

    #[derive(Serialize, Deserialize)]
    enum WithAliasedVariant {
        Plain {
            x: u32,
        },
        Renamed {
            #[serde(alias = "old")]
            new: u32,
            more: Option<u32>,
        },
    }

    #[derive(Serialize, Deserialize)]
    struct MsgAliasedVariant {
        e: WithAliasedVariant,
    }

    #[test]
    fn aliases_in_struct_variants_are_reported() {
        let err = msg::<MsgAliasedVariant>().unwrap_err();
        assert!(
            err.to_string().contains(
                "variant WithAliasedVariant::Renamed has 2 fields but deserializes 3 names"
            ),
            "{err}"
        );
        assert!(super::ids::unnumbered(
            "WithAliasedVariant",
            Some("Renamed")
        ));
        assert!(!super::ids::unnumbered("WithAliasedVariant", Some("Plain")));
        assert!(!super::ids::unnumbered("WithAliasedVariant", None));
    }

    #[test]
    fn self_describing_serde_features_are_reported() {
        let err = msg::<MsgLoose>().unwrap_err();
        assert!(err.to_string().contains("MsgLoose"), "{err}");
        assert!(msg::<MsgFlat>().is_err());
    }
}
