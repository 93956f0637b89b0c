//! [`Connection`]: the server's handle on one peer.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use super::flows::{DataFlow, SendMsgFlow, ServerFlows};
use super::rooms::{Joined, Rooms};
use super::ws::{Close, Peer, Prepared, Unsent};
use crate::codec::{self, Encoding, WireFrame};
use crate::error::TsrpcError;
use crate::flow::FlowStep;
use crate::proto::{Message, ServiceInfo, ServiceTable};
use crate::task;

/// The transport a [`Connection`] runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// A WebSocket connection.
    WebSocket,
    /// One HTTP request: the connection lives as long as the call.
    Http,
    /// Calls made inside the process with [`Server::call_api`](crate::Server::call_api).
    InProcess,
}

/// The server's handle on one peer: cheap to clone, shared by every call
/// made over the same connection.
///
/// It carries typed extensions, for state that belongs to the connection
/// (the logged-in user, say):
///
/// ```no_run
/// # fn f(conn: tsrpc::Connection) {
/// #[derive(Clone)]
/// struct User { name: String }
///
/// conn.insert_extension(User { name: "ann".into() });
/// if let Some(user) = conn.extension::<User>() {
///     println!("{} is logged in", user.name);
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct Connection {
    inner: Arc<ConnectionInner>,
}

struct ConnectionInner {
    id: u64,
    remote_addr: Option<SocketAddr>,
    transport: Transport,
    peer: Option<Peer>,
    /// 0: not known yet, else the encoding's `encoding_code`.
    encoding: AtomicU8,
    /// The request headers of an HTTP call, or of a WebSocket's upgrade.
    headers: Option<http::HeaderMap>,
    /// The URI of a WebSocket's upgrade request.
    uri: Option<http::Uri>,
    extensions: Mutex<http::Extensions>,
    flows: Option<Arc<ServerFlows>>,
    /// The server's rooms and this connection's: WebSocket connections
    /// only (an HTTP call's connection, made per request, pays nothing).
    rooms: Option<Membership>,
}

/// A WebSocket connection's side of the rooms.
struct Membership {
    rooms: Arc<Rooms>,
    joined: Mutex<Joined>,
}

fn encoding_code(encoding: Encoding) -> u8 {
    match encoding {
        Encoding::Json => 1,
        Encoding::Binary => 2,
        Encoding::Tsbuffer => 3,
    }
}

fn same_bytes(a: &WireFrame, b: &WireFrame) -> bool {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    matches!(
        (a, b),
        (WireFrame::Text(_), WireFrame::Text(_)) | (WireFrame::Binary(_), WireFrame::Binary(_))
    ) && x.as_ptr() == y.as_ptr()
        && x.len() == y.len()
}

/// What a WebSocket connection keeps of its upgrade request.
pub(crate) struct Upgrade {
    pub(crate) headers: http::HeaderMap,
    pub(crate) uri: http::Uri,
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) extensions: http::Extensions,
}

/// A cookie's value in `Cookie` headers (`a=1; b=2`), percent-decoded
/// as Express's `cookie-parser` does (a value that does not decode to
/// UTF-8 is kept as sent; quotes around it are dropped). Headers in UTF-8
/// count, not only ASCII ones.
pub(crate) fn cookie<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<Cow<'h, str>> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            (key.trim() == name).then(|| percent_decoded(value))
        })
}

/// A parameter's value in a query string (`a=1&b=2`), decoded as
/// JavaScript's `URLSearchParams` decodes it: `+` is a space, then
/// percent-decoding, names included.
pub(crate) fn query_param<'q>(query: &'q str, name: &str) -> Option<Cow<'q, str>> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decoded(key) == name).then(|| form_decoded(value))
    })
}

fn form_decoded(text: &str) -> Cow<'_, str> {
    if text.contains('+') {
        Cow::Owned(percent_decoded(&text.replace('+', " ")).into_owned())
    } else {
        percent_decoded(text)
    }
}

/// `text` percent-decoded, or as it is where that is not UTF-8.
fn percent_decoded(text: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .unwrap_or(Cow::Borrowed(text))
}

impl ConnectionInner {
    /// A connection that has nothing yet but its id and transport.
    fn bare(id: u64, transport: Transport) -> Self {
        ConnectionInner {
            id,
            remote_addr: None,
            transport,
            peer: None,
            encoding: AtomicU8::new(0),
            headers: None,
            uri: None,
            extensions: Mutex::default(),
            flows: None,
            rooms: None,
        }
    }
}

impl Connection {
    pub(crate) fn in_process() -> Self {
        Connection {
            inner: Arc::new(ConnectionInner::bare(0, Transport::InProcess)),
        }
    }

