//! Values to TSBuffer bytes, read off serde's data model.
//!
//! The export maps each Rust shape to one TSBuffer schema (README's
//! mapping table), so the serializer needs no schema: the serde calls say
//! which schema the value has. A struct is an `Interface` whose property
//! ids are its fields' positions (or a project's ids, `ids.rs`); an
//! `Option` field is an optional
//! property; an `Option` elsewhere is the union `T | null`; an enum is a
//! union of its variants (a unit variant a string literal, any other an
//! interface with the one property named after the variant).
//!
//! Every value is written bare, and says what it wrote ([`Wrote`]) so the
//! block that holds it can put its header (and, for arrays and tuples, its
//! byte length) in front of it afterwards, as TSBuffer's own encoder does.

use serde::ser::{self, Serialize};

use super::ids::{self, id_at};
use super::{Error, LenType, varint_write, write_str};
use crate::values::{BINARY_SERDE_NAME, TIMESTAMP_SERDE_NAME};

/// What a value wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wrote {
    /// Nothing, and no block should hold it: an absent optional property.
    Absent,
    /// A literal (`null`, a unit variant's name): no bytes; a property of
    /// this type is never written, a union member is its id alone.
    Literal,
    /// Bytes of this length type.
    Block(LenType),
    /// `null` where the enclosing `T | null` is to say it (see
    /// [`Ser::nullable`]): no bytes.
    Null,
}

/// Appends `value`'s TSBuffer encoding (no block header: a payload).
pub(super) fn write<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), Error> {
    value.serialize(Ser::new(out))?;
    Ok(())
}

/// Writes a block: the header `(id << 2) | length type` (and the byte
/// length of an array or tuple) in front of what `write` appends. Returns
/// false, leaving `out` as it was, when `write` wrote an absent value.
/// A literal is written as its header only when `literal_too` (a union
/// member; a property of a literal type is never written).
pub(super) fn block(
    out: &mut Vec<u8>,
    id: u64,
    literal_too: bool,
    write: impl FnOnce(&mut Vec<u8>) -> Result<Wrote, Error>,
) -> Result<bool, Error> {
    let start = out.len();
    let wrote = write(out)?;
    Ok(wrap(out, start, id, literal_too, wrote))
}

/// [`block`] of what was written from `start`, which `wrote` describes.
fn wrap(out: &mut Vec<u8>, start: usize, id: u64, literal_too: bool, wrote: Wrote) -> bool {
    let lt = match wrote {
        Wrote::Absent | Wrote::Null => None,
        Wrote::Literal if literal_too => Some(LenType::Delimited),
        Wrote::Literal => None,
        Wrote::Block(lt) => Some(lt),
    };
    let Some(lt) = lt else {
        out.truncate(start);
        return false;
    };
    let mut head = Vec::with_capacity(4);
    varint_write((id << 2) | lt.bits(), &mut head);
    if lt == LenType::Prefixed {
        varint_write((out.len() - start) as u64, &mut head);
    }
    out.splice(start..start, head);
    true
}

/// A union of one member, `member`: what was written from `start`
/// (`T | null`'s `T` or `null`, an enum's variant).
fn one_member(out: &mut Vec<u8>, start: usize, member: u64, wrote: Wrote) -> Wrote {
    let written = wrap(out, start, member, true, wrote);
    insert_count(out, start, u64::from(written));
    Wrote::Block(LenType::IdBlock)
}

/// An enum variant carrying what was written from `start`: the union
/// member `member`, an interface whose property 0 that value is.
fn variant(out: &mut Vec<u8>, start: usize, member: u64, wrote: Wrote) -> Wrote {
    let written = wrap(out, start, super::PROPERTY_BASE, false, wrote);
    insert_count(out, start, u64::from(written));
    one_member(out, start, member, Wrote::Block(LenType::IdBlock))
}

/// The member id of variant `index` of enum `name`.
fn member(name: &str, index: u32) -> u64 {
    id_at(ids::members(name), index as usize)
}

