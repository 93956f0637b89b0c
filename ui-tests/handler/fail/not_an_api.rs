use serde::{Deserialize, Serialize};
use tsrpc::{ApiCall, TsrpcError};

/// Forgot `#[tsrpc::api]`.
#[derive(Serialize, Deserialize)]
pub struct ReqAdd {}

#[derive(Serialize, Deserialize)]
pub struct ResAdd {}

#[tsrpc::handler]
async fn add(_call: ApiCall<ReqAdd>) -> Result<ResAdd, TsrpcError> {
    Ok(ResAdd {})
}

fn main() {}
