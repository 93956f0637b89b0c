//! JSON as a TSRPC peer writes it: what `JSON.stringify` would make of the
//! value on the JavaScript side.
//!
//! serde_json alone differs from that in two ways, both fixed here by a
//! [`Serializer`] wrapped around serde_json's:
//! - **`None` fields are left out.** An `Option` field is an optional
//!   property (`name?: T`, see the TypeScript guide) and TSRPC leaves an
//!   absent one out; serde_json would write `"name": null`. Only struct
//!   fields (and struct variants' fields) are optional properties: a `None`
//!   elsewhere (in an array, as a map value) stays `null`, as the export's
//!   `T | null` says. Users need no `skip_serializing_if`, which binary mode
//!   could not carry.
//! - **NaN and infinite floats are refused**, naming the field. serde_json
//!   would write `null`, which a TSRPC client's validation refuses, so a
//!   call would end in a silent client timeout and a broadcast would vanish.
//!
//! Every value and compound passes through the wrapper, so nested structs
//! get the same treatment. On failure the path of the field is collected
//! as the error travels up (nothing is tracked on success).

use std::cell::RefCell;
use std::fmt;

use serde::ser::{
    self, Impossible, Serialize, SerializeMap, SerializeSeq, SerializeStruct,
    SerializeStructVariant, SerializeTuple, SerializeTupleStruct, SerializeTupleVariant,
    Serializer,
};

use super::PayloadError;
use super::input_error::{Step, path_text};

/// Appends `value` as TSRPC's JSON mode writes it.
pub(super) fn write<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), PayloadError> {
    let path = Path::default();
    let mut ser = serde_json::Serializer::new(out);
    value
        .serialize(Js {
            inner: &mut ser,
            path: &path,
        })
        .map_err(|e| PayloadError::encode_at(path.into_string(), e))
}

/// The steps from the failed part up to the root, innermost first.
#[derive(Default)]
struct Path(RefCell<Vec<Step>>);

impl Path {
    #[cold]
    fn push(&self, step: Step) {
        self.0.borrow_mut().push(step);
    }

    /// `user.tags[2]`, as decoding errors name fields.
    fn into_string(self) -> String {
        let mut steps = self.0.into_inner();
        steps.reverse();
        path_text(&steps)
    }
}

/// Records `step` when `result` is a failure.
#[inline]
fn at<T, E>(path: &Path, result: Result<T, E>, step: impl FnOnce() -> Step) -> Result<T, E> {
    if result.is_err() {
        path.push(step());
    }
    result
}

/// A serializer (or one of its compounds) wrapped to write TSRPC's JSON.
struct Js<'p, S> {
    inner: S,
    path: &'p Path,
}

/// A value to be written through the wrapper.
struct Value<'p, 'v, T: ?Sized> {
    value: &'v T,
    path: &'p Path,
}

impl<T: Serialize + ?Sized> Serialize for Value<'_, '_, T> {
    #[inline(always)]
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Js {
            inner: serializer,
            path: self.path,
        })
    }
}

impl<'p, S> Js<'p, S> {
    #[inline]
    fn value<'v, T: ?Sized>(&self, value: &'v T) -> Value<'p, 'v, T> {
        Value {
            value,
            path: self.path,
        }
    }
}

#[cold]
fn not_finite<E: ser::Error>(value: f64) -> E {
    E::custom(format_args!(
        "{value} is not a number JSON can carry (JavaScript peers would read null)"
    ))
}

