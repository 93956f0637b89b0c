//! The chatroom example: its server with Rust clients in both encodings and
//! a raw JSON socket, and its terminal client across a server restart.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;
use tsrpc::WsClient;
use tsrpc_examples::chatroom::{self, ClientOptions, MsgChat, ReqSend};

async fn start_chatroom(addr: SocketAddr) -> (tsrpc::Server, String) {
    let server = chatroom::server(addr).unwrap();
    let addr = server.start().await.unwrap();
    (server, format!("ws://{addr}"))
}

#[tokio::test]
async fn everyone_gets_each_chat_and_empty_content_is_refused() {
    let (server, url) = start_chatroom("127.0.0.1:0".parse().unwrap()).await;
    let mut inboxes = Vec::new();
    let mut clients = Vec::new();
    for json in [true, false] {
        let client = WsClient::builder(&url).json(json).build();
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let i = inbox.clone();
        client
            .listen_msg(move |chat: MsgChat| i.lock().unwrap().push(chat.content))
            .unwrap();
        client.connect().await.unwrap();
        inboxes.push(inbox);
        clients.push(client);
    }
    let mut raw_peer = raw(&url, Some("text")).await;

    let res = clients[0]
        .call_api(ReqSend {
            content: "Hello".into(),
        })
        .await
        .unwrap();
    let err = clients[1]
        .call_api(ReqSend {
            content: String::new(),
        })
        .await
        .unwrap_err();
    assert!(err.is_api());
    assert_eq!(err.message, "Content is empty");

    let frame: serde_json::Value = serde_json::from_str(&next_text(&mut raw_peer).await).unwrap();
    assert_eq!(frame[0], "Chat");
    assert_eq!(frame[1]["content"], "Hello");
    assert_eq!(frame[1]["time"], res.time.to_string());
    tokio::time::timeout(PATIENCE, async {
        while inboxes.iter().any(|i| i.lock().unwrap().len() != 1) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();

    send_text(
        &mut raw_peer,
        r#"["Send",{"content":"from a plain socket"},1]"#,
    )
    .await;
    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(next_text(&mut raw_peer).await);
    }
    assert!(
        got.iter()
            .any(|f| f.starts_with(r#"["Chat",{"content":"from a plain socket""#)),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|f| f.starts_with(r#"["Send",{"isSucc":true,"res":{"time":""#)),
        "{got:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_terminal_client_chats_shows_errors_and_reconnects_after_a_restart() {
    let (server, url) = start_chatroom("127.0.0.1:0".parse().unwrap()).await;
    let addr: SocketAddr = url.trim_start_matches("ws://").parse().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let l = lines.clone();
    let out: chatroom::Output = Arc::new(move |line| l.lock().unwrap().push(line));
    let (mut typing, input) = tokio::io::duplex(1024);
    let options = ClientOptions {
        url: url.clone(),
        json: false,
        reconnect_delay: Duration::from_millis(200),
    };
    let running = tokio::spawn(chatroom::run_client(
        options,
        tokio::io::BufReader::new(input),
        out,
    ));

    let wait_for = |text: &'static str, count: usize| {
        let lines = lines.clone();
        async move {
            tokio::time::timeout(PATIENCE, async {
                while lines
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|l| l.contains(text))
                    .count()
                    < count
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{text:?} x{count} never appeared in {:?}",
                    lines.lock().unwrap()
                )
            });
        }
    };
    use tokio::io::AsyncWriteExt;
    wait_for("Connected to", 1).await;
    typing.write_all(b"hello room\n\n").await.unwrap();
    wait_for("] hello room", 1).await;
    wait_for("Error: Content is empty", 1).await;

    // Restart the server on the same port: the client comes back by itself.
    server.stop().await;
    wait_for("Disconnected (Server stopped); reconnecting", 1).await;
    let (server, _) = start_chatroom(addr).await;
    wait_for("Connected to", 2).await;
    typing.write_all(b"back again\n").await.unwrap();
    wait_for("] back again", 1).await;

    drop(typing);
    running.await.unwrap().unwrap();
    server.stop().await;
}

#[tokio::test]
async fn the_chatroom_is_reachable_over_http_too() {
    let (server, url) = start_chatroom("127.0.0.1:0".parse().unwrap()).await;
    let ws = WsClient::builder(&url).build();
    let inbox = Arc::new(Mutex::new(Vec::new()));
    let i = inbox.clone();
    ws.listen_msg(move |chat: MsgChat| i.lock().unwrap().push(chat.content))
        .unwrap();
    ws.connect().await.unwrap();
    for json in [true, false] {
        let http = tsrpc::HttpClient::builder(url.replace("ws://", "http://"))
            .json(json)
            .build()
            .unwrap();
        http.call_api(ReqSend {
            content: format!("over HTTP {json}"),
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
    eventually("the two HTTP chats arrive", || {
        inbox.lock().unwrap().len() == 2
    })
    .await;
    assert_eq!(
        *inbox.lock().unwrap(),
        vec!["over HTTP true", "over HTTP false"]
    );
    server.stop().await;
}
