use serde::{Deserialize, Serialize};
use tsrpc::{ApiCall, MsgCall, TsrpcError};

#[tsrpc::api]
#[derive(Serialize, Deserialize)]
pub struct ReqAdd {
    pub a: i32,
    pub b: i32,
}

#[derive(Serialize, Deserialize)]
pub struct ResAdd {
    pub sum: i32,
}

#[tsrpc::msg]
#[derive(Serialize, Deserialize)]
pub struct MsgHello {}

#[tsrpc::handler]
pub async fn add(call: ApiCall<ReqAdd>) -> Result<ResAdd, TsrpcError> {
    Ok(ResAdd { sum: call.req.a + call.req.b })
}

/// Fully qualified types and `()` as an explicit message return type.
#[tsrpc::handler]
async fn hello(call: tsrpc::MsgCall<MsgHello>) -> () {
    let _ = call.conn.id();
}

#[tsrpc::handler]
async fn hello_again(_: MsgCall<MsgHello>) {}

/// Handlers keep working as plain functions.
async fn direct() {
    let _ = hello_again;
}

fn main() {
    let _ = direct;
    let server = tsrpc::Server::builder().build().unwrap();
    let handlers = server.handlers();
    assert_eq!(handlers.len(), 3);
    assert_eq!(handlers[0].service(), "Add");
}
