//! Clients: [`WsClient`] for long connections, [`HttpClient`] for calls
//! as HTTP requests.
//!
//! Every call resolves with `Result<Res, TsrpcError>`: a return, an error
//! from the server, or a local error (`TIMEOUT`, `LOST_CONN`,
//! `WS_NOT_OPEN`, `ABORTED`).

mod http;
mod ws;

use std::time::Duration;

use crate::codec::Payload;
use crate::error::TsrpcError;

pub use http::{HttpClient, HttpClientBuilder};
pub use ws::{
    ClientMsgListener, DEFAULT_TIMEOUT, DisconnectEvent, HeartbeatConfig, ReconnectPolicy,
    WsClient, WsClientBuilder, WsClientFlows, WsStatus,
};

/// Options of one call.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CallOptions {
    /// This call's timeout, instead of the client's default.
    pub timeout: Option<Duration>,
    /// A key for `abort_by_key`.
    pub abort_key: Option<String>,
    /// Extra request headers (HTTP only; a WebSocket has no per-call headers).
    pub headers: Vec<(String, String)>,
}

impl CallOptions {
    /// Options with this timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Options with one more request header (HTTP only).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Options with this abort key.
    pub fn abort_key(mut self, key: impl Into<String>) -> Self {
        self.abort_key = Some(key.into());
        self
    }
}

/// A message received by a `listen_msg_matching` listener: its name and a
/// payload it can decode into the right type.
#[derive(Clone, Debug)]
pub struct AnyMsg {
    name: &'static str,
    payload: Payload,
}

impl AnyMsg {
    /// The message's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Decodes the message.
    pub fn decode<M: serde::de::DeserializeOwned>(&self) -> Result<M, TsrpcError> {
        self.payload
            .decode()
            .map_err(|e| TsrpcError::client(format!("Invalid message {}: {e}", self.name)))
    }
}
