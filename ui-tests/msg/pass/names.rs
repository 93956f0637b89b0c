use serde::{Deserialize, Serialize};
use tsrpc::Message;

#[tsrpc::msg]
#[derive(Serialize, Deserialize)]
pub struct MsgChat {
    pub content: String,
    pub time: tsrpc::Timestamp,
}

#[tsrpc::msg(name = "game/Move")]
#[derive(Serialize, Deserialize)]
pub struct PlayerMoved {
    pub x: f64,
    pub y: f64,
}

/// An API and a message may share a name.
#[tsrpc::api(name = "Chat")]
#[derive(Serialize, Deserialize)]
pub struct ReqChat {}

#[derive(Serialize, Deserialize)]
pub struct ResChat {}

fn main() {
    assert_eq!(MsgChat::NAME, "Chat");
    assert_eq!(PlayerMoved::NAME, "game/Move");
    let table = tsrpc::ServiceTable::global().unwrap();
    assert_eq!(table.api("Chat").unwrap().id(), 0);
    assert_eq!(table.msg("Chat").unwrap().id(), 1);
}
