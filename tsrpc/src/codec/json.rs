//! TSRPC v3 JSON mode: each frame is a JSON array
//! `[name, body]` (message) or `[name, body, sn]` (API call or return).

use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{
    ClientFrame, Encoding, FrameError, PathSeed, Payload, PayloadError, ServerFrame, ServiceRef,
    WireFrame, depth, input_error,
};
use crate::error::TsrpcError;

/// Where the payload goes in a frame with an sn.
pub(super) enum Slot {
    /// `[name, req, sn]`
    Request,
    /// `[name, {"isSucc":true,"res":res}, sn]`
    Success,
}

fn push_json_str(s: &str, out: &mut Vec<u8>) {
    // Service names need no escaping; anything else goes through serde_json.
    if s.bytes().all(|c| c >= 0x20 && c != b'"' && c != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing a str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// Appends `sn` in decimal, without allocating.
fn push_sn(sn: u32, out: &mut Vec<u8>) {
    let mut digits = [0u8; 10];
    let mut n = sn;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

pub(super) fn encode_with_payload(
    name: &str,
    sn: u32,
    slot: Slot,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>,
) -> Result<WireFrame, PayloadError> {
    super::build_frame(|out| {
        out.push(b'[');
        push_json_str(name, out);
        match slot {
            Slot::Request => out.push(b','),
            Slot::Success => out.extend_from_slice(br#",{"isSucc":true,"res":"#),
        }
        write(out)?;
        if let Slot::Success = slot {
            out.push(b'}');
        }
        out.push(b',');
        push_sn(sn, out);
        out.push(b']');
        Ok(())
    })
    .map(WireFrame::Text)
}

pub(super) fn encode_api_error(name: &str, sn: u32, err: &TsrpcError) -> WireFrame {
    let mut out = Vec::with_capacity(96 + name.len() + err.message.len());
    out.push(b'[');
    push_json_str(name, &mut out);
    out.extend_from_slice(br#",{"isSucc":false,"err":"#);
    // A TsrpcError is strings and JSON values: serializing it cannot fail.
    let _ = serde_json::to_writer(&mut out, err);
    out.extend_from_slice(b"},");
    push_sn(sn, &mut out);
    out.push(b']');
    WireFrame::Text(out.into())
}

pub(super) fn encode_message(
    name: &str,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>,
) -> Result<WireFrame, PayloadError> {
    super::build_frame(|out| {
        out.push(b'[');
        push_json_str(name, out);
        out.push(b',');
        write(out)?;
        out.push(b']');
        Ok(())
    })
    .map(WireFrame::Text)
}

/// The two or three elements of a frame, still as raw JSON text.
struct Parts<'a>([Option<&'a RawValue>; 3]);

impl<'de> Deserialize<'de> for Parts<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PartsVisitor;
        impl<'de> Visitor<'de> for PartsVisitor {
            type Value = Parts<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array [name, body] or [name, body, sn]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Parts<'de>, A::Error> {
                let mut parts = [None; 3];
                let mut len = 0;
                while let Some(part) = seq.next_element::<&'de RawValue>()? {
                    let Some(slot) = parts.get_mut(len) else {
                        return Err(serde::de::Error::custom(
                            "the array has more than 3 elements",
                        ));
                    };
                    *slot = Some(part);
                    len += 1;
                }
                Ok(Parts(parts))
            }
        }
        deserializer.deserialize_seq(PartsVisitor)
    }
}

/// `bytes` as text. JSON is checked for UTF-8 once, as a whole: parsing
/// from a `&str` spares serde_json checking every string in it again.
fn utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    std::str::from_utf8(bytes)
}

/// Splits a frame into its service name, its body (as a slice of `text`,
/// no copy) and its sn (`None` when absent or `null`).
fn split(text: &Bytes) -> Result<(String, Bytes, Option<u32>), FrameError> {
    let str = utf8(text).map_err(|e| FrameError::json(format!("the frame is not UTF-8: {e}")))?;
    let mut de = serde_json::Deserializer::from_str(str);
    let parts = Parts::deserialize(&mut de)
        .and_then(|p| de.end().map(|()| p))
        .map_err(|e| match input_error::not_json(str) {
            Some(message) => FrameError::json(message),
            None => FrameError::json(format!(
                "expected [name, body] or [name, body, sn]: {}",
                serde_text(&e)
            )),
        })?;
    let (name, body, sn) = match parts.0 {
        [Some(name), Some(body), sn] => (name, body, sn),
        [first, ..] => {
            return Err(FrameError::json(format!(
                "expected [name, body] or [name, body, sn], got an array of {} element(s)",
                usize::from(first.is_some())
            )));
        }
    };
    let name_raw = name;
    let name: String = serde_json::from_str(name_raw.get()).map_err(|_| {
        FrameError::json(format!(
            "the service name must be a string, got {}",
            clip(name_raw.get())
        ))
    })?;
    let body = slice_of(text, body);
    let sn = match sn {
        None => None,
        Some(raw) => match serde_json::from_str::<Option<u32>>(raw.get()) {
            Ok(Some(0)) | Err(_) => {
                return Err(FrameError::json(format!(
                    "sn must be an integer from 1 to 4294967295, got {}",
                    clip(raw.get())
                )));
            }
            Ok(sn) => sn,
        },
    };
    Ok((name, body, sn))
}

