//! Interop with the real TSRPC npm packages (`interop/`, `tsrpc` 3.4.x):
//!
//! * TypeScript `WsClient` and `HttpClient` (`json: true`), built against
//!   the protocol folders exported from these Rust definitions, talk to Rust
//!   servers: the chatroom of the examples and the `rich` protocol below,
//!   which has every field type the export maps;
//! * the Rust `WsClient` and `HttpClient` in JSON mode talk to TSRPC's own
//!   `WsServer` and `HttpServer` in Node;
//! * a plain `ws` socket sends JSON frames by hand.
//!
//! Needs Node.js 20+ and npm; the pinned packages are installed by
//! `interop/setup.sh` (`npm ci`), which `.ci/run` runs and these tests run
//! too when `interop/node_modules` is missing or stale. Each test process
//! works in `interop/.run/<pid>/`: the exported protocols, the TypeScript
//! sources of `interop/src/` and their compiled JavaScript.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;
use support::PATIENCE;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tsrpc::client::{DisconnectEvent, HeartbeatConfig};
use tsrpc::{Binary, Encoding, HttpClient, Regex, Server, Timestamp, WsClient, codes};
use tsrpc_examples::chatroom;

use rich::*;

/// A protocol with every field type the TypeScript export maps, and its
/// handlers. The Node server of `interop/src/ts-server.ts` implements the
/// same services.
mod rich {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};
    use tsrpc::{ApiCall, Binary, MsgCall, Timestamp, TsrpcError};

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub(crate) struct Point {
        pub(crate) x: i32,
        pub(crate) y: i32,
    }

    #[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    pub(crate) enum Color {
        Red,
        Green,
        Blue,
    }

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub(crate) enum Shape {
        Dot,
        Circle(f64),
        Line(Point, Point),
        Rect {
            w: u32,
            h: u32,
            label: Option<String>,
        },
    }

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub(crate) struct Node {
        pub(crate) name: String,
        pub(crate) children: Vec<Node>,
    }

    /// Every field type of the export.
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub(crate) struct Everything {
        pub(crate) text: String,
        pub(crate) flag: bool,
        pub(crate) int: i32,
        pub(crate) big: i64,
        pub(crate) small: u8,
        pub(crate) ratio: f64,
        pub(crate) maybe_text: Option<String>,
        pub(crate) maybe_count: Option<u32>,
        pub(crate) tags: Vec<String>,
        pub(crate) point: Point,
        pub(crate) path: Vec<Point>,
        pub(crate) color: Color,
        pub(crate) shapes: Vec<Shape>,
        pub(crate) scores: BTreeMap<String, f64>,
        pub(crate) names: BTreeMap<u32, String>,
        pub(crate) by_color: BTreeMap<Color, u32>,
        pub(crate) at: Timestamp,
        pub(crate) data: Binary,
        pub(crate) maybe_data: Option<Binary>,
        pub(crate) pair: (String, u16),
        pub(crate) rgb: [u8; 3],
        pub(crate) tree: Node,
    }

    /// Answers with the value it was sent.
    #[tsrpc::api(name = "rich/Echo")]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub(crate) struct ReqEcho {
        pub(crate) value: Everything,
    }

    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub(crate) struct ResEcho {
        pub(crate) value: Everything,
        pub(crate) received_at: Timestamp,
    }

    /// The server compares `value` with its own sample value
    /// (`everything(with_options)` on both sides) and sends its own back.
    #[tsrpc::api(name = "rich/Compare")]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub(crate) struct ReqCompare {
        pub(crate) value: Everything,
        pub(crate) with_options: bool,
    }

    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub(crate) struct ResCompare {
        pub(crate) same: bool,
        pub(crate) mine: Everything,
    }

    /// "secret" logs in; "crash" fails inside the server; any other
    /// password is an ApiError with a code and extra data.
    #[tsrpc::api(name = "user/Login")]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub(crate) struct ReqLogin {
        pub(crate) user: String,
        pub(crate) password: String,
    }

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub(crate) struct ResLogin {
        pub(crate) token: String,
    }

    /// The server closes the caller's connection with this reason.
    #[tsrpc::api]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub(crate) struct ReqKick {
        pub(crate) reason: String,
    }

    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub(crate) struct ResKick {}

    /// Answered with `Pong`, `rich/Event` and `rich/Note`, to the sender.
    #[tsrpc::msg]
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub(crate) struct MsgPing {
        pub(crate) n: u32,
        pub(crate) at: Timestamp,
    }

    #[tsrpc::msg]
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub(crate) struct MsgPong {
        pub(crate) n: u32,
        pub(crate) at: Timestamp,
        pub(crate) note: Option<String>,
    }

    #[tsrpc::msg(name = "rich/Event")]
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub(crate) struct MsgEvent {
        pub(crate) n: u32,
        pub(crate) color: Color,
    }

    #[tsrpc::msg(name = "rich/Note")]
    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub(crate) struct MsgNote {
        pub(crate) text: String,
    }

    pub(crate) const WRONG_PASSWORD: &str = "Wrong password";

    #[tsrpc::handler]
    async fn echo(call: ApiCall<ReqEcho>) -> Result<ResEcho, TsrpcError> {
        Ok(ResEcho {
            value: call.req.value,
            received_at: Timestamp::now(),
        })
    }

    #[tsrpc::handler]
    async fn compare(call: ApiCall<ReqCompare>) -> Result<ResCompare, TsrpcError> {
        let mine = super::everything(call.req.with_options);
        Ok(ResCompare {
            same: call.req.value == mine,
            mine,
        })
    }

    #[tsrpc::handler]
    async fn login(call: ApiCall<ReqLogin>) -> Result<ResLogin, TsrpcError> {
        match call.req.password.as_str() {
            "secret" => Ok(ResLogin {
                token: format!("token-of-{}", call.req.user),
            }),
            "crash" => panic!("the password check crashed (on purpose, in a test)"),
            _ => Err(TsrpcError::api(WRONG_PASSWORD)
                .with_code("BAD_PASSWORD")
                .with_data("attempts", 3)),
        }
    }

    #[tsrpc::handler]
    async fn kick(call: ApiCall<ReqKick>) -> Result<ResKick, TsrpcError> {
        call.conn.close(call.req.reason.clone());
        Ok(ResKick {})
    }

    #[tsrpc::handler]
    async fn on_ping(call: MsgCall<MsgPing>) {
        let MsgPing { n, at } = call.msg;
        // Over HTTP there is no way back to the sender: nothing to do then.
        let _ = call.conn.send_msg(&MsgPong { n, at, note: None }).await;
        let _ = call
            .conn
            .send_msg(&MsgEvent {
                n,
                color: Color::Blue,
            })
            .await;
        let _ = call
            .conn
            .send_msg(&MsgNote {
                text: format!("ping {n}"),
            })
            .await;
    }
}

