//! The login example: per-connection state, a pre_api_call flow that
//! refuses anonymous calls with NEED_LOGIN, and a token header over HTTP.

mod support;

use std::time::Duration;

use support::eventually;
use tsrpc::client::ReconnectPolicy;
use tsrpc::{CallOptions, HttpClient, WsClient};
use tsrpc_examples::login::{self, ReqGetSecret, ReqLogin, ReqLogout};

fn ann() -> ReqLogin {
    ReqLogin {
        username: "ann".into(),
        password: "tsrpc".into(),
    }
}

/// The login example's server on a free port.
async fn started() -> (tsrpc::Server, std::net::SocketAddr) {
    let server = login::server("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.start().await.unwrap();
    (server, addr)
}

/// Logs Ann in over HTTP and returns her token.
async fn token(addr: std::net::SocketAddr) -> String {
    let http = HttpClient::builder(format!("http://{addr}"))
        .build()
        .unwrap();
    http.call_api(ann()).await.unwrap().token
}

#[tokio::test]
async fn websocket_logins_are_per_connection() {
    let (server, addr) = started().await;
    let url = format!("ws://{addr}");
    let (ann_ws, other) = (
        WsClient::builder(&url).build(),
        WsClient::builder(&url).json(true).build(),
    );
    ann_ws.connect().await.unwrap();
    other.connect().await.unwrap();

    let err = ann_ws.call_api(ReqGetSecret {}).await.unwrap_err();
    assert!(err.is_api() && err.has_code("NEED_LOGIN"), "{err}");
    let wrong = ReqLogin {
        password: "guess".into(),
        ..ann()
    };
    assert!(
        ann_ws
            .call_api(wrong)
            .await
            .unwrap_err()
            .has_code("BAD_LOGIN")
    );
    ann_ws.call_api(ann()).await.unwrap();
    assert_eq!(ann_ws.call_api(ReqGetSecret {}).await.unwrap().user, "ann");
    // Another connection is still anonymous.
    assert!(
        other
            .call_api(ReqGetSecret {})
            .await
            .unwrap_err()
            .has_code("NEED_LOGIN")
    );
    ann_ws.call_api(ReqLogout {}).await.unwrap();
    assert!(
        ann_ws
            .call_api(ReqGetSecret {})
            .await
            .unwrap_err()
            .has_code("NEED_LOGIN")
    );
    // The server serves only the login APIs: to a logged-in user, the
    // chatroom's (linked into the same binary) are not handled.
    ann_ws.call_api(ann()).await.unwrap();
    let chat = tsrpc_examples::chatroom::ReqSend {
        content: "hi".into(),
    };
    let err = ann_ws.call_api(chat).await.unwrap_err();
    assert!(err.has_code(tsrpc::codes::UNHANDLED_API), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn http_calls_carry_a_token_header() {
    let (server, addr) = started().await;
    let http = HttpClient::builder(format!("http://{addr}"))
        .json(true)
        .build()
        .unwrap();
    assert!(
        http.call_api(ReqGetSecret {})
            .await
            .unwrap_err()
            .has_code("NEED_LOGIN")
    );
    let token = http.call_api(ann()).await.unwrap().token;
    let with =
        |token: &str| CallOptions::default().header("authorization", format!("Bearer {token}"));
    assert_eq!(
        http.call_api_with(ReqGetSecret {}, with(&token))
            .await
            .unwrap()
            .user,
        "ann"
    );
    assert!(
        http.call_api_with(ReqGetSecret {}, with("forged"))
            .await
            .unwrap_err()
            .has_code("NEED_LOGIN")
    );
    http.call_api_with(ReqLogout {}, with(&token))
        .await
        .unwrap();
    assert!(
        http.call_api_with(ReqGetSecret {}, with(&token))
            .await
            .unwrap_err()
            .has_code("NEED_LOGIN")
    );
    server.stop().await;
}

/// Auth at connect: a WebSocket bringing a token (query string or
/// `Authorization` header) is logged in before it opens; a wrong token is
/// refused with 401 and its reason, before any socket opens.
#[tokio::test]
async fn websockets_log_in_at_connect_with_a_token() {
    let (server, addr) = started().await;
    let token = token(addr).await;

    let by_query = WsClient::builder(format!("ws://{addr}/?token={token}")).build();
    by_query.connect().await.unwrap();
    assert_eq!(
        by_query.call_api(ReqGetSecret {}).await.unwrap().user,
        "ann"
    );
    let by_header = WsClient::builder(format!("ws://{addr}"))
        .json(true)
        .header("authorization", format!("Bearer {token}"))
        .build();
    by_header.connect().await.unwrap();
    assert_eq!(
        by_header.call_api(ReqGetSecret {}).await.unwrap().user,
        "ann"
    );
    // The connection kept what its handshake carried.
    let conns = server.connections();
    assert!(
        conns
            .iter()
            .any(|c| c.query_param("token").as_deref() == Some(token.as_str())),
        "{conns:?}"
    );
    assert!(conns.iter().any(|c| c.header("authorization").is_some()));

    // A wrong token never opens a socket.
    let before = server.connections().len();
    let wrong = WsClient::builder(format!("ws://{addr}/?token=nope")).build();
    let err = wrong.connect().await.unwrap_err();
    assert!(err.is_network(), "{err:?}");
    assert!(
        err.message.contains("401") && err.message.contains("Unknown or expired token"),
        "{}",
        err.message
    );
    assert!(err.has_code(tsrpc::codes::UNAUTHORIZED), "{err:?}");
    assert_eq!(err.data["status"], 401);
    assert_eq!(server.connections().len(), before);
    // Without a token: anonymous, to log in with Login.
    let anonymous = WsClient::builder(format!("ws://{addr}")).build();
    anonymous.connect().await.unwrap();
    let err = anonymous.call_api(ReqGetSecret {}).await.unwrap_err();
    assert!(err.has_code("NEED_LOGIN"), "{err}");
    // An invalid handshake header is the client's error, before connecting.
    let bad = WsClient::builder(format!("ws://{addr}"))
        .header("bad header", "x")
        .build();
    assert!(!bad.connect().await.unwrap_err().is_network());
    server.stop().await;
}

/// A client that reconnects by itself stops when the server refuses who
/// it is (401): its token was revoked, and retrying will not change that.
#[tokio::test]
async fn reconnecting_stops_when_the_token_is_refused() {
    let (server, addr) = started().await;
    let token = token(addr).await;
    let retry = Duration::from_millis(10);
    let client = WsClient::builder(format!("ws://{addr}"))
        .header("authorization", format!("Bearer {token}"))
        .reconnect(ReconnectPolicy {
            initial_delay: retry,
            max_delay: retry,
            max_attempts: None,
        })
        .build();
    client.connect().await.unwrap();
    client.call_api(ReqLogout {}).await.unwrap();
    // The server drops the connection; the client tries again, with the
    // revoked token.
    for conn in server.connections() {
        conn.close("logged out");
    }
    eventually("the reconnect is refused", || {
        server.stats().refused.pre_connect == 1
    })
    .await;
    // Ten times the retry delay, and no other attempt.
    tokio::time::sleep(retry * 10).await;
    assert_eq!(server.stats().refused.pre_connect, 1);
    assert!(!client.is_connected());
    server.stop().await;
}
