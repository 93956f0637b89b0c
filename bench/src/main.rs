//! The tsrpc benchmark: tsrpc against the transport's limit (a raw
//! tokio-tungstenite / hyper server answering the same frames) and against
//! TSRPC 3.4 on Node, side by side, in one run.
//!
//! ```sh
//! cargo run --release -p tsrpc-bench -- all      # every scenario, a few minutes
//! cargo run --release -p tsrpc-bench -- ws-small # one scenario
//! cargo run -p tsrpc-bench -- smoke              # tiny sizes: does every server answer?
//! ```
//!
//! Every server runs as its own child process (so its RSS and CPU time are
//! its own, read from `/proc`), pinned to the last CPU while the load
//! generator runs on the others. Each scenario alternates between the
//! servers for several rounds and prints the medians and the ratios.

mod load;
mod node;
mod proto;
mod raw;
mod report;
mod sys;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tsrpc::Binary;
use tsrpc::Encoding;

use load::{CallSample, CallSpec, FanSample, Window};
use proto::{ReqEcho, ReqEchoBig, ResEcho, ResEchoBig};
use report::{Table, Target, median, num, ratio, thousands};
use sys::{Pinning, ServerProcess};

const USAGE: &str = "\
usage: cargo run --release -p tsrpc-bench -- <scenario> [options]

scenarios:
  ws-small    WebSocket calls, small payload (JSON and binary)
  ws-big      WebSocket calls, 100 KB payload (JSON and binary)
  http-small  HTTP keep-alive calls, small payload (JSON and binary)
  broadcast   one message to 1,000 and 10,000 clients (also measures idle memory)
  idle        server memory per idle WebSocket connection (10,000 connections)
  all         all of the above
  smoke       every scenario and server with tiny sizes, checking every answer

for profiling one server:
  serve tsrpc|raw-ws|raw-http   run a server (prints its port) until stdin closes
  load <port> json|binary [s] [http]
                                small WebSocket (or HTTP) calls against that server

options:
  --rounds N      rounds per scenario, alternating the servers (default 3;
                  2 for broadcast and idle, which start a server per round)
  --seconds S     measured seconds per run (default 2)
  --conns C       WebSocket connections (default 50)
  --inflight P    calls in flight per connection (default 20)
  --clients N     clients of broadcast and idle (default 1,000 and 10,000)
  --broadcasts B  broadcasts per round (default 10)
  --no-node       skip TSRPC on Node
  --no-pin        do not pin servers and load to separate CPUs";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        return serve(args.get(1).map_or("", String::as_str));
    }
    if args.first().map(String::as_str) == Some("load") {
        return load_only(&args[1..]);
    }
    let options = match Options::parse(&args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Client sockets for 10,000 connections, and the same for each server
    // (children inherit the limit).
    let limit = sys::raise_nofile(65_536);
    // Before pinning: the machine's CPUs, not the load generator's.
    let machine = sys::machine();
    let pinning = Pinning::detect(options.pin);
    pinning.pin_self();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(bench(options, pinning, limit, machine))
}

