//! Transports: WebSocket and HTTP on one hyper listener.
//!
//! This module moves frames between sockets and the layers above; it never
//! knows which API a frame carries. A connection's frames go to a
//! [`FrameHandler`]; what goes out is queued on its bounded [`Outbound`].

pub(crate) mod admission;
pub(crate) mod http;
pub(crate) mod listener;
pub(crate) mod outbound;
pub(crate) mod service;
pub(crate) mod stream;
#[cfg(feature = "tls")]
pub(crate) mod tls;
pub(crate) mod ws;

use std::future::Future;
use std::task::Context;

pub(crate) use outbound::{Outbound, OutboundReceiver, Replies};

use bytes::Bytes;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::codec::{Encoding, WireFrame};
use crate::task::BoxFuture;

/// A data frame as the WebSocket layer received it (text is checked UTF-8).
pub(crate) enum Received {
    Text(Utf8Bytes),
    Binary(Bytes),
}

impl From<Received> for WireFrame {
    fn from(frame: Received) -> Self {
        match frame {
            Received::Text(text) => WireFrame::Text(text.into()),
            Received::Binary(data) => WireFrame::Binary(data),
        }
    }
}

/// An upgraded WebSocket connection.
pub(crate) type ServerSocket = WebSocketStream<ws::Metered<TokioIo<hyper::upgrade::Upgraded>>>;

/// A WebSocket upgrade request, as the app sees it before the socket opens.
#[derive(Debug)]
pub(crate) struct UpgradeHead {
    pub(crate) headers: ::http::HeaderMap,
    pub(crate) uri: ::http::Uri,
    pub(crate) remote: Option<SocketAddr>,
}

/// An upgrade the app refused: the status and the reason sent back.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) status: ::http::StatusCode,
    pub(crate) reason: String,
}

pub(crate) use crate::stats::Refusals;

/// What the listener serves.
pub(crate) trait App: Send + Sync + 'static {
    /// Where the hosts count what they refuse.
    fn refusals(&self) -> &Refusals;
    /// The WebSockets opened through a mounted service, under the same
    /// caps as the listener's connections (whose host counts its own).
    fn mounted(&self) -> &Arc<admission::Admission>;
    /// What an accepted upgrade carries into its connection.
    type Admitted: Send + 'static;
    /// Decides on a WebSocket upgrade before the socket opens.
    fn admit_websocket(
        self: &Arc<Self>,
        head: UpgradeHead,
    ) -> impl Future<Output = Result<Self::Admitted, Refused>> + Send;
    /// False while stopping: new WebSocket connections are refused with 503.
    fn accepting(&self) -> bool;
    /// The WebSocket configuration for new connections.
    fn ws_config(&self) -> WebSocketConfig;
    /// Runs an accepted WebSocket connection. `encoding` is what its
    /// subprotocol asked for, if anything.
    fn serve_websocket(
        self: Arc<Self>,
        ws: ServerSocket,
        admitted: Self::Admitted,
        encoding: Option<Encoding>,
    ) -> BoxFuture<()>;
    /// HTTP settings: limits, origins, static files.
    fn http_settings(&self) -> &http::HttpSettings;
    /// Answers an API call or message received over HTTP. Not boxed: the
    /// future lives in the one hyper keeps per connection, so a request
    /// costs no allocation for it.
    fn http_call(
        self: Arc<Self>,
        call: http::HttpCall,
    ) -> impl Future<Output = http::HttpReply> + Send;
}

/// Receives the frames of one connection, in order.
pub(crate) trait FrameHandler: Send + Sync {
    /// Handles a frame at once if that needs no waiting, sending what it
    /// answers through `replies`. False (nothing done) when the frame needs
    /// [`on_frame`](Self::on_frame).
    fn on_frame_now(
        &self,
        frame: &Received,
        replies: &mut Replies<'_>,
        cx: &mut Context<'_>,
    ) -> bool {
        let _ = (frame, replies, cx);
        false
    }

    /// Handles one frame. The next frame of the connection is read only
    /// when this returns, which gives backpressure.
    fn on_frame(&self, frame: WireFrame) -> impl Future<Output = ()> + Send;
}

/// The default largest WebSocket message or HTTP body: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;
/// The default bound of a connection's outbound queue: 8 MiB.
pub const DEFAULT_SEND_QUEUE_SIZE: usize = 8 << 20;
/// The default time a peer may take none of the bytes waiting for it.
pub const DEFAULT_SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// WebSocket close codes used by tsrpc.
pub(crate) mod close_code {
    /// Normal closure (`conn.close(reason)`, `client.disconnect()`).
    pub(crate) const NORMAL: u16 = 1000;
    /// The server is stopping.
    pub(crate) const GOING_AWAY: u16 = 1001;
    /// The peer broke the WebSocket protocol.
    pub(crate) const PROTOCOL_ERROR: u16 = 1002;
    /// A frame that is not a tsrpc frame, or text that is not UTF-8.
    pub(crate) const INVALID_DATA: u16 = 1007;
    /// A protocol rule was broken (fingerprint, hello, full queue).
    pub(crate) const POLICY: u16 = 1008;
    /// A message larger than the limit.
    pub(crate) const TOO_BIG: u16 = 1009;
    /// No heartbeat or data within the wait time (TSRPC's code).
    pub(crate) const HEARTBEAT_TIMEOUT: u16 = 3001;
}

/// Why a connection ended, as both ends report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Disconnect {
    /// The close code, if a close frame was sent or received.
    pub(crate) code: Option<u16>,
    /// The reason, human readable.
    pub(crate) reason: String,
    /// True when this side decided to close.
    pub(crate) local: bool,
}
