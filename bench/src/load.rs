//! The load generator: WebSocket and HTTP calls with a fixed number in
//! flight, broadcast fan-out, idle connections. It speaks the wire formats
//! itself (tokio-tungstenite and hyper, the same for every server) and
//! checks every answer: the first answer of each connection is decoded and
//! compared with the expected response, later ones must match it byte for
//! byte outside the sn (all of them are decoded with `verify_all`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Notify, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tsrpc::__wire::{self as codec, Payload, ServerFrame};
use tsrpc::{Api, ServiceTable};
use tsrpc::{Encoding, WireFrame};

use crate::proto::{ReqBroadcast, ResBroadcast};
use crate::sys;

/// A client WebSocket.
pub(crate) type Ws = WebSocketStream<TcpStream>;

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

    /// The HTTP body of a call (JSON: the request; binary: a request frame, sn 1).
    fn http_body(&self) -> Bytes {
        match self.encoding {
            Encoding::Json => self.payload.clone(),
            Encoding::Binary => self.ws_request(1).into_data(),
        }
    }

    /// Decodes and checks a WebSocket reply; returns its sn.
    fn verify_ws(&self, frame: WireFrame) -> Result<u32, String> {
        match codec::decode_server_frame(frame).map_err(|e| e.to_string())? {
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
            Encoding::Binary => self.verify_ws(WireFrame::Binary(body)).map(drop),
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
    }
}

