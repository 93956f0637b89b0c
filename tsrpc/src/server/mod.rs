//! The server: handlers, the service table they serve, connections and calls.
//!
//! A [`Server`] is built from every `#[tsrpc::handler]` linked into the
//! program (or a selection of them, see
//! [`ServerBuilder::select_handlers`]) plus handlers and listeners added at
//! run time ([`Server::implement_api`], [`Server::listen_msg`]). Conflicts
//! (two handlers for one API, a handler for an API that is not registered,
//! two APIs with one name) are reported by [`ServerBuilder::build`], all at
//! once, naming every definition.
//!
//! [`Server::start`] serves WebSocket connections on one port (HTTP comes
//! on the same listener). Every connection may speak JSON (TSRPC v3's JSON
//! mode) or binary; its subprotocol (`text` / `buffer`) or else its first
//! data frame decides.

mod call;
mod connection;
mod dispatch;
mod flows;
mod handler;

use std::collections::HashMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use fnv::FnvHashMap;
use futures_util::FutureExt;
use regex::Regex;
use tokio::sync::Notify;

pub use call::{AnyMsgCall, ApiCall, MsgCall};
pub use connection::{Connection, Transport};
pub use flows::{
    ApiCallFlow, ApiReturnFlow, ApiReturned, ConnDisconnect, DataFlow, MsgCallFlow, SendMsgFlow,
    ServerFlows,
};
pub use handler::HandlerInfo;
#[doc(hidden)]
pub use handler::{
    ApiHandlerFn, BoxFuture, HandlerDescriptor, MsgHandlerFn, api_future, msg_future,
};
use handler::{CallContext, ErasedApiFn, ErasedMsgFn, Handler, PlainStart};

use crate::codec::{self, Body, Encoding, Payload};
use crate::error::{TsrpcError, codes};
use crate::flow::FlowStep;
use crate::proto::{
    AnyValue, Api, Location, Message, ServiceInfo, ServiceKind, ServiceTable, TableError,
};
use crate::transport::http::{
    DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, FINGERPRINT_HEADER, HttpCall,
    HttpReply, HttpSettings, Origins,
};
use crate::transport::listener::{self, App, Listener, ServerSocket};
use crate::transport::{close_code, outbound, ws};

/// Why a server could not be set up: every problem found, one per line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot set up the tsrpc server:\n  {}", .problems.join("\n  "))]
pub struct SetupError {
    problems: Vec<String>,
}

impl SetupError {
    /// One line per problem.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl From<TableError> for SetupError {
    fn from(e: TableError) -> Self {
        SetupError {
            problems: e.problems().to_vec(),
        }
    }
}

type HandlerFilter = Box<dyn Fn(&HandlerInfo) -> bool + Send + Sync>;

/// The default [`ServerBuilder::api_timeout`], as TSRPC's.
pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(30);
/// The default [`ServerBuilder::max_message_size`]: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;
/// The default [`ServerBuilder::send_queue_size`]: 8 MiB.
pub const DEFAULT_SEND_QUEUE_SIZE: usize = 8 << 20;
/// The default [`ServerBuilder::send_timeout`].
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(15);
/// The default [`ServerBuilder::keepalive`].
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(60);
/// The default [`ServerBuilder::max_pending_calls`].
pub const DEFAULT_MAX_PENDING_CALLS: usize = 256;

/// Settings of a server, fixed when it is built.
#[derive(Clone, Debug)]
struct Settings {
    addr: SocketAddr,
    api_timeout: Option<Duration>,
    max_message_size: usize,
    send_queue_size: usize,
    send_timeout: Option<Duration>,
    max_pending_calls: usize,
    keepalive: Option<Duration>,
    heartbeat_wait_time: Option<Duration>,
    http: HttpSettings,
}

/// Builds a [`Server`]. Get one with [`Server::builder`].
pub struct ServerBuilder {
    filter: Option<HandlerFilter>,
    settings: Settings,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("select_handlers", &self.filter.is_some())
            .field("settings", &self.settings)
            .finish()
    }
}

impl ServerBuilder {
    /// Serve only the registered `#[handler]`s for which `filter` returns
    /// true (all of them by default). Useful when one program runs several
    /// servers, for example a public and an admin one:
    ///
    /// ```
    /// let admin = tsrpc::Server::builder()
    ///     .select_handlers(|h| h.location().path.contains("::admin::"))
    ///     .build();
    /// ```
    pub fn select_handlers(
        mut self,
        filter: impl Fn(&HandlerInfo) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.filter = Some(Box::new(filter));
        self
    }

