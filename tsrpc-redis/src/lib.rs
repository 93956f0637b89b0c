//! A Redis cluster adapter for [tsrpc]: run a tsrpc server in several
//! processes (behind a load balancer) and its broadcasts, to everyone or
//! to rooms, reach the clients of every process, through Redis pub/sub.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let adapter = tsrpc_redis::RedisAdapter::connect("redis://127.0.0.1:6379").await?;
//! let server = tsrpc::Server::builder().cluster(adapter).build()?;
//! server.start().await?;
//! // On any node: every client of every node gets it.
//! # #[tsrpc::msg] #[derive(serde::Serialize, serde::Deserialize)] pub struct MsgChat { pub text: String }
//! server.broadcast_msg(&MsgChat { text: "hello".into() }).await?;
//! // The members of a room, wherever they are connected.
//! server.to("room:lobby").send_msg(&MsgChat { text: "hi".into() }).await?;
//! # Ok(()) }
//! ```
//!
//! How it works:
//! - A broadcast is encoded once, in every encoding, by the node that
//!   makes it, and published on one channel: `{prefix}:room:{room}` for a
//!   broadcast to one room, `{prefix}:node:{id}` for one connection, and
//!   `{prefix}:all` for the rest (everyone, several rooms). A node listens
//!   to `all`, to its own channel and to the rooms that have members on
//!   it, and fans what it hears out to its connections without encoding
//!   it again. The prefix (`tsrpc` by default) keeps apart the servers
//!   that share a Redis.
//! - Each node says every `heartbeat_interval` (5 s) on `{prefix}:nodes`
//!   that it is alive and how many connections it has:
//!   [`Server::cluster_stats`](tsrpc::Server::cluster_stats) lists the
//!   nodes heard from in the last three intervals and the cluster's
//!   connections.
//! - Delivery across nodes is **at most once**, as Redis pub/sub is:
//!   nothing is retried, so nothing arrives twice, and a broadcast made
//!   while Redis is unreachable, or heard by a node while it is
//!   reconnecting, is lost: the sender counts it in `lost` and logs it.
//!   One node's broadcasts arrive in the order it made them (one
//!   connection publishes them, in order). A node that joins a room hears
//!   the room's broadcasts once its subscription is made, a moment later.
//! - Faults: an unreachable Redis at [`connect`](RedisAdapter::connect) is
//!   an error. Later, the adapter reconnects by itself (backing off from
//!   100 ms to 1 s) and subscribes again; local broadcasts go on
//!   meanwhile. A payload that does not decode, or comes from a node with
//!   another protocol, is logged and dropped. A slow node is Redis's to
//!   cut off (its pub/sub output limit); it then reconnects.

mod envelope;
#[cfg(feature = "testing")]
pub mod testing;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSub, PubSubSink};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tsrpc::server::cluster::{
    BoxFuture, ClusterAdapter, ClusterMsg, ClusterNode, ClusterStats, NodeId, NodeStats, Target,
};

use envelope::Envelope;

/// Bytes of broadcasts that may wait to be published, by default: 64 MiB.
pub const DEFAULT_QUEUE_BYTES: usize = 64 << 20;
/// How often a node says it is alive, by default.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// How long connecting to Redis may take, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Broadcasts sent to Redis in one round trip, at most.
const BATCH: usize = 256;

/// Why the adapter could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL, without its password.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Redis did not answer.
    #[error("cannot reach Redis at {addr}: {reason}")]
    Unreachable {
        /// The address tried.
        addr: String,
        /// What failed.
        reason: String,
    },
}

/// Builds a [`RedisAdapter`]: [`RedisAdapter::builder`].
#[derive(Clone, Debug)]
pub struct RedisAdapterBuilder {
    url: String,
    prefix: String,
    heartbeat_interval: Duration,
    queue_bytes: usize,
    connect_timeout: Duration,
}

