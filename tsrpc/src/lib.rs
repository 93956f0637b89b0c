//! # tsrpc
//!
//! Type-safe RPC and real-time messaging over WebSocket and HTTP for Rust,
//! in the spirit of the TypeScript framework [TSRPC], and wire-compatible
//! with its JSON mode.
//!
//! Protocols are plain Rust structs: `#[tsrpc::api]` marks a request (with
//! its response type), `#[tsrpc::msg]` a message, and handlers are plain
//! `async fn`s marked `#[tsrpc::handler]`. The macros register everything
//! with the [`inventory`](https://docs.rs/inventory) crate, so a
//! [`Server`] finds its APIs and handlers without any list written by hand.
//!
//! ```rust,standalone_crate
//! use serde::{Deserialize, Serialize};
//! use tsrpc::{ApiCall, Server, Timestamp, TsrpcError};
//!
//! /// API "Send": the name comes from the struct name (ReqSend -> "Send").
//! #[tsrpc::api]
//! #[derive(Serialize, Deserialize, Debug)]
//! pub struct ReqSend { pub content: String }
//!
//! #[derive(Serialize, Deserialize, Debug)]
//! pub struct ResSend { pub time: Timestamp }
//!
//! /// Message "Chat" (MsgChat -> "Chat").
//! #[tsrpc::msg]
//! #[derive(Serialize, Deserialize, Debug)]
//! pub struct MsgChat { pub content: String, pub time: Timestamp }
//!
//! #[tsrpc::handler]
//! async fn send(call: ApiCall<ReqSend>) -> Result<ResSend, TsrpcError> {
//!     if call.req.content.is_empty() {
//!         return Err(TsrpcError::api("Content is empty"));
//!     }
//!     Ok(ResSend { time: Timestamp::now() })
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder().build()?;
//! println!("{}", server.service_table()); // ids, names, fingerprint
//! let err = server.call_api(ReqSend { content: String::new() }).await.unwrap_err();
//! assert!(err.is_api());
//! # Ok(()) }
//! ```
//!
//! ## Linking: handlers in another crate
//!
//! `inventory` only sees crates that are linked into the program. Rust
//! links a dependency only when something in it is used, so a crate that
//! holds nothing but `#[handler]`s (or protocols) must be referenced from
//! the binary:
//!
//! ```ignore
//! use my_handlers as _; // links the crate, so its handlers are registered
//! ```
//!
//! ## Types in protocols
//!
//! Request, response and message types need `Serialize` and `Deserialize`.
//! Use [`Timestamp`] for dates and [`Binary`] for bytes, so TypeScript
//! peers read a `Date` and a `Uint8Array`. Binary mode encodes payloads
//! with bincode, which needs types that describe themselves without the
//! input's help: `#[serde(untagged)]` and internally tagged enums,
//! `#[serde(flatten)]`, `#[serde(skip_serializing_if)]` and
//! `serde_json::Value` work in JSON mode only. Such types are reported
//! when the service table is built (their [`Shape`] cannot be traced).
//!
//! ## Guides
//!
//! The long-form documentation is in [`guide`]: [the server](guide::server)
//! (settings, connections, calls, broadcasts, HTTP, limits, tracing),
//! [flows](guide::flows), [TypeScript](guide::typescript) (the export and
//! TSRPC front ends) and [the wire](guide::wire) (the bytes). A newcomer
//! looking for **how a call is answered** reads `server/dispatch/` (the one
//! pipeline of WebSocket, HTTP and in-process calls); for **how a broadcast
//! works**, [`Server::broadcast_msg_to`] in `server/mod.rs` over each
//! connection's bounded queue (`server/connection.rs`).
//!
//! [TSRPC]: https://github.com/k8w/tsrpc

#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]

// Lets the macros' `::tsrpc::...` paths resolve inside this crate's own tests.
#[cfg(test)]
extern crate self as tsrpc;

pub mod client;
mod codec;
mod error;
pub mod export;
mod flow;
mod listeners;
pub mod proto;
pub mod schema;
pub mod server;
mod task;
mod transport;
mod values;

pub use client::{CallOptions, HttpClient, WsClient};
pub use codec::{Encoding, MAX_DEPTH, WireFrame};
pub use error::{ErrorCode, ErrorKind, TsrpcError, codes};
pub use flow::{Flow, FlowNodeId, FlowStep, IntoFlowStep};
pub use proto::{Api, Fingerprint, Message, ServiceInfo, ServiceKind, ServiceTable};
pub use regex::Regex;
pub use schema::Shape;
pub use server::{
    AnyMsgCall, ApiCall, Connection, MsgCall, MsgListener, Server, ServerBuilder, SetupError, State,
};
pub use tsrpc_macros::{api, handler, msg};
pub use values::{Binary, ParseTimestampError, Timestamp};

/// Guides: the long-form documentation, kept in `tsrpc/src/docs/*.md`
/// (readable on GitHub too).
pub mod guide {
    #[doc = include_str!("docs/server.md")]
    pub mod server {}
    #[doc = include_str!("docs/flows.md")]
    pub mod flows {}
    #[doc = include_str!("docs/typescript.md")]
    pub mod typescript {}
    #[doc = include_str!("docs/wire.md")]
    pub mod wire {}
}

/// Support for the code the macros generate. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::proto::{Location, ServiceDescriptor};
    pub use crate::server::{
        ApiHandlerFn, HandlerDescriptor, MsgHandlerFn, StateKey, api_failed, api_future,
        handler_state, msg_failed, msg_future,
    };
    pub use crate::task::BoxFuture;
    pub use inventory;
}

/// Frame-level encoding and decoding, for the benchmark, the fuzzers and
/// the wire tests that build frames by hand. Not public API: it changes
/// without notice. Applications send and receive through [`Server`],
/// [`WsClient`] and [`HttpClient`].
#[doc(hidden)]
pub mod __wire {
    pub use crate::codec::{
        ClientFrame, FrameError, Payload, PayloadError, ServerFrame, ServiceRef,
        decode_client_frame, decode_http_json_return, decode_server_frame, encode_api_error,
        encode_api_request, encode_api_request_with, encode_api_success, encode_heartbeat,
        encode_hello, encode_message, encode_message_with, http_json_error, http_json_success,
        write_payload,
    };
}
