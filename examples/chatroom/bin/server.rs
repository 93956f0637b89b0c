//! The chatroom server of TSRPC's example: API `Send`, message `Chat`,
//! JSON and binary clients on one port.
//!
//! ```text
//! cargo run --example chatroom-server              # ws://127.0.0.1:3000
//! cargo run --example chatroom-server -- --port 4000
//! ```

use std::net::SocketAddr;

use tsrpc_examples::chatroom;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 3000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--port", Some(p)) => port = p.parse()?,
            _ => return Err("usage: chatroom-server [--port N]".into()),
        }
    }
    let server = chatroom::server(SocketAddr::from(([127, 0, 0, 1], port)))?;
    let addr = server.start().await?;
    println!("Chatroom server listening on ws://{addr} (JSON and binary, WebSocket and HTTP)");
    if chatroom::web_dir().join("index.html").is_file() {
        println!("Open http://{addr}/ for the browser chatroom");
    } else {
        println!(
            "Build the browser chatroom with `bash examples/web/build.sh`, then open http://{addr}/"
        );
    }
    println!("Terminal client: cargo run --example chatroom-client -- --url ws://{addr}");
    // Until Ctrl-C or SIGTERM, then a graceful stop.
    server
        .serve()
        .with_graceful_shutdown(tsrpc::server::shutdown_signal())
        .await?;
    println!("Stopped");
    Ok(())
}
