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
//!
//! By role: `cli.rs` (the command line), `scenarios/` (one function per
//! table: which servers, which load, which targets), `runner.rs` (the
//! servers under test, the typed rows of a table, the alternating rounds),
//! `load/` (the load generator, one file per kind of load), `serve.rs` (the
//! child process of each server), `raw.rs` and `node.rs` (the servers
//! tsrpc is compared with), `profile.rs` (one load run against a server
//! started elsewhere), `report.rs` and `sys.rs` (tables, `/proc`, pinning).

mod cli;
mod load;
mod node;
mod profile;
mod proto;
mod raw;
mod report;
mod runner;
mod scenarios;
mod serve;
mod sys;
mod tls;

use std::process::ExitCode;
use std::time::Instant;

use cli::{Options, Scenario, USAGE};
use report::Target;
use runner::Bench;
use sys::Pinning;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        return serve::serve(
            args.get(1).map_or("", String::as_str),
            args.get(2).map(String::as_str),
        );
    }
    if args.first().map(String::as_str) == Some("load") {
        return profile::load_only(&args[1..]);
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
    let mut b = Bench::new(options.clone(), pinning, node, limit);
    let header = format!(
        "# tsrpc benchmark\n\nMachine: {}\nOpen-file limit: {limit}; {}; Node: {}\n",
        machine,
        b.pinning.describe(),
        b.node.as_deref().unwrap_or("not used"),
    );
    b.print(&header);
    for scenario in options.scenarios.clone() {
        match scenario {
            Scenario::WsSmall => scenarios::ws_small(&mut b).await,
            Scenario::WsBig => scenarios::ws_big(&mut b).await,
            Scenario::HttpSmall => scenarios::http_small(&mut b).await,
            Scenario::Broadcast => scenarios::fan(&mut b, &options.fan_sizes.clone(), true).await,
            Scenario::Idle => scenarios::fan(&mut b, &[options.idle_clients], false).await,
            Scenario::Cluster => scenarios::cluster(&mut b).await,
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
