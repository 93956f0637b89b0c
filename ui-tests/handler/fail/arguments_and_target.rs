use serde::{Deserialize, Serialize};
use tsrpc::MsgCall;

#[tsrpc::msg]
#[derive(Serialize, Deserialize)]
pub struct MsgHi {}

#[tsrpc::handler(name = "Hi")]
async fn hi(_call: MsgCall<MsgHi>) {}

#[tsrpc::handler]
pub struct NotAFunction;

fn main() {}