    /// The address to listen on (default `0.0.0.0:3000`, as TSRPC's port).
    /// Port 0 picks a free port; [`Server::start`] returns the bound address.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.settings.addr = addr;
        self
    }

    /// Listen on all interfaces on this port.
    pub fn port(mut self, port: u16) -> Self {
        self.settings.addr.set_port(port);
        self
    }

    /// How long a handler may run before its call fails with
    /// `SERVER_TIMEOUT` (30 s by default); `None` lets handlers run forever.
    ///
    /// A handler that returns without waiting is never cut short. When no
    /// flow sees API calls, the time counts from the handler's first wait
    /// (the call runs where its frame was read until then); otherwise from
    /// the start of the handler.
    pub fn api_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.settings.api_timeout = timeout;
        self
    }

    /// The largest WebSocket message or HTTP body accepted (16 MiB by
    /// default). A larger message closes its connection with code 1009 and
    /// a reason; a larger body is answered 413 and not read further.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.settings.max_message_size = bytes;
        self.settings.http.max_body_size = bytes;
        self
    }

    /// Let browsers call and connect only from these origins (and from
    /// the server's own, such as a page it serves itself), such as
    /// `https://example.com`. By default every origin may (CORS answers
    /// `*`). With a list, an HTTP request or a WebSocket upgrade that
    /// carries another `Origin` is refused with 403 before anything runs,
    /// which also stops cross-site WebSocket hijacking where cookies
    /// authenticate; clients that send no `Origin` (anything but a
    /// browser) are not concerned.
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.settings.http.origins = Origins::List(origins.into_iter().map(Into::into).collect());
        self
    }

    /// The former name of [`allowed_origins`](Self::allowed_origins).
    #[deprecated(note = "renamed `allowed_origins`: it guards WebSocket upgrades too")]
    pub fn cors_origins<I, S>(self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins(origins)
    }

    /// Serve the files of this folder to `GET` requests (`/` serves
    /// `index.html`), next to the API on the same port.
    pub fn static_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.settings.http.static_dir = Some(dir.into());
        self
    }

    /// How long a client may take to send a request's headers (10 s by
    /// default), counted from the moment its connection has no request in
    /// progress: a new connection that sends nothing, a keep-alive
    /// connection (HTTP/1 or HTTP/2) left idle and a client that trickles
    /// its headers are all disconnected after it.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.settings.http.header_read_timeout = timeout;
        self
    }

    /// How long a client may take to send a request's body (30 s by
    /// default); a slower one is answered 408 and disconnected.
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.settings.http.body_read_timeout = timeout;
        self
    }

    /// How many connections (HTTP and WebSocket) the server holds at once;
    /// `None`: no limit. By default, nine tenths of the process's limit on
    /// open files (keeping at least 32 descriptors for everything else; 922
    /// under the common limit of 1,024), so the server answers before it
    /// runs out of descriptors. At the limit, the oldest connection that
    /// has not yet sent a request makes way for a new one; when there is
    /// none, the new one is answered 503 and closed. Should the process run
    /// out of descriptors all the same, the oldest such connection is closed
    /// to free one.
    pub fn max_connections(mut self, max: Option<usize>) -> Self {
        self.settings.http.caps.total = max;
        self
    }

    /// How many connections one remote IP address may hold at once (no
    /// limit by default: behind a proxy every client has its address).
    /// Past it, as for [`max_connections`](Self::max_connections), but the
    /// refusal is 429.
    pub fn max_connections_per_ip(mut self, max: Option<usize>) -> Self {
        self.settings.http.caps.per_ip = max;
        self
    }

    /// How many bytes may wait to be sent on one connection (8 MiB by
    /// default; each frame counts its length and 64 bytes more). A frame
    /// that would go past it closes the connection (1008), so a peer that
    /// stops reading never holds up broadcasts or other connections, and
    /// pins at most this much memory, plus the answers its own calls made
    /// while it was being read (the server stops reading it once half the
    /// size waits, so they stay under half of it). A frame larger than the
    /// whole size is still sent when nothing else waits. A peer whose own
    /// calls fill half of it is not read again until it has taken those
    /// answers.
    pub fn send_queue_size(mut self, bytes: usize) -> Self {
        self.settings.send_queue_size = bytes;
        self
    }

    /// Close a connection (1008) whose peer took none of the bytes waiting
    /// for it for this long (15 s by default; `None`: never). A peer that
    /// reads, however far behind a burst it is, keeps its connection; one
    /// that stopped reading is cut off even when what it leaves waiting
    /// is small.
    pub fn send_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.settings.send_timeout = timeout;
        self
    }

    /// How many API calls of one connection may run at once (256 by
    /// default); past that, the connection is not read until one returns.
    pub fn max_pending_calls(mut self, calls: usize) -> Self {
        self.settings.max_pending_calls = calls;
        self
    }

    /// Close a WebSocket connection (code 3001) from which nothing at all,
    /// not even a pong, arrived for this long (60 s by default; `None`:
    /// never). Halfway, the server sends a WebSocket ping, which every
    /// WebSocket client (browsers, TSRPC's, tungstenite) answers by
    /// itself: a quiet client that is still there keeps its connection
    /// without sending anything, while a peer that vanished, or a socket
    /// that never answers, is let go.
    pub fn keepalive(mut self, timeout: Option<Duration>) -> Self {
        self.settings.keepalive = timeout;
        self
    }

    /// Close a WebSocket connection (code 3001) that sent no data, not
    /// even a heartbeat, for this long (TSRPC's `heartbeatWaitTime`; off
    /// by default). Unlike [`keepalive`](Self::keepalive), pongs do not
    /// count: this demands heartbeats of the clients, as TSRPC's option
    /// does (`WsClient::heartbeat`, TSRPC's `heartbeat` client option).
    pub fn heartbeat_wait_time(mut self, wait: Option<Duration>) -> Self {
        self.settings.heartbeat_wait_time = wait;
        self
    }

    /// Builds the server, reporting every setup problem at once.
    pub fn build(self) -> Result<Server, SetupError> {
        let table = ServiceTable::global()?;
        let mut handlers = HandlerMap::default();
        let api_fns: Box<[OnceLock<ErasedApiFn>]> = table.iter().map(|_| OnceLock::new()).collect();
        let mut problems = Vec::new();
        for descriptor in inventory::iter::<HandlerDescriptor>() {
            if self
                .filter
                .as_ref()
                .is_some_and(|keep| !keep(&descriptor.info))
            {
                continue;
            }
            let handler = (descriptor.make)();
            if let Err(problem) = handlers.insert(table, &api_fns, descriptor.info, handler) {
                problems.push(problem);
            }
        }
        if !problems.is_empty() {
            problems.sort();
            return Err(SetupError { problems });
        }
        Ok(Server {
            inner: Arc::new(ServerInner {
                table,
                fingerprint: table.fingerprint().to_string(),
                api_fns,
                handlers: RwLock::new(handlers),
                settings: self.settings,
                next_conn_id: AtomicU64::new(1),
                in_process: Connection::in_process(),
                listener: Mutex::new(None),
                connections: Mutex::new(HashMap::new()),
                connections_changed: Notify::new(),
                stopping: AtomicBool::new(false),
                in_flight: AtomicUsize::new(0),
                calls_done: Notify::new(),
                flows: Arc::new(ServerFlows::new()),
            }),
        })
    }
}

/// A handle on a message listener, to remove it with `unlisten_msg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MsgListener(u64);

static NEXT_LISTENER: AtomicU64 = AtomicU64::new(1);

type ErasedAnyMsgFn = Arc<dyn Fn(AnyMsgCall) -> BoxFuture<()> + Send + Sync>;

struct MsgEntry {
    listener: MsgListener,
    f: ErasedMsgFn,
    info: HandlerInfo,
}

#[derive(Default)]
struct HandlerMap {
    /// Who handles each API; the handlers themselves are in `ServerInner::api_fns`.
    apis: FnvHashMap<u32, HandlerInfo>,
    msgs: FnvHashMap<u32, Vec<MsgEntry>>,
    matching: Vec<(MsgListener, Regex, ErasedAnyMsgFn)>,
}

impl HandlerMap {
    /// Adds a handler; an API's goes to `api_fns`, by service id.
    fn insert(
        &mut self,
        table: &ServiceTable,
        api_fns: &[OnceLock<ErasedApiFn>],
        info: HandlerInfo,
        handler: Handler,
    ) -> Result<MsgListener, String> {
        let name = info.service();
        let Some(service) = table.find(info.kind(), name) else {
            let (what, attr) = match info.kind() {
                ServiceKind::Api => ("API", "#[tsrpc::api]"),
                ServiceKind::Msg => ("message", "#[tsrpc::msg]"),
            };
            return Err(format!(
                "handler {} is for {what} {name:?}, which is not registered: put {attr} on its type",
                info.location()
            ));
        };
        let listener = MsgListener(NEXT_LISTENER.fetch_add(1, Ordering::Relaxed));
        match handler {
            Handler::Api(f) => {
                if let Some(first) = self.apis.get(&service.id()) {
                    return Err(format!(
                        "two handlers for API {name:?}: {} and {}",
                        first.location(),
                        info.location()
                    ));
                }
                self.apis.insert(service.id(), info);
                if let Some(slot) = api_fns.get(service.id() as usize) {
                    // Empty: a second handler for an API is refused above.
                    let _ = slot.set(f);
                }
            }
            Handler::Msg(f) => {
                self.msgs
                    .entry(service.id())
                    .or_default()
                    .push(MsgEntry { listener, f, info })
            }
        }
        Ok(listener)
    }
}

