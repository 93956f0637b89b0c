//! The chatroom mounted in an axum app, next to the app's own routes.
//!
//! ```text
//! cargo run --example axum-app -- --port 4000
//! # http://127.0.0.1:4000/health, ws://127.0.0.1:4000/ws, POST http://127.0.0.1:4000/api/Send
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use tsrpc_examples::{axum_app, chatroom};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 3000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--port", Some(p)) => port = p.parse()?,
            _ => return Err("usage: axum-app [--port N]".into()),
        }
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // The chatroom server, built as usual but never started: axum serves the port.
    let chat = chatroom::server(addr)?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    println!("axum app on http://{addr}/ (health: /health)");
    println!("chatroom: ws://{addr}/ws, HTTP API under http://{addr}/api");
    let stopping = chat.clone();
    axum_app::serve(listener, &chat, async move {
        tsrpc::server::shutdown_signal().await; // Ctrl-C or SIGTERM
        println!("Stopping...");
        // The chatroom first: its WebSockets are no longer the app's to wait for.
        stopping.graceful_stop(Duration::from_secs(5)).await;
    })
    .await?;
    Ok(())
}
