//! Every server and client flow: order, transformation, cancellation, async
//! nodes, failing nodes, and flows on broadcasts.

mod support;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;
use tokio_tungstenite::tungstenite::Message;
use tsrpc::client::flows::{self as client, ClientFlows};
use tsrpc::server::flows::{
    ApiCallFlow, ApiReturnFlow, ApiReturned, ConnDisconnect, DataFlow, MsgCallFlow, SendMsgFlow,
};
use tsrpc::{Connection, HttpClient, MsgCall, Server, TsrpcError, WsClient, codes};
use tsrpc_tests::proto::*;

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

async fn eventually(mut done: impl FnMut() -> bool) {
    tokio::time::timeout(PATIENCE, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the condition becomes true");
}

fn echo(b: &str) -> ReqEcho {
    ReqEcho {
        a: 1,
        b: b.into(),
        c: true,
    }
}

#[tokio::test]
async fn pre_api_call_runs_in_order_transforms_cancels_and_fails() {
    let (server, url) = start(Server::builder()).await;
    let calls = log();
    let l = calls.clone();
    server.flows().pre_api_call.push(move |call: ApiCallFlow| {
        l.lock().unwrap().push(format!("first {}", call.name()));
        async move { Some(call) }
    });
    let l = calls.clone();
    server
        .flows()
        .pre_api_call
        .push(move |mut call: ApiCallFlow| {
            let l = l.clone();
            async move {
                // An async node: it awaits before deciding.
                tokio::time::sleep(Duration::from_millis(5)).await;
                l.lock().unwrap().push(format!("second {}", call.name()));
                if let Some(req) = call.req_mut::<ReqEcho>() {
                    req.b = req.b.to_uppercase();
                }
                match call.name() {
                    "Sleep" => Ok(None),
                    "Nobody" => Err(TsrpcError::api("Please log in first").with_code("NEED_LOGIN")),
                    "Panic" => panic!("a node that panics"),
                    _ => Ok(Some(call)),
                }
            }
        });
    for json in [true, false] {
        let client = WsClient::builder(&url).json(json).build();
        client.connect().await.unwrap();
        assert_eq!(client.call_api(echo("shout")).await.unwrap().b, "SHOUT");
        let err = client.call_api(ReqSleep { ms: 0 }).await.unwrap_err();
        assert!(
            err.is_server() && err.message.contains("cancelled"),
            "{err}"
        );
        let err = client.call_api(ReqNobody {}).await.unwrap_err();
        assert!(err.is_api() && err.has_code("NEED_LOGIN"), "{err}");
        let err = client.call_api(ReqPanic {}).await.unwrap_err();
        assert!(err.has_code(codes::INTERNAL_ERR), "{err}");
    }
    // Over HTTP and in process too.
    let http = HttpClient::builder(url.replace("ws://", "http://"))
        .json(true)
        .build()
        .unwrap();
    assert_eq!(http.call_api(echo("http")).await.unwrap().b, "HTTP");
    assert!(
        http.call_api(ReqNobody {})
            .await
            .unwrap_err()
            .has_code("NEED_LOGIN")
    );
    assert_eq!(server.call_api(echo("inside")).await.unwrap().b, "INSIDE");
    assert_eq!(&entries(&calls)[..2], ["first Echo", "second Echo"]);
    server.stop().await;
}

#[tokio::test]
async fn pre_api_call_extensions_reach_the_handler_and_the_connection_keeps_state() {
    let server = Server::builder()
        .select_handlers(|h| h.service() != "Nobody")
        .build()
        .unwrap();
    #[derive(Clone)]
    struct Tag(&'static str);
    server
        .flows()
        .pre_api_call
        .push(|mut call: ApiCallFlow| async move {
            call.extensions.insert(Tag("from the flow"));
            call.conn.insert_extension(Tag("on the connection"));
            Some(call)
        });
    server
        .implement_api(|call: tsrpc::ApiCall<ReqNobody>| async move {
            let tag = call.extensions.get::<Tag>().map(|t| t.0);
            let on_conn = call.conn.extension::<Tag>().map(|t| t.0);
            if (tag, on_conn) == (Some("from the flow"), Some("on the connection")) {
                Ok(ResNobody {})
            } else {
                Err(TsrpcError::api(format!("{tag:?} {on_conn:?}")))
            }
        })
        .unwrap();
    server.call_api(ReqNobody {}).await.unwrap();
}

#[tokio::test]
async fn pre_api_return_changes_outcomes_and_post_flows_observe_them() {
    let (server, url) = start(Server::builder()).await;
    server
        .flows()
        .pre_api_return
        .push(|mut ret: ApiReturnFlow| async move {
            if let Some(res) = ret.res_mut::<ReqEcho>() {
                res.a *= 10;
            }
            if ret.name() == "Sleep" {
                ret.set_error(TsrpcError::api("no sleeping").with_code("AWAKE"));
            }
            if ret.name() == "Nobody" {
                ret.set_res::<ReqNobody>(ResNobody {});
            }
            Some(ret)
        });
    let seen = log();
    for (name, flow) in [
        ("post_api_return", &server.flows().post_api_return),
        ("post_api_call", &server.flows().post_api_call),
    ] {
        let l = seen.clone();
        flow.push(move |ret: ApiReturned| {
            let a = ret.res::<ReqEcho>().map(|r| r.a);
            l.lock()
                .unwrap()
                .push(format!("{name} {} {} {a:?}", ret.name, ret.is_succ()));
            async move { Some(ret) }
        });
    }
    let client = WsClient::builder(&url).build();
    client.connect().await.unwrap();
    assert_eq!(client.call_api(echo("")).await.unwrap().a, 10);
    assert!(
        client
            .call_api(ReqSleep { ms: 0 })
            .await
            .unwrap_err()
            .has_code("AWAKE")
    );
    client.call_api(ReqNobody {}).await.unwrap();
    eventually(|| entries(&seen).len() == 6).await;
    assert_eq!(
        entries(&seen),
        [
            "post_api_return Echo true Some(10)",
            "post_api_call Echo true Some(10)",
            "post_api_return Sleep false None",
            "post_api_call Sleep false None",
            "post_api_return Nobody true None",
            "post_api_call Nobody true None",
        ]
    );
    let http = HttpClient::new(url.replace("ws://", "http://")).unwrap();
    assert_eq!(http.call_api(echo("")).await.unwrap().a, 10);
    eventually(|| entries(&seen).len() == 8).await;
    assert_eq!(
        entries(&seen)[6..],
        [
            "post_api_return Echo true Some(10)",
            "post_api_call Echo true Some(10)"
        ]
    );
    // In process: pre_api_return applies; nothing is sent, so the
    // post-return flows do not run.
    assert_eq!(server.call_api(echo("")).await.unwrap().a, 10);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(entries(&seen).len(), 8);
    server.stop().await;
}

#[tokio::test]
async fn message_flows_change_drop_and_observe_received_messages() {
    let (server, url) = start(Server::builder()).await;
    server
        .flows()
        .pre_msg_call
        .push(|mut call: MsgCallFlow| async move {
            let msg = call.msg_mut::<MsgMove>()?;
            if msg.x < 0 {
                return None;
            }
            msg.x *= 2;
            Some(call)
        });
    let after = log();
    let l = after.clone();
    server.flows().post_msg_call.push(move |call: MsgCallFlow| {
        l.lock().unwrap().push(format!(
            "{} {:?}",
            call.name(),
            call.msg::<MsgMove>().map(|m| m.x)
        ));
        async move { Some(call) }
    });
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    server
        .listen_msg(move |call: MsgCall<MsgMove>| {
            let g = g.clone();
            async move { g.lock().unwrap().push(call.msg.x) }
        })
        .unwrap();
    let client = WsClient::builder(&url).build();
    client.connect().await.unwrap();
    for x in [3, -1, 5] {
        client.send_msg(&MsgMove { x }).await.unwrap();
    }
    eventually(|| got.lock().unwrap().len() == 2).await;
    assert_eq!(*got.lock().unwrap(), vec![6, 10]);
    eventually(|| entries(&after).len() == 2).await;
    assert_eq!(entries(&after), ["game/Move Some(6)", "game/Move Some(10)"]);
    server.stop().await;
}

#[tokio::test]
async fn send_flows_run_per_receiver_of_a_broadcast_without_encoding_again() {
    let (server, url) = start(Server::builder()).await;
    let mut peers = Vec::new();
    for _ in 0..3 {
        let mut ws = raw(&url, Some("text")).await;
        send_text(&mut ws, r#"["Echo",{"a":0,"b":"","c":true},1]"#).await;
        next_text(&mut ws).await;
        peers.push(ws);
    }
    let mut ids: Vec<u64> = server.connections().iter().map(Connection::id).collect();
    ids.sort();
    let (skip, replace) = (ids[0], ids[1]);
    server
        .flows()
        .pre_send_msg
        .push(move |mut step: SendMsgFlow| async move {
            if step.conn.id() == skip {
                return Ok(None);
            }
            if step.conn.id() == replace {
                let original: MsgCounted = step.msg()?;
                step.set_msg(&MsgCounted {
                    n: original.n + 100,
                })?;
            }
            Ok::<_, TsrpcError>(Some(step))
        });
    let sent = log();
    let s = sent.clone();
    server.flows().post_send_msg.push(move |step: SendMsgFlow| {
        s.lock().unwrap().push(step.conn.id().to_string());
        async move { Some(step) }
    });
    let before = COUNTED_ENCODES.load(Ordering::SeqCst);
    server.broadcast_msg(&MsgCounted { n: 1 }).await.unwrap();
    // One encode for the broadcast, one for the receiver whose message a node replaced.
    assert_eq!(COUNTED_ENCODES.load(Ordering::SeqCst) - before, 2);
    assert_eq!(entries(&sent).len(), 2);

    // Then a marker to every peer, so "nothing arrived" can be checked.
    let mut all = Vec::new();
    for ws in &mut peers {
        send_text(ws, r#"["Echo",{"a":0,"b":"marker","c":true},2]"#).await;
        let mut frames = Vec::new();
        loop {
            let frame = next_text(ws).await;
            if frame.contains("marker") {
                break;
            }
            frames.push(frame);
        }
        assert!(frames.len() <= 1, "{frames:?}");
        all.extend(frames);
    }
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        all.contains(&r#"["Counted",{"n":1}]"#.to_owned()),
        "{all:?}"
    );
    assert!(
        all.contains(&r#"["Counted",{"n":101}]"#.to_owned()),
        "{all:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn data_flows_see_and_change_raw_frames_both_ways() {
    let (server, url) = start(Server::builder()).await;
    // Incoming: frames mentioning "drop me" are dropped.
    server
        .flows()
        .pre_recv_data
        .push(|data: DataFlow| async move {
            (!String::from_utf8_lossy(data.data.as_bytes()).contains("drop me")).then_some(data)
        });
    // Outgoing: "secret" is masked in every frame, returns included.
    server
        .flows()
        .pre_send_data
        .push(|mut data: DataFlow| async move {
            if let tsrpc::WireFrame::Text(text) = &data.data {
                let text = String::from_utf8_lossy(text);
                data.data = tsrpc::WireFrame::Text(if text.contains("garble") {
                    // Not UTF-8: never sent as a text frame.
                    vec![b'[', 0xff, b']'].into()
                } else {
                    text.replace("secret", "******").into()
                });
            }
            Some(data)
        });
    let mut ws = raw(&url, Some("text")).await;
    send_text(&mut ws, r#"["Echo",{"a":1,"b":"drop me","c":true},1]"#).await;
    send_text(&mut ws, r#"["Echo",{"a":2,"b":"a secret","c":true},2]"#).await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"["Echo",{"isSucc":true,"res":{"a":2,"b":"a ******","c":true}},2]"#
    );
    // A node that makes text that is not UTF-8: an empty binary frame is
    // sent instead, and the connection goes on.
    send_text(&mut ws, r#"["Echo",{"a":3,"b":"garble","c":true},3]"#).await;
    assert_eq!(next(&mut ws).await, Message::Binary(Default::default()));
    send_text(&mut ws, r#"["Echo",{"a":4,"b":"fine","c":true},4]"#).await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"["Echo",{"isSucc":true,"res":{"a":4,"b":"fine","c":true}},4]"#
    );
    // HTTP bodies pass through the same flows.
    let http = HttpClient::builder(url.replace("ws://", "http://"))
        .json(true)
        .build()
        .unwrap();
    assert_eq!(
        http.call_api(echo("my secret")).await.unwrap().b,
        "my ******"
    );
    server.stop().await;
}

#[tokio::test]
async fn connection_flows_see_every_connection_come_and_go() {
    let (server, url) = start(Server::builder()).await;
    let events = log();
    let e = events.clone();
    server.flows().post_connect.push(move |conn: Connection| {
        e.lock().unwrap().push(format!("connect {}", conn.id()));
        async move { Some(conn) }
    });
    let e = events.clone();
    server
        .flows()
        .post_disconnect
        .push(move |ev: ConnDisconnect| {
            e.lock().unwrap().push(format!(
                "disconnect {} {} {}",
                ev.conn.id(),
                ev.reason,
                ev.by_server
            ));
            async move { Some(ev) }
        });
    let client = WsClient::builder(&url).build();
    client.connect().await.unwrap();
    eventually(|| entries(&events).len() == 1).await;
    let id = server.connections()[0].id();
    server.connections()[0].close("bye");
    eventually(|| entries(&events).len() == 2).await;
    assert_eq!(
        entries(&events),
        [format!("connect {id}"), format!("disconnect {id} bye true")]
    );
    // A peer that goes away without a close frame (a closed tab) is not
    // reported as closed by the server.
    let ws = raw(&url, None).await;
    eventually(|| entries(&events).len() == 3).await;
    drop(ws);
    eventually(|| entries(&events).len() == 4).await;
    let last = entries(&events)[3].clone();
    assert!(last.ends_with("without a close frame false"), "{last}");
    server.stop().await;
}

#[tokio::test]
async fn nodes_can_be_removed_at_run_time() {
    let server = Server::builder().build().unwrap();
    let node = server
        .flows()
        .pre_api_call
        .push(|_: ApiCallFlow| async { None });
    assert!(server.call_api(echo("")).await.is_err());
    assert!(server.flows().pre_api_call.remove(node));
    assert!(!server.flows().pre_api_call.remove(node));
    server.call_api(echo("")).await.unwrap();
}

/// Whether a call runs through the flows is decided when a flow changes:
/// an open connection (both encodings) sees each flow, alone, from the
/// next call on, for calls answered at once and calls that wait, and goes
/// back to its handler alone when the flow is removed.
#[tokio::test]
async fn flows_added_and_removed_apply_to_open_connections() {
    let (server, url) = start(Server::builder()).await;
    let clients = [
        WsClient::builder(&url).json(true).build(),
        WsClient::builder(&url).json(false).build(),
    ];
    for client in &clients {
        client.connect().await.unwrap();
    }
    let flows = server.flows();
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let calls = || async {
        for client in &clients {
            client.call_api(echo("b")).await.unwrap();
            client.call_api(ReqSleep { ms: 5 }).await.unwrap();
        }
    };
    // Once without flows (a binary client sends its hello with its first call).
    calls().await;
    // Each flow alone: it sees the 4 calls (their frames, answers, returns).
    let c = seen.clone();
    let id = flows.pre_recv_data.push(move |data: DataFlow| {
        c.fetch_add(1, Ordering::SeqCst);
        async move { Some(data) }
    });
    calls().await;
    assert!(flows.pre_recv_data.remove(id));
    assert_eq!(seen.swap(0, Ordering::SeqCst), 4, "pre_recv_data");
    let c = seen.clone();
    let id = flows.pre_send_data.push(move |data: DataFlow| {
        c.fetch_add(1, Ordering::SeqCst);
        async move { Some(data) }
    });
    calls().await;
    assert!(flows.pre_send_data.remove(id));
    assert_eq!(seen.swap(0, Ordering::SeqCst), 4, "pre_send_data");
    let c = seen.clone();
    let id = flows.post_api_call.push(move |ret: ApiReturned| {
        c.fetch_add(1, Ordering::SeqCst);
        async move { Some(ret) }
    });
    calls().await;
    eventually(|| seen.load(Ordering::SeqCst) == 4).await;
    assert!(flows.post_api_call.remove(id));
    seen.store(0, Ordering::SeqCst);
    let id = flows.pre_api_call.push(|mut call: ApiCallFlow| async move {
        if let Some(req) = call.req_mut::<ReqEcho>() {
            req.b = req.b.to_uppercase();
        }
        Some(call)
    });
    for client in &clients {
        assert_eq!(client.call_api(echo("b")).await.unwrap().b, "B");
    }
    assert!(flows.pre_api_call.remove(id));
    // Gone: the handler alone again.
    for client in &clients {
        assert_eq!(client.call_api(echo("c")).await.unwrap().b, "c");
    }
    calls().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(seen.load(Ordering::SeqCst), 0, "removed flows see nothing");
    server.stop().await;
}

fn record_client_flows(flows: &ClientFlows, log: &Log) {
    let l = log.clone();
    flows.pre_send_data.push(move |data: client::DataFlow| {
        l.lock().unwrap().push("pre_send_data".into());
        async move { Some(data) }
    });
    let l = log.clone();
    flows.pre_recv_data.push(move |data: client::DataFlow| {
        l.lock().unwrap().push("pre_recv_data".into());
        async move { Some(data) }
    });
    let l = log.clone();
    flows.post_api_return.push(move |ret: client::ApiReturned| {
        l.lock()
            .unwrap()
            .push(format!("post_api_return {} {}", ret.name, ret.is_succ()));
        async move { Some(ret) }
    });
}

#[tokio::test]
async fn client_call_flows_answer_locally_change_and_observe_calls() {
    let (server, url) = start(Server::builder()).await;
    let ws = WsClient::builder(&url).json(true).build();
    let http = HttpClient::builder(url.replace("ws://", "http://"))
        .json(true)
        .build()
        .unwrap();
    for flows in [ws.flows(), http.flows()] {
        flows
            .pre_call_api
            .push(|mut call: client::CallApiFlow| async move {
                if call.req::<ReqEcho>().is_some_and(|req| req.b == "cached") {
                    let res = ResEcho {
                        a: 42,
                        b: "from the cache".into(),
                        c: false,
                    };
                    call.answer::<ReqEcho>(res);
                }
                if let Some(req) = call.req_mut::<ReqEcho>() {
                    req.a += 1;
                }
                if call.name() == "Sleep" {
                    return Err(TsrpcError::client("no sleeping").with_code("AWAKE"));
                }
                Ok(Some(call))
            });
        flows
            .pre_api_return
            .push(|mut ret: client::ApiReturnFlow| async move {
                if let Some(res) = ret.res_mut::<ReqEcho>() {
                    res.b.push('!');
                }
                Some(ret)
            });
    }
    let ws_log = log();
    record_client_flows(ws.flows(), &ws_log);
    // Answered by the flow: works even before connecting.
    assert_eq!(
        ws.call_api(echo("cached")).await.unwrap().b,
        "from the cache!"
    );
    ws.connect().await.unwrap();
    let res = ws.call_api(echo("net")).await.unwrap();
    assert_eq!((res.a, res.b.as_str()), (2, "net!"));
    assert!(
        ws.call_api(ReqSleep { ms: 0 })
            .await
            .unwrap_err()
            .has_code("AWAKE")
    );
    assert_eq!(
        entries(&ws_log),
        [
            "post_api_return Echo true",
            "pre_send_data",
            "pre_recv_data",
            "post_api_return Echo true"
        ]
    );

    let res = http.call_api(echo("net")).await.unwrap();
    assert_eq!((res.a, res.b.as_str()), (2, "net!"));
    assert_eq!(http.call_api(echo("cached")).await.unwrap().a, 42);
    assert!(
        http.call_api(ReqSleep { ms: 0 })
            .await
            .unwrap_err()
            .has_code("AWAKE")
    );
    server.stop().await;
}

#[tokio::test]
async fn client_message_flows_change_and_drop_messages_both_ways() {
    let (server, url) = start(Server::builder()).await;
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    server
        .listen_msg(move |call: MsgCall<MsgMove>| {
            let g = g.clone();
            async move { g.lock().unwrap().push(call.msg.x) }
        })
        .unwrap();
    let client = WsClient::builder(&url).build();
    client
        .flows()
        .pre_send_msg
        .push(|mut step: client::SendMsgFlow| async move {
            let msg = step.msg_mut::<MsgMove>()?;
            if msg.x == 0 {
                return None;
            }
            msg.x += 1000;
            Some(step)
        });
    let sent = log();
    let s = sent.clone();
    client
        .flows()
        .post_send_msg
        .push(move |step: client::SendMsgFlow| {
            s.lock()
                .unwrap()
                .push(format!("{:?}", step.msg::<MsgMove>().map(|m| m.x)));
            async move { Some(step) }
        });
    client
        .flows()
        .pre_recv_msg
        .push(|mut msg: client::RecvMsgFlow| async move {
            let chat: MsgChat = msg.msg().ok()?;
            if chat.content == "hidden" {
                return None;
            }
            let louder = MsgChat {
                content: chat.content.to_uppercase(),
                ..chat
            };
            msg.set_msg(&louder).ok()?;
            Some(msg)
        });
    let received = log();
    let r = received.clone();
    client
        .listen_msg(move |chat: MsgChat| r.lock().unwrap().push(chat.content))
        .unwrap();
    let after = log();
    let a = after.clone();
    client
        .flows()
        .post_recv_msg
        .push(move |msg: client::RecvMsgFlow| {
            a.lock().unwrap().push(msg.name().to_owned());
            async move { Some(msg) }
        });
    client.connect().await.unwrap();
    client.send_msg(&MsgMove { x: 0 }).await.unwrap();
    client.send_msg(&MsgMove { x: 1 }).await.unwrap();
    eventually(|| !got.lock().unwrap().is_empty()).await;
    assert_eq!(*got.lock().unwrap(), vec![1001]);
    assert_eq!(entries(&sent), ["Some(1001)"]);
    for content in ["hidden", "hello"] {
        client
            .call_api(ReqShout {
                content: content.into(),
            })
            .await
            .unwrap();
    }
    eventually(|| !entries(&received).is_empty()).await;
    client.call_api(echo("")).await.unwrap();
    assert_eq!(entries(&received), ["HELLO"]);
    assert_eq!(entries(&after), ["Chat"]);
    server.stop().await;
}

#[tokio::test]
async fn pre_connect_may_refuse_and_the_seed_pattern_reconnects() {
    let (server, url) = start(Server::builder()).await;
    let client = WsClient::builder(&url).build();
    let refuse = client
        .flows()
        .pre_connect
        .push(|_: WsClient| async { Err::<WsClient, _>(TsrpcError::client("offline mode")) });
    assert_eq!(client.connect().await.unwrap_err().message, "offline mode");
    client.flows().pre_connect.remove(refuse);

    // TSRPC's pattern: reconnect a while after an unexpected disconnect.
    client
        .flows()
        .post_disconnect
        .push(|ev: tsrpc::client::DisconnectEvent| async move {
            if !ev.is_manual {
                let client = ev.client.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let _ = client.connect().await;
                });
            }
            Some(ev)
        });
    client.connect().await.unwrap();
    let addr: std::net::SocketAddr = url.trim_start_matches("ws://").parse().unwrap();
    server.stop().await;
    eventually(|| !client.is_connected()).await;
    let server = Server::builder().bind(addr).build().unwrap();
    server.start().await.unwrap();
    eventually(|| client.is_connected()).await;
    client.call_api(echo("")).await.unwrap();
    server.stop().await;
}

/// `pre_connect` sees the upgrade request (headers, cookies, query, the
/// peer) and refuses with 403 by default; what it accepts, handlers and
/// flows read from the connection.
#[tokio::test]
async fn pre_connect_reads_the_handshake_and_refuses_or_admits() {
    use tsrpc::server::flows::ConnectFlow;

    #[derive(Clone, Debug, PartialEq)]
    struct Visitor(String);

    let (server, url) = start(Server::builder()).await;
    server
        .flows()
        .pre_connect
        .push(|mut connect: ConnectFlow| async move {
            assert!(connect.remote_addr.is_some());
            match connect.cookie("visitor").map(|v| v.into_owned()) {
                Some(name) if name == "crash" => Err(TsrpcError::server("the database is down")),
                Some(name) if name != "mallory" => {
                    connect.extensions.insert(Visitor(name));
                    Ok(connect)
                }
                Some(_) => Err(TsrpcError::api("Not you")),
                None => Err(ConnectFlow::unauthorized("Who are you?")),
            }
        });
    let addr = url.trim_start_matches("ws://");
    let upgrade = |cookie: &str| {
        format!(
            "GET /?room=7 HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{cookie}"
        )
    };
    let res = raw_http(
        addr.parse().unwrap(),
        upgrade("X-No: cookie").trim_end(),
        "",
    )
    .await;
    assert_eq!((res.status, res.body.as_str()), (401, "Who are you?"));
    let res = raw_http(
        addr.parse().unwrap(),
        upgrade("Cookie: a=1; visitor=mallory").trim_end(),
        "",
    )
    .await;
    assert_eq!((res.status, res.body.as_str()), (403, "Not you"));
    // A node's server error is the server's: 500, its text kept inside.
    let res = raw_http(
        addr.parse().unwrap(),
        upgrade("Cookie: visitor=crash").trim_end(),
        "",
    )
    .await;
    assert_eq!(
        (res.status, res.body.as_str()),
        (500, "Internal Server Error")
    );

    let client = WsClient::builder(format!("{url}/?room=7&who=J%C3%B6rg+K"))
        .header("cookie", "a=1; visitor=ann; nick=%E2%9C%93; city=Zürich")
        .build();
    client.connect().await.unwrap();
    let conns = server.connections();
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].extension::<Visitor>(), Some(Visitor("ann".into())));
    assert_eq!(conns[0].cookie("a").as_deref(), Some("1"));
    assert_eq!(conns[0].query(), Some("room=7&who=J%C3%B6rg+K"));
    assert_eq!(conns[0].query_param("room").as_deref(), Some("7"));
    // Decoded as the browser's URLSearchParams and Express's cookie-parser
    // decode them; a header in UTF-8 is read too.
    assert_eq!(conns[0].query_param("who").as_deref(), Some("Jörg K"));
    assert_eq!(conns[0].cookie("nick").as_deref(), Some("✓"));
    assert_eq!(conns[0].cookie("city").as_deref(), Some("Zürich"));
    server.stop().await;
}
