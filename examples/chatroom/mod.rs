//! The chatroom of TSRPC's own example: API `Send`, message `Chat`.
//!
//! | file | holds |
//! |---|---|
//! | `protocol.rs` | `ReqSend`/`ResSend` and `MsgChat`, shared by both sides |
//! | `server.rs` | the `Send` handler (it broadcasts the chat) and the server's settings |
//! | `client.rs` | the terminal client: listen, send, reconnect |
//! | `bin/server.rs`, `bin/client.rs` | `cargo run --example chatroom-server` / `chatroom-client` |
//!
//! The browser front end is `examples/web/`. The binaries are thin
//! wrappers around [`server()`] and [`run_client`], so the tests run
//! exactly what users run.

mod client;
mod protocol;
mod server;

pub use client::{ClientOptions, Output, run_client};
pub use protocol::{MsgChat, ReqSend, ResSend};
pub use server::{builder, send, server, web_dir};
