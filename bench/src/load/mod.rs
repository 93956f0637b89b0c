//! The load generator: WebSocket and HTTP calls with a fixed number in
//! flight, broadcast fan-out, idle connections. It speaks the wire formats
//! itself (tokio-tungstenite and hyper, the same for every server) and
//! checks every answer: the first answer of each connection is decoded and
//! compared with the expected response, later ones must match it byte for
//! byte outside the sn (all of them are decoded with `verify_all`).

mod fanout;
mod http;
mod redis;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tsrpc::__wire::{self as codec, Payload, ServerFrame};
use tsrpc::{Api, ServiceTable};
use tsrpc::{Encoding, WireFrame};

use crate::sys;

pub(crate) use fanout::{FanSample, fanout, flood};
pub(crate) use http::http_calls;
pub(crate) use redis::redis_floor;
pub(crate) use ws::ws_calls;

/// A client WebSocket.
pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where WebSocket load goes: a server's address, over TLS or not.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WsTarget {
    pub(crate) addr: SocketAddr,
    pub(crate) tls: bool,
}

/// How long any single network wait may take before the run fails.
const STALL: Duration = Duration::from_secs(20);

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// Checks a decoded response.
type Check = Box<dyn Fn(&Payload) -> Result<(), String> + Send + Sync>;

/// One kind of call, pre-encoded: the request payload and how to check the
/// response.
pub(crate) struct CallSpec {
    encoding: Encoding,
    service_id: u32,
    name: &'static str,
    payload: Bytes,
    check: Check,
}

impl std::fmt::Debug for CallSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallSpec")
            .field("encoding", &self.encoding)
            .field("name", &self.name)
            .field("payload_bytes", &self.payload.len())
            .finish_non_exhaustive()
    }
}

impl CallSpec {
    /// Calls of `R` with `req`, answered with `expected`.
    pub(crate) fn new<R>(encoding: Encoding, req: &R, expected: R::Res) -> CallSpec
    where
        R: Api,
        R::Res: PartialEq + std::fmt::Debug + DeserializeOwned + Serialize,
    {
        let table = ServiceTable::global().expect("the benchmark's service table is valid");
        let service_id = table
            .api(R::NAME)
            .expect("the benchmark's APIs are registered")
            .id();
        let mut payload = Vec::new();
        codec::write_payload(encoding, req, &mut payload).expect("the request encodes");
        CallSpec {
            encoding,
            service_id,
            name: R::NAME,
            payload: payload.into(),
            check: Box::new(move |payload: &Payload| {
                let res: R::Res = payload
                    .decode()
                    .map_err(|e| format!("the response does not decode: {e}"))?;
                if res == expected {
                    Ok(())
                } else {
                    Err(format!(
                        "wrong response: {}",
                        clip(&format!("{res:?}"), 120)
                    ))
                }
            }),
        }
    }

    /// The WebSocket frame calling with serial number `sn`.
    fn ws_request(&self, sn: u32) -> Message {
        let frame =
            codec::encode_api_request_with(self.encoding, self.service_id, self.name, sn, |out| {
                out.extend_from_slice(&self.payload);
                Ok(())
            })
            .expect("copying a payload cannot fail");
        match frame {
            WireFrame::Text(b) => Message::Text(b.try_into().expect("JSON frames are UTF-8")),
            WireFrame::Binary(b) => Message::Binary(b),
        }
    }

    /// The HTTP body of a call (JSON: the request; binary: a request frame,
    /// sn 1; TSBuffer: a request frame without sn, as TSRPC posts it).
    fn http_body(&self) -> Bytes {
        match self.encoding {
            Encoding::Json => self.payload.clone(),
            Encoding::Binary => self.ws_request(1).into_data(),
            Encoding::Tsbuffer => {
                codec::encode_tsbuffer_http_request_with(self.service_id, |out| {
                    out.extend_from_slice(&self.payload);
                    Ok(())
                })
                .expect("a request frame encodes")
                .into_bytes()
            }
        }
    }

