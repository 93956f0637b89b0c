//! Chaos: what an attacker or an unlucky operator does to a server. Deep
//! nesting, bad-input campaigns, bursts, floods, peers that never read,
//! sockets that never speak, caps, descriptor exhaustion, cross-site
//! upgrades, protocol violations, and a server frozen or killed mid-call.
//!
//! Each test bounds its own time (the limits it sets are short, and every
//! wait is guarded by [`PATIENCE`]); none asserts how fast anything is.

mod support;

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use support::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tsrpc::__wire::{self as codec, ServerFrame};
use tsrpc::client::WsStatus;
use tsrpc::{CallOptions, HttpClient, Server, WsClient, codes};
use tsrpc::{Encoding, WireFrame};
use tsrpc_tests::proto::*;

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("ws://")
        .parse()
        .expect("ws://ip:port")
}

/// Waits (at most [`PATIENCE`] × 3) until `done` holds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(PATIENCE * 3, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "never happened: {what}");
}

/// Reads until the server closes the socket; what it sent on the way.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server never closed the socket");
    seen
}

/// A WebSocket handshake written by hand, so the socket stays raw: it
/// never answers pings and can send frames no library would.
async fn raw_upgrade(addr: SocketAddr, extra_headers: &str) -> (TcpStream, u16) {
    let mut stream = TcpStream::connect(addr).await.expect("the server accepts");
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: text\r\n{extra_headers}\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut byte))
            .await
            .expect("the handshake is answered")
            .unwrap();
        assert!(n == 1, "closed during the handshake");
        head.push(byte[0]);
    }
    let status = parse_response(&head).status;
    (stream, status)
}

/// A client frame as the protocol wants it: FIN, `opcode`, masked.
fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// The close frame (code, reason) among the bytes a server sent, if any.
fn close_frame(bytes: &[u8]) -> Option<(u16, String)> {
    let mut i = 0;
    while i + 2 <= bytes.len() {
        let opcode = bytes[i] & 0x0f;
        let mut len = usize::from(bytes[i + 1] & 0x7f);
        let mut at = i + 2;
        if len == 126 {
            len = usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]));
            at += 2;
        } else if len == 127 {
            return None;
        }
        let payload = bytes.get(at..at + len)?;
        if opcode == 8 && payload.len() >= 2 {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            return Some((code, String::from_utf8_lossy(&payload[2..]).into_owned()));
        }
        i = at + len;
    }
    None
}

/// A binary-mode raw socket that has said hello.
async fn binary_socket(server: &Server, url: &str) -> Raw {
    let mut ws = raw(url, Some("buffer")).await;
    let hello = codec::encode_hello(server.service_table().fingerprint());
    send_binary(&mut ws, hello.into_bytes().to_vec()).await;
    ws
}

/// A `ReqTree` payload nested `depth` levels deep, in bincode: each level
/// is a child count of 1, the innermost 0.
fn deep_tree_binary(depth: usize) -> Vec<u8> {
    let mut bytes = vec![1u8; depth - 1];
    bytes.push(0);
    bytes
}

