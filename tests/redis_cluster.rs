//! tsrpc servers joined by `tsrpc-redis` through a real Redis
//! (`redis-server` on a free port, see `support`): broadcasts cross nodes once and in order, to
//! everyone, rooms and one connection; a Redis restart is survived; what
//! does not decode is dropped; an unreachable Redis is a clear error.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use support::{PATIENCE, RedisServer, eventually};
use tsrpc::server::cluster::ClusterMsg;
use tsrpc::{Connection, Server, WsClient};
use tsrpc_redis::{Error, RedisAdapter};

#[tsrpc::msg(name = "cluster/Note")]
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct MsgNote {
    pub n: u32,
}

/// Probes sent until a subscription is made; left out of what is checked.
const PROBE: u32 = 1_000_000;

type Inbox = Arc<Mutex<Vec<u32>>>;

/// A node: a server with a Redis adapter, started on a free port.
async fn node(redis: &RedisServer) -> (Server, String) {
    node_beating(redis, Duration::from_millis(100)).await
}

/// A node that says it is alive every `heartbeat`.
async fn node_beating(redis: &RedisServer, heartbeat: Duration) -> (Server, String) {
    let adapter = RedisAdapter::builder(redis.url())
        .heartbeat_interval(heartbeat)
        .connect()
        .await
        .unwrap();
    let server = Server::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .cluster(adapter)
        .build()
        .unwrap();
    let addr = server.start().await.unwrap();
    (server, format!("ws://{addr}"))
}

/// A client of a node, noting the `MsgNote`s it gets (probes apart), and
/// the server's side of it.
struct Peer {
    _client: WsClient,
    inbox: Inbox,
    probes: Inbox,
    conn: Connection,
}

async fn client(server: &Server, url: &str, json: bool) -> Peer {
    let client = WsClient::builder(url).json(json).build();
    let (inbox, probes) = (Inbox::default(), Inbox::default());
    let (noted, seen) = (inbox.clone(), probes.clone());
    client
        .listen_msg(move |m: MsgNote| match m.n >= PROBE {
            true => seen.lock().unwrap().push(m.n),
            false => noted.lock().unwrap().push(m.n),
        })
        .unwrap();
    client.connect().await.unwrap();
    let conn = server
        .connections()
        .into_iter()
        .max_by_key(Connection::id)
        .unwrap();
    Peer {
        _client: client,
        inbox,
        probes,
        conn,
    }
}

fn note(n: u32) -> MsgNote {
    MsgNote { n }
}

