//! The server's flows: TSRPC's hook chains, typed and async.
//!
//! Values that hold a request, response or message keep it type-erased;
//! nodes reach it with a type parameter (`call.req::<ReqLogin>()`).
//! Messages on their way out stay encoded: a node decodes one only when it
//! looks at it, so a broadcast is still encoded once.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::Connection;
use std::any::Any;

use crate::codec::{self, Encoding, ServerFrame, WireFrame};
use crate::error::{TsrpcError, codes};
use crate::flow::Flow;
use crate::proto::{AnyValue, Api, Message, ServiceInfo};

/// Every flow of a [`Server`](super::Server), in the order a call meets them
/// (`server.flows()`). The flows guide ([`crate::guide::flows`]) says what
/// each node gets and can do.
///
/// ```
/// use tsrpc::server::flows::{ApiReturned, ConnDisconnect};
/// use tsrpc::{Server, TsrpcError};
///
/// let server = Server::builder().build()?;
/// let flows = server.flows();
/// // Observe: log every return.
/// flows.post_api_return.push(|ret: ApiReturned| async move {
///     println!("{} answered, error: {:?}", ret.name, ret.error().map(|e| &e.message));
///     Some(ret)
/// });
/// // Refuse: no calls from outside the loopback.
/// let node = flows.pre_api_call.push(|call: tsrpc::server::flows::ApiCallFlow| async move {
///     if call.conn.remote_addr().is_some_and(|addr| addr.ip().is_loopback()) {
///         Ok(call)
///     } else {
///         Err(TsrpcError::api("Local calls only").with_code("FORBIDDEN"))
///     }
/// });
/// flows.post_disconnect.push(|ev: ConnDisconnect| async move { Some(ev) });
/// flows.pre_api_call.remove(node);
/// # Ok::<(), tsrpc::SetupError>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct ServerFlows {
    /// Before a WebSocket upgrade is accepted: may refuse it (401/403) or
    /// put values on the connection to be.
    pub pre_connect: Flow<ConnectFlow>,
    /// After a WebSocket connection opened (TSRPC's `postConnectFlow`).
    pub post_connect: Flow<Connection>,
    /// After a WebSocket connection ended, for any reason.
    pub post_disconnect: Flow<ConnDisconnect>,
    /// Before received data is decoded; may change it, or drop it (stop).
    pub pre_recv_data: Flow<DataFlow>,
    /// Before data is sent (returns, messages, per receiver for
    /// broadcasts, which are not encoded again); may change or drop it.
    pub pre_send_data: Flow<DataFlow>,
    /// Before the handler runs; stop or fail to refuse the call (it then
    /// resolves with the node's error, or a "cancelled" error).
    pub pre_api_call: Flow<ApiCallFlow>,
    /// Before the return is sent; may change it.
    pub pre_api_return: Flow<ApiReturnFlow>,
    /// After the return was queued.
    pub post_api_return: Flow<ApiReturned>,
    /// After the call is over, last of all.
    pub post_api_call: Flow<ApiReturned>,
    /// Before a received message reaches its handlers and listeners; may
    /// change it, or drop it (stop).
    pub pre_msg_call: Flow<MsgCallFlow>,
    /// After the handlers and listeners of a received message returned.
    pub post_msg_call: Flow<MsgCallFlow>,
    /// Before a message is sent to one connection (per receiver for a
    /// broadcast); may replace it for that receiver, or not send it (stop).
    pub pre_send_msg: Flow<SendMsgFlow>,
    /// After a message was queued for one connection.
    pub post_send_msg: Flow<SendMsgFlow>,
    /// One bit per flow that has nodes, kept by the flows themselves: how
    /// a call runs is decided when a flow changes, read with one load.
    in_use: Arc<AtomicU32>,
}

const PRE_RECV_DATA: u32 = 1;
const PRE_SEND_DATA: u32 = 1 << 1;
const PRE_API_CALL: u32 = 1 << 2;
const PRE_API_RETURN: u32 = 1 << 3;
const POST_API_RETURN: u32 = 1 << 4;
const POST_API_CALL: u32 = 1 << 5;
const PRE_SEND_MSG: u32 = 1 << 6;
const POST_SEND_MSG: u32 = 1 << 7;

