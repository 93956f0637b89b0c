//! What crosses Redis: a kind byte, then a broadcast
//! ([`ClusterMsg::to_bytes`]) or a node's note (fixed-size numbers).

use tsrpc::server::cluster::{ClusterMsg, NodeId};

const BROADCAST: u8 = 1;
const HEARTBEAT: u8 = 2;
const LEAVING: u8 = 3;

/// One payload on a tsrpc-redis channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Envelope {
    /// A broadcast, with its frames.
    Broadcast(ClusterMsg),
    /// A node is alive, with its WebSocket connections.
    Heartbeat { node: NodeId, connections: u64 },
    /// A node is stopping.
    Leaving { node: NodeId },
}

impl Envelope {
    /// The node that sent it.
    pub(crate) fn origin(&self) -> NodeId {
        match self {
            Envelope::Broadcast(msg) => msg.origin,
            Envelope::Heartbeat { node, .. } | Envelope::Leaving { node } => *node,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            Envelope::Broadcast(msg) => {
                let mut bytes = vec![BROADCAST];
                bytes.extend_from_slice(&msg.to_bytes());
                bytes
            }
            Envelope::Heartbeat { node, connections } => {
                let mut bytes = vec![HEARTBEAT];
                bytes.extend_from_slice(&node.as_u64().to_be_bytes());
                bytes.extend_from_slice(&connections.to_be_bytes());
                bytes
            }
            Envelope::Leaving { node } => {
                let mut bytes = vec![LEAVING];
                bytes.extend_from_slice(&node.as_u64().to_be_bytes());
                bytes
            }
        }
    }

    /// Reads a payload; one that is not an envelope is an error.
    pub(crate) fn decode(payload: &[u8]) -> Result<Envelope, String> {
        let number = |bytes: &[u8]| -> Result<u64, String> {
            let bytes: [u8; 8] = bytes
                .try_into()
                .map_err(|_| format!("a note of {} bytes", payload.len()))?;
            Ok(u64::from_be_bytes(bytes))
        };
        match payload.split_first() {
            Some((&BROADCAST, body)) => ClusterMsg::from_bytes(body)
                .map(Envelope::Broadcast)
                .map_err(|e| e.to_string()),
            Some((&HEARTBEAT, body)) if body.len() == 16 => Ok(Envelope::Heartbeat {
                node: NodeId::from_u64(number(&body[..8])?),
                connections: number(&body[8..])?,
            }),
            Some((&LEAVING, body)) => Ok(Envelope::Leaving {
                node: NodeId::from_u64(number(body)?),
            }),
            Some((&HEARTBEAT, _)) => Err(format!("a heartbeat of {} bytes", payload.len())),
            Some((kind, _)) => Err(format!("unknown payload kind {kind}")),
            None => Err("an empty payload".into()),
        }
    }
}
