//! [`WsClient`]: a long connection to a tsrpc (or TSRPC) server.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use http::HeaderValue;
use regex::Regex;
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use bytes::Bytes;

use super::flows::{ClientFlows, DataFlow, RecvMsgFlow};
use super::pending::{AbortBy, PendingCalls};
use super::{AnyMsg, CallOptions, Sent};
use crate::codec::{self, Encoding, Payload, ServerFrame, ServiceRef, WireFrame};
use crate::error::{TsrpcError, codes};
use crate::flow::FlowStep;
use crate::proto::{Api, Message, ServiceInfo, ServiceKind, ServiceTable};
use crate::task::{self, BoxFuture, lock};
use crate::transport::stream::ClientStream;
use crate::transport::{Disconnect, FrameHandler, Outbound, close_code, outbound, ws};

/// The default call timeout, as TSRPC's.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// The default time [`WsClient::connect`] and an [`HttpClient`](crate::HttpClient)
/// give a server to accept a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a [`WsClient`] stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WsStatus {
    /// `connect` is under way.
    Opening,
    /// Connected: calls and messages can be sent.
    Opened,
    /// `disconnect` is under way.
    Closing,
    /// Not connected.
    Closed,
}

/// Client heartbeats: a `0x00` frame every `interval` after the last answer;
/// no answer within `timeout` closes the connection.
///
/// ```
/// use std::time::Duration;
/// use tsrpc::{WsClient, client::HeartbeatConfig};
///
/// let client = WsClient::builder("ws://127.0.0.1:3000")
///     .heartbeat(HeartbeatConfig { interval: Duration::from_secs(3), timeout: Duration::from_secs(5) })
///     .build();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// Time between the last answer and the next heartbeat.
    pub interval: Duration,
    /// How long to wait for the answer.
    pub timeout: Duration,
}

/// Automatic reconnection after a disconnect that `disconnect()` did not
/// ask for: the first attempt after `initial_delay`, then each delay is
/// doubled up to `max_delay`; `max_attempts` (`None`: no limit) in a row.
/// An attempt the server refuses as unauthorized or forbidden (its connect
/// error has the code [`UNAUTHORIZED`](crate::codes::UNAUTHORIZED) or
/// [`FORBIDDEN`](crate::codes::FORBIDDEN)) ends them: retrying with the
/// same credentials would not change the answer.
///
/// ```
/// use std::time::Duration;
/// use tsrpc::{WsClient, client::ReconnectPolicy};
///
/// // 1 s, 2 s, 4 s, then every 5 s, ten tries at most.
/// let policy = ReconnectPolicy {
///     initial_delay: Duration::from_secs(1),
///     max_delay: Duration::from_secs(5),
///     max_attempts: Some(10),
/// };
/// let client = WsClient::builder("ws://127.0.0.1:3000").reconnect(policy).build();
/// // Or the default: from 1 s up to 30 s, for ever.
/// let client = WsClient::builder("ws://127.0.0.1:3000").reconnect(ReconnectPolicy::default()).build();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// Delay before the first attempt.
    pub initial_delay: Duration,
    /// The longest delay between attempts.
    pub max_delay: Duration,
    /// How many attempts in a row before giving up.
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_attempts: None,
        }
    }
}

/// What `post_disconnect` nodes receive: TSRPC's `{ reason, isManual }`.
///
/// ```
/// use tsrpc::client::DisconnectEvent;
/// let client = tsrpc::WsClient::builder("ws://127.0.0.1:3000").build();
/// client.flows().post_disconnect.push(|ev: DisconnectEvent| async move {
///     if !ev.is_manual {
///         eprintln!("lost the server ({:?}): {}", ev.code, ev.reason);
///         let _ = ev.client.connect().await; // or set a ReconnectPolicy
///     }
///     Some(ev)
/// });
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DisconnectEvent {
    /// Why the connection ended (the close reason, or what failed).
    pub reason: String,
    /// The close code, when a close frame was exchanged.
    pub code: Option<u16>,
    /// True only when `disconnect()` was called.
    pub is_manual: bool,
    /// The client, to reconnect from a node.
    pub client: WsClient,
}

