//! Handlers that take app state after the call, by any path to `State`.
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tsrpc::{ApiCall, MsgCall, State, TsrpcError};

#[tsrpc::api]
#[derive(Serialize, Deserialize)]
pub struct ReqCount {}

#[derive(Serialize, Deserialize)]
pub struct ResCount {
    pub count: u64,
}

#[tsrpc::msg]
#[derive(Serialize, Deserialize)]
pub struct MsgTick {}

pub struct Counter(AtomicU64);
pub struct Config {
    pub step: u64,
}

#[tsrpc::handler]
async fn count(
    _call: ApiCall<ReqCount>,
    counter: State<Counter>,
    config: tsrpc::State<Config>,
) -> Result<ResCount, TsrpcError> {
    let count = counter.0.fetch_add(config.step, Ordering::Relaxed);
    Ok(ResCount { count })
}

#[tsrpc::handler]
async fn tick(_call: MsgCall<MsgTick>, counter: State<Counter>) {
    counter.0.fetch_add(1, Ordering::Relaxed);
}

fn main() {
    let server = tsrpc::Server::builder()
        .state(Counter(AtomicU64::new(0)))
        .state(Config { step: 2 })
        .build()
        .unwrap();
    assert!(server.state::<Counter>().is_some());
}
