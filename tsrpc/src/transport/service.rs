//! The one request handler both hosts use, and the host that is not a
//! listener: a `tower::Service` another server (axum, hyper) mounts.
//!
//! The listener owns its port and notes each request for its watch (idle
//! connections, slow bodies); a mounted service leaves its connections to
//! the server that owns them, and answers the same way otherwise.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::FutureExt;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::admission::{Active, Refusal};
use super::http::{OriginCheck, RequestBody, ResponseBody, text as plain};
use super::{App, Refusals};
use crate::codec::Encoding;
use crate::task::BoxFuture;

/// Reads the peer's address from a request's extensions, where the host
/// put it (axum: `ConnectInfo<SocketAddr>`).
pub(crate) type RemoteAddr = fn(&http::Extensions) -> Option<SocketAddr>;

/// The app as a `tower::Service` over `http::Request`s.
pub(crate) struct HttpService<A> {
    app: Arc<A>,
    remote: Option<RemoteAddr>,
}

impl<A> HttpService<A> {
    pub(crate) fn new(app: Arc<A>) -> Self {
        HttpService { app, remote: None }
    }

    pub(crate) fn with_remote_addr(mut self, remote: RemoteAddr) -> Self {
        self.remote = Some(remote);
        self
    }
}

impl<A> Clone for HttpService<A> {
    fn clone(&self) -> Self {
        HttpService {
            app: self.app.clone(),
            remote: self.remote,
        }
    }
}

impl<A> std::fmt::Debug for HttpService<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpService").finish_non_exhaustive()
    }
}

impl<A: App, B: RequestBody> tower_service::Service<Request<B>> for HttpService<A> {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<ResponseBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let remote = self.remote.and_then(|read| read(req.extensions()));
        handle(self.app.clone(), req, remote, None).boxed()
    }
}

fn header_has_token<B>(req: &Request<B>, name: header::HeaderName, token: &str) -> bool {
    req.headers().get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// The subprotocol to echo and the encoding it selects: `text` is JSON,
/// `buffer` binary (TSRPC's names): TSRPC's TSBuffer mode, or tsrpc's own
/// when the handshake carries the `X-Tsrpc-Fingerprint` header (as tsrpc's
/// clients send it; a hello frame first also chooses it, see WIRE.md).
/// Another offered protocol is echoed as is (clients refuse a handshake
/// that drops it) and the first data frame decides the encoding.
fn choose_protocol<B>(req: &Request<B>) -> (Option<HeaderValue>, Option<Encoding>) {
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
            "buffer" if req.headers().contains_key(crate::codec::FINGERPRINT_HEADER) => {
                Encoding::Binary
            }
            "buffer" => Encoding::Tsbuffer,
            _ => continue,
        };
        return (HeaderValue::from_str(p).ok(), Some(encoding));
    }
    (
        offered.first().and_then(|p| HeaderValue::from_str(p).ok()),
        None,
    )
}

/// A copy of `headers` that holds none of the request's bytes. hyper's
/// header values are slices of the connection's read buffer (8 KiB and
/// more): a connection that kept them would keep that whole buffer for its
/// lifetime.
/// The handshake's own headers, which say nothing to the app, are left out.
fn detached_headers(headers: &http::HeaderMap) -> http::HeaderMap {
    let handshake = [
        header::CONNECTION,
        header::UPGRADE,
        header::SEC_WEBSOCKET_KEY,
        header::SEC_WEBSOCKET_VERSION,
        header::SEC_WEBSOCKET_EXTENSIONS,
    ];
    // hyper lets a request carry hundreds of KiB of headers; a connection
    // keeps at most this much of them for its whole life.
    const KEPT: usize = 16 << 10;
    let mut budget = KEPT;
    let kept = || headers.iter().filter(|(name, _)| !handshake.contains(name));
    let mut copy = http::HeaderMap::with_capacity(kept().count());
    for (name, value) in kept() {
        let size = name.as_str().len() + value.len();
        if size > budget {
            tracing::debug!("upgrade headers past {KEPT} bytes are not kept");
            break;
        }
        budget -= size;
        let name = http::HeaderName::from_bytes(name.as_str().as_bytes());
        let copied = HeaderValue::from_bytes(value.as_bytes());
        if let (Ok(name), Ok(mut copied)) = (name, copied) {
            copied.set_sensitive(value.is_sensitive());
            copy.append(name, copied);
        }
    }
    copy
}

