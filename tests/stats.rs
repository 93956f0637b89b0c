//! `Server::stats()`: WebSocket connections by encoding, calls in flight,
//! and what was refused, by reason, as an app's metrics route shows them.

mod support;

use std::time::Duration;

use support::{raw_http, start};
use tsrpc::server::flows::ConnectFlow;
use tsrpc::{Server, WsClient};
use tsrpc_tests::proto::ReqSleep;

#[tokio::test]
async fn stats_count_connections_calls_and_refusals() {
    let (server, url) = start(
        Server::builder()
            .max_connections_per_ip(Some(3))
            .allowed_origins(["https://app.example"]),
    )
    .await;
    let addr: std::net::SocketAddr = url.trim_start_matches("ws://").parse().unwrap();
    server
        .flows()
        .pre_connect
        .push(|connect: ConnectFlow| async move {
            match connect.query_param("deny") {
                Some(_) => Err(ConnectFlow::unauthorized("denied")),
                None => Ok(connect),
            }
        });
    assert_eq!(server.stats(), tsrpc::server::ServerStats::default());

    let json = WsClient::builder(&url).json(true).build();
    let binary = WsClient::builder(&url).build();
    json.connect().await.unwrap();
    binary.connect().await.unwrap();
    // A call in flight.
    let sleeping = tokio::spawn({
        let binary = binary.clone();
        async move { binary.call_api(ReqSleep { ms: 500 }).await }
    });
    tokio::time::timeout(Duration::from_secs(10), async {
        while server.stats().calls_in_flight == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the call is counted");
    let stats = server.stats();
    assert_eq!(
        (
            stats.websockets,
            stats.websockets_json,
            stats.websockets_binary
        ),
        (2, 1, 1)
    );
    assert_eq!(stats.calls_in_flight, 1);

    // Refusals, by reason.
    let denied = WsClient::builder(format!("{url}/?deny=1")).build();
    assert!(denied.connect().await.is_err());
    let res = raw_http(
        addr,
        "POST /Sleep HTTP/1.1\r\nOrigin: https://evil.example",
        "{\"ms\":1}",
    )
    .await;
    assert_eq!(res.status, 403);
    // The third connection from this address is the last one allowed (a
    // socket that never sent a request would make way for a new one).
    let third = WsClient::builder(&url).build();
    third.connect().await.unwrap();
    let refused = raw_http(addr, "GET / HTTP/1.1", "").await;
    assert_eq!(refused.status, 429);
    let stats = server.stats();
    assert_eq!(stats.refused.pre_connect, 1, "{stats:?}");
    assert_eq!(stats.refused.origin, 1, "{stats:?}");
    assert!(stats.refused.per_ip_limit >= 1, "{stats:?}");
    assert_eq!(stats.refused.tls, 0);

    sleeping.await.unwrap().unwrap();
    assert_eq!(server.stats().calls_in_flight, 0);
    // JSON for a metrics route.
    let text = serde_json::to_string(&server.stats()).unwrap();
    assert!(text.contains("\"websockets\":3"), "{text}");
    server.stop().await;
}
