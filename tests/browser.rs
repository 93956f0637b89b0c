//! The browser chatroom end to end: the real tsrpc-browser client in
//! Debian's Chromium (headless, driven by playwright-core) against the
//! chatroom server, which serves the page on its own port; and the page
//! with a pane on each of two chatroom servers joined by Redis. Needs
//! `bash examples/web/setup-e2e.sh` (CI runs it): Chromium, the npm
//! packages and the built page; and `bash tsrpc-redis/setup.sh`.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tsrpc_examples::chatroom;

async fn start(addr: SocketAddr) -> (tsrpc::Server, SocketAddr) {
    let server = chatroom::server(addr).expect("the chatroom server builds");
    let addr = server.start().await.expect("the chatroom server starts");
    (server, addr)
}

/// A browser script of `examples/web` (`e2e.mjs`, `e2e-cluster.mjs`)
/// running against `url`: its steps arrive on `lines`, the answers go to
/// `stdin`.
struct Script {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    screenshot: PathBuf,
}

impl Script {
    fn start(name: &str, url: &str) -> Script {
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
        let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name.replace(".mjs", ".png"));
        let mut child = Command::new("node")
            .arg(web.join(name))
            .arg(url)
            .arg(&screenshot)
            .current_dir(&web)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (Node 20 is needed)");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Script {
            child,
            stdin,
            lines,
            screenshot,
        }
    }

    /// The script's next step (`STEP name`), or `None` at its end, once
    /// it said `DONE`; its other lines are printed.
    async fn next_step(&mut self) -> Option<String> {
        let read = async {
            let mut done = false;
            while let Some(line) = self.lines.next_line().await.unwrap() {
                println!("e2e: {line}");
                if let Some(step) = line.strip_prefix("STEP ") {
                    return Some(step.to_owned());
                }
                done |= line == "DONE";
            }
            let status = self.child.wait().await.unwrap();
            assert!(
                status.success() && done,
                "the browser test failed (see its output above)"
            );
            assert!(self.screenshot.is_file());
            println!("screenshot saved to {}", self.screenshot.display());
            None
        };
        tokio::time::timeout(Duration::from_secs(120), read)
            .await
            .expect("the browser test goes on")
    }

    async fn answer(&mut self, text: &str) {
        use tokio::io::AsyncWriteExt;
        self.stdin
            .write_all(format!("{text}\n").as_bytes())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn two_panes_chat_see_errors_and_reconnect_after_a_restart() {
    let (server, addr) = start("127.0.0.1:0".parse().unwrap()).await;
    let mut script = Script::start("e2e.mjs", &format!("http://{addr}/"));
    let mut server = Some(server);
    while let Some(step) = script.next_step().await {
        match step.as_str() {
            "stop-server" => {
                if let Some(server) = server.take() {
                    // Both panes speak TSRPC's default binary mode.
                    let stats = server.stats();
                    assert_eq!(stats.websockets_tsbuffer, 2, "{stats:?}");
                    server.stop().await;
                }
                script.answer("stopped").await;
            }
            "start-server" => {
                server = Some(start(addr).await.0);
                script.answer("started").await;
            }
            other => panic!("unknown step {other}"),
        }
    }
    if let Some(server) = server {
        server.stop().await;
    }
}

/// A pane on each of two chatroom servers sharing one chat through a real
/// Redis: chats cross both ways, once each, and again after Redis restarts.
#[tokio::test]
async fn a_pane_on_each_of_two_servers_joined_by_redis() {
    let mut redis = support::RedisServer::start().await;
    let servers = support::clustered(&redis, 2, chatroom::builder).await;
    let (a, b) = (servers[0].1, servers[1].1);
    let url = format!("http://{a}/?servers=ws://{a},ws://{b}");
    let mut script = Script::start("e2e-cluster.mjs", &url);
    while let Some(step) = script.next_step().await {
        match step.as_str() {
            "restart-redis" => {
                redis.restart().await;
                support::eventually("both servers listen to Redis again", || {
                    servers
                        .iter()
                        .all(|(server, _)| server.cluster_stats().unwrap().reconnects >= 1)
                })
                .await;
                script.answer("restarted").await;
            }
            other => panic!("unknown step {other}"),
        }
    }
    for (server, _) in servers {
        server.stop().await;
    }
}