/// Where the exported protocols are defined (the Rust module paths).
const CHATROOM: &str = "tsrpc_examples::chatroom::";
const RICH: &str = "interop::rich::";

/// Limit for one Node script; only a guard against hanging.
const SCRIPT_LIMIT: Duration = Duration::from_secs(60);

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("interop")
}

/// The working folder of this test process, ready: packages installed,
/// protocols exported, TypeScript compiled. Panics with the reason if
/// Node.js or npm is missing or a step fails.
fn prepared() -> &'static Path {
    static PREPARED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PREPARED.get_or_init(prepare) {
        Ok(dir) => dir,
        Err(e) => panic!("interop set-up failed: {e}"),
    }
}

fn run(command: &mut std::process::Command, what: &str) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!(
            "{what} failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(stdout)
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn prepare() -> Result<PathBuf, String> {
    let interop = interop_dir()
        .canonicalize()
        .map_err(|e| format!("no interop folder: {e}"))?;
    let missing = "the interop tests need Node.js (20 or later) and npm on the PATH";
    let version = run(
        std::process::Command::new("node").arg("--version"),
        &format!("`node --version` ({missing})"),
    )?;
    let major: u32 = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| format!("unexpected `node --version`: {version}"))?;
    if major < 20 {
        return Err(format!("{missing}; found Node.js {}", version.trim()));
    }
    run(
        std::process::Command::new("npm").arg("--version"),
        &format!("`npm --version` ({missing})"),
    )?;
    // `npm ci` when the packages are missing or older than the lock file.
    let installed = modified(&interop.join("node_modules").join(".package-lock.json"));
    let locked = modified(&interop.join("package-lock.json"));
    if installed.is_none() || installed < locked {
        run(
            std::process::Command::new("bash").arg(interop.join("setup.sh")),
            "interop/setup.sh",
        )?;
    }

    let runs = interop.join(".run");
    // Folders of earlier test runs: best effort, never an error.
    if let Ok(entries) = std::fs::read_dir(&runs) {
        for entry in entries.flatten() {
            let old = modified(&entry.path())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(600));
            if old {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = runs.join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    let io = |e: std::io::Error| format!("writing {}: {e}", dir.display());
    std::fs::create_dir_all(dir.join("src")).map_err(io)?;

    let table = tsrpc::ServiceTable::global().map_err(|e| e.to_string())?;
    let chat = tsrpc::export::export_typescript_filtered(table, |s| {
        s.location().path.starts_with(CHATROOM)
    })
    .map_err(|e| e.to_string())?;
    chat.write_to(dir.join("generated").join("chatroom"))
        .map_err(io)?;
    let rich =
        tsrpc::export::export_typescript_filtered(table, |s| s.location().path.starts_with(RICH))
            .map_err(|e| e.to_string())?;
    rich.write_to(dir.join("generated").join("rich"))
        .map_err(io)?;

    let sources = std::fs::read_dir(interop.join("src")).map_err(io)?;
    for entry in sources {
        let path = entry.map_err(io)?.path();
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, dir.join("src").join(name)).map_err(io)?;
        }
    }
    std::fs::copy(interop.join("tsconfig.json"), dir.join("tsconfig.json")).map_err(io)?;
    run(
        std::process::Command::new("node")
            .arg(interop.join("node_modules/typescript/bin/tsc"))
            .arg("-p")
            .arg(&dir),
        "compiling interop/src and the exported protocols with tsc",
    )?;
    Ok(dir)
}

