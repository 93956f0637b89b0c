//! What the fuzz targets decode payloads into: a protocol type that uses
//! every kind of value the codecs carry, recursion included, so that a
//! payload can nest as deep as a fuzzer makes it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tsrpc::__wire::{Payload, PayloadError, write_payload};
use tsrpc::{Binary, Timestamp};
use tsrpc::{Encoding, WireFrame};

/// Every kind of value, and a way to nest without end.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Zoo {
    pub int: i64,
    pub uint: u32,
    pub float: f64,
    pub flag: bool,
    pub text: String,
    pub ch: Option<char>,
    pub list: Vec<u16>,
    pub map: BTreeMap<String, i32>,
    pub tuple: (u8, String),
    pub time: Option<Timestamp>,
    pub bytes: Option<Binary>,
    pub shape: Shape,
    pub tree: Node,
    pub wrapped: Option<Wrapper>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum Shape {
    Point,
    Circle(f32),
    Rect { w: u32, h: u32 },
    Group(Vec<Shape>),
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Node {
    pub children: Vec<Node>,
}

/// Recursion through a newtype and `Some` alone.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Wrapper(pub Option<Box<Wrapper>>);

/// Decodes `bytes` as a `Zoo` in `encoding`; what decodes must encode
/// and decode back to an equal value. Values with a float that is not
/// finite are left out of the comparison: NaN is not equal to itself,
/// and JSON mode refuses to encode NaN and infinities.
pub fn decode_and_round_trip(encoding: Encoding, bytes: &[u8]) -> Result<(), PayloadError> {
    let zoo: Zoo = Payload::new(encoding, bytes::Bytes::copy_from_slice(bytes)).decode()?;
    if !zoo.float.is_finite() || !finite(&zoo.shape) {
        return Ok(());
    }
    let mut out = Vec::new();
    write_payload(encoding, &zoo, &mut out).expect("a decoded value encodes");
    let again: Zoo = Payload::new(encoding, out.into())
        .decode()
        .expect("an encoded value decodes");
    assert_eq!(zoo, again, "a round trip changes nothing");
    Ok(())
}

/// The frames fuzz input can be: a binary frame always, a text frame when
/// it is UTF-8 (tungstenite checks text frames before tsrpc sees them).
pub fn frames(data: &[u8]) -> impl Iterator<Item = WireFrame> {
    let text = std::str::from_utf8(data)
        .ok()
        .map(|text| WireFrame::Text(bytes::Bytes::copy_from_slice(text.as_bytes())));
    let binary = WireFrame::Binary(bytes::Bytes::copy_from_slice(data));
    text.into_iter().chain(Some(binary))
}

/// True when no circle of the shape has a radius that is not finite.
fn finite(shape: &Shape) -> bool {
    match shape {
        Shape::Circle(r) => r.is_finite(),
        Shape::Group(shapes) => shapes.iter().all(finite),
        Shape::Point | Shape::Rect { .. } => true,
    }
}
