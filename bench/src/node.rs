//! TSRPC on Node: installs `bench/node` with `npm ci` (its committed
//! `package-lock.json` pins tsrpc 3.4.x), starts its servers and runs its
//! binary-mode load client.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::sys::{self, Pinning, ServerProcess};

/// Where `bench/node` is.
pub(crate) fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("node")
}

/// Makes `bench/node/node_modules` match the lock file (`npm ci` when it is
/// missing or older than the lock file). `Ok(None)` when Node or npm is not
/// installed: the caller skips the TSRPC servers; `Ok(Some(version))` when
/// ready.
pub(crate) fn prepare() -> Result<Option<String>, String> {
    if !sys::has_program("node") || !sys::has_program("npm") {
        return Ok(None);
    }
    let version = std::process::Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run node: {e}"))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let dir = dir();
    let lock = dir.join("package-lock.json");
    let installed = dir.join("node_modules").join(".package-lock.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = match (modified(&lock), modified(&installed)) {
        (Some(lock), Some(installed)) => installed >= lock,
        _ => false,
    };
    if !fresh {
        eprintln!(
            "installing TSRPC for the Node servers: npm ci in {}",
            dir.display()
        );
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run npm: {e}"))?;
        if !status.success() {
            return Err(format!(
                "`npm ci` failed in {} ({status}); the TSRPC servers need it (or pass --no-node)",
                dir.display()
            ));
        }
    }
    Ok(Some(version))
}

/// Starts `node server.js <kind>` (`ws` or `http`) on the server CPUs.
pub(crate) async fn start_server(kind: &str, pinning: &Pinning) -> Result<ServerProcess, String> {
    let node = PathBuf::from("node");
    let mut command = Pinning::command(pinning.server_cpus.as_deref(), &node);
    command.arg("server.js").arg(kind).current_dir(dir());
    ServerProcess::start(&format!("TSRPC {kind} server"), command).await
}

/// What the Node client measured.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClientReport {
    /// Calls answered inside the window.
    pub(crate) calls: u64,
    /// The window's length.
    pub(crate) seconds: f64,
    /// Median latency, µs.
    pub(crate) p50_us: f64,
    /// 99th percentile latency, µs.
    pub(crate) p99_us: f64,
    /// Wrong or failed answers.
    pub(crate) errors: u64,
    /// The first of them.
    pub(crate) first_error: Option<String>,
}

/// Runs `node client.js` (TSRPC's own client in binary mode) against
/// `server`; returns its report and the CPU time of the server and of the
/// client over the measured window.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_client(
    kind: &str,
    url: &str,
    conns: usize,
    inflight: usize,
    warmup: Duration,
    measure: Duration,
    big: bool,
    pinning: &Pinning,
    server: &ServerProcess,
) -> Result<(ClientReport, Option<Duration>, Option<Duration>), String> {
    let node = PathBuf::from("node");
    let mut command = Pinning::command(pinning.load_cpus.as_deref(), &node);
    command
        .arg("client.js")
        .arg(kind)
        .arg(url)
        .arg(conns.to_string())
        .arg(inflight.to_string())
        .arg(warmup.as_millis().to_string())
        .arg(measure.as_millis().to_string())
        .arg(if big { "big" } else { "small" })
        .current_dir(dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start the Node client: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let limit = warmup + measure + Duration::from_secs(60);
    let client_pid = child.id();
    let client_cpu = || client_pid.and_then(sys::cpu_of);
    let outcome = tokio::time::timeout(limit, async {
        let (mut cpu_start, mut own_start) = (None, None);
        let (mut cpu, mut own) = (None, None);
        while let Ok(Some(line)) = lines.next_line().await {
            match line.trim() {
                "start" => (cpu_start, own_start) = (server.cpu(), client_cpu()),
                "end" => {
                    cpu = server.cpu().zip(cpu_start).map(|(end, start)| end - start);
                    own = client_cpu().zip(own_start).map(|(end, start)| end - start);
                }
                json => {
                    return serde_json::from_str::<ClientReport>(json)
                        .map(|report| (report, cpu, own))
                        .map_err(|e| format!("the Node client printed {json:?}: {e}"));
                }
            }
        }
        Err("the Node client ended without a report".to_owned())
    })
    .await
    .unwrap_or_else(|_| Err("the Node client did not finish in time".to_owned()));
    let _ = child.kill().await;
    outcome
}