fn script(name: &str) -> PathBuf {
    prepared()
        .join("dist")
        .join("src")
        .join(format!("{name}.js"))
}

/// Runs `interop/src/{name}.ts` with `args` to its end; panics with its
/// output if it fails. Returns its standard output.
async fn node(name: &str, args: &[&str]) -> String {
    node_with(name, args, &[]).await
}

/// [`node`] with environment variables set.
async fn node_with(name: &str, args: &[&str], env: &[(&str, &std::path::Path)]) -> String {
    let child = spawn_node(name, args, env, Stdio::null());
    let output = tokio::time::timeout(SCRIPT_LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{name} {args:?} did not finish in time"))
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name} {args:?} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    stdout
}

/// Starts `interop/src/{name}.ts` with `args` and `env`; its standard
/// output and error are piped, and it is killed when dropped.
fn spawn_node(name: &str, args: &[&str], env: &[(&str, &std::path::Path)], stdin: Stdio) -> Child {
    Command::new("node")
        .arg(script(name))
        .args(args)
        .envs(env.iter().copied())
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node: {e}"))
}

/// `interop/src/ts-server.ts`: TSRPC's own servers, in Node.
struct NodeServer {
    child: Child,
    ports: Value,
    stderr: Arc<Mutex<String>>,
}

impl NodeServer {
    async fn start() -> NodeServer {
        let mut child = Command::new("node")
            .arg(script("ts-server"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let stderr = stderr.clone();
            tokio::spawn(async move {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text).await;
                stderr.lock().unwrap().push_str(&text);
            });
        }
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("the Node server starts in time")
            .expect("its stdout is readable")
            .expect("it prints its ports");
        let ports: Value = serde_json::from_str(&line).expect("the ports as JSON");
        NodeServer {
            child,
            ports,
            stderr,
        }
    }

    fn url(&self, scheme: &str, server: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.ports[server])
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            eprintln!(
                "--- Node server stderr\n{}",
                self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
            );
        }
    }
}

