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
//! TSRPC front ends), [the wire](guide::wire) (the bytes) and [moving a
//! TSRPC backend to Rust](guide::migration). A newcomer
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
mod stats;
/// TLS (`wss://`, `https://`) with rustls: the server's certificate
/// ([`ServerBuilder::tls`]) and the roots clients trust (the `tls`
/// feature, on by default).
#[cfg(feature = "tls")]
pub mod tls {
    pub use crate::transport::tls::{ClientTls, ServerTls};
    /// The rustls crate, to build configurations by hand.
    pub use tokio_rustls::rustls;
}
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
/// Marks a request struct: the struct becomes API `Xxx`'s request.
///
/// On a struct with named fields that derives `Serialize` and
/// `Deserialize`, `#[tsrpc::api]` implements [`Api`] and registers the API
/// (through [`inventory`](https://docs.rs/inventory)) in the
/// [`ServiceTable`], so servers and clients know it without a list
/// written by hand.
///
/// | written | API name | response type |
/// |---|---|---|
/// | `#[tsrpc::api] struct ReqLogin` | `"Login"` | `ResLogin`, from the same module |
/// | `#[tsrpc::api(name = "user/Login")] struct ReqLogin` | `"user/Login"` | `ResLogin` |
/// | `#[tsrpc::api(res = LoginResult)] struct ReqLogin` | `"Login"` | `LoginResult` |
/// | `#[tsrpc::api(name = "Login", res = LoginResult)] struct LoginRequest` | `"Login"` | `LoginResult` (both are required: the name does not start with `Req`) |
///
/// A name is one or more `/`-separated segments of ASCII letters, digits,
/// `_`, `-` and `.` (TSRPC's folders: `user/Login` is `user/PtlLogin.ts`
/// in the TypeScript export); a bad one is a compile error. The response
/// type derives `Serialize` and `Deserialize` too. Both types may hold
/// any serde type; see the crate docs on which ones binary mode carries.
/// Generic, tuple and unit structs and enums are refused at compile time:
/// TSRPC peers send a request as a JSON object.
///
/// ```rust,standalone_crate
/// use serde::{Deserialize, Serialize};
/// use tsrpc::{Api, ServiceTable};
///
/// #[tsrpc::api(name = "user/Login")]
/// #[derive(Serialize, Deserialize)]
/// pub struct ReqLogin { pub user: String, pub password: String }
///
/// #[derive(Serialize, Deserialize)]
/// pub struct ResLogin { pub token: String }
///
/// assert_eq!(<ReqLogin as Api>::NAME, "user/Login");
/// let table = ServiceTable::global().unwrap();
/// assert!(table.api("user/Login").is_some());
/// ```
///
/// A crate that holds only protocols must be linked into the program to be
/// registered: `use my_protocols as _;` (see the crate docs).
pub use tsrpc_macros::api;

/// Marks a message struct: the struct becomes message `Xxx`, sent both ways
/// with no reply.
///
/// Like [`api`](macro@api): `#[tsrpc::msg] struct MsgChat` is message
/// `"Chat"`, `#[tsrpc::msg(name = "room/Chat")]` names it; it implements
/// [`Message`] and registers the message in the [`ServiceTable`]. Servers
/// receive messages in [`MsgCall`] handlers and listeners
/// ([`Server::listen_msg`]) and send them with
/// [`Connection::send_msg`] and [`Server::broadcast_msg`]; clients with
/// [`WsClient::send_msg`] and [`WsClient::listen_msg`].
///
/// ```rust,standalone_crate
/// use serde::{Deserialize, Serialize};
/// use tsrpc::{Message, Timestamp};
///
/// #[tsrpc::msg]
/// #[derive(Serialize, Deserialize, Clone, Debug)]
/// pub struct MsgChat { pub content: String, pub time: Timestamp }
///
/// assert_eq!(<MsgChat as Message>::NAME, "Chat");
/// ```
pub use tsrpc_macros::msg;