    /// A WebSocket connection, with what its upgrade request carried
    /// (headers, URI) and the values `pre_connect` put on it.
    pub(crate) fn websocket(
        id: u64,
        upgrade: Upgrade,
        peer: Peer,
        encoding: Option<Encoding>,
        flows: Arc<ServerFlows>,
        rooms: Arc<Rooms>,
    ) -> Self {
        let inner = ConnectionInner {
            remote_addr: upgrade.remote_addr,
            peer: Some(peer),
            encoding: AtomicU8::new(encoding.map_or(0, encoding_code)),
            headers: Some(upgrade.headers),
            uri: Some(upgrade.uri),
            extensions: Mutex::new(upgrade.extensions),
            flows: Some(flows),
            rooms: Some(Membership {
                rooms,
                joined: Mutex::default(),
            }),
            ..ConnectionInner::bare(id, Transport::WebSocket)
        };
        Connection {
            inner: Arc::new(inner),
        }
    }

    /// One HTTP request's connection (an HTTP call builds one per request).
    pub(crate) fn http(
        id: u64,
        remote_addr: Option<SocketAddr>,
        encoding: Encoding,
        headers: http::HeaderMap,
    ) -> Self {
        let inner = ConnectionInner {
            remote_addr,
            encoding: AtomicU8::new(encoding_code(encoding)),
            headers: Some(headers),
            ..ConnectionInner::bare(id, Transport::Http)
        };
        Connection {
            inner: Arc::new(inner),
        }
    }