struct ServerInner {
    table: &'static ServiceTable,
    /// The table's fingerprint as binary HTTP clients send it.
    fingerprint: String,
    /// Each API's handler by service id, once it has one. API handlers are
    /// only ever added (a second one for an API is refused), so calls read
    /// them without a lock or a reference count.
    api_fns: Box<[OnceLock<ErasedApiFn>]>,
    handlers: RwLock<HandlerMap>,
    settings: Settings,
    next_conn_id: AtomicU64,
    in_process: Connection,
    listener: Mutex<Option<Listener>>,
    connections: Mutex<HashMap<u64, Connection>>,
    connections_changed: Notify,
    stopping: AtomicBool,
    in_flight: AtomicUsize,
    calls_done: Notify,
    flows: Arc<ServerFlows>,
}

/// Counts one running API call; dropping it ends the count.
pub(crate) struct InFlight(Arc<ServerInner>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.call_ended();
    }
}

/// A call in flight that borrows the server: no reference count to touch
/// for a call that ends where it started.
pub(crate) struct InFlightHere<'a>(&'a Arc<ServerInner>);

impl InFlightHere<'_> {
    /// The same call, carried on by a task of its own.
    pub(crate) fn keep(self) -> InFlight {
        let inner = self.0.clone();
        std::mem::forget(self);
        InFlight(inner)
    }
}

impl Drop for InFlightHere<'_> {
    fn drop(&mut self) {
        self.0.call_ended();
    }
}

impl ServerInner {
    fn call_ended(&self) {
        // Only `graceful_stop` waits, and only once the server is stopping.
        // Sequentially consistent with its side (set `stopping`, then read
        // the count), so one of the two sees the other's write.
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1
            && self.stopping.load(Ordering::SeqCst)
        {
            self.calls_done.notify_waiters();
        }
    }
}

/// A tsrpc server: a cheap, cloneable handle.
///
/// ```rust,standalone_crate
/// use serde::{Deserialize, Serialize};
/// use tsrpc::{ApiCall, Server, TsrpcError};
///
/// #[tsrpc::api]
/// #[derive(Serialize, Deserialize)]
/// pub struct ReqHello { pub name: String }
/// #[derive(Serialize, Deserialize)]
/// pub struct ResHello { pub greeting: String }
///
/// #[tsrpc::handler]
/// async fn hello(call: ApiCall<ReqHello>) -> Result<ResHello, TsrpcError> {
///     Ok(ResHello { greeting: format!("Hello, {}!", call.req.name) })
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::builder().bind("127.0.0.1:0".parse()?).build()?;
/// let addr = server.start().await?; // ws://{addr}
/// let res = server.call_api(ReqHello { name: "tsrpc".into() }).await?;
/// assert_eq!(res.greeting, "Hello, tsrpc!");
/// server.stop().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Server {
    inner: Arc<ServerInner>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("services", &self.inner.table.len())
            .field("fingerprint", &self.inner.table.fingerprint())
            .field("local_addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-string panic payload")
}

