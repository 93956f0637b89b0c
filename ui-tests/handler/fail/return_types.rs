use serde::{Deserialize, Serialize};
use tsrpc::{ApiCall, MsgCall};

#[tsrpc::api]
#[derive(Serialize, Deserialize)]
pub struct ReqAdd {}

#[derive(Serialize, Deserialize)]
pub struct ResAdd {}

#[tsrpc::msg]
#[derive(Serialize, Deserialize)]
pub struct MsgHi {}

/// An API handler must return its response.
#[tsrpc::handler]
async fn add(_call: ApiCall<ReqAdd>) {}

/// A message handler returns nothing.
#[tsrpc::handler]
async fn hi(_call: MsgCall<MsgHi>) -> bool {
    true
}

fn main() {}