/// A handle on a message listener, to remove it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientMsgListener(u64);

type TypedListener = Arc<dyn Fn(&Payload) + Send + Sync>;
type MatchingListener = Arc<dyn Fn(AnyMsg) + Send + Sync>;
type Listeners = crate::listeners::Listeners<TypedListener, MatchingListener>;

struct Active {
    outbound: Outbound,
    generation: u64,
}

#[derive(Clone, Debug)]
struct Settings {
    url: String,
    encoding: Encoding,
    timeout: Duration,
    connect_timeout: Duration,
    heartbeat: Option<HeartbeatConfig>,
    reconnect: Option<ReconnectPolicy>,
    max_message_size: usize,
    send_queue_size: usize,
    /// Headers of the WebSocket handshake (checked when connecting).
    headers: Vec<(String, String)>,
    /// The roots `wss://` trusts; webpki's when not set.
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::ClientTls>,
}

struct ClientInner {
    settings: Settings,
    table: Result<&'static ServiceTable, TsrpcError>,
    active: Mutex<Option<Active>>,
    generation: AtomicU64,
    /// The generation `disconnect()` closed; its end is manual.
    manual: AtomicU64,
    status: watch::Sender<WsStatus>,
    pending: PendingCalls<oneshot::Sender<Result<Payload, TsrpcError>>>,
    listeners: RwLock<Listeners>,
    flows: ClientFlows,
    heartbeat_answered: Notify,
    latency: Mutex<Option<Duration>>,
}

/// A WebSocket client: cheap to clone, every clone the same connection.
///
/// ```no_run,standalone_crate
/// use serde::{Deserialize, Serialize};
/// use tsrpc::WsClient;
///
/// #[tsrpc::api]
/// #[derive(Serialize, Deserialize)]
/// pub struct ReqSend { pub content: String }
/// #[derive(Serialize, Deserialize)]
/// pub struct ResSend { pub time: tsrpc::Timestamp }
///
/// # #[tokio::main] async fn main() -> Result<(), tsrpc::TsrpcError> {
/// let client = WsClient::builder("ws://127.0.0.1:3000").json(true).build();
/// client.connect().await?;
/// let res = client.call_api(ReqSend { content: "Hello".into() }).await?;
/// println!("sent at {}", res.time);
/// client.disconnect().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WsClient {
    inner: Arc<ClientInner>,
}

impl fmt::Debug for WsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsClient")
            .field("url", &self.inner.settings.url)
            .field("encoding", &self.inner.settings.encoding)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

/// Builds a [`WsClient`]; get one with [`WsClient::builder`].
///
/// ```
/// use std::time::Duration;
/// use tsrpc::client::{HeartbeatConfig, ReconnectPolicy};
/// let client = tsrpc::WsClient::builder("ws://127.0.0.1:3000")
///     .json(true)                                 // binary by default
///     .timeout(Duration::from_secs(5))            // per call
///     .heartbeat(HeartbeatConfig {                // TSRPC's heartbeats
///         interval: Duration::from_secs(3),
///         timeout: Duration::from_secs(5),
///     })
///     .reconnect(ReconnectPolicy::default())      // after unexpected closes
///     .build();
/// ```
#[derive(Debug, Clone)]
pub struct WsClientBuilder {
    settings: Settings,
}

impl WsClientBuilder {
    /// JSON mode (TSRPC v3 compatible) when true; binary (the default) when false.
    pub fn json(mut self, json: bool) -> Self {
        self.settings.encoding = if json {
            Encoding::Json
        } else {
            Encoding::Binary
        };
        self
    }

    /// The encoding to speak: [`Encoding::Tsbuffer`] to call a TSRPC
    /// server in its default binary mode, [`Encoding::Json`] in its JSON
    /// mode, [`Encoding::Binary`] (the default) for a tsrpc server.
    pub fn encoding(mut self, encoding: Encoding) -> Self {
        self.settings.encoding = encoding;
        self
    }

