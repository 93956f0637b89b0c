//! HTTP on the same port as WebSocket: raw requests with the exact bytes of
//! WIRE.md, and the HttpClient in both encodings.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tsrpc::{CallOptions, HttpClient, MsgCall, Server, WsClient, codes};
use tsrpc_tests::proto::*;

async fn start_http(builder: tsrpc::ServerBuilder) -> (Server, SocketAddr) {
    let (server, url) = start(builder).await;
    let addr = url.trim_start_matches("ws://").parse().unwrap();
    (server, addr)
}

#[tokio::test]
async fn raw_json_requests_get_tsrpc_answers() {
    let (server, addr) = start_http(Server::builder()).await;
    let json_post = |path: &str| format!("POST {path} HTTP/1.1\r\nContent-Type: application/json");

    let res = raw_http(
        addr,
        &json_post("/Echo"),
        r#"{"a":1,"b":"Hello, World!","c":true}"#,
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.headers["content-type"],
        "application/json; charset=utf-8"
    );
    assert_eq!(
        res.body,
        r#"{"isSucc":true,"res":{"a":1,"b":"Hello, World!","c":true}}"#
    );
    assert_eq!(res.headers["access-control-allow-origin"], "*");

    let res = raw_http(
        addr,
        &json_post("/room/Send?ignored=1"),
        r#"{"content":""}"#,
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.body,
        r#"{"isSucc":false,"err":{"message":"Content is empty","type":"ApiError"}}"#
    );

    let res = raw_http(addr, &json_post("/Echo"), r#"{"a":"one","b":"","c":true}"#).await;
    let err = &res.json()["err"];
    assert_eq!(
        (res.status, err["code"].as_str(), err["path"].as_str()),
        (200, Some("INPUT_DATA_ERR"), Some("a"))
    );

    let res = raw_http(addr, &json_post("/Echo"), r#"{"a":1,"#).await;
    assert_eq!(res.json()["err"]["code"], "INPUT_DATA_ERR");

    let res = raw_http(addr, &json_post("/NoSuchApi"), "{}").await;
    let err = &res.json()["err"];
    assert_eq!(err["code"], "INPUT_DATA_ERR");
    assert!(
        err["message"].as_str().unwrap().contains("NoSuchApi"),
        "{err}"
    );

    let res = raw_http(addr, &json_post("/Nobody"), "{}").await;
    assert_eq!(
        (res.status, res.json()["err"]["code"].as_str()),
        (500, Some("UNHANDLED_API"))
    );

    let res = raw_http(addr, &json_post("/Panic"), "{}").await;
    assert_eq!(
        (res.status, res.json()["err"]["code"].as_str()),
        (500, Some("INTERNAL_ERR"))
    );

    // The request's own serde code panics while it is decoded.
    let boom = r#"{"input":"boom","explode_out":false,"wait_ms":0}"#;
    let res = raw_http(addr, &json_post("/Fragile"), boom).await;
    assert_eq!(
        (res.status, res.json()["err"]["code"].as_str()),
        (500, Some("INTERNAL_ERR"))
    );

    // curl's default form content type is taken as JSON too.
    let res = raw_http(
        addr,
        "POST /Echo HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
        r#"{"a":2,"b":"","c":false}"#,
    )
    .await;
    assert_eq!(res.json()["res"]["a"], 2);
    server.stop().await;
}

#[tokio::test]
async fn messages_over_http_get_an_empty_answer() {
    let (server, addr) = start_http(Server::builder()).await;
    let typed = Arc::new(AtomicUsize::new(0));
    let t = typed.clone();
    server
        .listen_msg(move |call: MsgCall<MsgTyping>| {
            let t = t.clone();
            async move {
                assert_eq!(call.conn.transport(), tsrpc::server::Transport::Http);
                t.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
    let head = "POST /room/Typing?type=msg HTTP/1.1\r\nContent-Type: application/json";
    let res = raw_http(addr, head, r#"{"user":"ann"}"#).await;
    assert_eq!((res.status, res.body.as_str()), (200, ""));
    assert_eq!(typed.load(Ordering::SeqCst), 1);

    let res = raw_http(addr, head, r#"{"user":5}"#).await;
    assert_eq!(res.json()["err"]["code"], "INPUT_DATA_ERR");
    let res = raw_http(addr, "POST /Nope?type=msg HTTP/1.1", "{}").await;
    assert_eq!(res.json()["err"]["code"], "INPUT_DATA_ERR");
    assert_eq!(typed.load(Ordering::SeqCst), 1);
    server.stop().await;
}

#[tokio::test]
async fn oversized_bodies_get_413_and_slow_headers_are_cut_off() {
    let builder = Server::builder()
        .max_message_size(1024)
        .header_read_timeout(Duration::from_millis(300));
    let (server, addr) = start_http(builder).await;
    let big = format!(r#"{{"a":1,"b":"{}","c":true}}"#, "x".repeat(2000));
    let res = raw_http(
        addr,
        "POST /Echo HTTP/1.1\r\nContent-Type: application/json",
        &big,
    )
    .await;
    assert_eq!(res.status, 413);
    let err = &res.json()["err"];
    assert!(
        err["message"].as_str().unwrap().contains("1024 bytes"),
        "{err}"
    );

    // A body announced as huge is refused before it is sent.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /Echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 413"));

    // Headers trickled in and never finished: the server hangs up.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST /Echo HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(PATIENCE, slow.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the server closed the slow connection");
    server.stop().await;
}

#[tokio::test]
async fn cors_preflight_and_origins() {
    let (server, addr) = start_http(Server::builder()).await;
    let res = raw_http(
        addr,
        "OPTIONS /Echo HTTP/1.1\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type,authorization",
        "",
    )
    .await;
    assert_eq!(res.status, 204);
    assert_eq!(res.headers["access-control-allow-origin"], "*");
    assert!(res.headers["access-control-allow-methods"].contains("POST"));
    assert_eq!(
        res.headers["access-control-allow-headers"],
        "content-type,authorization"
    );
    server.stop().await;

    let (server, addr) =
        start_http(Server::builder().allowed_origins(["https://good.example"])).await;
    let head = |origin: &str| {
        format!("POST /Echo HTTP/1.1\r\nContent-Type: application/json\r\nOrigin: {origin}")
    };
    let body = r#"{"a":1,"b":"","c":true}"#;
    let good = raw_http(addr, &head("https://good.example"), body).await;
    assert_eq!(
        good.headers["access-control-allow-origin"],
        "https://good.example"
    );
    // A request from another origin is refused before it runs.
    let bad = raw_http(addr, &head("https://evil.example"), body).await;
    assert_eq!(bad.status, 403, "{}", bad.body);
    assert!(!bad.headers.contains_key("access-control-allow-origin"));
    // A client that is not a browser sends no Origin and is served.
    let plain = raw_http(
        addr,
        "POST /Echo HTTP/1.1\r\nContent-Type: application/json",
        body,
    )
    .await;
    assert_eq!(plain.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn other_requests_get_404_405_or_static_files() {
    let (server, addr) = start_http(Server::builder()).await;
    assert_eq!(raw_http(addr, "GET / HTTP/1.1", "").await.status, 404);
    let res = raw_http(addr, "PUT /Echo HTTP/1.1", "{}").await;
    assert_eq!(res.status, 405);
    assert!(res.headers["allow"].contains("POST"));
    server.stop().await;

    let dir = std::env::temp_dir().join(format!("tsrpc-static-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("js")).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>chat</h1>").unwrap();
    std::fs::write(dir.join("js/app.js"), "console.log(1)").unwrap();
    let (server, addr) = start_http(Server::builder().static_dir(&dir)).await;
    let index = raw_http(addr, "GET / HTTP/1.1", "").await;
    assert_eq!((index.status, index.body.as_str()), (200, "<h1>chat</h1>"));
    assert!(index.headers["content-type"].starts_with("text/html"));
    let js = raw_http(addr, "GET /js/app.js HTTP/1.1", "").await;
    assert!(
        js.headers["content-type"].contains("javascript"),
        "{:?}",
        js.headers
    );
    assert_eq!(
        raw_http(addr, "GET /../Cargo.toml HTTP/1.1", "")
            .await
            .status,
        404
    );
    assert_eq!(
        raw_http(addr, "GET /js/%2e%2e/%2e%2e/Cargo.toml HTTP/1.1", "")
            .await
            .status,
        404
    );
    assert_eq!(
        raw_http(addr, "GET /missing.css HTTP/1.1", "").await.status,
        404
    );
    // The API still answers on the same port.
    let res = raw_http(addr, "POST /Echo HTTP/1.1", r#"{"a":3,"b":"","c":true}"#).await;
    assert_eq!(res.json()["res"]["a"], 3);
    server.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_same_handler_answers_websocket_and_http_in_both_encodings() {
    let (server, addr) = start_http(Server::builder()).await;
    let ws = WsClient::builder(format!("ws://{addr}")).build();
    ws.connect().await.unwrap();
    let req = ReqEcho {
        a: 9,
        b: "same".into(),
        c: true,
    };
    let over_ws = ws.call_api(req.clone()).await.unwrap();
    for json in [true, false] {
        let http = HttpClient::builder(format!("http://{addr}"))
            .json(json)
            .build()
            .unwrap();
        assert_eq!(http.call_api(req.clone()).await.unwrap(), over_ws);
        let err = http
            .call_api(SendRequest {
                content: String::new(),
            })
            .await
            .unwrap_err();
        assert!(err.is_api() && err.message == "Content is empty", "{err}");
        let err = http.call_api(ReqNobody {}).await.unwrap_err();
        assert!(err.has_code(codes::UNHANDLED_API), "{err}");
        assert_eq!(err.data["status"], 500, "{err:?}");
        let err = http.call_api(ReqPanic {}).await.unwrap_err();
        assert!(err.has_code(codes::INTERNAL_ERR), "{err}");
        // The response's own serde code panics: answered all the same.
        let err = http
            .call_api(ReqFragile {
                input: Fuse("x".into()),
                explode_out: true,
                wait_ms: 0,
            })
            .await
            .unwrap_err();
        assert!(err.has_code(codes::INTERNAL_ERR), "{err}");
        assert_eq!(err.data["status"], 500, "{err:?}");
        // A handler that waits before it answers, then one whose response
        // panics after waiting.
        for explode_out in [false, true] {
            let waited = http
                .call_api(ReqFragile {
                    input: Fuse("waited".into()),
                    explode_out,
                    wait_ms: 20,
                })
                .await;
            match waited {
                Ok(res) => assert!(!explode_out && res.output.0 == "waited"),
                Err(err) => assert!(explode_out && err.has_code(codes::INTERNAL_ERR), "{err}"),
            }
        }
        http.send_msg(&MsgTyping { user: "x".into() })
            .await
            .unwrap();
        // Keep-alive: many calls share pooled connections.
        for i in 0..20 {
            assert_eq!(
                http.call_api(ReqEcho {
                    a: i,
                    b: String::new(),
                    c: false
                })
                .await
                .unwrap()
                .a,
                i
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn an_http_call_can_broadcast_to_websocket_clients() {
    let (server, addr) = start_http(Server::builder()).await;
    let ws = WsClient::builder(format!("ws://{addr}")).json(true).build();
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let g = got.clone();
    ws.listen_msg(move |chat: MsgChat| g.lock().unwrap().push(chat.content))
        .unwrap();
    ws.connect().await.unwrap();
    let http = HttpClient::new(format!("http://{addr}")).unwrap();
    http.call_api(ReqShout {
        content: "from HTTP".into(),
    })
    .await
    .unwrap();
    tokio::time::timeout(PATIENCE, async {
        while got.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(got.lock().unwrap()[0], "from HTTP");
    server.stop().await;
}

#[tokio::test]
async fn handlers_read_request_headers_set_per_client_and_per_call() {
    let (server, addr) = start_http(Server::builder()).await;
    let http = HttpClient::builder(format!("http://{addr}"))
        .header("authorization", "Bearer secret")
        .build()
        .unwrap();
    let me = http
        .call_api_with(
            ReqWhoAmI {},
            CallOptions::default().header("x-request-id", "42"),
        )
        .await
        .unwrap();
    assert_eq!(
        me,
        ResWhoAmI {
            transport: "Http".into(),
            authorization: Some("Bearer secret".into()),
            request_id: Some("42".into()),
        }
    );
    let ws = WsClient::builder(format!("ws://{addr}")).build();
    ws.connect().await.unwrap();
    let me = ws.call_api(ReqWhoAmI {}).await.unwrap();
    assert_eq!(
        (me.transport.as_str(), me.authorization),
        ("WebSocket", None)
    );
    assert!(
        HttpClient::builder("http://x")
            .header("bad header", "v")
            .build()
            .is_err()
    );
    assert!(HttpClient::new("ftp://x").is_err());
    server.stop().await;
}

#[tokio::test]
async fn network_failures_timeouts_and_aborts() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody = HttpClient::new(format!("http://127.0.0.1:{port}")).unwrap();
    let err = nobody
        .call_api(ReqEcho {
            a: 1,
            b: String::new(),
            c: true,
        })
        .await
        .unwrap_err();
    assert!(err.is_network(), "{err}");

    let (server, addr) = start_http(Server::builder()).await;
    let http = HttpClient::builder(format!("http://{addr}"))
        .json(true)
        .build()
        .unwrap();
    let short = CallOptions::default().timeout(Duration::from_millis(100));
    let err = http
        .call_api_with(ReqSleep { ms: 5_000 }, short)
        .await
        .unwrap_err();
    assert!(err.has_code(codes::TIMEOUT), "{err}");

    let pending = tokio::spawn({
        let http = http.clone();
        async move {
            http.call_api_with(
                ReqSleep { ms: 5_000 },
                CallOptions::default().abort_key("k"),
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    http.abort_by_key("k");
    assert!(pending.await.unwrap().unwrap_err().has_code(codes::ABORTED));
    server.stop().await;
}

#[tokio::test]
async fn binary_requests_need_the_right_fingerprint() {
    let (server, addr) = start_http(Server::builder()).await;
    let id = server.service_table().api("Echo").unwrap().id() as u8;
    let frame = [1u8, id, 1, 2, 0, 1];
    for (fingerprint, expect) in [
        (server.service_table().fingerprint().to_string(), 200),
        ("0000000000000000".into(), 400),
    ] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /Echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nX-Tsrpc-Fingerprint: {fingerprint}\r\nContent-Length: {}\r\n\r\n",
            frame.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&frame).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with(&format!("HTTP/1.1 {expect}")), "{text}");
        if expect == 400 {
            assert!(text.contains("fingerprint mismatch"), "{text}");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn graceful_stop_answers_503_to_new_requests_while_calls_finish() {
    let (server, addr) = start_http(Server::builder()).await;
    let http = HttpClient::builder(format!("http://{addr}"))
        .json(true)
        .build()
        .unwrap();
    let running = tokio::spawn({
        let http = http.clone();
        async move { http.call_api(ReqSleep { ms: 400 }).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = tokio::spawn({
        let server = server.clone();
        async move { server.graceful_stop(Duration::from_secs(10)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let res = raw_http(addr, "POST /Echo HTTP/1.1", r#"{"a":1,"b":"","c":true}"#).await;
    assert_eq!(res.status, 503);
    assert_eq!(res.json()["err"]["code"], "SERVER_STOPPING");
    running.await.unwrap().unwrap();
    stopping.await.unwrap();
}
