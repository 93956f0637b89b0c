//! TSBuffer bytes to values, driven by serde's data model: the mirror of
//! `ser.rs`. Blocks may come in any order; unknown property ids and union
//! members a newer peer adds are skipped by their length type, as
//! TSBuffer's own decoder skips them. Every length is checked against the
//! bytes left before anything is read or reserved, skipping nests at most
//! [`MAX_DEPTH`] levels, and the caller wraps decoding in the nesting and
//! element limits every payload decoder has (`depth.rs`).

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, Visitor};
use serde::forward_to_deserialize_any;

use super::ids::{self, index_of};
use super::{Error, LenType, PROPERTY_BASE};
use crate::codec::depth::MAX_DEPTH;
use crate::codec::varint;
use crate::values::{BINARY_SERDE_NAME, TIMESTAMP_SERDE_NAME};

/// `fn $method(self, visitor) { visitor.$visit($value) }` for each method.
macro_rules! visit {
    ($this:ident: $($($method:ident),+ => $visit:ident($value:expr);)*) => {
        $($(fn $method<V: Visitor<'de>>($this, visitor: V) -> Result<V::Value, Error> {
            visitor.$visit($value)
        })+)*
    };
}

/// The reader of one payload.
pub(super) struct De<'de> {
    input: &'de [u8],
    pos: usize,
    /// The next value is a block's payload: an array or tuple starts with
    /// its byte length.
    block: bool,
    /// The next value is a struct field's: an `Option` is the property's
    /// presence rather than the union `T | null`.
    field: bool,
    /// The next value is the `T` of a `T | null`: an `Option` in it is
    /// that union's (the export writes `Option<Option<T>>` as one `T |
    /// null`), so it is present here.
    nullable: bool,
}

impl<'de> De<'de> {
    pub(super) fn new(input: &'de [u8]) -> Self {
        De {
            input,
            pos: 0,
            block: false,
            field: false,
            nullable: false,
        }
    }

    /// The bytes not read yet.
    pub(super) fn left(&self) -> usize {
        self.input.len() - self.pos
    }

    /// Takes the flags the value being read was given.
    fn enter(&mut self) -> (bool, bool) {
        self.nullable = false;
        (
            std::mem::take(&mut self.block),
            std::mem::take(&mut self.field),
        )
    }

    pub(super) fn varint(&mut self) -> Result<u64, Error> {
        let (value, used) =
            varint::read(&self.input[self.pos..]).map_err(|e| self.error(format_args!("{e}")))?;
        self.pos += used;
        Ok(value)
    }

    fn error(&self, what: impl std::fmt::Display) -> Error {
        Error::new(format!("{what} (at byte {})", self.pos))
    }

