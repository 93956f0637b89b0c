//! A nesting limit for every payload decoder.
//!
//! serde decodes a nested value by recursion, one stack frame (or several)
//! per level, so a payload of a recursive type (`struct Node { children:
//! Vec<Node> }`) nested thousands deep would overflow the stack and abort
//! the whole process; bincode has no limit of its own, and serde_json
//! counts only arrays and objects. [`Limited`] wraps any `Deserializer` and
//! fails a payload cleanly once it nests deeper than [`MAX_DEPTH`]: every
//! struct, tuple, sequence, map, enum, `Some` and newtype entered counts
//! one level, so no recursive type can avoid the count.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};

/// How deep a decoded payload may nest. A tokio worker has a 2 MiB stack;
/// 128 levels of the deepest path serde and the decoders take stay well
/// inside a quarter of it (tested with a 512 KiB thread).
pub const MAX_DEPTH: usize = 128;

fn too_deep<E: de::Error>() -> E {
    E::custom(format_args!(
        "the payload nests deeper than {MAX_DEPTH} levels"
    ))
}

/// What one decode may still spend besides nesting.
pub(super) struct Budget {
    /// Sequence elements and map entries left to decode. bincode charges
    /// its limit for the bytes an element takes, and an element of a
    /// zero-sized type (`()`, `struct E {}`) takes none: without this, a
    /// forged length of 2^64 would loop on a worker for ever.
    elements: Cell<usize>,
    /// The most elements a sequence's announced length is believed for
    /// (serde reserves room for what the length announces).
    announced: usize,
}

impl Budget {
    /// At most `elements` elements in all, and announced lengths believed
    /// up to `announced`.
    pub(super) fn new(elements: usize, announced: usize) -> Self {
        Budget {
            elements: Cell::new(elements),
            announced,
        }
    }

    /// No limit but nesting (JSON: every element takes bytes).
    pub(super) fn unlimited() -> Self {
        Self::new(usize::MAX, usize::MAX)
    }

    fn spend<E: de::Error>(&self) -> Result<(), E> {
        let left = self
            .elements
            .get()
            .checked_sub(1)
            .ok_or_else(|| E::custom("the payload holds more elements than its size allows"))?;
        self.elements.set(left);
        Ok(())
    }

    fn hint(&self, hint: Option<usize>) -> Option<usize> {
        hint.map(|n| n.min(self.announced))
    }
}

/// `seed`, decoded with at most [`MAX_DEPTH`] levels of nesting, within
/// `budget`.
pub(super) fn seed<S>(seed: S, budget: &Budget) -> Limited<'_, S> {
    Limited {
        inner: seed,
        left: MAX_DEPTH,
        budget,
    }
}

/// A deserializer, visitor, access or seed that carries how many more
/// levels may be entered below it, and the decode's budget.
pub(super) struct Limited<'b, T> {
    inner: T,
    left: usize,
    budget: &'b Budget,
}

impl<'b, T> Limited<'b, T> {
    fn wrap<U>(&self, inner: U) -> Limited<'b, U> {
        Limited {
            inner,
            left: self.left,
            budget: self.budget,
        }
    }

    /// One level down, or `None` when the limit is reached.
    fn enter<U>(&self, inner: U) -> Option<Limited<'b, U>> {
        Some(Limited {
            inner,
            left: self.left.checked_sub(1)?,
            budget: self.budget,
        })
    }
}

impl<'b, 'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Limited<'b, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        let visitor = Limited {
            inner: deserializer,
            left: self.left,
            budget: self.budget,
        };
        self.inner.deserialize(visitor)
    }
}

macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
                let visitor = self.wrap(visitor);
                self.inner.$method($($arg,)* visitor)
            }
        )*
    };
}

/// A scalar asked for (bytes aside): neither serde_json nor bincode
/// answers one with a nested value (they fail on a type mismatch instead), so its visitor
/// needs no watching, and the hot path of every field pays nothing.
macro_rules! forward_scalar {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
                self.inner.$method($($arg,)* visitor)
            }
        )*
    };
}

