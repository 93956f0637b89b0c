//! The benchmark's protocols and their handlers: the same API every server
//! of the benchmark implements (`bench/node/proto.js` for TSRPC, by hand in
//! `raw.rs` for the raw echo servers).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tsrpc::{ApiCall, Binary, TsrpcError};

/// API "Echo": the small request, answered with the same values.
#[tsrpc::api]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReqEcho {
    /// A number.
    pub(crate) a: i32,
    /// `"Hello, World!"` in the benchmark.
    pub(crate) b: String,
    /// A flag.
    pub(crate) c: bool,
}

/// The response of "Echo": the request's values.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResEcho {
    /// As sent.
    pub(crate) a: i32,
    /// As sent.
    pub(crate) b: String,
    /// As sent.
    pub(crate) c: bool,
}

/// API "EchoBig": TSRPC's own benchmark request, with 100,000 bytes in `d`.
#[tsrpc::api]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReqEchoBig {
    /// A number.
    pub(crate) a: i32,
    /// A string.
    pub(crate) b: String,
    /// A flag.
    pub(crate) c: bool,
    /// The bulk: base64 in JSON, a `Uint8Array` to TypeScript.
    pub(crate) d: Binary,
}

/// The response of "EchoBig": the request's values.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResEchoBig {
    /// As sent.
    pub(crate) a: i32,
    /// As sent.
    pub(crate) b: String,
    /// As sent.
    pub(crate) c: bool,
    /// As sent.
    pub(crate) d: Binary,
}

/// API "Broadcast": the server broadcasts [`MsgTick`] to every connection.
#[tsrpc::api]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReqBroadcast {
    /// Copied into the message, so clients know which broadcast they got.
    pub(crate) seq: u32,
    /// Copied into the message.
    pub(crate) text: String,
}

/// The response of "Broadcast".
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResBroadcast {
    /// How many times the server encoded the message for this broadcast.
    pub(crate) encodes: u32,
    /// How many connections it was sent to.
    pub(crate) receivers: u32,
}

/// Message "Tick": what "Broadcast" sends.
#[tsrpc::msg]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct MsgTick {
    /// The broadcast's number.
    pub(crate) seq: u32,
    /// Some text; every encoding of it is counted.
    pub(crate) text: Counted,
}

static ENCODES: AtomicU64 = AtomicU64::new(0);

/// A string that counts how many times it is serialized, so the benchmark
/// can report how many encodes a broadcast cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Counted(pub String);

impl Counted {
    /// Serializations of any `Counted` so far, in this process.
    pub(crate) fn encodes() -> u64 {
        ENCODES.load(Ordering::Relaxed)
    }
}

impl Serialize for Counted {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // tsrpc's JSON writer first asks each struct field whether it is
        // `None` (its `NoneProbe`, which writes nothing and stops at the
        // first value it is given): that question is not an encode.
        if !std::any::type_name::<S>().ends_with("::NoneProbe") {
            ENCODES.fetch_add(1, Ordering::Relaxed);
        }
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Counted)
    }
}

#[tsrpc::handler]
async fn echo(call: ApiCall<ReqEcho>) -> Result<ResEcho, TsrpcError> {
    let ReqEcho { a, b, c } = call.req;
    Ok(ResEcho { a, b, c })
}

#[tsrpc::handler]
async fn echo_big(call: ApiCall<ReqEchoBig>) -> Result<ResEchoBig, TsrpcError> {
    let ReqEchoBig { a, b, c, d } = call.req;
    Ok(ResEchoBig { a, b, c, d })
}

#[tsrpc::handler]
async fn broadcast(call: ApiCall<ReqBroadcast>) -> Result<ResBroadcast, TsrpcError> {
    let server = call.server().clone();
    let conns = server.connections();
    let before = Counted::encodes();
    let ReqBroadcast { seq, text } = call.req;
    let tick = MsgTick {
        seq,
        text: Counted(text),
    };
    if server.cluster_stats().is_some() {
        // A node of a cluster: every node's connections.
        server.broadcast_msg(&tick).await?;
    } else {
        server.broadcast_msg_to(&tick, &conns).await?;
    }
    let encodes = Counted::encodes() - before;
    Ok(ResBroadcast {
        encodes: u32::try_from(encodes).unwrap_or(u32::MAX),
        receivers: u32::try_from(conns.len()).unwrap_or(u32::MAX),
    })
}

/// Installs, for this process, a `serviceProto` of the benchmark's
/// protocol whose ids are not positions (as a TSRPC project's are once
/// edited): every interface of several properties numbers them backwards
/// from 3, every enum's members backwards, every service from 100. The
/// `serve tsrpc-ids` server and the `load <port> tsbuffer-ids` generator
/// both install it, so that TSBuffer calls pay the ids' look-ups.
pub(crate) fn install_shuffled_ids() {
    use serde_json::{Value, json};
    fn shuffle(value: &mut Value) {
        match value {
            Value::Object(map) => {
                let kind = map.get("type").and_then(Value::as_str).map(str::to_owned);
                if kind.as_deref() == Some("Interface")
                    && let Some(Value::Array(properties)) = map.get_mut("properties")
                    && properties.len() > 1
                {
                    let n = properties.len();
                    for (i, property) in properties.iter_mut().enumerate() {
                        property["id"] = json!(3 + n - 1 - i);
                    }
                }
                let nullable = |members: &[Value]| {
                    members
                        .iter()
                        .any(|m| m["type"]["type"] == "Literal" && m["type"]["literal"].is_null())
                };
                if kind.as_deref() == Some("Union")
                    && let Some(Value::Array(members)) = map.get_mut("members")
                    && !nullable(members)
                {
                    let n = members.len();
                    for (i, member) in members.iter_mut().enumerate() {
                        member["id"] = json!(n - 1 - i);
                    }
                }
                map.values_mut().for_each(shuffle);
            }
            Value::Array(items) => items.iter_mut().for_each(shuffle),
            _ => {}
        }
    }
    let table = tsrpc::ServiceTable::global().expect("the benchmark's protocol");
    let export = tsrpc::export::export_typescript(table).expect("it exports");
    let mut proto: Value = serde_json::from_str(export.service_proto_json()).expect("JSON");
    if let Some(Value::Array(services)) = proto.get_mut("services") {
        for service in services {
            service["id"] = json!(service["id"].as_u64().unwrap_or(0) + 100);
        }
    }
    if let Some(types) = proto.get_mut("types") {
        shuffle(types);
    }
    tsrpc::export::use_service_proto(table, &proto.to_string())
        .expect("the shuffled serviceProto describes the protocol");
}
