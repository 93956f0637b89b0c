//! Helpers to start servers and talk to them with raw sockets; included
//! by the test files that need them (`mod support;`).
#![allow(dead_code, unreachable_pub)]
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tsrpc::{Server, ServerBuilder};
#[allow(unused_imports)] // Not every test file starts a Redis.
pub use tsrpc_redis::testing::RedisServer;

/// A raw client socket.
pub type Raw = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for something that should happen at once;
/// only a guard against hanging, never an assertion on speed.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Starts a server on 127.0.0.1 with a free port; returns it and its ws:// URL.
pub async fn start(builder: ServerBuilder) -> (Server, String) {
    let server = builder
        .bind("127.0.0.1:0".parse().expect("a valid address"))
        .build()
        .expect("the test protocols are consistent");
    let addr = server.start().await.expect("the server starts");
    (server, format!("ws://{addr}"))
}

/// Opens a raw WebSocket, offering `protocol` if given.
pub async fn raw(url: &str, protocol: Option<&str>) -> Raw {
    raw_with(url, protocol, &[]).await
}

/// [`raw`] with more handshake headers.
pub async fn raw_with(url: &str, protocol: Option<&str>, headers: &[(&str, &str)]) -> Raw {
    let mut request = url.into_client_request().expect("a valid URL");
    if let Some(p) = protocol {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse().expect("a valid header"));
    }
    for (name, value) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::try_from(*name)
            .expect("a valid header name");
        request
            .headers_mut()
            .insert(name, value.parse().expect("a valid header"));
    }
    let (ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the server accepts");
    ws
}

/// The next data or close frame (pings and pongs are skipped).
pub async fn next(ws: &mut Raw) -> Message {
    loop {
        let msg = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a frame arrives in time")
            .expect("the connection is open")
            .expect("a valid frame");
        if !matches!(msg, Message::Ping(_) | Message::Pong(_)) {
            return msg;
        }
    }
}

/// The next text frame, as a string.
pub async fn next_text(ws: &mut Raw) -> String {
    match next(ws).await {
        Message::Text(t) => t.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// Parses a text frame (or any JSON text).
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Sends a text frame.
pub async fn send_text(ws: &mut Raw, text: &str) {
    ws.send(Message::text(text))
        .await
        .expect("the frame is sent");
}

/// Sends a binary frame.
pub async fn send_binary(ws: &mut Raw, data: Vec<u8>) {
    ws.send(Message::Binary(Bytes::from(data)))
        .await
        .expect("the frame is sent");
}

/// Reads until the close frame and returns it.
pub async fn closed(ws: &mut Raw) -> CloseFrame {
    loop {
        match next(ws).await {
            Message::Close(Some(frame)) => return frame,
            Message::Close(None) => panic!("closed without a close frame"),
            _ => {}
        }
    }
}

/// An HTTP response read off a raw socket.
pub struct RawResponse {
    pub status: u16,
    pub headers: std::collections::HashMap<String, String>,
    /// The body as text (lossy: see `bytes` for binary bodies).
    pub body: String,
    pub bytes: Vec<u8>,
}

impl RawResponse {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Sends `head` (request line and headers, without the blank line) and
/// `body`, then reads the response until the server closes.
pub async fn raw_http(addr: std::net::SocketAddr, head: &str, body: &str) -> RawResponse {
    raw_http_bytes(addr, head, body.as_bytes()).await
}

/// [`raw_http`] with a body of any bytes.
pub async fn raw_http_bytes(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> RawResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.expect("the server accepts");
    let mut request = format!(
        "{head}\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    stream
        .write_all(&request)
        .await
        .expect("the request is sent");
    let mut raw = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut raw))
        .await
        .expect("the server answers in time")
        .expect("the response is read");
    parse_response(&raw)
}

/// Parses a whole HTTP/1.1 response (its body is what follows the head).
pub fn parse_response(raw: &[u8]) -> RawResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let bytes = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    RawResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        bytes,
    }
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, made at test
/// time, with its PEM files in a folder of their own (removed on drop).
pub struct TestCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub dir: std::path::PathBuf,
}

impl TestCert {
    pub fn new() -> TestCert {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let made = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("a certificate");
        let dir = std::env::temp_dir().join(format!(
            "tsrpc-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a folder for the certificate");
        let (cert_pem, key_pem) = (made.cert.pem(), made.signing_key.serialize_pem());
        std::fs::write(dir.join("cert.pem"), &cert_pem).expect("cert.pem written");
        std::fs::write(dir.join("key.pem"), &key_pem).expect("key.pem written");
        TestCert {
            cert_pem,
            key_pem,
            dir,
        }
    }

    pub fn cert_path(&self) -> std::path::PathBuf {
        self.dir.join("cert.pem")
    }

    pub fn key_path(&self) -> std::path::PathBuf {
        self.dir.join("key.pem")
    }

    /// What a client trusts to reach a server with this certificate.
    pub fn client_tls(&self) -> tsrpc::tls::ClientTls {
        tsrpc::tls::ClientTls::with_root_pem(self.cert_pem.as_bytes()).expect("a root")
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `count` servers from `builder` on free ports, joined through `redis`,
/// as `chatroom-server --redis URL` runs them. (The builder is passed in:
/// naming the examples here would link their services into every test.)
pub async fn clustered(
    redis: &RedisServer,
    count: usize,
    builder: impl Fn(std::net::SocketAddr) -> ServerBuilder,
) -> Vec<(Server, std::net::SocketAddr)> {
    let mut servers = Vec::with_capacity(count);
    for _ in 0..count {
        let adapter = tsrpc_redis::RedisAdapter::connect(redis.url())
            .await
            .expect("Redis is reachable");
        let server = builder("127.0.0.1:0".parse().unwrap())
            .cluster(adapter)
            .build()
            .expect("the chatroom server builds");
        let addr = server.start().await.expect("the chatroom server starts");
        servers.push((server, addr));
    }
    servers
}

/// Waits until `done()` holds, checking every few milliseconds; panics
/// with `what` if it does not within [`PATIENCE`].
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(PATIENCE, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} did not happen in time"));
}