impl<'b, 'de, D: Deserializer<'de>> Deserializer<'de> for Limited<'b, D> {
    type Error = D::Error;

    forward_scalar! {
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_identifier();
    }

    // Every decoder reads from a slice, so an owned string is asked for as
    // a borrowed one, which the visitor copies: bincode's owned `String`
    // (and byte buffer) zero-fills its buffer before copying into it.
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor);
        self.inner.deserialize_bytes(visitor)
    }

    forward_deserialize! {
        deserialize_any();
        // serde_json answers bytes asked for with an array's elements.
        deserialize_bytes();
        deserialize_option();
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_ignored_any();
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

impl<'b, 'de, V: Visitor<'de>> Visitor<'de> for Limited<'b, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_str(&str);
        visit_borrowed_str(&'de str);
        visit_string(String);
        visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        let deserializer = self.enter(deserializer).ok_or_else(too_deep)?;
        self.inner.visit_some(deserializer)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        let deserializer = self.enter(deserializer).ok_or_else(too_deep)?;
        self.inner.visit_newtype_struct(deserializer)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let seq = self.enter(seq).ok_or_else(too_deep)?;
        self.inner.visit_seq(seq)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let map = self.enter(map).ok_or_else(too_deep)?;
        self.inner.visit_map(map)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        let data = self.enter(data).ok_or_else(too_deep)?;
        self.inner.visit_enum(data)
    }
}

impl<'b, 'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Limited<'b, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.budget.spend()?;
        let seed = self.wrap(seed);
        self.inner.next_element_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.budget.hint(self.inner.size_hint())
    }
}

impl<'b, 'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Limited<'b, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.budget.spend()?;
        let seed = self.wrap(seed);
        self.inner.next_key_seed(seed)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        let seed = self.wrap(seed);
        self.inner.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.budget.hint(self.inner.size_hint())
    }
}

impl<'b, 'de, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Limited<'b, A> {
    type Error = A::Error;
    type Variant = Limited<'b, A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), A::Error> {
        let (left, budget) = (self.left, self.budget);
        let seed = self.wrap(seed);
        let (value, variant) = self.inner.variant_seed(seed)?;
        Ok((
            value,
            Limited {
                inner: variant,
                left,
                budget,
            },
        ))
    }
}

