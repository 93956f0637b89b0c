//! How a broadcast works: the message is encoded once per encoding its
//! receivers need, and queued on each receiver's bounded queue
//! (`Connection::send`), which never blocks the broadcast. Who receives
//! it is a [`Target`]: everyone, rooms ([`Server::to`]), or one connection
//! anywhere in the cluster. With a cluster adapter, the same frames also
//! go to the other nodes, which fan them out to their own connections
//! without encoding them again ([`Server::deliver_from_cluster`]).

use super::cluster::{ClusterMsg, NodeId, Target, Undeliverable};
use super::connection::Connection;
use super::ws::Prepared;
use super::{ClusterStats, Server};
use crate::codec::{self, Encoding, WireFrame};
use crate::error::TsrpcError;
use crate::proto::{Message, ServiceInfo};
use crate::task::lock;

/// A message's frames, each encoded when a receiver first needs it (or
/// why it cannot be: a NaN in JSON, a date before 1970 in TSBuffer).
struct Frames<'a> {
    service: &'static ServiceInfo,
    encode: &'a mut (dyn FnMut(Encoding) -> Result<WireFrame, TsrpcError> + Send),
    ready: [Option<Result<(WireFrame, Prepared), TsrpcError>>; Encoding::ALL.len()],
}

impl<'a> Frames<'a> {
    fn new(
        service: &'static ServiceInfo,
        encode: &'a mut (dyn FnMut(Encoding) -> Result<WireFrame, TsrpcError> + Send),
    ) -> Self {
        Frames {
            service,
            encode,
            ready: [None, None, None],
        }
    }

    // Inlined: once per receiver, and the frame is there but for the
    // first receiver of each encoding.
    #[inline(always)]
    fn get(&mut self, encoding: Encoding) -> Result<&(WireFrame, Prepared), TsrpcError> {
        let slot = &mut self.ready[encoding.index()];
        let ready = slot.get_or_insert_with(|| {
            (self.encode)(encoding).map(|frame| {
                let prepared = Prepared::from(frame.clone());
                (frame, prepared)
            })
        });
        ready.as_ref().map_err(Clone::clone)
    }

    /// The frame's bytes in `encoding`, for the other nodes; empty when
    /// the message has none in it (their receivers of it get nothing).
    fn carried(&mut self, encoding: Encoding) -> bytes::Bytes {
        self.get(encoding)
            .map(|(frame, _)| frame.shared_bytes())
            .unwrap_or_default()
    }

    /// Queues the message on each connection; one that is gone or not
    /// reading does not stop the others, nor one whose encoding cannot
    /// carry the message (the first such error is returned at the end).
    async fn fan_out(&mut self, conns: &[Connection]) -> Result<(), TsrpcError> {
        let service = self.service;
        let mut failed = None;
        for conn in conns {
            let (frame, prepared) = match self.get(conn.send_encoding()) {
                Ok(ready) => ready,
                Err(e) => {
                    failed.get_or_insert(e);
                    continue;
                }
            };
            if conn.sends_without_flows() {
                let _ = conn.send(prepared.clone());
            } else {
                let _ = conn
                    .send_msg_frame(service, frame.clone(), Some(prepared))
                    .await;
            }
        }
        failed.map_or(Ok(()), Err)
    }
}

/// Encodes `msg` in the encoding asked for.
fn encoder<'m, M: Message>(
    service: &'static ServiceInfo,
    msg: &'m M,
) -> impl FnMut(Encoding) -> Result<WireFrame, TsrpcError> + 'm {
    move |encoding| {
        codec::encode_message(encoding, service.id(), M::NAME, msg)
            .map_err(|e| TsrpcError::client(format!("cannot encode message {}: {e}", M::NAME)))
    }
}