/// Puts `count` as a varint in front of what was written from `start`.
fn insert_count(out: &mut Vec<u8>, start: usize, count: u64) {
    let mut head = Vec::with_capacity(2);
    varint_write(count, &mut head);
    out.splice(start..start, head);
}

/// The serializer of one value.
struct Ser<'a> {
    out: &'a mut Vec<u8>,
    /// The value is a struct field's: `None` is an absent property and
    /// `Some(v)` is `v`, rather than the union `T | null`.
    field: bool,
    /// The value is the `T` of a `T | null` (written as member 0): an
    /// `Option` or `()` in it is that union's `null` or `T` (the export
    /// writes `Option<Option<T>>` as one `T | null`), not a union of its
    /// own.
    nullable: bool,
}

impl<'a> Ser<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Ser {
            out,
            field: false,
            nullable: false,
        }
    }

    fn nested(&mut self) -> Ser<'_> {
        Ser::new(self.out)
    }

    fn uint(self, v: u64) -> Result<Wrote, Error> {
        varint_write(v, self.out);
        Ok(Wrote::Block(LenType::Varint))
    }

    fn int(self, v: i64) -> Result<Wrote, Error> {
        varint_write(((v << 1) ^ (v >> 63)) as u64, self.out);
        Ok(Wrote::Block(LenType::Varint))
    }
}

/// `fn $method(self, v: $ty) { self.$to(v.into()) }` for each method
/// (`self.$to(v)` with `as is`).
macro_rules! forward_ints {
    ($to:ident: $($method:ident($ty:ty)),*) => {
        $(fn $method(self, v: $ty) -> Result<Wrote, Error> {
            self.$to(v.into())
        })*
    };
    ($to:ident as is: $($method:ident($ty:ty)),*) => {
        $(fn $method(self, v: $ty) -> Result<Wrote, Error> {
            self.$to(v)
        })*
    };
}

