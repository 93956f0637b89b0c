//! A server of the test protocols in a process of its own, for the chaos
//! tests that need one they can starve of file descriptors, freeze or
//! kill. Prints `listening on ADDR`, serves until its standard input
//! closes.
//!
//! ```text
//! chaos-server [--header-read-timeout-ms N] [--max-connections N|none]
//! ```

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tsrpc::Server;
use tsrpc_tests as _;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = Server::builder().bind("127.0.0.1:0".parse()?);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--header-read-timeout-ms", Some(ms)) => {
                builder = builder.header_read_timeout(Duration::from_millis(ms.parse()?));
            }
            ("--max-connections", Some(max)) => {
                builder = builder.max_connections(match max.as_str() {
                    "none" => None,
                    n => Some(n.parse()?),
                });
            }
            _ => {
                return Err(
                    "usage: chaos-server [--header-read-timeout-ms N] [--max-connections N|none]"
                        .into(),
                );
            }
        }
    }
    let server = builder.build()?;
    let addr = server.start().await?;
    println!("listening on {addr}");
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while stdin.read(&mut buf).await? > 0 {}
    server.stop().await;
    Ok(())
}
