//! Protocols shared by the examples (`cargo run --example <name>` from the
//! workspace root). The examples themselves are the other files here.

/// The chatroom of TSRPC's own example: API `Send`, message `Chat`.
pub mod chatroom {
    use serde::{Deserialize, Serialize};
    use tsrpc::{ApiCall, Timestamp, TsrpcError};

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

    /// Handles "Send": refuses empty content, stamps the time.
    #[tsrpc::handler]
    pub async fn send(call: ApiCall<ReqSend>) -> Result<ResSend, TsrpcError> {
        if call.req.content.is_empty() {
            return Err(TsrpcError::api("Content is empty"));
        }
        Ok(ResSend {
            time: Timestamp::now(),
        })
    }
}
