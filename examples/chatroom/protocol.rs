//! The chatroom's protocol, shared by the server, the Rust client, and the
//! browser (through the TypeScript export: `cargo run --example export-ts`).

use serde::{Deserialize, Serialize};
use tsrpc::Timestamp;

/// API "Send": post a message to the room.
#[tsrpc::api]
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ReqSend {
    /// What to say; must not be empty.
    pub content: String,
}

/// The response of "Send".
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ResSend {
    /// When the server accepted the message.
    pub time: Timestamp,
}

/// Message "Chat": a message posted to the room.
#[tsrpc::msg]
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct MsgChat {
    /// What was said.
    pub content: String,
    /// When the server accepted it.
    pub time: Timestamp,
}
