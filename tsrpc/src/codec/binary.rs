//! tsrpc's binary mode: a kind byte, LEB128 varint header fields, then a
//! bincode payload (standard configuration: little endian, varint integers).

use std::marker::PhantomData;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Fingerprint;
use super::depth::Budget;
use super::input_error::Step;
use super::{
    ClientFrame, Encoding, FrameError, PathSeed, Payload, PayloadError, ServerFrame, ServiceRef,
    WireFrame, depth, varint,
};
use crate::error::{ErrorCode, ErrorKind, TsrpcError};

pub(super) const HEARTBEAT: u8 = 0x00;
pub(super) const API_REQUEST: u8 = 0x01;
pub(super) const API_SUCCESS: u8 = 0x02;
pub(super) const API_ERROR: u8 = 0x03;
pub(super) const MESSAGE: u8 = 0x04;
pub(super) const HELLO: u8 = 0x05;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

pub(super) fn write_payload<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), PayloadError> {
    bincode::serde::encode_into_std_write(value, out, config())
        .map(drop)
        .map_err(|e| PayloadError::encode(e.to_string()))
}

fn decode_limited<T: DeserializeOwned, const LIMIT: usize>(
    bytes: &[u8],
) -> Result<T, PayloadError> {
    // Tracking the path costs as much as decoding: do it only to describe
    // a payload that failed (the second pass fails the same way).
    // Every element takes a unit of bincode's limit or of this budget
    // (zero-sized ones take no bytes), and no announced length is believed
    // past the payload's own length.
    let budget = || Budget::new(LIMIT, bytes.len());
    if let Ok((value, used)) = bincode::serde::seed_decode_from_slice(
        depth::seed(PhantomData::<T>, &budget()),
        bytes,
        config().with_limit::<LIMIT>(),
    ) && used == bytes.len()
    {
        return Ok(value);
    }
    let mut path = Vec::new();
    let budget = budget();
    let seed = depth::seed(PathSeed::<T>::new(&mut path), &budget);
    match bincode::serde::seed_decode_from_slice(seed, bytes, config().with_limit::<LIMIT>()) {
        Ok((value, used)) if used == bytes.len() => Ok(value),
        Ok((_, used)) => Err(PayloadError::decode(
            &[],
            format_args!(
                "{} unexpected byte(s) after the payload",
                bytes.len() - used
            ),
        )),
        Err(e) => Err(PayloadError::decode(&path, e)),
    }
}

/// Decodes a bincode payload.
///
/// bincode trusts the length prefixes it reads and allocates for them, so
/// a forged prefix could ask for gigabytes; its limit caps the total it
/// may claim. It claims every decoded value at its size in memory, up to
/// 16 bytes for a one-byte varint (a `u128`), so the cap is the smallest
/// power of four (from 4 KiB) that is at least 16 times the payload's own
/// length: every valid payload stays under it, and no forged one can make
/// the decoder allocate more than 16 times the bytes it was sent.
pub(super) fn decode_payload<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PayloadError> {
    const KI: usize = 1 << 10;
    const MI: usize = 1 << 20;
    match bytes.len() {
        n if n <= 256 => decode_limited::<T, { 4 * KI }>(bytes),
        n if n <= KI => decode_limited::<T, { 16 * KI }>(bytes),
        n if n <= 4 * KI => decode_limited::<T, { 64 * KI }>(bytes),
        n if n <= 16 * KI => decode_limited::<T, { 256 * KI }>(bytes),
        n if n <= 64 * KI => decode_limited::<T, MI>(bytes),
        n if n <= 256 * KI => decode_limited::<T, { 4 * MI }>(bytes),
        n if n <= MI => decode_limited::<T, { 16 * MI }>(bytes),
        n if n <= 4 * MI => decode_limited::<T, { 64 * MI }>(bytes),
        n if n <= 16 * MI => decode_limited::<T, { 256 * MI }>(bytes),
        n if n <= 64 * MI => decode_limited::<T, { 1024 * MI }>(bytes),
        n => Err(PayloadError::decode(
            &[],
            format_args!("payload of {n} bytes is larger than 64 MiB"),
        )),
    }
}