/// Sends `send(probe)` until `arrived()`: a subscription is made a moment
/// after a room gets its first member, or after Redis comes back.
async fn until_heard<F, Fut>(what: &str, mut send: F, arrived: impl Fn() -> bool)
where
    F: FnMut(MsgNote) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    tokio::time::timeout(PATIENCE, async {
        let mut n = PROBE;
        while !arrived() {
            send(note(n)).await;
            n += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting: {what}"));
}

fn taken(inbox: &Inbox) -> Vec<u32> {
    std::mem::take(&mut *inbox.lock().unwrap())
}

#[tokio::test]
async fn broadcasts_reach_every_node_once_and_in_order() {
    let redis = RedisServer::start().await;
    let (a, a_url) = node(&redis).await;
    let (b, b_url) = node(&redis).await;
    let (c, c_url) = node(&redis).await;
    let mut clients = Vec::new();
    for (server, url) in [(&a, &a_url), (&b, &b_url), (&c, &c_url)] {
        for json in [true, false] {
            clients.push(client(server, url, json).await);
        }
    }
    eventually("every node sees the others and the six clients", || {
        [&a, &b, &c].iter().all(|node| {
            let stats = node.cluster_stats().unwrap();
            stats.nodes.len() == 2 && stats.connections == 6 && stats.connected
        })
    })
    .await;

    // Everyone: every client, once each, in the order they were sent.
    for n in 0..200 {
        a.broadcast_msg(&note(n)).await.unwrap();
    }
    let all: Vec<u32> = (0..200).collect();
    eventually("every client gets the 200", || {
        clients.iter().all(|p| p.inbox.lock().unwrap().len() >= 200)
    })
    .await;
    for peer in &clients {
        assert_eq!(taken(&peer.inbox), all);
    }

    // A room with members on two other nodes.
    clients[2].conn.join("red");
    clients[5].conn.join("red");
    until_heard(
        "b and c listen to the room",
        |probe| {
            let a = a.clone();
            async move { a.to("red").send_msg(&probe).await.unwrap() }
        },
        || {
            [2, 5]
                .iter()
                .all(|&i| !clients[i].probes.lock().unwrap().is_empty())
        },
    )
    .await;
    a.to("red").send_msg(&note(500)).await.unwrap();
    let just_c = clients[4].conn.id();
    a.send_msg_to_connection(c.node_id(), just_c, &note(600))
        .await
        .unwrap();
    a.broadcast_msg(&note(999)).await.unwrap();
    eventually("everyone gets the last one", || {
        clients
            .iter()
            .all(|p| p.inbox.lock().unwrap().last() == Some(&999))
    })
    .await;
    let got: Vec<Vec<u32>> = clients.iter().map(|p| taken(&p.inbox)).collect();
    assert_eq!(got[0], [999]);
    assert_eq!(got[1], [999]);
    assert_eq!(got[2], [500, 999]);
    assert_eq!(got[3], [999]);
    assert_eq!(got[4], [600, 999]);
    assert_eq!(got[5], [500, 999]);

    let stats = a.cluster_stats().unwrap();
    assert_eq!(stats.node, Some(a.node_id()));
    assert!(stats.published >= 203, "{stats:?}");
    assert_eq!((stats.lost, stats.dropped, stats.reconnects), (0, 0, 0));
    assert!(b.cluster_stats().unwrap().received >= 201);

    // A node that stops says so.
    c.stop().await;
    eventually("a forgets c", || {
        a.cluster_stats().unwrap().nodes.len() == 1
    })
    .await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_redis_restart_is_survived() {
    let mut redis = RedisServer::start().await;
    // a publishes nothing but the broadcasts: no heartbeat finds out
    // before them that its publishing connection died with Redis.
    let (a, a_url) = node_beating(&redis, Duration::from_secs(3600)).await;
    let (b, b_url) = node(&redis).await;
    let a_peer = client(&a, &a_url, true).await;
    let a_in = a_peer.inbox.clone();
    let b_peer = client(&b, &b_url, false).await;
    let b_in = b_peer.inbox.clone();
    a.broadcast_msg(&note(1)).await.unwrap();
    eventually("both get the first", || b_in.lock().unwrap().len() == 1).await;

    // A restart while nothing is broadcast.
    redis.restart().await;
    eventually("both nodes listen again", || {
        let (sa, sb) = (a.cluster_stats().unwrap(), b.cluster_stats().unwrap());
        sa.reconnects == 1 && sb.connected && sb.reconnects == 1
    })
    .await;
    // The first broadcast after it crosses: a's publishing connection,
    // dead since then, is made again before it is used.
    a.broadcast_msg(&note(2)).await.unwrap();
    eventually("b's client gets it", || {
        b_in.lock().unwrap().last() == Some(&2)
    })
    .await;

    // A broadcast while Redis is down: local clients get it, the other
    // node's miss it, and it is counted lost.
    redis.kill();
    a.broadcast_msg(&note(3)).await.unwrap();
    eventually("a's client gets it", || a_in.lock().unwrap().len() == 3).await;
    eventually("the lost broadcast is counted", || {
        a.cluster_stats().unwrap().lost == 1
    })
    .await;
    eventually("b sees it is cut off", || {
        !b.cluster_stats().unwrap().connected
    })
    .await;
    redis.restart().await;
    eventually("both nodes listen again", || {
        let (sa, sb) = (a.cluster_stats().unwrap(), b.cluster_stats().unwrap());
        sa.reconnects == 2 && sb.connected && sb.reconnects == 2
    })
    .await;
    a.broadcast_msg(&note(4)).await.unwrap();
    eventually("b's client gets the next", || {
        b_in.lock().unwrap().last() == Some(&4)
    })
    .await;
    // At most once: the lost one never arrives; nothing arrives twice.
    assert_eq!(taken(&b_in), [1, 2, 4]);
    assert_eq!(taken(&a_in), [1, 2, 3, 4]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn what_does_not_decode_is_dropped() {
    let redis = RedisServer::start().await;
    let (a, _) = node(&redis).await;
    let (b, b_url) = node(&redis).await;
    let b_peer = client(&b, &b_url, true).await;
    let b_in = b_peer.inbox.clone();
    // A broadcast as it crosses Redis, caught by a listener of our own.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe("tsrpc:all").await.unwrap();
    a.broadcast_msg(&note(1)).await.unwrap();
    let caught = tokio::time::timeout(PATIENCE, pubsub.on_message().next())
        .await
        .unwrap()
        .unwrap();
    let payload = caught.get_payload_bytes().to_vec();
    eventually("b's client gets it", || b_in.lock().unwrap().len() == 1).await;

    let mut other = ClusterMsg::from_bytes(&payload[1..]).unwrap();
    other.protocol = "another protocol".into();
    let mut forged = vec![1];
    forged.extend_from_slice(&other.to_bytes());
    let mut huge = vec![1];
    huge.extend_from_slice(&[0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    for garbage in [
        &b""[..],
        b"\x07",
        b"\x01not a message",
        b"\x02short",
        &huge,
        &payload[..payload.len() / 2],
        &forged,
    ] {
        redis.publish("tsrpc:all", garbage).await.unwrap();
    }
    eventually("b drops the seven", || {
        b.cluster_stats().unwrap().dropped == 7
    })
    .await;
    a.broadcast_msg(&note(2)).await.unwrap();
    eventually("b's client gets the next", || {
        b_in.lock().unwrap().len() == 2
    })
    .await;
    assert_eq!(taken(&b_in), [1, 2]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = RedisAdapter::connect(format!("redis://:hunter2@127.0.0.1:{port}"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    let err = RedisAdapter::connect("http://127.0.0.1:1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err:?}");
    // A cluster without an adapter's stats: a single process.
    assert_eq!(Server::builder().build().unwrap().cluster_stats(), None);
}

/// Past the publishing queue's bytes, a broadcast is lost for the other
/// nodes, and counted; this node's clients still get it.
#[tokio::test]
async fn a_full_publishing_queue_loses_for_other_nodes_only() {
    let redis = RedisServer::start().await;
    let adapter = RedisAdapter::builder(redis.url())
        .queue_bytes(1)
        .connect()
        .await
        .unwrap();
    let a = Server::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .cluster(adapter)
        .build()
        .unwrap();
    let a_url = format!("ws://{}", a.start().await.unwrap());
    let (b, b_url) = node(&redis).await;
    let a_peer = client(&a, &a_url, true).await;
    let b_peer = client(&b, &b_url, true).await;
    for n in 0..3 {
        a.broadcast_msg(&note(n)).await.unwrap();
    }
    eventually("a's client gets them", || {
        a_peer.inbox.lock().unwrap().len() == 3
    })
    .await;
    let stats = a.cluster_stats().unwrap();
    assert_eq!((stats.lost, stats.published), (3, 0), "{stats:?}");
    // b's broadcasts still reach a.
    b.broadcast_msg(&note(9)).await.unwrap();
    eventually("a's client gets b's", || {
        a_peer.inbox.lock().unwrap().last() == Some(&9)
    })
    .await;
    assert!(b_peer.inbox.lock().unwrap().iter().all(|&n| n == 9));
    a.stop().await;
    b.stop().await;
}

/// A node that stops taking what Redis sends it (its send flow never
/// returns) holds up no other node.
#[tokio::test]
async fn a_stuck_node_holds_up_no_other() {
    use tsrpc::server::flows::SendMsgFlow;

    let redis = RedisServer::start().await;
    let (a, _) = node(&redis).await;
    let (b, b_url) = node(&redis).await;
    let (stuck, stuck_url) = node(&redis).await;
    let b_peer = client(&b, &b_url, true).await;
    let _stuck_peer = client(&stuck, &stuck_url, true).await;
    stuck
        .flows()
        .pre_send_msg
        .push(|send: SendMsgFlow| async move {
            std::future::pending::<()>().await;
            Some(send)
        });
    for n in 0..100 {
        a.broadcast_msg(&note(n)).await.unwrap();
    }
    eventually("b's client gets all 100", || {
        b_peer.inbox.lock().unwrap().len() == 100
    })
    .await;
    assert_eq!(taken(&b_peer.inbox), (0..100).collect::<Vec<_>>());
    a.stop().await;
    b.stop().await;
}
