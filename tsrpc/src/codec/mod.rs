//! Wire codecs: frames in TSRPC v3's JSON mode, in TSRPC's binary mode
//! (TSBuffer) and in tsrpc's own binary mode.
//!
//! This module knows bytes and frames, never sockets: a transport hands it a
//! [`WireFrame`] (a text or binary WebSocket frame, or an HTTP body) and gets
//! back a decoded frame whose payload is still encoded; the payload is
//! decoded into a protocol type only once dispatch knows which type that is
//! ([`Payload::decode`]). See `WIRE.md` for the byte layouts.

mod binary;
mod depth;
mod input_error;
mod json;
mod json_ser;
mod tsbuffer;
mod varint;

pub use depth::MAX_DEPTH;

use std::marker::PhantomData;

use bytes::Bytes;
use serde::Serialize;
use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer};

use json::LocatedRequest;

use crate::error::TsrpcError;

/// A hash over every service's name, kind and type shape.
///
/// Two programs built from the same protocol definitions have the same
/// fingerprint; changing, adding or removing any service or any field that
/// travels changes it. Binary mode identifies services by id, so peers
/// compare fingerprints before they trust each other's ids (see WIRE.md).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub u64);

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// The HTTP header that carries a binary-mode client's fingerprint.
pub(crate) const FINGERPRINT_HEADER: &str = "x-tsrpc-fingerprint";

/// JSON (TSRPC v3's `json: true`), TSBuffer (TSRPC v3's default binary
/// mode) or binary (tsrpc's own, bincode payloads).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// JSON text frames, as TSRPC's `json: true` mode.
    Json,
    /// Binary frames with bincode payloads; Rust peers only.
    Binary,
    /// Binary frames with TSBuffer payloads in TSRPC's envelopes: what
    /// TSRPC's clients and servers speak by default (`json: false`).
    Tsbuffer,
}

impl Encoding {
    /// The encodings, in a fixed order (see [`index`](Self::index)).
    pub const ALL: [Encoding; 3] = [Encoding::Json, Encoding::Binary, Encoding::Tsbuffer];

    /// The encoding's position in [`ALL`](Self::ALL), to index a table
    /// kept per encoding.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// One WebSocket frame or HTTP body, as it travels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireFrame {
    /// A text frame (UTF-8 JSON).
    Text(Bytes),
    /// A binary frame.
    Binary(Bytes),
}

impl WireFrame {
    /// The frame's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            WireFrame::Text(b) | WireFrame::Binary(b) => b,
        }
    }

    /// The frame's bytes, shared (no copy).
    pub(crate) fn shared_bytes(&self) -> Bytes {
        match self {
            WireFrame::Text(b) | WireFrame::Binary(b) => b.clone(),
        }
    }

    /// The frame's bytes, owned.
    pub fn into_bytes(self) -> Bytes {
        match self {
            WireFrame::Text(b) | WireFrame::Binary(b) => b,
        }
    }
}

/// How a frame names its service: binary frames by id, JSON frames by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceRef {
    /// An id of the service table (binary mode).
    Id(u32),
    /// A service name (JSON mode).
    Name(String),
}

/// A frame a server receives from a client.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientFrame {
    /// An API call awaiting one return with the same `sn`.
    ApiRequest {
        /// The API called.
        service: ServiceRef,
        /// The call's serial number, chosen by the client.
        sn: u32,
        /// The still-encoded request.
        payload: Payload,
    },
    /// A one-way message.
    Message {
        /// The message's service.
        service: ServiceRef,
        /// The still-encoded message.
        payload: Payload,
    },
    /// A heartbeat: answer with [`encode_heartbeat`].
    Heartbeat,
    /// A binary-mode client announcing its service table's fingerprint.
    Hello {
        /// The client's fingerprint.
        fingerprint: Fingerprint,
    },
}

/// A frame a client receives from a server.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerFrame {
    /// The outcome of the call with this `sn`.
    ApiReturn {
        /// The call's serial number.
        sn: u32,
        /// The API's name, present in JSON mode only.
        service: Option<String>,
        /// The still-encoded response, or the error.
        result: Result<Payload, TsrpcError>,
    },
    /// A one-way message.
    Message {
        /// The message's service.
        service: ServiceRef,
        /// The still-encoded message.
        payload: Payload,
    },
    /// The answer to a heartbeat.
    Heartbeat,
}