    /// The connection's id, unique within its server.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The peer's address; `None` for in-process calls, and when a host
    /// that mounts the server does not say (see
    /// [`TsrpcService::remote_addr`](super::TsrpcService::remote_addr)).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote_addr
    }

    /// The transport this connection runs over.
    pub fn transport(&self) -> Transport {
        self.inner.transport
    }

    /// The request headers: an HTTP call's, or a WebSocket's upgrade request's.
    pub fn headers(&self) -> Option<&http::HeaderMap> {
        self.inner.headers.as_ref()
    }

    /// One request header as text, for a call made over HTTP; for example
    /// `call.conn.header("authorization")`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()?.get(name)?.to_str().ok()
    }

    /// A cookie's value, percent-decoded, from the request's `Cookie` headers (an HTTP
    /// call's, or a WebSocket's upgrade request's).
    pub fn cookie(&self, name: &str) -> Option<Cow<'_, str>> {
        cookie(self.headers()?, name)
    }

    /// The query string of a WebSocket's upgrade request, without the `?`
    /// (`ws://host/?token=..`).
    pub fn query(&self) -> Option<&str> {
        self.inner.uri.as_ref()?.query()
    }

    /// A query parameter of a WebSocket's upgrade request, decoded as
    /// JavaScript's `URLSearchParams` decodes it (`+` is a space, then
    /// percent-decoding); the first one of that name.
    pub fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        query_param(self.query()?, name)
    }

    /// Puts this WebSocket connection in `room`, to receive what is
    /// broadcast to it ([`Server::to`](crate::Server::to)) until it
    /// [`leave`](Self::leave)s or closes. Rooms need no creating: a room
    /// is its members. Nothing for HTTP and in-process calls, which
    /// receive no messages, and for a connection that has closed.
    ///
    /// ```no_run
    /// # async fn f(conn: tsrpc::Connection) {
    /// conn.join("room:lobby");
    /// conn.join(format!("user:{}", "ann")); // to reach all of ann's connections
    /// assert!(conn.in_room("room:lobby"));
    /// conn.leave("room:lobby");
    /// # }
    /// ```
    pub fn join(&self, room: impl AsRef<str>) {
        if let Some(m) = &self.inner.rooms {
            m.rooms.join(self, &m.joined, room.as_ref());
        }
    }

    /// Takes this connection out of `room`.
    pub fn leave(&self, room: &str) {
        if let Some(m) = &self.inner.rooms {
            m.rooms.leave(self, &m.joined, room);
        }
    }

    /// The rooms this connection is in (after it closed, the rooms it
    /// was in: `post_disconnect` flows can still read them).
    pub fn rooms(&self) -> Vec<String> {
        self.inner
            .rooms
            .as_ref()
            .map(|m| task::lock(&m.joined).rooms())
            .unwrap_or_default()
    }

    /// True when this connection is in `room`.
    pub fn in_room(&self, room: &str) -> bool {
        self.inner
            .rooms
            .as_ref()
            .is_some_and(|m| task::lock(&m.joined).contains(room))
    }

    /// Takes the closed connection out of its rooms, for good.
    pub(crate) fn leave_rooms(&self) {
        if let Some(m) = &self.inner.rooms {
            m.rooms.close(self, &m.joined);
        }
    }

    /// Attaches a value to the connection (one per type); returns the
    /// value of that type it had.
    pub fn insert_extension<T: Clone + Send + Sync + 'static>(&self, value: T) -> Option<T> {
        self.extensions().insert(value)
    }

    /// A copy of the connection's value of type `T`.
    pub fn extension<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.extensions().get::<T>().cloned()
    }

    /// Removes the connection's value of type `T`.
    pub fn remove_extension<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.extensions().remove::<T>()
    }

    fn extensions(&self) -> std::sync::MutexGuard<'_, http::Extensions> {
        task::lock(&self.inner.extensions)
    }

    /// The connection's encoding: chosen by its WebSocket subprotocol
    /// (`text` or `buffer`) or else by its first data frame; `None` until
    /// then.
    pub fn encoding(&self) -> Option<Encoding> {
        match self.inner.encoding.load(Ordering::Relaxed) {
            1 => Some(Encoding::Json),
            2 => Some(Encoding::Binary),
            3 => Some(Encoding::Tsbuffer),
            _ => None,
        }
    }

    /// Sets the encoding unless one was chosen already.
    pub(crate) fn settle_encoding(&self, encoding: Encoding) {
        // Read first: after the first frame this is all it costs, with no
        // locked instruction per call.
        if self.inner.encoding.load(Ordering::Relaxed) != 0 {
            return;
        }
        let _ = self.inner.encoding.compare_exchange(
            0,
            encoding_code(encoding),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Sets the encoding to tsrpc's binary mode, which its hello chooses
    /// over the TSBuffer mode the `buffer` subprotocol first suggested.
    pub(crate) fn choose_binary(&self) {
        self.inner
            .encoding
            .store(encoding_code(Encoding::Binary), Ordering::Relaxed);
    }

    /// The encoding server-initiated frames use: JSON until the peer chose.
    pub(crate) fn send_encoding(&self) -> Encoding {
        self.encoding().unwrap_or(Encoding::Json)
    }

    /// Bytes waiting in its outbound queue (WebSocket only).
    pub(crate) fn queued_bytes(&self) -> usize {
        self.inner.peer.as_ref().map_or(0, Peer::queued)
    }

    /// True while the connection is open and not closing.
    pub fn is_connected(&self) -> bool {
        self.inner.peer.as_ref().is_some_and(|p| !p.is_closing())
    }

    /// Sends a message to this peer, through the `pre_send_msg`,
    /// `pre_send_data` and `post_send_msg` flows. It is queued, never
    /// awaited on the network: a peer whose queue is full is not reading and
    /// is disconnected. A flow that stops it is not an error.
    ///
    /// ```no_run
    /// # use serde::{Deserialize, Serialize};
    /// # #[tsrpc::msg] #[derive(Serialize, Deserialize)] pub struct MsgHello { pub text: String }
    /// # async fn f(conn: tsrpc::Connection) -> Result<(), tsrpc::TsrpcError> {
    /// conn.send_msg(&MsgHello { text: "welcome".into() }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_msg<M: Message>(&self, msg: &M) -> Result<(), TsrpcError> {
        let service = ServiceTable::global()
            .ok()
            .and_then(|t| t.msg(M::NAME))
            .ok_or_else(|| {
                TsrpcError::client(format!(
                    "message {:?} is not registered with #[tsrpc::msg]",
                    M::NAME
                ))
            })?;
        let frame = codec::encode_message(self.send_encoding(), service.id(), M::NAME, msg)
            .map_err(|e| TsrpcError::client(format!("cannot encode message {}: {e}", M::NAME)))?;
        self.send_msg_frame(service, frame, None).await
    }

    /// Sends an encoded message through the message flows; `prepared` is
    /// the same frame ready for the socket (shared by a broadcast).
    pub(crate) async fn send_msg_frame(
        &self,
        service: &'static ServiceInfo,
        frame: WireFrame,
        prepared: Option<&Prepared>,
    ) -> Result<(), TsrpcError> {
        let Some(flows) = &self.inner.flows else {
            return self.send(prepared.cloned().unwrap_or_else(|| frame.into()));
        };
        let mut step = SendMsgFlow {
            conn: self.clone(),
            service,
            frame,
            replaced: false,
        };
        if !flows.pre_send_msg.is_empty() {
            step = match flows.pre_send_msg.exec(step).await {
                FlowStep::Continue(step) => step,
                FlowStep::Stop => return Ok(()),
                FlowStep::Fail(e) => return Err(e),
            };
        }
        let prepared = if step.replaced { None } else { prepared };
        self.send_data_prepared(step.frame.clone(), prepared)
            .await?;
        if !flows.post_send_msg.is_empty() {
            flows.post_send_msg.exec(step).await;
        }
        Ok(())
    }

    /// Sends a frame through the `pre_send_data` flow.
    pub(crate) async fn send_data(&self, frame: WireFrame) -> Result<(), TsrpcError> {
        self.send_data_prepared(frame, None).await
    }

    /// [`send_data`](Self::send_data) with the same frame `prepared` for
    /// the socket already (shared by a broadcast).
    async fn send_data_prepared(
        &self,
        frame: WireFrame,
        prepared: Option<&Prepared>,
    ) -> Result<(), TsrpcError> {
        let flows = self.inner.flows.as_ref().filter(|f| f.see_sent_data());
        let (frame, unchanged) = match flows {
            None => (frame, true),
            Some(flows) => {
                let data = DataFlow {
                    conn: self.clone(),
                    data: frame.clone(),
                };
                match flows.pre_send_data.exec(data).await {
                    FlowStep::Continue(data) => {
                        let unchanged = same_bytes(&data.data, &frame);
                        (data.data, unchanged)
                    }
                    FlowStep::Stop => return Ok(()),
                    FlowStep::Fail(e) => return Err(e),
                }
            }
        };
        let message = match (unchanged, prepared) {
            (true, Some(prepared)) => prepared.clone(),
            (true, None) => frame.into(),
            (false, _) => Prepared::checked(frame),
        };
        self.send(message)
    }

    /// Queues a frame as it is, without flows.
    pub(crate) fn send(&self, frame: Prepared) -> Result<(), TsrpcError> {
        let Some(peer) = &self.inner.peer else {
            return Err(TsrpcError::client(match self.inner.transport {
                Transport::Http => {
                    "an HTTP call cannot receive messages: only WebSocket connections can"
                }
                _ => "an in-process call has no connection to send to",
            }));
        };
        peer.send(frame).map_err(|e| match e {
            Unsent::Closed => {
                TsrpcError::network(format!("connection {} is closed", self.inner.id))
            }
            Unsent::Full => TsrpcError::network(format!(
                "connection {} was closed: its outbound queue is full",
                self.inner.id
            )),
        })
    }

    /// True when sending needs no flow, so a broadcast can queue directly.
    pub(crate) fn sends_without_flows(&self) -> bool {
        self.inner
            .flows
            .as_ref()
            .is_none_or(|f| f.none_see_sent_msgs())
    }

    /// Closes the connection with a reason the peer receives (close code
    /// 1000). Messages queued before are sent first.
    pub fn close(&self, reason: impl Into<String>) {
        self.close_for(Close::Normal, reason);
    }

    pub(crate) fn close_for(&self, close: Close, reason: impl Into<String>) {
        if let Some(peer) = &self.inner.peer {
            peer.close(close, reason);
        }
    }

    /// The WebSocket peer, for a WebSocket connection.
    pub(crate) fn peer(&self) -> Option<&Peer> {
        self.inner.peer.as_ref()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.inner.id)
            .field("remote_addr", &self.inner.remote_addr)
            .field("transport", &self.inner.transport)
            .field("encoding", &self.encoding())
            .finish()
    }
}

