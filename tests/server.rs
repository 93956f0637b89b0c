//! A server built from registered handlers, called in process.

use std::time::Duration;

use tsrpc::server::Transport;
use tsrpc::{ApiCall, Server, TsrpcError, codes};
use tsrpc_tests::proto::*;

fn server() -> Server {
    Server::builder()
        .build()
        .expect("the test protocols are consistent")
}

#[tokio::test]
async fn registered_handlers_are_served_without_a_list() {
    let server = server();
    let res = server
        .call_api(ReqEcho {
            a: 1,
            b: "Hello, World!".into(),
            c: true,
        })
        .await
        .unwrap();
    assert_eq!(
        res,
        ResEcho {
            a: 1,
            b: "Hello, World!".into(),
            c: true
        }
    );

    let err = server
        .call_api(SendRequest {
            content: String::new(),
        })
        .await
        .unwrap_err();
    assert!(err.is_api());
    assert_eq!(err.message, "Content is empty");

    let handlers: Vec<(&str, String)> = server
        .handlers()
        .iter()
        .map(|h| (h.service(), h.location().path.to_owned()))
        .collect();
    assert!(
        handlers.contains(&("Chat", "tsrpc_tests::handlers::on_chat".into())),
        "{handlers:?}"
    );
    assert!(
        handlers.contains(&("Echo", "tsrpc_tests::handlers::echo".into())),
        "{handlers:?}"
    );
}

#[tokio::test]
async fn an_api_without_handler_is_unhandled() {
    let err = server().call_api(ReqNobody {}).await.unwrap_err();
    assert!(
        err.is_server() && err.has_code(codes::UNHANDLED_API),
        "{err}"
    );
    assert!(err.message.contains("Nobody"));
}

#[tokio::test]
async fn a_panicking_handler_fails_only_its_call() {
    let server = server();
    let err = server.call_api(ReqPanic {}).await.unwrap_err();
    assert!(
        err.is_server() && err.has_code(codes::INTERNAL_ERR),
        "{err}"
    );
    let res = server
        .call_api(ReqEcho {
            a: 2,
            b: String::new(),
            c: false,
        })
        .await
        .unwrap();
    assert_eq!(res.a, 2);
}

#[tokio::test]
async fn a_handler_past_the_api_timeout_is_cancelled() {
    let server = Server::builder()
        .api_timeout(Some(Duration::from_millis(50)))
        .build()
        .unwrap();
    let err = server.call_api(ReqSleep { ms: 60_000 }).await.unwrap_err();
    assert!(err.has_code(codes::SERVER_TIMEOUT), "{err}");
    server.call_api(ReqSleep { ms: 0 }).await.unwrap();
}

#[tokio::test]
async fn implement_api_adds_a_handler_and_refuses_a_second_one() {
    let server = Server::builder()
        .select_handlers(|h| h.service() != "Nobody")
        .build()
        .unwrap();
    server
        .implement_api(|call: ApiCall<ReqNobody>| async move {
            assert_eq!(call.conn.transport(), Transport::InProcess);
            assert_eq!(call.conn.remote_addr(), None);
            assert_eq!(call.name(), "Nobody");
            Ok::<_, TsrpcError>(ResNobody {})
        })
        .unwrap();
    server.call_api(ReqNobody {}).await.unwrap();

    let err = server
        .implement_api(|_: ApiCall<ReqEcho>| async { Err(TsrpcError::api("second")) })
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("two handlers for API \"Echo\""), "{text}");
    assert!(text.contains("tsrpc_tests::handlers::echo"), "{text}");
    assert!(text.contains("tests/server.rs"), "{text}");
}

#[tokio::test]
async fn select_handlers_serves_a_subset() {
    let server = Server::builder()
        .select_handlers(|h| h.location().path.ends_with("::echo"))
        .build()
        .unwrap();
    assert_eq!(server.handlers().len(), 1);
    server
        .call_api(ReqEcho {
            a: 0,
            b: String::new(),
            c: false,
        })
        .await
        .unwrap();
    let err = server
        .call_api(SendRequest {
            content: "x".into(),
        })
        .await
        .unwrap_err();
    assert!(err.has_code(codes::UNHANDLED_API));
}
