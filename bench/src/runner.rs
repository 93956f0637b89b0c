//! The runner: the servers a scenario compares, the rows of its tables,
//! and the rounds that alternate between them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tsrpc::Encoding;

use crate::cli::Options;
use crate::load::{self, CallSample, CallSpec, Window};
use crate::node;
use crate::report::{Table, Target, median, num, ratio, thousands};
use crate::sys::{Pinning, ServerProcess};

/// A server under test. Each runs as its own process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Server {
    Tsrpc,
    /// tsrpc with TLS: `wss://`.
    TsrpcTls,
    /// tsrpc with tracing's `fmt` subscriber at this level.
    TsrpcTraced(TraceLevel),
    RawWs,
    RawHttp,
    NodeWs,
    NodeHttp,
}

/// The level of [`Server::TsrpcTraced`]'s subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum TraceLevel {
    /// Connections are traced, calls are not (their spans are `debug`).
    Info,
    /// Every call's span too.
    Debug,
}

impl Server {
    /// The name in tables.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Server::Tsrpc => "tsrpc",
            Server::TsrpcTls => "tsrpc (wss)",
            Server::TsrpcTraced(TraceLevel::Info) => "tsrpc + info subscriber",
            Server::TsrpcTraced(TraceLevel::Debug) => "tsrpc + debug subscriber",
            Server::RawWs => "raw tungstenite",
            Server::RawHttp => "raw hyper",
            Server::NodeWs | Server::NodeHttp => "TSRPC (Node)",
        }
    }

    pub(crate) async fn start(self, pinning: &Pinning) -> Result<ServerProcess, String> {
        let own = |arg: &str| {
            let exe = std::env::current_exe().expect("the benchmark's own path");
            let mut c = Pinning::command(pinning.server_cpus.as_deref(), &exe);
            c.arg("serve").arg(arg);
            c
        };
        let (what, arg) = match self {
            Server::Tsrpc => ("tsrpc server", "tsrpc"),
            Server::TsrpcTls => ("tsrpc server (TLS)", "tsrpc-tls"),
            Server::TsrpcTraced(TraceLevel::Info) => {
                ("tsrpc server (info subscriber)", "tsrpc-info")
            }
            Server::TsrpcTraced(TraceLevel::Debug) => {
                ("tsrpc server (debug subscriber)", "tsrpc-debug")
            }
            Server::RawWs => ("raw tungstenite server", "raw-ws"),
            Server::RawHttp => ("raw hyper server", "raw-http"),
            Server::NodeWs => return node::start_server("ws", pinning).await,
            Server::NodeHttp => return node::start_server("http", pinning).await,
        };
        ServerProcess::start(what, own(arg)).await
    }
}

/// How a row is loaded.
#[derive(Clone, Debug)]
pub(crate) enum Driver {
    /// The Rust generator over WebSocket.
    Ws(Arc<CallSpec>),
    /// The Rust generator over HTTP.
    Http(Arc<CallSpec>),
    /// TSRPC's Node client (binary mode): `ws` or `http`, big payload or not.
    NodeClient(&'static str, bool),
}

/// What a row of a calls table is: a server and an encoding. Two rows of
/// one table never share both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Row {
    pub(crate) server: Server,
    pub(crate) encoding: Encoding,
}

impl Row {
    pub(crate) fn new(server: Server, encoding: Encoding) -> Row {
        Row { server, encoding }
    }

    /// tsrpc's own row of the same encoding, the reference of this one.
    fn reference(self) -> Row {
        Row::new(Server::Tsrpc, self.encoding)
    }

    /// TSRPC's binary mode is driven by its own Node client (footnote ¹).
    fn by_node_client(self) -> bool {
        matches!(self.server, Server::NodeWs | Server::NodeHttp)
            && self.encoding == Encoding::Binary
    }

    pub(crate) fn label(self) -> String {
        let encoding = match self.encoding {
            Encoding::Json => "JSON",
            Encoding::Binary => "binary",
            Encoding::Tsbuffer => "TSBuffer",
        };
        let note = if self.by_node_client() { " ¹" } else { "" };
        format!("{} {encoding}{note}", self.server.name())
    }
}

/// A calls table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum CallTable {
    WsSmall,
    WsBig,
    HttpSmall,
}

impl CallTable {
    /// A short name, for targets.
    fn short(self) -> &'static str {
        match self {
            CallTable::WsSmall => "WS small",
            CallTable::WsBig => "WS big",
            CallTable::HttpSmall => "HTTP small",
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            CallTable::WsSmall => "WebSocket calls, small payload",
            CallTable::WsBig => "WebSocket calls, 100 KB payload",
            CallTable::HttpSmall => "HTTP calls, small payload",
        }
    }
}

/// One row while its table runs: how it is loaded and what it measured.
#[derive(Debug)]
pub(crate) struct Variant {
    pub(crate) row: Row,
    pub(crate) driver: Driver,
    samples: Vec<CallSample>,
    error: Option<String>,
}

impl Variant {
    pub(crate) fn new(row: Row, driver: Driver) -> Variant {
        Variant {
            row,
            driver,
            samples: Vec::new(),
            error: None,
        }
    }
}

/// One benchmark run: its settings and what it found so far.
pub(crate) struct Bench {
    pub(crate) options: Options,
    pub(crate) pinning: Pinning,
    /// Node's version, when TSRPC on Node takes part.
    pub(crate) node: Option<String>,
    pub(crate) failures: Vec<String>,
    pub(crate) targets: Vec<Target>,
    /// The open-file limit in force.
    pub(crate) nofile: u64,
    /// Median calls/s of each row of the finished calls tables.
    rates: HashMap<(CallTable, Row), f64>,
}

