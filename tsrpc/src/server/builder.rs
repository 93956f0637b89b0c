//! [`ServerBuilder`]: a server's settings and the handlers it serves,
//! checked all at once when it is built.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::cluster::ClusterAdapter;
use super::handler::{ErasedApiFn, HandlerDescriptor, HandlerInfo};
use super::http::{
    Caps, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, HttpSettings, Origins,
};
use super::registry::Registry;
use super::state::States;
use super::{DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_SEND_QUEUE_SIZE, DEFAULT_SEND_TIMEOUT, Server};
use crate::proto::{ServiceTable, TableError};

/// Why a server could not be set up: every problem found, one per line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot set up the tsrpc server:\n  {}", .problems.join("\n  "))]
pub struct SetupError {
    problems: Vec<String>,
}

impl SetupError {
    pub(crate) fn one(problem: String) -> Self {
        SetupError {
            problems: vec![problem],
        }
    }

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
/// The default [`ServerBuilder::keepalive`].
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(60);
/// The default [`ServerBuilder::max_pending_calls`].
pub const DEFAULT_MAX_PENDING_CALLS: usize = 256;

/// Settings of a server, fixed when it is built.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) addr: SocketAddr,
    pub(crate) api_timeout: Option<Duration>,
    pub(crate) max_message_size: usize,
    pub(crate) send_queue_size: usize,
    pub(crate) send_timeout: Option<Duration>,
    pub(crate) max_pending_calls: usize,
    pub(crate) keepalive: Option<Duration>,
    pub(crate) heartbeat_wait_time: Option<Duration>,
    pub(crate) return_inner_error: bool,
    pub(crate) states: States,
    pub(crate) http: HttpSettings,
}

/// Builds a [`Server`]. Get one with [`Server::builder`]; every setting
/// has a default (see each method), and [`build`](Self::build) reports
/// every setup problem at once.
///
/// ```
/// use std::time::Duration;
/// use tsrpc::Server;
///
/// let server = Server::builder()
///     .bind("127.0.0.1:0".parse().unwrap())
///     .api_timeout(Some(Duration::from_secs(10)))
///     .heartbeat_wait_time(Some(Duration::from_secs(60)))
///     .max_connections_per_ip(Some(100))
///     .build()?;
/// # Ok::<(), tsrpc::SetupError>(())
/// ```
pub struct ServerBuilder {
    filter: Option<HandlerFilter>,
    settings: Settings,
    cluster: Option<Arc<dyn ClusterAdapter>>,
    service_proto: Option<String>,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("select_handlers", &self.filter.is_some())
            .field("cluster", &self.cluster.is_some())
            .field("settings", &self.settings)
            .finish()
    }
}

impl ServerBuilder {
    /// A builder with the defaults: every registered handler, `0.0.0.0:3000`,
    /// 30 s API timeout, 16 MiB messages.
    pub(super) fn new() -> ServerBuilder {
        ServerBuilder {
            filter: None,
            service_proto: None,
            cluster: None,
            settings: Settings {
                addr: SocketAddr::from(([0, 0, 0, 0], 3000)),
                api_timeout: Some(DEFAULT_API_TIMEOUT),
                max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
                send_queue_size: DEFAULT_SEND_QUEUE_SIZE,
                send_timeout: Some(DEFAULT_SEND_TIMEOUT),
                max_pending_calls: DEFAULT_MAX_PENDING_CALLS,
                keepalive: Some(DEFAULT_KEEPALIVE),
                heartbeat_wait_time: None,
                return_inner_error: cfg!(debug_assertions),
                states: States::default(),
                http: HttpSettings {
                    max_body_size: DEFAULT_MAX_MESSAGE_SIZE,
                    origins: Origins::Any,
                    static_dir: None,
                    header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
                    body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
                    send_timeout: Some(DEFAULT_SEND_TIMEOUT),
                    caps: Caps {
                        total: Some(Caps::default_total()),
                        per_ip: None,
                    },
                    #[cfg(feature = "tls")]
                    tls: None,
                },
            },
        }
    }

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

