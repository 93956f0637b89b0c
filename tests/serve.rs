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
    // A second signal would stop it at once (see below).
    #[cfg(unix)]
    let _turn = SIGNALS.lock().await;
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

/// The process's signals reach every test's `shutdown_signal`: the
/// tests that send them take turns.
#[cfg(unix)]
static SIGNALS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Serves `server` until `shutdown_signal()` fires.
#[cfg(unix)]
fn serve_until_signal(server: &Server) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let server = server.clone();
    tokio::spawn(async move {
        server
            .serve()
            .with_graceful_shutdown(tsrpc::server::shutdown_signal())
            .await
    })
}

/// Sends SIGTERM to this process.
#[cfg(unix)]
fn sigterm() {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_is_a_shutdown_signal() {
    let _turn = SIGNALS.lock().await;
    let server = server();
    let serving = serve_until_signal(&server);
    // The signal handler is set up before the port opens.
    listening(&server).await;
    sigterm();
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("SIGTERM stops the server")
        .unwrap()
        .unwrap();
    assert_eq!(server.local_addr(), None);
}

/// While the server stops gracefully, a second signal stops it at once:
/// the signal no longer ends the process by itself once
/// `shutdown_signal` has taken it over.
#[cfg(unix)]
#[tokio::test]
async fn a_second_sigterm_stops_at_once() {
    let _turn = SIGNALS.lock().await;
    let server = server();
    let serving = serve_until_signal(&server);
    let addr = listening(&server).await;
    let client = WsClient::builder(format!("ws://{addr}")).build();
    client.connect().await.unwrap();
    // A call the graceful stop would wait for (20 s).
    let running = tokio::spawn({
        let client = client.clone();
        async move { client.call_api(ReqSleep { ms: 20_000 }).await }
    });
    tokio::time::timeout(Duration::from_secs(10), async {
        while server.stats().calls_in_flight == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the call runs");
    sigterm();
    // Stopping: new connections are refused.
    tokio::time::timeout(Duration::from_secs(10), async {
        while server.stats().refused.stopping == 0 {
            let _ = WsClient::builder(format!("ws://{addr}"))
                .build()
                .connect()
                .await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the first signal begins a graceful stop");
    assert!(!serving.is_finished());
    sigterm();
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("the second SIGTERM stops the server at once")
        .unwrap()
        .unwrap();
    assert!(running.await.unwrap().is_err());
    assert_eq!(server.local_addr(), None);
}