/// The `serve <kind>` mode: one server, until standard input closes.
fn serve(kind: &str) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let local = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let port = match kind {
            "tsrpc" => {
                let server = tsrpc::Server::builder()
                    .bind(local)
                    .build()
                    .expect("the benchmark's server is valid");
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
                eprintln!("usage: tsrpc-bench serve tsrpc|raw-ws|raw-http");
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

/// The `load <port> json|binary [seconds] [http]` mode: small WebSocket (or HTTP) calls
/// against a server started elsewhere (for profiling one, e.g. under
/// `valgrind --tool=callgrind tsrpc-bench serve tsrpc`).
fn load_only(args: &[String]) -> ExitCode {
    let usage = "usage: tsrpc-bench load <port> json|binary [seconds] [http]";
    let (Some(port), Some(encoding)) = (
        args.first().and_then(|p| p.parse::<u16>().ok()),
        args.get(1),
    ) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let encoding = match encoding.as_str() {
        "json" => Encoding::Json,
        "binary" => Encoding::Binary,
        _ => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let seconds: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (req, res) = small_req();
    let spec = Arc::new(CallSpec::new(encoding, &req, res));
    let window = Window {
        warmup: Duration::from_millis(500),
        measure: Duration::from_secs_f64(seconds),
    };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let sample = if args.get(3).map(String::as_str) == Some("http") {
        runtime.block_on(load::http_calls(addr, spec, 1000, window, None, false))
    } else {
        runtime.block_on(load::ws_calls(addr, spec, 50, 20, window, None, false))
    };
    match sample {
        Ok(sample) => {
            println!(
                "{:.0} calls/s, p50 {:.2} ms, p99 {:.2} ms",
                sample.rate,
                sample.p50_us / 1000.0,
                sample.p99_us / 1000.0
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Clone, Debug)]
struct Options {
    scenarios: Vec<Scenario>,
    smoke: bool,
    rounds: usize,
    warmup: Duration,
    measure: Duration,
    conns: usize,
    inflight: usize,
    big_conns: usize,
    big_inflight: usize,
    fan_sizes: Vec<usize>,
    fan_rounds: usize,
    broadcasts: usize,
    idle_clients: usize,
    node: bool,
    pin: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    WsSmall,
    WsBig,
    HttpSmall,
    Broadcast,
    Idle,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut it = args.iter();
        let scenario = it.next().ok_or("which scenario?")?;
        let mut o = Options {
            scenarios: Vec::new(),
            smoke: false,
            rounds: 3,
            warmup: Duration::from_millis(500),
            measure: Duration::from_secs(2),
            conns: 50,
            inflight: 20,
            big_conns: 50,
            big_inflight: 1,
            fan_sizes: vec![1_000, 10_000],
            fan_rounds: 2,
            broadcasts: 10,
            idle_clients: 10_000,
            node: true,
            pin: true,
        };
        use Scenario::*;
        o.scenarios = match scenario.as_str() {
            "ws-small" => vec![WsSmall],
            "ws-big" => vec![WsBig],
            "http-small" => vec![HttpSmall],
            "broadcast" => vec![Broadcast],
            "idle" => vec![Idle],
            // The 10,000-client broadcast measures idle memory on the way.
            "all" => vec![WsSmall, WsBig, HttpSmall, Broadcast],
            "smoke" => {
                o.smoke = true;
                o.rounds = 1;
                o.warmup = Duration::from_millis(100);
                o.measure = Duration::from_millis(300);
                o.conns = 2;
                o.inflight = 3;
                o.big_conns = 1;
                o.fan_sizes = vec![20];
                o.fan_rounds = 1;
                o.broadcasts = 2;
                o.idle_clients = 20;
                vec![WsSmall, WsBig, HttpSmall, Broadcast]
            }
            "help" | "--help" | "-h" => return Err("tsrpc benchmarks".into()),
            other => return Err(format!("unknown scenario {other:?}")),
        };
        let number = |v: Option<&String>, what: &str| -> Result<f64, String> {
            v.and_then(|v| v.parse::<f64>().ok())
                .filter(|v| *v > 0.0)
                .ok_or_else(|| format!("{what} needs a positive number"))
        };
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--rounds" => {
                    o.rounds = number(it.next(), arg)? as usize;
                    o.fan_rounds = o.rounds;
                }
                "--seconds" => o.measure = Duration::from_secs_f64(number(it.next(), arg)?),
                "--conns" => o.conns = number(it.next(), arg)? as usize,
                "--inflight" => o.inflight = number(it.next(), arg)? as usize,
                "--clients" => {
                    let n = number(it.next(), arg)? as usize;
                    o.fan_sizes = vec![n];
                    o.idle_clients = n;
                }
                "--broadcasts" => o.broadcasts = number(it.next(), arg)? as usize,
                "--no-node" => o.node = false,
                "--no-pin" => o.pin = false,
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        Ok(o)
    }
}

/// Servers of a scenario, by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Tsrpc,
    RawWs,
    RawHttp,
    NodeWs,
    NodeHttp,
}

impl Kind {
    async fn start(self, pinning: &Pinning) -> Result<ServerProcess, String> {
        let own = |arg: &str| {
            let exe = std::env::current_exe().expect("the benchmark's own path");
            let mut c = Pinning::command(pinning.server_cpus.as_deref(), &exe);
            c.arg("serve").arg(arg);
            c
        };
        match self {
            Kind::Tsrpc => ServerProcess::start("tsrpc server", own("tsrpc")).await,
            Kind::RawWs => ServerProcess::start("raw tungstenite server", own("raw-ws")).await,
            Kind::RawHttp => ServerProcess::start("raw hyper server", own("raw-http")).await,
            Kind::NodeWs => node::start_server("ws", pinning).await,
            Kind::NodeHttp => node::start_server("http", pinning).await,
        }
    }
}

/// How a variant is loaded.
#[derive(Clone, Debug)]
enum Driver {
    /// The Rust generator over WebSocket.
    Ws(Arc<CallSpec>),
    /// The Rust generator over HTTP.
    Http(Arc<CallSpec>),
    /// TSRPC's Node client (binary mode): `ws` or `http`, big payload or not.
    NodeClient(&'static str, bool),
}

/// One row of a calls table: a server, how it is loaded, its samples.
#[derive(Debug)]
struct Variant {
    label: &'static str,
    server: Kind,
    driver: Driver,
    samples: Vec<CallSample>,
    error: Option<String>,
}

/// One benchmark run: its settings and what it found so far.
struct Bench {
    options: Options,
    pinning: Pinning,
    node: Option<String>,
    failures: Vec<String>,
    targets: Vec<Target>,
    /// The open-file limit in force.
    nofile: u64,
    /// Median calls/s by (table, row).
    rates: BTreeMap<(String, String), f64>,
}

impl Bench {
    fn print(&self, text: &str) {
        println!("{text}");
    }

    fn window(&self) -> Window {
        Window {
            warmup: self.options.warmup,
            measure: self.options.measure,
        }
    }
}

async fn bench(options: Options, pinning: Pinning, limit: u64, machine: String) -> ExitCode {
    let started = Instant::now();
    let node = if options.node {
        match node::prepare() {
            Ok(Some(version)) => Some(version),
            Ok(None) => {
                eprintln!(
                    "note: node/npm not found: skipping TSRPC on Node (install Node.js 20 and npm to compare)"
                );
                None
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let mut b = Bench {
        options: options.clone(),
        pinning,
        node,
        failures: Vec::new(),
        targets: Vec::new(),
        rates: BTreeMap::new(),
        nofile: limit,
    };
    let header = format!(
        "# tsrpc benchmark\n\nMachine: {}\nOpen-file limit: {limit}; {}; Node: {}\n",
        machine,
        b.pinning.describe(),
        b.node.as_deref().unwrap_or("not used"),
    );
    b.print(&header);
    for scenario in options.scenarios.clone() {
        match scenario {
            Scenario::WsSmall => ws_small(&mut b).await,
            Scenario::WsBig => ws_big(&mut b).await,
            Scenario::HttpSmall => http_small(&mut b).await,
            Scenario::Broadcast => fan(&mut b, &options.fan_sizes.clone(), true).await,
            Scenario::Idle => fan(&mut b, &[options.idle_clients], false).await,
        }
    }
    if !b.targets.is_empty() && !b.options.smoke {
        let lines: Vec<String> = b.targets.iter().map(Target::line).collect();
        b.print(&format!("## Targets\n\n{}\n", lines.join("\n")));
    }
    b.print(&format!(
        "Total time {:.0} s; load average at the end {}.",
        started.elapsed().as_secs_f64(),
        sys::load_average()
    ));
    if b.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("\nFAILED:");
        for f in &b.failures {
            eprintln!("  {f}");
        }
        ExitCode::FAILURE
    }
}

fn small_req() -> (ReqEcho, ResEcho) {
    let req = ReqEcho {
        a: 123,
        b: "Hello, World!".into(),
        c: true,
    };
    let res = ResEcho {
        a: req.a,
        b: req.b.clone(),
        c: req.c,
    };
    (req, res)
}

fn big_req() -> (ReqEchoBig, ResEchoBig) {
    let d: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let req = ReqEchoBig {
        a: 123,
        b: "Hello, World!".into(),
        c: true,
        d: Binary(d),
    };
    let res = ResEchoBig {
        a: req.a,
        b: req.b.clone(),
        c: req.c,
        d: req.d.clone(),
    };
    (req, res)
}

fn variant(label: &'static str, server: Kind, driver: Driver) -> Variant {
    Variant {
        label,
        server,
        driver,
        samples: Vec::new(),
        error: None,
    }
}

/// The rows of a calls table: tsrpc and the raw server in JSON and binary,
/// then TSRPC on Node (JSON through our generator, binary through its own
/// client) when Node is there.
fn call_variants(
    b: &Bench,
    [json, binary]: [CallSpec; 2],
    transport: Transport,
    big: bool,
) -> Vec<Variant> {
    let (json, binary) = (Arc::new(json), Arc::new(binary));
    let (drive, raw, node, raw_json, raw_binary, node_client): (fn(_) -> _, _, _, _, _, _) =
        match transport {
            Transport::Ws => (
                Driver::Ws,
                Kind::RawWs,
                Kind::NodeWs,
                "raw tungstenite JSON",
                "raw tungstenite binary",
                "ws",
            ),
            Transport::Http => (
                Driver::Http,
                Kind::RawHttp,
                Kind::NodeHttp,
                "raw hyper JSON",
                "raw hyper binary",
                "http",
            ),
        };
    let mut variants = vec![
        variant("tsrpc JSON", Kind::Tsrpc, drive(json.clone())),
        variant(raw_json, raw, drive(json.clone())),
        variant("tsrpc binary", Kind::Tsrpc, drive(binary.clone())),
        variant(raw_binary, raw, drive(binary)),
    ];
    if b.node.is_some() {
        variants.push(variant("TSRPC (Node) JSON", node, drive(json)));
        variants.push(variant(
            "TSRPC (Node) binary ¹",
            node,
            Driver::NodeClient(node_client, big),
        ));
    }
    variants
}

/// The JSON and binary calls of `req`, answered with `res`.
fn specs<R>((req, res): (R, R::Res)) -> [CallSpec; 2]
where
    R: tsrpc::Api,
    R::Res: PartialEq + std::fmt::Debug + serde::de::DeserializeOwned + serde::Serialize + Clone,
{
    [
        CallSpec::new(Encoding::Json, &req, res.clone()),
        CallSpec::new(Encoding::Binary, &req, res),
    ]
}

#[derive(Clone, Copy)]
enum Transport {
    Ws,
    Http,
}

/// Target: row `num` ÷ row `den` of `table`, in calls/s, at least `bound`.
fn ratio_target(b: &Bench, table: &str, what: &str, num: &str, den: &str, bound: f64) -> Target {
    Target {
        what: what.into(),
        value: rate_of(b, table, num)
            .zip(rate_of(b, table, den))
            .map(|(a, r)| a / r),
        bound,
        at_most: false,
        unit: "×",
    }
}

async fn ws_small(b: &mut Bench) {
    let variants = call_variants(b, specs(small_req()), Transport::Ws, false);
    let (conns, inflight) = (b.options.conns, b.options.inflight);
    let title = format!(
        "## WebSocket calls, small payload\n\n`{{a, b: \"Hello, World!\", c}}` echoed; {conns} connections × {inflight} calls in flight."
    );
    run_calls(b, &title, variants, conns, inflight).await;
    let table = "WebSocket calls, small payload";
    let targets = [
        (
            "WS small, tsrpc JSON ÷ raw tungstenite JSON",
            "tsrpc JSON",
            "raw tungstenite JSON",
            0.8,
        ),
        (
            "WS small, tsrpc binary ÷ raw tungstenite binary",
            "tsrpc binary",
            "raw tungstenite binary",
            0.8,
        ),
        (
            "WS small, tsrpc JSON ÷ TSRPC (Node) JSON",
            "tsrpc JSON",
            "TSRPC (Node) JSON",
            5.0,
        ),
        (
            "WS small, tsrpc binary ÷ TSRPC (Node) binary (its Node client is the bottleneck)",
            "tsrpc binary",
            "TSRPC (Node) binary ¹",
            5.0,
        ),
    ]
    .map(|(what, num, den, bound)| ratio_target(b, table, what, num, den, bound));
    b.targets.extend(targets);
}

/// Median calls/s of a row of a finished table.
fn rate_of(b: &Bench, table: &str, label: &str) -> Option<f64> {
    b.rates.get(&(table.to_owned(), label.to_owned())).copied()
}

async fn ws_big(b: &mut Bench) {
    let variants = call_variants(b, specs(big_req()), Transport::Ws, true);
    let (conns, inflight) = (b.options.big_conns, b.options.big_inflight);
    let title = format!(
        "## WebSocket calls, 100 KB payload\n\nTSRPC's benchmark request `{{a, b, c, d: 100,000 bytes}}` echoed (base64 in JSON); {conns} connections × {inflight} call in flight."
    );
    run_calls(b, &title, variants, conns, inflight).await;
}

async fn http_small(b: &mut Bench) {
    let variants = call_variants(b, specs(small_req()), Transport::Http, false);
    let conns = b.options.conns * b.options.inflight;
    let title = format!(
        "## HTTP calls, small payload\n\n`POST /Echo`, HTTP/1.1 keep-alive; {conns} connections × 1 call in flight."
    );
    run_calls(b, &title, variants, conns, 1).await;
    let table = "HTTP calls, small payload";
    let targets = [
        (
            "HTTP small, tsrpc JSON ÷ TSRPC (Node) JSON",
            "tsrpc JSON",
            "TSRPC (Node) JSON",
        ),
        (
            "HTTP small, tsrpc binary ÷ TSRPC (Node) binary (its Node client is the bottleneck)",
            "tsrpc binary",
            "TSRPC (Node) binary ¹",
        ),
    ]
    .map(|(what, num, den)| ratio_target(b, table, what, num, den, 5.0));
    b.targets.extend(targets);
}

/// Runs the variants for the configured rounds, alternating, and prints
/// their table. `title` starts with `## <name>`.
async fn run_calls(
    b: &mut Bench,
    title: &str,
    mut variants: Vec<Variant>,
    conns: usize,
    inflight: usize,
) {
    let name = title
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("## ")
        .to_owned();
    eprintln!("\n== {name}");
    let mut kinds: Vec<Kind> = variants.iter().map(|v| v.server).collect();
    kinds.sort();
    kinds.dedup();
    let mut servers = BTreeMap::new();
    for kind in kinds {
        match kind.start(&b.pinning).await {
            Ok(server) => {
                servers.insert(kind, server);
            }
            Err(e) => {
                for v in variants.iter_mut().filter(|v| v.server == kind) {
                    v.error = Some(e.clone());
                }
            }
        }
    }
    let window = b.window();
    let verify_all = b.options.smoke;
    for round in 0..b.options.rounds {
        for v in &mut variants {
            if v.error.is_some() {
                continue;
            }
            let Some(server) = servers.get(&v.server) else {
                continue;
            };
            let outcome = match &v.driver {
                Driver::Ws(spec) => {
                    load::ws_calls(
                        server.addr,
                        spec.clone(),
                        conns,
                        inflight,
                        window,
                        Some(server.pid()),
                        verify_all,
                    )
                    .await
                }
                Driver::Http(spec) => {
                    load::http_calls(
                        server.addr,
                        spec.clone(),
                        conns,
                        window,
                        Some(server.pid()),
                        verify_all,
                    )
                    .await
                }
                Driver::NodeClient(kind, big) => {
                    node_client(b, server, kind, *big, conns, inflight, window).await
                }
            };
            match outcome {
                Ok(sample) => {
                    eprintln!(
                        "  round {}: {:<24} {:>10} calls/s  p50 {:>7.2} ms  p99 {:>7.2} ms  server CPU {} µs/call",
                        round + 1,
                        v.label,
                        thousands(sample.rate),
                        sample.p50_us / 1000.0,
                        sample.p99_us / 1000.0,
                        num(sample.cpu_us_per_call, 1),
                    );
                    v.samples.push(sample);
                }
                Err(e) => {
                    eprintln!("  round {}: {} FAILED: {e}", round + 1, v.label);
                    v.error = Some(e);
                }
            }
            // Let the sockets of the last run close.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for (_, server) in servers {
        server.stop().await;
    }
    let rates: Vec<Option<f64>> = variants
        .iter()
        .map(|v| median(&v.samples.iter().map(|s| s.rate).collect::<Vec<_>>()))
        .collect();
    let reference = |label: &str| {
        variants
            .iter()
            .zip(&rates)
            .find(|(v, _)| v.label == label)
            .and_then(|(_, r)| *r)
    };
    let mut table = Table::new(&[
        "server",
        "calls/s",
        "tsrpc ÷ this",
        "p50 ms",
        "p99 ms",
        "server CPU µs/call",
        "server CPU load",
        "load generator CPU",
    ]);
    for (v, rate) in variants.iter().zip(&rates) {
        if let Some(e) = &v.error {
            b.failures.push(format!("{name}, {}: {e}", v.label));
            table.row(vec![
                v.label.to_owned(),
                format!("failed: {}", e.chars().take(60).collect::<String>()),
            ]);
            continue;
        }
        let ours = if v.label.contains("binary") {
            reference("tsrpc binary")
        } else {
            reference("tsrpc JSON")
        };
        let pick = |f: fn(&CallSample) -> Option<f64>| {
            median(&v.samples.iter().filter_map(f).collect::<Vec<_>>())
        };
        table.row(vec![
            v.label.to_owned(),
            rate.map_or_else(|| "–".into(), thousands),
            ratio(ours, *rate),
            num(pick(|s| Some(s.p50_us / 1000.0)), 2),
            num(pick(|s| Some(s.p99_us / 1000.0)), 2),
            num(pick(|s| s.cpu_us_per_call), 1),
            num(pick(|s| s.cpu_load), 2),
            num(pick(|s| s.load_cpu), 2),
        ]);
        if let Some(rate) = rate {
            b.rates.insert((name.clone(), v.label.to_owned()), *rate);
        }
    }
    let mut text = format!(
        "{title} Medians of {} round(s) of {:.1} s each.\n\n{}",
        b.options.rounds,
        window.measure.as_secs_f64(),
        table.render()
    );
    if variants.iter().any(|v| v.label.contains('¹')) {
        text.push_str(
            "\n¹ Driven by TSRPC's own Node client in binary mode (one Node process on the load CPUs), since our generator speaks JSON to TSRPC.\n",
        );
    }
    b.print(&text);
}

async fn node_client(
    b: &Bench,
    server: &ServerProcess,
    kind: &'static str,
    big: bool,
    conns: usize,
    inflight: usize,
    window: Window,
) -> Result<CallSample, String> {
    let scheme = if kind == "ws" { "ws" } else { "http" };
    let url = format!("{scheme}://{}/", server.addr);
    // Over HTTP, TSRPC's client has one call per request: as many calls in
    // flight as our generator's connections.
    let (conns, inflight) = if kind == "http" {
        (1, conns * inflight)
    } else {
        (conns, inflight)
    };
    let (report, cpu, own) = node::run_client(
        kind,
        &url,
        conns,
        inflight,
        window.warmup,
        window.measure,
        big,
        &b.pinning,
        server,
    )
    .await?;
    if report.errors > 0 || report.calls == 0 {
        return Err(format!(
            "the Node client got {} calls, {} errors: {}",
            report.calls,
            report.errors,
            report.first_error.unwrap_or_default()
        ));
    }
    let cpu = cpu.map(|c| c.as_secs_f64());
    let own = own.map(|c| c.as_secs_f64());
    Ok(CallSample {
        rate: report.calls as f64 / report.seconds,
        p50_us: report.p50_us,
        p99_us: report.p99_us,
        cpu_us_per_call: cpu.map(|c| c * 1e6 / report.calls as f64),
        cpu_load: cpu.map(|c| c / report.seconds),
        load_cpu: own.map(|c| c / report.seconds),
    })
}

/// Broadcast fan-out (and idle memory) for each client count in `sizes`.
async fn fan(b: &mut Bench, sizes: &[usize], broadcast: bool) {
    let mut kinds = vec![("tsrpc", Kind::Tsrpc), ("raw tungstenite", Kind::RawWs)];
    if b.node.is_some() {
        kinds.push(("TSRPC (Node)", Kind::NodeWs));
    }
    let broadcasts = if broadcast { b.options.broadcasts } else { 0 };
    for &clients in sizes {
        if b.nofile < clients as u64 + 500 {
            b.failures.push(format!(
                "{clients} connections need an open-file limit above {}, and it is {} (raise it with `ulimit -n`)",
                clients + 500,
                b.nofile
            ));
            continue;
        }
        let name = if broadcast {
            format!("Broadcast to {} clients", thousands(clients as f64))
        } else {
            format!("{} idle connections", thousands(clients as f64))
        };
        eprintln!("\n== {name}");
        let mut samples: BTreeMap<&str, Vec<FanSample>> = BTreeMap::new();
        let mut errors: BTreeMap<&str, String> = BTreeMap::new();
        for round in 0..b.options.fan_rounds {
            for &(label, kind) in &kinds {
                if errors.contains_key(label) {
                    continue;
                }
                // A fresh process each time, so its memory growth is the clients' alone.
                let outcome = match kind.start(&b.pinning).await {
                    Ok(server) => {
                        let r = load::fanout(server.addr, clients, broadcasts, server.pid()).await;
                        server.stop().await;
                        r
                    }
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(s) => {
                        let times: Vec<f64> =
                            s.times.iter().map(|t| t.as_secs_f64() * 1000.0).collect();
                        eprintln!(
                            "  round {}: {label:<16} median {} ms over {} broadcasts, {} encodes each, {} B/connection",
                            round + 1,
                            num(median(&times), 2),
                            times.len(),
                            s.encodes.first().map_or("–".into(), u32::to_string),
                            num(s.rss_per_conn, 0),
                        );
                        samples.entry(label).or_default().push(s);
                    }
                    Err(e) => {
                        eprintln!("  round {}: {label} FAILED: {e}", round + 1);
                        errors.insert(label, e);
                    }
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        let time_of = |label: &str| {
            samples.get(label).and_then(|s| {
                median(
                    &s.iter()
                        .flat_map(|s| s.times.iter().map(|t| t.as_secs_f64() * 1000.0))
                        .collect::<Vec<_>>(),
                )
            })
        };
        let rss_of = |label: &str| {
            samples
                .get(label)
                .and_then(|s| median(&s.iter().filter_map(|s| s.rss_per_conn).collect::<Vec<_>>()))
        };
        let cpu_of = |label: &str| {
            samples.get(label).and_then(|s| {
                median(
                    &s.iter()
                        .filter_map(|s| s.cpu_per_broadcast.map(|c| c.as_secs_f64() * 1000.0))
                        .collect::<Vec<_>>(),
                )
            })
        };
        let ours_time = time_of("tsrpc");
        let ours_cpu = cpu_of("tsrpc");
        let ours_rss = rss_of("tsrpc");
        let mut table = if broadcast {
            Table::new(&[
                "server",
                "all clients have it, ms (median)",
                "min ms",
                "max ms",
                "this ÷ tsrpc",
                "server CPU ms per broadcast",
                "CPU ÷ tsrpc",
                "encodes per broadcast",
                "idle KiB per connection",
            ])
        } else {
            Table::new(&[
                "server",
                "idle KiB per connection",
                "this ÷ tsrpc",
                "RSS before, MiB",
            ])
        };
        for &(label, _) in &kinds {
            if let Some(e) = errors.get(label) {
                b.failures.push(format!("{name}, {label}: {e}"));
                table.row(vec![label.to_owned(), format!("failed: {e}")]);
                continue;
            }
            let list = samples.get(label).map(Vec::as_slice).unwrap_or_default();
            let all_times: Vec<f64> = list
                .iter()
                .flat_map(|s| s.times.iter().map(|t| t.as_secs_f64() * 1000.0))
                .collect();
            let encodes: Vec<u32> = list
                .iter()
                .flat_map(|s| s.encodes.iter().copied())
                .collect();
            let encodes_text = match (encodes.iter().min(), encodes.iter().max()) {
                (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
                (Some(lo), Some(hi)) => format!("{lo}–{hi}"),
                _ => "–".into(),
            };
            let rss = rss_of(label).map(|b| b / 1024.0);
            let before = median(
                &list
                    .iter()
                    .filter_map(|s| s.rss_before.map(|r| r as f64 / 1048576.0))
                    .collect::<Vec<_>>(),
            );
            if broadcast {
                table.row(vec![
                    label.to_owned(),
                    num(time_of(label), 2),
                    num(all_times.iter().copied().reduce(f64::min), 2),
                    num(all_times.iter().copied().reduce(f64::max), 2),
                    ratio(time_of(label), ours_time),
                    num(cpu_of(label), 1),
                    ratio(cpu_of(label), ours_cpu),
                    encodes_text,
                    num(rss, 1),
                ]);
            } else {
                table.row(vec![
                    label.to_owned(),
                    num(rss, 1),
                    ratio(rss_of(label), ours_rss),
                    num(before, 1),
                ]);
            }
        }
        let detail = if broadcast {
            format!(
                "{clients} idle JSON WebSocket clients plus one control connection that calls `Broadcast`; the time runs from sending that call until the last client has the message. {} broadcasts × {} round(s), a fresh server process each round; idle memory is the server's RSS growth over the connected clients, divided by their number.",
                b.options.broadcasts, b.options.fan_rounds
            )
        } else {
            format!(
                "{clients} idle JSON WebSocket connections; the server's RSS growth (from `/proc`) divided by their number; median of {} round(s), a fresh server process each round.",
                b.options.fan_rounds
            )
        };
        b.print(&format!("## {name}\n\n{detail}\n\n{}", table.render()));
        if broadcast && clients >= 10_000 {
            let ratio = time_of("TSRPC (Node)").zip(ours_time).map(|(n, o)| n / o);
            b.targets.push(Target {
                what: format!("broadcast to {clients}, TSRPC (Node) time ÷ tsrpc time"),
                value: ratio,
                bound: 10.0,
                at_most: false,
                unit: "×",
            });
            let encodes = samples
                .get("tsrpc")
                .and_then(|s| s.iter().flat_map(|s| s.encodes.iter()).max())
                .map(|&e| f64::from(e));
            b.targets.push(Target {
                what: format!("broadcast to {clients}, tsrpc encodes per broadcast"),
                value: encodes,
                bound: 1.0,
                at_most: true,
                unit: "",
            });
        }
        if clients >= 10_000 {
            b.targets.push(Target {
                what: format!("tsrpc memory per idle WebSocket connection ({clients} connections)"),
                value: ours_rss.map(|r| r / 1024.0),
                bound: 20.0,
                at_most: true,
                unit: " KiB",
            });
        }
    }
}