    /// Decodes and checks a WebSocket reply; returns its sn.
    fn verify_ws(&self, frame: WireFrame) -> Result<u32, String> {
        match codec::decode_server_frame(self.encoding, frame).map_err(|e| e.to_string())? {
            ServerFrame::ApiReturn {
                sn,
                result: Ok(payload),
                ..
            } => (self.check)(&payload).map(|()| sn),
            ServerFrame::ApiReturn { result: Err(e), .. } => {
                Err(format!("the call failed: {}", e.message))
            }
            other => Err(format!("expected an API return, got {other:?}")),
        }
    }

    /// Decodes and checks an HTTP reply body.
    fn verify_http(&self, body: Bytes) -> Result<(), String> {
        match self.encoding {
            Encoding::Json => {
                match codec::decode_http_json_return(body).map_err(|e| e.to_string())? {
                    Ok(payload) => (self.check)(&payload),
                    Err(e) => Err(format!("the call failed: {}", e.message)),
                }
            }
            Encoding::Binary | Encoding::Tsbuffer => {
                self.verify_ws(WireFrame::Binary(body)).map(drop)
            }
        }
    }
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

/// The sn of a reply, and the reply without it (for comparing replies).
fn split_sn(encoding: Encoding, frame: &[u8]) -> Option<(u32, usize, &[u8])> {
    match encoding {
        // [name, {...}, sn]
        Encoding::Json => {
            let (&last, body) = frame.split_last()?;
            if last != b']' {
                return None;
            }
            let comma = body.iter().rposition(|&b| b == b',')?;
            let digits = &body[comma + 1..];
            let sn = std::str::from_utf8(digits).ok()?.parse().ok()?;
            Some((sn, frame.len() - digits.len(), &body[..comma.min(64)]))
        }
        // 0x02 sn payload
        Encoding::Binary => {
            if frame.first() != Some(&0x02) {
                return None;
            }
            let mut sn: u64 = 0;
            let mut len = 0;
            for (i, &b) in frame[1..].iter().enumerate().take(5) {
                sn |= u64::from(b & 0x7f) << (7 * i);
                if b & 0x80 == 0 {
                    len = i + 1;
                    break;
                }
            }
            if len == 0 {
                return None;
            }
            let rest = &frame[1 + len..];
            Some((
                u32::try_from(sn).ok()?,
                frame.len() - len,
                &rest[..rest.len().min(64)],
            ))
        }
        // {buffer, serviceId, sn}: the sn's block (0x35) and varint last
        Encoding::Tsbuffer => {
            let (&last, _) = frame.split_last()?;
            if last & 0x80 != 0 {
                return None;
            }
            let mut start = frame.len() - 1;
            while start > 0 && frame[start - 1] & 0x80 != 0 {
                start -= 1;
            }
            if start == 0 || frame[start - 1] != 0x35 || frame.len() - start > 5 {
                return None;
            }
            let sn = frame[start..]
                .iter()
                .enumerate()
                .fold(0u64, |sn, (i, &b)| sn | (u64::from(b & 0x7f) << (7 * i)));
            let body = &frame[..start - 1];
            Some((u32::try_from(sn).ok()?, start, &body[..body.len().min(64)]))
        }
    }
}

/// Connects a WebSocket from the next loopback source address, offering
/// `protocol` (`text` or `buffer`).
pub(crate) async fn connect_ws(
    target: WsTarget,
    protocol: &str,
    read_buffer: usize,
) -> Result<Ws, String> {
    let addr = target.addr;
    let stream = connect_tcp(addr).await?;
    let (scheme, connector) = if target.tls {
        ("wss", Connector::Rustls(crate::tls::client_config()))
    } else {
        ("ws", Connector::Plain)
    };
    let mut req = format!("{scheme}://localhost:{}/", addr.port())
        .into_client_request()
        .map_err(|e| e.to_string())?;
    req.headers_mut().insert(
        ::http::header::SEC_WEBSOCKET_PROTOCOL,
        ::http::HeaderValue::from_str(protocol).map_err(|e| e.to_string())?,
    );
    let config = WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        // Frames are fed, then flushed together: one write per batch.
        .write_buffer_size(64 << 10)
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let (ws, _) = tokio::time::timeout(
        STALL,
        tokio_tungstenite::client_async_tls_with_config(req, stream, Some(config), Some(connector)),
    )
    .await
    .map_err(|_| format!("WebSocket handshake with {addr} timed out"))?
    .map_err(|e| format!("WebSocket handshake with {addr} failed: {e}"))?;
    Ok(ws)
}

async fn connect_tcp(addr: SocketAddr) -> Result<TcpStream, String> {
    let mut last = String::new();
    for attempt in 0..5u64 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
        }
        let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
        if let Err(e) = socket.bind(SocketAddr::new(sys::next_source_ip(), 0)) {
            last = format!("bind: {e}");
            continue;
        }
        match tokio::time::timeout(STALL, socket.connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last = format!("connect to {addr}: {e}"),
            Err(_) => last = format!("connect to {addr}: timed out"),
        }
    }
    Err(last)
}