/// A frame that is not well formed, with what was wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed {} frame: {reason}", match encoding { Encoding::Json => "JSON", Encoding::Binary => "binary", Encoding::Tsbuffer => "TSBuffer" })]
pub struct FrameError {
    encoding: Encoding,
    reason: String,
}

impl FrameError {
    fn json(reason: impl Into<String>) -> Self {
        FrameError {
            encoding: Encoding::Json,
            reason: reason.into(),
        }
    }

    fn binary(reason: impl Into<String>) -> Self {
        FrameError {
            encoding: Encoding::Binary,
            reason: reason.into(),
        }
    }

    fn tsbuffer(reason: impl Into<String>) -> Self {
        FrameError {
            encoding: Encoding::Tsbuffer,
            reason: reason.into(),
        }
    }

    /// The encoding the frame claimed: JSON for text, binary otherwise.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// What was wrong, without the prefix.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// A payload that could not be decoded into, or encoded from, its type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PayloadError {
    message: String,
    path: Option<String>,
}

impl PayloadError {
    pub(crate) fn encode(message: impl Into<String>) -> Self {
        PayloadError {
            message: message.into(),
            path: None,
        }
    }

    /// A value that could not be encoded, at `path` (empty: the root).
    fn encode_at(path: String, inner: impl std::fmt::Display) -> Self {
        let (message, path) = if path.is_empty() {
            (inner.to_string(), None)
        } else {
            (format!("at `{path}`: {inner}"), Some(path))
        };
        PayloadError { message, path }
    }

    /// A payload that did not decode, at `steps`: in TSRPC's words where
    /// it has them (see [`input_error::misfit`]).
    fn decode(steps: &[input_error::Step], inner: impl std::fmt::Display) -> Self {
        PayloadError::worded(input_error::misfit(steps, &inner.to_string()), steps)
    }

    fn worded(message: String, steps: &[input_error::Step]) -> Self {
        let path = (!steps.is_empty()).then(|| input_error::path_text(steps));
        PayloadError { message, path }
    }

    /// The path of the field that failed, when known: `user.tags[2]` in
    /// JSON mode; in binary mode, which carries no field names, positions
    /// such as `[0][2]`.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }
}

/// Decodes a `T`, recording the path of the field being decoded when
/// decoding fails (a second, slower pass, made only to describe a failure).
struct PathSeed<'p, T> {
    path: &'p mut Vec<input_error::Step>,
    _type: PhantomData<T>,
}

impl<'p, T> PathSeed<'p, T> {
    fn new(path: &'p mut Vec<input_error::Step>) -> Self {
        PathSeed {
            path,
            _type: PhantomData,
        }
    }
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for PathSeed<'_, T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            *self.path = input_error::steps(e.path());
            e.into_inner()
        })
    }
}

/// An encoded request, response or message, decoded on demand.
#[derive(Clone, PartialEq, Eq)]
pub struct Payload {
    encoding: Encoding,
    bytes: Bytes,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.encoding {
            Encoding::Json => write!(f, "Payload::Json({})", String::from_utf8_lossy(&self.bytes)),
            Encoding::Binary => write!(f, "Payload::Binary({} bytes)", self.bytes.len()),
            Encoding::Tsbuffer => write!(f, "Payload::Tsbuffer({} bytes)", self.bytes.len()),
        }
    }
}

impl Payload {
    /// A payload from already-encoded bytes.
    pub fn new(encoding: Encoding, bytes: Bytes) -> Self {
        Payload { encoding, bytes }
    }

    /// The payload's encoding.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The encoded bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Decodes the payload, naming the field that failed.
    ///
    /// Binary payloads must be consumed exactly: trailing bytes are an error.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, PayloadError> {
        match self.encoding {
            Encoding::Json => json::decode_payload(&self.bytes),
            Encoding::Binary => binary::decode_payload(&self.bytes),
            Encoding::Tsbuffer => tsbuffer::decode_payload(&self.bytes),
        }
    }
}

/// Frames up to this size are built in a reused buffer and copied out.
const REUSED_FRAME_MAX: usize = 16 * 1024;