/// The flows that see API calls and their returns.
const CALLS: u32 = PRE_API_CALL | PRE_API_RETURN | POST_API_RETURN | POST_API_CALL;

impl ServerFlows {
    pub(crate) fn new() -> Self {
        let in_use = Arc::new(AtomicU32::new(0));
        ServerFlows {
            pre_connect: Flow::named("pre_connect"),
            post_connect: Flow::named("post_connect"),
            post_disconnect: Flow::named("post_disconnect"),
            pre_recv_data: Flow::watched("pre_recv_data", &in_use, PRE_RECV_DATA),
            pre_send_data: Flow::watched("pre_send_data", &in_use, PRE_SEND_DATA),
            pre_api_call: Flow::watched("pre_api_call", &in_use, PRE_API_CALL),
            pre_api_return: Flow::watched("pre_api_return", &in_use, PRE_API_RETURN),
            post_api_return: Flow::watched("post_api_return", &in_use, POST_API_RETURN),
            post_api_call: Flow::watched("post_api_call", &in_use, POST_API_CALL),
            pre_msg_call: Flow::named("pre_msg_call"),
            post_msg_call: Flow::named("post_msg_call"),
            pre_send_msg: Flow::watched("pre_send_msg", &in_use, PRE_SEND_MSG),
            post_send_msg: Flow::watched("post_send_msg", &in_use, POST_SEND_MSG),
            in_use,
        }
    }

    fn in_use(&self, flows: u32) -> bool {
        self.in_use.load(Ordering::Acquire) & flows != 0
    }

    /// True when a flow sees API calls or their returns: a call then runs
    /// with its request and response as values, through
    /// [`dispatch`](super::dispatch); otherwise it is its handler alone.
    pub(crate) fn see_calls(&self) -> bool {
        self.in_use(CALLS)
    }

    /// True when a post-return flow wants the returned value.
    pub(crate) fn want_returns(&self) -> bool {
        self.in_use(POST_API_RETURN | POST_API_CALL)
    }

    /// True when `pre_recv_data` sees received frames.
    pub(crate) fn see_received_data(&self) -> bool {
        self.in_use(PRE_RECV_DATA)
    }

    /// True when `pre_send_data` sees what is sent.
    pub(crate) fn see_sent_data(&self) -> bool {
        self.in_use(PRE_SEND_DATA)
    }

    /// True when no flow sees a call, from its frame to its answer: a
    /// WebSocket session may answer it where its frame was read.
    pub(crate) fn none_see_calls_or_data(&self) -> bool {
        !self.in_use(CALLS | PRE_RECV_DATA | PRE_SEND_DATA)
    }

    /// True when no flow sees messages sent, so a broadcast queues directly.
    pub(crate) fn none_see_sent_msgs(&self) -> bool {
        !self.in_use(PRE_SEND_MSG | PRE_SEND_DATA | POST_SEND_MSG)
    }
}

/// A WebSocket upgrade request, before the socket opens: what
/// `pre_connect` nodes receive. A node reads the request (headers,
/// cookies, query string, the peer's address), refuses it with an error
/// (403, or 401 with [`ConnectFlow::unauthorized`]; the error's message is
/// the response's body), or accepts it, putting values on the connection
/// to be (`extensions`, read with
/// [`Connection::extension`](super::Connection::extension)).
///
/// ```
/// # let server = tsrpc::Server::builder().build()?;
/// use tsrpc::server::flows::ConnectFlow;
///
/// #[derive(Clone)]
/// struct User(String);
///
/// server.flows().pre_connect.push(|mut connect: ConnectFlow| async move {
///     let token = connect
///         .query_param("token")
///         .or_else(|| connect.cookie("session"))
///         .map(|token| token.into_owned());
///     match token.as_deref() {
///         Some("secret-token") => {
///             connect.extensions.insert(User("ann".into()));
///             Ok(connect)
///         }
///         Some(_) => Err(ConnectFlow::unauthorized("Invalid token")),
///         None => Err(ConnectFlow::unauthorized("Log in first")),
///     }
/// });
/// # Ok::<(), tsrpc::SetupError>(())
/// ```
#[non_exhaustive]
pub struct ConnectFlow {
    /// The upgrade request's headers.
    pub headers: http::HeaderMap,
    /// The upgrade request's URI (path and query string).
    pub uri: http::Uri,
    /// The peer's address, when known.
    pub remote_addr: Option<std::net::SocketAddr>,
    /// Values for the connection, read with `conn.extension::<T>()`
    /// (values must be `Clone` to be read there).
    pub extensions: http::Extensions,
}

