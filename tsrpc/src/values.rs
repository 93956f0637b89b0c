//! Protocol value types that TypeScript peers read naturally:
//! [`Timestamp`] (a `Date`) and [`Binary`] (a `Uint8Array`).
//!
//! Both are transparent newtypes to serde, so they cost nothing in binary
//! mode: a timestamp is an `i64` of milliseconds, binary data is a length
//! and its bytes. In JSON mode they take TSRPC's forms: an ISO-8601 string
//! and a base64 string.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The serde name of [`Timestamp`]; type-shape consumers (fingerprint,
/// TypeScript export) recognise it by this name.
pub(crate) const TIMESTAMP_SERDE_NAME: &str = "tsrpc::Timestamp";
/// The serde name of [`Binary`].
pub(crate) const BINARY_SERDE_NAME: &str = "tsrpc::Binary";

/// A point in time with millisecond precision, JavaScript's `Date`.
///
/// JSON mode carries it as an ISO-8601 string (`"2026-11-22T04:39:02.123Z"`,
/// the form of `Date.prototype.toISOString`); binary mode as an `i64` of
/// milliseconds since the Unix epoch. Parsing accepts any RFC 3339 time
/// (offsets are converted to UTC); precision below a millisecond is dropped.
///
/// ```
/// use tsrpc::Timestamp;
///
/// let t: Timestamp = "2026-11-22T04:39:02.123Z".parse().unwrap();
/// assert_eq!(t.unix_millis(), 1_795_322_342_123);
/// assert_eq!(serde_json::to_string(&t).unwrap(), r#""2026-11-22T04:39:02.123Z""#);
/// assert!("yesterday".parse::<Timestamp>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    millis: i64,
}

/// The reason a string is not a [`Timestamp`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {input:?}: {reason}")]
pub struct ParseTimestampError {
    input: String,
    reason: String,
}

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        SystemTime::now().into()
    }

    /// A timestamp from milliseconds since 1970-01-01T00:00:00Z.
    pub const fn from_unix_millis(millis: i64) -> Self {
        Timestamp { millis }
    }

    /// Milliseconds since 1970-01-01T00:00:00Z (negative before it).
    pub const fn unix_millis(self) -> i64 {
        self.millis
    }

    fn to_datetime(self) -> Option<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.millis) * 1_000_000).ok()
    }

    /// The ISO-8601 form (`YYYY-MM-DDTHH:MM:SS.mmmZ`), or `None` when the
    /// year is outside 0000..=9999 and so has no such form.
    pub fn to_iso_string(self) -> Option<String> {
        let dt = self.to_datetime()?;
        if !(0..=9999).contains(&dt.year()) {
            return None;
        }
        Some(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.millisecond()
        ))
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        let millis = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |m| -m),
        };
        Timestamp { millis }
    }
}

impl From<Timestamp> for SystemTime {
    fn from(t: Timestamp) -> Self {
        let abs = Duration::from_millis(t.millis.unsigned_abs());
        if t.millis >= 0 {
            UNIX_EPOCH + abs
        } else {
            UNIX_EPOCH - abs
        }
    }
}

