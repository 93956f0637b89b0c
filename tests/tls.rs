//! TLS on the server's port (`wss://`, `https://`) with a certificate made
//! at test time: the Rust clients in both encodings, and what the port
//! does with peers that do not speak TLS properly (garbage, plain HTTP, a
//! stalled handshake) while connected peers go on. (TSRPC's npm clients
//! over wss and https: `tests/interop.rs`.)

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{PATIENCE, TestCert, eventually, raw_http};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tsrpc::tls::{ClientTls, ServerTls};
use tsrpc::{HttpClient, Server, WsClient};
use tsrpc_examples::chatroom::{self, MsgChat, ReqSend};

async fn start(cert: &TestCert) -> (Server, SocketAddr) {
    let server = chatroom::builder("127.0.0.1:0".parse().unwrap())
        .tls(ServerTls::from_pem_files(cert.cert_path(), cert.key_path()).unwrap())
        .header_read_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let addr = server.start().await.unwrap();
    (server, addr)
}

#[tokio::test]
async fn rust_clients_speak_wss_and_https() {
    let cert = TestCert::new();
    let (server, addr) = start(&cert).await;
    let port = addr.port();

    let inbox = Arc::new(Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    // By name and by address: the certificate holds both.
    for (json, host) in [(true, "localhost"), (false, "127.0.0.1")] {
        let client = WsClient::builder(format!("wss://{host}:{port}"))
            .json(json)
            .tls(cert.client_tls())
            .build();
        let inbox = inbox.clone();
        client
            .listen_msg(move |m: MsgChat| inbox.lock().unwrap().push(m.content))
            .unwrap();
        client.connect().await.unwrap();
        clients.push(client);
    }
    clients[1]
        .call_api(ReqSend {
            content: "over wss".into(),
        })
        .await
        .unwrap();
    for json in [true, false] {
        let http = HttpClient::builder(format!("https://localhost:{port}"))
            .json(json)
            .tls(cert.client_tls())
            .build()
            .unwrap();
        http.call_api(ReqSend {
            content: format!("over https, json {json}"),
        })
        .await
        .unwrap();
    }
    eventually("both clients get the three chats", || {
        inbox.lock().unwrap().len() == 6
    })
    .await;

    // The public roots do not vouch for a self-signed certificate.
    let untrusting = WsClient::builder(format!("wss://localhost:{port}")).build();
    let err = untrusting.connect().await.unwrap_err();
    assert!(err.is_network(), "{err:?}");
    assert!(err.message.contains("TLS"), "{}", err.message);
    let err = HttpClient::builder(format!("https://localhost:{port}"))
        .build()
        .unwrap()
        .call_api(ReqSend {
            content: "x".into(),
        })
        .await
        .unwrap_err();
    assert!(err.is_network(), "{err:?}");
    // Neither does a root that is not the server's.
    let stranger = TestCert::new();
    let err = WsClient::builder(format!("wss://localhost:{port}"))
        .tls(stranger.client_tls())
        .build()
        .connect()
        .await
        .unwrap_err();
    assert!(err.is_network(), "{err:?}");
    server.stop().await;
}

/// Reads until the server closes; panics if it does not within PATIENCE.
async fn closed_by_server(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server closes the connection");
    got
}

#[tokio::test]
async fn peers_that_do_not_speak_tls_are_refused_and_the_others_go_on() {
    let cert = TestCert::new();
    let (server, addr) = start(&cert).await;
    let client = WsClient::builder(format!("wss://localhost:{}", addr.port()))
        .tls(cert.client_tls())
        .build();
    client.connect().await.unwrap();

    // A handshake record of garbage: closed (with a TLS alert at most).
    let mut garbage = TcpStream::connect(addr).await.unwrap();
    garbage
        .write_all(b"\x16\x03\x01\x00\x20this is not a client hello at all")
        .await
        .unwrap();
    let answer = closed_by_server(&mut garbage).await;
    assert!(answer.len() < 64, "{answer:?}");

    // Plain HTTP on the TLS port: a plain answer saying what to use.
    let res = raw_http(addr, "GET / HTTP/1.1", "").await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("https://"), "{}", res.body);

    // A client that stalls mid-handshake has the header read timeout.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled.write_all(b"\x16\x03\x01\x02\x00").await.unwrap();
    closed_by_server(&mut stalled).await;
    // One that connects and says nothing too.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    closed_by_server(&mut silent).await;

    // Each is counted among the refusals.
    assert!(server.stats().refused.tls >= 4, "{:?}", server.stats());

    // The connected client went on all along.
    client
        .call_api(ReqSend {
            content: "still here".into(),
        })
        .await
        .unwrap();
    server.stop().await;
}

#[test]
fn bad_certificates_and_keys_are_clear_errors() {
    let cert = TestCert::new();
    let err = ServerTls::from_pem(b"not a pem", cert.key_pem.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    let err = ServerTls::from_pem(cert.cert_pem.as_bytes(), b"").unwrap_err();
    assert!(err.to_string().contains("private key"), "{err}");
    let other = TestCert::new();
    let err = ServerTls::from_pem(cert.cert_pem.as_bytes(), other.key_pem.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
    let err = ServerTls::from_pem_files(cert.dir.join("missing.pem"), cert.key_path()).unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
    assert!(ClientTls::with_root_pem(b"").is_err());
}

/// A server that accepts TCP and never answers the TLS handshake fails
/// the clients' connect within their connect timeout, not their (much
/// longer) call timeout.
#[tokio::test]
async fn a_stalled_tls_handshake_is_a_connect_timeout() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            sockets.push(socket);
        }
    });
    let http = HttpClient::builder(format!("https://{addr}"))
        .connect_timeout(Duration::from_millis(200))
        .timeout(PATIENCE * 10)
        .build()
        .unwrap();
    let err = tokio::time::timeout(
        PATIENCE,
        http.call_api(ReqSend {
            content: "hi".into(),
        }),
    )
    .await
    .expect("the connect timeout ends the call")
    .unwrap_err();
    assert!(err.is_network(), "{err:?}");
    assert!(err.message.contains("connect timeout 200 ms"), "{err}");
    let ws = WsClient::builder(format!("wss://{addr}"))
        .connect_timeout(Duration::from_millis(200))
        .build();
    let err = tokio::time::timeout(PATIENCE, ws.connect())
        .await
        .expect("the connect timeout ends the connect")
        .unwrap_err();
    assert!(err.message.contains("no answer within 200 ms"), "{err}");
    held.abort();
}
