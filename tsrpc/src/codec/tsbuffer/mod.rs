//! TSRPC's binary protocol: TSBuffer payloads in TSRPC's envelopes
//! (`ServerInputData`, `ServerOutputData`), as `tsrpc-proto` and
//! `tsrpc-base-client` define them. WIRE.md describes the bytes.
//!
//! A payload is encoded with its type's TSBuffer schema, the one the
//! TypeScript export writes into `serviceProto.json`; since the export maps
//! each Rust shape to one schema, the serde calls alone say which schema a
//! value has (`ser.rs`, `de.rs`). Ids are positions unless a project's
//! `serviceProto` is in use (`ids.rs`, `crate::schema::ids`).

mod de;
mod ids;

pub(super) use ids::NO_SERVICE;
mod ser;
#[cfg(test)]
mod tests;

use std::marker::PhantomData;

use bytes::Bytes;
use serde::Serialize;
use serde::de::{DeserializeOwned, DeserializeSeed};
use serde_json::Value;

use super::depth::{self, Budget};
use super::{
    ClientFrame, FrameError, PathSeed, Payload, PayloadError, ServerFrame, ServiceRef, WireFrame,
    varint,
};
use crate::codec::Encoding;
use crate::error::{ErrorCode, ErrorKind, TsrpcError};

/// A property's block id is its id plus this (ids 1 to 9 are `extends`,
/// 0 an index-signature entry).
const PROPERTY_BASE: u64 = 10;

/// The length type in the low two bits of a block's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LenType {
    /// A string, a buffer: length-prefixed by itself; or a literal.
    Delimited,
    /// A varint (integers, booleans, enums, dates).
    Varint,
    /// Eight bytes (a double).
    Bit64,
    /// A block list (interfaces, unions).
    IdBlock,
    /// An array or a tuple: length type 0, with its byte length in front
    /// of it inside a block.
    Prefixed,
}

impl LenType {
    fn bits(self) -> u64 {
        match self {
            LenType::Delimited | LenType::Prefixed => 0,
            LenType::Varint => 1,
            LenType::Bit64 => 2,
            LenType::IdBlock => 3,
        }
    }

    fn from_bits(head: u64) -> Self {
        match head & 3 {
            0 => LenType::Delimited,
            1 => LenType::Varint,
            2 => LenType::Bit64,
            _ => LenType::IdBlock,
        }
    }
}

/// What went wrong encoding or decoding a TSBuffer value.
#[derive(Debug)]
pub(super) struct Error(String);

