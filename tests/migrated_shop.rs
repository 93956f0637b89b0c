//! A TSRPC project moved to Rust with `tsrpc import`: the module it wrote
//! for `fixtures/stable-ids-serviceProto.json` (`fixtures/stable-ids-protocol.rs`,
//! kept equal to the command's output by `tsrpc-cli`'s tests: ids that are
//! not positions, shared types named otherwise than the export names them,
//! an enum with a struct variant) is served with the file, and TSRPC's own
//! clients built with the file get the same answers as from the
//! hand-written types of `stable_ids.rs`.

mod node;
// A protocol module's items are `pub`, for a protocol crate.
#[allow(unreachable_pub)]
#[path = "fixtures/stable-ids-protocol.rs"]
mod protocol;

use protocol::{Kind, Line, MsgNote, ReqOrder, ResOrder, Status};
use tsrpc::server::{ApiCall, MsgCall};
use tsrpc::{Server, TsrpcError};

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
            Status::Paid(count * 100 + u64::from(*express)),
            format!("{}@{address}", req.item),
        ),
    };
    Ok(ResOrder {
        id: count * 10,
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

#[tokio::test]
async fn typescript_clients_of_the_project_use_the_generated_module_unchanged() {
    let server = Server::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .service_proto(protocol::SERVICE_PROTO)
        .build()
        .expect("the generated types are the file's");
    let addr = server.start().await.expect("the server starts");
    node::check_shop_clients(addr).await;
    server.stop().await;
}