impl RedisAdapterBuilder {
    /// The channels' prefix (`tsrpc` by default): servers that share a
    /// Redis but not their clients use different ones.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How often the node says it is alive (5 s by default); a node not
    /// heard from for three intervals is no longer listed.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// How many bytes of broadcasts may wait to be published (64 MiB by
    /// default; a broadcast counts its frames in both encodings): a burst
    /// that Redis cannot take as fast waits there. Past it, a broadcast is
    /// counted lost for the other nodes (this node's clients still get it).
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes.max(1);
        self
    }

    /// How long connecting to Redis may take (5 s by default).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Connects to Redis (a connection to publish and one to listen);
    /// fails when Redis cannot be reached. Must run in a Tokio runtime,
    /// where the adapter's tasks will run.
    pub async fn connect(self) -> Result<RedisAdapter, Error> {
        let client = redis::Client::open(self.url.as_str()).map_err(|e| Error::InvalidUrl {
            url: without_password(&self.url),
            reason: e.to_string(),
        })?;
        let addr = client.get_connection_info().addr().to_string();
        let unreachable = |reason: String| Error::Unreachable {
            addr: addr.clone(),
            reason,
        };
        let publisher = publisher_connection(&client, self.connect_timeout)
            .await
            .map_err(unreachable)?;
        let mut subscriber = subscriber_connection(&client, self.connect_timeout)
            .await
            .map_err(unreachable)?;
        // Broadcasts to everyone are heard from the moment the server
        // starts (its own channel and rooms follow once it is attached).
        let channels = Channels {
            prefix: self.prefix,
        };
        let everyone = [channels.all(), channels.nodes()];
        subscriber
            .subscribe(&everyone)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let (queue, queued) = mpsc::unbounded_channel();
        let (shutdown, _) = watch::channel(());
        let shared = Arc::new(Shared {
            client,
            addr,
            channels,
            heartbeat_interval: self.heartbeat_interval,
            connect_timeout: self.connect_timeout,
            node: OnceLock::new(),
            queued_bytes: AtomicUsize::new(0),
            queue_bytes: self.queue_bytes,
            rooms: Mutex::default(),
            rooms_changed: Notify::new(),
            peers: Mutex::default(),
            listening: AtomicBool::new(false),
            publishing: AtomicBool::new(true),
            outages: AtomicU64::new(0),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
        });
        Ok(RedisAdapter {
            handle: Arc::new(Handle {
                shared,
                queue,
                runtime: tokio::runtime::Handle::current(),
                start: Mutex::new(Some(Start {
                    queued,
                    publisher,
                    subscriber,
                })),
                shutdown,
            }),
        })
    }
}

/// Joins tsrpc servers in different processes through Redis pub/sub:
/// give it to [`ServerBuilder::cluster`](tsrpc::ServerBuilder::cluster).
/// See the [crate] documentation for how it works.
#[derive(Clone)]
pub struct RedisAdapter {
    handle: Arc<Handle>,
}

