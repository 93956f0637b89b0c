//! The calls scenarios: small and big WebSocket calls, small HTTP calls.

use std::sync::Arc;

use tsrpc::{Binary, Encoding};

use crate::load::CallSpec;
use crate::proto::{ReqEcho, ReqEchoBig, ResEcho, ResEchoBig};
use crate::runner::{Bench, CallTable, Driver, Row, Server, TraceLevel, Variant, run_calls};

/// The small request echoed, and its answer.
pub(crate) fn small_req() -> (ReqEcho, ResEcho) {
    let req = ReqEcho {
        a: 123,
        b: "Hello, World!".into(),
        c: true,
    };
    let res = ResEcho {
        a: req.a,
        b: req.b.clone(),
        c: req.c,
    };
    (req, res)
}

/// TSRPC's benchmark request: 100,000 bytes with three small fields.
fn big_req() -> (ReqEchoBig, ResEchoBig) {
    let d: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let req = ReqEchoBig {
        a: 123,
        b: "Hello, World!".into(),
        c: true,
        d: Binary(d),
    };
    let res = ResEchoBig {
        a: req.a,
        b: req.b.clone(),
        c: req.c,
        d: req.d.clone(),
    };
    (req, res)
}

/// The JSON, binary and TSBuffer calls of `req`, answered with `res`.
fn specs<R>((req, res): (R, R::Res)) -> [CallSpec; 3]
where
    R: tsrpc::Api,
    R::Res: PartialEq + std::fmt::Debug + serde::de::DeserializeOwned + serde::Serialize + Clone,
{
    [
        CallSpec::new(Encoding::Json, &req, res.clone()),
        CallSpec::new(Encoding::Binary, &req, res.clone()),
        CallSpec::new(Encoding::Tsbuffer, &req, res),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Ws,
    Http,
}

/// The rows of a calls table: tsrpc and the raw server in JSON and binary,
/// tsrpc in TSRPC's binary mode (TSBuffer), tsrpc with a tracing
/// subscriber (small calls), then TSRPC on Node (JSON and TSBuffer through
/// our generator, binary also through its own client) when Node is there.
fn call_variants(
    b: &Bench,
    [json, binary, tsbuffer]: [CallSpec; 3],
    transport: Transport,
    big: bool,
) -> Vec<Variant> {
    let (json, binary, tsbuffer) = (Arc::new(json), Arc::new(binary), Arc::new(tsbuffer));
    let (drive, raw, node, node_client): (fn(_) -> _, _, _, _) = match transport {
        Transport::Ws => (Driver::Ws, Server::RawWs, Server::NodeWs, "ws"),
        Transport::Http => (Driver::Http, Server::RawHttp, Server::NodeHttp, "http"),
    };
    let row = Row::new;
    let mut variants = vec![
        Variant::new(row(Server::Tsrpc, Encoding::Json), drive(json.clone())),
        Variant::new(row(raw, Encoding::Json), drive(json.clone())),
        Variant::new(row(Server::Tsrpc, Encoding::Binary), drive(binary.clone())),
        Variant::new(row(raw, Encoding::Binary), drive(binary.clone())),
        Variant::new(
            row(Server::Tsrpc, Encoding::Tsbuffer),
            drive(tsbuffer.clone()),
        ),
    ];
    if transport == Transport::Ws && !big {
        // TLS beside plain WebSocket: what `wss://` costs.
        variants.push(Variant::new(
            row(Server::TsrpcTls, Encoding::Json),
            drive(json.clone()),
        ));
        variants.push(Variant::new(
            row(Server::TsrpcTls, Encoding::Binary),
            drive(binary.clone()),
        ));
    }
    if !big {
        for level in [TraceLevel::Info, TraceLevel::Debug] {
            let server = Server::TsrpcTraced(level);
            variants.push(Variant::new(
                row(server, Encoding::Json),
                drive(json.clone()),
            ));
        }
    }
    if b.node.is_some() {
        variants.push(Variant::new(row(node, Encoding::Json), drive(json)));
        variants.push(Variant::new(row(node, Encoding::Tsbuffer), drive(tsbuffer)));
        variants.push(Variant::new(
            row(node, Encoding::Binary),
            Driver::NodeClient(node_client, big),
        ));
    }
    variants
}

const NODE_CLIENT_NOTE: &str = " (its Node client is the bottleneck)";

pub(crate) async fn ws_small(b: &mut Bench) {
    let variants = call_variants(b, specs(small_req()), Transport::Ws, false);
    let (conns, inflight) = (b.options.conns, b.options.inflight);
    let detail = format!(
        "`{{a, b: \"Hello, World!\", c}}` echoed; {conns} connections × {inflight} calls in flight."
    );
    let table = CallTable::WsSmall;
    run_calls(b, table, &detail, variants, conns, inflight).await;
    let encodings = [Encoding::Json, Encoding::Binary];
    for encoding in encodings {
        let tsrpc = Row::new(Server::Tsrpc, encoding);
        b.ratio_target(table, tsrpc, Row::new(Server::RawWs, encoding), 0.8, "");
    }
    for encoding in [Encoding::Json, Encoding::Binary, Encoding::Tsbuffer] {
        let tsrpc = Row::new(Server::Tsrpc, encoding);
        let note = match encoding {
            Encoding::Json | Encoding::Tsbuffer => "",
            Encoding::Binary => NODE_CLIENT_NOTE,
        };
        b.ratio_target(table, tsrpc, Row::new(Server::NodeWs, encoding), 5.0, note);
    }
}

pub(crate) async fn ws_big(b: &mut Bench) {
    let variants = call_variants(b, specs(big_req()), Transport::Ws, true);
    let (conns, inflight) = (b.options.big_conns, b.options.big_inflight);
    let detail = format!(
        "TSRPC's benchmark request `{{a, b, c, d: 100,000 bytes}}` echoed (base64 in JSON); {conns} connections × {inflight} call in flight."
    );
    run_calls(b, CallTable::WsBig, &detail, variants, conns, inflight).await;
}

pub(crate) async fn http_small(b: &mut Bench) {
    let variants = call_variants(b, specs(small_req()), Transport::Http, false);
    let conns = b.options.conns * b.options.inflight;
    let detail =
        format!("`POST /Echo`, HTTP/1.1 keep-alive; {conns} connections × 1 call in flight.");
    let table = CallTable::HttpSmall;
    run_calls(b, table, &detail, variants, conns, 1).await;
    b.ratio_target(
        table,
        Row::new(Server::Tsrpc, Encoding::Json),
        Row::new(Server::NodeHttp, Encoding::Json),
        5.0,
        "",
    );
    b.ratio_target(
        table,
        Row::new(Server::Tsrpc, Encoding::Binary),
        Row::new(Server::NodeHttp, Encoding::Binary),
        5.0,
        NODE_CLIENT_NOTE,
    );
    b.ratio_target(
        table,
        Row::new(Server::Tsrpc, Encoding::Tsbuffer),
        Row::new(Server::NodeHttp, Encoding::Tsbuffer),
        5.0,
        "",
    );
}