    /// Sets the server's value of type `T` (a database pool, a store, a
    /// configuration), which handlers receive as a [`State<T>`](super::State) argument
    /// and anything holding the server reads with [`Server::state`]. One
    /// value per type: setting a type again replaces it. Each server has
    /// its own.
    ///
    /// [`build`](Self::build) fails when a selected handler takes a
    /// `State<T>` that was never set, naming the handler and `T`.
    ///
    /// ```
    /// struct Config { greeting: String }
    ///
    /// let server = tsrpc::Server::builder()
    ///     .state(Config { greeting: "Hello".into() })
    ///     .build()?;
    /// assert_eq!(server.state::<Config>().unwrap().greeting, "Hello");
    /// # Ok::<(), tsrpc::SetupError>(())
    /// ```
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.settings.states.insert(value);
        self
    }

    /// Whether an `INTERNAL_ERR` answer carries what went wrong inside, as
    /// TSRPC's `returnInnerError`: the panic's text (a handler, the
    /// request's or response's own serde code) or why the response could
    /// not be encoded, in the error's `innerErr` property. A flow node
    /// that panics fails its flow with a plain `INTERNAL_ERR` (the panic is
    /// logged). The
    /// message stays "Internal Server Error" either way, and the server
    /// logs the inner text.
    ///
    /// On by default in debug builds (`debug_assertions`), off in release
    /// builds, so that a deployed server does not show its internals to
    /// clients; TSRPC turns it off in production the same way.
    ///
    /// ```
    /// let server = tsrpc::Server::builder().return_inner_error(false).build()?;
    /// # Ok::<(), tsrpc::SetupError>(())
    /// ```
    pub fn return_inner_error(mut self, on: bool) -> Self {
        self.settings.return_inner_error = on;
        self
    }

    /// The largest WebSocket message or HTTP body accepted (16 MiB by
    /// default). A larger message closes its connection with code 1009 and
    /// a reason; a larger body is answered 413 and not read further.
    /// Binary payloads are decoded up to 64 MiB whatever this allows
    /// (WIRE.md, decoding limits).
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

    /// Serve TLS on the port: `wss://` and `https://` only (plain text
    /// gets a 400 saying so), with ALPN for HTTP/2 and HTTP/1.1. A
    /// handshake has the header read timeout to finish. A server mounted
    /// in another app ([`Server::service`](super::Server::service)) leaves
    /// TLS to that app.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tsrpc::tls::ServerTls;
    /// let server = tsrpc::Server::builder()
    ///     .port(3000)
    ///     .tls(ServerTls::from_pem_files("cert.pem", "key.pem")?)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::ServerTls) -> Self {
        self.settings.http.tls = Some(tls);
        self
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
    ///
    /// When the server is mounted in another one ([`Server::service`]),
    /// that host owns the connections and limits its own (with tower's
    /// `ConcurrencyLimitLayer`, say): the cap then counts the WebSockets
    /// the service opened, and an upgrade past it is answered 503.
    ///
    /// [`Server::service`]: crate::Server::service
    pub fn max_connections(mut self, max: Option<usize>) -> Self {
        self.settings.http.caps.total = max;
        self
    }

    /// How many connections one remote IP address may hold at once (no
    /// limit by default: behind a proxy every client has its address).
    /// Past it, as for [`max_connections`](Self::max_connections), but the
    /// refusal is 429. A mounted service counts its WebSockets by the
    /// address its host gives it ([`TsrpcService::remote_addr`]); without
    /// one, only `max_connections` applies.
    ///
    /// [`TsrpcService::remote_addr`]: crate::server::TsrpcService::remote_addr
    pub fn max_connections_per_ip(mut self, max: Option<usize>) -> Self {
        self.settings.http.caps.per_ip = max;
        self
    }

    /// Answers TSRPC clients in binary (TSBuffer) mode with the service
    /// and property ids of the project's `serviceProto.json` (its text,
    /// from `include_str!` or a file; TSRPC's `serviceProto.ts` is read
    /// too), rather than positions: the file the
    /// clients were built with. [`build`](Self::build) fails, naming each
    /// difference, when the file does not describe the Rust types; see
    /// [`export::use_service_proto`](crate::export::use_service_proto),
    /// which this calls, for what must match and for the ids being the
    /// process's.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), tsrpc::server::SetupError> {
    /// let proto = std::fs::read_to_string("shared/protocols/serviceProto.json")
    ///     .expect("the project's serviceProto.json");
    /// let server = tsrpc::Server::builder().service_proto(proto).build()?;
    /// # Ok(()) }
    /// ```
    pub fn service_proto(mut self, service_proto: impl Into<String>) -> Self {
        self.service_proto = Some(service_proto.into());
        self
    }

    /// Joins this server to a cluster through `adapter` (the `tsrpc-redis`
    /// crate's `RedisAdapter`, say): broadcasts ([`Server::broadcast_msg`],
    /// [`Server::to`]) then reach the clients of every node, and what other
    /// nodes broadcast reaches this one's. Without it the server is a
    /// single process.
    ///
    /// [`Server::broadcast_msg`]: crate::Server::broadcast_msg
    /// [`Server::to`]: crate::Server::to
    pub fn cluster(mut self, adapter: impl ClusterAdapter) -> Self {
        self.cluster = Some(Arc::new(adapter));
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
    /// is small. HTTP connections too: a client that takes none of a
    /// response (a large static file, say) for this long is disconnected,
    /// instead of holding its connection for ever.
    pub fn send_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.settings.send_timeout = timeout;
        self.settings.http.send_timeout = timeout;
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
        let mut problems = Vec::new();
        if let Some(proto) = &self.service_proto
            && let Err(e) = crate::export::use_service_proto(table, proto)
        {
            problems.extend_from_slice(e.problems());
        }
        let mut handlers = Registry::default();
        let api_fns: Box<[OnceLock<ErasedApiFn>]> = table.iter().map(|_| OnceLock::new()).collect();
        for descriptor in inventory::iter::<HandlerDescriptor>() {
            if self
                .filter
                .as_ref()
                .is_some_and(|keep| !keep(&descriptor.info))
            {
                continue;
            }
            for key in descriptor.states {
                if !self.settings.states.has(key) {
                    problems.push(format!(
                        "the handler {} takes `State<{}>`, but the server has no value of that type: set one with `ServerBuilder::state`",
                        descriptor.info.location(),
                        (key.name)(),
                    ));
                }
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
        Ok(Server::new(
            table,
            api_fns,
            handlers,
            self.settings,
            self.cluster,
        ))
    }
}
