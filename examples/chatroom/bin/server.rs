//! The chatroom server of TSRPC's example: API `Send`, message `Chat`,
//! JSON and binary clients on one port, plain or over TLS.
//!
//! ```text
//! cargo run --example chatroom-server              # ws://127.0.0.1:3000
//! cargo run --example chatroom-server -- --port 4000
//! cargo run --example chatroom-server -- --port 4443 --tls-cert cert.pem --tls-key key.pem   # wss://
//! ```

use std::net::SocketAddr;

use tsrpc_examples::chatroom;

const USAGE: &str = "usage: chatroom-server [--port N] [--tls-cert cert.pem --tls-key key.pem]";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 3000;
    let (mut cert, mut key) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--port", Some(p)) => port = p.parse()?,
            ("--tls-cert", Some(path)) => cert = Some(path),
            ("--tls-key", Some(path)) => key = Some(path),
            _ => return Err(USAGE.into()),
        }
    }
    let mut builder = chatroom::builder(SocketAddr::from(([127, 0, 0, 1], port)));
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => {
            builder = builder.tls(tsrpc::tls::ServerTls::from_pem_files(cert, key)?);
            true
        }
        (None, None) => false,
        _ => return Err(format!("--tls-cert and --tls-key go together\n{USAGE}").into()),
    };
    let server = builder.build()?;
    let addr = server.start().await?;
    let (ws, http) = if tls {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    println!("Chatroom server listening on {ws}://{addr} (JSON and binary, WebSocket and HTTP)");
    if chatroom::web_dir().join("index.html").is_file() {
        println!("Open {http}://{addr}/ for the browser chatroom");
    } else {
        println!(
            "Build the browser chatroom with `bash examples/web/build.sh`, then open {http}://{addr}/"
        );
    }
    println!("Terminal client: cargo run --example chatroom-client -- --url {ws}://{addr}");
    // Until Ctrl-C or SIGTERM, then a graceful stop.
    server
        .serve()
        .with_graceful_shutdown(tsrpc::server::shutdown_signal())
        .await?;
    println!("Stopped");
    Ok(())
}