impl<'a> ser::Serializer for Ser<'a> {
    type Ok = Wrote;
    type Error = Error;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Tuple<'a>;
    type SerializeTupleStruct = Tuple<'a>;
    type SerializeTupleVariant = Variant<Tuple<'a>>;
    type SerializeMap = Map<'a>;
    type SerializeStruct = Struct<'a>;
    type SerializeStructVariant = Variant<Struct<'a>>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<Wrote, Error> {
        self.out.push(if v { 0xff } else { 0x00 });
        Ok(Wrote::Block(LenType::Varint))
    }

    // Integers that fit 64 bits: `int` zigzag, `uint` plain varints.
    forward_ints! { int: serialize_i8(i8), serialize_i16(i16), serialize_i32(i32), serialize_i64(i64) }
    forward_ints! { uint: serialize_u8(u8), serialize_u16(u16), serialize_u32(u32), serialize_u64(u64) }

    fn serialize_i128(self, v: i128) -> Result<Wrote, Error> {
        let v = i64::try_from(v)
            .map_err(|_| Error::new(format!("{v} does not fit TSBuffer's 64-bit int")))?;
        self.int(v)
    }
    fn serialize_u128(self, v: u128) -> Result<Wrote, Error> {
        let v = u64::try_from(v)
            .map_err(|_| Error::new(format!("{v} does not fit TSBuffer's 64-bit uint")))?;
        self.uint(v)
    }

    fn serialize_f32(self, v: f32) -> Result<Wrote, Error> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<Wrote, Error> {
        // TSBuffer writes doubles big endian (a DataView's default).
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(Wrote::Block(LenType::Bit64))
    }

    fn serialize_char(self, v: char) -> Result<Wrote, Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<Wrote, Error> {
        write_str(v, self.out);
        Ok(Wrote::Block(LenType::Delimited))
    }

    /// Plain bytes (`serde_bytes`) are exported as `uint[]`; `tsrpc::Binary`
    /// (a `Uint8Array`) is written in [`serialize_newtype_struct`].
    fn serialize_bytes(self, v: &[u8]) -> Result<Wrote, Error> {
        varint_write(v.len() as u64, self.out);
        for &b in v {
            varint_write(b.into(), self.out);
        }
        Ok(Wrote::Block(LenType::Prefixed))
    }

    fn serialize_none(self) -> Result<Wrote, Error> {
        if self.field {
            return Ok(Wrote::Absent);
        }
        if self.nullable {
            return Ok(Wrote::Null);
        }
        // `T | null`: member 1, the literal null.
        let start = self.out.len();
        Ok(one_member(self.out, start, 1, Wrote::Literal))
    }

    fn serialize_some<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Wrote, Error> {
        if self.field {
            return value.serialize(self.nested());
        }
        if self.nullable {
            return value.serialize(self);
        }
        let start = self.out.len();
        let wrote = value.serialize(Ser {
            out: &mut *self.out,
            field: false,
            nullable: true,
        })?;
        Ok(match wrote {
            // `Some(None)`, `Some(())`: the union's null (nothing written).
            Wrote::Null => one_member(self.out, start, 1, Wrote::Literal),
            wrote => one_member(self.out, start, 0, wrote),
        })
    }

    fn serialize_unit(self) -> Result<Wrote, Error> {
        Ok(if self.nullable {
            Wrote::Null
        } else {
            Wrote::Literal
        })
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<Wrote, Error> {
        Ok(Wrote::Literal)
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        _variant: &'static str,
    ) -> Result<Wrote, Error> {
        let start = self.out.len();
        Ok(one_member(
            self.out,
            start,
            member(name, index),
            Wrote::Literal,
        ))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        mut self,
        name: &'static str,
        value: &T,
    ) -> Result<Wrote, Error> {
        match name {
            TIMESTAMP_SERDE_NAME => value.serialize(DateSer { out: self.out }),
            BINARY_SERDE_NAME => value.serialize(BufferSer { out: self.out }),
            // A field of a newtype of `Option` is a required property of
            // the union `T | null`, as the export writes it.
            _ => value.serialize(self.nested()),
        }
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<Wrote, Error> {
        let start = self.out.len();
        let wrote = value.serialize(Ser::new(&mut *self.out))?;
        Ok(variant(self.out, start, member(name, index), wrote))
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Seq<'a>, Error> {
        let start = self.out.len();
        Ok(Seq {
            out: self.out,
            start,
            count: 0,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Tuple<'a>, Error> {
        // Every element is present: a presence mask of `len` ones.
        let mask = match len {
            0..64 => (1u64 << len) - 1,
            64 => u64::MAX,
            _ => {
                return Err(Error::new(format!(
                    "a tuple of {len} elements: TSBuffer tuples hold at most 64"
                )));
            }
        };
        varint_write(mask, self.out);
        Ok(Tuple { out: self.out })
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Tuple<'a>, Error> {
        self.serialize_tuple(len)
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        _variant: &'static str,
        len: usize,
    ) -> Result<Variant<Tuple<'a>>, Error> {
        Variant::open(self.out, member(name, index), |out| {
            Ser::new(out).serialize_tuple(len)
        })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Map<'a>, Error> {
        let start = self.out.len();
        Ok(Map {
            out: self.out,
            start,
            count: 0,
            entry: 0,
            key_end: 0,
        })
    }

    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Struct<'a>, Error> {
        ids::check_numbered(name, None).map_err(Error::new)?;
        Ok(Struct::open(self.out, ids::fields(name, None)))
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Variant<Struct<'a>>, Error> {
        ids::check_numbered(name, Some(variant)).map_err(Error::new)?;
        Variant::open(self.out, member(name, index), |out| {
            Ok(Struct::open(out, ids::fields(name, Some(variant))))
        })
    }
}

/// An array: its count, then its elements bare.
pub(super) struct Seq<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    count: u64,
}

impl ser::SerializeSeq for Seq<'_> {
    type Ok = Wrote;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(Ser::new(self.out))?;
        self.count += 1;
        Ok(())
    }
    fn end(self) -> Result<Wrote, Error> {
        insert_count(self.out, self.start, self.count);
        Ok(Wrote::Block(LenType::Prefixed))
    }
}

