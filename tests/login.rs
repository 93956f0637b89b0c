//! The login example: per-connection state, a pre_api_call flow that
//! refuses anonymous calls with NEED_LOGIN, and a token header over HTTP.

use tsrpc::{CallOptions, HttpClient, WsClient};
use tsrpc_examples::login::{self, ReqGetSecret, ReqLogin, ReqLogout};

fn ann() -> ReqLogin {
    ReqLogin {
        username: "ann".into(),
        password: "tsrpc".into(),
    }
}

#[tokio::test]
async fn websocket_logins_are_per_connection() {
    let server = login::server("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.start().await.unwrap();
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
    let server = login::server("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.start().await.unwrap();
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
