//! The cluster seam: how broadcasts reach the clients of other server
//! processes. A [`ClusterAdapter`] (the `tsrpc-redis` crate's, say) is
//! given each broadcast made here, encoded already, and hands this node
//! what other nodes broadcast, which goes to local fan-out without being
//! encoded again. Without an adapter a server is a single process, and
//! this module costs nothing.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{Server, ServerInner};
use crate::codec::{self, Encoding, Payload};
/// The future [`ClusterAdapter::stopping`] returns.
pub use crate::task::BoxFuture;

/// A server process in a cluster: random, drawn when the server is built.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId(u64);

impl NodeId {
    /// A new random id.
    pub(crate) fn random() -> Self {
        // std's hasher keys are random per process (and per hasher): no
        // dependency needed for an id that only has to differ.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        NodeId(hasher.finish())
    }

    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The id of a number, as [`as_u64`](Self::as_u64) gave it.
    pub fn from_u64(id: u64) -> Self {
        NodeId(id)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

impl std::str::FromStr for NodeId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(NodeId)
    }
}

/// Who a broadcast is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Target {
    /// Every connection, but the members of the `except` rooms.
    All {
        /// Rooms whose members are left out.
        except: Vec<String>,
    },
    /// The members of any of `rooms` (each once), but the members of the
    /// `except` rooms.
    Rooms {
        /// The rooms broadcast to.
        rooms: Vec<String>,
        /// Rooms whose members are left out.
        except: Vec<String>,
    },
    /// One connection of one node.
    Connection {
        /// The node the connection is on.
        node: NodeId,
        /// Its [`Connection::id`](super::Connection::id) there.
        id: u64,
    },
}

/// A broadcast as it crosses to other nodes: who it is for, and the
/// message in every encoding, encoded once by the node that sent it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClusterMsg {
    /// The node that broadcast it.
    pub origin: NodeId,
    /// Its protocol's fingerprint: a node with another protocol drops it.
    pub protocol: String,
    /// Who it is for.
    pub target: Target,
    /// The message's name (`MsgChat`'s `"Chat"`).
    pub name: String,
    /// The JSON-mode frame (UTF-8 text).
    pub json: Bytes,
    /// The binary-mode frame.
    pub binary: Bytes,
    /// The TSBuffer-mode frame (TSRPC's binary mode).
    ///
    /// Each frame is empty when the message cannot be written in its
    /// encoding (a NaN in JSON, a date before 1970 in TSBuffer): the
    /// receivers speaking it get nothing.
    pub tsbuffer: Bytes,
}

impl ClusterMsg {
    /// The message as bytes, for an adapter to send: tsrpc's binary
    /// encoding, which [`from_bytes`](Self::from_bytes) reads.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(self.json.len() + self.binary.len() + self.tsbuffer.len() + 128);
        // Plain data: encoding it cannot fail.
        if let Err(e) = codec::write_payload(Encoding::Binary, self, &mut out) {
            tracing::error!("a cluster message did not encode: {e}");
            out.clear();
        }
        out
    }

    /// Reads what [`to_bytes`](Self::to_bytes) wrote. Bytes that are not
    /// such a message are an error, never a panic nor an allocation much
    /// larger than they are.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Undeliverable> {
        Payload::new(Encoding::Binary, Bytes::copy_from_slice(bytes))
            .decode()
            .map_err(|e| Undeliverable(format!("not a cluster message: {e}")))
    }
}

/// What an adapter says of the cluster: [`Server::cluster_stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClusterStats {
    /// This node.
    pub node: Option<NodeId>,
    /// True while the adapter is connected to what joins the nodes.
    pub connected: bool,
    /// The other nodes seen lately.
    pub nodes: Vec<NodeStats>,
    /// WebSocket connections in the whole cluster, this node's included,
    /// as the nodes last said.
    pub connections: usize,
    /// Broadcasts handed to the other nodes.
    pub published: u64,
    /// Broadcasts received from other nodes.
    pub received: u64,
    /// Broadcasts that did not reach the other nodes: sent while
    /// disconnected, or past the adapter's queue (delivery across nodes is
    /// at most once).
    pub lost: u64,
    /// What arrived and was dropped: it did not decode, or came from a node
    /// with another protocol.
    pub dropped: u64,
    /// Times the adapter lost its connection and made it again.
    pub reconnects: u64,
}

impl ClusterStats {
    /// Empty stats of `node`, for an adapter to fill.
    pub fn new(node: NodeId) -> Self {
        ClusterStats {
            node: Some(node),
            ..ClusterStats::default()
        }
    }
}

/// Another node, as an adapter last heard of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NodeStats {
    /// The node.
    pub id: NodeId,
    /// Its WebSocket connections.
    pub connections: usize,
    /// Milliseconds since it was last heard of.
    pub last_seen_ms: u64,
}

impl NodeStats {
    /// A node with its connections, heard of `last_seen_ms` ago.
    pub fn new(id: NodeId, connections: usize, last_seen_ms: u64) -> Self {
        NodeStats {
            id,
            connections,
            last_seen_ms,
        }
    }
}