fn deep_tree_json(depth: usize) -> String {
    let mut json = String::with_capacity(depth * 16);
    json.push_str(r#"{"root":"#);
    for _ in 0..depth - 1 {
        json.push_str(r#"{"children":["#);
    }
    json.push_str(r#"{"children":[]}"#);
    for _ in 0..depth - 1 {
        json.push_str("]}");
    }
    json.push('}');
    json
}

fn binary_request(server: &Server, api: &str, sn: u32, payload: &[u8]) -> Vec<u8> {
    let id = server.service_table().api(api).expect("a test API").id();
    codec::encode_api_request_with(Encoding::Binary, id, api, sn, |out| {
        out.extend_from_slice(payload);
        Ok(())
    })
    .expect("encodes")
    .into_bytes()
    .to_vec()
}

async fn echo_works(url: &str) {
    let client = WsClient::builder(url).build();
    client.connect().await.expect("a healthy client connects");
    let res = client
        .call_api(ReqEcho {
            a: 7,
            b: "still here".into(),
            c: true,
        })
        .await
        .expect("a healthy client is served");
    assert_eq!(res.b, "still here");
    client.disconnect().await;
}

/// A payload nested 10,000 deep (20 KB) once overflowed the stack while it
/// was decoded and aborted the whole process. Now every encoding, over
/// WebSocket and HTTP, answers INPUT_DATA_ERR and the server goes on.
#[tokio::test]
async fn deeply_nested_payloads_are_refused_without_a_crash() {
    let (server, url) = start(Server::builder()).await;
    let addr = addr_of(&url);
    let deep = deep_tree_binary(10_000);

    let mut ws = binary_socket(&server, &url).await;
    send_binary(&mut ws, binary_request(&server, "Tree", 1, &deep)).await;
    let Message::Binary(answer) = next(&mut ws).await else {
        panic!("expected a binary answer");
    };
    match codec::decode_server_frame(Encoding::Binary, WireFrame::Binary(answer))
        .expect("a valid frame")
    {
        ServerFrame::ApiReturn {
            sn: 1,
            result: Err(err),
            ..
        } => {
            assert!(err.has_code(codes::INPUT_DATA_ERR), "{err:?}");
            assert!(err.message.contains("nests deeper than 128"), "{err:?}");
        }
        other => panic!("expected an error return, got {other:?}"),
    }
    // The same connection still serves a tree within the limit.
    send_binary(
        &mut ws,
        binary_request(&server, "Tree", 2, &deep_tree_binary(50)),
    )
    .await;
    let Message::Binary(answer) = next(&mut ws).await else {
        panic!("expected a binary answer");
    };
    let ServerFrame::ApiReturn {
        result: Ok(payload),
        ..
    } = codec::decode_server_frame(Encoding::Binary, WireFrame::Binary(answer)).unwrap()
    else {
        panic!("expected a success");
    };
    assert_eq!(payload.decode::<ResTree>().unwrap().depth, 50);

    let mut text = raw(&url, Some("text")).await;
    let frame = format!(r#"["Tree",{},1]"#, deep_tree_json(10_000));
    send_text(&mut text, &frame).await;
    let answer = json(&next_text(&mut text).await);
    assert_eq!(answer[1]["err"]["code"], codes::INPUT_DATA_ERR, "{answer}");

    let res = raw_http(
        addr,
        "POST /Tree HTTP/1.1\r\nContent-Type: application/json",
        &deep_tree_json(10_000),
    )
    .await;
    assert_eq!(res.json()["err"]["code"], codes::INPUT_DATA_ERR);
    let fingerprint = server.service_table().fingerprint().to_string();
    let head = format!(
        "POST /Tree HTTP/1.1\r\nContent-Type: application/octet-stream\r\nX-Tsrpc-Fingerprint: {fingerprint}"
    );
    let res = raw_http_bytes(addr, &head, &binary_request(&server, "Tree", 1, &deep)).await;
    match codec::decode_server_frame(Encoding::Binary, WireFrame::Binary(res.bytes.into())).unwrap()
    {
        ServerFrame::ApiReturn {
            result: Err(err), ..
        } => assert!(err.has_code(codes::INPUT_DATA_ERR), "{err:?}"),
        other => panic!("expected an error return, got {other:?}"),
    }
    echo_works(&url).await;
    server.stop().await;
}

/// A tiny deterministic generator for the campaigns below.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next() as usize) % (max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Thousands of malformed frames and bodies, and mutations of valid
/// ones: each gets an error answer or a close of its own connection,
/// never a panic, and a healthy client is served all along.
#[tokio::test]
async fn a_bad_input_campaign_disturbs_no_one() {
    let (server, url) = start(Server::builder()).await;
    let addr = addr_of(&url);
    let healthy = WsClient::builder(url.as_str()).build();
    healthy.connect().await.unwrap();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let valid_binary = binary_request(&server, "Echo", 1, &[2, 2, b'h', b'i', 1]);
    let valid_json = br#"["Echo",{"a":1,"b":"hi","c":true},1]"#.to_vec();
    let echo_id = server.service_table().api("Echo").unwrap().id();
    let echo = ReqEcho {
        a: 1,
        b: "hi".into(),
        c: true,
    };
    let valid_tsbuffer = codec::encode_api_request(Encoding::Tsbuffer, echo_id, "Echo", 1, &echo)
        .unwrap()
        .into_bytes()
        .to_vec();
    let tsbuffer_http = codec::encode_tsbuffer_http_request_with(echo_id, |out| {
        codec::write_payload(Encoding::Tsbuffer, &echo, out)
    })
    .unwrap()
    .into_bytes()
    .to_vec();
    let mutated = |rng: &mut XorShift, valid: &[u8]| {
        let mut f = valid.to_vec();
        let at = rng.next() as usize % f.len();
        f[at] ^= (rng.next() as u8) | 1;
        f
    };
    for round in 0..150 {
        // Binary frames: random, or a valid request with bytes flipped.
        let mut ws = binary_socket(&server, &url).await;
        for _ in 0..10 {
            let frame = if rng.next().is_multiple_of(2) {
                rng.bytes(64)
            } else {
                let mut f = valid_binary.clone();
                let at = rng.next() as usize % f.len();
                f[at] ^= (rng.next() as u8) | 1;
                f
            };
            if ws.send(Message::Binary(frame.into())).await.is_err() {
                break;
            }
        }
        drop(ws);
        // TSRPC's binary mode (no hello): random, or a valid TSBuffer
        // request with bytes flipped.
        let mut ws = raw(&url, Some("buffer")).await;
        for _ in 0..10 {
            let frame = if rng.next().is_multiple_of(2) {
                rng.bytes(64)
            } else {
                mutated(&mut rng, &valid_tsbuffer)
            };
            if ws.send(Message::Binary(frame.into())).await.is_err() {
                break;
            }
        }
        drop(ws);
        // Text frames: mutated JSON (kept UTF-8).
        let mut ws = raw(&url, Some("text")).await;
        for _ in 0..10 {
            let mut f = valid_json.clone();
            let at = rng.next() as usize % f.len();
            let tokens = b"[]{},:\"0a\\ ";
            f[at] = tokens[rng.next() as usize % tokens.len()];
            let text = String::from_utf8_lossy(&f).into_owned();
            if ws.send(Message::text(text)).await.is_err() {
                break;
            }
        }
        drop(ws);
        // HTTP bodies, both encodings: binary ones are mutated valid
        // requests with the right fingerprint, so they reach the decoder.
        // An answer is 200 (input errors too) or 400, never 500.
        if round % 10 == 0 {
            let mut body = valid_binary.clone();
            let at = rng.next() as usize % body.len();
            body[at] ^= (rng.next() as u8) | 1;
            let head = format!(
                "POST /Echo HTTP/1.1\r\nContent-Type: application/octet-stream\r\nX-Tsrpc-Fingerprint: {}",
                server.service_table().fingerprint()
            );
            let res = raw_http_bytes(addr, &head, &body).await;
            assert!(matches!(res.status, 200 | 400), "{}", res.status);
            let res = raw_http_bytes(
                addr,
                "POST /Echo HTTP/1.1\r\nContent-Type: application/json",
                &rng.bytes(200),
            )
            .await;
            assert!(matches!(res.status, 200 | 400), "{}", res.status);
            // TSRPC answers its binary mode's errors with 200.
            let body = mutated(&mut rng, &tsbuffer_http);
            let head = "POST / HTTP/1.1\r\nContent-Type: application/octet-stream";
            let res = raw_http_bytes(addr, head, &body).await;
            assert_eq!(res.status, 200);
        }
        let res = healthy
            .call_api(ReqEcho {
                a: round,
                b: String::new(),
                c: false,
            })
            .await
            .expect("the healthy client is served throughout");
        assert_eq!(res.a, round);
    }
    server.stop().await;
}

/// A client counting the `MsgChat`s it receives.
async fn counting_reader(url: &str, json: bool) -> (WsClient, Arc<AtomicUsize>) {
    let client = WsClient::builder(url).json(json).build();
    client.connect().await.expect("connects");
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    client
        .listen_msg(move |_: MsgChat| {
            seen.fetch_add(1, Ordering::SeqCst);
        })
        .expect("MsgChat is a message");
    (client, count)
}

/// A handler that broadcasts 5,000 messages at once: readers that keep up
/// receive them all and keep their connections (the queue was once
/// bounded at 1,024 frames, and closed every reader past it).
#[tokio::test]
async fn a_burst_of_broadcasts_reaches_every_reader_whole() {
    let (server, url) = start(Server::builder()).await;
    let mut readers = Vec::new();
    for json in [true, false, true] {
        readers.push(counting_reader(&url, json).await);
    }
    let caller = WsClient::builder(url.as_str()).build();
    caller.connect().await.unwrap();
    caller
        .call_api(ReqBurst { count: 5_000 })
        .await
        .expect("the burst call returns");
    for (client, count) in &readers {
        eventually("every reader gets all 5,000", || {
            count.load(Ordering::SeqCst) == 5_000
        })
        .await;
        assert_eq!(client.status(), WsStatus::Opened);
    }
    assert_eq!(server.connections().len(), 4);
    server.stop().await;
}

/// A peer that pipelines broadcasting calls and never reads its answers
/// must not get the readers disconnected.
#[tokio::test]
async fn a_pipelining_non_reader_does_not_disturb_the_readers() {
    let (server, url) = start(Server::builder()).await;
    let mut readers = Vec::new();
    for json in [true, false] {
        readers.push(counting_reader(&url, json).await);
    }
    let mut flooder = raw(&url, Some("text")).await;
    const CALLS: usize = 3_000;
    for sn in 1..=CALLS {
        let frame = format!(r#"["Shout",{{"content":"flood"}},{sn}]"#);
        flooder.feed(Message::text(frame)).await.unwrap();
    }
    flooder.flush().await.unwrap();
    for (client, count) in &readers {
        eventually("every reader gets every shout", || {
            count.load(Ordering::SeqCst) == CALLS
        })
        .await;
        assert_eq!(client.status(), WsStatus::Opened);
    }
    drop(flooder);
    server.stop().await;
}

/// A peer that asks for 1 MiB answers and never reads them is cut off
/// once it takes nothing for the send timeout, holding no more than the
/// queue's size meanwhile (it was once bounded only at 1,024 frames: a
/// gigabyte of answers per connection).
#[tokio::test]
async fn a_non_reader_is_cut_off_before_it_pins_memory() {
    let builder = Server::builder()
        .send_queue_size(1 << 20)
        .send_timeout(Some(Duration::from_millis(300)));
    let (server, url) = start(builder).await;
    let (mut sink, _never_read) = raw(&url, Some("text")).await.split();
    eventually("connected", || server.connections().len() == 1).await;
    let big = "x".repeat(1 << 20);
    let writer = tokio::spawn(async move {
        for sn in 1..=64 {
            let frame = format!(r#"["Echo",{{"a":{sn},"b":"{big}","c":true}},{sn}]"#);
            if sink.send(Message::text(frame)).await.is_err() {
                return;
            }
        }
    });
    eventually("the non-reader is disconnected", || {
        server.connections().is_empty()
    })
    .await;
    writer.abort();
    echo_works(&url).await;
    server.stop().await;
}

/// A peer that stops reading is cut off once it has taken nothing for
/// the send timeout, long before what waits for it reaches the queue's
/// size (64 MiB here, never reached).
#[tokio::test]
async fn a_peer_that_stops_reading_is_cut_off_by_time_not_by_size() {
    let builder = Server::builder()
        .send_queue_size(64 << 20)
        .send_timeout(Some(Duration::from_millis(300)));
    let (server, url) = start(builder).await;
    let _stopped_reading = raw(&url, Some("text")).await;
    eventually("connected", || server.connections().len() == 1).await;
    let chat = MsgChat {
        content: "x".repeat(100 << 10),
        time: tsrpc::Timestamp::now(),
        attachment: None,
    };
    for _ in 0..400 {
        if server.connections().is_empty() {
            break;
        }
        server.broadcast_msg(&chat).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eventually("the peer that stopped reading is disconnected", || {
        server.connections().is_empty()
    })
    .await;
    server.stop().await;
}

/// A peer that reads slowly but steadily keeps its connection, even when
/// a single message takes it far longer than the send timeout: taking
/// bytes is progress, not only taking whole frames.
#[tokio::test]
async fn a_slow_steady_reader_keeps_its_connection() {
    // The kernel wakes a blocked writer only when half its buffer is free
    // again: two seconds leave room for that.
    let builder = Server::builder().send_timeout(Some(Duration::from_secs(2)));
    let (server, url) = start(builder).await;
    let (mut slow, status) = raw_upgrade(addr_of(&url), "").await;
    assert_eq!(status, 101);
    eventually("connected", || server.connections().len() == 1).await;
    // Larger than what the kernel's socket buffers hold on loopback, and
    // read at about 3 MB/s: over four seconds for the one message.
    let size = 14 << 20;
    let chat = MsgChat {
        content: "x".repeat(size),
        time: tsrpc::Timestamp::now(),
        attachment: None,
    };
    server.broadcast_msg(&chat).await.unwrap();
    let mut got = 0;
    let mut buf = vec![0u8; 32 << 10];
    while got < size {
        let n = tokio::time::timeout(PATIENCE, slow.read(&mut buf))
            .await
            .expect("the message keeps coming")
            .unwrap();
        assert!(n > 0, "the server closed the slow reader");
        got += n;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.connections().len(), 1);
    server.stop().await;
}

/// Sockets that never speak, or stop speaking, are let go: a TCP
/// connection that sends nothing, an idle keep-alive connection, a body
/// that never ends, an HTTP/2 connection that opens no stream.
#[tokio::test]
async fn silent_http_connections_are_let_go() {
    let builder = Server::builder()
        .header_read_timeout(Duration::from_millis(300))
        .body_read_timeout(Duration::from_millis(300));
    let (server, url) = start(builder).await;
    let addr = addr_of(&url);

    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert!(read_until_closed(&mut silent).await.is_empty());

    let mut keep_alive = TcpStream::connect(addr).await.unwrap();
    let body = r#"{"a":1,"b":"","c":true}"#;
    let request = format!(
        "POST /Echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    keep_alive.write_all(request.as_bytes()).await.unwrap();
    let answered = read_until_closed(&mut keep_alive).await;
    assert!(
        answered.starts_with(b"HTTP/1.1 200"),
        "answered, then let go"
    );

    let mut trickle = TcpStream::connect(addr).await.unwrap();
    trickle
        .write_all(b"POST /Echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{\"a\":")
        .await
        .unwrap();
    let answer = parse_response(&read_until_closed(&mut trickle).await);
    assert_eq!(answer.status, 408, "{}", answer.body);

    let mut h2 = TcpStream::connect(addr).await.unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    read_until_closed(&mut h2).await;
    echo_works(&url).await;
    server.stop().await;
}

/// A WebSocket that never answers the server's pings is closed (3001)
/// after the keepalive time; a quiet client that answers them (every
/// WebSocket library does) keeps its connection.
#[tokio::test]
async fn silent_websockets_are_let_go_quiet_ones_are_kept() {
    let wait = Duration::from_millis(400);
    let (server, url) = start(Server::builder().keepalive(Some(wait))).await;
    let (mut silent, status) = raw_upgrade(addr_of(&url), "").await;
    assert_eq!(status, 101);
    let sent = read_until_closed(&mut silent).await;
    let (code, reason) = close_frame(&sent).expect("a close frame");
    assert_eq!(code, 3001, "{reason}");

    let mut quiet = raw(&url, Some("text")).await;
    // Reading (which answers pings) but sending nothing for 3 wait times.
    let read = tokio::time::timeout(wait * 3, async {
        loop {
            match quiet.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => return other,
            }
        }
    })
    .await;
    assert!(read.is_err(), "nothing but pings arrived: {read:?}");
    send_text(&mut quiet, r#"["Echo",{"a":1,"b":"quiet","c":true},1]"#).await;
    assert_eq!(json(&next_text(&mut quiet).await)[1]["res"]["b"], "quiet");
    server.stop().await;
}

/// Caps: past `max_connections` a new connection makes the oldest one
/// that never sent a request go, or is refused with 503; past
/// `max_connections_per_ip` with 429.
#[tokio::test]
async fn connection_caps_refuse_with_a_clear_answer() {
    let (server, url) = start(Server::builder().max_connections(Some(3))).await;
    let addr = addr_of(&url);
    let mut clients = Vec::new();
    for _ in 0..2 {
        let client = WsClient::builder(url.as_str()).build();
        client.connect().await.unwrap();
        clients.push(client);
    }
    let mut idle = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The idle socket makes way for a real client.
    let third = WsClient::builder(url.as_str()).build();
    third.connect().await.expect("the idle socket made way");
    read_until_closed(&mut idle).await;
    // Now every connection is in use.
    let fourth = WsClient::builder(url.as_str()).build();
    let err = fourth.connect().await.expect_err("over the cap");
    assert!(err.is_network() && err.message.contains("503"), "{err:?}");
    let res = raw_http(addr, "POST /Echo HTTP/1.1", "{}").await;
    assert_eq!(res.status, 503);
    assert!(res.body.contains("too many connections"), "{}", res.body);
    third.disconnect().await;
    eventually("a slot is free again", || server.connections().len() == 2).await;
    // The listener gives the slot back when the socket is gone, a little
    // after the connection: try until it has.
    let mut room = false;
    for _ in 0..100 {
        if fourth.connect().await.is_ok() {
            room = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(room, "room again");
    server.stop().await;

    let (server, url) = start(Server::builder().max_connections_per_ip(Some(2))).await;
    let a = WsClient::builder(url.as_str()).build();
    let b = WsClient::builder(url.as_str()).build();
    a.connect().await.unwrap();
    b.connect().await.unwrap();
    let c = WsClient::builder(url.as_str()).build();
    let err = c.connect().await.expect_err("over the per-IP cap");
    assert!(err.message.contains("429"), "{err:?}");
    server.stop().await;
}

/// The server in a process of its own: its address, and the process.
struct ChildServer {
    child: tokio::process::Child,
    url: String,
}

impl ChildServer {
    /// Starts `chaos-server` with at most `max_fds` file descriptors.
    async fn start(max_fds: usize, args: &[&str]) -> ChildServer {
        let mut child = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(format!("ulimit -n {max_fds} && exec \"$@\""))
            .arg("chaos-server")
            .arg(env!("CARGO_BIN_EXE_chaos-server"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("chaos-server starts");
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        tokio::time::timeout(PATIENCE, BufReader::new(stdout).read_line(&mut line))
            .await
            .expect("the server says where it listens")
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"));
        ChildServer {
            url: format!("ws://{addr}"),
            child,
        }
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Freezes the server, and waits until every one of its threads is
    /// stopped (a signal is delivered to each thread in its own time).
    async fn freeze(&self) {
        self.signal("-STOP");
        let pid = self.child.id().expect("running");
        let all_stopped = || {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
                return false;
            };
            tasks.flatten().all(|task| {
                std::fs::read_to_string(task.path().join("stat"))
                    .ok()
                    .and_then(|stat| {
                        let after_name = stat.rsplit_once(')')?.1;
                        after_name.split_whitespace().next().map(|s| s == "T")
                    })
                    .unwrap_or(false)
            })
        };
        eventually("every thread of the server is stopped", all_stopped).await;
    }
}

/// With its descriptors exhausted by sockets that never send a byte, the
/// server still takes a real client: the oldest silent sockets make way
/// (with a header timeout long enough that only this can save it). By
/// default the connection cap, set below the descriptor limit, is reached
/// first; without a cap, the accept loop frees descriptors itself.
#[tokio::test]
async fn descriptor_exhaustion_does_not_lock_out_real_clients() {
    for cap in ["default", "none"] {
        let mut args = vec!["--header-read-timeout-ms", "60000"];
        if cap == "none" {
            args.extend(["--max-connections", "none"]);
        }
        let server = ChildServer::start(64, &args).await;
        let addr = addr_of(&server.url);
        let mut idle = Vec::new();
        for _ in 0..150 {
            idle.push(
                TcpStream::connect(addr)
                    .await
                    .expect("the backlog takes it"),
            );
        }
        // A real client gets a descriptor, and is served.
        echo_works(&server.url).await;
    }
}

/// A server frozen mid-call: the call times out, a new connection gives
/// up after its connect timeout; once thawed, the server serves again. A
/// server killed mid-call: the call ends with LOST_CONN at once.
#[tokio::test]
async fn a_server_frozen_or_killed_mid_call_never_hangs_a_client() {
    let mut server = ChildServer::start(1024, &[]).await;
    let client = WsClient::builder(server.url.as_str()).build();
    client.connect().await.unwrap();
    server.freeze().await;
    let err = client
        .call_api_with(
            ReqSleep { ms: 0 },
            CallOptions::default().timeout(Duration::from_millis(300)),
        )
        .await
        .expect_err("a frozen server does not answer");
    assert!(err.has_code(codes::TIMEOUT), "{err:?}");
    let late = WsClient::builder(server.url.as_str())
        .connect_timeout(Duration::from_millis(300))
        .build();
    let err = tokio::time::timeout(PATIENCE, late.connect())
        .await
        .expect("connect gives up by itself")
        .expect_err("no handshake from a frozen server");
    assert!(err.is_network(), "{err:?}");
    server.signal("-CONT");
    client
        .call_api(ReqSleep { ms: 0 })
        .await
        .expect("served again once thawed");

    let slow = {
        let client = client.clone();
        tokio::spawn(async move { client.call_api(ReqSleep { ms: 60_000 }).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.child.kill().await.unwrap();
    let err = tokio::time::timeout(PATIENCE, slow)
        .await
        .expect("the call ends once the server is gone")
        .unwrap()
        .expect_err("the server died");
    assert!(err.has_code(codes::LOST_CONN), "{err:?}");
    let http = HttpClient::builder(server.url.replace("ws://", "http://"))
        .build()
        .unwrap();
    let err = http
        .call_api(ReqSleep { ms: 0 })
        .await
        .expect_err("nobody listens");
    assert!(err.is_network(), "{err:?}");
}

/// `connect` to a listener that accepts but never answers fails after the
/// connect timeout, instead of hanging (and a reconnect policy with it).
#[tokio::test]
async fn connecting_to_a_mute_listener_times_out() {
    let mute = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", mute.local_addr().unwrap());
    let client = WsClient::builder(url)
        .connect_timeout(Duration::from_millis(300))
        .build();
    let err = tokio::time::timeout(PATIENCE, client.connect())
        .await
        .expect("connect gives up by itself")
        .expect_err("nobody answers");
    assert!(
        err.is_network() && err.message.contains("300 ms"),
        "{err:?}"
    );
    assert_eq!(client.status(), WsStatus::Closed);
}

/// With an origin list, a WebSocket upgrade from another site is refused
/// (cross-site WebSocket hijacking); the listed origin, the server's own
/// and clients that send no Origin are served.
#[tokio::test]
async fn cross_site_websocket_upgrades_are_refused() {
    let builder = Server::builder().allowed_origins(["https://good.example"]);
    let (server, url) = start(builder).await;
    let addr = addr_of(&url);
    let (_, status) = raw_upgrade(addr, "Origin: https://evil.example\r\n").await;
    assert_eq!(status, 403);
    let (_, status) = raw_upgrade(addr, "Origin: https://good.example\r\n").await;
    assert_eq!(status, 101);
    let (_, status) = raw_upgrade(addr, &format!("Origin: http://{addr}\r\n")).await;
    assert_eq!(status, 101);
    let (_, status) = raw_upgrade(addr, "").await;
    assert_eq!(status, 101);
    server.stop().await;
}

/// Text that is not UTF-8 closes with 1007, a frame that breaks the
/// WebSocket protocol (unmasked, from a client) with 1002; both with a
/// reason, as RFC 6455 asks.
#[tokio::test]
async fn protocol_violations_close_with_a_code_and_a_reason() {
    let (server, url) = start(Server::builder()).await;
    let addr = addr_of(&url);
    let (mut bad_text, _) = raw_upgrade(addr, "").await;
    bad_text
        .write_all(&masked_frame(0x1, &[0x22, 0xff, 0xfe, 0x22]))
        .await
        .unwrap();
    let (code, reason) = close_frame(&read_until_closed(&mut bad_text).await).expect("a close");
    assert_eq!(code, 1007);
    assert!(reason.contains("UTF-8"), "{reason}");

    let (mut unmasked, _) = raw_upgrade(addr, "").await;
    unmasked.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    let (code, reason) = close_frame(&read_until_closed(&mut unmasked).await).expect("a close");
    assert_eq!(code, 1002);
    assert!(!reason.is_empty());
    server.stop().await;
}

/// HTTP details an attacker looks for: a binary call must be posted to
/// its own service's path; a binary sn of 0 is refused as in JSON mode;
/// hidden files are not served; HEAD sends the length and no body; files
/// are streamed with their length.
#[tokio::test]
async fn http_paths_and_static_files_hold() {
    let dir = std::env::temp_dir().join(format!("tsrpc-chaos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".env"), "SECRET=1").unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    let (server, url) = start(Server::builder().static_dir(&dir)).await;
    let addr = addr_of(&url);

    let fingerprint = server.service_table().fingerprint().to_string();
    let head = |path: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nContent-Type: application/octet-stream\r\nX-Tsrpc-Fingerprint: {fingerprint}"
        )
    };
    let echo = binary_request(&server, "Echo", 1, &[2, 2, b'h', b'i', 1]);
    let res = raw_http_bytes(addr, &head("/Panic"), &echo).await;
    assert_eq!(res.status, 400, "the path names another service");
    let err =
        match codec::decode_server_frame(Encoding::Binary, WireFrame::Binary(res.bytes.into()))
            .unwrap()
        {
            ServerFrame::ApiReturn { result: Err(e), .. } => e,
            other => panic!("{other:?}"),
        };
    assert!(err.message.contains("/Panic"), "{err:?}");
    assert_eq!(
        raw_http_bytes(addr, &head("/Echo"), &echo).await.status,
        200
    );
    let sn_zero = binary_request(&server, "Echo", 0, &[2, 2, b'h', b'i', 1]);
    assert!(codec::decode_client_frame(WireFrame::Binary(sn_zero.clone().into())).is_err());
    assert_eq!(
        raw_http_bytes(addr, &head("/Echo"), &sn_zero).await.status,
        400
    );

    assert_eq!(raw_http(addr, "GET /.env HTTP/1.1", "").await.status, 404);
    let res = raw_http(addr, "HEAD /big.bin HTTP/1.1", "").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.headers["content-length"], "3000000");
    assert!(res.bytes.is_empty());
    let res = raw_http(addr, "GET /big.bin HTTP/1.1", "").await;
    assert_eq!(res.headers["content-length"], "3000000");
    assert!(res.bytes == big, "the file arrives whole");
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// An `HttpClient` call to a server whose accept queue is full (its
/// connection is never accepted: the handshake itself hangs) fails after
/// the connect timeout, well before the call's own timeout.
#[tokio::test]
async fn an_http_client_gives_up_connecting_after_its_connect_timeout() {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let full = socket.listen(1).unwrap();
    let addr = full.local_addr().unwrap();
    // Fill the accept queue; nobody accepts.
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await
        {
            fillers.push(stream);
        }
    }
    let http = HttpClient::builder(format!("http://{addr}"))
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let err = tokio::time::timeout(PATIENCE, http.call_api(ReqSleep { ms: 0 }))
        .await
        .expect("the connect timeout ends the call")
        .expect_err("the connection is never accepted");
    assert!(
        err.is_network() && err.message.contains("300 ms"),
        "{err:?}"
    );
    drop(full);
}

/// A client that asks for a large file and never reads it is let go after
/// the send timeout: its response kept its connection busy for ever, and
/// at the connection cap, everyone else out.
#[tokio::test]
async fn a_client_that_never_reads_its_response_is_let_go() {
    let dir = std::env::temp_dir().join(format!("tsrpc-chaos-unread-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("big.bin"), vec![7u8; 32 << 20]).unwrap();
    let builder = Server::builder()
        .static_dir(&dir)
        .max_connections(Some(1))
        .send_timeout(Some(Duration::from_millis(300)));
    let (server, url) = start(builder).await;
    let addr = addr_of(&url);
    let mut unread = TcpStream::connect(addr).await.unwrap();
    unread
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Its response fills the socket's buffers; meanwhile the only
    // connection is taken, so others are refused.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = raw_http(addr, "POST /Echo HTTP/1.1", "{}").await;
    assert_eq!(
        refused.status, 503,
        "the cap holds while the response is sent"
    );
    let http = HttpClient::builder(url.replace("ws://", "http://"))
        .json(true)
        .build()
        .unwrap();
    let served = tokio::time::timeout(PATIENCE, async {
        loop {
            if http.call_api(ReqSleep { ms: 0 }).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        served.is_ok(),
        "the unread response's connection was let go"
    );
    drop(unread);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