/// Header names only: the values (cookies, tokens) stay out of logs.
impl fmt::Debug for ConnectFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectFlow")
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("path", &self.uri.path())
            .field("remote_addr", &self.remote_addr)
            .finish_non_exhaustive()
    }
}

impl ConnectFlow {
    /// A header's value, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// A cookie's value, from the `Cookie` headers, percent-decoded.
    pub fn cookie(&self, name: &str) -> Option<Cow<'_, str>> {
        super::connection::cookie(&self.headers, name)
    }

    /// The query string, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// A query parameter's value, decoded as JavaScript's
    /// `URLSearchParams` decodes it (`+` is a space, then
    /// percent-decoding).
    pub fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        super::connection::query_param(self.uri.query()?, name)
    }

    /// The error that refuses the upgrade with 401 Unauthorized (any other
    /// error refuses it with 403 Forbidden), `reason` as the body. A Rust
    /// `WsClient`'s connect error then has the code `UNAUTHORIZED` (or
    /// `FORBIDDEN`), and its reconnecting stops.
    pub fn unauthorized(reason: impl Into<String>) -> TsrpcError {
        TsrpcError::api(reason).with_code(codes::UNAUTHORIZED)
    }
}

/// What `post_disconnect` nodes receive.
///
/// ```
/// # let server = tsrpc::Server::builder().build()?;
/// use tsrpc::server::flows::ConnDisconnect;
/// server.flows().post_disconnect.push(|ev: ConnDisconnect| async move {
///     let who = if ev.by_server { "server" } else { "peer" };
///     println!("connection {} closed by the {who}: {:?} {}", ev.conn.id(), ev.code, ev.reason);
///     Some(ev)
/// });
/// # Ok::<(), tsrpc::SetupError>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnDisconnect {
    /// The connection that ended.
    pub conn: Connection,
    /// Why it ended.
    pub reason: String,
    /// The close code, when a close frame was exchanged.
    pub code: Option<u16>,
    /// True when the server closed it (`conn.close`, stop, limits).
    pub by_server: bool,
}

/// Data received or about to be sent on a connection.
///
/// ```
/// # let server = tsrpc::Server::builder().build()?;
/// use tsrpc::WireFrame;
/// use tsrpc::server::flows::DataFlow;
/// // Count the bytes each way (a node could also decrypt or replace them).
/// server.flows().pre_recv_data.push(|data: DataFlow| async move {
///     let size = data.data.as_bytes().len();
///     let text = matches!(data.data, WireFrame::Text(_));
///     println!("{size} bytes in from {} (text: {text})", data.conn.id());
///     Some(data)
/// });
/// # Ok::<(), tsrpc::SetupError>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DataFlow {
    /// The connection.
    pub conn: Connection,
    /// The frame (or HTTP body); a node may replace it.
    pub data: WireFrame,
}

