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
//! [`Server::start`] serves WebSocket and HTTP on one port. Every connection may speak JSON (TSRPC v3's JSON
//! mode) or binary; its subprotocol (`text` / `buffer`) or else its first
//! data frame decides.
//!
//! Inside, by concept:
//! - **how a call is answered**: `server/dispatch/`, the one pipeline
//!   every call takes (WebSocket, HTTP, in-process), with its answer
//!   (`answer.rs`), received messages (`messages.rs`) and the per-connection
//!   call slots (`slots.rs`);
//! - **how a broadcast works**: `broadcast.rs`: the message is encoded
//!   once per encoding and queued on each connection's bounded queue
//!   (`Connection::send`), which never blocks the broadcast; to everyone,
//!   to rooms (`rooms.rs`, a local index), and through a cluster adapter
//!   to other processes (`cluster.rs`, the seam);
//! - the two transport adapters, the only files that know their wire:
//!   `ws.rs` (one session per WebSocket connection: hello, heartbeat,
//!   close codes) and `http.rs` (statuses, bodies, the listener's glue);
//! - `builder.rs` (settings), `registry.rs` (who handles what),
//!   `handler.rs` (type-erased handlers), `connection.rs`, `call.rs`,
//!   `flows.rs`.

mod broadcast;
mod builder;
mod call;
pub mod cluster;
mod connection;
mod dispatch;
pub mod flows;
mod handler;
mod http;
mod registry;
mod rooms;
mod serve;
mod state;
mod ws;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use regex::Regex;
use tokio::sync::Notify;

pub use crate::stats::{RefusedStats, ServerStats};
pub use broadcast::Broadcast;
pub use builder::{
    DEFAULT_API_TIMEOUT, DEFAULT_KEEPALIVE, DEFAULT_MAX_PENDING_CALLS, ServerBuilder, SetupError,
};
pub use call::{AnyMsgCall, ApiCall, MsgCall};
pub use cluster::{ClusterStats, NodeId};
pub use connection::{Connection, Transport};
pub use handler::HandlerInfo;
#[doc(hidden)]
pub use handler::{
    ApiHandlerFn, HandlerDescriptor, MsgHandlerFn, api_failed, api_future, handler_state,
    msg_failed, msg_future,
};
pub use http::{
    DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_SEND_QUEUE_SIZE, DEFAULT_SEND_TIMEOUT, ResponseBody,
    TsrpcService,
};
pub use serve::{Serve, WithGracefulShutdown, shutdown_signal};
pub use state::State;
#[doc(hidden)]
pub use state::StateKey;

use builder::Settings;
use dispatch::{Input, Outcome};
use flows::ServerFlows;
use handler::ErasedApiFn;
use registry::{ApiFns, ErasedAnyMsgFn, Registry, TypedMsgFn, manual_info};
use ws::Close;

use crate::codec::Encoding;
use crate::error::TsrpcError;
use crate::proto::{Api, Message, ServiceInfo, ServiceKind, ServiceTable};
use crate::task::{self, lock, with_context};

/// A handle on a message listener, to remove it with `unlisten_msg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MsgListener(u64);

struct ServerInner {
    table: &'static ServiceTable,
    /// The table's fingerprint as binary HTTP clients send it.
    fingerprint: String,
    /// Each API's handler by service id, read without a lock.
    api_fns: ApiFns,
    handlers: RwLock<Registry>,
    settings: Settings,
    next_conn_id: AtomicU64,
    in_process: Connection,
    listener: Mutex<Option<http::Listener>>,
    connections: Mutex<HashMap<u64, Connection>>,
    connections_changed: Notify,
    /// Woken when the server stops: [`Server::serve`] ends then.
    stopped: Notify,
    /// What its hosts refused, for [`Server::stats`].
    refusals: crate::stats::Refusals,
    /// This server among the nodes of a cluster.
    node_id: NodeId,
    rooms: Arc<rooms::Rooms>,
    cluster: Option<Arc<dyn cluster::ClusterAdapter>>,
    /// The WebSockets opened through [`Server::service`], under the caps.
    mounted: Arc<http::Admission>,
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

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
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

impl Server {
    /// A builder with the defaults: every registered handler, `0.0.0.0:3000`,
    /// 30 s API timeout, 16 MiB messages.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }

