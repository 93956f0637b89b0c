//! TSBuffer ids from a TSRPC project's `serviceProto.json`
//! (`fixtures/stable-ids-serviceProto.json`, whose ids are not positions,
//! whose shared types are named otherwise than the export names them, and
//! which has a field the Rust types lack and lacks one they have): a server
//! started with it answers TSRPC's binary clients built with it, a file
//! that does not describe the Rust types is refused naming each
//! difference, and the export keeps its ids. Its own test binary, since
//! the ids are the process's.

mod node;
mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tsrpc::client::{HttpClient, WsClient};
use tsrpc::server::{ApiCall, MsgCall};
use tsrpc::{Encoding, Server, TsrpcError};

#[tsrpc::api(name = "shop/Order")]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ReqOrder {
    pub item: String,
    pub count: u32,
    pub kind: Kind,
    /// Not in the project's file: optional, so its clients never miss it.
    pub note: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ResOrder {
    pub id: u64,
    pub status: Status,
    pub lines: Vec<Line>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum Kind {
    Pickup,
    Delivery { address: String, express: bool },
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum Status {
    Open,
    Paid(u32),
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Line {
    pub sku: String,
    pub qty: u32,
}

#[tsrpc::msg(name = "Note")]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct MsgNote {
    pub text: String,
    pub from: String,
}

#[tsrpc::handler]
async fn order(call: ApiCall<ReqOrder>) -> Result<ResOrder, TsrpcError> {
    let req = &call.req;
    if req.item.is_empty() {
        return Err(TsrpcError::api("item is empty"));
    }
    let count = req.count;
    let (status, sku) = match &req.kind {
        Kind::Pickup => (Status::Open, req.item.clone()),
        Kind::Delivery { address, express } => (
            Status::Paid(count * 100 + u32::from(*express)),
            format!("{}@{address}", req.item),
        ),
    };
    Ok(ResOrder {
        id: u64::from(count) * 10,
        status,
        lines: vec![Line { sku, qty: count }],
    })
}

#[tsrpc::handler]
async fn note(call: MsgCall<MsgNote>) {
    let reply = MsgNote {
        text: call.msg.text.to_uppercase(),
        from: format!("rust, to {}", call.msg.from),
    };
    let _ = call.conn.send_msg(&reply).await;
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stable-ids-serviceProto.json")
}

fn fixture_text() -> String {
    std::fs::read_to_string(fixture()).expect("the fixture")
}

async fn start() -> (Server, std::net::SocketAddr) {
    let server = Server::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .service_proto(fixture_text())
        .build()
        .expect("the project's serviceProto describes the Rust types");
    let addr = server.start().await.expect("the server starts");
    (server, addr)
}

#[tokio::test]
async fn typescript_binary_clients_built_with_the_projects_file_use_its_ids() {
    let (server, addr) = start().await;
    node::check_shop_clients(addr).await;
    assert_eq!(server.stats().websockets_tsbuffer, 0, "the client is gone");
    server.stop().await;
}

/// A call of a service id the file does not have is answered on its sn,
/// saying so (the id is no other service's).
#[tokio::test]
async fn an_id_the_file_does_not_have_is_no_service() {
    use tsrpc::__wire::{self as codec, ServerFrame};
    let (server, addr) = start().await;
    let mut ws = support::raw(&format!("ws://{addr}"), Some("buffer")).await;
    let order = ReqOrder {
        item: "tea".into(),
        count: 1,
        kind: Kind::Pickup,
        note: None,
    };
    let known = server.service_table().api("shop/Order").unwrap().id();
    // Table ids go out as the file's (4 for `shop/Order`); 99 is no table
    // id, so it goes out as is, and the file has no 99.
    for (id, sn) in [(known, 1), (99, 2)] {
        let frame = codec::encode_api_request_with(Encoding::Tsbuffer, id, "", sn, |out| {
            codec::write_payload(Encoding::Tsbuffer, &order, out)
        })
        .unwrap();
        support::send_binary(&mut ws, frame.into_bytes().to_vec()).await;
    }
    for sn in [1, 2] {
        let reply = support::next(&mut ws).await;
        let frame = tsrpc::WireFrame::Binary(reply.into_data());
        let ServerFrame::ApiReturn {
            sn: got, result, ..
        } = codec::decode_server_frame(Encoding::Tsbuffer, frame).unwrap()
        else {
            panic!("not a return");
        };
        assert_eq!(got, sn);
        match sn {
            1 => assert_eq!(result.unwrap().decode::<ResOrder>().unwrap().id, 10),
            _ => assert_eq!(
                result.unwrap_err().message,
                "Unhandled API: an id the serviceProto in use does not have"
            ),
        }
    }
    server.stop().await;
}

#[test]
fn a_file_that_does_not_describe_the_rust_types_is_refused_naming_each_difference() {
    let mut proto: Value = serde_json::from_str(&fixture_text()).unwrap();
    let types = &mut proto["types"];
    // A field renamed, a type changed, a variant gone, a required field
    // the Rust types lack, a service they do not define.
    types["shop/PtlOrder/ReqOrder"]["properties"][1]["name"] = json!("amount");
    types["shop/models/Line"]["properties"][0]["type"] = json!({ "type": "String" });
    types["shop/models/Status"]["members"]
        .as_array_mut()
        .unwrap()
        .remove(0);
    types["MsgNote/MsgNote"]["properties"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "id": 2, "name": "room", "type": { "type": "String" } }));
    proto["services"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "id": 10, "name": "shop/Refund", "type": "api" }));
    let err = Server::builder()
        .service_proto(proto.to_string())
        .build()
        .expect_err("the file does not describe the Rust types");
    assert_eq!(
        err.problems(),
        [
            "`MsgNote/MsgNote.room`: required in the serviceProto, not in Rust",
            "`shop/PtlOrder/ReqOrder.amount`: required in the serviceProto, not in Rust",
            "`shop/PtlOrder/ReqOrder.count`: required in Rust, not in the serviceProto",
            "`shop/PtlOrder/ResOrder.lines[].qty`: Number (uint) in Rust, String in the serviceProto",
            "`shop/PtlOrder/ResOrder.status<Open>`: in Rust, not in the serviceProto",
            "`shop/Refund`: the serviceProto's API has no Rust definition",
        ]
    );
}