/// A broadcast being addressed: to everyone ([`Server::broadcast`]) or to
/// rooms ([`Server::to`]), maybe leaving some rooms out, across the
/// cluster unless made [`local`](Self::local). Sent with
/// [`send_msg`](Self::send_msg).
///
/// ```no_run
/// # use serde::{Deserialize, Serialize};
/// # #[tsrpc::msg] #[derive(Serialize, Deserialize)] pub struct MsgChat { pub text: String }
/// # async fn f(server: tsrpc::Server, conn: tsrpc::Connection) -> Result<(), tsrpc::TsrpcError> {
/// conn.join("room:lobby");
/// let chat = MsgChat { text: "hello".into() };
/// // The members of a room, on every node.
/// server.to("room:lobby").send_msg(&chat).await?;
/// // Two rooms (a member of both gets it once), leaving the muted out.
/// server.to("room:a").to("room:b").except("muted").send_msg(&chat).await?;
/// // Everyone, on this node only.
/// server.broadcast().local().send_msg(&chat).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a broadcast is sent by `send_msg`"]
pub struct Broadcast<'s> {
    server: &'s Server,
    target: Target,
    local: bool,
}

impl Broadcast<'_> {
    /// Adds a room: the broadcast goes to the members of any of its rooms
    /// (a broadcast to everyone becomes one to this room).
    pub fn to(mut self, room: impl Into<String>) -> Self {
        let room = room.into();
        self.target = match self.target {
            Target::All { except } => Target::Rooms {
                rooms: vec![room],
                except,
            },
            Target::Rooms { mut rooms, except } => {
                if !rooms.contains(&room) {
                    rooms.push(room);
                }
                Target::Rooms { rooms, except }
            }
            target @ Target::Connection { .. } => target,
        };
        self
    }

    /// Leaves out the members of `room`.
    pub fn except(mut self, room: impl Into<String>) -> Self {
        if let Target::All { except } | Target::Rooms { except, .. } = &mut self.target {
            except.push(room.into());
        }
        self
    }

    /// To this node's connections only, not the cluster's.
    pub fn local(mut self) -> Self {
        self.local = true;
        self
    }

    /// The receivers on this node, as now.
    pub fn connections(&self) -> Vec<Connection> {
        self.server.local_receivers(&self.target)
    }

    /// Sends `msg`: encoded once per encoding, queued on each receiver
    /// here, and handed to the cluster adapter, if any, for the other
    /// nodes. Fails when the message cannot be encoded in an encoding some
    /// receivers speak (a NaN in JSON, a date before 1970 in TSBuffer):
    /// those receivers get nothing, the others get it.
    pub async fn send_msg<M: Message>(self, msg: &M) -> Result<(), TsrpcError> {
        let inner = &self.server.inner;
        let service = self.server.msg_service::<M>()?;
        let mut encode = encoder(service, msg);
        let mut frames = Frames::new(service, &mut encode);
        if let Some(adapter) = inner.cluster.as_ref().filter(|_| !self.local) {
            let json = frames.carried(Encoding::Json);
            let binary = frames.carried(Encoding::Binary);
            let tsbuffer = frames.carried(Encoding::Tsbuffer);
            adapter.publish(ClusterMsg {
                origin: inner.node_id,
                protocol: inner.fingerprint.clone(),
                target: self.target.clone(),
                name: M::NAME.to_owned(),
                json,
                binary,
                tsbuffer,
            });
        }
        let conns = self.server.local_receivers(&self.target);
        frames.fan_out(&conns).await
    }
}

impl Server {
    /// Sends a message to every connection, on every node of a cluster.
    /// It is encoded once per encoding in use, whatever the number of
    /// receivers (send flows run per receiver on the same bytes);
    /// connections that are gone or not reading are skipped.
    pub async fn broadcast_msg<M: Message>(&self, msg: &M) -> Result<(), TsrpcError> {
        self.broadcast().send_msg(msg).await
    }

    /// Sends a message to the given connections (of this node), encoded
    /// once per encoding: TSRPC's `broadcastMsg(msg, conns)`.
    pub async fn broadcast_msg_to<M: Message>(
        &self,
        msg: &M,
        conns: &[Connection],
    ) -> Result<(), TsrpcError> {
        let service = self.msg_service::<M>()?;
        Frames::new(service, &mut encoder(service, msg))
            .fan_out(conns)
            .await
    }