/// Builds a frame: `write` fills a buffer kept per thread for the purpose,
/// and the frame is copied out at its exact size. A fresh `Vec` would cost
/// a second allocation to become `Bytes` (its spare capacity needs a shared
/// header) and, past its first guess at the size, a reallocation. Frames
/// above [`REUSED_FRAME_MAX`] take the buffer with them instead of a copy.
fn build_frame(
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>,
) -> Result<Bytes, PayloadError> {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with(|cell| {
        // Busy only if a `Serialize` impl encodes a frame of its own.
        let Ok(mut buffer) = cell.try_borrow_mut() else {
            let mut out = Vec::new();
            write(&mut out)?;
            return Ok(out.into());
        };
        buffer.clear();
        write(&mut buffer)?;
        Ok(if buffer.len() <= REUSED_FRAME_MAX {
            Bytes::copy_from_slice(&buffer)
        } else {
            std::mem::take(&mut *buffer).into()
        })
    })
}

/// Appends `value` encoded as a payload.
pub fn write_payload<T: Serialize + ?Sized>(
    encoding: Encoding,
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), PayloadError> {
    match encoding {
        Encoding::Json => json_ser::write(value, out),
        Encoding::Binary => binary::write_payload(value, out),
        Encoding::Tsbuffer => tsbuffer::write_payload(value, out),
    }
}

/// Decodes a frame received by a server; a binary frame is read in tsrpc's
/// binary mode ([`decode_tsbuffer_client_frame`] reads TSRPC's).
pub fn decode_client_frame(frame: WireFrame) -> Result<ClientFrame, FrameError> {
    match frame {
        WireFrame::Text(text) => json::decode_client_frame(text),
        WireFrame::Binary(data) => binary::decode_client_frame(data),
    }
}

/// Decodes a binary frame from a TSRPC client (TSBuffer mode): the
/// heartbeat, or a `ServerInputData`. One with an sn is an API call; one
/// without is a message, or an HTTP call (TSRPC's HTTP calls carry no
/// sn: the HTTP adapter tells them apart by the service's kind).
pub fn decode_tsbuffer_client_frame(data: Bytes) -> Result<ClientFrame, FrameError> {
    tsbuffer::decode_client_frame(data)
}

/// True when a binary frame, the first a client sends, is tsrpc's
/// binary-mode hello rather than a TSRPC (TSBuffer) frame.
pub(crate) fn is_hello(data: &[u8]) -> bool {
    data.len() == 9 && data[0] == binary::HELLO
}

/// How a request names its API or message: by id (binary) or by name (JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ServiceKey<'a> {
    Id(u32),
    Name(&'a str),
}

impl<'a> From<&'a ServiceRef> for ServiceKey<'a> {
    fn from(service: &'a ServiceRef) -> Self {
        match service {
            ServiceRef::Id(id) => ServiceKey::Id(*id),
            ServiceRef::Name(name) => ServiceKey::Name(name),
        }
    }
}

impl std::fmt::Display for ServiceKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceKey::Id(tsbuffer::NO_SERVICE) if crate::schema::ids::installed().is_some() => {
                f.write_str("an id the serviceProto in use does not have")
            }
            ServiceKey::Id(id) => write!(f, "id {id}"),
            ServiceKey::Name(name) => f.write_str(name),
        }
    }
}

/// An API request as the codec reads it: the one type dispatch takes,
/// whether the frame was located where it lies (the fast path, see
/// [`locate_text_request`]) or decoded whole ([`ClientFrame::request`]).
/// A new encoding produces it too; dispatch needs nothing else.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request<'a> {
    /// The API called.
    pub(crate) service: ServiceKey<'a>,
    /// The call's serial number.
    pub(crate) sn: u32,
    /// The still-encoded request.
    pub(crate) body: Body<'a>,
    /// The whole frame of a request that was located rather than decoded:
    /// only the parts it was cut at were checked.
    unchecked: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// A request whose frame was checked whole (or that has no frame: an
    /// HTTP JSON body).
    pub(crate) fn new(service: ServiceKey<'a>, sn: u32, body: Body<'a>) -> Self {
        Request {
            service,
            sn,
            body,
            unchecked: None,
        }
    }

    /// The encoding of the request's body.
    pub(crate) fn encoding(&self) -> Encoding {
        self.body.encoding()
    }

    /// What is wrong with the request's frame, if anything. A located
    /// request owes this check when it cannot be answered (its API is
    /// unknown, or its body does not decode): a malformed frame is then a
    /// protocol error, not a call's error.
    pub(crate) fn malformed(&self) -> Option<FrameError> {
        let text = Bytes::copy_from_slice(self.unchecked?.as_bytes());
        decode_client_frame(WireFrame::Text(text)).err()
    }
}

