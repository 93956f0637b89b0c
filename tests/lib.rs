//! Protocols and handlers shared by the integration tests.
//!
//! Every test binary that uses this crate links these definitions, so they
//! are in each binary's service table.

pub mod proto {
    use serde::{Deserialize, Serialize};
    use tsrpc::{Binary, Timestamp};

    /// API "Echo" (name derived from the struct name).
    #[tsrpc::api]
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct ReqEcho {
        pub a: i32,
        pub b: String,
        pub c: bool,
    }

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct ResEcho {
        pub a: i32,
        pub b: String,
        pub c: bool,
    }

    /// API "room/Send" with an explicit name and response type.
    #[tsrpc::api(name = "room/Send", res = SendResult)]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct SendRequest {
        pub content: String,
    }

    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct SendResult {
        pub time: Timestamp,
    }

    /// API and message may share a name, as in TSRPC.
    #[tsrpc::api]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ReqChat {
        pub content: String,
    }

    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ResChat {}

    #[tsrpc::msg]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct MsgChat {
        pub content: String,
        pub time: Timestamp,
        pub attachment: Option<Binary>,
    }

    #[tsrpc::msg(name = "room/Typing")]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct MsgTyping {
        pub user: String,
    }

    /// Panics: to show that a panic fails only its own call.
    #[tsrpc::api]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ReqPanic {}

    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ResPanic {}

    /// Sleeps for `ms` milliseconds.
    #[tsrpc::api]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ReqSleep {
        pub ms: u64,
    }

    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ResSleep {}

    /// Closes the caller's connection with this reason.
    #[tsrpc::api]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ReqKick {
        pub reason: String,
    }

    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ResKick {}

    /// Broadcasts `MsgChat` to every connection, the caller included.
    #[tsrpc::api]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ReqShout {
        pub content: String,
    }

    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ResShout {}

    /// Counts how many times it is serialized, to show broadcasts encode once.
    #[tsrpc::msg]
    #[derive(Deserialize, Debug, Clone)]
    pub struct MsgCounted {
        pub n: u32,
    }

    pub static COUNTED_ENCODES: std::sync::atomic::AtomicUsize =
        std::sync::atomic::AtomicUsize::new(0);

    impl Serialize for MsgCounted {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeStruct;
            COUNTED_ENCODES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut s = serializer.serialize_struct("MsgCounted", 1)?;
            s.serialize_field("n", &self.n)?;
            s.end()
        }
    }

    #[tsrpc::msg(name = "game/Move")]
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct MsgMove {
        pub x: i32,
    }

    /// Registered, but no handler implements it.
    #[tsrpc::api]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ReqNobody {}

    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ResNobody {}
}

pub mod handlers {
    use std::time::Duration;

    use tsrpc::{ApiCall, MsgCall, Timestamp, TsrpcError};

    use crate::proto::*;

    #[tsrpc::handler]
    async fn echo(call: ApiCall<ReqEcho>) -> Result<ResEcho, TsrpcError> {
        let ReqEcho { a, b, c } = call.req;
        Ok(ResEcho { a, b, c })
    }

    #[tsrpc::handler]
    async fn send(call: ApiCall<SendRequest>) -> Result<SendResult, TsrpcError> {
        if call.req.content.is_empty() {
            return Err(TsrpcError::api("Content is empty"));
        }
        Ok(SendResult {
            time: Timestamp::now(),
        })
    }

    #[tsrpc::handler]
    async fn chat(_call: ApiCall<ReqChat>) -> Result<ResChat, TsrpcError> {
        Ok(ResChat {})
    }

    #[tsrpc::handler]
    async fn on_chat(_call: MsgCall<MsgChat>) {}

    #[tsrpc::handler]
    #[allow(unreachable_code)]
    async fn panics(_call: ApiCall<ReqPanic>) -> Result<ResPanic, TsrpcError> {
        panic!("this handler always panics");
    }

    #[tsrpc::handler]
    async fn kick(call: ApiCall<ReqKick>) -> Result<ResKick, TsrpcError> {
        call.conn.close(call.req.reason.clone());
        Ok(ResKick {})
    }

    #[tsrpc::handler]
    async fn shout(call: ApiCall<ReqShout>) -> Result<ResShout, TsrpcError> {
        let chat = MsgChat {
            content: call.req.content.clone(),
            time: Timestamp::now(),
            attachment: None,
        };
        call.server().broadcast_msg(&chat)?;
        Ok(ResShout {})
    }

    #[tsrpc::handler]
    async fn sleep(call: ApiCall<ReqSleep>) -> Result<ResSleep, TsrpcError> {
        tokio::time::sleep(Duration::from_millis(call.req.ms)).await;
        Ok(ResSleep {})
    }
}

/// Helpers to start servers and talk to them with raw sockets.
pub mod support {
    use std::time::Duration;

    use futures_util::{SinkExt, StreamExt};
    use tokio::net::TcpStream;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::{Bytes, Message};
    use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
    use tsrpc::{Server, ServerBuilder};

    /// A raw client socket.
    pub type Raw = WebSocketStream<MaybeTlsStream<TcpStream>>;

    /// How long a test waits for something that should happen at once;
    /// only a guard against hanging, never an assertion on speed.
    pub const PATIENCE: Duration = Duration::from_secs(10);

    /// Starts a server on 127.0.0.1 with a free port; returns it and its ws:// URL.
    pub async fn start(builder: ServerBuilder) -> (Server, String) {
        let server = builder
            .bind("127.0.0.1:0".parse().expect("a valid address"))
            .build()
            .expect("the test protocols are consistent");
        let addr = server.start().await.expect("the server starts");
        (server, format!("ws://{addr}"))
    }

    /// Opens a raw WebSocket, offering `protocol` if given.
    pub async fn raw(url: &str, protocol: Option<&str>) -> Raw {
        let mut request = url.into_client_request().expect("a valid URL");
        if let Some(p) = protocol {
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", p.parse().expect("a valid header"));
        }
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("the server accepts");
        ws
    }

    /// The next data or close frame (pings and pongs are skipped).
    pub async fn next(ws: &mut Raw) -> Message {
        loop {
            let msg = tokio::time::timeout(PATIENCE, ws.next())
                .await
                .expect("a frame arrives in time")
                .expect("the connection is open")
                .expect("a valid frame");
            if !matches!(msg, Message::Ping(_) | Message::Pong(_)) {
                return msg;
            }
        }
    }

    /// The next text frame, as a string.
    pub async fn next_text(ws: &mut Raw) -> String {
        match next(ws).await {
            Message::Text(t) => t.to_string(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Sends a text frame.
    pub async fn send_text(ws: &mut Raw, text: &str) {
        ws.send(Message::text(text))
            .await
            .expect("the frame is sent");
    }

    /// Sends a binary frame.
    pub async fn send_binary(ws: &mut Raw, data: Vec<u8>) {
        ws.send(Message::Binary(Bytes::from(data)))
            .await
            .expect("the frame is sent");
    }

    /// Reads until the close frame and returns it.
    pub async fn closed(ws: &mut Raw) -> CloseFrame {
        loop {
            match next(ws).await {
                Message::Close(Some(frame)) => return frame,
                Message::Close(None) => panic!("closed without a close frame"),
                _ => {}
            }
        }
    }
}