/// A tuple: its presence mask (written first), then its elements bare.
pub(super) struct Tuple<'a> {
    out: &'a mut Vec<u8>,
}

impl ser::SerializeTuple for Tuple<'_> {
    type Ok = Wrote;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(Ser::new(self.out))?;
        Ok(())
    }
    fn end(self) -> Result<Wrote, Error> {
        Ok(Wrote::Block(LenType::Prefixed))
    }
}

impl ser::SerializeTupleStruct for Tuple<'_> {
    type Ok = Wrote;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeTuple::serialize_element(self, value)
    }
    fn end(self) -> Result<Wrote, Error> {
        ser::SerializeTuple::end(self)
    }
}

/// A struct: an interface, its fields the properties `10 + id`, where a
/// field's id is its position unless a `serviceProto` says otherwise.
pub(super) struct Struct<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    count: u64,
    /// The next field's position.
    next: usize,
    /// The fields' ids, when not their positions.
    ids: Option<&'static [u64]>,
}

impl ser::SerializeStruct for Struct<'_> {
    type Ok = Wrote;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let id = super::PROPERTY_BASE + id_at(self.ids, self.next);
        self.next += 1;
        if block(self.out, id, false, |out| {
            value.serialize(Ser {
                out,
                field: true,
                nullable: false,
            })
        })? {
            self.count += 1;
        }
        Ok(())
    }
    fn skip_field(&mut self, _key: &'static str) -> Result<(), Error> {
        self.next += 1;
        Ok(())
    }
    fn end(mut self) -> Result<Wrote, Error> {
        Ok(self.finish())
    }
}

impl<'a> Struct<'a> {
    fn open(out: &'a mut Vec<u8>, ids: Option<&'static [u64]>) -> Self {
        let start = out.len();
        Struct {
            out,
            start,
            count: 0,
            next: 0,
            ids,
        }
    }

    /// Puts the block count in front of the properties.
    fn finish(&mut self) -> Wrote {
        insert_count(self.out, self.start, self.count);
        Wrote::Block(LenType::IdBlock)
    }
}

/// A map: an interface of index-signature entries (block 0, the key as a
/// string, then the value). An entry's length prefix, where its value
/// takes one, counts the key too, as TSBuffer writes it.
pub(super) struct Map<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    count: u64,
    /// Where the entry being written starts, and where its key ends.
    entry: usize,
    key_end: usize,
}

impl ser::SerializeMap for Map<'_> {
    type Ok = Wrote;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.entry = self.out.len();
        let mut text = String::new();
        key.serialize(KeySer { out: &mut text })?;
        write_str(&text, self.out);
        self.key_end = self.out.len();
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let lt = match value.serialize(Ser::new(self.out))? {
            Wrote::Absent => {
                self.out.truncate(self.entry);
                return Ok(());
            }
            Wrote::Literal | Wrote::Null => LenType::Delimited,
            Wrote::Block(lt) => lt,
        };
        let mut head = Vec::with_capacity(4);
        varint_write(lt.bits(), &mut head);
        if lt == LenType::Prefixed {
            let mut prefix = Vec::with_capacity(4);
            varint_write((self.out.len() - self.entry) as u64, &mut prefix);
            self.out.splice(self.key_end..self.key_end, prefix);
        }
        self.out.splice(self.entry..self.entry, head);
        self.count += 1;
        Ok(())
    }
    fn end(self) -> Result<Wrote, Error> {
        insert_count(self.out, self.start, self.count);
        Ok(Wrote::Block(LenType::IdBlock))
    }
}

/// An enum variant that carries a tuple or fields: written into the
/// union member's interface, closed by `end`.
pub(super) struct Variant<S> {
    inner: S,
    /// Where the variant's value starts (the union's head goes there).
    start: usize,
    member: u64,
}

impl<'a, S> Variant<S> {
    fn open(
        out: &'a mut Vec<u8>,
        member: u64,
        inner: impl FnOnce(&'a mut Vec<u8>) -> Result<S, Error>,
    ) -> Result<Self, Error> {
        let start = out.len();
        Ok(Variant {
            inner: inner(out)?,
            start,
            member,
        })
    }
}