impl<'p, S: Serializer> Serializer for Js<'p, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Js<'p, Part<S::SerializeSeq>>;
    type SerializeTuple = Js<'p, Part<S::SerializeTuple>>;
    type SerializeTupleStruct = Js<'p, Part<S::SerializeTupleStruct>>;
    type SerializeTupleVariant = Js<'p, Part<S::SerializeTupleVariant>>;
    type SerializeMap = Js<'p, Part<S::SerializeMap>>;
    type SerializeStruct = Js<'p, Part<S::SerializeStruct>>;
    type SerializeStructVariant = Js<'p, Part<S::SerializeStructVariant>>;

    fn serialize_bool(self, v: bool) -> Result<S::Ok, S::Error> {
        self.inner.serialize_bool(v)
    }
    fn serialize_i8(self, v: i8) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i8(v)
    }
    fn serialize_i16(self, v: i16) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i16(v)
    }
    fn serialize_i32(self, v: i32) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i32(v)
    }
    fn serialize_i64(self, v: i64) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i64(v)
    }
    fn serialize_i128(self, v: i128) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i128(v)
    }
    fn serialize_u8(self, v: u8) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u8(v)
    }
    fn serialize_u16(self, v: u16) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u16(v)
    }
    fn serialize_u32(self, v: u32) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u32(v)
    }
    fn serialize_u64(self, v: u64) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u64(v)
    }
    fn serialize_u128(self, v: u128) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u128(v)
    }
    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        if !v.is_finite() {
            return Err(not_finite(v.into()));
        }
        self.inner.serialize_f32(v)
    }
    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        if !v.is_finite() {
            return Err(not_finite(v));
        }
        self.inner.serialize_f64(v)
    }
    fn serialize_char(self, v: char) -> Result<S::Ok, S::Error> {
        self.inner.serialize_char(v)
    }
    fn serialize_str(self, v: &str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        self.inner.serialize_bytes(v)
    }
    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_none()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let value = self.value(value);
        self.inner.serialize_some(&value)
    }
    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit()
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_struct(name)
    }
    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_variant(name, index, variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let value = self.value(value);
        self.inner.serialize_newtype_struct(name, &value)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let (path, value) = (self.path, self.value(value));
        let result = self
            .inner
            .serialize_newtype_variant(name, index, variant, &value);
        at(path, result, || Step::Key(variant.to_owned()))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let seq = self.inner.serialize_seq(len)?;
        Ok(Part::wrap(seq, None, self.path))
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let tuple = self.inner.serialize_tuple(len)?;
        Ok(Part::wrap(tuple, None, self.path))
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let tuple = self.inner.serialize_tuple_struct(name, len)?;
        Ok(Part::wrap(tuple, None, self.path))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        let tuple = self
            .inner
            .serialize_tuple_variant(name, index, variant, len)?;
        Ok(Part::wrap(tuple, Some(variant), self.path))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let map = self.inner.serialize_map(len)?;
        Ok(Part::wrap(map, None, self.path))
    }
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let fields = self.inner.serialize_struct(name, len)?;
        Ok(Part::wrap(fields, None, self.path))
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let fields = self
            .inner
            .serialize_struct_variant(name, index, variant, len)?;
        Ok(Part::wrap(fields, Some(variant), self.path))
    }
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A compound (sequence, tuple, map, struct, variant) being written: the
/// count of its parts so far and its variant name, for the path of a part
/// that fails.
struct Part<C> {
    compound: C,
    count: usize,
    variant: Option<&'static str>,
}

impl<C> Part<C> {
    #[inline]
    fn wrap<'p>(compound: C, variant: Option<&'static str>, path: &'p Path) -> Js<'p, Self> {
        Js {
            inner: Part {
                compound,
                count: 0,
                variant,
            },
            path,
        }
    }
}

impl<C> Js<'_, Part<C>> {
    /// Writes the next part with `write`; on failure, records the part's
    /// `step` (and the variant it is in).
    #[inline]
    fn part<E>(
        &mut self,
        write: impl FnOnce(&mut C) -> Result<(), E>,
        step: impl FnOnce(usize) -> Step,
    ) -> Result<(), E> {
        let index = self.inner.count;
        self.inner.count += 1;
        let result = write(&mut self.inner.compound);
        if result.is_err() {
            self.failed(step(index));
        }
        result
    }

    #[cold]
    fn failed(&self, step: Step) {
        self.path.push(step);
        if let Some(variant) = self.inner.variant {
            self.path.push(Step::Key(variant.to_owned()));
        }
    }
}

/// Sequences and tuples.
macro_rules! elements {
    ($trait:ident, $method:ident) => {
        impl<S: $trait> $trait for Js<'_, Part<S>> {
            type Ok = S::Ok;
            type Error = S::Error;
            #[inline]
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
                let value = self.value(value);
                self.part(|c| c.$method(&value), Step::Index)
            }
            fn end(self) -> Result<S::Ok, S::Error> {
                self.inner.compound.end()
            }
        }
    };
}

elements!(SerializeSeq, serialize_element);
elements!(SerializeTuple, serialize_element);
elements!(SerializeTupleStruct, serialize_field);
elements!(SerializeTupleVariant, serialize_field);

