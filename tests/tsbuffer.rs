//! TSRPC's binary mode (TSBuffer) on a tsrpc server, as the wire tests
//! see it: HTTP bodies and their paths, and broadcasts to connections of
//! every encoding. (TSRPC's own clients in this mode: tests/interop.rs.)

mod support;

use std::sync::{Arc, Mutex};

use support::*;
use tsrpc::__wire::{self as codec, ServerFrame};
use tsrpc::{Encoding, Server, Timestamp, WsClient};
use tsrpc_tests::proto::*;

fn echo() -> ReqEcho {
    ReqEcho {
        a: 7,
        b: "hi".into(),
        c: true,
    }
}

/// A TSRPC HTTP call's body: `{ serviceId, buffer }`.
fn http_body(server: &Server, api: &str) -> Vec<u8> {
    let id = server.service_table().api(api).expect("a test API").id();
    codec::encode_tsbuffer_http_request_with(id, |out| {
        codec::write_payload(Encoding::Tsbuffer, &echo(), out)
    })
    .unwrap()
    .into_bytes()
    .to_vec()
}

fn returned(bytes: &[u8]) -> Result<ResEcho, tsrpc::TsrpcError> {
    let frame = tsrpc::WireFrame::Binary(bytes.to_vec().into());
    match codec::decode_server_frame(Encoding::Tsbuffer, frame).expect("a TSBuffer return") {
        ServerFrame::ApiReturn { sn: 0, result, .. } => {
            result.map(|payload| payload.decode::<ResEcho>().expect("a ResEcho"))
        }
        other => panic!("not an HTTP return: {other:?}"),
    }
}

/// TSRPC's clients post to the server's URL itself; the service's own
/// path works too; another service's path is refused, so that rules a
/// proxy applies by path hold.
#[tokio::test]
async fn http_bodies_are_taken_at_the_root_or_their_services_path() {
    let (server, url) = start(Server::builder()).await;
    let addr = url.trim_start_matches("ws://").parse().unwrap();
    let body = http_body(&server, "Echo");
    for path in ["/", "/Echo"] {
        let head = format!("POST {path} HTTP/1.1\r\nContent-Type: application/octet-stream");
        let res = raw_http_bytes(addr, &head, &body).await;
        assert_eq!(res.status, 200);
        assert_eq!(returned(&res.bytes).unwrap().a, 7, "at {path}");
    }
    let head = "POST /Chat HTTP/1.1\r\nContent-Type: application/octet-stream";
    let res = raw_http_bytes(addr, head, &body).await;
    assert_eq!(res.status, 200, "TSRPC answers input errors with 200");
    let err = returned(&res.bytes).unwrap_err();
    assert!(err.has_code(tsrpc::codes::INPUT_DATA_ERR), "{err}");
    assert!(err.message.contains("/Chat"), "{err}");
    server.stop().await;
}

/// A message TSBuffer cannot carry (a date before 1970) still reaches the
/// connections of the other encodings; `broadcast_msg` says what failed.
#[tokio::test]
async fn a_broadcast_one_encoding_cannot_carry_reaches_the_others() {
    let (server, url) = start(Server::builder()).await;
    let mut inboxes = Vec::new();
    let mut clients = Vec::new();
    for encoding in Encoding::ALL {
        let client = WsClient::builder(url.as_str()).encoding(encoding).build();
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let seen = inbox.clone();
        client
            .listen_msg(move |msg: MsgChat| seen.lock().unwrap().push(msg.time))
            .unwrap();
        client.connect().await.unwrap();
        // A call settles the connection's encoding on the server.
        client.call_api(echo()).await.unwrap();
        inboxes.push(inbox);
        clients.push(client);
    }
    eventually("every client is connected", || {
        let stats = server.stats();
        (
            stats.websockets_json,
            stats.websockets_binary,
            stats.websockets_tsbuffer,
        ) == (1, 1, 1)
    })
    .await;
    let chat = |millis| MsgChat {
        content: "hi".into(),
        time: Timestamp::from_unix_millis(millis),
        attachment: None,
    };
    let err = server.broadcast_msg(&chat(-1)).await.unwrap_err();
    assert!(err.message.contains("1970"), "{err}");
    server.broadcast_msg(&chat(1_000)).await.unwrap();
    let got = |i: usize| inboxes[i].lock().unwrap().clone();
    eventually("the last broadcast arrives everywhere", || {
        (0..3).all(|i| got(i).last() == Some(&Timestamp::from_unix_millis(1_000)))
    })
    .await;
    let early = Timestamp::from_unix_millis(-1);
    assert_eq!(got(0), [early, Timestamp::from_unix_millis(1_000)], "JSON");
    assert_eq!(
        got(1),
        [early, Timestamp::from_unix_millis(1_000)],
        "binary"
    );
    assert_eq!(got(2), [Timestamp::from_unix_millis(1_000)], "TSBuffer");
    for client in clients {
        client.disconnect().await;
    }
    server.stop().await;
}