/// The bytes `Variant` closes over (its serializer holds them).
pub(super) trait Holds {
    fn out(&mut self) -> &mut Vec<u8>;
}

impl Holds for Tuple<'_> {
    fn out(&mut self) -> &mut Vec<u8> {
        self.out
    }
}

impl Holds for Struct<'_> {
    fn out(&mut self) -> &mut Vec<u8> {
        self.out
    }
}

impl<S: Holds> Variant<S> {
    /// The variant around the value written from `start`.
    fn close(mut self, wrote: Wrote) -> Result<Wrote, Error> {
        Ok(variant(self.inner.out(), self.start, self.member, wrote))
    }
}

impl<'a> ser::SerializeTupleVariant for Variant<Tuple<'a>> {
    type Ok = Wrote;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeTuple::serialize_element(&mut self.inner, value)
    }
    fn end(self) -> Result<Wrote, Error> {
        self.close(Wrote::Block(LenType::Prefixed))
    }
}

impl<'a> ser::SerializeStructVariant for Variant<Struct<'a>> {
    type Ok = Wrote;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(&mut self.inner, key, value)
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), Error> {
        ser::SerializeStruct::skip_field(&mut self.inner, key)
    }
    fn end(mut self) -> Result<Wrote, Error> {
        let wrote = self.inner.finish();
        self.close(wrote)
    }
}

/// `tsrpc::Timestamp`'s milliseconds: a `Date`, an unsigned varint.
struct DateSer<'a> {
    out: &'a mut Vec<u8>,
}

/// `tsrpc::Binary`'s bytes: a `Uint8Array`, length-prefixed.
struct BufferSer<'a> {
    out: &'a mut Vec<u8>,
}

fn unexpected<T>(what: &str) -> Result<T, Error> {
    Err(Error::new(format!("{what}: not a tsrpc value")))
}

macro_rules! only {
    ($($method:ident($($arg:ty),*) -> $ret:ty;)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<$ret, Error> {
            unexpected(stringify!($method))
        })*
    };
}

