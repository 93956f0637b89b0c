//! [`Connection`]: the server's handle on one peer.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::codec::{self, Encoding};
use crate::error::TsrpcError;
use crate::proto::{Message, ServiceTable};
use crate::transport::outbound::SendError;
use crate::transport::{Outbound, close_code, ws};

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
#[derive(Clone)]
pub struct Connection {
    inner: Arc<ConnectionInner>,
}

struct ConnectionInner {
    id: u64,
    remote_addr: Option<SocketAddr>,
    transport: Transport,
    outbound: Option<Outbound>,
    /// 0: not known yet, 1: JSON, 2: binary.
    encoding: AtomicU8,
    /// The request headers of an HTTP call.
    headers: Option<http::HeaderMap>,
}

fn encoding_code(encoding: Encoding) -> u8 {
    match encoding {
        Encoding::Json => 1,
        Encoding::Binary => 2,
    }
}

impl Connection {
    pub(crate) fn in_process() -> Self {
        Self::build(0, None, Transport::InProcess, None, None, None)
    }

    pub(crate) fn websocket(
        id: u64,
        remote_addr: SocketAddr,
        outbound: Outbound,
        encoding: Option<Encoding>,
    ) -> Self {
        Self::build(
            id,
            Some(remote_addr),
            Transport::WebSocket,
            Some(outbound),
            encoding,
            None,
        )
    }

    pub(crate) fn http(
        id: u64,
        remote_addr: SocketAddr,
        encoding: Encoding,
        headers: http::HeaderMap,
    ) -> Self {
        Self::build(
            id,
            Some(remote_addr),
            Transport::Http,
            None,
            Some(encoding),
            Some(headers),
        )
    }

    fn build(
        id: u64,
        remote_addr: Option<SocketAddr>,
        transport: Transport,
        outbound: Option<Outbound>,
        encoding: Option<Encoding>,
        headers: Option<http::HeaderMap>,
    ) -> Self {
        Connection {
            inner: Arc::new(ConnectionInner {
                id,
                remote_addr,
                transport,
                outbound,
                encoding: AtomicU8::new(encoding.map_or(0, encoding_code)),
                headers,
            }),
        }
    }

    /// The request headers, for a call made over HTTP.
    pub fn headers(&self) -> Option<&http::HeaderMap> {
        self.inner.headers.as_ref()
    }

    /// One request header as text, for a call made over HTTP; for example
    /// `call.conn.header("authorization")`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()?.get(name)?.to_str().ok()
    }

    /// The connection's id, unique within its server.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The peer's address; `None` for in-process calls.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote_addr
    }

    /// The transport this connection runs over.
    pub fn transport(&self) -> Transport {
        self.inner.transport
    }

    /// The connection's encoding: chosen by its WebSocket subprotocol
    /// (`text` or `buffer`) or else by its first data frame; `None` until
    /// then.
    pub fn encoding(&self) -> Option<Encoding> {
        match self.inner.encoding.load(Ordering::Relaxed) {
            1 => Some(Encoding::Json),
            2 => Some(Encoding::Binary),
            _ => None,
        }
    }

    /// Sets the encoding unless one was chosen already.
    pub(crate) fn settle_encoding(&self, encoding: Encoding) {
        let _ = self.inner.encoding.compare_exchange(
            0,
            encoding_code(encoding),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// The encoding server-initiated frames use: JSON until the peer chose.
    pub(crate) fn send_encoding(&self) -> Encoding {
        self.encoding().unwrap_or(Encoding::Json)
    }

    /// True while the connection is open and not closing.
    pub fn is_connected(&self) -> bool {
        self.inner
            .outbound
            .as_ref()
            .is_some_and(|o| !o.is_closing())
    }

    /// Sends a message to this peer. It is queued, never awaited: a peer
    /// whose queue is full is not reading and is disconnected.
    ///
    /// ```no_run,standalone_crate
    /// # use serde::{Deserialize, Serialize};
    /// # #[tsrpc::msg] #[derive(Serialize, Deserialize)] pub struct MsgHello { pub text: String }
    /// # fn f(conn: tsrpc::Connection) -> Result<(), tsrpc::TsrpcError> {
    /// conn.send_msg(&MsgHello { text: "welcome".into() })?;
    /// # Ok(()) }
    /// ```
    pub fn send_msg<M: Message>(&self, msg: &M) -> Result<(), TsrpcError> {
        let service = ServiceTable::global()
            .ok()
            .and_then(|t| t.msg(M::NAME))
            .ok_or_else(|| {
                TsrpcError::client(format!(
                    "message {:?} is not registered with #[tsrpc::msg]",
                    M::NAME
                ))
            })?;
        let encoding = self.send_encoding();
        let frame = codec::encode_message(encoding, service.id(), M::NAME, msg)
            .map_err(|e| TsrpcError::client(format!("cannot encode message {}: {e}", M::NAME)))?;
        self.send_frame(ws::to_message(frame))
    }

    /// Queues an encoded frame.
    pub(crate) fn send_frame(&self, frame: WsMessage) -> Result<(), TsrpcError> {
        let Some(outbound) = &self.inner.outbound else {
            return Err(TsrpcError::client(match self.inner.transport {
                Transport::Http => {
                    "an HTTP call cannot receive messages: only WebSocket connections can"
                }
                _ => "an in-process call has no connection to send to",
            }));
        };
        outbound.send(frame).map_err(|e| match e {
            SendError::Closed => {
                TsrpcError::network(format!("connection {} is closed", self.inner.id))
            }
            SendError::Full => TsrpcError::network(format!(
                "connection {} was closed: its outbound queue is full",
                self.inner.id
            )),
        })
    }

    /// Closes the connection with a reason the peer receives (close code
    /// 1000). Messages queued before are sent first.
    pub fn close(&self, reason: impl Into<String>) {
        self.close_with(close_code::NORMAL, reason);
    }

    pub(crate) fn close_with(&self, code: u16, reason: impl Into<String>) {
        if let Some(outbound) = &self.inner.outbound {
            outbound.close(code, reason);
        }
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