/// The Rust `HttpClient` in TSBuffer mode against a tsrpc server: a call,
/// a failed call's error, a message.
#[tokio::test]
async fn the_http_client_speaks_tsbuffer() {
    let (server, url) = start(Server::builder()).await;
    let http = tsrpc::HttpClient::builder(url.replacen("ws://", "http://", 1))
        .encoding(Encoding::Tsbuffer)
        .build()
        .unwrap();
    assert_eq!(http.call_api(echo()).await.unwrap().b, "hi");
    let err = http.call_api(ReqPanic {}).await.unwrap_err();
    assert!(err.has_code(tsrpc::codes::INTERNAL_ERR), "{err}");
    let chat = MsgChat {
        content: "over HTTP".into(),
        time: Timestamp::now(),
        attachment: None,
    };
    http.send_msg(&chat).await.unwrap();
    server.stop().await;
}

/// A request whose old field name is kept as a `#[serde(alias)]`.
#[tsrpc::api(name = "Renamed", res = ResRenamed)]
#[derive(serde::Serialize, serde::Deserialize, Debug)]
pub struct ReqRenamed {
    #[serde(alias = "title")]
    pub name: String,
    pub note: Option<String>,
    pub tag: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
pub struct ResRenamed {
    pub note: Option<String>,
    pub tag: Option<String>,
}

#[tsrpc::handler]
async fn renamed(call: tsrpc::ApiCall<ReqRenamed>) -> Result<ResRenamed, tsrpc::TsrpcError> {
    Ok(ResRenamed {
        note: call.req.note,
        tag: call.req.tag,
    })
}

/// Its fields in the same order, without the alias.
#[derive(serde::Serialize)]
struct PlainRenamed {
    name: String,
    note: Option<String>,
    tag: Option<String>,
}

/// serde lists a struct's aliases among its field names, so TSBuffer's
/// positions would read one field into another (`tag` into `note`): TSBuffer
/// mode refuses such a struct, both ways, saying why; JSON mode carries it.
#[tokio::test]
async fn tsbuffer_refuses_structs_with_aliases_and_json_carries_them() {
    let (server, url) = start(Server::builder()).await;
    let tagged = || ReqRenamed {
        name: "n".into(),
        note: None,
        tag: Some("t".into()),
    };
    let json = WsClient::builder(url.as_str()).build();
    json.connect().await.unwrap();
    let res = json.call_api(tagged()).await.unwrap();
    assert_eq!(
        res,
        ResRenamed {
            note: None,
            tag: Some("t".into())
        }
    );
    // A TSBuffer body with the fields at their positions, as a peer that
    // numbers them writes it: refused, not read as `note: "t"`.
    let id = server.service_table().api("Renamed").unwrap().id();
    let plain = PlainRenamed {
        name: "n".into(),
        note: None,
        tag: Some("t".into()),
    };
    let body = codec::encode_tsbuffer_http_request_with(id, |out| {
        codec::write_payload(Encoding::Tsbuffer, &plain, out)
    })
    .unwrap()
    .into_bytes();
    let addr = url.trim_start_matches("ws://").parse().unwrap();
    let head = "POST /Renamed HTTP/1.1\r\nContent-Type: application/octet-stream";
    let res = raw_http_bytes(addr, head, &body).await;
    let frame = tsrpc::WireFrame::Binary(res.bytes.into());
    let err = match codec::decode_server_frame(Encoding::Tsbuffer, frame).unwrap() {
        ServerFrame::ApiReturn { result, .. } => result.unwrap_err(),
        other => panic!("not a return: {other:?}"),
    };
    assert!(
        err.message.contains("cannot carry struct `ReqRenamed`"),
        "{err}"
    );
    // The Rust client refuses to send it.
    let tsbuffer = WsClient::builder(url.as_str())
        .encoding(Encoding::Tsbuffer)
        .build();
    tsbuffer.connect().await.unwrap();
    let err = tsbuffer.call_api(tagged()).await.unwrap_err();
    assert!(err.message.contains("#[serde(alias)]"), "{err}");
    server.stop().await;
}
