//! The machine side of the benchmark: file limits, CPU pinning, child
//! processes and what `/proc` says about them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// Raises the open-file limit to at least `wanted` if it can (the hard
/// limit too, when allowed); returns the soft limit now in force.
pub(crate) fn raise_nofile(wanted: u64) -> u64 {
    let Ok((soft, hard)) = rlimit::Resource::NOFILE.get() else {
        return 0;
    };
    if soft >= wanted {
        return soft;
    }
    if hard < wanted && rlimit::Resource::NOFILE.set(wanted, wanted).is_ok() {
        return wanted;
    }
    let target = wanted.min(hard);
    if rlimit::Resource::NOFILE.set(target, hard).is_ok() {
        target
    } else {
        soft
    }
}

/// Which CPUs the load generator and the servers run on.
#[derive(Clone, Debug)]
pub(crate) struct Pinning {
    /// `taskset -c` list for servers, or none.
    pub(crate) server_cpus: Option<String>,
    /// `taskset -c` list for load generators, or none.
    pub(crate) load_cpus: Option<String>,
}

impl Pinning {
    /// Server on the last CPU, load on the others, when there are at least
    /// two and `taskset` is there; else no pinning.
    pub(crate) fn detect(enabled: bool) -> Pinning {
        let none = Pinning {
            server_cpus: None,
            load_cpus: None,
        };
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        if !enabled || cpus < 2 || !has_program("taskset") {
            return none;
        }
        let last = cpus - 1;
        let load = if last == 1 {
            "0".to_owned()
        } else {
            format!("0-{}", last - 1)
        };
        Pinning {
            server_cpus: Some(last.to_string()),
            load_cpus: Some(load),
        }
    }

    /// Pins this process (call before any thread is started: threads
    /// inherit it).
    pub(crate) fn pin_self(&self) {
        if let Some(cpus) = &self.load_cpus {
            let pid = std::process::id().to_string();
            let ok = std::process::Command::new("taskset")
                .args(["-a", "-p", "-c", cpus, &pid])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("warning: could not pin the load generator to CPUs {cpus}");
            }
        }
    }

    /// A command running `program` on `cpus`, if given.
    pub(crate) fn command(cpus: Option<&str>, program: &Path) -> Command {
        match cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// One line for the report.
    pub(crate) fn describe(&self) -> String {
        match (&self.server_cpus, &self.load_cpus) {
            (Some(s), Some(l)) => format!("servers pinned to CPU {s}, load generators to CPU {l}"),
            _ => "no CPU pinning".to_owned(),
        }
    }
}

/// True when `program` is on the `PATH`.
pub(crate) fn has_program(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// A server running as a child process: it prints `ready <port>` once it
/// listens, and exits when its standard input closes (so it never outlives
/// the benchmark); it is killed when dropped.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    child: Child,
    pid: u32,
}

impl ServerProcess {
    /// Starts `command` and waits (at most 60 s) for its `ready <port>` line.
    pub(crate) async fn start(name: &str, mut command: Command) -> Result<ServerProcess, String> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let pid = child.id().ok_or_else(|| format!("{name} exited at once"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(port) = line.strip_prefix("ready ") {
                    return port.trim().parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| format!("{name} did not report `ready <port>` within 60 s"))?;
        // Keep reading its output so it never blocks on a full pipe.
        tokio::spawn(drain(lines));
        Ok(ServerProcess {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            child,
            pid,
        })
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// CPU time used so far (user + system).
    pub(crate) fn cpu(&self) -> Option<Duration> {
        cpu_of(self.pid)
    }

    /// Stops it (closing its standard input, then killing it).
    pub(crate) async fn stop(mut self) {
        drop(self.child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

async fn drain(mut lines: Lines<BufReader<ChildStdout>>) {
    while let Ok(Some(_)) = lines.next_line().await {}
}

/// `VmRSS` of a process, in bytes.
pub(crate) fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// User + system CPU time of a process (all its threads).
pub(crate) fn cpu_of(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line (1-based).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Clock ticks are 100 per second on every Linux the benchmark targets.
    Some(Duration::from_millis((utime + stime) * 10))
}

static NEXT_SOURCE: AtomicU32 = AtomicU32::new(0);

/// The next loopback source address for a client socket: connections are
/// spread over 1,000 addresses of 127.0.0.0/8 so that tens of thousands of
/// them (and their TIME_WAIT leftovers) never run out of ports.
pub(crate) fn next_source_ip() -> IpAddr {
    let n = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed) % 1000;
    IpAddr::V4(Ipv4Addr::new(
        127,
        1 + u8::try_from(n / 250).unwrap_or(0),
        0,
        1 + u8::try_from(n % 250).unwrap_or(0),
    ))
}

/// A short description of the machine: CPUs, memory, kernel, load.
pub(crate) fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map_or_else(
            || "unknown memory".into(),
            |kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0),
        );
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown kernel".into());
    format!(
        "{cpus} CPUs ({model}), {mem} RAM, Linux {kernel}, load average {}",
        load_average()
    )
}

/// The 1, 5 and 15 minute load averages.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}
