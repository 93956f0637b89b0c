//! What a server reports about itself: [`ServerStats`], from
//! [`Server::stats`](crate::Server::stats), for an app's metrics route.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// What the hosts refused, by reason, counted as it happens.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    pub(crate) connection_limit: AtomicU64,
    pub(crate) per_ip_limit: AtomicU64,
    pub(crate) origin: AtomicU64,
    pub(crate) pre_connect: AtomicU64,
    pub(crate) stopping: AtomicU64,
    pub(crate) tls: AtomicU64,
}

impl Refusals {
    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> RefusedStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        RefusedStats {
            connection_limit: read(&self.connection_limit),
            per_ip_limit: read(&self.per_ip_limit),
            origin: read(&self.origin),
            pre_connect: read(&self.pre_connect),
            stopping: read(&self.stopping),
            tls: read(&self.tls),
        }
    }
}

/// A snapshot of a server: its open WebSocket connections by encoding, the
/// calls it is answering, the bytes waiting to be sent, and what it
/// refused since it was built, by reason. Serializes to JSON for a
/// metrics route.
///
/// ```
/// let server = tsrpc::Server::builder().build()?;
/// let stats = server.stats();
/// assert_eq!(stats.websockets, 0);
/// println!("{}", serde_json::to_string(&stats).unwrap());
/// # Ok::<(), tsrpc::SetupError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ServerStats {
    /// Open WebSocket connections (on the server's listener or mounted).
    pub websockets: usize,
    /// Of those, the ones speaking JSON mode.
    pub websockets_json: usize,
    /// Of those, the ones speaking tsrpc's binary mode.
    pub websockets_binary: usize,
    /// Of those, the ones speaking TSRPC's binary mode (TSBuffer).
    pub websockets_tsbuffer: usize,
    /// API calls being answered, over any transport.
    pub calls_in_flight: usize,
    /// Bytes waiting in the WebSocket connections' outbound queues.
    pub bytes_queued: usize,
    /// What was refused since the server was built.
    pub refused: RefusedStats,
}

/// Refusals by reason, counted since the server was built.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RefusedStats {
    /// Connections past the connection limit (`max_connections`; 503).
    pub connection_limit: u64,
    /// Connections past the per-address limit (`max_connections_per_ip`; 429).
    pub per_ip_limit: u64,
    /// Requests and WebSocket upgrades from an origin not on the list (403).
    pub origin: u64,
    /// WebSocket upgrades a `pre_connect` node refused (401, 403).
    pub pre_connect: u64,
    /// WebSocket upgrades and calls while stopping (503).
    pub stopping: u64,
    /// TLS handshakes that failed or timed out, plain text on a TLS port.
    pub tls: u64,
}