    /// A length or count that cannot be more than the bytes left (each
    /// byte, element or entry takes at least one byte).
    pub(super) fn len(&mut self, what: &str) -> Result<usize, Error> {
        let n = self.varint()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.left() => Ok(n),
            _ => Err(self.error(format_args!(
                "{what} of {n} is longer than the {} byte(s) left",
                self.left()
            ))),
        }
    }

    pub(super) fn bytes(&mut self, n: usize) -> Result<&'de [u8], Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.input.len())
            .ok_or_else(|| self.error("truncated"))?;
        let bytes = &self.input[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    pub(super) fn str(&mut self) -> Result<&'de str, Error> {
        let n = self.len("a string's length")?;
        let bytes = self.bytes(n)?;
        std::str::from_utf8(bytes).map_err(|e| self.error(format_args!("a string: {e}")))
    }

    /// An array's or tuple's byte length, in front of it in a block: read,
    /// not needed (in a map entry it counts the key before it too, as
    /// TSBuffer writes it, so it is not checked against the bytes left).
    fn prefix(&mut self, block: bool) -> Result<(), Error> {
        if block {
            self.varint()?;
        }
        Ok(())
    }

    /// A block's header: its id and length type.
    pub(super) fn header(&mut self) -> Result<(u64, LenType), Error> {
        let head = self.varint()?;
        Ok((head >> 2, LenType::from_bits(head)))
    }

    /// Skips a block's payload of length type `lt` (a field or member
    /// this side does not know).
    pub(super) fn skip(&mut self, lt: LenType, depth: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(self.error(format_args!(
                "the payload nests deeper than {MAX_DEPTH} levels"
            )));
        }
        match lt {
            LenType::Delimited | LenType::Prefixed => {
                let n = self.len("a block's length")?;
                self.bytes(n)?;
            }
            LenType::Varint => {
                self.varint()?;
            }
            LenType::Bit64 => {
                self.bytes(8)?;
            }
            LenType::IdBlock => {
                let count = self.len("a block count")?;
                for _ in 0..count {
                    let (_, lt) = self.header()?;
                    self.skip(lt, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    fn int(&mut self) -> Result<i64, Error> {
        let (_, _) = self.enter();
        let n = self.varint()?;
        Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
    }

    fn uint(&mut self) -> Result<u64, Error> {
        let (_, _) = self.enter();
        self.varint()
    }

    /// A union's first member: its id and length type, with the reader at
    /// its payload, and how many members follow it. TSBuffer writes every
    /// member a value passes, in the schema's order, and an object may
    /// pass several (`{A: 5}` passes `{B: T | null}` too, B being absent):
    /// the first is the value's own; read it, then skip the rest
    /// ([`skip_members`](Self::skip_members)).
    fn first_member(&mut self, what: &str) -> Result<(u64, LenType, usize), Error> {
        let n = self.len("a union's member count")?;
        if n == 0 {
            return Err(self.error(format_args!("{what}: a union without a member")));
        }
        let (id, lt) = self.header()?;
        Ok((id, lt, n - 1))
    }

    /// A struct's (or struct variant's) properties.
    fn properties<V: Visitor<'de>>(
        &mut self,
        fields: &'static [&'static str],
        ids: Option<&'static [u64]>,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.enter();
        let left = self.len("a block count")?;
        visitor.visit_map(Properties {
            de: self,
            left,
            fields,
            ids,
        })
    }

    /// Skips `n` more members of a union.
    fn skip_members(&mut self, n: usize) -> Result<(), Error> {
        for _ in 0..n {
            let (_, lt) = self.header()?;
            self.skip(lt, 0)?;
        }
        Ok(())
    }

    /// The interface of an enum variant that carries a value: `read`
    /// reads property 0; `None` when the property is absent.
    fn variant_value<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<Option<T>, Error> {
        let count = self.len("a block count")?;
        let mut read = Some(read);
        let mut value = None;
        for _ in 0..count {
            let (id, lt) = self.header()?;
            match (id == PROPERTY_BASE).then(|| read.take()).flatten() {
                Some(read) => {
                    self.block = true;
                    value = Some(read(self)?);
                }
                None => self.skip(lt, 0)?,
            }
        }
        Ok(value)
    }
}

impl<'de> Deserializer<'de> for &mut De<'de> {
    type Error = Error;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(Error::new(
            "TSBuffer carries no type information: a type that needs to see the input to decode (untagged or internally tagged enums, flatten, serde_json::Value) cannot be read from it",
        ))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.enter();
        match self.bytes(1)?[0] {
            0xff => visitor.visit_bool(true),
            0x00 => visitor.visit_bool(false),
            b => Err(self.error(format_args!("a boolean is 0x00 or 0xff, not 0x{b:02x}"))),
        }
    }

    visit! { self:
        deserialize_i8, deserialize_i16, deserialize_i32, deserialize_i64 => visit_i64(self.int()?);
        deserialize_u8, deserialize_u16, deserialize_u32, deserialize_u64 => visit_u64(self.uint()?);
        deserialize_i128 => visit_i128(self.int()?.into());
        deserialize_u128 => visit_u128(self.uint()?.into());
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.enter();
        let bytes: [u8; 8] = self
            .bytes(8)?
            .try_into()
            .map_err(|_| self.error("truncated"))?;
        visitor.visit_f64(f64::from_be_bytes(bytes))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.enter();
        visitor.visit_borrowed_str(self.str()?)
    }
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    /// Plain bytes are `uint[]`, one varint each.
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let (block, _) = self.enter();
        self.prefix(block)?;
        let n = self.len("an array's count")?;
        let mut bytes = Vec::with_capacity(n);
        for _ in 0..n {
            let b = self.varint()?;
            bytes.push(u8::try_from(b).map_err(|_| self.error(format_args!("{b} is not a byte")))?);
        }
        visitor.visit_byte_buf(bytes)
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let nullable = self.nullable;
        let (block, field) = self.enter();
        if nullable {
            // Inside the union's `T`: present, and `T` may nest again.
            self.block = block;
            self.nullable = true;
            return visitor.visit_some(self);
        }
        if field {
            // Present: the property's value.
            self.block = block;
            return visitor.visit_some(self);
        }
        // `null` passes a nullable `T` too: then both are there.
        let (id, _, rest) = self.first_member("`T | null`")?;
        let value = match id {
            0 => {
                self.block = true;
                self.nullable = true;
                visitor.visit_some(&mut *self)?
            }
            1 => visitor.visit_none()?,
            id => return Err(self.error(format_args!("`T | null` has no member {id}"))),
        };
        self.skip_members(rest)?;
        Ok(value)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.enter();
        visitor.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let (block, _) = self.enter();
        match name {
            TIMESTAMP_SERDE_NAME => {
                let millis = self.varint()?;
                let millis = i64::try_from(millis)
                    .map_err(|_| self.error(format_args!("date {millis}ms is out of range")))?;
                visitor.visit_newtype_struct(Scalar::Millis(millis))
            }
            BINARY_SERDE_NAME => {
                let n = self.len("a buffer's length")?;
                visitor.visit_newtype_struct(Scalar::Bytes(self.bytes(n)?))
            }
            _ => {
                self.block = block;
                visitor.visit_newtype_struct(self)
            }
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let (block, _) = self.enter();
        self.prefix(block)?;
        let left = self.varint()?;
        visitor.visit_seq(Elements { de: self, left })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        let (block, _) = self.enter();
        self.prefix(block)?;
        let mask = self.varint()?;
        if len > 64 || (len < 64 && mask >> len != 0) {
            return Err(self.error(format_args!(
                "a tuple of {len} elements with the presence mask 0x{mask:x}"
            )));
        }
        visitor.visit_seq(TupleElements {
            de: self,
            len,
            next: 0,
            mask,
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.enter();
        let left = self.len("a block count")?;
        visitor.visit_map(Entries { de: self, left })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        ids::check_numbered(name, None).map_err(|e| self.error(e))?;
        self.properties(fields, ids::fields(name, None), visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.enter();
        let (id, lt, rest) = self.first_member(name)?;
        let variant = index_of(ids::members(name), id)
            .and_then(|i| variants.get(i))
            .ok_or_else(|| self.error(format_args!("`{name}` has no variant of id {id}")))?;
        let value = visitor.visit_enum(VariantOf {
            de: &mut *self,
            name,
            variant,
            lt,
        })?;
        self.skip_members(rest)?;
        Ok(value)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }
}

/// An array's elements.
struct Elements<'a, 'de> {
    de: &'a mut De<'de>,
    left: u64,
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        // Believed only up to the bytes left.
        Some(
            usize::try_from(self.left)
                .unwrap_or(usize::MAX)
                .min(self.de.left()),
        )
    }
}

/// A tuple's elements; an element the mask says is absent is read by
/// [`Absent`].
struct TupleElements<'a, 'de> {
    de: &'a mut De<'de>,
    len: usize,
    next: usize,
    mask: u64,
}

impl<'de> de::SeqAccess<'de> for TupleElements<'_, 'de> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if self.next == self.len {
            return Ok(None);
        }
        let present = self.mask & (1 << self.next) != 0;
        self.next += 1;
        if present {
            seed.deserialize(&mut *self.de).map(Some)
        } else {
            seed.deserialize(Absent).map(Some)
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.len - self.next)
    }
}