    /// The default call timeout (15 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// Send heartbeats (off by default).
    pub fn heartbeat(mut self, heartbeat: HeartbeatConfig) -> Self {
        self.settings.heartbeat = Some(heartbeat);
        self
    }

    /// How long [`connect`](WsClient::connect) waits for the server to
    /// accept the connection and finish the WebSocket handshake (10 s by
    /// default); then it fails with a `NetworkError`, and a reconnect
    /// policy tries again.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// A header sent with the WebSocket handshake (a token, say, for the
    /// server's `pre_connect` flow); a query string goes in the URL
    /// (`ws://host:3000/?token=..`). An invalid name or value makes
    /// [`connect`](WsClient::connect) fail.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.headers.push((name.into(), value.into()));
        self
    }

    /// The servers a `wss://` connection trusts: the Mozilla roots by
    /// default; [`ClientTls::with_root_pem`](crate::tls::ClientTls::with_root_pem)
    /// for a private CA or a self-signed certificate.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::ClientTls) -> Self {
        self.settings.tls = Some(tls);
        self
    }

    /// Reconnect by itself after an unexpected disconnect (off by default).
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.settings.reconnect = Some(policy);
        self
    }

    /// The largest message accepted from the server (16 MiB by default).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.settings.max_message_size = bytes;
        self
    }

    /// How many bytes may wait to be sent (8 MiB by default; each frame
    /// counts its length and 64 bytes more). Past it, the connection is
    /// closed as one whose server does not read, as it is when the server
    /// takes nothing for 15 s.
    pub fn send_queue_size(mut self, bytes: usize) -> Self {
        self.settings.send_queue_size = bytes;
        self
    }

    /// Builds the client, not yet connected.
    pub fn build(self) -> WsClient {
        let table = ServiceTable::global().map_err(|e| TsrpcError::client(e.to_string()));
        WsClient {
            inner: Arc::new(ClientInner {
                settings: self.settings,
                table,
                active: Mutex::new(None),
                generation: AtomicU64::new(0),
                manual: AtomicU64::new(0),
                status: watch::channel(WsStatus::Closed).0,
                pending: PendingCalls::new(),
                listeners: RwLock::new(Listeners::default()),
                flows: ClientFlows::new(),
                heartbeat_answered: Notify::new(),
                latency: Mutex::new(None),
            }),
        }
    }
}

impl WsClient {
    /// A builder for a client of the server at `url` (`ws://host:port`).
    pub fn builder(url: impl Into<String>) -> WsClientBuilder {
        WsClientBuilder {
            settings: Settings {
                url: url.into(),
                encoding: Encoding::Binary,
                timeout: DEFAULT_TIMEOUT,
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                heartbeat: None,
                reconnect: None,
                max_message_size: crate::transport::DEFAULT_MAX_MESSAGE_SIZE,
                send_queue_size: crate::transport::DEFAULT_SEND_QUEUE_SIZE,
                headers: Vec::new(),
                #[cfg(feature = "tls")]
                tls: None,
            },
        }
    }

    /// The client's flows.
    pub fn flows(&self) -> &ClientFlows {
        &self.inner.flows
    }

    /// Where the client stands.
    pub fn status(&self) -> WsStatus {
        *self.inner.status.borrow()
    }

    /// True while connected.
    pub fn is_connected(&self) -> bool {
        self.status() == WsStatus::Opened
    }

    /// The round trip of the last answered heartbeat.
    pub fn last_heartbeat_latency(&self) -> Option<Duration> {
        *lock(&self.inner.latency)
    }

    /// The sn the last call was given (TSRPC's `lastSN`), for [`abort`](Self::abort).
    pub fn last_sn(&self) -> u32 {
        self.inner.pending.last_sn()
    }

