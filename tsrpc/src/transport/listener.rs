//! One TCP listener for every transport: hyper serves each connection and
//! hands WebSocket upgrades and plain HTTP requests to the [`App`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::codec::Encoding;

/// An upgraded WebSocket connection.
pub(crate) type ServerSocket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What the listener serves.
pub(crate) trait App: Send + Sync + 'static {
    /// False while stopping: new WebSocket connections are refused with 503.
    fn accepting(&self) -> bool;
    /// The WebSocket configuration for new connections.
    fn ws_config(&self) -> WebSocketConfig;
    /// Runs an accepted WebSocket connection. `encoding` is what its
    /// subprotocol asked for, if anything.
    fn serve_websocket(
        self: Arc<Self>,
        ws: ServerSocket,
        remote: SocketAddr,
        encoding: Option<Encoding>,
    ) -> BoxFuture<()>;
    /// HTTP settings: limits, CORS, static files.
    fn http_settings(&self) -> &super::http::HttpSettings;
    /// Answers an API call or message received over HTTP. Not boxed: the
    /// future lives in the one hyper keeps per connection, so a request
    /// costs no allocation for it.
    fn http_call(
        self: Arc<Self>,
        call: super::http::HttpCall,
    ) -> impl Future<Output = super::http::HttpReply> + Send;
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
    let (shutdown, mut stopped) = watch::channel(false);
    let conn_stopped = stopped.clone();
    tokio::spawn(async move {
        loop {
            let (stream, remote) = tokio::select! {
                () = until_stopped(&mut stopped) => return,
                accepted = tcp.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, do not spin.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let app = app.clone();
            let mut stopped = conn_stopped.clone();
            tokio::spawn(async move {
                let header_read_timeout = app.http_settings().header_read_timeout;
                let service = service_fn(move |req| handle(app.clone(), req, remote));
                let mut builder = auto::Builder::new(TokioExecutor::new());
                // A client that trickles its headers cannot hold a connection forever.
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_read_timeout);
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                tokio::pin!(conn);
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(%remote, "HTTP connection ended: {e}");
                        }
                    }
                    () = until_stopped(&mut stopped) => {}
                }
            });
        }
    });
    Ok(Listener {
        local_addr,
        shutdown,
    })
}

async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
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
) -> Result<Response<Full<Bytes>>, Infallible> {
    let wants_upgrade = header_has_token(&req, header::UPGRADE, "websocket");
    if !wants_upgrade {
        return Ok(super::http::serve(app, req, remote).await);
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
        return Ok(plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is stopping",
        ));
    }
    let accept = derive_accept_key(key.as_bytes());
    let (protocol, encoding) = choose_protocol(&req);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let config = app.ws_config();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                app.serve_websocket(ws, remote, encoding).await;
            }
            Err(e) => tracing::debug!(%remote, "WebSocket upgrade failed: {e}"),
        }
    });
    let mut res = Response::new(Full::new(Bytes::new()));
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