impl Error {
    fn new(message: impl Into<String>) -> Self {
        Error(message.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl serde::ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

impl serde::de::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

fn varint_write(value: u64, out: &mut Vec<u8>) {
    varint::write(value, out);
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    varint_write(s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

/// Appends `value` as a TSBuffer payload.
pub(super) fn write_payload<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), PayloadError> {
    ser::write(value, out).map_err(|e| PayloadError::encode(e.to_string()))
}

/// Decodes a TSBuffer payload, which must be read to its end.
///
/// Every length and count is checked against the bytes left before it is
/// believed, so a forged one allocates nothing; elements that take no
/// bytes (of `()`) are bounded by the element budget, nesting by
/// [`depth::MAX_DEPTH`].
pub(super) fn decode_payload<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PayloadError> {
    let budget = || Budget::new(bytes.len().saturating_mul(16).max(4096), bytes.len());
    let mut de = de::De::new(bytes);
    if let Ok(value) = depth::seed(PhantomData::<T>, &budget()).deserialize(&mut de)
        && de.left() == 0
    {
        return Ok(value);
    }
    decode_failed(bytes, &budget())
}

/// Decodes `bytes` again, to say where and why it failed.
#[cold]
#[inline(never)]
fn decode_failed<T: DeserializeOwned>(bytes: &[u8], budget: &Budget) -> Result<T, PayloadError> {
    let mut de = de::De::new(bytes);
    let mut path = Vec::new();
    let seed = depth::seed(PathSeed::<T>::new(&mut path), budget);
    match seed.deserialize(&mut de) {
        Ok(value) if de.left() == 0 => Ok(value),
        Ok(_) => Err(PayloadError::decode(
            &[],
            format_args!("{} unexpected byte(s) after the payload", de.left()),
        )),
        Err(e) => Err(PayloadError::decode(&path, e)),
    }
}

// `ServerInputData` (client to server) property ids.
const IN_SERVICE_ID: u64 = PROPERTY_BASE;
const IN_BUFFER: u64 = PROPERTY_BASE + 1;
const IN_SN: u64 = PROPERTY_BASE + 2;
// `ServerOutputData` (server to client) property ids.
const OUT_BUFFER: u64 = PROPERTY_BASE;
const OUT_ERROR: u64 = PROPERTY_BASE + 1;
const OUT_SERVICE_ID: u64 = PROPERTY_BASE + 2;
const OUT_SN: u64 = PROPERTY_BASE + 3;
// `TsrpcErrorData` property ids.
const ERR_MESSAGE: u64 = PROPERTY_BASE;
const ERR_TYPE: u64 = PROPERTY_BASE + 1;
const ERR_CODE: u64 = PROPERTY_BASE + 2;

fn head(id: u64, lt: LenType, out: &mut Vec<u8>) {
    varint_write((id << 2) | lt.bits(), out);
}

fn uint_block(id: u64, value: u32, out: &mut Vec<u8>) {
    head(id, LenType::Varint, out);
    varint_write(value.into(), out);
}

/// A service id's block: the table's id `service_id` as the wire names it.
fn service_block(id: u64, service_id: u32, out: &mut Vec<u8>) {
    uint_block(id, ids::service_to_wire(service_id), out);
}

/// The `buffer` block: `write` appends the payload, which then gets its
/// length in front.
fn buffer_block(
    id: u64,
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>,
) -> Result<(), PayloadError> {
    head(id, LenType::Delimited, out);
    let start = out.len();
    write(out)?;
    let mut len = Vec::with_capacity(4);
    varint_write((out.len() - start) as u64, &mut len);
    out.splice(start..start, len);
    Ok(())
}

/// A frame: `count` blocks, written by `write`.
fn frame(
    count: u64,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>,
) -> Result<WireFrame, PayloadError> {
    super::build_frame(|out| {
        varint_write(count, out);
        write(out)
    })
    .map(WireFrame::Binary)
}

/// A client's API call: `{ serviceId, buffer, sn }`.
pub(super) fn encode_api_request_with(
    service_id: u32,
    sn: u32,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>,
) -> Result<WireFrame, PayloadError> {
    frame(3, |out| {
        service_block(IN_SERVICE_ID, service_id, out);
        buffer_block(IN_BUFFER, out, write)?;
        uint_block(IN_SN, sn, out);
        Ok(())
    })
}

/// A client's message: `{ serviceId, buffer }`. Also the body of a
/// TSRPC HTTP call, which has no sn.
pub(super) fn encode_client_message_with(
    service_id: u32,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>,
) -> Result<WireFrame, PayloadError> {
    frame(2, |out| {
        service_block(IN_SERVICE_ID, service_id, out);
        buffer_block(IN_BUFFER, out, write)
    })
}

/// A server's message: `{ buffer, serviceId }`.
pub(super) fn encode_server_message_with(
    service_id: u32,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>,
) -> Result<WireFrame, PayloadError> {
    frame(2, |out| {
        buffer_block(OUT_BUFFER, out, write)?;
        service_block(OUT_SERVICE_ID, service_id, out);
        Ok(())
    })
}

/// Where a return goes: over WebSocket, the call's service id and sn;
/// over HTTP, neither (the response is the call's).
#[derive(Clone, Copy, Debug)]
pub(super) struct ReturnTo {
    pub(super) service_id: u32,
    pub(super) sn: u32,
}

fn return_blocks(to: Option<ReturnTo>, out: &mut Vec<u8>) {
    if let Some(to) = to {
        service_block(OUT_SERVICE_ID, to.service_id, out);
        uint_block(OUT_SN, to.sn, out);
    }
}

/// A successful return: `{ buffer, serviceId, sn }` (`{ buffer }` over HTTP).
pub(super) fn encode_api_success(
    to: Option<ReturnTo>,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>,
) -> Result<WireFrame, PayloadError> {
    frame(if to.is_some() { 3 } else { 1 }, |out| {
        buffer_block(OUT_BUFFER, out, write)?;
        return_blocks(to, out);
        Ok(())
    })
}

/// A failed return: `{ error, serviceId, sn }` (`{ error }` over HTTP).
pub(super) fn encode_api_error(to: Option<ReturnTo>, err: &TsrpcError) -> WireFrame {
    let frame = frame(if to.is_some() { 3 } else { 1 }, |out| {
        head(OUT_ERROR, LenType::IdBlock, out);
        write_error(err, out);
        return_blocks(to, out);
        Ok(())
    });
    // Nothing in it can fail to encode.
    frame.unwrap_or_else(|_| WireFrame::Binary(Bytes::from_static(&[0])))
}

const KINDS: [ErrorKind; 4] = [
    ErrorKind::NetworkError,
    ErrorKind::ServerError,
    ErrorKind::ClientError,
    ErrorKind::ApiError,
];

/// `TsrpcErrorData`: message, type, code (`string | int`), and the extra
/// properties as index-signature entries whose values are JSON text.
fn write_error(err: &TsrpcError, out: &mut Vec<u8>) {
    let count = 2 + u64::from(err.code.is_some()) + err.data.len() as u64;
    varint_write(count, out);
    head(ERR_MESSAGE, LenType::Delimited, out);
    write_str(&err.message, out);
    head(ERR_TYPE, LenType::Varint, out);
    let kind = KINDS.iter().position(|k| *k == err.kind).unwrap_or(1);
    varint_write(kind as u64, out);
    match &err.code {
        None => {}
        Some(ErrorCode::Str(code)) => {
            head(ERR_CODE, LenType::IdBlock, out);
            varint_write(1, out);
            head(0, LenType::Delimited, out);
            write_str(code, out);
        }
        Some(ErrorCode::Int(code)) => {
            head(ERR_CODE, LenType::IdBlock, out);
            varint_write(1, out);
            head(1, LenType::Varint, out);
            varint_write(((code << 1) ^ (code >> 63)) as u64, out);
        }
    }
    for (key, value) in &err.data {
        head(0, LenType::Delimited, out);
        write_str(key, out);
        write_str(&value.to_string(), out);
    }
}

fn malformed(e: impl std::fmt::Display) -> FrameError {
    FrameError::tsbuffer(e.to_string())
}

fn read_u32(de: &mut de::De<'_>, what: &str) -> Result<u32, FrameError> {
    let value = de.varint().map_err(malformed)?;
    u32::try_from(value)
        .map_err(|_| malformed(format_args!("{what} {value} does not fit in 32 bits")))
}

/// A service id, as the table's id ([`NO_SERVICE`] for one the installed
/// `serviceProto` does not have).
fn read_service(de: &mut de::De<'_>) -> Result<u32, FrameError> {
    read_u32(de, "the service id").map(ids::service_from_wire)
}

/// The `buffer` block's payload, as a slice of `data`.
fn read_buffer(de: &mut de::De<'_>, data: &Bytes) -> Result<Payload, FrameError> {
    let n = de.len("the buffer's length").map_err(malformed)?;
    let at = data.len() - de.left();
    de.bytes(n).map_err(malformed)?;
    Ok(Payload::new(Encoding::Tsbuffer, data.slice(at..at + n)))
}

/// A WebSocket API call (`{ serviceId, buffer, sn }`, in any order) taken
/// apart where it lies: its service id, sn and request bytes. `None` for
/// anything else, which [`decode_client_frame`] then reads (and refuses,
/// saying why, if it must).
pub(super) fn locate_request(data: &[u8]) -> Option<(u32, u32, &[u8])> {
    let mut de = de::De::new(data);
    if de.varint().ok()? != 3 {
        return None;
    }
    let (mut service, mut body, mut sn) = (None, None, None);
    for _ in 0..3 {
        match de.header().ok()?.0 {
            IN_SERVICE_ID => {
                service = u32::try_from(de.varint().ok()?)
                    .ok()
                    .map(ids::service_from_wire);
            }
            IN_BUFFER => {
                let n = de.len("").ok()?;
                body = Some(de.bytes(n).ok()?);
            }
            IN_SN => sn = u32::try_from(de.varint().ok()?).ok().filter(|&sn| sn != 0),
            _ => return None,
        }
    }
    if de.left() != 0 {
        return None;
    }
    Some((service?, sn?, body?))
}

/// Decodes a binary frame from a TSRPC client: the heartbeat, or a
/// `ServerInputData`. One with an sn is an API call (as over WebSocket);
/// one without is a message, or a TSRPC HTTP call (which the HTTP adapter,
/// knowing the service is an API, answers).
pub(super) fn decode_client_frame(data: Bytes) -> Result<ClientFrame, FrameError> {
    if data.first() == Some(&0) {
        return if data.len() == 1 {
            Ok(ClientFrame::Heartbeat)
        } else {
            Err(malformed(
                "a frame starting with 0x00 is the heartbeat, one byte",
            ))
        };
    }
    let mut de = de::De::new(&data);
    let count = de.len("the block count").map_err(malformed)?;
    let (mut service, mut payload, mut sn) = (None, None, None);
    for _ in 0..count {
        let (id, lt) = de.header().map_err(malformed)?;
        match id {
            IN_SERVICE_ID => service = Some(read_service(&mut de)?),
            IN_BUFFER => payload = Some(read_buffer(&mut de, &data)?),
            IN_SN => sn = Some(read_u32(&mut de, "the sn")?),
            _ => de.skip(lt, 0).map_err(malformed)?,
        }
    }
    if de.left() != 0 {
        return Err(malformed(format_args!(
            "{} unexpected byte(s) after the frame",
            de.left()
        )));
    }
    let service = ServiceRef::Id(service.ok_or_else(|| malformed("no serviceId"))?);
    let payload = payload.ok_or_else(|| malformed("no buffer"))?;
    Ok(match sn {
        Some(0) => return Err(malformed("sn must be from 1 to 4294967295, got 0")),
        Some(sn) => ClientFrame::ApiRequest {
            service,
            sn,
            payload,
        },
        None => ClientFrame::Message { service, payload },
    })
}

/// Decodes a binary frame from a TSRPC server: the heartbeat, or a
/// `ServerOutputData`. A return read from an HTTP response carries no sn:
/// it is given as 0.
pub(super) fn decode_server_frame(data: Bytes) -> Result<ServerFrame, FrameError> {
    if data.as_ref() == [0] {
        return Ok(ServerFrame::Heartbeat);
    }
    let mut de = de::De::new(&data);
    let count = de.len("the block count").map_err(malformed)?;
    let (mut payload, mut error, mut service, mut sn) = (None, None, None, None);
    for _ in 0..count {
        let (id, lt) = de.header().map_err(malformed)?;
        match id {
            OUT_BUFFER => payload = Some(read_buffer(&mut de, &data)?),
            OUT_ERROR => error = Some(read_error(&mut de)?),
            OUT_SERVICE_ID => service = Some(read_service(&mut de)?),
            OUT_SN => sn = Some(read_u32(&mut de, "the sn")?),
            _ => de.skip(lt, 0).map_err(malformed)?,
        }
    }
    Ok(match (error, payload, sn) {
        (Some(err), _, sn) => ServerFrame::ApiReturn {
            sn: sn.unwrap_or(0),
            service: None,
            result: Err(err),
        },
        (None, Some(payload), Some(sn)) => ServerFrame::ApiReturn {
            sn,
            service: None,
            result: Ok(payload),
        },
        (None, Some(payload), None) => match service {
            Some(id) => ServerFrame::Message {
                service: ServiceRef::Id(id),
                payload,
            },
            None => ServerFrame::ApiReturn {
                sn: 0,
                service: None,
                result: Ok(payload),
            },
        },
        (None, None, _) => return Err(malformed("neither a buffer nor an error")),
    })
}

fn read_error(de: &mut de::De<'_>) -> Result<TsrpcError, FrameError> {
    let count = de.len("the error's block count").map_err(malformed)?;
    let mut err = TsrpcError::new(ErrorKind::ApiError, "");
    for _ in 0..count {
        let (id, lt) = de.header().map_err(malformed)?;
        match id {
            ERR_MESSAGE => err.message = de.str().map_err(malformed)?.to_owned(),
            ERR_TYPE => {
                let kind = de.varint().map_err(malformed)?;
                err.kind = usize::try_from(kind)
                    .ok()
                    .and_then(|k| KINDS.get(k).copied())
                    .ok_or_else(|| malformed(format_args!("unknown error type {kind}")))?;
            }
            ERR_CODE => {
                let n = de.varint().map_err(malformed)?;
                for _ in 0..n {
                    match de.header().map_err(malformed)? {
                        (0, _) => {
                            err.code = Some(ErrorCode::Str(de.str().map_err(malformed)?.into()));
                        }
                        (1, _) => {
                            let n = de.varint().map_err(malformed)?;
                            err.code = Some(ErrorCode::Int(((n >> 1) as i64) ^ -((n & 1) as i64)));
                        }
                        (_, lt) => de.skip(lt, 0).map_err(malformed)?,
                    }
                }
            }
            0 => {
                let key = de.str().map_err(malformed)?.to_owned();
                let text = de.str().map_err(malformed)?;
                let value: Value = serde_json::from_str(text)
                    .map_err(|e| malformed(format_args!("error property {key:?}: {e}")))?;
                err.data.insert(key, value);
            }
            _ => de.skip(lt, 0).map_err(malformed)?,
        }
    }
    Ok(err)
}