async fn start_rust(builder: tsrpc::ServerBuilder) -> (Server, String) {
    let server = builder
        .bind("127.0.0.1:0".parse().unwrap())
        // The login example's handlers take its server's state: not served here.
        .select_handlers(|h| !h.service().starts_with("login/"))
        .build()
        .expect("the protocols are consistent");
    let addr = server.start().await.expect("the server starts");
    (server, format!("ws://{addr}"))
}

fn everything(with_options: bool) -> Everything {
    Everything {
        text: "héllo \"wörld\" ✓".into(),
        flag: true,
        int: -42,
        big: -9_007_199_254_740_991,
        small: 255,
        ratio: 0.1 + 0.2,
        maybe_text: with_options.then(|| "present".into()),
        maybe_count: with_options.then_some(0),
        tags: vec!["a".into(), "b".into()],
        point: Point { x: 1, y: -2 },
        path: vec![Point { x: 0, y: 0 }, Point { x: 3, y: 4 }],
        color: Color::Green,
        shapes: vec![
            Shape::Dot,
            Shape::Circle(1.5),
            Shape::Line(Point { x: 1, y: 1 }, Point { x: 2, y: 2 }),
            Shape::Rect {
                w: 3,
                h: 4,
                label: with_options.then(|| "box".into()),
            },
        ],
        scores: BTreeMap::from([("alice".into(), 9.5), ("bob".into(), -1.0)]),
        names: BTreeMap::from([(1, "one".into()), (20, "twenty".into())]),
        by_color: BTreeMap::from([(Color::Red, 1), (Color::Blue, 3)]),
        at: "2026-11-22T04:39:02.123Z".parse().unwrap(),
        data: Binary::from(vec![0u8, 1, 2, 254, 255]),
        maybe_data: with_options.then(|| Binary::from(vec![9u8; 4])),
        pair: ("left".into(), 65535),
        rgb: [255, 128, 0],
        tree: Node {
            name: "root".into(),
            children: vec![Node {
                name: "leaf".into(),
                children: vec![],
            }],
        },
    }
}

// ---------------------------------------------------------------------------
// a. TSRPC TypeScript clients against Rust servers