impl Server {
    /// A builder with the defaults: every registered handler, `0.0.0.0:3000`,
    /// 30 s API timeout, 16 MiB messages.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            filter: None,
            settings: Settings {
                addr: SocketAddr::from(([0, 0, 0, 0], 3000)),
                api_timeout: Some(DEFAULT_API_TIMEOUT),
                max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
                send_queue_size: DEFAULT_SEND_QUEUE_SIZE,
                send_timeout: Some(DEFAULT_SEND_TIMEOUT),
                max_pending_calls: DEFAULT_MAX_PENDING_CALLS,
                keepalive: Some(DEFAULT_KEEPALIVE),
                heartbeat_wait_time: None,
                http: HttpSettings {
                    max_body_size: DEFAULT_MAX_MESSAGE_SIZE,
                    origins: Origins::Any,
                    static_dir: None,
                    header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
                    body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
                    caps: crate::transport::admission::Caps {
                        total: Some(crate::transport::admission::Caps::default_total()),
                        per_ip: None,
                    },
                },
            },
        }
    }

    /// The server's flows: add nodes with `server.flows().pre_api_call.push(..)`.
    ///
    /// ```no_run
    /// # fn f(server: tsrpc::Server) {
    /// use tsrpc::server::ApiCallFlow;
    /// use tsrpc::TsrpcError;
    ///
    /// #[derive(Clone)]
    /// struct User(String);
    ///
    /// server.flows().pre_api_call.push(|call: ApiCallFlow| async move {
    ///     if call.name() != "Login" && call.conn.extension::<User>().is_none() {
    ///         return Err(TsrpcError::api("Please log in first").with_code("NEED_LOGIN"));
    ///     }
    ///     Ok(call)
    /// });
    /// # }
    /// ```
    pub fn flows(&self) -> &ServerFlows {
        &self.inner.flows
    }

    /// The service table the server serves.
    pub fn service_table(&self) -> &'static ServiceTable {
        self.inner.table
    }

    /// Every handler and typed message listener the server runs, ordered
    /// by service name.
    pub fn handlers(&self) -> Vec<HandlerInfo> {
        let map = self
            .inner
            .handlers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<HandlerInfo> = map
            .apis
            .values()
            .copied()
            .chain(map.msgs.values().flatten().map(|e| e.info))
            .collect();
        all.sort_by_key(|h| (h.service(), h.kind(), h.location().path));
        all
    }

    /// Starts listening; returns the bound address.
    pub async fn start(&self) -> std::io::Result<SocketAddr> {
        let mut slot = lock(&self.inner.listener).take();
        if let Some(existing) = &slot {
            let addr = existing.local_addr();
            *lock(&self.inner.listener) = slot.take();
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("the server is already listening on {addr}"),
            ));
        }
        self.inner.stopping.store(false, Ordering::Release);
        let listener = listener::serve(self.inner.settings.addr, self.inner.clone()).await?;
        let addr = listener.local_addr();
        tracing::info!(%addr, fingerprint = %self.inner.table.fingerprint(), "tsrpc server started");
        *lock(&self.inner.listener) = Some(listener);
        Ok(addr)
    }

    /// The address the server listens on, while started.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        lock(&self.inner.listener)
            .as_ref()
            .map(Listener::local_addr)
    }

    /// Stops at once: stops listening and closes every connection (code
    /// 1001, reason "Server stopped"); returns when they are closed.
    pub async fn stop(&self) {
        self.inner.stopping.store(true, Ordering::Release);
        if let Some(listener) = lock(&self.inner.listener).take() {
            listener.stop();
        }
        for conn in self.connections() {
            conn.close_with(close_code::GOING_AWAY, "Server stopped");
        }
        // Closing takes at most the transport's grace period per connection.
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let changed = self.inner.connections_changed.notified();
                if lock(&self.inner.connections).is_empty() {
                    break;
                }
                changed.await;
            }
        })
        .await;
    }

    /// Stops gracefully: refuses new WebSocket connections and HTTP
    /// requests (503) and new calls (`SERVER_STOPPING`), lets running calls
    /// finish for up to `timeout`, then [`stop`](Self::stop)s.
    pub async fn graceful_stop(&self, timeout: Duration) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        let _ = tokio::time::timeout(timeout, async {
            loop {
                let done = self.inner.calls_done.notified();
                if self.inner.in_flight.load(Ordering::SeqCst) == 0 {
                    break;
                }
                done.await;
            }
        })
        .await;
        self.stop().await;
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::Acquire)
    }

    pub(crate) fn track_call(&self) -> InFlight {
        self.track_call_here().keep()
    }

    /// [`track_call`](Self::track_call) for a call that may end before the
    /// caller returns.
    pub(crate) fn track_call_here(&self) -> InFlightHere<'_> {
        self.inner.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlightHere(&self.inner)
    }

    /// The open connections.
    pub fn connections(&self) -> Vec<Connection> {
        lock(&self.inner.connections).values().cloned().collect()
    }

    /// Sends a message to every connection. It is encoded once per encoding
    /// in use, whatever the number of receivers (send flows run per
    /// receiver on the same bytes); connections that are gone or not
    /// reading are skipped.
    pub async fn broadcast_msg<M: Message>(&self, msg: &M) -> Result<(), TsrpcError> {
        self.broadcast_msg_to(msg, &self.connections()).await
    }

    /// Sends a message to the given connections, encoded once per encoding.
    pub async fn broadcast_msg_to<M: Message>(
        &self,
        msg: &M,
        conns: &[Connection],
    ) -> Result<(), TsrpcError> {
        let service = self.inner.table.msg(M::NAME).ok_or_else(|| {
            TsrpcError::client(format!(
                "message {:?} is not registered with #[tsrpc::msg]",
                M::NAME
            ))
        })?;
        let mut encoded: [Option<(codec::WireFrame, tokio_tungstenite::tungstenite::Message)>; 2] =
            [None, None];
        for conn in conns {
            let encoding = conn.send_encoding();
            let slot = &mut encoded[usize::from(encoding == Encoding::Binary)];
            let (frame, prepared) = match slot {
                Some(ready) => ready,
                None => {
                    let frame = codec::encode_message(encoding, service.id(), M::NAME, msg)
                        .map_err(|e| {
                            TsrpcError::client(format!("cannot encode message {}: {e}", M::NAME))
                        })?;
                    let prepared = ws::to_message(frame.clone());
                    slot.insert((frame, prepared))
                }
            };
            // One failed receiver does not stop the others.
            if conn.sends_without_flows() {
                let _ = conn.send_frame(prepared.clone());
            } else {
                let _ = conn
                    .send_msg_frame(service, frame.clone(), Some(prepared))
                    .await;
            }
        }
        Ok(())
    }

    /// Implements API `R` with a closure or function, at any time.
    ///
    /// Fails when `R` already has a handler or is not registered with
    /// `#[tsrpc::api]`.
    ///
    /// ```rust,standalone_crate
    /// # use serde::{Deserialize, Serialize};
    /// # #[tsrpc::api]
    /// # #[derive(Serialize, Deserialize)]
    /// # pub struct ReqDouble { pub n: i64 }
    /// # #[derive(Serialize, Deserialize)]
    /// # pub struct ResDouble { pub n: i64 }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = tsrpc::Server::builder().build()?;
    /// server.implement_api(|call: tsrpc::ApiCall<ReqDouble>| async move {
    ///     Ok(ResDouble { n: call.req.n * 2 })
    /// })?;
    /// assert_eq!(server.call_api(ReqDouble { n: 21 }).await?.n, 42);
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn implement_api<R, F, Fut>(&self, handler: F) -> Result<(), SetupError>
    where
        R: Api,
        F: Fn(ApiCall<R>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R::Res, TsrpcError>> + Send + 'static,
    {
        let info = manual_info::<F>(ServiceKind::Api, R::NAME, std::panic::Location::caller());
        self.register(info, Handler::Api(handler::erase_api(handler)))
            .map(drop)
    }

    fn register(&self, info: HandlerInfo, handler: Handler) -> Result<MsgListener, SetupError> {
        let mut map = self
            .inner
            .handlers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.insert(self.inner.table, &self.inner.api_fns, info, handler)
            .map_err(|problem| SetupError {
                problems: vec![problem],
            })
    }

    /// Listens to message `M` from every connection; `#[tsrpc::handler]`
    /// does the same for a function. Messages of one connection are
    /// handled in order: the next is read when the listeners return.
    ///
    /// ```no_run,standalone_crate
    /// # use serde::{Deserialize, Serialize};
    /// # #[tsrpc::msg] #[derive(Serialize, Deserialize)] pub struct MsgChat { pub content: String }
    /// # fn f(server: tsrpc::Server) -> Result<(), tsrpc::SetupError> {
    /// let listener = server.listen_msg(|call: tsrpc::MsgCall<MsgChat>| async move {
    ///     println!("{} says {}", call.conn.id(), call.msg.content);
    /// })?;
    /// server.unlisten_msg(listener);
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn listen_msg<M, F, Fut>(&self, listener: F) -> Result<MsgListener, SetupError>
    where
        M: Message,
        F: Fn(MsgCall<M>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let info = manual_info::<F>(ServiceKind::Msg, M::NAME, std::panic::Location::caller());
        self.register(info, Handler::Msg(handler::erase_msg(listener)))
    }

    /// Listens to every message whose name matches `pattern` (TSRPC's
    /// `listenMsg(/^room\//, ...)`). The listener gets the name and a
    /// payload it decodes into the right type.
    pub fn listen_msg_matching<F, Fut>(&self, pattern: Regex, listener: F) -> MsgListener
    where
        F: Fn(AnyMsgCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let id = MsgListener(NEXT_LISTENER.fetch_add(1, Ordering::Relaxed));
        let f: ErasedAnyMsgFn = Arc::new(move |call| Box::pin(listener(call)));
        let mut map = self
            .inner
            .handlers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.matching.push((id, pattern, f));
        id
    }

    /// Removes a listener added with `listen_msg` or `listen_msg_matching`;
    /// false if it was not there.
    pub fn unlisten_msg(&self, listener: MsgListener) -> bool {
        let mut map = self
            .inner
            .handlers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let before = map.matching.len() + map.msgs.values().map(Vec::len).sum::<usize>();
        map.matching.retain(|(id, _, _)| *id != listener);
        for entries in map.msgs.values_mut() {
            entries.retain(|e| e.listener != listener);
        }
        before != map.matching.len() + map.msgs.values().map(Vec::len).sum::<usize>()
    }

    /// Calls API `R` inside the process, through the same `pre_api_call`
    /// and `pre_api_return` flows, handler, timeout and panic guard as a
    /// call from the network. The handler sees a connection whose
    /// [`transport`](Connection::transport) is [`Transport::InProcess`].
    pub async fn call_api<R: Api>(&self, req: R) -> Result<R::Res, TsrpcError> {
        let service = self
            .inner
            .table
            .api(R::NAME)
            .ok_or_else(|| unhandled(R::NAME))?;
        let conn = self.inner.in_process.clone();
        let res = self.run_with_flows(service, Box::new(req), conn, 0).await?;
        res.downcast::<R::Res>().map(|res| *res).map_err(|_| {
            TsrpcError::internal(format!("the handler of {} returned another type", R::NAME))
        })
    }

    /// Decodes a request and runs it through the flows and its handler: the
    /// part of a call shared by every transport.
    pub(crate) async fn execute_api(
        &self,
        info: &'static ServiceInfo,
        payload: &Payload,
        conn: Connection,
        sn: u32,
    ) -> Result<AnyValue, TsrpcError> {
        let req = decode_request(info, payload)?;
        self.run_with_flows(info, req, conn, sn).await
    }

    /// `pre_api_call`, the handler, `pre_api_return`.
    async fn run_with_flows(
        &self,
        info: &'static ServiceInfo,
        req: AnyValue,
        conn: Connection,
        sn: u32,
    ) -> Result<AnyValue, TsrpcError> {
        let flows = &self.inner.flows;
        let name = info.name();
        let mut call = ApiCallFlow {
            conn,
            sn,
            extensions: http::Extensions::new(),
            service: info,
            req,
        };
        if !flows.pre_api_call.is_empty() {
            call = match flows.pre_api_call.exec(call).await {
                FlowStep::Continue(call) => call,
                FlowStep::Stop => {
                    return Err(TsrpcError::server(format!(
                        "The call to {name} was cancelled by the server"
                    )));
                }
                FlowStep::Fail(e) => return Err(e),
            };
        }
        let ApiCallFlow {
            conn,
            sn,
            extensions,
            req,
            ..
        } = call;
        let ctx = CallContext {
            sn,
            conn: conn.clone(),
            server: self.clone(),
            extensions,
        };
        let result = self.run_handler(info, req, ctx).await;
        if flows.pre_api_return.is_empty() {
            return result;
        }
        let ret = ApiReturnFlow {
            conn,
            sn,
            service: info,
            result,
        };
        match flows.pre_api_return.exec(ret).await {
            FlowStep::Continue(ret) => ret.result,
            FlowStep::Stop => Err(TsrpcError::server(format!(
                "The return of {name} was cancelled by the server"
            ))),
            FlowStep::Fail(e) => Err(e),
        }
    }

    /// Runs `post_api_return` then `post_api_call` once the return is on its way.
    pub(crate) async fn after_return(
        &self,
        conn: Connection,
        sn: u32,
        name: &'static str,
        result: Result<Payload, TsrpcError>,
    ) {
        let flows = &self.inner.flows;
        if flows.post_api_return.is_empty() && flows.post_api_call.is_empty() {
            return;
        }
        let returned = ApiReturned {
            conn,
            sn,
            name,
            result,
        };
        flows.post_api_return.exec(returned.clone()).await;
        flows.post_api_call.exec(returned).await;
    }

    /// True when no flow is set that sees API calls or what they send
    /// (`pre_api_call`, `pre_api_return`, `post_api_return`,
    /// `post_api_call`, `pre_send_data`): a call is then its handler alone,
    /// and its return is queued as it is.
    pub(crate) fn plain_calls(&self) -> bool {
        let flows = &self.inner.flows;
        flows.pre_api_call.is_empty()
            && flows.pre_api_return.is_empty()
            && flows.pre_send_data.is_empty()
            && !self.wants_returns()
    }

    /// True when a post-return flow wants to see returns.
    pub(crate) fn wants_returns(&self) -> bool {
        let flows = &self.inner.flows;
        !flows.post_api_return.is_empty() || !flows.post_api_call.is_empty()
    }

    /// Answers an API call or message that came over HTTP, through the data
    /// flows.
    async fn http_call(&self, call: HttpCall) -> HttpReply {
        let id = self.inner.next_conn_id.fetch_add(1, Ordering::Relaxed);
        let conn = Connection::http(id, call.remote, call.encoding, call.headers);
        let flows = self.inner.flows.clone();
        let frame = match call.encoding {
            Encoding::Json => codec::WireFrame::Text(call.body),
            Encoding::Binary => codec::WireFrame::Binary(call.body),
        };
        let body = if flows.pre_recv_data.is_empty() {
            frame
        } else {
            match flows
                .pre_recv_data
                .exec(DataFlow {
                    conn: conn.clone(),
                    data: frame,
                })
                .await
            {
                FlowStep::Continue(data) => data.data,
                FlowStep::Stop => {
                    let err = TsrpcError::server("The request was dropped by the server");
                    return HttpReply::json_error(http::StatusCode::INTERNAL_SERVER_ERROR, &err);
                }
                FlowStep::Fail(e) => return HttpReply::json_error(http_status(&e), &e),
            }
        };
        let (body, encoding) = match body {
            codec::WireFrame::Text(b) => (b, Encoding::Json),
            codec::WireFrame::Binary(b) => (b, Encoding::Binary),
        };
        let (mut reply, returned) = match encoding {
            Encoding::Json => {
                self.http_json(call.name, call.is_msg, body, conn.clone())
                    .await
            }
            Encoding::Binary => self.http_binary(&call.name, body, conn.clone()).await,
        };
        if !flows.pre_send_data.is_empty() {
            let data = match reply.encoding {
                Some(Encoding::Binary) => codec::WireFrame::Binary(reply.body.clone()),
                _ => codec::WireFrame::Text(reply.body.clone()),
            };
            match flows
                .pre_send_data
                .exec(DataFlow {
                    conn: conn.clone(),
                    data,
                })
                .await
            {
                FlowStep::Continue(data) => {
                    reply.body = match data.data {
                        codec::WireFrame::Text(b) | codec::WireFrame::Binary(b) => b,
                    }
                }
                FlowStep::Stop => {
                    let err = TsrpcError::server("The response was dropped by the server");
                    reply = HttpReply::json_error(http::StatusCode::INTERNAL_SERVER_ERROR, &err);
                }
                FlowStep::Fail(e) => reply = HttpReply::json_error(http_status(&e), &e),
            }
        }
        if let Some((sn, name, result)) = returned {
            // The post flows do not hold up the response.
            let server = self.clone();
            tokio::spawn(async move { server.after_return(conn, sn, name, result).await });
        }
        reply
    }

    async fn http_json(
        &self,
        name: String,
        is_msg: bool,
        body: bytes::Bytes,
        conn: Connection,
    ) -> (HttpReply, Returned) {
        let api = (!is_msg && self.wants_returns())
            .then(|| self.inner.table.api(&name))
            .flatten();
        let reply = self.http_json_reply(name, is_msg, body, conn).await;
        let returned = api.and_then(|info| {
            let result = codec::decode_http_json_return(reply.body.clone()).ok()?;
            Some((0, info.name(), result))
        });
        (reply, returned)
    }

    async fn http_binary(
        &self,
        path_name: &str,
        body: bytes::Bytes,
        conn: Connection,
    ) -> (HttpReply, Returned) {
        let api = if self.wants_returns() {
            match codec::decode_client_frame(codec::WireFrame::Binary(body.clone())) {
                Ok(codec::ClientFrame::ApiRequest {
                    service: codec::ServiceRef::Id(id),
                    ..
                }) => self
                    .inner
                    .table
                    .get(id)
                    .filter(|s| s.kind() == ServiceKind::Api),
                _ => None,
            }
        } else {
            None
        };
        let reply = self.http_binary_reply(path_name, body, conn).await;
        let returned = api.and_then(|info| {
            match codec::decode_server_frame(codec::WireFrame::Binary(reply.body.clone())) {
                Ok(codec::ServerFrame::ApiReturn { sn, result, .. }) => {
                    Some((sn, info.name(), result))
                }
                _ => None,
            }
        });
        (reply, returned)
    }

    async fn http_json_reply(
        &self,
        name: String,
        is_msg: bool,
        body: bytes::Bytes,
        conn: Connection,
    ) -> HttpReply {
        let payload = Payload::new(Encoding::Json, body);
        let invalid = |what: &str| {
            HttpReply::json_error(
                http::StatusCode::OK,
                &TsrpcError::input_data(format!("Invalid {what} name: {name}")),
            )
        };
        if is_msg {
            let Some(info) = self.inner.table.msg(&name) else {
                return invalid("message");
            };
            return match (info.codec().decode_input)(&payload) {
                Err(e) => HttpReply::json_error(
                    http::StatusCode::OK,
                    &TsrpcError::input_data(format!("Invalid message {name}: {e}")),
                ),
                Ok(_) => {
                    self.deliver_msg(info, &payload, &conn).await;
                    HttpReply {
                        status: http::StatusCode::OK,
                        encoding: None,
                        body: bytes::Bytes::new(),
                    }
                }
            };
        }
        let Some(info) = self.inner.table.api(&name) else {
            return invalid("service");
        };
        let _in_flight = self.track_call_here();
        if self.plain_calls() {
            let (body, status) = self.plain_http_call(info, &payload, conn, 0).await;
            return HttpReply {
                status,
                encoding: Some(Encoding::Json),
                body: body.into_bytes(),
            };
        }
        match self.execute_api(info, &payload, conn, 0).await {
            Ok(res) => {
                let codec = info.codec();
                match codec::http_json_success(|out| {
                    (codec.encode_output)(&*res, Encoding::Json, out)
                }) {
                    Ok(body) => HttpReply {
                        status: http::StatusCode::OK,
                        encoding: Some(Encoding::Json),
                        body,
                    },
                    Err(e) => {
                        tracing::error!(api = info.name(), "cannot encode the response: {e}");
                        let err = TsrpcError::internal(format!(
                            "the response of {} could not be encoded",
                            info.name()
                        ));
                        HttpReply::json_error(http_status(&err), &err)
                    }
                }
            }
            Err(err) => HttpReply::json_error(http_status(&err), &err),
        }
    }

    /// A binary HTTP call: the frame names its service by id, and the URL
    /// path must name the same service, so that rules a proxy applies by
    /// path hold for binary calls too.
    async fn http_binary_reply(
        &self,
        path_name: &str,
        body: bytes::Bytes,
        conn: Connection,
    ) -> HttpReply {
        let binary = |status, frame: codec::WireFrame| HttpReply {
            status,
            encoding: Some(Encoding::Binary),
            body: match frame {
                codec::WireFrame::Binary(b) | codec::WireFrame::Text(b) => b,
            },
        };
        let refuse = |sn: u32, err: TsrpcError| {
            binary(
                http::StatusCode::BAD_REQUEST,
                codec::encode_api_error(Encoding::Binary, "", sn, &err),
            )
        };
        let frame = match codec::decode_client_frame(codec::WireFrame::Binary(body)) {
            Ok(frame) => frame,
            Err(e) => return refuse(0, TsrpcError::input_data(e.to_string())),
        };
        let ours = &self.inner.fingerprint;
        let theirs = conn.header(FINGERPRINT_HEADER);
        let sn = match &frame {
            codec::ClientFrame::ApiRequest { sn, .. } => *sn,
            _ => 0,
        };
        if theirs != Some(ours.as_str()) {
            let theirs = theirs.unwrap_or("none");
            return refuse(
                sn,
                TsrpcError::input_data(format!(
                    "protocol fingerprint mismatch: server {ours}, client {theirs} (header {FINGERPRINT_HEADER})"
                )),
            );
        }
        match frame {
            codec::ClientFrame::ApiRequest {
                service,
                sn,
                payload,
            } => {
                let info = match service {
                    codec::ServiceRef::Id(id) => self
                        .inner
                        .table
                        .get(id)
                        .filter(|s| s.kind() == ServiceKind::Api),
                    codec::ServiceRef::Name(_) => None,
                };
                let Some(info) = info else {
                    return refuse(sn, TsrpcError::input_data("Invalid service id"));
                };
                if info.name() != path_name {
                    return refuse(sn, path_mismatch(path_name, info.name()));
                }
                let _in_flight = self.track_call_here();
                let (frame, status) = if self.plain_calls() {
                    self.plain_http_call(info, &payload, conn, sn).await
                } else {
                    let result = self.execute_api(info, &payload, conn, sn).await;
                    return_frame(info, Encoding::Binary, sn, result)
                };
                binary(status, frame)
            }
            codec::ClientFrame::Message { service, payload } => {
                let info = match service {
                    codec::ServiceRef::Id(id) => self
                        .inner
                        .table
                        .get(id)
                        .filter(|s| s.kind() == ServiceKind::Msg),
                    codec::ServiceRef::Name(_) => None,
                };
                let Some(info) = info else {
                    return refuse(0, TsrpcError::input_data("Invalid message id"));
                };
                if info.name() != path_name {
                    return refuse(0, path_mismatch(path_name, info.name()));
                }
                self.deliver_msg(info, &payload, &conn).await;
                HttpReply {
                    status: http::StatusCode::OK,
                    encoding: None,
                    body: bytes::Bytes::new(),
                }
            }
            _ => refuse(
                0,
                TsrpcError::input_data("an HTTP body holds an API request or a message"),
            ),
        }
    }

    async fn run_handler(
        &self,
        info: &'static ServiceInfo,
        req: AnyValue,
        ctx: CallContext,
    ) -> Result<AnyValue, TsrpcError> {
        let handler = self.start_handler(info, req, ctx)?;
        self.finish_handler(info.name(), handler).await
    }

    /// The handler's future for a call, made but not yet polled; a handler
    /// that panics making it fails the call with `INTERNAL_ERR`.
    pub(crate) fn start_handler(
        &self,
        info: &'static ServiceInfo,
        req: AnyValue,
        ctx: CallContext,
    ) -> Result<HandlerFuture, TsrpcError> {
        // A closure given to `implement_api` runs here, outside the lock.
        let handler = self.api_handler(info)?;
        std::panic::catch_unwind(AssertUnwindSafe(|| handler.call(req, ctx)))
            .map_err(|panic| handler_panicked(info.name(), &*panic))
    }

    /// An HTTP call no flow sees, as [`ErasedApi::start`] runs a WebSocket
    /// one: the typed handler polled once where the request was read, the
    /// API timeout and a boxed continuation only for a handler that waits.
    async fn plain_http_call(
        &self,
        info: &'static ServiceInfo,
        payload: &Payload,
        conn: Connection,
        sn: u32,
    ) -> (codec::WireFrame, http::StatusCode) {
        let encoding = payload.encoding();
        let shape = match encoding {
            Encoding::Json => AnswerShape::HttpJson,
            Encoding::Binary => AnswerShape::Frame,
        };
        let fail = |err: TsrpcError| {
            let none = Err::<fn(&mut Vec<u8>) -> Result<(), codec::PayloadError>, _>(err);
            encode_return(shape, info.name(), encoding, sn, none)
        };
        let handler = match self.api_handler(info) {
            Ok(handler) => handler,
            Err(err) => return fail(err),
        };
        let ctx = CallContext {
            sn,
            conn,
            server: self.clone(),
            extensions: http::Extensions::new(),
        };
        let started =
            with_context(|cx| handler.start(Body::Payload(payload), ctx, shape, cx)).await;
        match started {
            PlainStart::Done(answer) => answer,
            PlainStart::BadInput(e) => fail(input_error(info.name(), &e)),
            PlainStart::Waiting(rest) => {
                let result = self.finish_handler(info.name(), rest).await;
                let codec = info.codec();
                let written = result.map(|res| {
                    move |out: &mut Vec<u8>| (codec.encode_output)(&*res, encoding, out)
                });
                encode_return(shape, info.name(), encoding, sn, written)
            }
        }
    }

    /// The handler of an API.
    pub(crate) fn api_handler(&self, info: &ServiceInfo) -> Result<&ErasedApiFn, TsrpcError> {
        self.inner
            .api_fns
            .get(info.id() as usize)
            .and_then(OnceLock::get)
            .ok_or_else(|| unhandled(info.name()))
    }

    /// Runs a handler's future to its end, under the API timeout (counted
    /// from here) and the panic guard.
    pub(crate) async fn finish_handler(
        &self,
        name: &str,
        handler: HandlerFuture,
    ) -> Result<AnyValue, TsrpcError> {
        let run = AssertUnwindSafe(handler).catch_unwind();
        let outcome = match self.inner.settings.api_timeout {
            None => run.await,
            Some(limit) => match tokio::time::timeout(limit, run).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    tracing::warn!(api = name, ?limit, "handler timed out");
                    return Err(
                        TsrpcError::server("Server Timeout").with_code(codes::SERVER_TIMEOUT)
                    );
                }
            },
        };
        outcome.unwrap_or_else(|panic| Err(handler_panicked(name, &*panic)))
    }

    /// Hands a received message to its handlers, listeners and matching
    /// listeners, one after the other, between `pre_msg_call` and
    /// `post_msg_call`.
    async fn deliver_msg(&self, info: &'static ServiceInfo, payload: &Payload, conn: &Connection) {
        let flows = &self.inner.flows;
        let decode = |payload: &Payload| match (info.codec().decode_input)(payload) {
            Ok(msg) => Some(msg),
            Err(e) => {
                tracing::warn!(conn = conn.id(), msg = info.name(), "invalid message: {e}");
                None
            }
        };
        let mut payload = std::borrow::Cow::Borrowed(payload);
        if !flows.pre_msg_call.is_empty() {
            let Some(msg) = decode(&payload) else { return };
            let call = MsgCallFlow {
                conn: conn.clone(),
                service: info,
                msg,
            };
            let FlowStep::Continue(call) = flows.pre_msg_call.exec(call).await else {
                return;
            };
            // Each listener gets its own copy: the message as the flow left it.
            let encoding = payload.encoding();
            let mut out = Vec::new();
            if let Err(e) = (info.codec().encode_output)(&*call.msg, encoding, &mut out) {
                tracing::error!(
                    msg = info.name(),
                    "cannot encode the message a flow changed: {e}"
                );
                return;
            }
            payload = std::borrow::Cow::Owned(Payload::new(encoding, out.into()));
        }
        let (typed, matching): (Vec<ErasedMsgFn>, Vec<ErasedAnyMsgFn>) = {
            let map = self
                .inner
                .handlers
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            let typed = map
                .msgs
                .get(&info.id())
                .map(|entries| entries.iter().map(|e| e.f.clone()).collect())
                .unwrap_or_default();
            let matching = map
                .matching
                .iter()
                .filter(|(_, re, _)| re.is_match(info.name()))
                .map(|(_, _, f)| f.clone())
                .collect();
            (typed, matching)
        };
        for f in typed {
            let Some(msg) = decode(&payload) else { return };
            let ctx = CallContext {
                sn: 0,
                conn: conn.clone(),
                server: self.clone(),
                extensions: http::Extensions::new(),
            };
            guard_listener(info.name(), || f(msg, ctx)).await;
        }
        for f in matching {
            let call = AnyMsgCall::new(
                info.name(),
                payload.as_ref().clone(),
                conn.clone(),
                self.clone(),
            );
            guard_listener(info.name(), || f(call)).await;
        }
        if !flows.post_msg_call.is_empty()
            && let Some(msg) = decode(&payload)
        {
            let call = MsgCallFlow {
                conn: conn.clone(),
                service: info,
                msg,
            };
            flows.post_msg_call.exec(call).await;
        }
    }
}

