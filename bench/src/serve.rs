//! The `serve <kind>` mode: every server of the benchmark runs as a child
//! process of its own, so that its RSS and CPU time are its alone.

use std::process::ExitCode;
use std::time::Duration;

use tracing_subscriber::filter::LevelFilter;

use crate::raw;

/// The `serve <kind> [redis URL]` mode: one server, until standard input
/// closes. `tsrpc-cluster` is a node of a cluster through the Redis at
/// the URL.
pub(crate) fn serve(kind: &str, redis: Option<&str>) -> ExitCode {
    // What a deployed server typically runs with: tracing's `fmt`
    // subscriber (formatting every event and span it is interested in,
    // written to a sink here so that the terminal costs nothing).
    let level = match kind {
        "tsrpc-info" => Some(LevelFilter::INFO),
        "tsrpc-debug" => Some(LevelFilter::DEBUG),
        _ => None,
    };
    if let Some(level) = level {
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::sink)
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let local = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let port = match kind {
            "tsrpc" | "tsrpc-info" | "tsrpc-debug" | "tsrpc-tls" | "tsrpc-cluster" | "tsrpc-ids" => {
                if kind == "tsrpc-ids" {
                    crate::proto::install_shuffled_ids();
                }
                let mut builder = tsrpc::Server::builder().bind(local);
                if kind == "tsrpc-tls" {
                    builder = builder.tls(crate::tls::server_tls());
                }
                if kind == "tsrpc-cluster" {
                    let url = redis.unwrap_or("redis://127.0.0.1:6379");
                    match tsrpc_redis::RedisAdapter::connect(url).await {
                        Ok(adapter) => builder = builder.cluster(adapter),
                        Err(e) => {
                            eprintln!("tsrpc-cluster: {e}");
                            return ExitCode::FAILURE;
                        }
                    }
                }
                let server = builder.build().expect("the benchmark's server is valid");
                let addr = server.start().await.expect("binding 127.0.0.1");
                // The server runs until the process ends.
                std::mem::forget(server);
                addr.port()
            }
            "raw-ws" | "raw-http" => {
                let listener = tokio::net::TcpListener::bind(local)
                    .await
                    .expect("binding 127.0.0.1");
                let port = listener.local_addr().expect("a bound address").port();
                if kind == "raw-ws" {
                    tokio::spawn(raw::serve_ws(listener));
                } else {
                    tokio::spawn(raw::serve_http(listener));
                }
                port
            }
            _ => {
                eprintln!(
                    "usage: tsrpc-bench serve tsrpc|tsrpc-info|tsrpc-debug|tsrpc-tls|tsrpc-ids|raw-ws|raw-http\n       tsrpc-bench serve tsrpc-cluster redis://host:port"
                );
                return ExitCode::from(2);
            }
        };
        println!("ready {port}");
        // Until the benchmark closes our standard input (or dies), at most a day.
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        let _ = tokio::time::timeout(Duration::from_secs(86_400), async {
            use tokio::io::AsyncReadExt;
            while let Ok(n) = stdin.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
        ExitCode::SUCCESS
    })
}
