//! TSRPC's chatroom backend, moved to Rust: its `serviceProto.json`
//! brought over by `tsrpc import` into `protocol.rs`, its one handler in
//! `server.rs`. The chatroom's TSRPC front end (`tsrpc-browser`, binary or
//! JSON mode) connects to it unchanged. The migration guide
//! (`tsrpc::guide::migration`) walks through it.
//!
//! ```text
//! cargo run -p tsrpc-cli -- import examples/migrated-chatroom/serviceProto.ts -o examples/migrated-chatroom/protocol.rs
//! cargo run --example migrated-chatroom -- --port 3000
//! ```

// The generated module's items are `pub`, for a protocol crate; here they
// are a binary's.
#![allow(unreachable_pub)]

mod protocol;
mod server;

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => 3000,
        [flag, port] if flag == "--port" => port.parse()?,
        _ => return Err("usage: migrated-chatroom [--port N]".into()),
    };
    let server = server::builder(SocketAddr::from(([127, 0, 0, 1], port))).build()?;
    let addr = server.start().await?;
    println!("TSRPC's chatroom, served by tsrpc on ws://{addr} and http://{addr}");
    // Until Ctrl-C or SIGTERM, then a graceful stop.
    server
        .serve()
        .with_graceful_shutdown(tsrpc::server::shutdown_signal())
        .await?;
    Ok(())
}
