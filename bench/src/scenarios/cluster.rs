//! The cluster scenario: a broadcast to clients spread over three nodes
//! joined by tsrpc-redis, beside the same clients on one node; broadcasts
//! per second through Redis; and Redis alone, the floor, in the same run.

use std::time::Duration;

use tsrpc_redis::testing::RedisServer;

use crate::load::{self, FanSample};
use crate::report::{Table, num, percentile, ratio, thousands};
use crate::runner::{Bench, Server};
use crate::sys::{Pinning, ServerProcess};

const NODES: usize = 3;

/// Starts a node of the cluster: `serve tsrpc-cluster <redis>`.
async fn start_node(pinning: &Pinning, redis: &str) -> Result<ServerProcess, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = Pinning::command(pinning.server_cpus.as_deref(), &exe);
    command.arg("serve").arg("tsrpc-cluster").arg(redis);
    ServerProcess::start("tsrpc cluster node", command).await
}

/// One round on `NODES` nodes: the broadcast fan-out to `clients`.
async fn on_nodes(
    b: &Bench,
    redis: &str,
    clients: usize,
    broadcasts: usize,
) -> Result<FanSample, String> {
    let mut nodes = Vec::new();
    for _ in 0..NODES {
        nodes.push(start_node(&b.pinning, redis).await?);
    }
    let addrs: Vec<_> = nodes.iter().map(|n| n.addr).collect();
    let outcome = load::fanout(&addrs, clients, broadcasts, nodes[0].pid()).await;
    for node in nodes {
        node.stop().await;
    }
    outcome
}

/// Broadcasts per second from one node, heard on another.
async fn flood(b: &Bench, redis: &str, count: u32) -> Result<f64, String> {
    let (one, two) = (
        start_node(&b.pinning, redis).await?,
        start_node(&b.pinning, redis).await?,
    );
    let outcome = load::flood(one.addr, two.addr, count).await;
    one.stop().await;
    two.stop().await;
    outcome.map(|s| s.per_sec)
}

fn ms(times: &[Duration]) -> Vec<f64> {
    times.iter().map(|t| t.as_secs_f64() * 1000.0).collect()
}

pub(crate) async fn cluster(b: &mut Bench) {
    let found = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        b.failures.push(
            "the cluster scenario needs redis-server: run `bash tsrpc-redis/setup.sh`".into(),
        );
        return;
    }
    let redis = RedisServer::start().await;
    let url = redis.url();
    let broadcasts = b
        .options
        .broadcasts
        .max(if b.options.smoke { 2 } else { 20 });
    eprintln!("\n== Cluster: broadcast over {NODES} nodes through Redis");
    let mut table = Table::new(&[
        "clients",
        "one node: all have it, ms p50",
        "p99",
        &format!("{NODES} nodes through Redis: p50"),
        "p99",
        "p50 ÷ one node",
    ]);
    for &clients in &b.options.fan_sizes.clone() {
        if b.nofile < clients as u64 + 500 {
            b.failures.push(format!(
                "{clients} connections need an open-file limit above {}",
                clients + 500
            ));
            continue;
        }
        let (mut one, mut many) = (Vec::new(), Vec::new());
        for round in 0..b.options.fan_rounds {
            let single = match Server::Tsrpc.start(&b.pinning).await {
                Ok(process) => {
                    let r = load::fanout(&[process.addr], clients, broadcasts, process.pid()).await;
                    process.stop().await;
                    r
                }
                Err(e) => Err(e),
            };
            let spread = on_nodes(b, &url, clients, broadcasts).await;
            match (single, spread) {
                (Ok(s), Ok(m)) => {
                    eprintln!(
                        "  round {}: {clients} clients, one node p50 {} ms, {NODES} nodes p50 {} ms",
                        round + 1,
                        num(percentile(&ms(&s.times), 50.0), 2),
                        num(percentile(&ms(&m.times), 50.0), 2),
                    );
                    one.extend(ms(&s.times));
                    many.extend(ms(&m.times));
                }
                (Err(e), _) | (_, Err(e)) => {
                    b.failures
                        .push(format!("cluster broadcast to {clients}: {e}"));
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        table.row(vec![
            thousands(clients as f64),
            num(percentile(&one, 50.0), 2),
            num(percentile(&one, 99.0), 2),
            num(percentile(&many, 50.0), 2),
            num(percentile(&many, 99.0), 2),
            ratio(percentile(&many, 50.0), percentile(&one, 50.0)),
        ]);
    }

    let count = if b.options.smoke { 200 } else { 20_000 };
    let through = match flood(b, &url, count).await {
        Ok(rate) => Some(rate),
        Err(e) => {
            b.failures.push(format!("cluster flood: {e}"));
            None
        }
    };
    // A cluster broadcast of the benchmark's Tick crosses Redis as about
    // this many bytes (both encodings, the target, the names).
    let size = 160;
    let (samples, floor_count) = if b.options.smoke {
        (20, 200)
    } else {
        (2_000, 100_000)
    };
    let floor = load::redis_floor(&url, size, samples, floor_count).await;
    let (rtt, floor_rate) = match floor {
        Ok(f) => (ms(&f.round_trips), Some(f.per_sec)),
        Err(e) => {
            b.failures.push(format!("Redis floor: {e}"));
            (Vec::new(), None)
        }
    };
    drop(redis);
    let detail = format!(
        "Idle JSON WebSocket clients spread evenly over {NODES} tsrpc processes (`serve tsrpc-cluster`, each with a `RedisAdapter`) and one Redis (`redis-server`, no persistence), all on this machine; one control connection to the first node calls `Broadcast`, which broadcasts to the whole cluster; the time runs from that call until the last client on any node has the message. Beside it, the same clients on one process without an adapter. {broadcasts} broadcasts × {} round(s), fresh processes each round.",
        b.options.fan_rounds
    );
    let rates = format!(
        "| path | p50 | p99 | per second |\n|---|---|---|---|\n\
         | Redis alone: PUBLISH of {size} B until a subscriber has it (floor) | {} ms | {} ms | {} (pipelined, 256 per round trip) |\n\
         | tsrpc: `Broadcast` calls on one node until a client of another has them all | | | {} broadcasts |\n",
        num(percentile(&rtt, 50.0), 3),
        num(percentile(&rtt, 99.0), 3),
        thousands(floor_rate.unwrap_or(0.0)),
        thousands(through.unwrap_or(0.0)),
    );
    b.print(&format!(
        "## Cluster: broadcast through Redis\n\n{detail}\n\n{}\n{rates}",
        table.render()
    ));
}
