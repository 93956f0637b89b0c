//! The fan-out scenarios: a broadcast to many idle clients, and the memory
//! an idle connection costs.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::load::{self, FanSample};
use crate::report::{Table, Target, median, num, ratio, thousands};
use crate::runner::{Bench, Server};

/// Broadcast fan-out (and idle memory) for each client count in `sizes`.
pub(crate) async fn fan(b: &mut Bench, sizes: &[usize], broadcast: bool) {
    let mut servers = vec![Server::Tsrpc, Server::RawWs];
    if b.node.is_some() {
        servers.push(Server::NodeWs);
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
        let mut samples: BTreeMap<Server, Vec<FanSample>> = BTreeMap::new();
        let mut errors: BTreeMap<Server, String> = BTreeMap::new();
        for round in 0..b.options.fan_rounds {
            for &server in &servers {
                let label = server.name();
                if errors.contains_key(&server) {
                    continue;
                }
                // A fresh process each time, so its memory growth is the clients' alone.
                let outcome = match server.start(&b.pinning).await {
                    Ok(process) => {
                        let r =
                            load::fanout(&[process.addr], clients, broadcasts, process.pid()).await;
                        process.stop().await;
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
                        // One encode per broadcast, whatever the receivers: the
                        // smoke run (CI) fails otherwise.
                        if b.options.smoke
                            && server == Server::Tsrpc
                            && let Some(e) = s.encodes.iter().find(|&&e| e != 1)
                        {
                            b.failures.push(format!(
                                "broadcast to {clients}: tsrpc encoded the message {e} times, not once"
                            ));
                        }
                        samples.entry(server).or_default().push(s);
                    }
                    Err(e) => {
                        eprintln!("  round {}: {label} FAILED: {e}", round + 1);
                        errors.insert(server, e);
                    }
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        let time_of = |server: Server| {
            samples.get(&server).and_then(|s| {
                median(
                    &s.iter()
                        .flat_map(|s| s.times.iter().map(|t| t.as_secs_f64() * 1000.0))
                        .collect::<Vec<_>>(),
                )
            })
        };
        let rss_of = |server: Server| {
            samples
                .get(&server)
                .and_then(|s| median(&s.iter().filter_map(|s| s.rss_per_conn).collect::<Vec<_>>()))
        };
        let cpu_of = |server: Server| {
            samples.get(&server).and_then(|s| {
                median(
                    &s.iter()
                        .filter_map(|s| s.cpu_per_broadcast.map(|c| c.as_secs_f64() * 1000.0))
                        .collect::<Vec<_>>(),
                )
            })
        };
        let ours_time = time_of(Server::Tsrpc);
        let ours_cpu = cpu_of(Server::Tsrpc);
        let ours_rss = rss_of(Server::Tsrpc);
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
        for &server in &servers {
            let label = server.name();
            if let Some(e) = errors.get(&server) {
                b.failures.push(format!("{name}, {label}: {e}"));
                table.row(vec![label.to_owned(), format!("failed: {e}")]);
                continue;
            }
            let list = samples.get(&server).map(Vec::as_slice).unwrap_or_default();
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
            let rss = rss_of(server).map(|b| b / 1024.0);
            let before = median(
                &list
                    .iter()
                    .filter_map(|s| s.rss_before.map(|r| r as f64 / 1048576.0))
                    .collect::<Vec<_>>(),
            );
            if broadcast {
                table.row(vec![
                    label.to_owned(),
                    num(time_of(server), 2),
                    num(all_times.iter().copied().reduce(f64::min), 2),
                    num(all_times.iter().copied().reduce(f64::max), 2),
                    ratio(time_of(server), ours_time),
                    num(cpu_of(server), 1),
                    ratio(cpu_of(server), ours_cpu),
                    encodes_text,
                    num(rss, 1),
                ]);
            } else {
                table.row(vec![
                    label.to_owned(),
                    num(rss, 1),
                    ratio(rss_of(server), ours_rss),
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
            let ratio = time_of(Server::NodeWs).zip(ours_time).map(|(n, o)| n / o);
            b.targets.push(Target {
                what: format!("broadcast to {clients}, TSRPC (Node) time ÷ tsrpc time"),
                value: ratio,
                bound: 10.0,
                at_most: false,
                unit: "×",
            });
            let encodes = samples
                .get(&Server::Tsrpc)
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