    fn table(&self) -> Result<&'static ServiceTable, TsrpcError> {
        self.inner.table.clone()
    }

    /// Connects. A refused or failed connection is an error, never a panic;
    /// connecting while connected does nothing.
    pub async fn connect(&self) -> Result<(), TsrpcError> {
        let table = self.table()?;
        if self.is_connected() {
            return Ok(());
        }
        if !self.inner.flows.pre_connect.is_empty() {
            match self.inner.flows.pre_connect.exec(self.clone()).await {
                FlowStep::Continue(_) => {}
                FlowStep::Stop => {
                    return Err(TsrpcError::client(
                        "The connection was cancelled by pre_connect",
                    ));
                }
                FlowStep::Fail(e) => return Err(e),
            }
        }
        let settings = &self.inner.settings;
        self.inner.status.send_replace(WsStatus::Opening);
        let mut request = match settings.url.as_str().into_client_request() {
            Ok(request) => request,
            Err(e) => {
                self.inner.status.send_replace(WsStatus::Closed);
                return Err(TsrpcError::client(format!(
                    "invalid server URL {:?}: {e}",
                    settings.url
                )));
            }
        };
        let protocol = match settings.encoding {
            Encoding::Json => "text",
            Encoding::Binary | Encoding::Tsbuffer => "buffer",
        };
        request.headers_mut().insert(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(protocol),
        );
        // `buffer` is TSRPC's binary mode too: the fingerprint says this is
        // tsrpc's (so messages pushed before the hello are in it).
        if settings.encoding == Encoding::Binary
            && let Ok(value) = HeaderValue::try_from(table.fingerprint().to_string())
        {
            request
                .headers_mut()
                .insert(codec::FINGERPRINT_HEADER, value);
        }
        for (name, value) in &settings.headers {
            let parsed = (
                http::HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            );
            let (Ok(name), Ok(value)) = parsed else {
                self.inner.status.send_replace(WsStatus::Closed);
                // The value may be a secret: the name alone.
                return Err(TsrpcError::client(format!(
                    "invalid handshake header {name:?} (or its value)"
                )));
            };
            request.headers_mut().append(name, value);
        }
        let config = ws::config(settings.max_message_size);
        let connecting = async {
            let uri = request.uri();
            let secure = match uri.scheme_str() {
                Some("ws") => false,
                Some("wss") if cfg!(feature = "tls") => true,
                Some("wss") => return Err(("wss:// needs tsrpc's `tls` feature".to_owned(), None)),
                _ => return Err(("expected a ws:// or wss:// URL".to_owned(), None)),
            };
            let host = uri.host().unwrap_or_default();
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
            let tcp = TcpStream::connect((host.as_str(), port))
                .await
                .map_err(|e| (e.to_string(), None))?;
            let _ = tcp.set_nodelay(true);
            let stream = if secure {
                #[cfg(feature = "tls")]
                {
                    let tls = settings.tls.clone().unwrap_or_default();
                    tls.connect(&host, tcp)
                        .await
                        .map_err(|e| (format!("TLS: {e}"), None))?
                }
                #[cfg(not(feature = "tls"))]
                unreachable!("refused above")
            } else {
                ClientStream::Plain(tcp)
            };
            tokio_tungstenite::client_async_with_config(
                request,
                ws::Metered::new(stream),
                Some(config),
            )
            .await
            .map(|(socket, _)| socket)
            .map_err(|e| match e {
                // A refused upgrade: its status and the server's reason.
                tokio_tungstenite::tungstenite::Error::Http(res) => {
                    let reason = res
                        .body()
                        .as_deref()
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default();
                    let text = format!(
                        "the server refused the connection: {} {reason}",
                        res.status()
                    );
                    (text, Some(res.status()))
                }
                e => (e.to_string(), None),
            })
        };
        let socket = match tokio::time::timeout(settings.connect_timeout, connecting).await {
            Ok(Ok(socket)) => socket,
            Ok(Err((e, status))) => {
                self.inner.status.send_replace(WsStatus::Closed);
                let mut err =
                    TsrpcError::network(format!("failed to connect to {}: {e}", settings.url));
                // A refusal of who the client is (a server's `pre_connect`)
                // says so in its code; retrying will not change it.
                if let Some(status) = status {
                    err = err.with_data("status", status.as_u16());
                    match status {
                        http::StatusCode::UNAUTHORIZED => err = err.with_code(codes::UNAUTHORIZED),
                        http::StatusCode::FORBIDDEN => err = err.with_code(codes::FORBIDDEN),
                        _ => {}
                    }
                }
                return Err(err);
            }
            Err(_) => {
                self.inner.status.send_replace(WsStatus::Closed);
                return Err(TsrpcError::network(format!(
                    "failed to connect to {}: no answer within {} ms",
                    settings.url,
                    settings.connect_timeout.as_millis()
                )));
            }
        };
        let (outbound, rx) = outbound::channel(settings.send_queue_size);
        if settings.encoding == Encoding::Binary {
            let _ = outbound.send(ws::to_message(codec::encode_hello(table.fingerprint())));
        }
        let generation = self.inner.generation.fetch_add(1, Ordering::AcqRel) + 1;
        *lock(&self.inner.active) = Some(Active {
            outbound: outbound.clone(),
            generation,
        });
        self.inner.status.send_replace(WsStatus::Opened);
        tracing::debug!(url = %settings.url, generation, "connected");

        let session = ClientSession {
            client: Arc::downgrade(&self.inner),
        };
        let this = Arc::downgrade(&self.inner);
        let conn_outbound = outbound.clone();
        tokio::spawn(async move {
            let limits = ws::Limits {
                send_timeout: Some(crate::transport::DEFAULT_SEND_TIMEOUT),
                ..ws::Limits::default()
            };
            let end = ws::drive(socket, rx, &conn_outbound, limits, &session).await;
            if let Some(inner) = this.upgrade() {
                WsClient { inner }.on_disconnect(generation, end).await;
            }
        });
        if let Some(heartbeat) = settings.heartbeat {
            tokio::spawn(heartbeat_loop(
                Arc::downgrade(&self.inner),
                outbound,
                heartbeat,
            ));
        }
        self.inner.flows.post_connect.exec(self.clone()).await;
        Ok(())
    }

    /// Disconnects (code 1000), failing pending calls with `LOST_CONN`;
    /// returns once disconnected. `post_disconnect` sees `is_manual: true`.
    pub async fn disconnect(&self) {
        let active = lock(&self.inner.active)
            .as_ref()
            .map(|a| (a.outbound.clone(), a.generation));
        let Some((outbound, generation)) = active else {
            return;
        };
        self.inner.manual.store(generation, Ordering::Release);
        self.inner.status.send_replace(WsStatus::Closing);
        outbound.close(close_code::NORMAL, "Disconnected by the client");
        let mut status = self.inner.status.subscribe();
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            status.wait_for(|s| *s == WsStatus::Closed),
        )
        .await;
    }

    async fn on_disconnect(&self, generation: u64, end: Disconnect) {
        {
            let mut active = lock(&self.inner.active);
            if active.as_ref().map(|a| a.generation) != Some(generation) {
                return;
            }
            *active = None;
        }
        let is_manual = self.inner.manual.load(Ordering::Acquire) == generation;
        self.inner.status.send_replace(WsStatus::Closed);
        let reason = end.reason.clone();
        tracing::debug!(url = %self.inner.settings.url, code = ?end.code, %reason, is_manual, "disconnected");
        for tx in self.inner.pending.take_aborted(AbortBy::All) {
            let err = TsrpcError::network(format!("Lost connection to server: {reason}"))
                .with_code(codes::LOST_CONN)
                .with_data("reason", reason.clone());
            let _ = tx.send(Err(err));
        }
        let event = DisconnectEvent {
            reason: end.reason,
            code: end.code,
            is_manual,
            client: self.clone(),
        };
        self.inner.flows.post_disconnect.exec(event).await;
        if let (false, Some(policy)) = (is_manual, self.inner.settings.reconnect) {
            tokio::spawn(reconnect_loop(
                Arc::downgrade(&self.inner),
                policy,
                generation,
            ));
        }
    }

    fn outbound(&self) -> Result<Outbound, TsrpcError> {
        let active = lock(&self.inner.active);
        match active.as_ref() {
            Some(a) if self.status() == WsStatus::Opened => Ok(a.outbound.clone()),
            _ => {
                Err(TsrpcError::client("WebSocket is not connected").with_code(codes::WS_NOT_OPEN))
            }
        }
    }

    fn service<'t>(
        table: &'t ServiceTable,
        kind: ServiceKind,
        name: &str,
    ) -> Result<&'t ServiceInfo, TsrpcError> {
        table
            .find(kind, name)
            .ok_or_else(|| TsrpcError::client(format!("{kind} {name:?} is not registered")))
    }

    /// Calls API `R` with the default options.
    pub async fn call_api<R: Api>(&self, req: R) -> Result<R::Res, TsrpcError> {
        self.call_api_with(req, CallOptions::default()).await
    }

    /// Calls API `R`. Resolves with the response, the server's error, or
    /// `WS_NOT_OPEN`, `TIMEOUT`, `LOST_CONN`, `ABORTED`; runs the call
    /// flows around it.
    pub async fn call_api_with<R: Api>(
        &self,
        req: R,
        options: CallOptions,
    ) -> Result<R::Res, TsrpcError> {
        let table = self.table()?;
        let service = Self::service(table, ServiceKind::Api, R::NAME)?;
        let encoding = self.inner.settings.encoding;
        super::call_through_flows(
            &self.inner.flows,
            service,
            encoding,
            req,
            options,
            |payload, options| self.send_call(service, payload, options),
        )
        .await
    }

    /// Puts an encoded request on the connection and waits for its return.
    async fn send_call(
        &self,
        service: &'static ServiceInfo,
        payload: Bytes,
        options: CallOptions,
    ) -> Sent {
        let outbound = match self.outbound() {
            Ok(outbound) => outbound,
            Err(e) => return (0, Err(e)),
        };
        let sn = self.inner.pending.next_sn();
        let encoding = self.inner.settings.encoding;
        let frame =
            codec::encode_api_request_with(encoding, service.id(), service.name(), sn, |out| {
                out.extend_from_slice(&payload);
                Ok(())
            });
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => return (sn, Err(TsrpcError::client(e.to_string()))),
        };
        let (tx, rx) = oneshot::channel();
        let _pending = self.inner.pending.insert(sn, options.abort_key, tx);
        if let Err(e) = self.send_data(&outbound, frame).await {
            return (sn, Err(e));
        }
        let timeout = options.timeout.unwrap_or(self.inner.settings.timeout);
        let result = match tokio::time::timeout(timeout, rx).await {
            Err(_) => Err(TsrpcError::network("Request Timeout").with_code(codes::TIMEOUT)),
            Ok(Err(_)) => {
                Err(TsrpcError::network("Lost connection to server").with_code(codes::LOST_CONN))
            }
            Ok(Ok(result)) => result,
        };
        (sn, result)
    }

    /// Queues a frame through the `pre_send_data` flow.
    async fn send_data(&self, outbound: &Outbound, frame: WireFrame) -> Result<(), TsrpcError> {
        let flows = &self.inner.flows;
        let message = if flows.pre_send_data.is_empty() {
            ws::to_message(frame)
        } else {
            match flows.pre_send_data.exec(DataFlow { data: frame }).await {
                FlowStep::Continue(data) => ws::to_message_checked(data.data),
                FlowStep::Stop => return Ok(()),
                FlowStep::Fail(e) => return Err(e),
            }
        };
        outbound.send(message).map_err(|_| {
            TsrpcError::network("Lost connection to server").with_code(codes::LOST_CONN)
        })
    }

    fn abort_by(&self, by: AbortBy<'_>) {
        for tx in self.inner.pending.take_aborted(by) {
            let _ = tx.send(Err(
                TsrpcError::client("Request aborted").with_code(codes::ABORTED)
            ));
        }
    }

    /// Aborts the pending call with this sn: it resolves with `ABORTED`.
    pub fn abort(&self, sn: u32) {
        self.abort_by(AbortBy::Sn(sn));
    }

    /// Aborts every pending call made with this abort key.
    pub fn abort_by_key(&self, key: &str) {
        self.abort_by(AbortBy::Key(key));
    }

    /// Aborts every pending call.
    pub fn abort_all(&self) {
        self.abort_by(AbortBy::All);
    }

    /// Sends a message through the message flows; resolves once it is
    /// queued (a `pre_send_msg` node that drops it is not an error).
    pub async fn send_msg<M: Message>(&self, msg: &M) -> Result<(), TsrpcError> {
        let table = self.table()?;
        let service = Self::service(table, ServiceKind::Msg, M::NAME)?;
        let outbound = self.outbound()?;
        let encoding = self.inner.settings.encoding;
        super::send_msg_through_flows(
            &self.inner.flows,
            service,
            encoding,
            msg,
            |payload| async move {
                let frame =
                    codec::encode_client_message_with(encoding, service.id(), M::NAME, |out| {
                        out.extend_from_slice(&payload);
                        Ok(())
                    })
                    .map_err(|e| TsrpcError::client(e.to_string()))?;
                self.send_data(&outbound, frame).await
            },
        )
        .await
    }

    /// Calls `listener` with every message `M` received. Listeners survive
    /// reconnections. A message that does not decode is logged and skipped.
    pub fn listen_msg<M: Message>(
        &self,
        listener: impl Fn(M) + Send + Sync + 'static,
    ) -> Result<ClientMsgListener, TsrpcError> {
        let table = self.table()?;
        let service = Self::service(table, ServiceKind::Msg, M::NAME)?;
        let typed: TypedListener = Arc::new(move |payload: &Payload| match payload.decode::<M>() {
            Ok(msg) => listener(msg),
            Err(e) => tracing::warn!(msg = M::NAME, "invalid message from the server: {e}"),
        });
        Ok(ClientMsgListener(self.listeners().add(service.id(), typed)))
    }

    /// Calls `listener` with every message whose name matches `pattern`.
    pub fn listen_msg_matching(
        &self,
        pattern: Regex,
        listener: impl Fn(AnyMsg) + Send + Sync + 'static,
    ) -> ClientMsgListener {
        ClientMsgListener(self.listeners().add_matching(pattern, Arc::new(listener)))
    }

    /// Removes a listener; false if it was not there.
    pub fn unlisten_msg(&self, listener: ClientMsgListener) -> bool {
        self.listeners().remove(listener.0)
    }

    /// Removes every typed listener of message `M`.
    pub fn unlisten_msg_all<M: Message>(&self) {
        if let Ok(service) = self
            .table()
            .and_then(|t| Self::service(t, ServiceKind::Msg, M::NAME))
        {
            self.listeners().remove_service(service.id());
        }
    }

    fn listeners(&self) -> std::sync::RwLockWriteGuard<'_, Listeners> {
        task::write(&self.inner.listeners)
    }
}