impl FromStr for Timestamp {
    type Err = ParseTimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let dt = OffsetDateTime::parse(s, &Rfc3339).map_err(|e| ParseTimestampError {
            input: s.chars().take(64).collect(),
            reason: e.to_string(),
        })?;
        let millis = dt.unix_timestamp_nanos().div_euclid(1_000_000);
        // Rfc3339 years are four digits, so this always fits.
        Ok(Timestamp {
            millis: i64::try_from(millis).unwrap_or(i64::MAX),
        })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_iso_string() {
            Some(s) => f.write_str(&s),
            None => write!(f, "{}ms since the Unix epoch", self.millis),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            let iso = self.to_iso_string().ok_or_else(|| {
                serde::ser::Error::custom(format!(
                    "timestamp {}ms is outside the years 0000..=9999 and has no ISO-8601 form",
                    self.millis
                ))
            })?;
            serializer.serialize_newtype_struct(TIMESTAMP_SERDE_NAME, &iso)
        } else {
            serializer.serialize_newtype_struct(TIMESTAMP_SERDE_NAME, &self.millis)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimestampVisitor;
        impl<'de> Visitor<'de> for TimestampVisitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO-8601 date string")
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Timestamp, D::Error> {
                if d.is_human_readable() {
                    d.deserialize_str(self)
                } else {
                    i64::deserialize(d).map(Timestamp::from_unix_millis)
                }
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Timestamp, E> {
                s.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_newtype_struct(TIMESTAMP_SERDE_NAME, TimestampVisitor)
    }
}

/// Binary data, TypeScript's `Uint8Array`.
///
/// JSON mode carries it as a standard base64 string (with padding); binary
/// mode as raw bytes. Use it instead of `Vec<u8>`, which JSON would turn
/// into an array of numbers.
///
/// ```
/// use tsrpc::Binary;
///
/// let b = Binary::from(vec![1u8, 2, 255]);
/// assert_eq!(serde_json::to_string(&b).unwrap(), r#""AQL/""#);
/// assert_eq!(serde_json::from_str::<Binary>(r#""AQL/""#).unwrap(), b);
/// assert_eq!(&b[..], &[1, 2, 255]);
/// ```
#[doc(alias = "bytes")]
#[doc(alias = "Uint8Array")]
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Binary(pub Vec<u8>);

impl Binary {
    /// The bytes, consuming the wrapper.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

impl fmt::Debug for Binary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Binary({} bytes)", self.0.len())
    }
}

impl From<Vec<u8>> for Binary {
    fn from(v: Vec<u8>) -> Self {
        Binary(v)
    }
}

impl From<&[u8]> for Binary {
    fn from(v: &[u8]) -> Self {
        Binary(v.to_vec())
    }
}

impl From<Binary> for Vec<u8> {
    fn from(b: Binary) -> Self {
        b.0
    }
}

impl std::ops::Deref for Binary {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Binary {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

struct BytesField<'a>(&'a [u8]);

impl Serialize for BytesField<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

impl Serialize for Binary {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            let text = base64::engine::general_purpose::STANDARD.encode(&self.0);
            serializer.serialize_newtype_struct(BINARY_SERDE_NAME, &text)
        } else {
            serializer.serialize_newtype_struct(BINARY_SERDE_NAME, &BytesField(&self.0))
        }
    }
}

impl<'de> Deserialize<'de> for Binary {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BinaryVisitor;
        impl<'de> Visitor<'de> for BinaryVisitor {
            type Value = Binary;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("base64-encoded binary data")
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Binary, D::Error> {
                if d.is_human_readable() {
                    d.deserialize_str(self)
                } else {
                    d.deserialize_byte_buf(self)
                }
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Binary, E> {
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map(Binary)
                    .map_err(|e| E::custom(format!("invalid base64: {e}")))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Binary, E> {
                Ok(Binary(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Binary, E> {
                Ok(Binary(v))
            }
        }
        deserializer.deserialize_newtype_struct(BINARY_SERDE_NAME, BinaryVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_matches_javascript_iso_form() {
        let t = Timestamp::from_unix_millis(0);
        assert_eq!(t.to_string(), "1970-01-01T00:00:00.000Z");
        let t = Timestamp::from_unix_millis(-1);
        assert_eq!(t.to_string(), "1969-12-31T23:59:59.999Z");
        let parsed: Timestamp = "2026-11-22T05:39:02.123456+01:00".parse().unwrap();
        assert_eq!(parsed.to_string(), "2026-11-22T04:39:02.123Z");
    }

    #[test]
    fn out_of_range_timestamp_is_a_json_error_not_a_panic() {
        let t = Timestamp::from_unix_millis(i64::MAX);
        assert!(serde_json::to_string(&t).is_err());
        assert!(t.to_string().contains("ms since"));
        let _ = SystemTime::from(Timestamp::from_unix_millis(i64::MIN + 1));
    }

    #[test]
    fn bad_json_inputs_are_errors() {
        assert!(serde_json::from_str::<Timestamp>("12").is_err());
        assert!(serde_json::from_str::<Timestamp>(r#""2026-13-01T00:00:00Z""#).is_err());
        assert!(serde_json::from_str::<Binary>(r#""***""#).is_err());
        assert!(serde_json::from_str::<Binary>("[1,2]").is_err());
    }
}