#[tokio::test]
async fn rust_clients_using_the_projects_file_talk_to_tsrpc_servers_built_with_it() {
    let table = tsrpc::ServiceTable::global().unwrap();
    tsrpc::export::use_service_proto(table, &fixture_text()).unwrap();
    let mut node = tokio::process::Command::new("node")
        .arg(node::interop().join("stable-ids-server.js"))
        .arg(fixture())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let stdout = node.stdout.take().expect("piped");
    let line = tokio::time::timeout(
        Duration::from_secs(30),
        BufReader::new(stdout).lines().next_line(),
    )
    .await
    .expect("the Node servers start in time")
    .expect("their stdout is readable")
    .expect("they print their ports");
    let ports: Value = serde_json::from_str(&line).expect("the ports as JSON");

    let delivery = ReqOrder {
        item: "tea".into(),
        count: 2,
        kind: Kind::Delivery {
            address: "Main St 1".into(),
            express: true,
        },
        // Not in the file: Node skips it.
        note: Some("ring twice".into()),
    };
    let expected = ResOrder {
        id: 20,
        status: Status::Paid(201),
        lines: vec![Line {
            sku: "tea@Main St 1".into(),
            qty: 2,
        }],
    };
    let ws = WsClient::builder(format!("ws://127.0.0.1:{}", ports["ws"]))
        .encoding(Encoding::Tsbuffer)
        .build();
    let notes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let inbox = notes.clone();
    ws.listen_msg(move |note: MsgNote| inbox.lock().unwrap().push(note))
        .unwrap();
    ws.connect().await.unwrap();
    assert_eq!(ws.call_api(delivery.clone()).await.unwrap(), expected);
    let err = ws
        .call_api(ReqOrder {
            item: String::new(),
            ..delivery.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(err.message, "item is empty");
    ws.send_msg(&MsgNote {
        text: "hello".into(),
        from: "rust".into(),
    })
    .await
    .unwrap();
    for _ in 0..100 {
        if !notes.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        *notes.lock().unwrap(),
        [MsgNote {
            text: "HELLO".into(),
            from: "node, to rust".into()
        }]
    );

    let http = HttpClient::builder(format!("http://127.0.0.1:{}", ports["http"]))
        .encoding(Encoding::Tsbuffer)
        .build()
        .unwrap();
    assert_eq!(http.call_api(delivery).await.unwrap(), expected);
    drop(node.stdin.take());
}

/// The ids of `types[name]`'s properties, by name.
fn property_ids(proto: &Value, name: &str) -> Vec<(String, u64)> {
    let mut ids: Vec<(String, u64)> = proto["types"][name]["properties"]
        .as_array()
        .unwrap_or_else(|| panic!("{name} has properties"))
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["id"].as_u64().unwrap(),
            )
        })
        .collect();
    ids.sort();
    ids
}