async fn heartbeat_loop(
    client: std::sync::Weak<ClientInner>,
    outbound: Outbound,
    config: HeartbeatConfig,
) {
    loop {
        tokio::time::sleep(config.interval).await;
        let Some(inner) = client.upgrade() else {
            return;
        };
        if outbound.is_closing() {
            return;
        }
        let answered = inner.heartbeat_answered.notified();
        let sent = Instant::now();
        if outbound
            .send(ws::to_message(codec::encode_heartbeat()))
            .is_err()
        {
            return;
        }
        if tokio::time::timeout(config.timeout, answered)
            .await
            .is_err()
        {
            outbound.close(
                close_code::HEARTBEAT_TIMEOUT,
                format!(
                    "Heartbeat timeout: no answer within {} ms",
                    config.timeout.as_millis()
                ),
            );
            return;
        }
        *lock(&inner.latency) = Some(sent.elapsed());
    }
}

/// Boxed as a `Send` future: it calls `connect`, which leads back here.
fn reconnect_loop(
    client: std::sync::Weak<ClientInner>,
    policy: ReconnectPolicy,
    lost: u64,
) -> BoxFuture<()> {
    Box::pin(reconnect(client, policy, lost))
}

async fn reconnect(client: std::sync::Weak<ClientInner>, policy: ReconnectPolicy, lost: u64) {
    let mut delay = policy.initial_delay;
    let mut attempts = 0u32;
    loop {
        tokio::time::sleep(delay).await;
        let Some(inner) = client.upgrade() else {
            return;
        };
        let client = WsClient { inner };
        // A connect or disconnect since then (by hand or a flow) ends the loop.
        if client.inner.generation.load(Ordering::Acquire) != lost
            || client.status() != WsStatus::Closed
        {
            return;
        }
        attempts += 1;
        match client.connect().await {
            Ok(()) => return,
            Err(e) if e.has_code(codes::UNAUTHORIZED) || e.has_code(codes::FORBIDDEN) => {
                tracing::warn!("reconnecting stopped, the server refuses the client: {e}");
                return;
            }
            Err(e) => tracing::debug!(attempts, "reconnect failed: {e}"),
        }
        if policy.max_attempts.is_some_and(|max| attempts >= max) {
            return;
        }
        delay = (delay * 2).min(policy.max_delay);
    }
}

