//! The chatroom's server side: one handler and the server's settings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tsrpc::{ApiCall, Server, ServerBuilder, SetupError, Timestamp, TsrpcError};

use super::protocol::{MsgChat, ReqSend, ResSend};

/// Handles "Send": refuses empty content, then broadcasts the chat to
/// every connection, the sender included.
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

/// Where `examples/web/build.sh` puts the browser front end.
pub fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("web")
        .join("dist")
}

/// The chatroom server on `addr`, not started yet. It accepts JSON and
/// binary connections over WebSocket and HTTP, serves the browser front
/// end at `/` when it was built, and closes connections that send
/// nothing (not even a heartbeat) for a minute. Its handlers are found by
/// `#[tsrpc::handler]`; the login example's, in the same crate, are left out.
pub fn server(addr: SocketAddr) -> Result<Server, SetupError> {
    builder(addr).build()
}

/// The chatroom server's settings, to add to (TLS, say) before building.
pub fn builder(addr: SocketAddr) -> ServerBuilder {
    let mut builder = Server::builder()
        .bind(addr)
        .heartbeat_wait_time(Some(Duration::from_secs(60)))
        .select_handlers(|h| !h.service().starts_with("login/"));
    if web_dir().join("index.html").is_file() {
        builder = builder.static_dir(web_dir());
    }
    builder
}