/// Connects a WebSocket from the next loopback source address, offering
/// `protocol` (`text` or `buffer`).
pub(crate) async fn connect_ws(
    addr: SocketAddr,
    protocol: &str,
    read_buffer: usize,
) -> Result<Ws, String> {
    let stream = connect_tcp(addr).await?;
    let mut req = format!("ws://{addr}/")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    req.headers_mut().insert(
        http::header::SEC_WEBSOCKET_PROTOCOL,
        http::HeaderValue::from_str(protocol).map_err(|e| e.to_string())?,
    );
    let config = WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        // Frames are fed, then flushed together: one write per batch.
        .write_buffer_size(64 << 10)
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let (ws, _) = tokio::time::timeout(
        STALL,
        tokio_tungstenite::client_async_with_config(req, stream, Some(config)),
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
    addr: SocketAddr,
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
            connect_ws(addr, protocol, read_buffer).await
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

/// Runs `conns` WebSocket connections with `inflight` calls each against
/// `addr`, and measures the server `pid`'s CPU time over the window.
pub(crate) async fn ws_calls(
    addr: SocketAddr,
    spec: Arc<CallSpec>,
    conns: usize,
    inflight: usize,
    window: Window,
    pid: Option<u32>,
    verify_all: bool,
) -> Result<CallSample, String> {
    let protocol = match spec.encoding {
        Encoding::Json => "text",
        Encoding::Binary => "buffer",
    };
    let read_buffer = (spec.payload.len() * 2).clamp(16 << 10, 512 << 10);
    let mut sockets = connect_many(addr, protocol, conns, read_buffer).await?;
    if spec.encoding == Encoding::Binary {
        let fingerprint = ServiceTable::global()
            .map_err(|e| e.to_string())?
            .fingerprint();
        let hello = Message::Binary(codec::encode_hello(fingerprint).into_bytes());
        for ws in &mut sockets {
            ws.send(hello.clone()).await.map_err(|e| e.to_string())?;
        }
    }
    let run = Arc::new(Run {
        phase: AtomicU8::new(WARMUP),
    });
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|ws| {
            tokio::spawn(ws_call_conn(
                ws,
                spec.clone(),
                inflight,
                run.clone(),
                verify_all,
            ))
        })
        .collect();
    measure(tasks, &run, window, pid).await
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

/// One connection of [`ws_calls`]: keeps `inflight` calls going, each
/// answer starting the next call in its slot, until the run stops.
async fn ws_call_conn(
    mut ws: Ws,
    spec: Arc<CallSpec>,
    inflight: usize,
    run: Arc<Run>,
    verify_all: bool,
) -> ConnStats {
    let mut stats = ConnStats::default();
    let slots = u32::try_from(inflight).unwrap_or(u32::MAX);
    let mut sent_sn: Vec<u32> = (1..=slots).collect();
    let mut starts = vec![Instant::now(); inflight];
    // The first verified reply, without its sn: later ones must equal it.
    let mut reference: Option<(usize, Vec<u8>)> = None;
    for (slot, &sn) in sent_sn.iter().enumerate() {
        starts[slot] = Instant::now();
        if let Err(e) = ws.feed(spec.ws_request(sn)).await {
            stats.error = Some(format!("sending failed: {e}"));
            return stats;
        }
    }
    let mut outstanding = inflight;
    let fail = |mut stats: ConnStats, e: String| {
        stats.error = Some(e);
        stats
    };
    loop {
        if let Err(e) = ws.flush().await {
            return fail(stats, format!("sending failed: {e}"));
        }
        let mut next = match tokio::time::timeout(STALL, ws.next()).await {
            Ok(next) => next,
            Err(_) => return fail(stats, format!("no answer for {STALL:?}")),
        };
        loop {
            let frame = match next {
                Some(Ok(Message::Text(t))) => WireFrame::Text(t.into()),
                Some(Ok(Message::Binary(b))) => WireFrame::Binary(b),
                Some(Ok(Message::Close(c))) => {
                    return fail(stats, format!("the server closed the connection: {c:?}"));
                }
                Some(Ok(_)) => {
                    next = match ws.next().now_or_never() {
                        Some(n) => n,
                        None => break,
                    };
                    continue;
                }
                Some(Err(e)) => return fail(stats, format!("connection error: {e}")),
                None => return fail(stats, "the connection ended".into()),
            };
            let now = Instant::now();
            let Some((sn, len, head)) = split_sn(spec.encoding, frame.as_bytes()) else {
                return fail(
                    stats,
                    format!(
                        "not an API return: {}",
                        clip(&String::from_utf8_lossy(frame.as_bytes()), 120)
                    ),
                );
            };
            let slot = (sn.wrapping_sub(1) % slots) as usize;
            if sn == 0 || sent_sn[slot] != sn {
                return fail(stats, format!("answer to sn {sn}, which is not in flight"));
            }
            let same = reference
                .as_ref()
                .is_some_and(|(l, h)| *l == len && h.as_slice() == head);
            if verify_all || !same {
                let reference_now = (len, head.to_vec());
                if let Err(e) = spec.verify_ws(frame) {
                    return fail(stats, e);
                }
                if reference.is_some() && !same {
                    return fail(stats, "an answer differs from the first one".into());
                }
                reference = Some(reference_now);
            }
            // One read of the phase per answer: reading it twice let an
            // answer that saw STOP turn up neither counted down nor refilled.
            let phase = run.phase.load(Ordering::Relaxed);
            match phase {
                MEASURE => {
                    stats.calls += 1;
                    stats.latencies_us.push(micros(now - starts[slot]));
                }
                STOP => {
                    outstanding -= 1;
                    if outstanding == 0 {
                        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                        return stats;
                    }
                }
                _ => {}
            }
            if phase != STOP {
                let sn = sn + slots;
                sent_sn[slot] = sn;
                starts[slot] = now;
                if let Err(e) = ws.feed(spec.ws_request(sn)).await {
                    return fail(stats, format!("sending failed: {e}"));
                }
            }
            next = match ws.next().now_or_never() {
                Some(n) => n,
                None => break,
            };
        }
    }
}

/// Runs `conns` keep-alive HTTP/1.1 connections, one call in flight on
/// each, against `addr`.
///
/// The client is a minimal HTTP/1.1 writer and reader (one pre-built
/// request, responses with a `Content-Length`), several times cheaper than
/// a full client, so that the servers rather than the load generator set
/// the pace.
pub(crate) async fn http_calls(
    addr: SocketAddr,
    spec: Arc<CallSpec>,
    conns: usize,
    window: Window,
    pid: Option<u32>,
    verify_all: bool,
) -> Result<CallSample, String> {
    let run = Arc::new(Run {
        phase: AtomicU8::new(WARMUP),
    });
    let fingerprint = ServiceTable::global()
        .map_err(|e| e.to_string())?
        .fingerprint();
    let body = spec.http_body();
    let mut request = format!(
        "POST /{} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        spec.name,
        match spec.encoding {
            Encoding::Json => "application/json",
            Encoding::Binary => "application/octet-stream",
        },
        body.len()
    );
    if spec.encoding == Encoding::Binary {
        request.push_str(&format!("X-Tsrpc-Fingerprint: {fingerprint}\r\n"));
    }
    request.push_str("\r\n");
    let mut request = request.into_bytes();
    request.extend_from_slice(&body);
    let request = Bytes::from(request);
    let sem = Arc::new(tokio::sync::Semaphore::new(256));
    let mut connecting = Vec::with_capacity(conns);
    for _ in 0..conns {
        let sem = sem.clone();
        connecting.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.map_err(|e| e.to_string())?;
            connect_tcp(addr).await
        }));
    }
    let mut streams = Vec::with_capacity(conns);
    for c in connecting {
        streams.push(c.await.map_err(|e| e.to_string())??);
    }
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|stream| {
            tokio::spawn(http_call_conn(
                stream,
                request.clone(),
                spec.clone(),
                run.clone(),
                verify_all,
            ))
        })
        .collect();
    measure(tasks, &run, window, pid).await
}

