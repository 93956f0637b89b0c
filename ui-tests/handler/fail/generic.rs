use serde::{Deserialize, Serialize};
use tsrpc::MsgCall;

#[tsrpc::msg]
#[derive(Serialize, Deserialize)]
pub struct MsgHi {}

#[tsrpc::handler]
async fn generic<T>(_call: MsgCall<MsgHi>) {}

fn main() {}