/// Carries broadcasts between server processes; set with
/// [`ServerBuilder::cluster`](super::ServerBuilder::cluster).
///
/// A broadcast made on a node ([`Server::broadcast_msg`], [`Server::to`])
/// goes to its own connections and to [`publish`](Self::publish); what
/// other nodes publish, the adapter hands to [`ClusterNode::deliver`].
/// Delivery across nodes is at most once: an adapter never retries what
/// may have arrived, so nothing is delivered twice.
pub trait ClusterAdapter: Send + Sync + 'static {
    /// Called once, when the server is built: `node` is how the adapter
    /// delivers what other nodes broadcast.
    fn attach(&self, node: ClusterNode);

    /// Sends a broadcast made here to the other nodes. Called on the
    /// broadcasting task, so it must not wait: queue it (bounded), and
    /// count what cannot be sent as lost. One node's broadcasts must
    /// arrive in the order they were published.
    fn publish(&self, msg: ClusterMsg);

    /// A room got its first member on this node: from now on, broadcasts
    /// to it must reach this node. Called under the room index's lock:
    /// note it and return.
    fn room_added(&self, room: &str) {
        let _ = room;
    }

    /// A room lost its last member on this node (under the lock too).
    fn room_removed(&self, room: &str) {
        let _ = room;
    }

    /// What the adapter knows of the cluster.
    fn stats(&self) -> ClusterStats;

    /// The server is stopping: tell the other nodes, if they track nodes.
    fn stopping(&self) -> BoxFuture<()> {
        Box::pin(async {})
    }
}

/// A node's side of the seam, handed to its adapter: delivers broadcasts
/// from other nodes to this node's connections. Holds the server weakly:
/// once the server is dropped, [`is_alive`](Self::is_alive) is false and
/// the adapter's tasks should end.
#[derive(Clone)]
pub struct ClusterNode {
    id: NodeId,
    protocol: Arc<str>,
    server: Weak<ServerInner>,
}

impl fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterNode").field("id", &self.id).finish()
    }
}

impl ClusterNode {
    pub(crate) fn new(server: &Server) -> Self {
        ClusterNode {
            id: server.node_id(),
            protocol: Arc::from(server.inner.fingerprint.as_str()),
            server: Arc::downgrade(&server.inner),
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The fingerprint of this node's protocol.
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    /// False once the server is gone.
    pub fn is_alive(&self) -> bool {
        self.server.strong_count() > 0
    }

    /// Sends a broadcast from another node to this node's connections,
    /// with the frames it carries. One this node published itself is
    /// ignored. One made with another protocol, for a message this node
    /// does not know, or whose JSON frame is not UTF-8 is refused: the
    /// adapter counts it as dropped.
    pub async fn deliver(&self, msg: ClusterMsg) -> Result<(), Undeliverable> {
        let Some(inner) = self.server.upgrade() else {
            return Ok(());
        };
        if msg.origin == self.id {
            return Ok(());
        }
        Server { inner }.deliver_from_cluster(msg).await
    }

    /// The rooms that have members on this node: what to listen to after
    /// a reconnection.
    pub fn rooms(&self) -> Vec<String> {
        self.server
            .upgrade()
            .map(|inner| inner.rooms.names())
            .unwrap_or_default()
    }

    /// This node's WebSocket connections.
    pub fn connections(&self) -> usize {
        self.server
            .upgrade()
            .map_or(0, |inner| crate::task::lock(&inner.connections).len())
    }
}

/// Why a broadcast from another node was not delivered here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undeliverable(pub(crate) String);

impl fmt::Display for Undeliverable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Undeliverable {}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::{ClusterMsg, NodeId, Target};

    fn sample() -> ClusterMsg {
        ClusterMsg {
            origin: NodeId(0x1234),
            protocol: "0123456789abcdef".into(),
            target: Target::All {
                except: vec!["muted".into()],
            },
            name: "Chat".into(),
            json: Bytes::from_static(br#"["Chat",{"content":"hi"}]"#),
            binary: Bytes::from_static(&[4, 3, 2, b'h', b'i']),
            // `{ buffer: {content: "hi"}, serviceId: 1 }`
            tsbuffer: Bytes::from_static(&[2, 0x28, 5, 1, 0x28, 2, b'h', b'i', 0x31, 1]),
        }
    }

    #[test]
    fn cluster_messages_round_trip_and_refuse_the_rest() {
        let msg = sample();
        let bytes = msg.to_bytes();
        assert_eq!(ClusterMsg::from_bytes(&bytes).unwrap(), msg);
        for cut in 0..bytes.len() {
            assert!(ClusterMsg::from_bytes(&bytes[..cut]).is_err(), "{cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(ClusterMsg::from_bytes(&longer).is_err());
        // A forged length of 2^62 bytes for the protocol's text.
        let forged = [0x00, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0x40];
        assert!(ClusterMsg::from_bytes(&forged).is_err());
    }

    /// `fuzz/seeds.py` writes the fuzzer's seeds by hand: they must stay
    /// what `to_bytes` writes.
    #[test]
    fn the_fuzz_seeds_are_cluster_messages() {
        let seeds =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/cluster_msg");
        let read = |name: &str| std::fs::read(seeds.join(name)).unwrap();
        assert_eq!(ClusterMsg::from_bytes(&read("all")).unwrap(), sample());
        let rooms = ClusterMsg::from_bytes(&read("rooms")).unwrap();
        assert_eq!(
            rooms.target,
            Target::Rooms {
                rooms: vec!["a".into(), "b".into()],
                except: vec![],
            }
        );
        let one = ClusterMsg::from_bytes(&read("connection")).unwrap();
        assert_eq!(
            one.target,
            Target::Connection {
                node: NodeId(0x1234),
                id: 7
            }
        );
    }
}