/// The client side of one connection.
struct ClientSession {
    client: std::sync::Weak<ClientInner>,
}

impl FrameHandler for ClientSession {
    async fn on_frame(&self, frame: WireFrame) {
        let Some(inner) = self.client.upgrade() else {
            return;
        };
        let flows = &inner.flows;
        let frame = if flows.pre_recv_data.is_empty() {
            frame
        } else {
            match flows.pre_recv_data.exec(DataFlow { data: frame }).await {
                FlowStep::Continue(data) => data.data,
                FlowStep::Stop | FlowStep::Fail(_) => return,
            }
        };
        let frame = match codec::decode_server_frame(inner.settings.encoding, frame) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::warn!(url = %inner.settings.url, "{e}");
                if let Some(active) = lock(&inner.active).as_ref() {
                    active
                        .outbound
                        .close(close_code::INVALID_DATA, e.to_string());
                }
                return;
            }
        };
        match frame {
            ServerFrame::Heartbeat => inner.heartbeat_answered.notify_waiters(),
            ServerFrame::ApiReturn { sn, result, .. } => {
                if let Some(tx) = inner.pending.take(sn) {
                    let _ = tx.send(result);
                }
            }
            ServerFrame::Message { service, payload } => {
                let Ok(table) = &inner.table else { return };
                let info = match &service {
                    ServiceRef::Name(name) => table.msg(name),
                    ServiceRef::Id(id) => table.get(*id).filter(|s| s.kind() == ServiceKind::Msg),
                };
                let Some(info) = info else {
                    tracing::debug!(?service, "dropping a message that is not registered");
                    return;
                };
                let mut received = RecvMsgFlow {
                    service: info,
                    payload,
                };
                if !flows.pre_recv_msg.is_empty() {
                    received = match flows.pre_recv_msg.exec(received).await {
                        FlowStep::Continue(received) => received,
                        FlowStep::Stop | FlowStep::Fail(_) => return,
                    };
                }
                let payload = &received.payload;
                let (typed, matching) = task::read(&inner.listeners).of(info.id(), info.name());
                for f in typed {
                    if let Err(panic) = task::guard(|| f(payload)) {
                        tracing::error!(msg = info.name(), "a message listener panicked: {panic}");
                    }
                }
                for f in matching {
                    let msg = AnyMsg {
                        name: info.name(),
                        payload: payload.clone(),
                    };
                    if let Err(panic) = task::guard(|| f(msg)) {
                        tracing::error!(msg = info.name(), "a message listener panicked: {panic}");
                    }
                }
                if !flows.post_recv_msg.is_empty() {
                    flows.post_recv_msg.exec(received).await;
                }
            }
        }
    }
}
