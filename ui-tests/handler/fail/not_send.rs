use std::rc::Rc;

use serde::{Deserialize, Serialize};
use tsrpc::{ApiCall, TsrpcError};

#[tsrpc::api]
#[derive(Serialize, Deserialize)]
pub struct ReqAdd {}

#[derive(Serialize, Deserialize)]
pub struct ResAdd {}

async fn later() {}

/// Holds an `Rc` across an await: the future cannot move between threads.
#[tsrpc::handler]
async fn add(_call: ApiCall<ReqAdd>) -> Result<ResAdd, TsrpcError> {
    let shared = Rc::new(1);
    later().await;
    drop(shared);
    Ok(ResAdd {})
}

fn main() {}