pub(super) fn encode_with_payload(
    kind: u8,
    header: &[u64],
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>,
) -> Result<WireFrame, PayloadError> {
    super::build_frame(|out| {
        out.push(kind);
        for &field in header {
            varint::write(field, out);
        }
        write(out)
    })
    .map(WireFrame::Binary)
}

/// A [`TsrpcError`] in bincode form: bincode cannot carry `serde_json::Value`,
/// so the extra properties travel as JSON text.
#[derive(Serialize, Deserialize)]
struct WireError {
    message: String,
    kind: u8,
    code: WireCode,
    data: String,
}

#[derive(Serialize, Deserialize)]
enum WireCode {
    None,
    Str(String),
    Int(i64),
}

const KINDS: [ErrorKind; 4] = [
    ErrorKind::NetworkError,
    ErrorKind::ServerError,
    ErrorKind::ClientError,
    ErrorKind::ApiError,
];

pub(super) fn encode_api_error(sn: u32, err: &TsrpcError) -> WireFrame {
    let wire = WireError {
        message: err.message.clone(),
        kind: KINDS.iter().position(|k| *k == err.kind).unwrap_or(1) as u8,
        code: match &err.code {
            None => WireCode::None,
            Some(ErrorCode::Str(s)) => WireCode::Str(s.clone()),
            Some(ErrorCode::Int(i)) => WireCode::Int(*i),
        },
        data: if err.data.is_empty() {
            String::new()
        } else {
            Value::Object(err.data.clone()).to_string()
        },
    };
    // Strings and integers always encode.
    encode_with_payload(API_ERROR, &[sn.into()], |out| write_payload(&wire, out))
        .unwrap_or_else(|_| WireFrame::Binary(Bytes::from_static(&[API_ERROR])))
}

fn decode_error(payload: &[u8]) -> Result<TsrpcError, PayloadError> {
    let wire: WireError = decode_payload(payload)?;
    let kind = *KINDS.get(usize::from(wire.kind)).ok_or_else(|| {
        PayloadError::decode(&[], format_args!("unknown error kind {}", wire.kind))
    })?;
    let data = if wire.data.is_empty() {
        Map::new()
    } else {
        serde_json::from_str(&wire.data)
            .map_err(|e| PayloadError::decode(&[Step::Key("data".into())], e))?
    };
    let mut err = TsrpcError::new(kind, wire.message);
    err.code = match wire.code {
        WireCode::None => None,
        WireCode::Str(s) => Some(ErrorCode::Str(s)),
        WireCode::Int(i) => Some(ErrorCode::Int(i)),
    };
    err.data = data;
    Ok(err)
}

pub(super) fn encode_hello(fingerprint: Fingerprint) -> WireFrame {
    let mut out = Vec::with_capacity(9);
    out.push(HELLO);
    out.extend_from_slice(&fingerprint.0.to_be_bytes());
    WireFrame::Binary(out.into())
}

/// Reads the header fields after the kind byte.
struct Header<'a> {
    data: &'a Bytes,
    pos: usize,
}

impl Header<'_> {
    fn u32(&mut self, what: &str) -> Result<u32, FrameError> {
        let (value, used) = varint::read(&self.data[self.pos..])
            .map_err(|e| FrameError::binary(format!("{what}: {e}")))?;
        self.pos += used;
        u32::try_from(value)
            .map_err(|_| FrameError::binary(format!("{what} {value} does not fit in 32 bits")))
    }

    /// A request's sn: like JSON mode's, from 1 (0 is no call's number).
    /// Returns may carry 0: an HTTP error answer to a body whose sn could
    /// not be read.
    fn sn(&mut self) -> Result<u32, FrameError> {
        match self.u32("sn")? {
            0 => Err(FrameError::binary("sn must be from 1 to 4294967295, got 0")),
            sn => Ok(sn),
        }
    }

    fn payload(&self) -> Payload {
        Payload::new(Encoding::Binary, self.data.slice(self.pos..))
    }
}

