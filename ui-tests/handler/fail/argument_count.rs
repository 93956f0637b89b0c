use serde::{Deserialize, Serialize};
use tsrpc::{ApiCall, TsrpcError};

#[tsrpc::api]
#[derive(Serialize, Deserialize)]
pub struct ReqAdd {}

#[derive(Serialize, Deserialize)]
pub struct ResAdd {}

#[tsrpc::handler]
async fn none() -> Result<ResAdd, TsrpcError> {
    Ok(ResAdd {})
}

#[tsrpc::handler]
async fn two(_call: ApiCall<ReqAdd>, _extra: u32) -> Result<ResAdd, TsrpcError> {
    Ok(ResAdd {})
}

fn main() {}