/// A struct's properties: blocks `10 + id`, a field's id its position
/// unless a `serviceProto` says otherwise; any other block is skipped.
struct Properties<'a, 'de> {
    de: &'a mut De<'de>,
    left: usize,
    fields: &'static [&'static str],
    /// The fields' ids, when not their positions.
    ids: Option<&'static [u64]>,
}

impl<'de> de::MapAccess<'de> for Properties<'_, 'de> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        while self.left > 0 {
            self.left -= 1;
            let (id, lt) = self.de.header()?;
            let field = id
                .checked_sub(PROPERTY_BASE)
                .and_then(|id| index_of(self.ids, id))
                .and_then(|i| self.fields.get(i));
            match field {
                Some(name) => {
                    return seed
                        .deserialize(BorrowedStrDeserializer::<Error>::new(name))
                        .map(Some);
                }
                None if id == 0 => {
                    // An index-signature entry: its key, then its value.
                    self.de.skip(LenType::Delimited, 0)?;
                    self.de.skip(lt, 0)?;
                }
                None => self.de.skip(lt, 0)?,
            }
        }
        Ok(None)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        self.de.block = true;
        self.de.field = true;
        seed.deserialize(&mut *self.de)
    }
}

/// A map's entries: index-signature blocks (id 0), the key a string.
struct Entries<'a, 'de> {
    de: &'a mut De<'de>,
    left: usize,
}