/// The part of `text` that `raw` borrows, as a zero-copy slice.
fn slice_of(text: &Bytes, raw: &RawValue) -> Bytes {
    let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
    text.slice(start..start + raw.get().len())
}

/// A short excerpt of untrusted text for error messages.
fn clip(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

/// An API request frame taken apart without reading its body.
pub(crate) struct LocatedRequest<'a> {
    /// The API's name.
    pub(crate) name: &'a str,
    /// The call's sn.
    pub(crate) sn: u32,
    /// The request, still encoded and not yet checked (see [`locate_request`]).
    pub(crate) body: &'a str,
}

const fn is_json_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// Takes the common request frame apart in a single pass over the request
/// instead of two (delimiting it, then decoding it): the name and the sn
/// are read from the two ends of the frame, `["name", ` and `, sn]`, and
/// the body is what lies between, unread.
///
/// The body is one JSON value, and so the frame well formed, exactly when
/// it decodes with nothing left over; when it does not, the caller asks
/// [`decode_client_frame`] about the whole frame to tell a malformed frame
/// from a bad request. `None` when the frame is not of that common form
/// (a message, an escape in the name, an sn that is not a plain decimal
/// from 1 up): the caller then decodes it with [`decode_client_frame`].
pub(super) fn locate_request(text: &str) -> Option<LocatedRequest<'_>> {
    let b = text.as_bytes();
    let skip_forward = |mut i: usize| {
        while i < b.len() && is_json_space(b[i]) {
            i += 1;
        }
        i
    };
    let skip_back = |mut j: usize| {
        while j > 0 && is_json_space(b[j - 1]) {
            j -= 1;
        }
        j
    };
    // `[`, `"name"`, `,` from the front.
    let mut i = skip_forward(0);
    if b.get(i) != Some(&b'[') {
        return None;
    }
    i = skip_forward(i + 1);
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let name_start = i + 1;
    let name_end = name_start
        + b.get(name_start..)?
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    if b[name_end] != b'"' {
        return None;
    }
    i = skip_forward(name_end + 1);
    if b.get(i) != Some(&b',') {
        return None;
    }
    let body_start = i + 1;
    // `]`, the sn, `,` from the back.
    let mut j = skip_back(b.len());
    if j == 0 || b[j - 1] != b']' {
        return None;
    }
    j = skip_back(j - 1);
    let sn_end = j;
    while j > 0 && b[j - 1].is_ascii_digit() {
        j -= 1;
    }
    let digits = &b[j..sn_end];
    if digits.is_empty() || digits.len() > 10 || digits[0] == b'0' {
        return None;
    }
    let sn = digits.iter().try_fold(0u32, |n, &d| {
        n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })?;
    j = skip_back(j);
    // The comma after the body. The name's own comma instead means a
    // two-element frame whose body is a number: a message.
    if j == 0 || b[j - 1] != b',' || j - 1 < body_start {
        return None;
    }
    // Cut next to ASCII delimiters, so on character boundaries.
    Some(LocatedRequest {
        name: text.get(name_start..name_end)?,
        sn,
        body: text.get(body_start..j - 1)?,
    })
}

pub(super) fn decode_client_frame(text: Bytes) -> Result<ClientFrame, FrameError> {
    let (name, body, sn) = split(&text)?;
    let payload = Payload::new(Encoding::Json, body);
    let service = ServiceRef::Name(name);
    Ok(match sn {
        Some(sn) => ClientFrame::ApiRequest {
            service,
            sn,
            payload,
        },
        None => ClientFrame::Message { service, payload },
    })
}

#[derive(Deserialize)]
struct ReturnBody<'a> {
    #[serde(rename = "isSucc")]
    is_succ: bool,
    #[serde(borrow, default)]
    res: Option<&'a RawValue>,
    #[serde(default)]
    err: Option<TsrpcError>,
}

