use serde::{Deserialize, Serialize};

#[tsrpc::msg(res = Other)]
#[derive(Serialize, Deserialize)]
pub struct MsgChat {}

fn main() {}
