//! The WebSocket server against raw tokio-tungstenite sockets sending the
//! exact frames of WIRE.md.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::SinkExt;
use support::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tsrpc::{AnyMsgCall, MsgCall, Regex, Server};
use tsrpc_tests::proto::*;

#[tokio::test]
async fn json_calls_succeed_and_fail_as_tsrpc_clients_expect() {
    let (server, url) = start(Server::builder()).await;
    let mut ws = raw(&url, Some("text")).await;

    send_text(
        &mut ws,
        r#"["Echo",{"a":1,"b":"Hello, World!","c":true},1]"#,
    )
    .await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"["Echo",{"isSucc":true,"res":{"a":1,"b":"Hello, World!","c":true}},1]"#
    );

    send_text(&mut ws, r#"["room/Send",{"content":""},2]"#).await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"["room/Send",{"isSucc":false,"err":{"message":"Content is empty","type":"ApiError"}},2]"#
    );

    // Wrong field type: INPUT_DATA_ERR on that sn, naming the field; the connection stays.
    send_text(&mut ws, r#"["Echo",{"a":"one","b":"","c":true},3]"#).await;
    let reply = json(&next_text(&mut ws).await);
    assert_eq!(reply[2], 3);
    let err = &reply[1]["err"];
    assert_eq!(
        (err["type"].as_str(), err["code"].as_str()),
        (Some("ServerError"), Some("INPUT_DATA_ERR"))
    );
    assert_eq!(err["path"], "a", "{err}");
    // In TSRPC's own words, which its clients show and compare.
    assert_eq!(
        err["message"],
        "Property `a`: Expected type to be `number`, actually `string`."
    );

    send_text(&mut ws, r#"["NoSuchApi",{},4]"#).await;
    let reply = json(&next_text(&mut ws).await);
    assert_eq!(reply[1]["err"]["code"], "UNHANDLED_API");

    // Registered API without a handler.
    send_text(&mut ws, r#"["Nobody",{},5]"#).await;
    assert_eq!(
        json(&next_text(&mut ws).await)[1]["err"]["code"],
        "UNHANDLED_API"
    );

    send_text(&mut ws, r#"["Echo",{"a":7,"b":"still here","c":false},6]"#).await;
    assert_eq!(json(&next_text(&mut ws).await)[1]["res"]["a"], 7);
    server.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_answers_internal_err_and_the_server_goes_on() {
    let (server, url) = start(Server::builder()).await;
    let mut ws = raw(&url, Some("text")).await;
    let mut other = raw(&url, Some("text")).await;
    send_text(&mut ws, r#"["Panic",{},1]"#).await;
    let reply = json(&next_text(&mut ws).await);
    assert_eq!(reply[1]["err"]["code"], "INTERNAL_ERR");
    assert_eq!(reply[1]["err"]["type"], "ServerError");
    send_text(&mut ws, r#"["Echo",{"a":1,"b":"","c":true},2]"#).await;
    assert_eq!(json(&next_text(&mut ws).await)[1]["isSucc"], true);
    send_text(&mut other, r#"["Echo",{"a":2,"b":"","c":true},1]"#).await;
    assert_eq!(json(&next_text(&mut other).await)[1]["res"]["a"], 2);
    server.stop().await;
}

/// TSRPC's `returnInnerError`: an `INTERNAL_ERR` carries the panic's text
/// as `innerErr` when the server is told to (the default in debug builds),
/// over WebSocket and HTTP, at once and after waiting; never otherwise.
#[tokio::test]
async fn internal_errors_carry_the_inner_error_only_when_asked() {
    for setting in [Some(true), Some(false), None] {
        let on = setting.unwrap_or(cfg!(debug_assertions));
        let builder = match setting {
            Some(on) => Server::builder().return_inner_error(on),
            None => Server::builder(),
        };
        let (server, url) = start(builder).await;
        server
            .implement_api(|_call: tsrpc::ApiCall<ReqNobody>| async move {
                tokio::task::yield_now().await;
                panic!("after waiting");
                #[allow(unreachable_code)]
                Ok(ResNobody {})
            })
            .unwrap();
        let expect = |err: &serde_json::Value, text: &str| {
            assert_eq!(err["code"], "INTERNAL_ERR", "{err}");
            assert_eq!(err["message"], "Internal Server Error", "{err}");
            if on {
                assert_eq!(err["innerErr"], text, "{err}");
            } else {
                assert!(err.get("innerErr").is_none(), "{err}");
            }
        };
        let mut ws = raw(&url, Some("text")).await;
        send_text(&mut ws, r#"["Panic",{},1]"#).await;
        expect(
            &json(&next_text(&mut ws).await)[1]["err"],
            "this handler always panics",
        );
        send_text(&mut ws, r#"["Nobody",{},2]"#).await;
        expect(&json(&next_text(&mut ws).await)[1]["err"], "after waiting");
        // Through the flows (the call runs as a value there).
        let node = server
            .flows()
            .pre_api_call
            .push(|call: tsrpc::server::flows::ApiCallFlow| async move { Some(call) });
        send_text(&mut ws, r#"["Panic",{},3]"#).await;
        expect(
            &json(&next_text(&mut ws).await)[1]["err"],
            "this handler always panics",
        );
        server.flows().pre_api_call.remove(node);
        let addr = server.local_addr().unwrap();
        let res = raw_http(addr, "POST /Panic HTTP/1.1", "{}").await;
        expect(&res.json()["err"], "this handler always panics");
        let client = tsrpc::WsClient::builder(&url).json(false).build();
        client.connect().await.unwrap();
        let err = client.call_api(ReqPanic {}).await.unwrap_err();
        let inner = err.data.get("innerErr").and_then(|v| v.as_str());
        assert_eq!(inner, on.then_some("this handler always panics"), "{err:?}");
        client.disconnect().await;
        server.stop().await;
    }
}

/// A call whose request or response panics in its own serde code (outside
/// the handler) is answered `INTERNAL_ERR` like a panicking handler, on
/// every path: at once, after waiting, and through the flows.
#[tokio::test]
async fn a_call_whose_serde_code_panics_answers_internal_err() {
    for with_flows in [false, true] {
        let (server, url) = start(Server::builder()).await;
        if with_flows {
            server
                .flows()
                .pre_api_call
                .push(|call: tsrpc::server::flows::ApiCallFlow| async move { Some(call) });
        }
        let mut ws = raw(&url, Some("text")).await;
        for (sn, request) in [
            (1, r#"{"input":"boom","explode_out":false,"wait_ms":0}"#),
            (2, r#"{"input":"x","explode_out":true,"wait_ms":0}"#),
            (3, r#"{"input":"x","explode_out":true,"wait_ms":20}"#),
        ] {
            send_text(&mut ws, &format!(r#"["Fragile",{request},{sn}]"#)).await;
            let reply = json(&next_text(&mut ws).await);
            assert_eq!(reply[2], sn, "{reply}");
            assert_eq!(reply[1]["err"]["code"], "INTERNAL_ERR", "{reply}");
        }
        send_text(
            &mut ws,
            r#"["Fragile",{"input":"x","explode_out":false,"wait_ms":0},4]"#,
        )
        .await;
        assert_eq!(
            next_text(&mut ws).await,
            r#"["Fragile",{"isSucc":true,"res":{"output":"x"}},4]"#
        );
        server.stop().await;
    }
}

/// A handler that waits goes on in a task of its own; a panic there still
/// answers `INTERNAL_ERR`, and a handler that waits then returns is answered.
#[tokio::test]
async fn a_handler_that_panics_after_waiting_answers_internal_err() {
    let (server, url) = start(Server::builder()).await;
    server
        .implement_api(|call: tsrpc::ApiCall<ReqNobody>| async move {
            tokio::task::yield_now().await;
            if call.sn == 1 {
                panic!("after waiting");
            }
            Ok(ResNobody {})
        })
        .unwrap();
    let mut ws = raw(&url, Some("text")).await;
    send_text(&mut ws, r#"["Nobody",{},1]"#).await;
    let reply = json(&next_text(&mut ws).await);
    assert_eq!(reply[1]["err"]["code"], "INTERNAL_ERR", "{reply}");
    send_text(&mut ws, r#"["Nobody",{},2]"#).await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"["Nobody",{"isSucc":true,"res":{}},2]"#
    );
    server.stop().await;
}

#[tokio::test]
async fn a_handler_past_the_api_timeout_answers_server_timeout() {
    let builder = Server::builder().api_timeout(Some(Duration::from_millis(100)));
    let (server, url) = start(builder).await;
    let mut ws = raw(&url, None).await;
    send_text(&mut ws, r#"["Sleep",{"ms":60000},9]"#).await;
    let reply = json(&next_text(&mut ws).await);
    assert_eq!(
        (reply[1]["err"]["code"].as_str(), reply[2].as_u64()),
        (Some("SERVER_TIMEOUT"), Some(9))
    );
    server.stop().await;
}

#[tokio::test]
async fn heartbeats_and_pings_are_answered() {
    let (server, url) = start(Server::builder()).await;
    let mut ws = raw(&url, Some("text")).await;
    send_binary(&mut ws, vec![0]).await;
    assert_eq!(next(&mut ws).await, Message::Binary(vec![0].into()));
    ws.send(Message::Ping("are you there".into()))
        .await
        .unwrap();
    loop {
        let msg = tokio::time::timeout(PATIENCE, futures_util::StreamExt::next(&mut ws))
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Pong(data) = msg {
            assert_eq!(&data[..], b"are you there");
            break;
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_silent_peer_is_closed_after_the_heartbeat_wait_time() {
    let builder = Server::builder().heartbeat_wait_time(Some(Duration::from_millis(300)));
    let (server, url) = start(builder).await;
    let mut silent = raw(&url, Some("text")).await;
    let close = closed(&mut silent).await;
    assert_eq!(u16::from(close.code), 3001);
    assert!(close.reason.contains("heartbeat"), "{}", close.reason);
    assert!(server.connections().len() <= 1);
    server.stop().await;
}

#[tokio::test]
async fn oversized_and_malformed_frames_close_that_connection_only() {
    let (server, url) = start(Server::builder().max_message_size(1024)).await;
    let mut big = raw(&url, Some("text")).await;
    let mut bad = raw(&url, Some("text")).await;
    let mut good = raw(&url, Some("text")).await;

    let huge = format!(
        r#"["Echo",{{"a":1,"b":"{}","c":true}},1]"#,
        "x".repeat(4000)
    );
    send_text(&mut big, &huge).await;
    let close = closed(&mut big).await;
    assert_eq!(u16::from(close.code), 1009);
    assert!(close.reason.contains("too big"), "{}", close.reason);

    // Closed as TSRPC closes: 1000, with TSRPC's text (JSON.parse's words).
    send_text(&mut bad, "this is not JSON").await;
    let close = closed(&mut bad).await;
    assert_eq!(u16::from(close.code), 1000);
    assert_eq!(
        close.reason.as_str(),
        "Input is not a valid JSON string: Unexpected token 'h', \"this is not JSON\" is not valid JSON"
    );

    send_text(&mut good, r#"["Echo",{"a":1,"b":"fine","c":true},1]"#).await;
    assert_eq!(json(&next_text(&mut good).await)[1]["res"]["b"], "fine");
    server.stop().await;
}

/// Requests are taken apart from both ends without reading the body first;
/// a frame that only looks like a request from its ends is still refused
/// as malformed (closed as TSRPC closes, 1000 with the reason), never
/// answered as a bad request.
#[tokio::test]
async fn frames_malformed_between_their_ends_close_the_connection() {
    let (server, url) = start(Server::builder()).await;
    for (frame, reason) in [
        (
            r#"["Echo",{"a":1,"b":"x","c":true},{},7]"#,
            "has more than 3 elements",
        ),
        (
            r#"["Echo",{"a":1,"b":"x","c":true}}},7]"#,
            "Input is not a valid JSON string: \
             Expected ',' or ']' after array element in JSON at position 32",
        ),
        (
            r#"["Echo", ,7]"#,
            r#"Input is not a valid JSON string: Unexpected token ',', "["Echo", ,7]" is not valid JSON"#,
        ),
        (r#"["NoSuchApi",{},{},8]"#, "has more than 3 elements"),
    ] {
        let mut ws = raw(&url, Some("text")).await;
        send_text(&mut ws, frame).await;
        let close = closed(&mut ws).await;
        assert_eq!(u16::from(close.code), 1000, "{frame}");
        assert!(close.reason.contains(reason), "{frame}: {}", close.reason);
    }
    // The same request, well formed, is answered.
    let mut ws = raw(&url, Some("text")).await;
    send_text(&mut ws, r#" [ "Echo" , {"a":1,"b":"x","c":true} , 7 ] "#).await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"["Echo",{"isSucc":true,"res":{"a":1,"b":"x","c":true}},7]"#
    );
    server.stop().await;
}

/// A client that sends more calls at once than the outbound queue holds,
/// reading the answers only afterwards, still gets every answer: the
/// connection writes while it reads instead of filling its queue first.
#[tokio::test]
async fn a_burst_larger_than_the_send_queue_is_answered_in_full() {
    let (server, url) = start(Server::builder().send_queue_size(8 << 10)).await;
    let mut ws = raw(&url, Some("text")).await;
    const CALLS: usize = 1000;
    for sn in 1..=CALLS {
        let frame = format!(r#"["Echo",{{"a":{sn},"b":"burst","c":true}},{sn}]"#);
        ws.feed(Message::text(frame)).await.unwrap();
    }
    ws.flush().await.unwrap();
    let mut seen = vec![false; CALLS + 1];
    for _ in 0..CALLS {
        let reply = json(&next_text(&mut ws).await);
        let sn = reply[2].as_u64().unwrap() as usize;
        assert_eq!(reply[1]["res"]["a"], sn, "{reply}");
        assert!(
            !std::mem::replace(&mut seen[sn], true),
            "sn {sn} answered twice"
        );
    }
    server.stop().await;
}

/// A client that sends calls faster than it reads their answers is slowed
/// down (the server stops reading it while half its queue waits), not
/// disconnected: far more answers than the queue and the sockets' buffers
/// hold are all delivered once it reads.
#[tokio::test]
async fn a_client_that_reads_late_is_slowed_down_not_disconnected() {
    let (server, url) = start(Server::builder().send_queue_size(16 << 10)).await;
    let (mut sink, mut stream) = futures_util::StreamExt::split(raw(&url, Some("text")).await);
    // 10,000 answers of 1 KB: more than loopback sockets buffer.
    const CALLS: usize = 10_000;
    let b = "x".repeat(1024);
    let mut writer = tokio::spawn(async move {
        for sn in 1..=CALLS {
            let frame = format!(r#"["Echo",{{"a":{sn},"b":"{b}","c":true}},{sn}]"#);
            sink.feed(Message::text(frame)).await.unwrap();
        }
        sink.flush().await.unwrap();
    });
    // Not reading until every call is sent, or for a while once the server
    // stops reading this connection and the writer above blocks.
    let _ = tokio::time::timeout(Duration::from_secs(2), &mut writer).await;
    let mut seen = vec![false; CALLS + 1];
    for _ in 0..CALLS {
        let msg = tokio::time::timeout(PATIENCE, futures_util::StreamExt::next(&mut stream))
            .await
            .expect("an answer arrives in time")
            .expect("the connection is open")
            .expect("a valid frame");
        let Message::Text(text) = msg else {
            panic!("expected an answer, got {msg:?}");
        };
        let reply = json(&text);
        let sn = reply[2].as_u64().unwrap() as usize;
        assert_eq!(reply[1]["res"]["a"], sn, "{reply}");
        assert!(
            !std::mem::replace(&mut seen[sn], true),
            "sn {sn} answered twice"
        );
    }
    writer.await.unwrap();
    server.stop().await;
}

/// At most `max_pending_calls` calls of one connection run at once: past
/// that, the connection is not read until one returns, so a call sent
/// after them is answered after one of them.
#[tokio::test]
async fn calls_past_max_pending_calls_wait_for_a_running_one() {
    let (server, url) = start(Server::builder().max_pending_calls(2)).await;
    let mut ws = raw(&url, Some("text")).await;
    for sn in 1..=3 {
        let frame = format!(r#"["Sleep",{{"ms":300}},{sn}]"#);
        ws.feed(Message::text(frame)).await.unwrap();
    }
    ws.feed(Message::text(r#"["Echo",{"a":4,"b":"","c":true},4]"#))
        .await
        .unwrap();
    ws.flush().await.unwrap();
    let mut order = Vec::new();
    for _ in 0..4 {
        order.push(json(&next_text(&mut ws).await)[2].as_u64().unwrap());
    }
    assert!(matches!(order[0], 1 | 2), "{order:?}");
    order.sort_unstable();
    assert_eq!(order, [1, 2, 3, 4]);
    server.stop().await;
}

/// Frames a handler sends before it returns arrive before its return,
/// and answers leave in the order their calls finished, though answers
/// made at once skip the queue when it is empty.
#[tokio::test]
async fn a_return_follows_the_messages_sent_before_it() {
    let (server, url) = start(Server::builder()).await;
    let mut ws = raw(&url, Some("text")).await;
    for frame in [
        r#"["Echo",{"a":1,"b":"first","c":true},1]"#,
        r#"["Shout",{"content":"hi"},2]"#,
        r#"["Echo",{"a":3,"b":"third","c":true},3]"#,
    ] {
        ws.feed(Message::text(frame)).await.unwrap();
    }
    ws.flush().await.unwrap();
    let mut order = Vec::new();
    for _ in 0..4 {
        let frame = json(&next_text(&mut ws).await);
        order.push(match frame.as_array().map(Vec::len) {
            Some(3) => format!("return {}", frame[2]),
            _ => format!("message {}", frame[0]),
        });
    }
    assert_eq!(
        order,
        ["return 1", r#"message "Chat""#, "return 2", "return 3"]
    );
    server.stop().await;
}

#[tokio::test]
async fn conn_close_sends_the_reason() {
    let (server, url) = start(Server::builder()).await;
    let mut ws = raw(&url, Some("text")).await;
    // The handler closes before its return is queued: the close wins.
    send_text(&mut ws, r#"["Kick",{"reason":"Bye bye"},1]"#).await;
    let close = closed(&mut ws).await;
    assert_eq!(
        (u16::from(close.code), close.reason.as_str()),
        (1000, "Bye bye")
    );
    server.stop().await;
}

#[tokio::test]
async fn broadcast_reaches_every_connection_once_and_encodes_once_per_encoding() {
    let (server, url) = start(Server::builder()).await;
    let mut json_peers = Vec::new();
    for _ in 0..5 {
        json_peers.push(raw(&url, Some("text")).await);
    }
    let mut binary_peers = Vec::new();
    for _ in 0..3 {
        let mut ws = raw(&url, Some("buffer")).await;
        let mut hello = vec![5];
        hello.extend_from_slice(&server.service_table().fingerprint().0.to_be_bytes());
        send_binary(&mut ws, hello).await;
        binary_peers.push(ws);
    }
    // Sent without the fingerprint header, the hellos choose binary mode
    // once they are read.
    support::eventually("the hellos are read", || {
        server.stats().websockets_binary == 3 && server.connections().len() == 8
    })
    .await;
    let before = COUNTED_ENCODES.load(Ordering::SeqCst);
    server.broadcast_msg(&MsgCounted { n: 42 }).await.unwrap();
    assert_eq!(
        COUNTED_ENCODES.load(Ordering::SeqCst) - before,
        2,
        "one JSON and one binary encode"
    );

    for ws in &mut json_peers {
        assert_eq!(next_text(ws).await, r#"["Counted",{"n":42}]"#);
    }
    let id = server.service_table().msg("Counted").unwrap().id();
    for ws in &mut binary_peers {
        // kind 0x04, service id, then bincode's varint 42.
        assert_eq!(
            next(ws).await,
            Message::Binary(vec![4, id as u8, 42].into())
        );
    }
    // Exactly once: a second broadcast is the next frame everyone sees.
    server.broadcast_msg(&MsgCounted { n: 43 }).await.unwrap();
    for ws in &mut json_peers {
        assert_eq!(next_text(ws).await, r#"["Counted",{"n":43}]"#);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_handler_broadcasts_to_everyone_including_the_caller() {
    let (server, url) = start(Server::builder()).await;
    let mut caller = raw(&url, Some("text")).await;
    let mut other = raw(&url, Some("text")).await;
    send_text(&mut other, r#"["Echo",{"a":0,"b":"","c":true},1]"#).await;
    next_text(&mut other).await;
    send_text(&mut caller, r#"["Shout",{"content":"hi all"},1]"#).await;
    let mut got_chat = false;
    let mut got_return = false;
    while !(got_chat && got_return) {
        let frame = json(&next_text(&mut caller).await);
        match frame[0].as_str() {
            Some("Chat") => got_chat = frame[1]["content"] == "hi all",
            Some("Shout") => got_return = frame[1]["isSucc"] == true,
            _ => panic!("unexpected {frame}"),
        }
    }
    let chat = json(&next_text(&mut other).await);
    assert_eq!(chat[0], "Chat");
    assert!(chat[1]["time"].as_str().unwrap().ends_with('Z'), "{chat}");
    server.stop().await;
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_closed_and_never_stalls_the_others() {
    let (server, url) = start(Server::builder().send_queue_size(512 << 10)).await;
    let _stalled = raw(&url, Some("text")).await; // never read again
    let mut reader = raw(&url, Some("text")).await;
    while server.connections().len() < 2 {
        tokio::task::yield_now().await;
    }
    let big = "x".repeat(64 * 1024);
    let rounds = 200;
    let reading = tokio::spawn(async move {
        for _ in 0..rounds {
            let frame = next_text(&mut reader).await;
            assert!(
                frame.starts_with(r#"["Chat",{"content":"xxx"#),
                "{}",
                &frame[..40]
            );
        }
        reader
    });
    for _ in 0..rounds {
        let chat = MsgChat {
            content: big.clone(),
            time: tsrpc::Timestamp::now(),
            attachment: None,
        };
        server.broadcast_msg(&chat).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let _reader = reading.await.expect("the reading peer got every broadcast");
    // The stalled peer filled its queue (512 KiB, beyond the
    // socket buffers) and was dropped.
    tokio::time::timeout(PATIENCE, async {
        while server.connections().len() > 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the stalled connection is closed");
    server.stop().await;
}

#[tokio::test]
async fn binary_mode_checks_the_fingerprint() {
    let (server, url) = start(Server::builder()).await;
    let fingerprint = server.service_table().fingerprint();
    let echo = server.service_table().api("Echo").unwrap().id() as u8;
    // request: kind 1, service id, sn 1, bincode {a: 1 (zigzag 2), b: "hi", c: true}
    let request = vec![1, echo, 1, 2, 2, b'h', b'i', 1];

    let mut ok = raw(&url, Some("buffer")).await;
    let mut hello = vec![5];
    hello.extend_from_slice(&fingerprint.0.to_be_bytes());
    send_binary(&mut ok, hello).await;
    send_binary(&mut ok, request.clone()).await;
    assert_eq!(
        next(&mut ok).await,
        Message::Binary(vec![2, 1, 2, 2, b'h', b'i', 1].into())
    );

    let mut wrong = raw(&url, Some("buffer")).await;
    send_binary(&mut wrong, vec![5, 1, 2, 3, 4, 5, 6, 7, 8]).await;
    let close = closed(&mut wrong).await;
    assert_eq!(u16::from(close.code), 1008);
    assert!(
        close.reason.contains(&fingerprint.to_string()),
        "{}",
        close.reason
    );
    assert!(
        close.reason.contains("0102030405060708"),
        "{}",
        close.reason
    );

    // The handshake's fingerprint header says tsrpc's binary mode: its
    // requests wait for the hello.
    let fingerprint_text = fingerprint.to_string();
    let header = [("x-tsrpc-fingerprint", fingerprint_text.as_str())];
    let mut no_hello = support::raw_with(&url, Some("buffer"), &header).await;
    send_binary(&mut no_hello, request.clone()).await;
    let close = closed(&mut no_hello).await;
    assert!(close.reason.contains("hello"), "{}", close.reason);
    // Without it or a hello, `buffer` is TSRPC's binary mode (TSBuffer),
    // in which a tsrpc frame does not read.
    let mut tsbuffer = raw(&url, Some("buffer")).await;
    send_binary(&mut tsbuffer, request).await;
    let close = closed(&mut tsbuffer).await;
    assert_eq!(u16::from(close.code), 1000);
    assert!(close.reason.contains("TSBuffer"), "{}", close.reason);
    server.stop().await;
}

#[tokio::test]
async fn messages_reach_typed_and_matching_listeners_until_unlistened() {
    let (server, url) = start(Server::builder()).await;
    let typed = Arc::new(AtomicUsize::new(0));
    let rooms = Arc::new(std::sync::Mutex::new(Vec::new()));
    let games = Arc::new(AtomicUsize::new(0));

    let t = typed.clone();
    let typed_listener = server
        .listen_msg(move |call: MsgCall<MsgTyping>| {
            let t = t.clone();
            async move {
                assert_eq!(call.msg.user, "ann");
                t.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
    let r = rooms.clone();
    server.listen_msg_matching(Regex::new("^room/").unwrap(), move |call: AnyMsgCall| {
        let r = r.clone();
        async move {
            r.lock().unwrap().push(call.name());
        }
    });
    let g = games.clone();
    server.listen_msg_matching(Regex::new("^game/").unwrap(), move |call: AnyMsgCall| {
        let g = g.clone();
        async move {
            let m: MsgMove = call.decode().unwrap();
            g.fetch_add(m.x as usize, Ordering::SeqCst);
        }
    });

    let mut ws = raw(&url, Some("text")).await;
    send_text(&mut ws, r#"["room/Typing",{"user":"ann"}]"#).await;
    send_text(&mut ws, r#"["game/Move",{"x":5}]"#).await;
    send_text(&mut ws, r#"["NotAMessage",{}]"#).await; // ignored
    // A call after the messages: the messages are handled by the time it returns.
    send_text(&mut ws, r#"["Echo",{"a":0,"b":"","c":true},1]"#).await;
    next_text(&mut ws).await;
    assert_eq!(typed.load(Ordering::SeqCst), 1);
    assert_eq!(*rooms.lock().unwrap(), vec!["room/Typing"]);
    assert_eq!(games.load(Ordering::SeqCst), 5);

    assert!(server.unlisten_msg(typed_listener));
    assert!(!server.unlisten_msg(typed_listener));
    send_text(&mut ws, r#"["room/Typing",{"user":"ann"}]"#).await;
    send_text(&mut ws, r#"["Echo",{"a":0,"b":"","c":true},2]"#).await;
    next_text(&mut ws).await;
    assert_eq!(typed.load(Ordering::SeqCst), 1, "unlistened");
    assert_eq!(
        rooms.lock().unwrap().len(),
        2,
        "the matching listener still hears it"
    );
    server.stop().await;
}

#[tokio::test]
async fn protocol_choice_by_subprotocol_or_first_frame() {
    let (server, url) = start(Server::builder()).await;
    // An unknown offered protocol is echoed (or the client would refuse the
    // handshake) and the first frame decides: text means JSON.
    let mut ws = raw(&url, Some("chat")).await;
    send_text(&mut ws, r#"["Echo",{"a":1,"b":"","c":true},1]"#).await;
    assert_eq!(json(&next_text(&mut ws).await)[1]["res"]["a"], 1);
    let conn = server.connections().pop().unwrap();
    assert_eq!(conn.encoding(), Some(tsrpc::Encoding::Json));
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_websocket_version_gets_426() {
    let (server, url) = start(Server::builder()).await;
    let mut request = url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Version", "12".parse().unwrap());
    let err = tokio_tungstenite::connect_async(request).await.unwrap_err();
    assert!(err.to_string().contains("426"), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn graceful_stop_lets_running_calls_finish_and_refuses_new_ones() {
    let (server, url) = start(Server::builder()).await;
    let mut ws = raw(&url, Some("text")).await;
    send_text(&mut ws, r#"["Sleep",{"ms":300},1]"#).await;
    while server.connections().is_empty() {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stopping = tokio::spawn({
        let server = server.clone();
        async move { server.graceful_stop(Duration::from_secs(10)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    send_text(&mut ws, r#"["Echo",{"a":1,"b":"","c":true},2]"#).await;
    let mut seen = Vec::new();
    let close = loop {
        match next(&mut ws).await {
            Message::Text(t) => seen.push(json(&t)),
            Message::Close(frame) => break frame.unwrap(),
            _ => {}
        }
    };
    assert!(
        seen.iter()
            .any(|f| f[2] == 2 && f[1]["err"]["code"] == "SERVER_STOPPING"),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|f| f[2] == 1 && f[1]["isSucc"] == true),
        "{seen:?}"
    );
    assert_eq!(u16::from(close.code), 1001);
    stopping.await.unwrap();
    assert!(server.connections().is_empty());
    assert!(
        tokio_tungstenite::connect_async(url.as_str())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn handler_functions_receive_messages_over_the_network() {
    let (server, url) = start(Server::builder()).await;
    let mut ws = raw(&url, Some("text")).await;
    let before = tsrpc_tests::handlers::CHATS_HANDLED.load(Ordering::SeqCst);
    send_text(
        &mut ws,
        r#"["Chat",{"content":"count me","time":"2026-11-22T05:00:00.000Z","attachment":null}]"#,
    )
    .await;
    // A message that does not decode reaches no handler and keeps the connection.
    send_text(
        &mut ws,
        r#"["Chat",{"content":"count me","time":"yesterday"}]"#,
    )
    .await;
    send_text(&mut ws, r#"["Echo",{"a":0,"b":"","c":true},1]"#).await;
    next_text(&mut ws).await;
    assert_eq!(
        tsrpc_tests::handlers::CHATS_HANDLED.load(Ordering::SeqCst) - before,
        1
    );
    server.stop().await;
}

#[tokio::test]
async fn broadcast_msg_to_reaches_only_the_given_connections() {
    let (server, url) = start(Server::builder()).await;
    let mut chosen = raw(&url, Some("text")).await;
    let mut left_out = raw(&url, Some("text")).await;
    send_text(&mut chosen, r#"["Echo",{"a":1,"b":"","c":true},1]"#).await;
    next_text(&mut chosen).await;
    send_text(&mut left_out, r#"["Echo",{"a":2,"b":"","c":true},1]"#).await;
    next_text(&mut left_out).await;
    let conns = server.connections();
    let target: Vec<_> = conns
        .into_iter()
        .filter(|c| c.id() == 1 || c.id() == 2)
        .collect();
    assert_eq!(target.len(), 2);
    let first = target.iter().min_by_key(|c| c.id()).unwrap().clone();
    server
        .broadcast_msg_to(&MsgMove { x: 3 }, std::slice::from_ref(&first))
        .await
        .unwrap();
    server
        .broadcast_msg_to(&MsgMove { x: 4 }, &[])
        .await
        .unwrap();
    // Whichever socket is connection `first` gets it; the other gets nothing
    // before its own later broadcast.
    server.broadcast_msg(&MsgMove { x: 5 }).await.unwrap();
    let a = next_text(&mut chosen).await;
    let b = next_text(&mut left_out).await;
    let frames = [a.as_str(), b.as_str()];
    assert!(frames.contains(&r#"["game/Move",{"x":3}]"#), "{frames:?}");
    assert!(frames.contains(&r#"["game/Move",{"x":5}]"#), "{frames:?}");
    server.stop().await;
}
