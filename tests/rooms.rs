//! Rooms on one server (`Connection::join`, `Server::to`), and the cluster
//! seam (`ClusterAdapter`) with an adapter that joins servers in memory:
//! broadcasts cross servers with the frames the sender encoded, to rooms,
//! to everyone and to one connection of another node.
//! (The Redis adapter across processes: `tsrpc-redis`'s tests.)

mod support;

use std::sync::{Arc, Mutex};

use support::{eventually, start};
use tokio::sync::mpsc;
use tsrpc::server::cluster::{ClusterAdapter, ClusterMsg, ClusterNode, ClusterStats};
use tsrpc::server::flows::ConnDisconnect;
use tsrpc::{Connection, Server, WsClient};
use tsrpc_tests::proto::MsgTyping;

type Inbox = Arc<Mutex<Vec<String>>>;

/// A client, in JSON or binary mode, noting every `room/Typing` it gets.
async fn client(url: &str, json: bool) -> (WsClient, Inbox) {
    let client = WsClient::builder(url).json(json).build();
    let inbox = Inbox::default();
    let noted = inbox.clone();
    client
        .listen_msg(move |m: MsgTyping| noted.lock().unwrap().push(m.user))
        .unwrap();
    client.connect().await.unwrap();
    (client, inbox)
}

/// The server's side of the connection opened last.
fn newest(server: &Server) -> Connection {
    let conns = server.connections();
    conns.into_iter().max_by_key(Connection::id).unwrap()
}

fn typing(text: &str) -> MsgTyping {
    MsgTyping { user: text.into() }
}

/// Waits until every inbox got `end` (sent to everyone after the rest),
/// then returns what each got before it.
async fn drained(server: &Server, inboxes: &[&Inbox]) -> Vec<Vec<String>> {
    server.broadcast_msg(&typing("end")).await.unwrap();
    eventually("every client gets the end", || {
        inboxes
            .iter()
            .all(|i| i.lock().unwrap().last().map(String::as_str) == Some("end"))
    })
    .await;
    inboxes
        .iter()
        .map(|i| {
            let mut got = std::mem::take(&mut *i.lock().unwrap());
            got.pop();
            got
        })
        .collect()
}

#[tokio::test]
async fn rooms_group_connections_for_broadcasts() {
    let (server, url) = start(Server::builder()).await;
    let left_in = Arc::new(Mutex::new(Vec::new()));
    let noted = left_in.clone();
    server
        .flows()
        .post_disconnect
        .push(move |ev: ConnDisconnect| {
            noted.lock().unwrap().push(ev.conn.rooms());
            async move { Some(ev) }
        });
    let (_a, a_in) = client(&url, true).await;
    let a = newest(&server);
    let (_b, b_in) = client(&url, false).await;
    let b = newest(&server);
    let (_c, c_in) = client(&url, true).await;
    let c = newest(&server);
    let (_d, d_in) = client(&url, false).await;
    let d = newest(&server);
    a.join("red");
    b.join("red");
    b.join("red"); // once is enough
    b.join("blue");
    c.join("blue");
    assert_eq!(b.rooms().len(), 2);
    assert!(b.in_room("blue") && !d.in_room("blue"));
    let mut rooms = server.rooms();
    rooms.sort();
    assert_eq!(rooms, ["blue", "red"]);

    server.to("red").send_msg(&typing("red")).await.unwrap();
    // A member of both rooms gets it once.
    server
        .to("red")
        .to("blue")
        .send_msg(&typing("red or blue"))
        .await
        .unwrap();
    server
        .broadcast()
        .except("red")
        .send_msg(&typing("not red"))
        .await
        .unwrap();
    server
        .to("blue")
        .except("red")
        .send_msg(&typing("blue, not red"))
        .await
        .unwrap();
    server.to("nobody").send_msg(&typing("lost")).await.unwrap();
    server
        .send_msg_to_connection(server.node_id(), c.id(), &typing("just c"))
        .await
        .unwrap();
    assert_eq!(server.to("blue").connections().len(), 2);
    let got = drained(&server, &[&a_in, &b_in, &c_in, &d_in]).await;
    assert_eq!(got[0], ["red", "red or blue"]);
    assert_eq!(got[1], ["red", "red or blue"]);
    assert_eq!(
        got[2],
        ["red or blue", "not red", "blue, not red", "just c"]
    );
    assert_eq!(got[3], ["not red"]);

    // Leaving, and closing, take connections out; an empty room is gone.
    b.leave("red");
    assert!(!b.in_room("red"));
    _a.disconnect().await;
    eventually("a is gone", || server.connections().len() == 3).await;
    assert_eq!(server.rooms(), ["blue"]);
    // A closed connection joins nothing, and still says where it was.
    a.join("green");
    assert_eq!(a.rooms(), ["red"]);
    assert!(server.to("green").connections().is_empty());
    assert_eq!(*left_in.lock().unwrap(), [vec!["red".to_string()]]);
    server
        .to("red")
        .send_msg(&typing("red again"))
        .await
        .unwrap();
    let got = drained(&server, &[&b_in, &c_in, &d_in]).await;
    assert!(got.iter().all(Vec::is_empty), "{got:?}");
    server.stop().await;
}

