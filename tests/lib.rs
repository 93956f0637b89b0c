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

    /// Its request's and response's own serde code panics on demand: an
    /// `input` of "boom" while the request is decoded, `explode_out` while
    /// the response is encoded (after `wait_ms`, if not 0).
    #[tsrpc::api]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ReqFragile {
        pub input: Fuse,
        pub explode_out: bool,
        pub wait_ms: u64,
    }

    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ResFragile {
        pub output: Fuse,
    }

    /// A string whose serde code panics when it is "boom".
    #[derive(Debug, Clone)]
    pub struct Fuse(pub String);

    impl Serialize for Fuse {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            assert!(self.0 != "boom", "the fuse blew while encoding");
            serializer.serialize_str(&self.0)
        }
    }

    impl<'de> Deserialize<'de> for Fuse {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let text = String::deserialize(deserializer)?;
            assert!(text != "boom", "the fuse blew while decoding");
            Ok(Fuse(text))
        }
    }

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

    /// Tells what the handler sees of the caller's connection.
    #[tsrpc::api]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ReqWhoAmI {}

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct ResWhoAmI {
        pub transport: String,
        pub authorization: Option<String>,
        pub request_id: Option<String>,
    }

    /// Answers how deep `root` nests: a recursive type, to show that a
    /// payload nested past the decoders' limit fails cleanly.
    #[tsrpc::api]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ReqTree {
        pub root: Node,
    }

    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ResTree {
        pub depth: u32,
    }

    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct Node {
        pub children: Vec<Node>,
    }

    /// Broadcasts `count` `MsgChat`s at once, numbered in their content.
    #[tsrpc::api]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ReqBurst {
        pub count: u32,
    }

    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ResBurst {}

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

    /// How many `Chat` messages the `#[handler]` below received.
    pub static CHATS_HANDLED: std::sync::atomic::AtomicUsize =
        std::sync::atomic::AtomicUsize::new(0);

    #[tsrpc::handler]
    async fn on_chat(call: MsgCall<MsgChat>) {
        if call.msg.content == "count me" {
            CHATS_HANDLED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[tsrpc::handler]
    #[allow(unreachable_code)]
    async fn panics(_call: ApiCall<ReqPanic>) -> Result<ResPanic, TsrpcError> {
        panic!("this handler always panics");
    }

    #[tsrpc::handler]
    async fn who_am_i(call: ApiCall<ReqWhoAmI>) -> Result<ResWhoAmI, TsrpcError> {
        Ok(ResWhoAmI {
            transport: format!("{:?}", call.conn.transport()),
            authorization: call.conn.header("authorization").map(str::to_owned),
            request_id: call.conn.header("x-request-id").map(str::to_owned),
        })
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
        call.server().broadcast_msg(&chat).await?;
        Ok(ResShout {})
    }

    #[tsrpc::handler]
    async fn fragile(call: ApiCall<ReqFragile>) -> Result<ResFragile, TsrpcError> {
        if call.req.wait_ms > 0 {
            tokio::time::sleep(Duration::from_millis(call.req.wait_ms)).await;
        }
        let output = if call.req.explode_out {
            Fuse("boom".into())
        } else {
            call.req.input.clone()
        };
        Ok(ResFragile { output })
    }

    #[tsrpc::handler]
    async fn tree(call: ApiCall<ReqTree>) -> Result<ResTree, TsrpcError> {
        fn depth(node: &Node) -> u32 {
            1 + node.children.iter().map(depth).max().unwrap_or(0)
        }
        Ok(ResTree {
            depth: depth(&call.req.root),
        })
    }

    #[tsrpc::handler]
    async fn burst(call: ApiCall<ReqBurst>) -> Result<ResBurst, TsrpcError> {
        for n in 0..call.req.count {
            let chat = MsgChat {
                content: n.to_string(),
                time: Timestamp::now(),
                attachment: None,
            };
            call.server().broadcast_msg(&chat).await?;
        }
        Ok(ResBurst {})
    }

    #[tsrpc::handler]
    async fn sleep(call: ApiCall<ReqSleep>) -> Result<ResSleep, TsrpcError> {
        tokio::time::sleep(Duration::from_millis(call.req.ms)).await;
        Ok(ResSleep {})
    }
}