/// Takes a JSON API request frame apart without reading its request (the
/// caller owes [`Request::malformed`] when it cannot answer it); `None`
/// when it is not plainly a request (anything else is decoded whole).
pub(crate) fn locate_text_request(text: &str) -> Option<Request<'_>> {
    let LocatedRequest { name, sn, body } = json::locate_request(text)?;
    Some(Request {
        service: ServiceKey::Name(name),
        sn,
        body: Body::Json(body),
        unchecked: Some(text),
    })
}

/// Takes a binary API request frame apart where it lies; `None` when it is
/// not one. Binary headers are checked whole, so nothing is owed.
pub(crate) fn locate_binary_request(data: &[u8]) -> Option<Request<'_>> {
    let (id, sn, body) = binary::locate_request(data)?;
    Some(Request::new(ServiceKey::Id(id), sn, Body::Binary(body)))
}

/// Takes a TSBuffer API request frame (`ServerInputData` with an sn)
/// apart where it lies; `None` when it is not plainly one (anything else
/// is decoded whole). Checked whole, so nothing is owed.
pub(crate) fn locate_tsbuffer_request(data: &[u8]) -> Option<Request<'_>> {
    let (id, sn, body) = tsbuffer::locate_request(data)?;
    Some(Request::new(ServiceKey::Id(id), sn, Body::Tsbuffer(body)))
}

impl ClientFrame {
    /// The API request this frame holds, if it is one.
    pub(crate) fn request(&self) -> Option<Request<'_>> {
        match self {
            ClientFrame::ApiRequest {
                service,
                sn,
                payload,
            } => Some(Request::new(service.into(), *sn, Body::Payload(payload))),
            _ => None,
        }
    }
}

