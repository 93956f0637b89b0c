//! Transports: WebSocket (and, later, HTTP) on one hyper listener.
//!
//! This module moves frames between sockets and the layers above; it never
//! knows which API a frame carries. A connection's frames go to a
//! [`FrameHandler`]; what goes out is queued on its bounded [`Outbound`].

pub(crate) mod admission;
pub(crate) mod http;
pub(crate) mod listener;
pub(crate) mod outbound;
pub(crate) mod ws;

use std::future::Future;
use std::task::Context;

pub(crate) use outbound::{Outbound, OutboundReceiver, Replies};

use bytes::Bytes;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::codec::WireFrame;

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