pub(super) fn decode_server_frame(text: Bytes) -> Result<ServerFrame, FrameError> {
    let (name, body, sn) = split(&text)?;
    let Some(sn) = sn else {
        return Ok(ServerFrame::Message {
            service: ServiceRef::Name(name),
            payload: Payload::new(Encoding::Json, body),
        });
    };
    let ret: ReturnBody<'_> = serde_json::from_slice(&body).map_err(|e| {
        FrameError::json(format!("API return body must be {{isSucc, res|err}}: {e}"))
    })?;
    let result = if ret.is_succ {
        // TSRPC always sends `res`; JSON.stringify drops it only when undefined.
        let res = match ret.res {
            Some(raw) => slice_of(&body, raw),
            None => Bytes::from_static(b"{}"),
        };
        Ok(Payload::new(Encoding::Json, res))
    } else {
        Err(ret.err.unwrap_or_else(|| {
            TsrpcError::server("the server returned isSucc:false without an err")
        }))
    };
    Ok(ServerFrame::ApiReturn {
        sn,
        service: Some(name),
        result,
    })
}

pub(super) fn decode_payload<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PayloadError> {
    let text = utf8(bytes).map_err(|e| PayloadError::decode(&[], e))?;
    decode_text(text)
}

/// [`decode_payload`] from text.
pub(super) fn decode_text<T: DeserializeOwned>(text: &str) -> Result<T, PayloadError> {
    // Tracking the path costs as much as decoding: do it only to describe
    // a payload that failed (the second pass fails the same way).
    // Every JSON element takes bytes: nesting is the only limit needed.
    let budget = depth::Budget::unlimited();
    let mut de = serde_json::Deserializer::from_str(text);
    if let Ok(value) = depth::seed(PhantomData::<T>, &budget).deserialize(&mut de)
        && de.end().is_ok()
    {
        return Ok(value);
    }
    decode_failed(text)
}

/// Decodes `text` again, to describe why it failed.
#[cold]
#[inline(never)]
fn decode_failed<T: DeserializeOwned>(text: &str) -> Result<T, PayloadError> {
    let budget = depth::Budget::unlimited();
    let mut de = serde_json::Deserializer::from_str(text);
    let mut path = Vec::new();
    let seed = depth::seed(PathSeed::<T>::new(&mut path), &budget);
    // Text that is not JSON is said so first, whatever serde met first
    // (a type error before the syntax error, say): TSRPC parses, then checks.
    if let Some(message) = input_error::not_json(text) {
        return Err(PayloadError::worded(message, &[]));
    }
    let described = |e: serde_json::Error, path: &[input_error::Step]| {
        PayloadError::decode(path, serde_text(&e))
    };
    let value = seed.deserialize(&mut de).map_err(|e| described(e, &path))?;
    de.end().map_err(|e| described(e, &[]))?;
    Ok(value)
}

/// serde_json's message without the position it appends (`at line 1
/// column 9`): JSON mode's texts are one line, and the path says where.
fn serde_text(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&position) {
        Some(message) => message.to_owned(),
        None => text,
    }
}

/// `{"isSucc":true,"res":...}`: an HTTP JSON success body.
pub(super) fn http_success(
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>,
) -> Result<Bytes, PayloadError> {
    super::build_frame(|out| {
        out.extend_from_slice(br#"{"isSucc":true,"res":"#);
        write(out)?;
        out.push(b'}');
        Ok(())
    })
}

/// `{"isSucc":false,"err":{...}}`: an HTTP JSON error body.
pub(super) fn http_error(err: &TsrpcError) -> Bytes {
    let mut out = Vec::with_capacity(96 + err.message.len());
    out.extend_from_slice(br#"{"isSucc":false,"err":"#);
    // A TsrpcError is strings and JSON values: serializing it cannot fail.
    let _ = serde_json::to_writer(&mut out, err);
    out.push(b'}');
    out.into()
}

/// Reads an HTTP JSON return body.
pub(super) fn decode_http_return(body: Bytes) -> Result<Result<Payload, TsrpcError>, FrameError> {
    let ret: ReturnBody<'_> = serde_json::from_slice(&body).map_err(|e| {
        FrameError::json(format!(
            "an HTTP return body must be {{isSucc, res|err}}: {e}"
        ))
    })?;
    Ok(return_result(&body, ret))
}

fn return_result(body: &Bytes, ret: ReturnBody<'_>) -> Result<Payload, TsrpcError> {
    if ret.is_succ {
        // TSRPC always sends `res`; JSON.stringify drops it only when undefined.
        let res = match ret.res {
            Some(raw) => slice_of(body, raw),
            None => Bytes::from_static(b"{}"),
        };
        Ok(Payload::new(Encoding::Json, res))
    } else {
        Err(ret.err.unwrap_or_else(|| {
            TsrpcError::server("the server returned isSucc:false without an err")
        }))
    }
}
