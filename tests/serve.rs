//! Serving until a shutdown signal in one call:
//! `server.serve().with_graceful_shutdown(signal).await`, and
//! `tsrpc::server::shutdown_signal()` answering a real SIGTERM.

use std::time::Duration;

use tsrpc::{Server, WsClient};
use tsrpc_tests::proto::ReqSleep;

fn server() -> Server {
    Server::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .build()
        .unwrap()
}

/// Waits until the server listens (its serving task started it).
async fn listening(server: &Server) -> std::net::SocketAddr {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(addr) = server.local_addr() {
                return addr;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the server starts")
}

#[tokio::test]
async fn a_signal_stops_gracefully_after_the_running_calls() {
    let server = server();
    let (signal, signalled) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn({
        let server = server.clone();
        async move {
            server
                .serve()
                .with_graceful_shutdown(async {
                    let _ = signalled.await;
                })
                .await
        }
    });
    let addr = listening(&server).await;
    let client = WsClient::builder(format!("ws://{addr}")).build();
    client.connect().await.unwrap();
    let running = tokio::spawn({
        let client = client.clone();
        async move { client.call_api(ReqSleep { ms: 300 }).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    signal.send(()).unwrap();
    // The running call finishes; then the server is stopped.
    running
        .await
        .unwrap()
        .expect("the running call is answered");
    serving.await.unwrap().expect("serve ends without an error");
    assert_eq!(server.local_addr(), None);
    assert!(server.connections().is_empty());
}

#[tokio::test]
async fn serve_ends_when_the_server_is_stopped() {
    let server = server();
    // Started first (to learn its address): serve goes on with it.
    let addr = server.start().await.unwrap();
    let serving = tokio::spawn({
        let server = server.clone();
        async move { server.serve().await }
    });
    let client = WsClient::builder(format!("ws://{addr}")).build();
    client.connect().await.unwrap();
    server.stop().await;
    serving.await.unwrap().unwrap();

    // A port in use is the error serve returns.
    let taken = Server::builder().bind(addr).build().unwrap();
    let other = Server::builder().bind(addr).build().unwrap();
    taken.start().await.unwrap();
    assert!(other.serve().await.is_err());
    taken.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_is_a_shutdown_signal() {
    let server = server();
    let serving = tokio::spawn({
        let server = server.clone();
        async move {
            server
                .serve()
                .with_graceful_shutdown(tsrpc::server::shutdown_signal())
                .await
        }
    });
    // The signal handler is set up before the port opens.
    listening(&server).await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("SIGTERM stops the server")
        .unwrap()
        .unwrap();
    assert_eq!(server.local_addr(), None);
}
