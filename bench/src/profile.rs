//! The `load` mode: one load run against a server started elsewhere, for
//! profiling that server (`valgrind --tool=callgrind tsrpc-bench serve tsrpc`).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tsrpc::Encoding;

use crate::load::{self, CallSpec, Window};
use crate::scenarios::small_req;

/// The `load <port> json|binary [seconds] [http|wss]` mode: small WebSocket (or HTTP) calls
/// against a server started elsewhere (for profiling one, e.g. under
/// `valgrind --tool=callgrind tsrpc-bench serve tsrpc`).
pub(crate) fn load_only(args: &[String]) -> ExitCode {
    let usage = "usage: tsrpc-bench load <port> json|binary [seconds] [http|wss]";
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
    let mode = args.get(3).map(String::as_str);
    let sample = if mode == Some("http") {
        runtime.block_on(load::http_calls(addr, spec, 1000, window, None, false))
    } else {
        let target = load::WsTarget {
            addr,
            tls: mode == Some("wss"),
        };
        runtime.block_on(load::ws_calls(target, spec, 50, 20, window, None, false))
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