/// Reads one HTTP/1.1 response from `stream` (bytes already read are in
/// `buf`); returns its body if the status is 200.
async fn read_response(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<Bytes, String> {
    loop {
        if let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..head_end])
                .map_err(|_| "response headers are not UTF-8".to_owned())?;
            let mut lines = head.split("\r\n");
            let status = lines.next().unwrap_or_default().to_owned();
            let mut length = None;
            for line in lines {
                let Some((name, value)) = line.split_once(':') else {
                    continue;
                };
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(format!("unexpected Transfer-Encoding: {}", value.trim()));
                }
            }
            let length = length.ok_or("a response without Content-Length")?;
            let total = head_end + 4 + length;
            while buf.len() < total {
                if stream.read_buf(buf).await.map_err(|e| e.to_string())? == 0 {
                    return Err("the server closed the connection".into());
                }
            }
            let mut response = buf.split_to(total);
            let body = response.split_off(head_end + 4).freeze();
            if !status.starts_with("HTTP/1.1 200") {
                return Err(format!(
                    "{status}: {}",
                    clip(&String::from_utf8_lossy(&body), 120)
                ));
            }
            return Ok(body);
        }
        if stream.read_buf(buf).await.map_err(|e| e.to_string())? == 0 {
            return Err("the server closed the connection".into());
        }
    }
}

async fn http_call_conn(
    mut stream: TcpStream,
    request: Bytes,
    spec: Arc<CallSpec>,
    run: Arc<Run>,
    verify_all: bool,
) -> ConnStats {
    let mut stats = ConnStats::default();
    let mut buf = BytesMut::with_capacity(8 << 10);
    let mut reference: Option<Bytes> = None;
    while run.phase.load(Ordering::Relaxed) != STOP {
        let start = Instant::now();
        let call = async {
            stream
                .write_all(&request)
                .await
                .map_err(|e| e.to_string())?;
            read_response(&mut stream, &mut buf).await
        };
        let reply = match tokio::time::timeout(STALL, call).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => {
                stats.error = Some(format!("HTTP call failed: {e}"));
                return stats;
            }
            Err(_) => {
                stats.error = Some(format!("no HTTP answer for {STALL:?}"));
                return stats;
            }
        };
        let now = Instant::now();
        let same = reference.as_ref() == Some(&reply);
        if verify_all || !same {
            if let Err(e) = spec.verify_http(reply.clone()) {
                stats.error = Some(e);
                return stats;
            }
            if reference.is_some() && !same {
                stats.error = Some("an answer differs from the first one".into());
                return stats;
            }
            reference = Some(reply);
        }
        if run.phase.load(Ordering::Relaxed) == MEASURE {
            stats.calls += 1;
            stats.latencies_us.push(micros(now - start));
        }
    }
    stats
}

/// Shared state of the clients of a fan-out test.
struct Fan {
    /// The broadcast being waited for.
    seq: AtomicU32,
    /// How many clients got it.
    got: AtomicUsize,
    clients: usize,
    /// When the last client got it, in µs after `epoch`.
    done_at: AtomicU64,
    epoch: Instant,
    done: Notify,
    /// Clients that lost their connection or got a wrong frame.
    failed: AtomicUsize,
    first_error: Mutex<Option<String>>,
}

impl Fan {
    fn fail(&self, error: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(error);
        self.done.notify_one();
    }
}