impl<'b, 'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Limited<'b, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        let seed = self.wrap(seed);
        self.inner.newtype_variant_seed(seed)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        let visitor = self.wrap(visitor);
        self.inner.tuple_variant(len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let visitor = self.wrap(visitor);
        self.inner.struct_variant(fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use crate::codec::{Encoding, Payload, write_payload};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Node {
        children: Vec<Node>,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Chain(Option<Box<Chain>>);

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum Expr {
        Lit(i64),
        Neg(Box<Expr>),
        Add { a: Box<Expr>, b: Box<Expr> },
    }

    fn node(depth: usize) -> Node {
        let mut n = Node { children: vec![] };
        for _ in 1..depth {
            n = Node { children: vec![n] };
        }
        n
    }

    /// A binary `Node` payload nested `depth` deep, written by hand: each
    /// level is a child count of 1 (a one-byte varint), the last one 0.
    fn binary_nodes(depth: usize) -> Vec<u8> {
        let mut bytes = vec![1u8; depth - 1];
        bytes.push(0);
        bytes
    }

    fn json_nodes(depth: usize) -> String {
        let mut s = String::new();
        for _ in 0..depth - 1 {
            s.push_str(r#"{"children":["#);
        }
        s.push_str(r#"{"children":[]}"#);
        for _ in 0..depth - 1 {
            s.push_str("]}");
        }
        s
    }

    fn decode<T: serde::de::DeserializeOwned>(
        encoding: Encoding,
        bytes: Vec<u8>,
    ) -> Result<T, crate::codec::PayloadError> {
        Payload::new(encoding, bytes.into()).decode()
    }

    /// Runs `f` on a thread with a quarter of a tokio worker's stack: the
    /// limit must leave room to spare, including the second, path-tracking
    /// pass that describes a failed payload.
    fn on_small_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(f)
            .expect("a thread starts")
            .join()
            .expect("decoding stays within the stack");
    }

    #[test]
    fn binary_payloads_nested_past_the_limit_fail_cleanly() {
        on_small_stack(|| {
            // Each Node level is two levels: the struct and its Vec.
            let at_limit = binary_nodes(super::MAX_DEPTH / 2);
            let value: Node = decode(Encoding::Binary, at_limit).expect("within the limit");
            assert_eq!(value, node(super::MAX_DEPTH / 2));
            let err = decode::<Node>(Encoding::Binary, binary_nodes(super::MAX_DEPTH / 2 + 1));
            assert!(err.is_err(), "one level more fails");
            for depth in [super::MAX_DEPTH / 2 + 1, 10_000, 1_000_000] {
                let err = decode::<Node>(Encoding::Binary, binary_nodes(depth)).unwrap_err();
                assert!(err.to_string().contains("nests deeper than 128"), "{err}");
            }
        });
    }

    #[test]
    fn json_payloads_nested_past_the_limit_fail_cleanly() {
        on_small_stack(|| {
            // serde_json's own limit is one level lower (127 arrays and
            // objects); ours keeps it from being the only guard.
            let below_limit = json_nodes(super::MAX_DEPTH / 2 - 1);
            let value: Node = decode(Encoding::Json, below_limit.into()).expect("within the limit");
            assert_eq!(value, node(super::MAX_DEPTH / 2 - 1));
            for depth in [super::MAX_DEPTH / 2 + 1, 10_000] {
                let err = decode::<Node>(Encoding::Json, json_nodes(depth).into()).unwrap_err();
                assert!(
                    err.to_string().contains("nests deeper than 128")
                        || err.to_string().contains("recursion limit"),
                    "{err}"
                );
            }
        });
    }

    #[test]
    fn options_newtypes_and_enums_count_too() {
        on_small_stack(|| {
            // `Chain` recurses through a newtype and `Some` only: no
            // sequence or map is ever entered.
            let mut deep = vec![1u8; 5_000];
            deep.push(0);
            let err = decode::<Chain>(Encoding::Binary, deep).unwrap_err();
            assert!(err.to_string().contains("nests deeper"), "{err}");
            // In JSON, `Some(x)` is x itself: any value that is not null
            // recurses without consuming input.
            let err = decode::<Chain>(Encoding::Json, b"1".to_vec()).unwrap_err();
            assert!(err.to_string().contains("nests deeper"), "{err}");
            // Enum variants: Neg(Neg(...)) 5,000 deep.
            let mut neg = vec![1u8; 5_000];
            neg.extend([0, 2]);
            let err = decode::<Expr>(Encoding::Binary, neg).unwrap_err();
            assert!(err.to_string().contains("nests deeper"), "{err}");
            let mut ok = Vec::new();
            let expr = Expr::Add {
                a: Box::new(Expr::Neg(Box::new(Expr::Lit(2)))),
                b: Box::new(Expr::Lit(3)),
            };
            write_payload(Encoding::Binary, &expr, &mut ok).expect("encodes");
            assert_eq!(decode::<Expr>(Encoding::Binary, ok).expect("decodes"), expr);
        });
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Empty {}

    /// Elements that take no bytes cost bincode nothing: a forged length
    /// of 2^64 - 1 must fail at once, not loop for ever.
    #[test]
    fn zero_sized_elements_cannot_loop_for_ever() {
        let mut forged = Vec::new();
        write_payload(Encoding::Binary, &u64::MAX, &mut forged).unwrap();
        let err = decode::<Vec<()>>(Encoding::Binary, forged.clone()).unwrap_err();
        assert!(err.to_string().contains("more elements"), "{err}");
        let err = decode::<Vec<Empty>>(Encoding::Binary, forged.clone()).unwrap_err();
        assert!(err.to_string().contains("more elements"), "{err}");
        let err = decode::<std::collections::BTreeMap<(), ()>>(Encoding::Binary, forged);
        assert!(err.is_err());
        // A real one, however many elements its few bytes stand for, decodes.
        let mut real = Vec::new();
        write_payload(Encoding::Binary, &vec![(); 1000], &mut real).unwrap();
        assert_eq!(
            decode::<Vec<()>>(Encoding::Binary, real).unwrap().len(),
            1000
        );
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Wrapped {
        w: Option<Box<Wrapped>>,
    }

    /// serde_json counts only arrays and objects; a struct in an `Option`
    /// is two levels here and one there, so past 64 of them this limit,
    /// not serde_json's, is what fails the payload.
    #[test]
    fn json_nesting_serde_json_would_allow_is_limited() {
        on_small_stack(|| {
            let nested = |depth: usize| "{\"w\":".repeat(depth) + "null" + &"}".repeat(depth);
            let within: Wrapped = decode(Encoding::Json, nested(64).into()).expect("64 fit");
            assert!(within.w.is_some());
            let err = decode::<Wrapped>(Encoding::Json, nested(100).into()).unwrap_err();
            assert!(err.to_string().contains("nests deeper than 128"), "{err}");
        });
    }
}
