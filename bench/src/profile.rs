//! The `load` mode: one load run against a server started elsewhere, for
//! profiling that server (`valgrind --tool=callgrind tsrpc-bench serve tsrpc`).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tsrpc::Encoding;

use crate::load::{self, CallSpec, Window};
use crate::scenarios::small_req;

/// The `load <port> json|binary|tsbuffer|tsbuffer-ids [seconds] [http|wss|ws] [serial]` mode: small WebSocket (or HTTP) calls
/// against a server started elsewhere (for profiling one, e.g. under
/// `valgrind --tool=callgrind tsrpc-bench serve tsrpc`); `serial` makes one
/// call at a time on one connection, without a warm-up, and prints the
/// number of calls (to divide a server's instruction count by); and
/// `load <port> fan <clients> <broadcasts>`: broadcasts to idle clients.
pub(crate) fn load_only(args: &[String]) -> ExitCode {
    let usage = "usage: tsrpc-bench load <port> json|binary|tsbuffer|tsbuffer-ids [seconds] [http|wss|ws] [serial]\n       tsrpc-bench load <port> fan <clients> <broadcasts>";
    if args.get(1).map(String::as_str) == Some("fan") {
        return fan_only(args, usage);
    }
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
        "tsbuffer" => Encoding::Tsbuffer,
        // Against `serve tsrpc-ids`: the same shuffled ids on both sides.
        "tsbuffer-ids" => {
            crate::proto::install_shuffled_ids();
            Encoding::Tsbuffer
        }
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
    let serial = args.get(4).map(String::as_str) == Some("serial");
    let window = Window {
        warmup: Duration::from_millis(if serial { 0 } else { 500 }),
        measure: Duration::from_secs_f64(seconds),
    };
    let (conns, inflight, http_conns) = if serial { (1, 1, 1) } else { (50, 20, 1000) };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mode = args.get(3).map(String::as_str);
    let sample = if mode == Some("http") {
        runtime.block_on(load::http_calls(
            addr, spec, http_conns, window, None, false,
        ))
    } else {
        let target = load::WsTarget {
            addr,
            tls: mode == Some("wss"),
        };
        runtime.block_on(load::ws_calls(
            target, spec, conns, inflight, window, None, false,
        ))
    };
    match sample {
        Ok(sample) => {
            println!(
                "{:.0} calls/s, p50 {:.2} ms, p99 {:.2} ms",
                sample.rate,
                sample.p50_us / 1000.0,
                sample.p99_us / 1000.0
            );
            if serial {
                println!("calls {:.0}", sample.rate * seconds);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `load <port> fan <clients> <broadcasts>`.
fn fan_only(args: &[String], usage: &str) -> ExitCode {
    let number = |i: usize| args.get(i).and_then(|n| n.parse::<usize>().ok());
    let (Some(port), Some(clients), Some(broadcasts)) = (number(0), number(2), number(3)) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], u16::try_from(port).unwrap_or(0)));
    match runtime.block_on(load::fanout(&[addr], clients, broadcasts, 0)) {
        Ok(sample) => {
            let ms: Vec<f64> = sample
                .times
                .iter()
                .map(|t| t.as_secs_f64() * 1000.0)
                .collect();
            println!(
                "{} broadcasts to {clients}, median {:.2} ms",
                ms.len(),
                crate::report::median(&ms).unwrap_or(0.0)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