/// Registers an `async fn` as the handler of an API or a message, for
/// every [`Server`] built in the program (or those that select it with
/// [`ServerBuilder::select_handlers`]).
///
/// | signature | handles |
/// |---|---|
/// | `async fn f(call: ApiCall<ReqXxx>) -> Result<ResXxx, TsrpcError>` | API `Xxx`: `Ok` is the return, `Err` the error the client gets |
/// | `async fn f(call: MsgCall<MsgXxx>)` | message `Xxx`, in the order a connection sent them |
/// | either, then `name: State<T>` arguments | the same, with the server's state of each type `T` |
///
/// The handler gets the decoded request (`call.req`), the connection
/// (`call.conn`: its id, remote address, headers, per-connection values),
/// the call's `sn`, what `pre_api_call` flows attached (`call.extensions`)
/// and the server (`call.server()`, to broadcast). A panic answers
/// `INTERNAL_ERR` and the server goes on; a handler past the API timeout
/// answers `SERVER_TIMEOUT`. State arguments are checked when the server
/// is built: [`ServerBuilder::build`] names every handler whose state was
/// never set with [`ServerBuilder::state`]. Two handlers for one API, or a
/// handler for an API that is not registered, are also reported by
/// `build`, with where each was defined.
///
/// ```rust,standalone_crate
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use serde::{Deserialize, Serialize};
/// use tsrpc::{ApiCall, MsgCall, Server, State, TsrpcError};
///
/// #[tsrpc::api]
/// #[derive(Serialize, Deserialize)]
/// pub struct ReqAdd { pub a: i64, pub b: i64 }
/// #[derive(Serialize, Deserialize, Debug)]
/// pub struct ResAdd { pub sum: i64 }
///
/// #[tsrpc::msg]
/// #[derive(Serialize, Deserialize)]
/// pub struct MsgTick {}
///
/// #[derive(Default)]
/// struct Stats { adds: AtomicU64, ticks: AtomicU64 }
///
/// #[tsrpc::handler]
/// async fn add(call: ApiCall<ReqAdd>, stats: State<Stats>) -> Result<ResAdd, TsrpcError> {
///     stats.adds.fetch_add(1, Ordering::Relaxed);
///     let sum = call.req.a.checked_add(call.req.b).ok_or_else(|| TsrpcError::api("overflow"))?;
///     Ok(ResAdd { sum })
/// }
///
/// #[tsrpc::handler]
/// async fn tick(_call: MsgCall<MsgTick>, stats: State<Stats>) {
///     stats.ticks.fetch_add(1, Ordering::Relaxed);
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::builder().state(Stats::default()).build()?;
/// assert_eq!(server.call_api(ReqAdd { a: 2, b: 3 }).await?.sum, 5);
/// assert!(server.call_api(ReqAdd { a: i64::MAX, b: 1 }).await.unwrap_err().is_api());
/// assert_eq!(server.state::<Stats>().unwrap().adds.load(Ordering::Relaxed), 2);
/// # Ok(()) }
/// ```
///
/// Handlers added at run time without the attribute:
/// [`Server::implement_api`], [`Server::listen_msg`]. A crate that holds
/// only handlers must be linked into the program: `use my_handlers as _;`.
pub use tsrpc_macros::handler;
pub use values::{Binary, ParseTimestampError, Timestamp};

/// The README's Rust code, compiled as doctests so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

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
    #[doc = include_str!("docs/migration.md")]
    pub mod migration {}
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
        decode_client_frame, decode_http_json_return, decode_server_frame,
        decode_tsbuffer_client_frame, encode_api_error, encode_api_request,
        encode_api_request_with, encode_api_success, encode_client_message_with, encode_heartbeat,
        encode_hello, encode_message, encode_message_with, encode_tsbuffer_http_request_with,
        http_json_error, http_json_success, write_payload,
    };
}