    /// A broadcast to every connection, to narrow ([`Broadcast::except`],
    /// [`Broadcast::local`]) before [`Broadcast::send_msg`].
    pub fn broadcast(&self) -> Broadcast<'_> {
        Broadcast {
            server: self,
            target: Target::All { except: Vec::new() },
            local: false,
        }
    }

    /// A broadcast to the members of `room` ([`Connection::join`]), on
    /// every node of a cluster; add rooms with [`Broadcast::to`].
    pub fn to(&self, room: impl Into<String>) -> Broadcast<'_> {
        self.broadcast().to(room)
    }

    /// Sends a message to one connection of any node of the cluster: the
    /// connection `id` ([`Connection::id`]) of node `node`
    /// ([`Server::node_id`]). Nothing happens if it is gone.
    pub async fn send_msg_to_connection<M: Message>(
        &self,
        node: NodeId,
        id: u64,
        msg: &M,
    ) -> Result<(), TsrpcError> {
        Broadcast {
            server: self,
            target: Target::Connection { node, id },
            local: node == self.inner.node_id,
        }
        .send_msg(msg)
        .await
    }

    /// This server's id among the nodes of a cluster.
    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// What the cluster adapter knows of the cluster: the nodes seen, the
    /// cluster's connections, broadcasts sent, received and lost; `None`
    /// without an adapter.
    pub fn cluster_stats(&self) -> Option<ClusterStats> {
        self.inner.cluster.as_ref().map(|adapter| adapter.stats())
    }

    /// The rooms that have members on this node.
    pub fn rooms(&self) -> Vec<String> {
        self.inner.rooms.names()
    }

    fn msg_service<M: Message>(&self) -> Result<&'static ServiceInfo, TsrpcError> {
        self.inner.table.msg(M::NAME).ok_or_else(|| {
            TsrpcError::client(format!(
                "message {:?} is not registered with #[tsrpc::msg]",
                M::NAME
            ))
        })
    }

    /// This node's receivers of a broadcast to `target`.
    fn local_receivers(&self, target: &Target) -> Vec<Connection> {
        match target {
            Target::All { except } => self.inner.rooms.without(self.connections(), except),
            Target::Rooms { rooms, except } => self.inner.rooms.members(rooms, except),
            Target::Connection { node, id } => match *node == self.inner.node_id {
                true => lock(&self.inner.connections)
                    .get(id)
                    .cloned()
                    .into_iter()
                    .collect(),
                false => Vec::new(),
            },
        }
    }

    /// Fans out a broadcast another node made, with its frames.
    pub(crate) async fn deliver_from_cluster(&self, msg: ClusterMsg) -> Result<(), Undeliverable> {
        let inner = &self.inner;
        if msg.protocol != inner.fingerprint {
            return Err(Undeliverable(format!(
                "a broadcast from node {} has another protocol (fingerprint {}, here {})",
                msg.origin, msg.protocol, inner.fingerprint
            )));
        }
        let Some(service) = inner.table.msg(&msg.name) else {
            return Err(Undeliverable(format!(
                "a broadcast from node {} is of message {:?}, which this node does not know",
                msg.origin, msg.name
            )));
        };
        if std::str::from_utf8(&msg.json).is_err() {
            return Err(Undeliverable(format!(
                "a broadcast from node {}: its JSON frame is not UTF-8",
                msg.origin
            )));
        }
        let frames = [
            WireFrame::Text(msg.json),
            WireFrame::Binary(msg.binary),
            WireFrame::Binary(msg.tsbuffer),
        ];
        let mut carried = |encoding: Encoding| match &frames[encoding.index()] {
            frame if frame.as_bytes().is_empty() => Err(TsrpcError::server(format!(
                "the broadcast from node {} has no frame in {encoding:?}",
                msg.origin
            ))),
            frame => Ok(frame.clone()),
        };
        let conns = self.local_receivers(&msg.target);
        let _ = Frames::new(service, &mut carried).fan_out(&conns).await;
        Ok(())
    }
}
