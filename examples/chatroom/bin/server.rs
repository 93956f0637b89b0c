//! The chatroom server of TSRPC's example: API `Send`, message `Chat`,
//! JSON and binary clients on one port, plain or over TLS.
//!
//! ```text
//! cargo run --example chatroom-server              # ws://127.0.0.1:3000
//! cargo run --example chatroom-server -- --port 4000
//! cargo run --example chatroom-server -- --port 4443 --tls-cert cert.pem --tls-key key.pem   # wss://
//! # Two (or more) servers sharing one chat, through Redis:
//! cargo run --example chatroom-server -- --port 4001 --redis redis://127.0.0.1:6379
//! cargo run --example chatroom-server -- --port 4002 --redis redis://127.0.0.1:6379
//! ```

use std::net::SocketAddr;

use tsrpc_examples::chatroom;

const USAGE: &str = "usage: chatroom-server [--port N] [--tls-cert cert.pem --tls-key key.pem] [--redis redis://host:port]";

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("chatroom-server: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 3000;
    let (mut cert, mut key, mut redis) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--port", Some(p)) => port = p.parse()?,
            ("--tls-cert", Some(path)) => cert = Some(path),
            ("--tls-key", Some(path)) => key = Some(path),
            ("--redis", Some(url)) => redis = Some(url),
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
    if let Some(url) = &redis {
        // Chats reach the clients of every server using this Redis.
        builder = builder.cluster(tsrpc_redis::RedisAdapter::connect(url.as_str()).await?);
    }
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
    if let Some(url) = &redis {
        let _ = url;
        println!("Sharing the chat with the other servers through Redis");
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
