//! The WebSocket client against real servers, in both encodings.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;
use tsrpc::client::{DisconnectEvent, HeartbeatConfig, ReconnectPolicy, WsStatus};
use tsrpc::{CallOptions, Regex, Server, Timestamp, WsClient, codes};
use tsrpc_tests::proto::*;

async fn client(url: &str, json: bool) -> WsClient {
    let client = WsClient::builder(url).json(json).build();
    client.connect().await.expect("the client connects");
    client
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    tokio::time::timeout(PATIENCE, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the condition becomes true");
}

#[tokio::test]
async fn connecting_to_nothing_is_an_error() {
    // Bind then drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = WsClient::builder(format!("ws://127.0.0.1:{port}")).build();
    let err = client.connect().await.unwrap_err();
    assert!(err.is_network(), "{err}");
    assert_eq!(client.status(), WsStatus::Closed);
    let err = WsClient::builder("not a url")
        .build()
        .connect()
        .await
        .unwrap_err();
    assert!(err.is_client(), "{err}");
}

#[tokio::test]
async fn calls_in_both_encodings() {
    let (server, url) = start(Server::builder()).await;
    for json in [true, false] {
        let client = client(&url, json).await;
        let res = client
            .call_api(ReqEcho {
                a: -5,
                b: "Hello, World!".into(),
                c: true,
            })
            .await
            .unwrap();
        assert_eq!(
            res,
            ResEcho {
                a: -5,
                b: "Hello, World!".into(),
                c: true
            }
        );

        let err = client
            .call_api(SendRequest {
                content: String::new(),
            })
            .await
            .unwrap_err();
        assert!(err.is_api(), "{err}");
        assert_eq!(err.message, "Content is empty");

        let err = client.call_api(ReqNobody {}).await.unwrap_err();
        assert!(err.has_code(codes::UNHANDLED_API), "{err}");

        let err = client.call_api(ReqPanic {}).await.unwrap_err();
        assert!(err.has_code(codes::INTERNAL_ERR), "{err}");

        // Many calls in flight on one connection each get their own return.
        let calls = (0..50).map(|i| {
            let client = client.clone();
            async move {
                client
                    .call_api(ReqEcho {
                        a: i,
                        b: i.to_string(),
                        c: false,
                    })
                    .await
            }
        });
        let results = futures_util::future::join_all(calls).await;
        for (i, res) in results.into_iter().enumerate() {
            assert_eq!(res.unwrap().b, i.to_string());
        }
        client.disconnect().await;
    }
    server.stop().await;
}

#[tokio::test]
async fn not_connected_timeouts_and_aborts_resolve_with_codes() {
    let (server, url) = start(Server::builder()).await;
    let client = WsClient::builder(&url)
        .timeout(Duration::from_millis(200))
        .build();
    let err = client
        .call_api(ReqEcho {
            a: 0,
            b: String::new(),
            c: true,
        })
        .await
        .unwrap_err();
    assert!(err.has_code(codes::WS_NOT_OPEN), "{err}");
    client.connect().await.unwrap();

    let err = client.call_api(ReqSleep { ms: 5_000 }).await.unwrap_err();
    assert!(err.is_network() && err.has_code(codes::TIMEOUT), "{err}");
    let err = client
        .call_api_with(
            ReqSleep { ms: 5_000 },
            CallOptions::default().timeout(Duration::from_millis(50)),
        )
        .await
        .unwrap_err();
    assert!(err.has_code(codes::TIMEOUT), "{err}");

    let slow = CallOptions::default().timeout(Duration::from_secs(30));
    let by_key = tokio::spawn({
        let client = client.clone();
        let options = slow.clone().abort_key("page");
        async move { client.call_api_with(ReqSleep { ms: 5_000 }, options).await }
    });
    let by_sn = tokio::spawn({
        let client = client.clone();
        let options = slow.clone();
        async move { client.call_api_with(ReqSleep { ms: 5_000 }, options).await }
    });
    let all = tokio::spawn({
        let client = client.clone();
        async move { client.call_api_with(ReqSleep { ms: 5_000 }, slow).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.abort_by_key("page");
    assert!(by_key.await.unwrap().unwrap_err().has_code(codes::ABORTED));
    assert!(!by_sn.is_finished() && !all.is_finished());
    client.abort_all();
    assert!(by_sn.await.unwrap().unwrap_err().has_code(codes::ABORTED));
    assert!(all.await.unwrap().unwrap_err().has_code(codes::ABORTED));

    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.call_api(ReqSleep { ms: 5_000 }).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.abort(client.last_sn());
    assert!(pending.await.unwrap().unwrap_err().has_code(codes::ABORTED));
    server.stop().await;
}

#[tokio::test]
async fn a_drop_fails_pending_calls_with_lost_conn_and_the_reason() {
    let (server, url) = start(Server::builder()).await;
    let client = WsClient::builder(&url)
        .json(true)
        .timeout(Duration::from_secs(30))
        .build();
    client.connect().await.unwrap();
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.call_api(ReqSleep { ms: 10_000 }).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    for conn in server.connections() {
        conn.close("maintenance");
    }
    let err = pending.await.unwrap().unwrap_err();
    assert!(err.is_network() && err.has_code(codes::LOST_CONN), "{err}");
    assert!(err.message.contains("maintenance"), "{err}");
    assert_eq!(client.status(), WsStatus::Closed);
    server.stop().await;
}

#[tokio::test]
async fn messages_both_ways_with_typed_and_matching_listeners() {
    let (server, url) = start(Server::builder()).await;
    let room = Regex::new("^room/").unwrap();
    let game = Regex::new("^game/").unwrap();
    for json in [true, false] {
        let client = client(&url, json).await;
        let chats = Arc::new(Mutex::new(Vec::new()));
        let c = chats.clone();
        let chat_listener = client
            .listen_msg(move |m: MsgChat| c.lock().unwrap().push(m.content))
            .unwrap();
        let rooms = Arc::new(Mutex::new(Vec::new()));
        let r = rooms.clone();
        client.listen_msg_matching(room.clone(), move |m| {
            let typing: MsgTyping = m.decode().unwrap();
            r.lock().unwrap().push((m.name(), typing.user));
        });
        let games = Arc::new(AtomicUsize::new(0));
        let g = games.clone();
        client.listen_msg_matching(game.clone(), move |_| {
            g.fetch_add(1, Ordering::SeqCst);
        });

        // Server -> client: a broadcast from a handler, and conn.send_msg.
        client
            .call_api(ReqShout {
                content: format!("hello {json}"),
            })
            .await
            .unwrap();
        wait_until(|| chats.lock().unwrap().len() == 1).await;
        assert_eq!(chats.lock().unwrap()[0], format!("hello {json}"));
        for conn in server.connections() {
            conn.send_msg(&MsgTyping { user: "bob".into() })
                .await
                .unwrap();
        }
        wait_until(|| rooms.lock().unwrap().len() == 1).await;
        assert_eq!(rooms.lock().unwrap()[0], ("room/Typing", "bob".to_owned()));
        assert_eq!(
            games.load(Ordering::SeqCst),
            0,
            "room/ messages do not reach game/ listeners"
        );

        // Unlisten: later chats are not delivered.
        assert!(client.unlisten_msg(chat_listener));
        client
            .call_api(ReqShout {
                content: "again".into(),
            })
            .await
            .unwrap();
        client
            .call_api(ReqEcho {
                a: 0,
                b: String::new(),
                c: true,
            })
            .await
            .unwrap();
        assert_eq!(chats.lock().unwrap().len(), 1);
        client.disconnect().await;
    }

    // Client -> server.
    let received = Arc::new(Mutex::new(Vec::new()));
    let r = received.clone();
    server
        .listen_msg(move |call: tsrpc::MsgCall<MsgMove>| {
            let r = r.clone();
            async move { r.lock().unwrap().push(call.msg.x) }
        })
        .unwrap();
    for json in [true, false] {
        let client = client(&url, json).await;
        client.send_msg(&MsgMove { x: 7 }).await.unwrap();
        wait_until(|| received.lock().unwrap().len() == usize::from(!json) + 1).await;
        client.disconnect().await;
        let err = client.send_msg(&MsgMove { x: 8 }).await.unwrap_err();
        assert!(err.has_code(codes::WS_NOT_OPEN));
    }
    server.stop().await;
}

#[tokio::test]
async fn unlisten_msg_all_removes_every_typed_listener() {
    let (server, url) = start(Server::builder()).await;
    let client = client(&url, true).await;
    let count = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let c = count.clone();
        client
            .listen_msg(move |_: MsgChat| {
                c.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
    }
    client
        .call_api(ReqShout {
            content: "one".into(),
        })
        .await
        .unwrap();
    wait_until(|| count.load(Ordering::SeqCst) == 2).await;
    client.unlisten_msg_all::<MsgChat>();
    client
        .call_api(ReqShout {
            content: "two".into(),
        })
        .await
        .unwrap();
    client
        .call_api(ReqEcho {
            a: 0,
            b: String::new(),
            c: true,
        })
        .await
        .unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 2);
    server.stop().await;
}

#[tokio::test]
async fn broadcast_reaches_many_clients_exactly_once() {
    let (server, url) = start(Server::builder()).await;
    let mut clients = Vec::new();
    let counts: Vec<Arc<AtomicUsize>> = (0..20).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    for (i, count) in counts.iter().enumerate() {
        let client = client(&url, i % 2 == 0).await;
        let c = count.clone();
        client
            .listen_msg(move |_: MsgChat| {
                c.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        clients.push(client);
    }
    server
        .broadcast_msg(&MsgChat {
            content: "all".into(),
            time: Timestamp::now(),
            attachment: None,
        })
        .await
        .unwrap();
    wait_until(|| counts.iter().all(|c| c.load(Ordering::SeqCst) == 1)).await;
    // A call on each connection after the broadcast: nothing more arrived.
    for client in &clients {
        client
            .call_api(ReqEcho {
                a: 0,
                b: String::new(),
                c: true,
            })
            .await
            .unwrap();
    }
    assert!(counts.iter().all(|c| c.load(Ordering::SeqCst) == 1));
    server.stop().await;
}

fn record_disconnects(client: &WsClient) -> Arc<Mutex<Vec<(String, bool)>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    client
        .flows()
        .post_disconnect
        .push(move |ev: DisconnectEvent| {
            let e = e.clone();
            async move {
                e.lock().unwrap().push((ev.reason.clone(), ev.is_manual));
                Some(ev)
            }
        });
    events
}

#[tokio::test]
async fn post_disconnect_tells_manual_from_server_closes() {
    let (server, url) = start(Server::builder()).await;
    let client = WsClient::builder(&url).json(true).build();
    let events = record_disconnects(&client);
    let connects = Arc::new(AtomicUsize::new(0));
    let c = connects.clone();
    client.flows().post_connect.push(move |client: WsClient| {
        c.fetch_add(1, Ordering::SeqCst);
        async move { Some(client) }
    });

    client.connect().await.unwrap();
    assert_eq!(connects.load(Ordering::SeqCst), 1);
    client.connect().await.unwrap(); // already connected: nothing happens
    assert_eq!(connects.load(Ordering::SeqCst), 1);

    for conn in server.connections() {
        conn.close("You are kicked");
    }
    wait_until(|| events.lock().unwrap().len() == 1).await;
    assert_eq!(
        events.lock().unwrap()[0],
        ("You are kicked".to_owned(), false)
    );

    client.connect().await.unwrap();
    client.disconnect().await;
    assert_eq!(events.lock().unwrap().len(), 2);
    assert!(events.lock().unwrap()[1].1, "disconnect() is manual");
    // Disconnecting while disconnected fires nothing.
    client.disconnect().await;
    assert_eq!(events.lock().unwrap().len(), 2);
    server.stop().await;
}

#[tokio::test]
#[allow(clippy::result_large_err)] // tungstenite's handshake callback type
async fn heartbeats_measure_latency_and_detect_a_dead_server() {
    let (server, url) = start(Server::builder()).await;
    let heartbeat = HeartbeatConfig {
        interval: Duration::from_millis(50),
        timeout: Duration::from_millis(500),
    };
    let client = WsClient::builder(&url).heartbeat(heartbeat).build();
    client.connect().await.unwrap();
    wait_until(|| client.last_heartbeat_latency().is_some()).await;
    server.stop().await;

    // A server that accepts the WebSocket but never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mute = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_hdr_async(
            stream,
            |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
             mut res: tokio_tungstenite::tungstenite::handshake::server::Response| {
                if let Some(p) = req.headers().get("Sec-WebSocket-Protocol") {
                    res.headers_mut()
                        .insert("Sec-WebSocket-Protocol", p.clone());
                }
                Ok(res)
            },
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(ws);
    });
    let client = WsClient::builder(format!("ws://{addr}"))
        .json(true)
        .heartbeat(heartbeat)
        .build();
    let events = record_disconnects(&client);
    client.connect().await.unwrap();
    wait_until(|| !events.lock().unwrap().is_empty()).await;
    let (reason, manual) = events.lock().unwrap()[0].clone();
    assert!(reason.contains("Heartbeat timeout"), "{reason}");
    assert!(!manual);
    mute.abort();
}

#[tokio::test]
async fn reconnects_by_itself_and_keeps_listeners() {
    let (server, url) = start(Server::builder()).await;
    let policy = ReconnectPolicy {
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        max_attempts: None,
    };
    let client = WsClient::builder(&url).reconnect(policy).build();
    let chats = Arc::new(AtomicUsize::new(0));
    let c = chats.clone();
    client
        .listen_msg(move |_: MsgChat| {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    client.connect().await.unwrap();
    for conn in server.connections() {
        conn.close("restart");
    }
    wait_until(|| client.status() == WsStatus::Closed || server.connections().is_empty()).await;
    wait_until(|| client.is_connected() && server.connections().len() == 1).await;
    client
        .call_api(ReqShout {
            content: "back".into(),
        })
        .await
        .unwrap();
    wait_until(|| chats.load(Ordering::SeqCst) == 1).await;

    // A manual disconnect does not reconnect.
    client.disconnect().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(client.status(), WsStatus::Closed);
    server.stop().await;
}

#[tokio::test]
async fn binary_clients_send_their_fingerprint_first() {
    // The server refuses binary calls before a matching hello (see
    // ws_server.rs); a working call shows the client sent it.
    let (server, url) = start(Server::builder()).await;
    let client = WsClient::builder(&url).json(false).build();
    client.connect().await.unwrap();
    client
        .call_api(ReqEcho {
            a: 1,
            b: String::new(),
            c: true,
        })
        .await
        .unwrap();
    assert_eq!(
        server.connections()[0].encoding(),
        Some(tsrpc::Encoding::Binary)
    );
    server.stop().await;
}