fn kind_byte(data: &Bytes) -> Result<u8, FrameError> {
    let kind = *data
        .first()
        .ok_or_else(|| FrameError::binary("empty frame"))?;
    if kind == HEARTBEAT && data.len() != 1 {
        return Err(FrameError::binary("a heartbeat is the single byte 0x00"));
    }
    Ok(kind)
}

fn wrong_direction(kind: u8, to: &str) -> FrameError {
    FrameError::binary(format!("frame kind 0x{kind:02x} is never sent to the {to}"))
}

fn unknown(kind: u8) -> FrameError {
    FrameError::binary(format!("unknown frame kind 0x{kind:02x}"))
}

/// An API request frame taken apart where it lies: its service id, its sn
/// and its request's bytes. `None` for any other frame, and for one that
/// [`decode_client_frame`] refuses (which then says why).
pub(super) fn locate_request(data: &[u8]) -> Option<(u32, u32, &[u8])> {
    let rest = data.strip_prefix(&[API_REQUEST])?;
    let (id, a) = varint::read(rest).ok()?;
    let (sn, b) = varint::read(&rest[a..]).ok()?;
    let sn = u32::try_from(sn).ok().filter(|&sn| sn != 0)?;
    Some((u32::try_from(id).ok()?, sn, &rest[a + b..]))
}

pub(super) fn decode_client_frame(data: Bytes) -> Result<ClientFrame, FrameError> {
    let kind = kind_byte(&data)?;
    let mut h = Header {
        data: &data,
        pos: 1,
    };
    Ok(match kind {
        HEARTBEAT => ClientFrame::Heartbeat,
        API_REQUEST => {
            let id = h.u32("service id")?;
            let sn = h.sn()?;
            ClientFrame::ApiRequest {
                service: ServiceRef::Id(id),
                sn,
                payload: h.payload(),
            }
        }
        MESSAGE => {
            let id = h.u32("service id")?;
            ClientFrame::Message {
                service: ServiceRef::Id(id),
                payload: h.payload(),
            }
        }
        HELLO => {
            let bytes: [u8; 8] = data[1..].try_into().map_err(|_| {
                FrameError::binary("a hello frame is 0x05 and an 8-byte fingerprint")
            })?;
            ClientFrame::Hello {
                fingerprint: Fingerprint(u64::from_be_bytes(bytes)),
            }
        }
        API_SUCCESS | API_ERROR => return Err(wrong_direction(kind, "server")),
        _ => return Err(unknown(kind)),
    })
}

pub(super) fn decode_server_frame(data: Bytes) -> Result<ServerFrame, FrameError> {
    let kind = kind_byte(&data)?;
    let mut h = Header {
        data: &data,
        pos: 1,
    };
    Ok(match kind {
        HEARTBEAT => ServerFrame::Heartbeat,
        API_SUCCESS => {
            let sn = h.u32("sn")?;
            ServerFrame::ApiReturn {
                sn,
                service: None,
                result: Ok(h.payload()),
            }
        }
        API_ERROR => {
            let sn = h.u32("sn")?;
            let err = decode_error(&data[h.pos..])
                .map_err(|e| FrameError::binary(format!("API error payload: {e}")))?;
            ServerFrame::ApiReturn {
                sn,
                service: None,
                result: Err(err),
            }
        }
        MESSAGE => {
            let id = h.u32("service id")?;
            ServerFrame::Message {
                service: ServiceRef::Id(id),
                payload: h.payload(),
            }
        }
        API_REQUEST | HELLO => return Err(wrong_direction(kind, "client")),
        _ => return Err(unknown(kind)),
    })
}
