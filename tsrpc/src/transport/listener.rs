//! One TCP listener for every transport: hyper serves each connection and
//! hands WebSocket upgrades and plain HTTP requests to the [`App`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::App;
use super::admission::{Active, Admission, Refusal, Slot};
use super::http::{OriginCheck, ResponseBody};
use crate::codec::Encoding;

/// HTTP/2 streams one connection may have open at once.
const MAX_CONCURRENT_STREAMS: u32 = 128;

/// Refused sockets being answered at once; past this, they are closed
/// without an answer, so refusing costs little even under a flood.
const MAX_ANSWERED_REFUSALS: usize = 64;

/// True for EMFILE and ENFILE (23 and 24 on Linux, macOS and the BSDs;
/// WSAEMFILE on Windows): other accept errors (a connection aborted before
/// it was accepted) are no reason to close someone else's.
fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24 | 10024))
}

/// A running listener; dropping it does not stop it, [`Listener::stop`] does.
#[derive(Debug)]
pub(crate) struct Listener {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
}

impl Listener {
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting and ends the HTTP connections it served.
    pub(crate) fn stop(&self) {
        self.shutdown.send_replace(true);
    }
}

/// Binds `addr` and serves it until [`Listener::stop`].
pub(crate) async fn serve<A: App>(addr: SocketAddr, app: Arc<A>) -> std::io::Result<Listener> {
    let tcp = TcpListener::bind(addr).await?;
    let local_addr = tcp.local_addr()?;
    let (shutdown, stopped) = watch::channel(false);
    tokio::spawn(accept_loop(tcp, app, stopped));
    Ok(Listener {
        local_addr,
        shutdown,
    })
}

async fn accept_loop<A: App>(tcp: TcpListener, app: Arc<A>, mut stopped: watch::Receiver<bool>) {
    let settings = app.http_settings();
    let admission = Admission::new(settings.caps);
    tokio::spawn(Admission::watch(
        Arc::downgrade(&admission),
        settings.header_read_timeout,
        settings.body_read_timeout,
        settings.send_timeout,
    ));
    let answering = Arc::new(AtomicUsize::new(0));
    let mut failing = false;
    loop {
        let (stream, remote) = tokio::select! {
            () = until_stopped(&mut stopped) => return,
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: free one held
                    // by a socket that never sent a request, or wait (never
                    // spin). Said once per spell of failures.
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!("accept failed: {e}");
                    }
                    let pause = if out_of_descriptors(&e) && admission.evict_unused() {
                        1
                    } else {
                        50
                    };
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                    continue;
                }
            },
        };
        failing = false;
        let slot = match admission.admit(remote.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                tracing::debug!(%remote, ?refusal, "connection refused");
                if answering.fetch_add(1, Ordering::AcqRel) < MAX_ANSWERED_REFUSALS {
                    let answering = answering.clone();
                    tokio::spawn(async move {
                        refuse(stream, refusal).await;
                        answering.fetch_sub(1, Ordering::AcqRel);
                    });
                } else {
                    answering.fetch_sub(1, Ordering::AcqRel);
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            app.clone(),
            stream,
            remote,
            slot,
            stopped.clone(),
        ));
    }
}

/// Writes a refusal's plain HTTP answer and closes the socket, reading
/// (and dropping) what the client sent so that the close does not reset
/// the connection before the answer is read.
async fn refuse(mut stream: TcpStream, refusal: Refusal) {
    let answer = async {
        stream.write_all(refusal.response().as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut left: usize = 64 << 10;
        while left > 0 {
            let n = stream.read(&mut sink).await?;
            if n == 0 {
                break;
            }
            left = left.saturating_sub(n);
        }
        std::io::Result::Ok(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}

/// Serves one accepted connection until it ends, the listener stops, or
/// the connection is let go: it sat without a request in progress for the
/// header read timeout (its first request included), or it never sent a
/// request and was evicted to make way for a new connection.
async fn serve_connection<A: App>(
    app: Arc<A>,
    stream: TcpStream,
    remote: SocketAddr,
    slot: Arc<Slot>,
    mut stopped: watch::Receiver<bool>,
) {
    let idle = app.http_settings().header_read_timeout;
    let io = TokioIo::new(slot.watch_io(stream));
    let service = service_fn(move |req| {
        let active = slot.begin_request();
        handle(app.clone(), req, remote, active)
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A client that trickles its headers cannot hold a connection forever.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(idle);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS);
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::select! {
        result = conn => {
            if let Err(e) = result {
                tracing::debug!(%remote, "HTTP connection ended: {e}");
            }
        }
        () = until_stopped(&mut stopped) => {}
    }
}

async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

fn header_has_token(req: &Request<Incoming>, name: header::HeaderName, token: &str) -> bool {
    req.headers().get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// The subprotocol to echo and the encoding it selects: `text` is JSON,
/// `buffer` binary (TSRPC's names). Another offered protocol is echoed
/// as is (clients refuse a handshake that drops it) and the first data
/// frame decides the encoding.
fn choose_protocol(req: &Request<Incoming>) -> (Option<HeaderValue>, Option<Encoding>) {
    let offered: Vec<String> = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    for p in &offered {
        let encoding = match p.as_str() {
            "text" => Encoding::Json,
            "buffer" => Encoding::Binary,
            _ => continue,
        };
        return (HeaderValue::from_str(p).ok(), Some(encoding));
    }
    (
        offered.first().and_then(|p| HeaderValue::from_str(p).ok()),
        None,
    )
}

async fn handle<A: App>(
    app: Arc<A>,
    mut req: Request<Incoming>,
    remote: SocketAddr,
    active: Active,
) -> Result<Response<ResponseBody>, Infallible> {
    let wants_upgrade = header_has_token(&req, header::UPGRADE, "websocket");
    if !wants_upgrade {
        return Ok(super::http::serve(app, req, remote, active).await);
    }
    let plain = super::http::text;
    if req.method() != Method::GET || !header_has_token(&req, header::CONNECTION, "upgrade") {
        return Ok(plain(
            StatusCode::BAD_REQUEST,
            "a WebSocket upgrade is a GET with `Connection: upgrade`",
        ));
    }
    if req
        .headers()
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        let mut res = plain(
            StatusCode::UPGRADE_REQUIRED,
            "only WebSocket version 13 is supported",
        );
        res.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return Ok(res);
    }
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY) else {
        return Ok(plain(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key"));
    };
    if !app.accepting() {
        return Ok(plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is stopping",
        ));
    }
    // Cross-site WebSocket hijacking: a page of another site must not use
    // a visitor's cookies to open a socket.
    if app.http_settings().origins.check(req.headers()) == OriginCheck::Refused {
        return Ok(super::http::origin_refused());
    }
    let accept = derive_accept_key(key.as_bytes());
    let (protocol, encoding) = choose_protocol(&req);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let config = app.ws_config();
    tokio::spawn(async move {
        // The socket keeps its place among the listener's connections
        // (the request's guard holds it), and now watches itself
        // (heartbeats, the send timeout).
        active.slot().upgraded();
        let _active = active;
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(
                    super::ws::Metered::new(TokioIo::new(upgraded)),
                    Role::Server,
                    Some(config),
                )
                .await;
                app.serve_websocket(ws, remote, encoding).await;
            }
            Err(e) => tracing::debug!(%remote, "WebSocket upgrade failed: {e}"),
        }
    });
    let mut res = Response::new(ResponseBody::full(Bytes::new()));
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = res.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = protocol {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    Ok(res)
}