impl fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("addr", &self.handle.shared.addr)
            .field("prefix", &self.handle.shared.channels.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisAdapter {
    /// Connects with the default settings: see [`RedisAdapterBuilder`].
    pub async fn connect(url: impl Into<String>) -> Result<RedisAdapter, Error> {
        Self::builder(url).connect().await
    }

    /// A builder, to change the defaults before connecting.
    pub fn builder(url: impl Into<String>) -> RedisAdapterBuilder {
        RedisAdapterBuilder {
            url: url.into(),
            prefix: "tsrpc".into(),
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// Queues a payload for the publishing task, within the queue's bytes.
    fn enqueue(&self, channel: String, envelope: &Envelope, counted: bool) {
        let shared = &self.handle.shared;
        let payload = envelope.encode();
        let size = payload.len() + channel.len();
        let queued = shared.queued_bytes.fetch_add(size, Ordering::AcqRel);
        let outgoing = Outgoing::Publish {
            channel,
            payload,
            counted,
        };
        let full = queued + size > shared.queue_bytes;
        if full || self.handle.queue.send(outgoing).is_err() {
            shared.queued_bytes.fetch_sub(size, Ordering::AcqRel);
            if counted {
                shared.lost.fetch_add(1, Ordering::Relaxed);
            }
            if full {
                tracing::warn!(
                    "the Redis publish queue is full: a broadcast is lost for the other nodes"
                );
            }
        }
    }
}

/// What the adapter's tasks start with, taken when it is attached.
struct Start {
    queued: mpsc::UnboundedReceiver<Outgoing>,
    publisher: MultiplexedConnection,
    subscriber: PubSub,
}

/// The adapter, shared by its clones; its tasks end when it is dropped.
struct Handle {
    shared: Arc<Shared>,
    /// Bounded by bytes: `Shared::queued_bytes`.
    queue: mpsc::UnboundedSender<Outgoing>,
    runtime: tokio::runtime::Handle,
    start: Mutex<Option<Start>>,
    /// Dropped with the adapter: its tasks then end.
    shutdown: watch::Sender<()>,
}

/// What the adapter's tasks share.
struct Shared {
    client: redis::Client,
    addr: String,
    channels: Channels,
    heartbeat_interval: Duration,
    connect_timeout: Duration,
    node: OnceLock<ClusterNode>,
    /// Bytes waiting in the publishing queue, and their bound.
    queued_bytes: AtomicUsize,
    queue_bytes: usize,
    /// Rooms with members on this node: the channels to listen to.
    rooms: Mutex<HashSet<String>>,
    rooms_changed: Notify,
    /// Other nodes, with their connections and when they were last heard.
    peers: Mutex<HashMap<NodeId, (u64, Instant)>>,
    listening: AtomicBool,
    publishing: AtomicBool,
    /// Times the listening connection was lost: the publishing one, made
    /// before, is then likely dead too, and is made again before it is
    /// used (rather than losing a broadcast to find out).
    outages: AtomicU64,
    published: AtomicU64,
    received: AtomicU64,
    lost: AtomicU64,
    dropped: AtomicU64,
    reconnects: AtomicU64,
}

enum Outgoing {
    Publish {
        channel: String,
        payload: Vec<u8>,
        /// A broadcast (counted in the stats), not a node's note.
        counted: bool,
    },
    /// Answered once what was queued before it was published.
    Flush(oneshot::Sender<()>),
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The channels' names, under the prefix.
#[derive(Clone, Debug)]
struct Channels {
    prefix: String,
}

impl Channels {
    fn all(&self) -> String {
        format!("{}:all", self.prefix)
    }

    fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    fn node(&self, node: NodeId) -> String {
        format!("{}:node:{node}", self.prefix)
    }

    fn room(&self, room: &str) -> String {
        format!("{}:room:{room}", self.prefix)
    }
}

impl Shared {
    /// Other nodes heard from lately; forgets the others.
    fn peers(&self) -> Vec<NodeStats> {
        let mut peers = lock(&self.peers);
        let horizon = self.heartbeat_interval * 3;
        peers.retain(|_, (_, seen)| seen.elapsed() <= horizon);
        let mut listed: Vec<NodeStats> = peers
            .iter()
            .map(|(id, (connections, seen))| {
                let connections = usize::try_from(*connections).unwrap_or(usize::MAX);
                let ago = u64::try_from(seen.elapsed().as_millis()).unwrap_or(u64::MAX);
                NodeStats::new(*id, connections, ago)
            })
            .collect();
        listed.sort_by_key(|n| n.id);
        listed
    }
}

/// The URL with its password, if any, replaced by `***`.
fn without_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

async fn publisher_connection(
    client: &redis::Client,
    timeout: Duration,
) -> Result<MultiplexedConnection, String> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| e.to_string())
}

async fn subscriber_connection(
    client: &redis::Client,
    timeout: Duration,
) -> Result<PubSub, String> {
    match tokio::time::timeout(timeout, client.get_async_pubsub()).await {
        Ok(connected) => connected.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

impl ClusterAdapter for RedisAdapter {
    fn attach(&self, node: ClusterNode) {
        let shared = self.handle.shared.clone();
        if shared.node.set(node.clone()).is_err() {
            tracing::error!("a RedisAdapter serves one server: give each server its own");
            return;
        }
        let Some(start) = lock(&self.handle.start).take() else {
            return;
        };
        let runtime = &self.handle.runtime;
        runtime.spawn(publish(shared.clone(), start.queued, start.publisher));
        runtime.spawn(listen(
            shared.clone(),
            node,
            start.subscriber,
            self.handle.shutdown.subscribe(),
        ));
        runtime.spawn(heartbeat(
            self.clone_weak(),
            self.handle.shutdown.subscribe(),
        ));
    }

    fn publish(&self, msg: ClusterMsg) {
        let shared = &self.handle.shared;
        let channel = match &msg.target {
            Target::Rooms { rooms, .. } if rooms.len() == 1 => shared.channels.room(&rooms[0]),
            Target::Connection { node, .. } => shared.channels.node(*node),
            _ => shared.channels.all(),
        };
        self.enqueue(channel, &Envelope::Broadcast(msg), true);
    }

    fn room_added(&self, room: &str) {
        let shared = &self.handle.shared;
        lock(&shared.rooms).insert(room.to_owned());
        shared.rooms_changed.notify_one();
    }

    fn room_removed(&self, room: &str) {
        let shared = &self.handle.shared;
        lock(&shared.rooms).remove(room);
        shared.rooms_changed.notify_one();
    }

    fn stats(&self) -> ClusterStats {
        let shared = &self.handle.shared;
        let Some(node) = shared.node.get() else {
            return ClusterStats::default();
        };
        let mut stats = ClusterStats::new(node.id());
        stats.connected =
            shared.listening.load(Ordering::Relaxed) && shared.publishing.load(Ordering::Relaxed);
        stats.nodes = shared.peers();
        stats.connections =
            node.connections() + stats.nodes.iter().map(|n| n.connections).sum::<usize>();
        stats.published = shared.published.load(Ordering::Relaxed);
        stats.received = shared.received.load(Ordering::Relaxed);
        stats.lost = shared.lost.load(Ordering::Relaxed);
        stats.dropped = shared.dropped.load(Ordering::Relaxed);
        stats.reconnects = shared.reconnects.load(Ordering::Relaxed);
        stats
    }

    fn stopping(&self) -> BoxFuture<()> {
        let adapter = self.clone();
        Box::pin(async move {
            let shared = &adapter.handle.shared;
            let Some(node) = shared.node.get() else {
                return;
            };
            let leaving = Envelope::Leaving { node: node.id() };
            adapter.enqueue(shared.channels.nodes(), &leaving, false);
            let (flushed, done) = oneshot::channel();
            if adapter.handle.queue.send(Outgoing::Flush(flushed)).is_ok() {
                let _ = tokio::time::timeout(shared.connect_timeout, done).await;
            }
        })
    }
}

impl RedisAdapter {
    /// A handle for the heartbeat task that does not keep the adapter.
    fn clone_weak(&self) -> std::sync::Weak<Handle> {
        Arc::downgrade(&self.handle)
    }
}

/// Publishes what is queued, in order, a batch per round trip. While
/// Redis cannot be reached, what is queued is counted lost (nothing is
/// retried: at most once); connecting again is tried with a backoff.
async fn publish(
    shared: Arc<Shared>,
    mut queued: mpsc::UnboundedReceiver<Outgoing>,
    connection: MultiplexedConnection,
) {
    let mut connection = Some(connection);
    let mut outages_seen = shared.outages.load(Ordering::Acquire);
    let mut retry_at = Instant::now();
    let mut backoff = MIN_BACKOFF;
    let mut lost_before_outage = 0;
    let mut batch = Vec::with_capacity(BATCH);
    while queued.recv_many(&mut batch, BATCH).await > 0 {
        let outages = shared.outages.load(Ordering::Acquire);
        if outages != outages_seen && connection.is_some() {
            connection = None;
            retry_at = Instant::now();
            lost_before_outage = shared.lost.load(Ordering::Relaxed);
        }
        if connection.is_none() && Instant::now() >= retry_at {
            match publisher_connection(&shared.client, shared.connect_timeout).await {
                Ok(connected) => {
                    connection = Some(connected);
                    outages_seen = outages;
                    backoff = MIN_BACKOFF;
                    shared.publishing.store(true, Ordering::Relaxed);
                    let lost = shared.lost.load(Ordering::Relaxed) - lost_before_outage;
                    if lost > 0 {
                        tracing::warn!(
                            addr = %shared.addr,
                            "publishing to Redis again; {lost} broadcasts were lost for the other nodes meanwhile"
                        );
                    }
                }
                Err(e) => {
                    retry_at = Instant::now() + backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    tracing::debug!(addr = %shared.addr, "connecting to Redis failed: {e}");
                }
            }
        }
        let counted = batch
            .iter()
            .filter(|o| matches!(o, Outgoing::Publish { counted: true, .. }))
            .count() as u64;
        let mut pipe = redis::pipe();
        for outgoing in &batch {
            if let Outgoing::Publish {
                channel, payload, ..
            } = outgoing
            {
                pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
            }
        }
        let sent = match &mut connection {
            Some(connected) => match pipe.query_async::<()>(connected).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(
                        addr = %shared.addr,
                        "publishing to Redis failed: {e}; broadcasts are lost for the other nodes until it is back"
                    );
                    connection = None;
                    shared.publishing.store(false, Ordering::Relaxed);
                    lost_before_outage = shared.lost.load(Ordering::Relaxed);
                    false
                }
            },
            None => false,
        };
        let counter = if sent {
            &shared.published
        } else {
            &shared.lost
        };
        counter.fetch_add(counted, Ordering::Relaxed);
        for outgoing in batch.drain(..) {
            match outgoing {
                Outgoing::Publish {
                    channel, payload, ..
                } => {
                    let size = payload.len() + channel.len();
                    shared.queued_bytes.fetch_sub(size, Ordering::AcqRel);
                }
                Outgoing::Flush(flushed) => {
                    let _ = flushed.send(());
                }
            }
        }
    }
}

/// Listens to the node's channels and delivers what other nodes
/// broadcast; reconnects and subscribes again when the connection is
/// lost, until the adapter or the server is gone.
async fn listen(
    shared: Arc<Shared>,
    node: ClusterNode,
    first: PubSub,
    mut shutdown: watch::Receiver<()>,
) {
    let mut first = Some(first);
    let mut backoff = MIN_BACKOFF;
    let mut connected_before = false;
    loop {
        let pubsub = match first.take() {
            Some(pubsub) => Ok(pubsub),
            None => subscriber_connection(&shared.client, shared.connect_timeout).await,
        };
        if let Ok(pubsub) = pubsub {
            let (mut sink, mut stream) = pubsub.split();
            let mut subscribed = HashSet::new();
            let base = [
                shared.channels.all(),
                shared.channels.nodes(),
                shared.channels.node(node.id()),
            ];
            let ready = sink.subscribe(&base).await.is_ok()
                && sync_rooms(&shared, &mut sink, &mut subscribed).await;
            if ready {
                shared.listening.store(true, Ordering::Relaxed);
                backoff = MIN_BACKOFF;
                if connected_before {
                    shared.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        addr = %shared.addr,
                        "listening to Redis again: what other nodes broadcast meanwhile is lost"
                    );
                }
                connected_before = true;
                let mut ping = tokio::time::interval(shared.heartbeat_interval);
                ping.tick().await;
                loop {
                    tokio::select! {
                        heard = stream.next() => match heard {
                            Some(msg) => heard_from(&shared, &node, msg.get_payload_bytes(), msg.get_channel_name()).await,
                            None => break,
                        },
                        () = shared.rooms_changed.notified() => {
                            if !sync_rooms(&shared, &mut sink, &mut subscribed).await {
                                break;
                            }
                        }
                        _ = ping.tick() => {
                            let answered = tokio::time::timeout(
                                shared.connect_timeout,
                                sink.ping::<redis::Value>(),
                            ).await;
                            if !node.is_alive() {
                                return;
                            }
                            if !matches!(answered, Ok(Ok(_))) {
                                break;
                            }
                        }
                        changed = shutdown.changed() => if changed.is_err() {
                            return;
                        },
                    }
                }
                shared.listening.store(false, Ordering::Relaxed);
                shared.outages.fetch_add(1, Ordering::AcqRel);
                tracing::warn!(addr = %shared.addr, "lost the Redis connection; reconnecting");
            }
        }
        if !node.is_alive() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            changed = shutdown.changed() => if changed.is_err() {
                return;
            },
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Subscribes to the rooms that got members here and unsubscribes from
/// those that lost them; false when the connection failed.
async fn sync_rooms(
    shared: &Shared,
    sink: &mut PubSubSink,
    subscribed: &mut HashSet<String>,
) -> bool {
    let wanted = lock(&shared.rooms).clone();
    let join: Vec<String> = wanted
        .difference(subscribed)
        .map(|room| shared.channels.room(room))
        .collect();
    let leave: Vec<String> = subscribed
        .difference(&wanted)
        .map(|room| shared.channels.room(room))
        .collect();
    if !join.is_empty() && sink.subscribe(&join).await.is_err() {
        return false;
    }
    if !leave.is_empty() && sink.unsubscribe(&leave).await.is_err() {
        return false;
    }
    *subscribed = wanted;
    true
}

/// One payload heard on a channel.
async fn heard_from(shared: &Shared, node: &ClusterNode, payload: &[u8], channel: &str) {
    let envelope = match Envelope::decode(payload) {
        Ok(envelope) => envelope,
        Err(e) => {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                channel,
                "dropped a payload from Redis that does not decode: {e}"
            );
            return;
        }
    };
    if envelope.origin() == node.id() {
        return;
    }
    match envelope {
        Envelope::Broadcast(msg) => {
            shared.received.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = node.deliver(msg).await {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(channel, "dropped a broadcast from Redis: {e}");
            }
        }
        Envelope::Heartbeat {
            node: peer,
            connections,
        } => {
            lock(&shared.peers).insert(peer, (connections, Instant::now()));
        }
        Envelope::Leaving { node: peer } => {
            lock(&shared.peers).remove(&peer);
        }
    }
}

/// Says every interval that the node is alive, with its connections.
async fn heartbeat(adapter: std::sync::Weak<Handle>, mut shutdown: watch::Receiver<()>) {
    let interval = match adapter.upgrade() {
        Some(handle) => handle.shared.heartbeat_interval,
        None => return,
    };
    let mut ticks = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            changed = shutdown.changed() => if changed.is_err() {
                return;
            },
        }
        let Some(handle) = adapter.upgrade() else {
            return;
        };
        let adapter = RedisAdapter { handle };
        let shared = &adapter.handle.shared;
        let Some(node) = shared.node.get().filter(|node| node.is_alive()) else {
            return;
        };
        let beat = Envelope::Heartbeat {
            node: node.id(),
            connections: node.connections() as u64,
        };
        adapter.enqueue(shared.channels.nodes(), &beat, false);
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn passwords_stay_out_of_errors() {
        assert_eq!(
            without_password("redis://:secret@localhost:6379/0"),
            "redis://***@localhost:6379/0"
        );
        assert_eq!(
            without_password("redis://localhost:6379"),
            "redis://localhost:6379"
        );
    }
}
