//! The browser chatroom end to end: the real tsrpc-browser client in
//! Debian's Chromium (headless, driven by playwright-core) against the
//! chatroom server, which serves the page on its own port. Needs
//! `bash examples/web/setup-e2e.sh` (CI runs it): Chromium, the npm
//! packages and the built page.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tsrpc_examples::chatroom;

async fn start(addr: SocketAddr) -> (tsrpc::Server, SocketAddr) {
    let server = chatroom::server(addr).expect("the chatroom server builds");
    let addr = server.start().await.expect("the chatroom server starts");
    (server, addr)
}

#[tokio::test]
async fn two_panes_chat_see_errors_and_reconnect_after_a_restart() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/web");
    assert!(
        chatroom::web_dir().join("index.html").is_file()
            && web.join("node_modules/playwright-core").is_dir(),
        "the browser chatroom is not built: run `bash examples/web/setup-e2e.sh`"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "no Chromium at {chromium}: run `bash examples/web/setup-e2e.sh` (installs Debian's chromium)"
    );

    let (server, addr) = start("127.0.0.1:0".parse().unwrap()).await;
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chatroom.png");
    let mut node = Command::new("node")
        .arg(web.join("e2e.mjs"))
        .arg(format!("http://{addr}/"))
        .arg(&screenshot)
        .current_dir(&web)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (Node 20 is needed)");
    let mut stdin = node.stdin.take().unwrap();
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut server = Some(server);
    let mut done = false;
    let run = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            println!("e2e: {line}");
            match line.as_str() {
                "STEP stop-server" => {
                    if let Some(server) = server.take() {
                        server.stop().await;
                    }
                    stdin.write_all(b"stopped\n").await.unwrap();
                }
                "STEP start-server" => {
                    server = Some(start(addr).await.0);
                    stdin.write_all(b"started\n").await.unwrap();
                }
                "DONE" => done = true,
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the browser test finishes");
    let status = node.wait().await.unwrap();
    assert!(
        status.success() && done,
        "the browser test failed (see its output above)"
    );
    assert!(screenshot.is_file());
    println!("screenshot saved to {}", screenshot.display());
    if let Some(server) = server {
        server.stop().await;
    }
}