    fn new(
        table: &'static ServiceTable,
        api_fns: ApiFns,
        handlers: Registry,
        settings: Settings,
        cluster: Option<Arc<dyn cluster::ClusterAdapter>>,
    ) -> Self {
        let server = Server {
            inner: Arc::new(ServerInner {
                table,
                fingerprint: table.fingerprint().to_string(),
                api_fns,
                handlers: RwLock::new(handlers),
                mounted: http::Admission::new(settings.http.caps),
                settings,
                next_conn_id: AtomicU64::new(1),
                in_process: Connection::in_process(),
                listener: Mutex::new(None),
                connections: Mutex::new(HashMap::new()),
                connections_changed: Notify::new(),
                stopped: Notify::new(),
                refusals: crate::stats::Refusals::default(),
                node_id: NodeId::random(),
                rooms: Arc::default(),
                cluster,
                stopping: AtomicBool::new(false),
                in_flight: AtomicUsize::new(0),
                calls_done: Notify::new(),
                flows: Arc::new(ServerFlows::new()),
            }),
        };
        if let Some(adapter) = &server.inner.cluster {
            server.inner.rooms.set_adapter(adapter.clone());
            adapter.attach(cluster::ClusterNode::new(&server));
        }
        server
    }

    /// The server's flows: add nodes with `server.flows().pre_api_call.push(..)`.
    ///
    /// ```no_run
    /// # fn f(server: tsrpc::Server) {
    /// use tsrpc::server::flows::ApiCallFlow;
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
        task::read(&self.inner.handlers).infos()
    }

