//! The handlers of TSRPC's chatroom, on its protocol brought over by
//! `tsrpc import` (`protocol.rs`): what a team writes by hand when moving
//! the backend, the TypeScript handlers' bodies in Rust.

use std::net::SocketAddr;

use tsrpc::{ApiCall, Server, ServerBuilder, Timestamp, TsrpcError};

use super::protocol::{MsgChat, ReqSend, ResSend, SERVICE_PROTO};

/// `Send`: refuses empty content, then broadcasts the chat to every
/// connection (TSRPC's `ApiSend.ts`).
#[tsrpc::handler]
pub async fn send(call: ApiCall<ReqSend>) -> Result<ResSend, TsrpcError> {
    if call.req.content.is_empty() {
        return Err(TsrpcError::api("Content is empty"));
    }
    let time = Timestamp::now();
    call.server()
        .broadcast_msg(&MsgChat {
            content: call.req.content.clone(),
            time,
        })
        .await?;
    Ok(ResSend { time })
}

/// The server on `addr`, with the project's ids (`SERVICE_PROTO`): the
/// chatroom's TSRPC front end connects to it unchanged.
pub fn builder(addr: SocketAddr) -> ServerBuilder {
    Server::builder().bind(addr).service_proto(SERVICE_PROTO)
}