/// A request's encoded body: a [`Payload`], or located in its frame (JSON
/// text whose UTF-8 was checked already, or binary).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Body<'a> {
    Payload(&'a Payload),
    Json(&'a str),
    Binary(&'a [u8]),
    Tsbuffer(&'a [u8]),
}

impl Body<'_> {
    pub(crate) fn encoding(self) -> Encoding {
        match self {
            Body::Payload(payload) => payload.encoding(),
            Body::Json(_) => Encoding::Json,
            Body::Binary(_) => Encoding::Binary,
            Body::Tsbuffer(_) => Encoding::Tsbuffer,
        }
    }

    /// As [`Payload::decode`].
    pub(crate) fn decode<T: DeserializeOwned>(self) -> Result<T, PayloadError> {
        match self {
            Body::Payload(payload) => payload.decode(),
            Body::Json(text) => json::decode_text(text),
            Body::Binary(bytes) => binary::decode_payload(bytes),
            Body::Tsbuffer(bytes) => tsbuffer::decode_payload(bytes),
        }
    }
}

/// Decodes a frame received by a client of a server speaking `encoding`
/// (text frames are JSON whatever it is).
pub fn decode_server_frame(
    encoding: Encoding,
    frame: WireFrame,
) -> Result<ServerFrame, FrameError> {
    match (frame, encoding) {
        (WireFrame::Text(text), _) => json::decode_server_frame(text),
        (WireFrame::Binary(data), Encoding::Tsbuffer) => tsbuffer::decode_server_frame(data),
        (WireFrame::Binary(data), _) => binary::decode_server_frame(data),
    }
}

/// Encodes an API call. `service_id` is used by binary mode, `name` by JSON mode.
pub fn encode_api_request<T: Serialize + ?Sized>(
    encoding: Encoding,
    service_id: u32,
    name: &str,
    sn: u32,
    req: &T,
) -> Result<WireFrame, PayloadError> {
    encode_api_request_with(encoding, service_id, name, sn, |out| {
        write_payload(encoding, req, out)
    })
}

/// Encodes an API call; `write_req` appends the encoded request.
pub fn encode_api_request_with(
    encoding: Encoding,
    service_id: u32,
    name: &str,
    sn: u32,
    write_req: impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>,
) -> Result<WireFrame, PayloadError> {
    match encoding {
        Encoding::Json => json::encode_with_payload(name, sn, json::Slot::Request, write_req),
        Encoding::Binary => binary::encode_with_payload(
            binary::API_REQUEST,
            &[service_id.into(), sn.into()],
            write_req,
        ),
        Encoding::Tsbuffer => tsbuffer::encode_api_request_with(service_id, sn, write_req),
    }
}

/// Encodes a TSRPC HTTP call's body in TSBuffer mode (no sn: the response
/// is the call's); `write_req` appends the encoded request.
pub fn encode_tsbuffer_http_request_with(
    service_id: u32,
    write_req: impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>,
) -> Result<WireFrame, PayloadError> {
    tsbuffer::encode_client_message_with(service_id, write_req)
}

/// Where a TSBuffer return goes: sn 0 is an HTTP response's (which names
/// neither the service nor the call).
fn tsbuffer_return(service_id: u32, sn: u32) -> Option<tsbuffer::ReturnTo> {
    (sn != 0).then_some(tsbuffer::ReturnTo { service_id, sn })
}

/// Encodes a successful API return of service `service_id` (TSBuffer mode
/// names it by id, JSON mode by `name`); `write_res` appends the encoded
/// response. In TSBuffer mode, sn 0 makes an HTTP response's body.
pub fn encode_api_success(
    encoding: Encoding,
    service_id: u32,
    name: &str,
    sn: u32,
    write_res: impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>,
) -> Result<WireFrame, PayloadError> {
    match encoding {
        Encoding::Json => json::encode_with_payload(name, sn, json::Slot::Success, write_res),
        Encoding::Binary => {
            binary::encode_with_payload(binary::API_SUCCESS, &[sn.into()], write_res)
        }
        Encoding::Tsbuffer => {
            tsbuffer::encode_api_success(tsbuffer_return(service_id, sn), write_res)
        }
    }
}

/// Encodes a failed API return (see [`encode_api_success`]).
pub fn encode_api_error(
    encoding: Encoding,
    service_id: u32,
    name: &str,
    sn: u32,
    err: &TsrpcError,
) -> WireFrame {
    match encoding {
        Encoding::Json => json::encode_api_error(name, sn, err),
        Encoding::Binary => binary::encode_api_error(sn, err),
        Encoding::Tsbuffer => tsbuffer::encode_api_error(tsbuffer_return(service_id, sn), err),
    }
}

/// Encodes a message a server sends; `write_msg` appends the encoded
/// message.
pub fn encode_message_with(
    encoding: Encoding,
    service_id: u32,
    name: &str,
    write_msg: impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>,
) -> Result<WireFrame, PayloadError> {
    match encoding {
        Encoding::Tsbuffer => tsbuffer::encode_server_message_with(service_id, write_msg),
        _ => encode_client_message_with(encoding, service_id, name, write_msg),
    }
}

/// Encodes a message a client sends (the same frame as a server's but in
/// TSBuffer mode, whose two directions have envelopes of their own).
pub fn encode_client_message_with(
    encoding: Encoding,
    service_id: u32,
    name: &str,
    write_msg: impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>,
) -> Result<WireFrame, PayloadError> {
    match encoding {
        Encoding::Json => json::encode_message(name, write_msg),
        Encoding::Binary => {
            binary::encode_with_payload(binary::MESSAGE, &[service_id.into()], write_msg)
        }
        Encoding::Tsbuffer => tsbuffer::encode_client_message_with(service_id, write_msg),
    }
}

/// Encodes a message a server sends.
pub fn encode_message<T: Serialize + ?Sized>(
    encoding: Encoding,
    service_id: u32,
    name: &str,
    msg: &T,
) -> Result<WireFrame, PayloadError> {
    encode_message_with(encoding, service_id, name, |out| {
        write_payload(encoding, msg, out)
    })
}

/// An HTTP JSON success body, `{"isSucc":true,"res":...}`; `write_res`
/// appends the encoded response.
pub fn http_json_success(
    write_res: impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>,
) -> Result<Bytes, PayloadError> {
    json::http_success(write_res)
}

/// An HTTP JSON error body, `{"isSucc":false,"err":{...}}`.
pub fn http_json_error(err: &TsrpcError) -> Bytes {
    json::http_error(err)
}

/// Reads an HTTP JSON return body: the encoded response or the error.
pub fn decode_http_json_return(body: Bytes) -> Result<Result<Payload, TsrpcError>, FrameError> {
    json::decode_http_return(body)
}

/// True when a binary frame is the heartbeat, without decoding it.
pub(crate) fn is_heartbeat(data: &[u8]) -> bool {
    data == [binary::HEARTBEAT]
}

/// The heartbeat frame: one binary `0x00` byte, in both encodings.
pub fn encode_heartbeat() -> WireFrame {
    WireFrame::Binary(Bytes::from_static(&[binary::HEARTBEAT]))
}

/// The binary-mode hello frame carrying a fingerprint.
pub fn encode_hello(fingerprint: Fingerprint) -> WireFrame {
    binary::encode_hello(fingerprint)
}

#[cfg(test)]
mod tests;
