//! Login with per-connection state and a `pre_api_call` flow: calls from
//! anonymous connections are refused with `NEED_LOGIN`; over HTTP a token
//! header does the same job, and a WebSocket that brings the token on its
//! handshake is logged in at connect (a wrong one is refused with 401).
//! The example starts the server, walks through both transports, prints
//! each step and exits.
//!
//! ```text
//! cargo run --example login
//! ```

use tsrpc::{CallOptions, HttpClient, WsClient};
use tsrpc_examples::login::{self, ReqGetSecret, ReqLogin, ReqLogout};

fn show<T: std::fmt::Debug>(step: &str, result: &Result<T, tsrpc::TsrpcError>) {
    match result {
        Ok(res) => println!("{step:<40} -> {res:?}"),
        Err(err) => println!("{step:<40} -> {err}"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = login::server("127.0.0.1:0".parse()?)?;
    let addr = server.start().await?;
    println!("Login server on {addr}\n");

    let ws = WsClient::builder(format!("ws://{addr}")).json(true).build();
    ws.connect().await?;
    show(
        "WebSocket: GetSecret before login",
        &ws.call_api(ReqGetSecret {}).await,
    );
    let wrong = ReqLogin {
        username: "ann".into(),
        password: "guess".into(),
    };
    show(
        "WebSocket: Login with a wrong password",
        &ws.call_api(wrong).await,
    );
    let right = ReqLogin {
        username: "ann".into(),
        password: "tsrpc".into(),
    };
    show("WebSocket: Login", &ws.call_api(right.clone()).await);
    show(
        "WebSocket: GetSecret after login",
        &ws.call_api(ReqGetSecret {}).await,
    );
    show("WebSocket: Logout", &ws.call_api(ReqLogout {}).await);
    show(
        "WebSocket: GetSecret after logout",
        &ws.call_api(ReqGetSecret {}).await,
    );

    let http = HttpClient::builder(format!("http://{addr}"))
        .json(true)
        .build()?;
    println!();
    show(
        "HTTP: GetSecret without a token",
        &http.call_api(ReqGetSecret {}).await,
    );
    let token = http.call_api(right).await?.token;
    println!("{:<40} -> token {token}", "HTTP: Login");
    let with_token = CallOptions::default().header("authorization", format!("Bearer {token}"));
    show(
        "HTTP: GetSecret with the token",
        &http.call_api_with(ReqGetSecret {}, with_token).await,
    );

    // A WebSocket that brings the token is logged in before it opens.
    println!();
    let with_token = WsClient::builder(format!("ws://{addr}/?token={token}"))
        .json(true)
        .build();
    with_token.connect().await?;
    show(
        "WebSocket with ?token=: GetSecret",
        &with_token.call_api(ReqGetSecret {}).await,
    );
    let wrong_token = WsClient::builder(format!("ws://{addr}"))
        .header("authorization", "Bearer not-a-token")
        .build();
    show(
        "WebSocket with a wrong token: connect",
        &wrong_token.connect().await,
    );

    with_token.disconnect().await;
    ws.disconnect().await;
    server.stop().await;
    Ok(())
}