/// Struct fields: a `None` is left out, as an absent optional property.
macro_rules! fields {
    ($trait:ident) => {
        impl<S: $trait> $trait for Js<'_, Part<S>> {
            type Ok = S::Ok;
            type Error = S::Error;
            // Inlined into the type's `Serialize` impl: a call per field
            // costs more than the field's own work.
            #[inline(always)]
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), S::Error> {
                if is_none(value) {
                    return self.inner.compound.skip_field(key);
                }
                let value = self.value(value);
                let result = self.inner.compound.serialize_field(key, &value);
                if result.is_err() {
                    self.failed(Step::Key(key.to_owned()));
                }
                result
            }
            fn skip_field(&mut self, key: &'static str) -> Result<(), S::Error> {
                self.inner.compound.skip_field(key)
            }
            fn end(self) -> Result<S::Ok, S::Error> {
                self.inner.compound.end()
            }
        }
    };
}

fields!(SerializeStruct);
fields!(SerializeStructVariant);

/// Maps: a `None` value stays `null` (the export's `T | null`).
impl<M: SerializeMap> SerializeMap for Js<'_, Part<M>> {
    type Ok = M::Ok;
    type Error = M::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), M::Error> {
        let key = self.value(key);
        self.inner.compound.serialize_key(&key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), M::Error> {
        let value = self.value(value);
        self.part(
            |c| c.serialize_value(&value),
            |i| Step::Key(format!("<entry {i}>")),
        )
    }
    #[inline]
    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), M::Error> {
        let (k, v) = (self.value(key), self.value(value));
        self.part(|c| c.serialize_entry(&k, &v), |_| Step::Key(key_text(key)))
    }
    fn end(self) -> Result<M::Ok, M::Error> {
        self.inner.compound.end()
    }
}

/// A map key as a path step: its text when it is a string or a number.
#[cold]
fn key_text<K: Serialize + ?Sized>(key: &K) -> String {
    match serde_json::to_value(key) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Number(n)) => n.to_string(),
        _ => "<key>".to_owned(),
    }
}

/// Whether `value` serializes as `None`: asks its `Serialize` impl and
/// stops at the first thing it writes.
#[inline]
fn is_none<T: Serialize + ?Sized>(value: &T) -> bool {
    value.serialize(NoneProbe).unwrap_or(false)
}

/// The answer of [`NoneProbe`] for anything that is not a scalar.
#[derive(Debug)]
struct NotNone;

impl fmt::Display for NotNone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not None")
    }
}

impl std::error::Error for NotNone {}

impl ser::Error for NotNone {
    fn custom<M: fmt::Display>(_: M) -> Self {
        NotNone
    }
}

/// Asks a value's `Serialize` whether it is `None`. (The benchmark's
/// encode counter knows it by this name: a probe is not an encode.)
struct NoneProbe;

macro_rules! not_none {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(
            #[inline]
            fn $method(self, _: $ty) -> Result<bool, NotNone> {
                Ok(false)
            }
        )*
    };
}

impl Serializer for NoneProbe {
    type Ok = bool;
    type Error = NotNone;
    type SerializeSeq = Impossible<bool, NotNone>;
    type SerializeTuple = Impossible<bool, NotNone>;
    type SerializeTupleStruct = Impossible<bool, NotNone>;
    type SerializeTupleVariant = Impossible<bool, NotNone>;
    type SerializeMap = Impossible<bool, NotNone>;
    type SerializeStruct = Impossible<bool, NotNone>;
    type SerializeStructVariant = Impossible<bool, NotNone>;

    not_none!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_unit_struct(&'static str),
    );

    #[inline]
    fn serialize_none(self) -> Result<bool, NotNone> {
        Ok(true)
    }
    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<bool, NotNone> {
        Ok(false)
    }
    #[inline]
    fn serialize_unit(self) -> Result<bool, NotNone> {
        Ok(false)
    }
    #[inline]
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<bool, NotNone> {
        Ok(false)
    }
    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<bool, NotNone> {
        Ok(false)
    }
    #[inline]
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<bool, NotNone> {
        Ok(false)
    }
    #[inline]
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotNone> {
        Err(NotNone)
    }
    #[inline]
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotNone> {
        Err(NotNone)
    }
    #[inline]
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotNone> {
        Err(NotNone)
    }
    #[inline]
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotNone> {
        Err(NotNone)
    }
    #[inline]
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotNone> {
        Err(NotNone)
    }
    #[inline]
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, NotNone> {
        Err(NotNone)
    }
    #[inline]
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotNone> {
        Err(NotNone)
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, _: &T) -> Result<bool, NotNone> {
        Ok(false)
    }
}
