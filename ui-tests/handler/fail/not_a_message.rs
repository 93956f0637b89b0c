use serde::{Deserialize, Serialize};
use tsrpc::MsgCall;

/// Forgot `#[tsrpc::msg]`: the error says what to add.
#[derive(Serialize, Deserialize)]
pub struct MsgChat {}

#[tsrpc::handler]
async fn chat(_call: MsgCall<MsgChat>) {}

fn main() {}