/// `"seq":N` in a JSON message frame.
fn tick_seq(frame: &[u8]) -> Option<u32> {
    const KEY: &[u8] = br#""seq":"#;
    let at = frame.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = frame[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&frame[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

async fn fan_client(mut ws: Ws, fan: Arc<Fan>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => {
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                return;
            }
            next = ws.next() => match next {
                Some(Ok(Message::Text(text))) => {
                    let Some(seq) = tick_seq(text.as_bytes()) else {
                        fan.fail(format!("not a Tick message: {}", clip(&text, 120)));
                        return;
                    };
                    if seq == fan.seq.load(Ordering::Acquire)
                        && fan.got.fetch_add(1, Ordering::AcqRel) + 1 == fan.clients
                    {
                        let at = u64::try_from(fan.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
                        fan.done_at.store(at, Ordering::Release);
                        fan.done.notify_one();
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    fan.fail(format!("a client's connection failed: {e}"));
                    return;
                }
                None => {
                    fan.fail("a client's connection ended".into());
                    return;
                }
            },
        }
    }
}

/// What a fan-out test measured on one server.
#[derive(Clone, Debug, Default)]
pub(crate) struct FanSample {
    /// Server memory per connection (RSS growth over `clients`), bytes.
    pub(crate) rss_per_conn: Option<f64>,
    /// Server RSS before the clients connected, bytes.
    pub(crate) rss_before: Option<u64>,
    /// Time from sending the trigger until every client had the message, one per broadcast.
    pub(crate) times: Vec<Duration>,
    /// Encodes the server reported, one per broadcast.
    pub(crate) encodes: Vec<u32>,
    /// The server's CPU time per broadcast (over all of them).
    pub(crate) cpu_per_broadcast: Option<Duration>,
}

/// Connects `clients` idle JSON WebSockets to `addr` and measures the
/// server's memory per connection; then, `broadcasts` times, asks the
/// server (over one more connection) to broadcast a message and times how
/// long it takes until every client has it.
pub(crate) async fn fanout(
    addr: SocketAddr,
    clients: usize,
    broadcasts: usize,
    pid: u32,
) -> Result<FanSample, String> {
    let mut control = connect_ws(addr, "text", 16 << 10).await?;
    // Let the server settle after its first connection.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = sys::rss_of(pid);
    let sockets = connect_many(addr, "text", clients, 4 << 10).await?;
    // Give the server time to finish setting up the last connections.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rss_after = sys::rss_of(pid);
    let rss_per_conn = rss_before
        .zip(rss_after)
        .map(|(b, a)| (a as f64 - b as f64) / clients as f64);
    let fan = Arc::new(Fan {
        seq: AtomicU32::new(0),
        got: AtomicUsize::new(0),
        clients,
        done_at: AtomicU64::new(0),
        epoch: Instant::now(),
        done: Notify::new(),
        failed: AtomicUsize::new(0),
        first_error: Mutex::new(None),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|ws| tokio::spawn(fan_client(ws, fan.clone(), stop_rx.clone())))
        .collect();
    let mut sample = FanSample {
        rss_per_conn,
        rss_before,
        ..FanSample::default()
    };
    let cpu_start = sys::cpu_of(pid);
    let outcome = async {
        for i in 0..broadcasts {
            let seq = u32::try_from(i + 1).unwrap_or(u32::MAX);
            fan.got.store(0, Ordering::Release);
            fan.seq.store(seq, Ordering::Release);
            let request = ReqBroadcast {
                seq,
                text: "Hello, World!".into(),
            };
            let frame = codec::encode_api_request(Encoding::Json, 0, "Broadcast", seq, &request)
                .map_err(|e| e.to_string())?;
            let message = Message::Text(
                frame
                    .into_bytes()
                    .try_into()
                    .map_err(|_| "JSON is UTF-8".to_owned())?,
            );
            let start = fan.epoch.elapsed();
            control.send(message).await.map_err(|e| e.to_string())?;
            let reply = tokio::time::timeout(STALL, broadcast_reply(&mut control, seq))
                .await
                .map_err(|_| "no answer to Broadcast".to_owned())??;
            if reply.receivers as usize != clients + 1 {
                return Err(format!(
                    "the server broadcast to {} connections, not {}",
                    reply.receivers,
                    clients + 1
                ));
            }
            sample.encodes.push(reply.encodes);
            let waited = tokio::time::timeout(STALL, async {
                loop {
                    if fan.failed.load(Ordering::Acquire) > 0 {
                        return Err(fan
                            .first_error
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .clone()
                            .unwrap_or_default());
                    }
                    if fan.got.load(Ordering::Acquire) >= clients {
                        return Ok(());
                    }
                    fan.done.notified().await;
                }
            })
            .await;
            match waited {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(format!(
                        "only {} of {clients} clients got broadcast {seq} within {STALL:?}",
                        fan.got.load(Ordering::Acquire)
                    ));
                }
            }
            let done = Duration::from_micros(fan.done_at.load(Ordering::Acquire));
            sample.times.push(done.saturating_sub(start));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok::<(), String>(())
    }
    .await;
    if broadcasts > 0 {
        sample.cpu_per_broadcast = sys::cpu_of(pid)
            .zip(cpu_start)
            .map(|(end, start)| (end - start) / u32::try_from(broadcasts).unwrap_or(u32::MAX));
    }
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), control.close(None)).await;
    outcome.map(|()| sample)
}

/// Reads the control connection until the answer to broadcast `seq`.
async fn broadcast_reply(control: &mut Ws, seq: u32) -> Result<ResBroadcast, String> {
    while let Some(next) = control.next().await {
        let frame = match next.map_err(|e| e.to_string())? {
            Message::Text(t) => WireFrame::Text(t.into()),
            _ => continue,
        };
        match codec::decode_server_frame(frame).map_err(|e| e.to_string())? {
            ServerFrame::ApiReturn {
                sn,
                result: Ok(payload),
                ..
            } if sn == seq => return payload.decode().map_err(|e| e.to_string()),
            ServerFrame::ApiReturn { result: Err(e), .. } => {
                return Err(format!("Broadcast failed: {}", e.message));
            }
            _ => {}
        }
    }
    Err("the control connection ended".into())
}
