//! The chatroom mounted in the axum example app (`Server::service`): the
//! Rust clients in both encodings over the mounted paths, the app's own
//! routes beside them, and a stop of the tsrpc server that leaves the app
//! serving. (TSRPC's own TypeScript clients: `tests/interop.rs`.)

mod support;

use std::sync::{Arc, Mutex};

use support::{eventually, raw_http};
use tsrpc::server::Transport;
use tsrpc::{HttpClient, WsClient};
use tsrpc_examples::chatroom::{self, MsgChat, ReqSend};

/// The axum example app, serving `chat` on a free port until the returned
/// sender is used.
async fn start_axum_app(
    chat: &tsrpc::Server,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let chat = chat.clone();
    let app = tokio::spawn(async move {
        tsrpc_examples::axum_app::serve(listener, &chat, async {
            let _ = stopped.await;
        })
        .await
    });
    (addr, stop, app)
}

#[tokio::test]
async fn rust_clients_call_and_chat_through_the_mounted_paths() {
    let chat = chatroom::server("127.0.0.1:0".parse().unwrap()).unwrap();
    let (addr, stop, app) = start_axum_app(&chat).await;

    // The app's own routes.
    let health = raw_http(addr, "GET /health HTTP/1.1", "").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    let page = raw_http(addr, "GET / HTTP/1.1", "").await;
    assert!(page.body.contains("axum"), "{}", page.body);

    // WebSocket at /ws, both encodings, with the broadcast reaching both.
    let inbox = Arc::new(Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for json in [true, false] {
        let client = WsClient::builder(format!("ws://{addr}/ws"))
            .json(json)
            .build();
        let inbox = inbox.clone();
        client
            .listen_msg(move |m: MsgChat| inbox.lock().unwrap().push(m.content))
            .unwrap();
        client.connect().await.unwrap();
        clients.push(client);
    }
    clients[0]
        .call_api(ReqSend {
            content: "over /ws".into(),
        })
        .await
        .unwrap();

    // HTTP under /api, both encodings.
    for json in [true, false] {
        let http = HttpClient::builder(format!("http://{addr}/api"))
            .json(json)
            .build()
            .unwrap();
        http.call_api(ReqSend {
            content: format!("over /api, json {json}"),
        })
        .await
        .unwrap();
        let err = http
            .call_api(ReqSend {
                content: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.message, "Content is empty");
    }
    eventually("both clients get the three chats", || {
        inbox.lock().unwrap().len() == 6
    })
    .await;

    // The app's metrics route shows the chatroom's stats.
    let metrics = raw_http(addr, "GET /metrics HTTP/1.1", "").await;
    assert_eq!(metrics.json()["websockets"], 2, "{}", metrics.body);
    assert_eq!(metrics.json()["websockets_binary"], 1, "{}", metrics.body);

    // The connections see the peer's address, from axum's connect info.
    let conns = chat.connections();
    assert_eq!(conns.len(), 2);
    for conn in &conns {
        assert_eq!(conn.transport(), Transport::WebSocket);
        assert_eq!(conn.remote_addr().map(|a| a.ip()), Some(addr.ip()));
    }

    // A name that is no API, under the prefix: TSRPC's words.
    let res = raw_http(
        addr,
        "POST /api/Nope HTTP/1.1\r\nContent-Type: application/json",
        "{}",
    )
    .await;
    assert_eq!(res.json()["err"]["message"], "Invalid URL path: /Nope");

    // Stopping the tsrpc server closes its WebSockets; the app goes on.
    chat.stop().await;
    let err = clients[1]
        .call_api(ReqSend {
            content: "after the stop".into(),
        })
        .await
        .unwrap_err();
    // The close has reached the client, or the call was on its way.
    assert!(
        err.has_code(tsrpc::codes::WS_NOT_OPEN) || err.has_code(tsrpc::codes::LOST_CONN),
        "{err:?}"
    );
    let health = raw_http(addr, "GET /health HTTP/1.1", "").await;
    assert_eq!(health.body, "ok");
    let _ = stop.send(());
    app.await.unwrap().unwrap();
}

/// A WebSocket upgrade, sent by hand to read the refusal's status.
const UPGRADE: &str = "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";

/// The caps on connections count the WebSockets a mounted service opens
/// (the host's HTTP connections are the host's): per address where the
/// host says it, in all otherwise.
#[tokio::test]
async fn connection_caps_count_the_mounted_websockets() {
    let unbound = "127.0.0.1:0".parse().unwrap();
    let chat = chatroom::builder(unbound)
        .max_connections_per_ip(Some(2))
        .build()
        .unwrap();
    let (addr, stop, app) = start_axum_app(&chat).await;
    let url = format!("ws://{addr}/ws");
    let clients: Vec<WsClient> = (0..3).map(|_| WsClient::builder(&url).build()).collect();
    clients[0].connect().await.unwrap();
    clients[1].connect().await.unwrap();
    let refused = raw_http(addr, UPGRADE, "").await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(refused.body.contains("the limit is 2"), "{}", refused.body);
    assert!(clients[2].connect().await.is_err());
    assert_eq!(chat.stats().refused.per_ip_limit, 2);
    // HTTP calls through the mounted service are not WebSockets.
    let http = HttpClient::builder(format!("http://{addr}/api"))
        .build()
        .unwrap();
    http.call_api(ReqSend {
        content: "over HTTP".into(),
    })
    .await
    .unwrap();
    // A closed WebSocket makes room.
    clients[0].disconnect().await;
    eventually("the first socket is closed", || {
        chat.stats().websockets == 1
    })
    .await;
    clients[2].connect().await.unwrap();
    let _ = stop.send(());
    app.await.unwrap().unwrap();

    // Without the peer's address, the total cap still applies.
    let chat = chatroom::builder(unbound)
        .max_connections(Some(1))
        .max_connections_per_ip(Some(1))
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route_service("/ws", chat.service());
    let app = tokio::spawn(async move { axum::serve(listener, router).await });
    let url = format!("ws://{addr}/ws");
    let first = WsClient::builder(&url).build();
    first.connect().await.unwrap();
    let refused = raw_http(addr, UPGRADE, "").await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(chat.stats().refused.connection_limit, 1);
    first.disconnect().await;
    eventually("the socket is closed", || chat.stats().websockets == 0).await;
    WsClient::builder(&url).build().connect().await.unwrap();
    app.abort();
}