impl Bench {
    pub(crate) fn new(
        options: Options,
        pinning: Pinning,
        node: Option<String>,
        nofile: u64,
    ) -> Self {
        Bench {
            options,
            pinning,
            node,
            failures: Vec::new(),
            targets: Vec::new(),
            nofile,
            rates: HashMap::new(),
        }
    }

    pub(crate) fn print(&self, text: &str) {
        println!("{text}");
    }

    pub(crate) fn window(&self) -> Window {
        Window {
            warmup: self.options.warmup,
            measure: self.options.measure,
        }
    }

    /// Median calls/s of a row of a finished table.
    fn rate(&self, table: CallTable, row: Row) -> Option<f64> {
        self.rates.get(&(table, row)).copied()
    }

    /// A target: row `num` ÷ row `den` of `table`, in calls/s, at least
    /// `bound`; `note` follows the rows' names.
    pub(crate) fn ratio_target(
        &mut self,
        table: CallTable,
        num: Row,
        den: Row,
        bound: f64,
        note: &str,
    ) {
        let value = self
            .rate(table, num)
            .zip(self.rate(table, den))
            .map(|(a, r)| a / r);
        let den_label = den.label().trim_end_matches(" ¹").to_owned();
        self.targets.push(Target {
            what: format!("{}, {} ÷ {den_label}{note}", table.short(), num.label()),
            value,
            bound,
            at_most: false,
            unit: "×",
        });
    }
}

/// Runs the variants of `table_id` for the configured rounds, alternating
/// between them, and prints the table under its name and `detail`.
pub(crate) async fn run_calls(
    b: &mut Bench,
    table_id: CallTable,
    detail: &str,
    mut variants: Vec<Variant>,
    conns: usize,
    inflight: usize,
) {
    let name = table_id.name();
    eprintln!("\n== {name}");
    let mut servers: Vec<Server> = variants.iter().map(|v| v.row.server).collect();
    servers.sort();
    servers.dedup();
    let mut running = BTreeMap::new();
    for server in servers {
        match server.start(&b.pinning).await {
            Ok(process) => {
                running.insert(server, process);
            }
            Err(e) => {
                for v in variants.iter_mut().filter(|v| v.row.server == server) {
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
            let Some(server) = running.get(&v.row.server) else {
                continue;
            };
            let outcome = match &v.driver {
                Driver::Ws(spec) => {
                    let target = load::WsTarget {
                        addr: server.addr,
                        tls: v.row.server == Server::TsrpcTls,
                    };
                    load::ws_calls(
                        target,
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
                        "  round {}: {:<30} {:>10} calls/s  p50 {:>7.2} ms  p99 {:>7.2} ms  server CPU {} µs/call",
                        round + 1,
                        v.row.label(),
                        thousands(sample.rate),
                        sample.p50_us / 1000.0,
                        sample.p99_us / 1000.0,
                        num(sample.cpu_us_per_call, 1),
                    );
                    v.samples.push(sample);
                }
                Err(e) => {
                    eprintln!("  round {}: {} FAILED: {e}", round + 1, v.row.label());
                    v.error = Some(e);
                }
            }
            // Let the sockets of the last run close.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for (_, process) in running {
        process.stop().await;
    }
    for v in &variants {
        let rate = median(&v.samples.iter().map(|s| s.rate).collect::<Vec<_>>());
        if let Some(rate) = rate {
            b.rates.insert((table_id, v.row), rate);
        }
    }
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
    for v in &variants {
        if let Some(e) = &v.error {
            b.failures.push(format!("{name}, {}: {e}", v.row.label()));
            table.row(vec![
                v.row.label(),
                format!("failed: {}", e.chars().take(60).collect::<String>()),
            ]);
            continue;
        }
        let rate = b.rate(table_id, v.row);
        let pick = |f: fn(&CallSample) -> Option<f64>| {
            median(&v.samples.iter().filter_map(f).collect::<Vec<_>>())
        };
        table.row(vec![
            v.row.label(),
            rate.map_or_else(|| "–".into(), thousands),
            ratio(b.rate(table_id, v.row.reference()), rate),
            num(pick(|s| Some(s.p50_us / 1000.0)), 2),
            num(pick(|s| Some(s.p99_us / 1000.0)), 2),
            num(pick(|s| s.cpu_us_per_call), 1),
            num(pick(|s| s.cpu_load), 2),
            num(pick(|s| s.load_cpu), 2),
        ]);
    }
    let mut text = format!(
        "## {name}\n\n{detail} Medians of {} round(s) of {:.1} s each.\n\n{}",
        b.options.rounds,
        window.measure.as_secs_f64(),
        table.render()
    );
    if variants.iter().any(|v| v.row.by_node_client()) {
        text.push_str(
            "\n¹ Driven by TSRPC's own Node client in binary mode (one Node process on the load CPUs); the TSBuffer row is the same mode driven by our generator.\n",
        );
    }
    if variants
        .iter()
        .any(|v| matches!(v.row.server, Server::TsrpcTraced(_)))
    {
        text.push_str(
            "\n\"+ info/debug subscriber\": the tsrpc server with tracing's `fmt` subscriber at that level, writing to a sink (info sees connections; debug also every call's span).\n",
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
