//! A throwaway Redis for tests and benchmarks (the `testing` feature):
//! Debian's `redis-server` (`tsrpc-redis/setup.sh` installs it), started
//! on a free port with no persistence, and stopped when dropped.
//!
//! ```no_run
//! # async fn f() {
//! let redis = tsrpc_redis::testing::RedisServer::start().await;
//! let adapter = tsrpc_redis::RedisAdapter::connect(redis.url()).await.unwrap();
//! # }
//! ```

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `redis-server` process, stopped when dropped. Its methods panic
/// when Redis cannot be run, as test helpers do.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Starts one on a free port, and waits until it answers.
    pub async fn start() -> RedisServer {
        for _ in 0..5 {
            let port = free_port();
            let mut server = RedisServer { child: None, port };
            if server.spawn().await {
                return server;
            }
        }
        panic!("redis-server did not start");
    }

    /// Its URL, `redis://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops it (as a crash would: SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty).
    pub async fn restart(&mut self) {
        self.kill();
        for _ in 0..50 {
            if self.spawn().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("redis-server did not start again on port {}", self.port);
    }

    async fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", &std::env::temp_dir().to_string_lossy()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) => {
                panic!("cannot run redis-server ({e}): run `bash tsrpc-redis/setup.sh` first")
            }
        };
        for _ in 0..100 {
            if let Ok(Some(_)) = child.try_wait() {
                return false; // the port was taken, say
            }
            if self.answers().await {
                self.child = Some(child);
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    async fn answers(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
            return false;
        };
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok()
    }

    /// Publishes raw bytes on a channel, as any Redis client could.
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> redis::RedisResult<()> {
        let client = redis::Client::open(self.url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async::<i64>(&mut conn)
            .await
            .map(drop)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_or(0, |addr| addr.port())
}