/// An API call before its handler runs.
///
/// ```rust,standalone_crate
/// use serde::{Deserialize, Serialize};
/// use tsrpc::server::flows::ApiCallFlow;
/// use tsrpc::TsrpcError;
///
/// #[tsrpc::api]
/// #[derive(Serialize, Deserialize)]
/// pub struct ReqRename { pub name: String }
/// #[derive(Serialize, Deserialize)]
/// pub struct ResRename {}
///
/// # fn main() -> Result<(), tsrpc::SetupError> {
/// # let server = tsrpc::Server::builder().build()?;
/// server.flows().pre_api_call.push(|mut call: ApiCallFlow| async move {
///     // Read and change the request of one API; refuse a call with an error.
///     if let Some(req) = call.req_mut::<ReqRename>() {
///         req.name = req.name.trim().to_owned();
///         if req.name.is_empty() {
///             return Err(TsrpcError::api("A name is needed"));
///         }
///     }
///     // Hand a value to the handler (`call.extensions` there).
///     call.extensions.insert(std::time::Instant::now());
///     Ok(call)
/// });
/// # Ok(()) }
/// ```
#[non_exhaustive]
pub struct ApiCallFlow {
    /// The connection the call came over.
    pub conn: Connection,
    /// The call's serial number.
    pub sn: u32,
    /// Values for the handler: a node inserts, `call.extensions` reads.
    pub extensions: http::Extensions,
    pub(crate) service: &'static ServiceInfo,
    pub(crate) req: AnyValue,
}

impl ApiCallFlow {
    /// The API's name.
    pub fn name(&self) -> &'static str {
        self.service.name()
    }

    /// The request, if this is a call of API `R`.
    pub fn req<R: Api>(&self) -> Option<&R> {
        self.req.downcast_ref()
    }

    /// The request, to change it, if this is a call of API `R`.
    pub fn req_mut<R: Api>(&mut self) -> Option<&mut R> {
        self.req.downcast_mut()
    }
}

impl fmt::Debug for ApiCallFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiCallFlow")
            .field("name", &self.name())
            .field("sn", &self.sn)
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

/// An API call's outcome before it is sent.
///
/// ```
/// # let server = tsrpc::Server::builder().build()?;
/// use tsrpc::TsrpcError;
/// use tsrpc::server::flows::ApiReturnFlow;
/// // Hide the text of server errors from clients.
/// server.flows().pre_api_return.push(|mut ret: ApiReturnFlow| async move {
///     if ret.error().is_some_and(|e| !e.is_api()) {
///         ret.set_error(TsrpcError::server("Something went wrong"));
///     }
///     Some(ret)
/// });
/// # Ok::<(), tsrpc::SetupError>(())
/// ```
#[non_exhaustive]
pub struct ApiReturnFlow {
    /// The connection the call came over.
    pub conn: Connection,
    /// The call's serial number.
    pub sn: u32,
    pub(crate) service: &'static ServiceInfo,
    pub(crate) result: Result<AnyValue, TsrpcError>,
}

crate::flow::api_outcome_accessors!(ApiReturnFlow);

/// An API call's outcome after it was sent, as it was returned: the
/// response is the value the handler (or `pre_api_return`) gave, shared by
/// both post flows, never decoded again from what was sent.
///
/// ```
/// # let server = tsrpc::Server::builder().build()?;
/// use tsrpc::server::flows::ApiReturned;
/// server.flows().post_api_call.push(|ret: ApiReturned| async move {
///     match ret.error() {
///         None => println!("{} #{} answered", ret.name, ret.sn),
///         Some(err) => println!("{} #{} failed: {}", ret.name, ret.sn, err.message),
///     }
///     Some(ret)
/// });
/// # Ok::<(), tsrpc::SetupError>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ApiReturned {
    /// The connection the call came over.
    pub conn: Connection,
    /// The call's serial number.
    pub sn: u32,
    /// The API's name.
    pub name: &'static str,
    pub(crate) result: Result<Arc<dyn Any + Send + Sync>, TsrpcError>,
}

impl fmt::Debug for ApiReturned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiReturned")
            .field("name", &self.name)
            .field("sn", &self.sn)
            .field("conn", &self.conn)
            .field("error", &self.error())
            .finish_non_exhaustive()
    }
}

impl ApiReturned {
    /// The response, if the call succeeded and is a call of API `R`.
    pub fn res<R: Api>(&self) -> Option<&R::Res> {
        self.result.as_ref().ok()?.downcast_ref()
    }

    /// The error, if the call failed.
    pub fn error(&self) -> Option<&TsrpcError> {
        self.result.as_ref().err()
    }

    /// True when the call succeeded.
    pub fn is_succ(&self) -> bool {
        self.result.is_ok()
    }
}