macro_rules! scalar_only {
    ($what:literal) => {
        type Ok = Wrote;
        type Error = Error;
        type SerializeSeq = ser::Impossible<Wrote, Error>;
        type SerializeTuple = ser::Impossible<Wrote, Error>;
        type SerializeTupleStruct = ser::Impossible<Wrote, Error>;
        type SerializeTupleVariant = ser::Impossible<Wrote, Error>;
        type SerializeMap = ser::Impossible<Wrote, Error>;
        type SerializeStruct = ser::Impossible<Wrote, Error>;
        type SerializeStructVariant = ser::Impossible<Wrote, Error>;

        fn is_human_readable(&self) -> bool {
            false
        }

        only! {
            serialize_bool(bool) -> Wrote;
            serialize_i8(i8) -> Wrote;
            serialize_i16(i16) -> Wrote;
            serialize_i32(i32) -> Wrote;
            serialize_u8(u8) -> Wrote;
            serialize_u16(u16) -> Wrote;
            serialize_u32(u32) -> Wrote;
            serialize_f32(f32) -> Wrote;
            serialize_f64(f64) -> Wrote;
            serialize_char(char) -> Wrote;
            serialize_str(&str) -> Wrote;
            serialize_none() -> Wrote;
            serialize_unit() -> Wrote;
            serialize_unit_struct(&'static str) -> Wrote;
            serialize_unit_variant(&'static str, u32, &'static str) -> Wrote;
            serialize_seq(Option<usize>) -> Self::SerializeSeq;
            serialize_tuple(usize) -> Self::SerializeTuple;
            serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
            serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
            serialize_map(Option<usize>) -> Self::SerializeMap;
            serialize_struct(&'static str, usize) -> Self::SerializeStruct;
            serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
        }

        fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Wrote, Error> {
            unexpected($what)
        }
        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: &T,
        ) -> Result<Wrote, Error> {
            unexpected($what)
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<Wrote, Error> {
            unexpected($what)
        }
    };
}

impl ser::Serializer for DateSer<'_> {
    scalar_only!("tsrpc::Timestamp");

    fn serialize_i64(self, v: i64) -> Result<Wrote, Error> {
        // TSBuffer reads a Date back as an unsigned number of milliseconds.
        let millis = u64::try_from(v).map_err(|_| {
            Error::new(format!(
                "timestamp {v}ms is before 1970, which TSBuffer's Date cannot carry"
            ))
        })?;
        varint_write(millis, self.out);
        Ok(Wrote::Block(LenType::Varint))
    }
    fn serialize_u64(self, v: u64) -> Result<Wrote, Error> {
        varint_write(v, self.out);
        Ok(Wrote::Block(LenType::Varint))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Wrote, Error> {
        unexpected("tsrpc::Timestamp")
    }
}

impl ser::Serializer for BufferSer<'_> {
    scalar_only!("tsrpc::Binary");

    fn serialize_i64(self, _: i64) -> Result<Wrote, Error> {
        unexpected("tsrpc::Binary")
    }
    fn serialize_u64(self, _: u64) -> Result<Wrote, Error> {
        unexpected("tsrpc::Binary")
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Wrote, Error> {
        varint_write(v.len() as u64, self.out);
        self.out.extend_from_slice(v);
        Ok(Wrote::Block(LenType::Delimited))
    }
}

/// A map key, as the string TSBuffer writes (`{ [key: number]: T }` keys
/// too: JavaScript's keys are strings).
struct KeySer<'a> {
    out: &'a mut String,
}

impl KeySer<'_> {
    fn text(self, v: impl std::fmt::Display) -> Result<Wrote, Error> {
        use std::fmt::Write;
        let _ = write!(self.out, "{v}");
        Ok(Wrote::Literal)
    }
}

impl ser::Serializer for KeySer<'_> {
    type Ok = Wrote;
    type Error = Error;
    type SerializeSeq = ser::Impossible<Wrote, Error>;
    type SerializeTuple = ser::Impossible<Wrote, Error>;
    type SerializeTupleStruct = ser::Impossible<Wrote, Error>;
    type SerializeTupleVariant = ser::Impossible<Wrote, Error>;
    type SerializeMap = ser::Impossible<Wrote, Error>;
    type SerializeStruct = ser::Impossible<Wrote, Error>;
    type SerializeStructVariant = ser::Impossible<Wrote, Error>;

    fn is_human_readable(&self) -> bool {
        false
    }

    forward_ints! { text as is: serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32), serialize_i64(i64), serialize_i128(i128) }
    forward_ints! { text as is: serialize_u8(u8), serialize_u16(u16), serialize_u32(u32), serialize_u64(u64), serialize_u128(u128) }
    fn serialize_f32(self, _: f32) -> Result<Wrote, Error> {
        unexpected("a float map key")
    }
    fn serialize_f64(self, _: f64) -> Result<Wrote, Error> {
        unexpected("a float map key")
    }
    fn serialize_char(self, v: char) -> Result<Wrote, Error> {
        self.text(v)
    }
    fn serialize_str(self, v: &str) -> Result<Wrote, Error> {
        self.out.push_str(v);
        Ok(Wrote::Literal)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Wrote, Error> {
        unexpected("a bytes map key")
    }
    fn serialize_none(self) -> Result<Wrote, Error> {
        unexpected("an absent map key")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Wrote, Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Wrote, Error> {
        unexpected("a unit map key")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Wrote, Error> {
        unexpected("a unit map key")
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Wrote, Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Wrote, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Wrote, Error> {
        unexpected("an enum map key with data")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        unexpected("a sequence map key")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        unexpected("a tuple map key")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        unexpected("a tuple map key")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        unexpected("an enum map key with data")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        unexpected("a map map key")
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        unexpected("a struct map key")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        unexpected("an enum map key with data")
    }
}