impl PartialEq for Connection {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Connection {}

#[cfg(test)]
mod tests {
    use super::{cookie, query_param};

    #[test]
    fn query_params_decode_as_url_search_params() {
        let query = "a=1&b=x+y%2B%20z&c&%64=4&bad=%ZZ%&raw=%FF&a=2";
        assert_eq!(query_param(query, "a").as_deref(), Some("1"));
        assert_eq!(query_param(query, "b").as_deref(), Some("x y+ z"));
        assert_eq!(query_param(query, "c").as_deref(), Some(""));
        assert_eq!(query_param(query, "d").as_deref(), Some("4"));
        assert_eq!(query_param(query, "bad").as_deref(), Some("%ZZ%"));
        // Not UTF-8 once decoded: kept as sent.
        assert_eq!(query_param(query, "raw").as_deref(), Some("%FF"));
        assert_eq!(query_param(query, "e"), None);
    }

    #[test]
    fn cookies_decode_their_values() {
        let mut headers = http::HeaderMap::new();
        headers.append("cookie", "a=1; b=%E2%9C%93".parse().unwrap());
        headers.append(
            "cookie",
            http::HeaderValue::from_bytes("c=\"q\"; d=Zürich; e=a+b".as_bytes()).unwrap(),
        );
        assert_eq!(cookie(&headers, "a").as_deref(), Some("1"));
        assert_eq!(cookie(&headers, "b").as_deref(), Some("✓"));
        assert_eq!(cookie(&headers, "c").as_deref(), Some("q"));
        assert_eq!(cookie(&headers, "d").as_deref(), Some("Zürich"));
        // `+` is no space in a cookie.
        assert_eq!(cookie(&headers, "e").as_deref(), Some("a+b"));
        assert_eq!(cookie(&headers, "f"), None);
    }
}
