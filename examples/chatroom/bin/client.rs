//! A terminal client for the chatroom: type a line to send it; chats from
//! everyone appear as they arrive. It reconnects 2 s after a drop.
//!
//! ```text
//! cargo run --example chatroom-client                      # binary mode
//! cargo run --example chatroom-client -- --json --url ws://127.0.0.1:3000
//! ```

use std::sync::Arc;
use std::time::Duration;

use tsrpc_examples::chatroom::{self, ClientOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut options = ClientOptions {
        url: "ws://127.0.0.1:3000".into(),
        json: false,
        reconnect_delay: Duration::from_secs(2),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => options.json = true,
            "--url" => options.url = args.next().ok_or("--url needs a value")?,
            _ => return Err("usage: chatroom-client [--json] [--url ws://host:port]".into()),
        }
    }
    println!("Type a message and press Enter; Ctrl-D to quit.");
    let input = tokio::io::BufReader::new(tokio::io::stdin());
    chatroom::run_client(options, input, Arc::new(|line| println!("{line}"))).await?;
    Ok(())
}
