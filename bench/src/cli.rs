//! The command line: scenarios and options.

use std::time::Duration;

pub(crate) const USAGE: &str = "\
usage: cargo run --release -p tsrpc-bench -- <scenario> [options]

scenarios:
  ws-small    WebSocket calls, small payload (JSON, binary and TSBuffer)
  ws-big      WebSocket calls, 100 KB payload (JSON, binary and TSBuffer)
  http-small  HTTP keep-alive calls, small payload (JSON, binary and TSBuffer)
  broadcast   one message to 1,000 and 10,000 clients (also measures idle memory)
  idle        server memory per idle WebSocket connection (10,000 connections)
  cluster     a broadcast to 1,000 and 10,000 clients spread over three nodes
              joined by Redis, beside one node; broadcasts/s through Redis;
              Redis alone as the floor (needs redis-server: tsrpc-redis/setup.sh)
  all         all of the above but cluster
  smoke       every scenario and server with tiny sizes, checking every answer

for profiling one server:
  serve tsrpc|tsrpc-info|tsrpc-debug|raw-ws|raw-http
                                run a server (prints its port) until stdin closes;
                                tsrpc-info/-debug: with a tracing subscriber at that level
  load <port> json|binary|tsbuffer [s] [http|wss|ws] [serial]
                                small WebSocket (or HTTP) calls against that server
  load <port> fan <clients> <broadcasts>
                                broadcasts to idle JSON clients of that server

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

/// What to run and how hard.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) scenarios: Vec<Scenario>,
    pub(crate) smoke: bool,
    pub(crate) rounds: usize,
    pub(crate) warmup: Duration,
    pub(crate) measure: Duration,
    pub(crate) conns: usize,
    pub(crate) inflight: usize,
    pub(crate) big_conns: usize,
    pub(crate) big_inflight: usize,
    pub(crate) fan_sizes: Vec<usize>,
    pub(crate) fan_rounds: usize,
    pub(crate) broadcasts: usize,
    pub(crate) idle_clients: usize,
    pub(crate) node: bool,
    pub(crate) pin: bool,
}

/// The scenarios, each one table or a few.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scenario {
    WsSmall,
    WsBig,
    HttpSmall,
    Broadcast,
    Idle,
    Cluster,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Options, String> {
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
            "cluster" => vec![Cluster],
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
                vec![WsSmall, WsBig, HttpSmall, Broadcast, Cluster]
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
