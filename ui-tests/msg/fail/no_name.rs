use serde::{Deserialize, Serialize};

#[tsrpc::msg]
#[derive(Serialize, Deserialize)]
pub struct ChatMessage {}

#[tsrpc::msg]
#[derive(Serialize, Deserialize)]
pub struct MsgÜber {}

fn main() {}