/// Servers joined in memory: what one publishes, the others deliver.
#[derive(Clone, Default)]
struct MemoryCluster {
    nodes: Arc<Mutex<Vec<mpsc::UnboundedSender<ClusterMsg>>>>,
    attached: Arc<Mutex<Vec<ClusterNode>>>,
    /// Rooms added (`+room`) and removed (`-room`), on any node.
    rooms: Arc<Mutex<Vec<String>>>,
    published: Arc<Mutex<Vec<ClusterMsg>>>,
}

impl ClusterAdapter for MemoryCluster {
    fn attach(&self, node: ClusterNode) {
        let (tx, mut rx) = mpsc::unbounded_channel::<ClusterMsg>();
        self.nodes.lock().unwrap().push(tx);
        self.attached.lock().unwrap().push(node.clone());
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                node.deliver(msg).await.unwrap();
            }
        });
    }

    fn publish(&self, msg: ClusterMsg) {
        self.published.lock().unwrap().push(msg.clone());
        for node in self.nodes.lock().unwrap().iter() {
            // Every node, its sender included: `deliver` skips its own.
            let _ = node.send(msg.clone());
        }
    }

    fn room_added(&self, room: &str) {
        self.rooms.lock().unwrap().push(format!("+{room}"));
    }

    fn room_removed(&self, room: &str) {
        self.rooms.lock().unwrap().push(format!("-{room}"));
    }

    fn stats(&self) -> ClusterStats {
        ClusterStats::default()
    }
}

#[tokio::test]
async fn a_cluster_adapter_carries_broadcasts_between_servers() {
    let cluster = MemoryCluster::default();
    let (one, one_url) = start(Server::builder().cluster(cluster.clone())).await;
    let (two, two_url) = start(Server::builder().cluster(cluster.clone())).await;
    assert_ne!(one.node_id(), two.node_id());
    let (_a, a_in) = client(&one_url, true).await;
    let a = newest(&one);
    let (_b, b_in) = client(&two_url, false).await;
    let b = newest(&two);
    let (_c, c_in) = client(&two_url, true).await;
    let c = newest(&two);
    a.join("red");
    b.join("red");
    assert_eq!(*cluster.rooms.lock().unwrap(), ["+red", "+red"]);

    one.to("red").send_msg(&typing("red")).await.unwrap();
    two.broadcast_msg(&typing("everyone")).await.unwrap();
    one.send_msg_to_connection(two.node_id(), c.id(), &typing("just c"))
        .await
        .unwrap();
    one.broadcast()
        .local()
        .send_msg(&typing("one only"))
        .await
        .unwrap();
    // The broadcasts crossed in both encodings, encoded by their sender.
    let crossing = cluster.published.lock().unwrap().clone();
    assert_eq!(crossing.len(), 3);
    assert!(
        std::str::from_utf8(&crossing[0].json)
            .unwrap()
            .contains("\"red\"")
    );
    assert!(!crossing[0].binary.is_empty());
    assert_eq!(crossing[0].origin, one.node_id());

    // Each server's broadcasts arrive in order; between servers, in any.
    one.broadcast_msg(&typing("end one")).await.unwrap();
    two.broadcast_msg(&typing("end two")).await.unwrap();
    let inboxes = [&a_in, &b_in, &c_in];
    eventually("every client gets both ends", || {
        inboxes.iter().all(|i| {
            let got = i.lock().unwrap();
            got.contains(&"end one".to_string()) && got.contains(&"end two".to_string())
        })
    })
    .await;
    let got: Vec<Vec<String>> = inboxes
        .iter()
        .map(|i| {
            let mut got = i.lock().unwrap().clone();
            got.retain(|m| !m.starts_with("end"));
            got.sort();
            got
        })
        .collect();
    assert_eq!(got[0], ["everyone", "one only", "red"]);
    assert_eq!(got[1], ["everyone", "red"]);
    assert_eq!(got[2], ["everyone", "just c"]);

    a.leave("red");
    assert_eq!(cluster.rooms.lock().unwrap().last().unwrap(), "-red");

    // A node drops what it cannot deliver: another protocol, an unknown
    // message, a JSON frame that is not UTF-8.
    let node_two = cluster.attached.lock().unwrap()[1].clone();
    assert_eq!(node_two.id(), two.node_id());
    let sample = crossing[0].clone();
    // Its own broadcasts come back to a node, and are ignored.
    assert!(node_two.deliver(crossing[1].clone()).await.is_ok());
    let mut other = sample.clone();
    other.protocol = "another".into();
    let err = node_two.deliver(other).await.unwrap_err();
    assert!(err.to_string().contains("another protocol"), "{err}");
    let mut unknown = sample.clone();
    unknown.name = "NoSuchMsg".into();
    assert!(node_two.deliver(unknown).await.is_err());
    let mut garbled = sample;
    garbled.json = bytes::Bytes::from_static(&[0xff, 0xfe]);
    assert!(node_two.deliver(garbled).await.is_err());
    assert_eq!(one.cluster_stats(), Some(ClusterStats::default()));
    assert_eq!(Server::builder().build().unwrap().cluster_stats(), None);
    one.stop().await;
    two.stop().await;
}