/// Connects `n` WebSockets, at most 256 handshakes at a time.
pub(crate) async fn connect_many(
    target: WsTarget,
    protocol: &'static str,
    n: usize,
    read_buffer: usize,
) -> Result<Vec<Ws>, String> {
    let sem = Arc::new(tokio::sync::Semaphore::new(256));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.map_err(|e| e.to_string())?;
            connect_ws(target, protocol, read_buffer).await
        }));
    }
    let mut out = Vec::with_capacity(n);
    for task in tasks {
        out.push(task.await.map_err(|e| e.to_string())??);
    }
    Ok(out)
}

/// The measured window of a load run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    /// Load before measuring.
    pub(crate) warmup: Duration,
    /// The measured time.
    pub(crate) measure: Duration,
}

/// What one run of calls measured.
#[derive(Clone, Debug, Default)]
pub(crate) struct CallSample {
    /// Calls answered inside the window, per second.
    pub(crate) rate: f64,
    /// Median latency, µs.
    pub(crate) p50_us: f64,
    /// 99th percentile latency, µs.
    pub(crate) p99_us: f64,
    /// The server's CPU time over the window, per call, µs.
    pub(crate) cpu_us_per_call: Option<f64>,
    /// The server's CPU use over the window, in CPUs (1.0: one core busy).
    pub(crate) cpu_load: Option<f64>,
    /// The load generator's CPU use over the window, in CPUs.
    pub(crate) load_cpu: Option<f64>,
}

#[derive(Default)]
struct ConnStats {
    calls: u64,
    latencies_us: Vec<u32>,
    error: Option<String>,
}

struct Run {
    phase: AtomicU8,
}

async fn measure(
    tasks: Vec<tokio::task::JoinHandle<ConnStats>>,
    run: &Run,
    window: Window,
    pid: Option<u32>,
) -> Result<CallSample, String> {
    tokio::time::sleep(window.warmup).await;
    let cpu_start = pid.and_then(sys::cpu_of);
    let own_start = sys::cpu_of(std::process::id());
    let start = Instant::now();
    run.phase.store(MEASURE, Ordering::Relaxed);
    tokio::time::sleep(window.measure).await;
    run.phase.store(STOP, Ordering::Relaxed);
    let seconds = start.elapsed().as_secs_f64();
    let cpu = pid
        .and_then(sys::cpu_of)
        .zip(cpu_start)
        .map(|(end, start)| (end - start).as_secs_f64());
    let own = sys::cpu_of(std::process::id())
        .zip(own_start)
        .map(|(end, start)| (end - start).as_secs_f64());
    let mut calls = 0;
    let mut latencies = Vec::new();
    for task in tasks {
        let stats = tokio::time::timeout(STALL + Duration::from_secs(5), task)
            .await
            .map_err(|_| "a load connection did not stop".to_owned())?
            .map_err(|e| format!("a load connection failed: {e}"))?;
        if let Some(error) = stats.error {
            return Err(error);
        }
        calls += stats.calls;
        latencies.extend(stats.latencies_us);
    }
    if calls == 0 {
        return Err("no call was answered in the measured window".into());
    }
    latencies.sort_unstable();
    let pick = |q: f64| {
        let i = ((latencies.len() as f64 * q) as usize).min(latencies.len() - 1);
        f64::from(latencies[i])
    };
    Ok(CallSample {
        rate: calls as f64 / seconds,
        p50_us: pick(0.5),
        p99_us: pick(0.99),
        cpu_us_per_call: cpu.map(|c| c * 1e6 / calls as f64),
        cpu_load: cpu.map(|c| c / seconds),
        load_cpu: own.map(|c| c / seconds),
    })
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}