/// A copy of `uri` that holds none of the request's bytes (see
/// [`detached_headers`]).
fn detached_uri(uri: &http::Uri) -> http::Uri {
    uri.to_string().parse().unwrap_or_default()
}

/// Answers one request, whichever host received it: an HTTP call or
/// message, a static file, or a WebSocket upgrade. `active` is the
/// listener's note of the request; none when mounted in another server.
pub(crate) async fn handle<A: App, B: RequestBody>(
    app: Arc<A>,
    mut req: Request<B>,
    remote: Option<SocketAddr>,
    active: Option<Active>,
) -> Result<Response<ResponseBody>, Infallible> {
    let wants_upgrade = header_has_token(&req, header::UPGRADE, "websocket");
    if !wants_upgrade {
        return Ok(super::http::serve(app, req, remote, active).await);
    }
    // RFC 6455's upgrade is HTTP/1.1's (HTTP/2's extended CONNECT is not spoken).
    if req.version() != http::Version::HTTP_11 {
        return Ok(plain(
            StatusCode::BAD_REQUEST,
            "a WebSocket upgrade needs HTTP/1.1",
        ));
    }
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
        Refusals::count(&app.refusals().stopping);
        return Ok(plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is stopping",
        ));
    }
    // Cross-site WebSocket hijacking: a page of another site must not use
    // a visitor's cookies to open a socket.
    if app.http_settings().origins.check(req.headers()) == OriginCheck::Refused {
        Refusals::count(&app.refusals().origin);
        return Ok(super::http::origin_refused());
    }
    // The listener counted this connection when it accepted it; a
    // mounted service counts the WebSockets it opens, for as long as
    // they are open, under the same caps.
    let mounted = match &active {
        Some(_) => None,
        None => match app.mounted().admit_in_use(remote.map(|r| r.ip())) {
            Ok(slot) => Some(slot),
            Err(refusal) => {
                let refusals = app.refusals();
                Refusals::count(match refusal {
                    Refusal::Full(_) => &refusals.connection_limit,
                    Refusal::PerIp(_) => &refusals.per_ip_limit,
                });
                let (status, text) = refusal.answer();
                let mut res = plain(status, text);
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return Ok(res);
            }
        },
    };
    let accept = derive_accept_key(key.as_bytes());
    let head = super::UpgradeHead {
        headers: detached_headers(req.headers()),
        uri: detached_uri(req.uri()),
        remote,
    };
    let admitted = match app.admit_websocket(head).await {
        Ok(admitted) => admitted,
        Err(refused) => {
            Refusals::count(&app.refusals().pre_connect);
            let mut res = plain(refused.status, refused.reason);
            if refused.status == StatusCode::UNAUTHORIZED {
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            return Ok(res);
        }
    };
    // The server may have begun to stop while `pre_connect` ran.
    if !app.accepting() {
        Refusals::count(&app.refusals().stopping);
        return Ok(plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is stopping",
        ));
    }
    let (protocol, encoding) = choose_protocol(&req);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let config = app.ws_config();
    tokio::spawn(async move {
        // The socket keeps its place among the listener's connections
        // (the request's guard holds it), and now watches itself
        // (heartbeats, the send timeout).
        if let Some(active) = &active {
            active.slot().upgraded();
        }
        let _held = (active, mounted);
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(
                    super::ws::Metered::new(TokioIo::new(upgraded)),
                    Role::Server,
                    Some(config),
                )
                .await;
                app.serve_websocket(ws, admitted, encoding).await;
            }
            Err(e) => tracing::debug!(?remote, "WebSocket upgrade failed: {e}"),
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