    /// Starts listening; returns the bound address.
    pub async fn start(&self) -> std::io::Result<SocketAddr> {
        if let Some(addr) = self.local_addr() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("the server is already listening on {addr}"),
            ));
        }
        self.inner.stopping.store(false, Ordering::Release);
        let listener = http::listen(self.inner.settings.addr, self.inner.clone()).await?;
        let addr = listener.local_addr();
        tracing::info!(%addr, fingerprint = %self.inner.table.fingerprint(), "tsrpc server started");
        *lock(&self.inner.listener) = Some(listener);
        Ok(addr)
    }

    /// Starts the server and serves until it is stopped; with
    /// [`with_graceful_shutdown`](Serve::with_graceful_shutdown), until a
    /// signal, then stops gracefully (axum's shape):
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = tsrpc::Server::builder().port(3000).build()?;
    /// server
    ///     .serve()
    ///     .with_graceful_shutdown(tsrpc::server::shutdown_signal())
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn serve(&self) -> Serve {
        Serve::new(self.clone())
    }

    /// Completes once the server is stopped ([`stop`](Self::stop),
    /// [`graceful_stop`](Self::graceful_stop)).
    async fn stopped(&self) {
        loop {
            let stopped = self.inner.stopped.notified();
            if self.local_addr().is_none() {
                return;
            }
            stopped.await;
        }
    }

    /// This server as a `tower::Service`, to mount in an axum (or other
    /// hyper-based) app next to its own routes and under its own layers,
    /// instead of (or besides) [`start`](Self::start)ing its own
    /// listener: see [`TsrpcService`] and the `axum-app` example.
    pub fn service(&self) -> TsrpcService {
        TsrpcService::new(self)
    }

    /// The address the server listens on, while started.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        lock(&self.inner.listener)
            .as_ref()
            .map(http::Listener::local_addr)
    }

    /// Stops at once: stops listening and closes every connection (code
    /// 1001, reason "Server stopped"); returns when they are closed. A
    /// cluster adapter tells the other nodes.
    pub async fn stop(&self) {
        self.inner.stopping.store(true, Ordering::Release);
        if let Some(listener) = lock(&self.inner.listener).take() {
            listener.stop();
        }
        self.inner.stopped.notify_waiters();
        for conn in self.connections() {
            conn.close_for(Close::Stopping, "Server stopped");
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
        if let Some(adapter) = &self.inner.cluster {
            adapter.stopping().await;
        }
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
        self.inner.is_stopping()
    }

    /// Counts a call in flight, for [`graceful_stop`](Self::graceful_stop).
    pub(crate) fn track_call_here(&self) -> InFlightHere<'_> {
        self.inner.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlightHere(&self.inner)
    }

    /// Whether `INTERNAL_ERR` answers carry `innerErr`
    /// ([`ServerBuilder::return_inner_error`]).
    pub(crate) fn returns_inner_errors(&self) -> bool {
        self.inner.settings.return_inner_error
    }

    /// The server's value of type `T`, set with [`ServerBuilder::state`];
    /// handlers usually take it as a [`State<T>`] argument instead.
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<State<T>> {
        self.inner.settings.states.get::<T>()
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// A snapshot for an app's metrics: WebSocket connections by
    /// encoding, calls in flight, bytes queued, refusals by reason. See
    /// [`ServerStats`].
    pub fn stats(&self) -> ServerStats {
        let mut stats = ServerStats {
            calls_in_flight: self.inner.in_flight.load(Ordering::Relaxed),
            refused: self.inner.refusals.snapshot(),
            ..ServerStats::default()
        };
        for conn in lock(&self.inner.connections).values() {
            stats.websockets += 1;
            match conn.encoding() {
                Some(Encoding::Json) => stats.websockets_json += 1,
                Some(Encoding::Binary) => stats.websockets_binary += 1,
                Some(Encoding::Tsbuffer) => stats.websockets_tsbuffer += 1,
                None => {}
            }
            stats.bytes_queued += conn.queued_bytes();
        }
        stats
    }

    /// The open connections.
    pub fn connections(&self) -> Vec<Connection> {
        lock(&self.inner.connections).values().cloned().collect()
    }

    fn add_connection(&self, conn: &Connection) {
        lock(&self.inner.connections).insert(conn.id(), conn.clone());
        self.inner.connections_changed.notify_waiters();
    }

    fn remove_connection(&self, conn: &Connection) {
        lock(&self.inner.connections).remove(&conn.id());
        conn.leave_rooms();
        self.inner.connections_changed.notify_waiters();
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
        let f = handler::erase_api(handler);
        task::write(&self.inner.handlers)
            .add_api(self.inner.table, &self.inner.api_fns, info, f)
            .map_err(SetupError::one)
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
        let f = handler::erase_msg(listener);
        task::write(&self.inner.handlers)
            .add_msg(self.inner.table, info, f)
            .map_err(SetupError::one)
    }

    /// Listens to every message whose name matches `pattern` (TSRPC's
    /// `listenMsg(/^room\//, ...)`). The listener gets the name and a
    /// payload it decodes into the right type.
    pub fn listen_msg_matching<F, Fut>(&self, pattern: Regex, listener: F) -> MsgListener
    where
        F: Fn(AnyMsgCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let f: ErasedAnyMsgFn = Arc::new(move |call| Box::pin(listener(call)));
        MsgListener(
            task::write(&self.inner.handlers)
                .msgs
                .add_matching(pattern, f),
        )
    }

    /// Removes a listener added with `listen_msg` or `listen_msg_matching`;
    /// false if it was not there.
    pub fn unlisten_msg(&self, listener: MsgListener) -> bool {
        task::write(&self.inner.handlers).msgs.remove(listener.0)
    }

    /// The listeners of a message, copied so they run without the lock.
    fn msg_listeners(&self, info: &ServiceInfo) -> (Vec<TypedMsgFn>, Vec<ErasedAnyMsgFn>) {
        task::read(&self.inner.handlers)
            .msgs
            .of(info.id(), info.name())
    }

    /// Calls API `R` inside the process, through the same pipeline as a
    /// call from the network: the `pre_api_call` and `pre_api_return`
    /// flows, the handler, the timeout and the panic guard. The handler
    /// sees a connection whose [`transport`](Connection::transport) is
    /// [`Transport::InProcess`].
    pub async fn call_api<R: Api>(&self, req: R) -> Result<R::Res, TsrpcError> {
        let info = self
            .inner
            .table
            .api(R::NAME)
            .ok_or_else(|| dispatch::unhandled(R::NAME))?;
        let conn = &self.inner.in_process;
        let input = Input::Value(Box::new(req));
        let answer = match with_context(|cx| dispatch::call(self, conn, info, input, cx)).await {
            Outcome::Answered(answer) => answer,
            Outcome::Pending(rest) => rest.await,
            Outcome::Malformed(e) => return Err(TsrpcError::internal(e.to_string())),
        };
        let (_, error, _, value) = answer.into_parts();
        if let Some(err) = error {
            return Err(err);
        }
        value
            .and_then(|res| res.downcast::<R::Res>().ok())
            .map(|res| *res)
            .ok_or_else(|| {
                TsrpcError::internal(format!("the handler of {} returned another type", R::NAME))
            })
    }

    /// The handler of an API.
    /// The handler of an API, if it has one (the caller answers
    /// `UNHANDLED_API` otherwise, with [`dispatch::unhandled`]).
    #[inline]
    pub(crate) fn api_handler(&self, info: &ServiceInfo) -> Option<&ErasedApiFn> {
        self.inner
            .api_fns
            .get(info.id() as usize)
            .and_then(OnceLock::get)
    }
}