async fn guard_listener(name: &str, start: impl FnOnce() -> BoxFuture<()>) {
    let outcome = match std::panic::catch_unwind(AssertUnwindSafe(start)) {
        Ok(fut) => AssertUnwindSafe(fut).catch_unwind().await,
        Err(panic) => Err(panic),
    };
    if let Err(panic) = outcome {
        tracing::error!(
            msg = name,
            "message listener panicked: {}",
            panic_text(&*panic)
        );
    }
}

fn manual_info<F>(
    kind: ServiceKind,
    service: &'static str,
    caller: &'static std::panic::Location<'static>,
) -> HandlerInfo {
    HandlerInfo::manual(
        kind,
        service,
        Location {
            path: std::any::type_name::<F>(),
            file: caller.file(),
            line: caller.line(),
        },
    )
}

/// What the post-return flows need of an HTTP call: sn, API name, result.
type Returned = Option<(u32, &'static str, Result<Payload, TsrpcError>)>;

/// The frame that answers a call (the encoded response, or the error; a
/// response that cannot be encoded becomes `INTERNAL_ERR`), and the HTTP
/// status that goes with it.
pub(crate) fn return_frame(
    info: &ServiceInfo,
    encoding: Encoding,
    sn: u32,
    result: Result<AnyValue, TsrpcError>,
) -> (codec::WireFrame, http::StatusCode) {
    let codec = info.codec();
    let written =
        result.map(|res| move |out: &mut Vec<u8>| (codec.encode_output)(&*res, encoding, out));
    encode_return(AnswerShape::Frame, info.name(), encoding, sn, written)
}

/// Runs `step` once with the task's context, to poll something in place
/// (a handler's first poll) from async code: ready at once.
pub(crate) fn with_context<T>(step: impl FnOnce(&mut Context<'_>) -> T) -> impl Future<Output = T> {
    let mut step = Some(step);
    // Never polled again once ready, so the step runs exactly once.
    poll_fn(move |cx| match step.take() {
        Some(step) => Poll::Ready(step(cx)),
        None => Poll::Pending,
    })
}

/// What a call's answer is encoded as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AnswerShape {
    /// A return frame: over WebSocket, and the body of an HTTP binary call.
    Frame,
    /// The body of an HTTP JSON call, `{"isSucc":...}`.
    HttpJson,
}

/// [`return_frame`] with a response given as the function that writes it,
/// in either shape.
pub(crate) fn encode_return(
    shape: AnswerShape,
    name: &str,
    encoding: Encoding,
    sn: u32,
    result: Result<impl FnOnce(&mut Vec<u8>) -> Result<(), codec::PayloadError>, TsrpcError>,
) -> (codec::WireFrame, http::StatusCode) {
    let err = match result {
        Ok(write) => {
            let encoded = match shape {
                AnswerShape::Frame => codec::encode_api_success(encoding, name, sn, write),
                AnswerShape::HttpJson => {
                    codec::http_json_success(write).map(codec::WireFrame::Text)
                }
            };
            match encoded {
                Ok(frame) => return (frame, http::StatusCode::OK),
                Err(e) => {
                    tracing::error!(api = name, "cannot encode the response: {e}");
                    TsrpcError::internal(format!("the response of {name} could not be encoded"))
                }
            }
        }
        Err(err) => err,
    };
    let frame = match shape {
        AnswerShape::Frame => codec::encode_api_error(encoding, name, sn, &err),
        AnswerShape::HttpJson => codec::WireFrame::Text(codec::http_json_error(&err)),
    };
    (frame, http_status(&err))
}

/// TSRPC's HTTP status for an error: 200 for business and input errors,
/// 503 while stopping, 500 for other server errors.
fn http_status(err: &TsrpcError) -> http::StatusCode {
    if err.is_api() || err.has_code(codes::INPUT_DATA_ERR) {
        http::StatusCode::OK
    } else if err.has_code(codes::SERVER_STOPPING) {
        http::StatusCode::SERVICE_UNAVAILABLE
    } else {
        http::StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// What a handler's future gives back: the response, type-erased.
pub(crate) type HandlerFuture = BoxFuture<Result<AnyValue, TsrpcError>>;

/// The error of a call whose handler panicked; the panic is logged.
pub(crate) fn handler_panicked(name: &str, panic: &(dyn std::any::Any + Send)) -> TsrpcError {
    tracing::error!(api = name, "handler panicked: {}", panic_text(panic));
    TsrpcError::internal("Internal Server Error")
}

/// The error of a call that panicked outside its handler: in its request's
/// or its response's own serde code.
pub(crate) fn serde_panicked(name: &str, panic: &(dyn std::any::Any + Send)) -> TsrpcError {
    tracing::error!(
        api = name,
        "panicked outside the handler (in the request's or response's serde code): {}",
        panic_text(panic)
    );
    TsrpcError::internal("Internal Server Error")
}

/// Decodes the request of a call; a bad one is an `INPUT_DATA_ERR` naming
/// the field.
pub(crate) fn decode_request(
    info: &'static ServiceInfo,
    payload: &codec::Payload,
) -> Result<AnyValue, TsrpcError> {
    (info.codec().decode_input)(payload).map_err(|e| input_error(info.name(), &e))
}

/// The `INPUT_DATA_ERR` for a request that did not decode, naming the field.
pub(crate) fn input_error(api: &str, e: &codec::PayloadError) -> TsrpcError {
    let err = TsrpcError::input_data(format!("Invalid request for API {api}: {e}"));
    match e.path() {
        Some(path) => err.with_data("path", path),
        None => err,
    }
}

fn path_mismatch(path_name: &str, frame_name: &str) -> TsrpcError {
    TsrpcError::input_data(format!(
        "the URL path /{path_name} does not name the frame's service {frame_name}"
    ))
}

fn unhandled(name: &str) -> TsrpcError {
    TsrpcError::server(format!("Unhandled API: {name}")).with_code(codes::UNHANDLED_API)
}

impl App for ServerInner {
    fn accepting(&self) -> bool {
        !self.stopping.load(Ordering::Acquire)
    }

    fn ws_config(&self) -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
        ws::config(self.settings.max_message_size)
    }

    fn serve_websocket(
        self: Arc<Self>,
        socket: ServerSocket,
        remote: SocketAddr,
        encoding: Option<Encoding>,
    ) -> BoxFuture<()> {
        Box::pin(async move {
            let server = Server {
                inner: self.clone(),
            };
            let (outbound, rx) = outbound::channel(self.settings.send_queue_size);
            let id = self.next_conn_id.fetch_add(1, Ordering::Relaxed);
            let conn =
                Connection::websocket(id, remote, outbound.clone(), encoding, self.flows.clone());
            lock(&self.connections).insert(id, conn.clone());
            self.connections_changed.notify_waiters();
            tracing::debug!(conn = id, %remote, "connected");
            if !self.flows.post_connect.is_empty() {
                self.flows.post_connect.exec(conn.clone()).await;
            }
            let session =
                dispatch::ConnSession::new(server, conn.clone(), self.settings.max_pending_calls);
            let end = ws::drive(
                socket,
                rx,
                &outbound,
                ws::Limits {
                    keepalive: self.settings.keepalive,
                    heartbeat: self.settings.heartbeat_wait_time,
                    send_timeout: self.settings.send_timeout,
                },
                &session,
            )
            .await;
            lock(&self.connections).remove(&id);
            self.connections_changed.notify_waiters();
            tracing::debug!(conn = id, code = ?end.code, reason = %end.reason, local = end.local, "disconnected");
            if !self.flows.post_disconnect.is_empty() {
                let event = ConnDisconnect {
                    conn,
                    reason: end.reason,
                    code: end.code,
                    by_server: end.local,
                };
                self.flows.post_disconnect.exec(event).await;
            }
        })
    }

    fn http_settings(&self) -> &HttpSettings {
        &self.settings.http
    }

    async fn http_call(self: Arc<Self>, call: HttpCall) -> HttpReply {
        let encoding = call.encoding;
        let answer = AssertUnwindSafe(Server { inner: self }.http_call(call))
            .catch_unwind()
            .await;
        answer.unwrap_or_else(|panic| {
            let err = serde_panicked("(over HTTP)", &*panic);
            match encoding {
                Encoding::Json => HttpReply::json_error(http_status(&err), &err),
                Encoding::Binary => HttpReply {
                    status: http_status(&err),
                    encoding: Some(Encoding::Binary),
                    body: codec::encode_api_error(Encoding::Binary, "", 0, &err).into_bytes(),
                },
            }
        })
    }
}