impl<'de> de::MapAccess<'de> for Entries<'_, 'de> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        while self.left > 0 {
            self.left -= 1;
            let (id, lt) = self.de.header()?;
            if id == 0 {
                let key = self.de.str()?;
                return seed.deserialize(Key(key)).map(Some);
            }
            self.de.skip(lt, 0)?;
        }
        Ok(None)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        self.de.block = true;
        seed.deserialize(&mut *self.de)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// An enum's variant: a literal, or an interface holding its value as
/// property 0.
struct VariantOf<'a, 'de> {
    de: &'a mut De<'de>,
    /// The enum's name.
    name: &'static str,
    variant: &'static str,
    lt: LenType,
}

impl<'a, 'de> de::EnumAccess<'de> for VariantOf<'a, 'de> {
    type Error = Error;
    type Variant = Self;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let value = seed.deserialize(BorrowedStrDeserializer::<Error>::new(self.variant))?;
        Ok((value, self))
    }
}

impl<'de> VariantOf<'_, 'de> {
    fn carried<T>(self, read: impl FnOnce(&mut De<'de>) -> Result<T, Error>) -> Result<T, Error> {
        if self.lt != LenType::IdBlock {
            return Err(self.de.error(format_args!(
                "variant `{}` carries a value, sent without one",
                self.variant
            )));
        }
        let variant = self.variant;
        self.de
            .variant_value(read)?
            .ok_or_else(|| Error::new(format!("variant `{variant}` without its value")))
    }
}

impl<'de> de::VariantAccess<'de> for VariantOf<'_, 'de> {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        if self.lt == LenType::IdBlock {
            // Sent with a value: read past it.
            return self.de.skip(LenType::IdBlock, 0);
        }
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        if self.lt != LenType::IdBlock {
            return seed.deserialize(Absent);
        }
        // `V(())` has nothing to write: the value is a literal.
        let mut seed = Some(seed);
        match self
            .de
            .variant_value(|de| seed.take().map(|seed| seed.deserialize(de)).transpose())?
        {
            Some(Some(value)) => Ok(value),
            _ => match seed {
                Some(seed) => seed.deserialize(Absent),
                None => Err(Error::new("the variant's value was read twice")),
            },
        }
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        self.carried(|de| de.deserialize_tuple(len, visitor))
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        ids::check_numbered(self.name, Some(self.variant)).map_err(|e| self.de.error(e))?;
        let ids = ids::fields(self.name, Some(self.variant));
        self.carried(|de| de.properties(fields, ids, visitor))
    }
}

/// A value that is not on the wire: `None`, or a literal.
struct Absent;

impl<'de> Deserializer<'de> for Absent {
    type Error = Error;
    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(Error::new("a required value is missing"))
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_none()
    }
    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// A `Date`'s milliseconds or a `Uint8Array`'s bytes, for `Timestamp` and
/// `Binary`.
enum Scalar<'de> {
    Millis(i64),
    Bytes(&'de [u8]),
}

impl<'de> Deserializer<'de> for Scalar<'de> {
    type Error = Error;
    fn is_human_readable(&self) -> bool {
        false
    }
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Scalar::Millis(ms) => visitor.visit_i64(ms),
            Scalar::Bytes(bytes) => visitor.visit_borrowed_bytes(bytes),
        }
    }
    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// A map key: TSBuffer writes every key as a string.
struct Key<'de>(&'de str);

impl Key<'_> {
    fn parse<T: std::str::FromStr>(&self) -> Result<T, Error> {
        self.0
            .parse()
            .map_err(|_| Error::new(format!("map key {:?} is not a number", self.0)))
    }
}

impl<'de> Deserializer<'de> for Key<'de> {
    type Error = Error;
    fn is_human_readable(&self) -> bool {
        false
    }
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_str(self.0)
    }
    visit! { self:
        deserialize_bool => visit_bool(self.parse()?);
        deserialize_i8, deserialize_i16, deserialize_i32, deserialize_i64 => visit_i64(self.parse()?);
        deserialize_u8, deserialize_u16, deserialize_u32, deserialize_u64 => visit_u64(self.parse()?);
        deserialize_i128 => visit_i128(self.parse()?);
        deserialize_u128 => visit_u128(self.parse()?);
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        BorrowedStrDeserializer::<Error>::new(self.0).deserialize_enum(name, variants, visitor)
    }
    forward_to_deserialize_any! {
        f32 f64 char str string bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}
