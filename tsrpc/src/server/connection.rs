//! [`Connection`]: the server's handle on one peer.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// The transport a [`Connection`] runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
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
}

impl Connection {
    pub(crate) fn new(id: u64, remote_addr: Option<SocketAddr>, transport: Transport) -> Self {
        Connection {
            inner: Arc::new(ConnectionInner {
                id,
                remote_addr,
                transport,
            }),
        }
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
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.inner.id)
            .field("remote_addr", &self.inner.remote_addr)
            .field("transport", &self.inner.transport)
            .finish()
    }
}

impl PartialEq for Connection {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Connection {}