fn pairs(ids: &[(&str, u64)]) -> Vec<(String, u64)> {
    let mut ids: Vec<(String, u64)> = ids.iter().map(|(n, i)| ((*n).to_owned(), *i)).collect();
    ids.sort();
    ids
}

#[test]
fn the_export_keeps_the_projects_ids_and_gives_new_fields_fresh_ones() {
    let table = tsrpc::ServiceTable::global().unwrap();
    let export = tsrpc::export::export_typescript_keeping_ids(table, &fixture_text()).unwrap();
    let proto: Value = serde_json::from_str(export.service_proto_json()).unwrap();
    let services: Vec<(String, u64)> = proto["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["id"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        services,
        pairs(&[("Note", 9), ("shop/Order", 4)]),
        "services keep their ids"
    );
    assert_eq!(
        property_ids(&proto, "shop/PtlOrder/ReqOrder"),
        // `note` is new: after the largest id the file used there (5).
        pairs(&[("item", 3), ("count", 1), ("kind", 5), ("note", 6)])
    );
    assert_eq!(
        property_ids(&proto, "shop/PtlOrder/ResOrder"),
        pairs(&[("id", 2), ("status", 0), ("lines", 1)])
    );
    assert_eq!(
        property_ids(&proto, "types/Line"),
        pairs(&[("sku", 0), ("qty", 1)])
    );
    assert_eq!(
        property_ids(&proto, "MsgNote/MsgNote"),
        pairs(&[("text", 1), ("from", 0)])
    );
    let kind = &proto["types"]["types/Kind"]["members"];
    assert_eq!(kind[0]["type"]["literal"], "Pickup");
    assert_eq!(kind[0]["id"], 1);
    assert_eq!(kind[1]["id"], 2);
    let delivery = &kind[1]["type"]["properties"][0]["type"]["properties"];
    assert_eq!(
        (
            &delivery[0]["name"],
            &delivery[0]["id"],
            &delivery[1]["name"],
            &delivery[1]["id"]
        ),
        (&json!("address"), &json!(2), &json!("express"), &json!(4))
    );
    let status = &proto["types"]["types/Status"]["members"];
    assert_eq!((&status[0]["id"], &status[1]["id"]), (&json!(3), &json!(0)));

    // Once the file is in use, the plain export writes the same ids.
    tsrpc::export::use_service_proto(table, &fixture_text()).unwrap();
    let plain = tsrpc::export::export_typescript(table).unwrap();
    assert_eq!(plain.service_proto_json(), export.service_proto_json());
}

/// The ids are the process's: the same file again is fine, another one
/// (here: the order service renumbered) is refused rather than mixed in.
#[test]
fn a_second_file_with_other_ids_is_refused() {
    let table = tsrpc::ServiceTable::global().unwrap();
    tsrpc::export::use_service_proto(table, &fixture_text()).unwrap();
    tsrpc::export::use_service_proto(table, &fixture_text()).unwrap();
    let mut other: Value = serde_json::from_str(&fixture_text()).unwrap();
    other["services"][0]["id"] = json!(5);
    let err = tsrpc::export::use_service_proto(table, &other.to_string()).unwrap_err();
    assert_eq!(
        err.problems(),
        [
            "another serviceProto's ids are already in use in this process (one process serves one protocol)"
        ]
    );
}