#[tokio::test]
async fn typescript_clients_chat_with_the_rust_chatroom() {
    prepared();
    let server = chatroom::server("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.start().await.unwrap();
    let out = node("ts-client", &["chatroom", &format!("ws://{addr}")]).await;
    assert!(out.contains("ok chatroom"), "{out}");
    server.stop().await;
}

/// TSRPC's environment switch for `ts-client`: its clients in their
/// default binary mode (TSBuffer) rather than JSON mode.
const TSBUFFER: (&str, &str) = ("TSRPC_JSON", "false");

/// The same chatroom with TSRPC's clients in their default binary mode
/// (`json: false`, TSBuffer), over WebSocket and HTTP.
#[tokio::test]
async fn typescript_binary_clients_chat_with_the_rust_chatroom() {
    prepared();
    let server = chatroom::server("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.start().await.unwrap();
    let (name, value) = TSBUFFER;
    let out = node_with(
        "ts-client",
        &["chatroom", &format!("ws://{addr}")],
        &[(name, Path::new(value))],
    )
    .await;
    assert!(out.contains("ok chatroom"), "{out}");
    server.stop().await;
}

/// The chatroom over TLS, with a certificate made for the test that Node
/// is told to trust (`NODE_EXTRA_CA_CERTS`): `wss://` and `https://`.
#[tokio::test]
async fn typescript_clients_chat_over_wss_and_https() {
    prepared();
    let cert = support::TestCert::new();
    let tls = tsrpc::tls::ServerTls::from_pem_files(cert.cert_path(), cert.key_path()).unwrap();
    let server = chatroom::builder("127.0.0.1:0".parse().unwrap())
        .tls(tls)
        .build()
        .unwrap();
    let port = server.start().await.unwrap().port();
    let (ws, http) = (
        format!("wss://localhost:{port}"),
        format!("https://localhost:{port}"),
    );
    let ca = cert.cert_path();
    let out = node_with(
        "ts-client",
        &["chatroom", &ws, &http],
        &[("NODE_EXTRA_CA_CERTS", ca.as_path())],
    )
    .await;
    assert!(out.contains("ok chatroom"), "{out}");
    server.stop().await;
}

/// The same chatroom mounted in the axum example app: WebSocket at `/ws`,
/// HTTP under `/api`, next to the app's own routes.
#[tokio::test]
async fn typescript_clients_chat_through_the_axum_app() {
    prepared();
    let chat = chatroom::server("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = tokio::spawn({
        let chat = chat.clone();
        async move {
            tsrpc_examples::axum_app::serve(listener, &chat, async {
                let _ = stopped.await;
            })
            .await
        }
    });
    let (ws, http) = (format!("ws://{addr}/ws"), format!("http://{addr}/api"));
    let out = node("ts-client", &["chatroom", &ws, &http]).await;
    assert!(out.contains("ok chatroom"), "{out}");
    chat.stop().await;
    let _ = stop.send(());
    app.await.unwrap().unwrap();
}

/// Two chatroom servers sharing one chat through a real Redis, as
/// `chatroom-server --redis URL` runs them: TSRPC's clients on each get
/// every chat once, each sender's in order, before and after a Redis
/// restart, over the same connections.
#[tokio::test]
async fn typescript_clients_chat_across_chatrooms_joined_by_redis() {
    prepared();
    let mut redis = support::RedisServer::start().await;
    let nodes = support::clustered(&redis, 2, chatroom::builder).await;
    let urls: Vec<String> = nodes
        .iter()
        .map(|(_, addr)| format!("ws://{addr}"))
        .collect();
    let mut child = spawn_node("cluster", &[&urls[0], &urls[1]], &[], Stdio::piped());
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let first = tokio::time::timeout(SCRIPT_LIMIT, lines.next_line())
        .await
        .expect("phase one ends in time")
        .unwrap();
    if first.as_deref() != Some("phase one ok") {
        let output = child.wait_with_output().await.unwrap();
        panic!(
            "phase one failed: {first:?}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    redis.restart().await;
    support::eventually("both servers listen to Redis again", || {
        nodes
            .iter()
            .all(|(server, _)| server.cluster_stats().unwrap().reconnects >= 1)
    })
    .await;
    tokio::io::AsyncWriteExt::write_all(&mut stdin, b"go\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(SCRIPT_LIMIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push(line);
        }
        child.wait_with_output().await
    })
    .await
    .expect("phase two ends in time")
    .unwrap();
    assert!(
        ended.status.success() && rest.iter().any(|l| l == "ok cluster"),
        "phase two failed ({}): {rest:?}\n{}",
        ended.status,
        String::from_utf8_lossy(&ended.stderr)
    );
    for (server, _) in &nodes {
        let stats = server.cluster_stats().unwrap();
        assert_eq!((stats.lost, stats.dropped), (0, 0), "{stats:?}");
        server.stop().await;
    }
}

#[tokio::test]
async fn typescript_clients_use_every_field_type_errors_and_messages() {
    prepared();
    let (server, url) = start_rust(Server::builder()).await;
    let out = node("ts-client", &["rich", &url]).await;
    assert!(out.contains("ok rich"), "{out}");
    server.stop().await;
}

/// Every field type, errors and messages with TSRPC's clients in binary
/// mode: the TSBuffer bytes of both sides agree.
#[tokio::test]
async fn typescript_binary_clients_use_every_field_type_errors_and_messages() {
    prepared();
    let (server, url) = start_rust(Server::builder()).await;
    let (name, value) = TSBUFFER;
    let out = node_with("ts-client", &["rich", &url], &[(name, Path::new(value))]).await;
    assert!(out.contains("ok rich"), "{out}");
    server.stop().await;
}

/// In JSON mode, then in binary mode (the heartbeat is the same byte).
#[tokio::test]
async fn typescript_heartbeats_keep_a_connection_the_rust_server_would_close() {
    prepared();
    let (server, url) =
        start_rust(Server::builder().heartbeat_wait_time(Some(Duration::from_millis(600)))).await;
    let out = node("ts-client", &["heartbeat", &url]).await;
    assert!(out.contains("ok heartbeat"), "{out}");
    let (name, value) = TSBUFFER;
    let out = node_with(
        "ts-client",
        &["heartbeat", &url],
        &[(name, Path::new(value))],
    )
    .await;
    assert!(out.contains("ok heartbeat"), "in binary mode: {out}");
    server.stop().await;
}

// ---------------------------------------------------------------------------
// c. A plain WebSocket, JSON frames written by hand

#[tokio::test]
async fn a_plain_websocket_speaks_json_frames_by_hand() {
    prepared();
    let (server, url) = start_rust(Server::builder()).await;
    let out = node("plain-ws", &[&url]).await;
    assert!(out.contains("ok plain-ws"), "{out}");
    server.stop().await;
}

// ---------------------------------------------------------------------------
// b. Rust clients against TSRPC's own Node servers

#[tokio::test]
async fn the_rust_ws_client_talks_to_a_node_tsrpc_ws_server() {
    ws_client_against_node(Encoding::Json).await;
}

/// The same in TSRPC's default binary mode: the Rust client's TSBuffer
/// bytes are what TSRPC's server reads and writes.
#[tokio::test]
async fn the_rust_ws_client_speaks_tsbuffer_to_a_node_tsrpc_ws_server() {
    ws_client_against_node(Encoding::Tsbuffer).await;
}

async fn ws_client_against_node(encoding: Encoding) {
    let node = NodeServer::start().await;
    let client = WsClient::builder(node.url("ws", "ws"))
        .encoding(encoding)
        .build();
    let pongs = Arc::new(Mutex::new(Vec::new()));
    let p = pongs.clone();
    client
        .listen_msg(move |pong: MsgPong| p.lock().unwrap().push(pong))
        .unwrap();
    let matched = Arc::new(Mutex::new(Vec::new()));
    let m = matched.clone();
    client.listen_msg_matching(Regex::new("^rich/").unwrap(), move |msg| {
        let decoded = match msg.name() {
            "rich/Event" => format!("{:?}", msg.decode::<MsgEvent>()),
            "rich/Note" => format!("{:?}", msg.decode::<MsgNote>()),
            other => format!("unexpected {other}"),
        };
        m.lock().unwrap().push(decoded);
    });
    client.connect().await.unwrap();

    for with_options in [true, false] {
        let res = client
            .call_api(ReqCompare {
                value: everything(with_options),
                with_options,
            })
            .await
            .unwrap();
        assert!(res.same, "Node decoded another value");
        assert_eq!(res.mine, everything(with_options));
    }
    for shape in shapes() {
        let value = Everything {
            shapes: vec![shape],
            ..everything(true)
        };
        let res = client
            .call_api(ReqEcho {
                value: value.clone(),
            })
            .await
            .unwrap();
        assert_eq!(res.value, value);
    }
    check_login_errors(|req| client.call_api(req)).await;

    let at = Timestamp::from_unix_millis(1_767_323_045_678);
    client.send_msg(&MsgPing { n: 7, at }).await.unwrap();
    support::eventually("the answers arrive", || {
        pongs.lock().unwrap().len() == 1 && matched.lock().unwrap().len() == 2
    })
    .await;
    assert_eq!(
        pongs.lock().unwrap()[0],
        MsgPong {
            n: 7,
            at,
            note: Some("from Node".into())
        }
    );
    assert_eq!(
        *matched.lock().unwrap(),
        [
            format!(
                "{:?}",
                Ok::<_, tsrpc::TsrpcError>(MsgEvent {
                    n: 7,
                    color: Color::Blue
                })
            ),
            format!(
                "{:?}",
                Ok::<_, tsrpc::TsrpcError>(MsgNote {
                    text: "ping 7".into()
                })
            ),
        ]
    );

    // The Node server closes the connection with a reason.
    let closed = Arc::new(Mutex::new(None));
    let c = closed.clone();
    client
        .flows()
        .post_disconnect
        .push(move |event: DisconnectEvent| {
            *c.lock().unwrap() = Some((event.reason.clone(), event.code, event.is_manual));
            async move { Some(event) }
        });
    let kicked = client
        .call_api(ReqKick {
            reason: "Bye from Node".into(),
        })
        .await;
    assert!(kicked.is_ok(), "Node answers before it closes: {kicked:?}");
    support::eventually("post_disconnect runs", || closed.lock().unwrap().is_some()).await;
    assert_eq!(
        closed.lock().unwrap().clone(),
        Some(("Bye from Node".to_owned(), Some(1000), false))
    );
}

#[tokio::test]
async fn rust_heartbeats_keep_a_connection_the_node_server_would_close() {
    let node = NodeServer::start().await;
    let url = node.url("ws", "wsHeartbeat");
    let alive = WsClient::builder(&url)
        .json(true)
        .heartbeat(HeartbeatConfig {
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(5),
        })
        .build();
    let silent = WsClient::builder(&url).json(true).build();
    let events = Arc::new(Mutex::new(Vec::new()));
    for (name, client) in [("alive", &alive), ("silent", &silent)] {
        let e = events.clone();
        client
            .flows()
            .post_disconnect
            .push(move |event: DisconnectEvent| {
                e.lock()
                    .unwrap()
                    .push((name, event.reason.clone(), event.code, event.is_manual));
                async move { Some(event) }
            });
        client.connect().await.unwrap();
    }
    support::eventually("Node drops the silent client", || {
        !events.lock().unwrap().is_empty()
    })
    .await;
    let (name, reason, code, is_manual) = events.lock().unwrap()[0].clone();
    assert_eq!(name, "silent");
    assert_eq!(reason, "Receive heartbeat timeout");
    assert_eq!(code, Some(3001));
    assert!(!is_manual);
    assert!(alive.is_connected());
    assert!(
        alive.last_heartbeat_latency().is_some(),
        "Node answers heartbeats"
    );
    let res = alive
        .call_api(ReqLogin {
            user: "hb".into(),
            password: "secret".into(),
        })
        .await
        .unwrap();
    assert_eq!(res.token, "token-of-hb");
    alive.disconnect().await;
}

#[tokio::test]
async fn the_rust_http_client_talks_to_a_node_tsrpc_http_server() {
    http_client_against_node(Encoding::Json).await;
}

#[tokio::test]
async fn the_rust_http_client_speaks_tsbuffer_to_a_node_tsrpc_http_server() {
    http_client_against_node(Encoding::Tsbuffer).await;
}

async fn http_client_against_node(encoding: Encoding) {
    let node = NodeServer::start().await;
    let client = HttpClient::builder(node.url("http", "http"))
        .encoding(encoding)
        .build()
        .unwrap();
    for with_options in [true, false] {
        let res = client
            .call_api(ReqCompare {
                value: everything(with_options),
                with_options,
            })
            .await
            .unwrap();
        assert!(res.same, "Node decoded another value");
        assert_eq!(res.mine, everything(with_options));
    }
    check_login_errors(|req| client.call_api(req)).await;
    client
        .send_msg(&MsgPing {
            n: 1,
            at: Timestamp::now(),
        })
        .await
        .unwrap();
}

/// One value of each variant of `Shape`.
fn shapes() -> Vec<Shape> {
    vec![
        Shape::Dot,
        Shape::Circle(1.5),
        Shape::Line(Point { x: 1, y: 1 }, Point { x: 2, y: 2 }),
        Shape::Rect {
            w: 1,
            h: 2,
            label: Some("x".into()),
        },
    ]
}

/// `user/Login`: an ApiError with a code and data, a crash, a success.
async fn check_login_errors<F, Fut>(call: F)
where
    F: Fn(ReqLogin) -> Fut,
    Fut: std::future::Future<Output = Result<ResLogin, tsrpc::TsrpcError>>,
{
    let login = |password: &str| ReqLogin {
        user: "ann".into(),
        password: password.into(),
    };
    let err = call(login("nope")).await.unwrap_err();
    assert!(err.is_api(), "{err:?}");
    assert_eq!(err.message, rich::WRONG_PASSWORD);
    assert!(err.has_code("BAD_PASSWORD"), "{err:?}");
    assert_eq!(err.data.get("attempts"), Some(&Value::from(3)));
    let err = call(login("crash")).await.unwrap_err();
    assert_eq!(err.kind, tsrpc::ErrorKind::ServerError, "{err:?}");
    assert!(err.has_code(codes::INTERNAL_ERR), "{err:?}");
    let res = call(login("secret")).await.unwrap();
    assert_eq!(res.token, "token-of-ann");
}
