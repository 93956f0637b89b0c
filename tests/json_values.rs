//! JSON mode writes what a TSRPC peer would: `None` fields left out, and
//! floats JavaScript cannot read (NaN, infinities) refused with an error
//! naming the field, never sent as `null` for the peer to drop.
//!
//! The handlers here are this binary's own (no other test protocol is
//! linked).

mod support;

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use support::{json, next_text, raw, raw_http, send_text, start};
use tsrpc::{ApiCall, ErrorKind, MsgCall, Server, TsrpcError, WsClient};

#[tsrpc::api(name = "json/Measure")]
#[derive(Serialize, Deserialize, Debug)]
pub struct ReqMeasure {
    pub value: f64,
    pub note: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct ResMeasure {
    pub reading: Reading,
    pub history: Vec<Option<f64>>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
pub struct Reading {
    pub value: f64,
    pub unit: Option<String>,
}

#[tsrpc::msg(name = "json/Reading")]
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct MsgReading {
    pub reading: Reading,
    pub note: Option<String>,
}

/// The notes of the readings the server was sent.
static NOTES: Mutex<Vec<Option<String>>> = Mutex::new(Vec::new());

#[tsrpc::handler]
async fn measure(call: ApiCall<ReqMeasure>) -> Result<ResMeasure, TsrpcError> {
    // A negative value makes a calculation go wrong: its square root is NaN.
    let value = if call.req.value < 0.0 {
        call.req.value.sqrt()
    } else {
        call.req.value
    };
    Ok(ResMeasure {
        reading: Reading {
            value,
            unit: call.req.note.clone(),
        },
        history: vec![None, Some(call.req.value)],
    })
}

#[tsrpc::handler]
async fn reading(call: MsgCall<MsgReading>) {
    NOTES.lock().unwrap().push(call.msg.note.clone());
}

#[tokio::test]
async fn none_fields_are_left_out_as_tsrpc_leaves_them_out() {
    let (server, url) = start(Server::builder()).await;
    let mut ws = raw(&url, Some("text")).await;

    send_text(&mut ws, r#"["json/Measure",{"value":1.5},1]"#).await;
    // `unit: None` is left out; a None in an array stays null.
    assert_eq!(
        next_text(&mut ws).await,
        r#"["json/Measure",{"isSucc":true,"res":{"reading":{"value":1.5},"history":[null,1.5]}},1]"#
    );
    send_text(&mut ws, r#"["json/Measure",{"value":2,"note":"cm"},2]"#).await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"["json/Measure",{"isSucc":true,"res":{"reading":{"value":2.0,"unit":"cm"},"history":[null,2.0]}},2]"#
    );

    // Pushed messages too.
    let msg = MsgReading {
        reading: Reading {
            value: 3.0,
            unit: None,
        },
        note: None,
    };
    server.broadcast_msg(&msg).await.unwrap();
    assert_eq!(
        next_text(&mut ws).await,
        r#"["json/Reading",{"reading":{"value":3.0}}]"#
    );

    // And HTTP.
    let addr = url.trim_start_matches("ws://").parse().unwrap();
    let res = raw_http(
        addr,
        "POST /json/Measure HTTP/1.1\r\nContent-Type: application/json",
        r#"{"value":4}"#,
    )
    .await;
    assert_eq!(
        res.body,
        r#"{"isSucc":true,"res":{"reading":{"value":4.0},"history":[null,4.0]}}"#
    );

    // A Rust client leaves None out when it sends, and reads absence as None.
    let client = WsClient::builder(url.clone()).json(true).build();
    client.connect().await.unwrap();
    let res = client
        .call_api(ReqMeasure {
            value: 5.0,
            note: None,
        })
        .await
        .unwrap();
    assert_eq!(
        res.reading,
        Reading {
            value: 5.0,
            unit: None
        }
    );
    client.send_msg(&msg).await.unwrap();
    tokio::time::timeout(support::PATIENCE, async {
        while NOTES.lock().unwrap().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the message arrives");
    assert_eq!(*NOTES.lock().unwrap(), [None]);
    client.disconnect().await;
    server.stop().await;
}

#[tokio::test]
async fn floats_javascript_cannot_read_are_refused_naming_the_field() {
    let (server, url) = start(Server::builder().return_inner_error(true)).await;
    let mut ws = raw(&url, Some("text")).await;

    // A response holding NaN is an INTERNAL_ERR that names the field.
    send_text(&mut ws, r#"["json/Measure",{"value":-1},1]"#).await;
    let reply = json(&next_text(&mut ws).await);
    assert_eq!(reply[2], 1);
    let err = &reply[1]["err"];
    assert_eq!(err["code"], "INTERNAL_ERR", "{err}");
    let inner = err["innerErr"].as_str().unwrap();
    assert!(inner.contains("at `reading.value`"), "{inner}");
    assert!(inner.contains("NaN"), "{inner}");

    // The connection goes on.
    send_text(&mut ws, r#"["json/Measure",{"value":1},2]"#).await;
    assert_eq!(json(&next_text(&mut ws).await)[1]["isSucc"], true);

    // A broadcast holding one is refused to the sender, naming the field;
    // nobody receives a frame they would have to drop.
    let bad = MsgReading {
        reading: Reading {
            value: f64::NAN,
            unit: None,
        },
        note: None,
    };
    let err = server.broadcast_msg(&bad).await.unwrap_err();
    assert!(err.message.contains("reading.value"), "{}", err.message);
    assert!(err.message.contains("NaN"), "{}", err.message);
    let fine = MsgReading {
        reading: Reading {
            value: 0.5,
            unit: None,
        },
        note: None,
    };
    server.broadcast_msg(&fine).await.unwrap();
    assert_eq!(
        next_text(&mut ws).await,
        r#"["json/Reading",{"reading":{"value":0.5}}]"#
    );

    // A Rust client refuses to send one, before sending.
    let client = WsClient::builder(url.clone()).json(true).build();
    client.connect().await.unwrap();
    let err = client
        .call_api(ReqMeasure {
            value: f64::INFINITY,
            note: None,
        })
        .await
        .unwrap_err();
    assert!(err.message.contains("value"), "{}", err.message);
    assert_eq!(err.kind, ErrorKind::ClientError, "{err:?}");
    // Binary mode carries every float.
    let binary = WsClient::builder(url).build();
    binary.connect().await.unwrap();
    let res = binary
        .call_api(ReqMeasure {
            value: f64::INFINITY,
            note: None,
        })
        .await
        .unwrap();
    assert_eq!(res.reading.value, f64::INFINITY);
    server.stop().await;
}