/// A received message before (and after) its handlers run.
///
/// ```rust,standalone_crate
/// use serde::{Deserialize, Serialize};
/// use tsrpc::server::flows::MsgCallFlow;
///
/// #[tsrpc::msg]
/// #[derive(Serialize, Deserialize)]
/// pub struct MsgChat { pub content: String }
///
/// # fn main() -> Result<(), tsrpc::SetupError> {
/// # let server = tsrpc::Server::builder().build()?;
/// server.flows().pre_msg_call.push(|mut msg: MsgCallFlow| async move {
///     if let Some(chat) = msg.msg_mut::<MsgChat>() {
///         chat.content = chat.content.replace("darn", "****");
///         if chat.content.is_empty() {
///             return None; // dropped: its handlers never see it
///         }
///     }
///     Some(msg)
/// });
/// # Ok(()) }
/// ```
#[non_exhaustive]
pub struct MsgCallFlow {
    /// The connection the message came over.
    pub conn: Connection,
    pub(crate) service: &'static ServiceInfo,
    pub(crate) msg: AnyValue,
}

crate::flow::msg_value_accessors!(MsgCallFlow);

impl fmt::Debug for MsgCallFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsgCallFlow")
            .field("name", &self.name())
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

/// A message on its way to one connection, already encoded.
///
/// ```rust,standalone_crate
/// use serde::{Deserialize, Serialize};
/// use tsrpc::server::flows::SendMsgFlow;
///
/// #[tsrpc::msg]
/// #[derive(Serialize, Deserialize)]
/// pub struct MsgScore { pub points: u32, pub secret: Option<String> }
///
/// # fn main() -> Result<(), tsrpc::SetupError> {
/// # let server = tsrpc::Server::builder().build()?;
/// // What one receiver gets can differ from the broadcast.
/// server.flows().pre_send_msg.push(|mut send: SendMsgFlow| async move {
///     if send.name() == "Score" && send.conn.extension::<u64>().is_none() {
///         let mut score: MsgScore = send.msg().ok()?;
///         score.secret = None; // not for anonymous connections
///         send.set_msg(&score).ok()?;
///     }
///     Some(send)
/// });
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct SendMsgFlow {
    /// The receiving connection.
    pub conn: Connection,
    pub(crate) service: &'static ServiceInfo,
    pub(crate) frame: WireFrame,
    pub(crate) replaced: bool,
}

impl SendMsgFlow {
    /// The message's name.
    pub fn name(&self) -> &'static str {
        self.service.name()
    }

    /// Decodes the message.
    pub fn msg<M: Message>(&self) -> Result<M, TsrpcError> {
        let encoding = match self.frame {
            WireFrame::Text(_) => Encoding::Json,
            WireFrame::Binary(_) => self.conn.send_encoding(),
        };
        match codec::decode_server_frame(encoding, self.frame.clone()) {
            Ok(ServerFrame::Message { payload, .. }) => payload
                .decode()
                .map_err(|e| TsrpcError::server(e.to_string())),
            Ok(_) => Err(TsrpcError::server("not a message frame")),
            Err(e) => Err(TsrpcError::server(e.to_string())),
        }
    }

    /// Sends this message to this receiver instead (encoded again, for this
    /// receiver only). Fails when `M` is not this message's type.
    pub fn set_msg<M: Message>(&mut self, msg: &M) -> Result<(), TsrpcError> {
        if M::NAME != self.name() {
            return Err(TsrpcError::client(format!(
                "{} is not message {}",
                M::NAME,
                self.name()
            )));
        }
        let encoding = self.conn.send_encoding();
        self.frame = codec::encode_message(encoding, self.service.id(), M::NAME, msg)
            .map_err(|e| TsrpcError::client(format!("cannot encode message {}: {e}", M::NAME)))?;
        self.replaced = true;
        Ok(())
    }
}

impl fmt::Debug for SendMsgFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendMsgFlow")
            .field("name", &self.name())
            .field("conn", &self.conn)
            .field("replaced", &self.replaced)
            .finish_non_exhaustive()
    }
}
