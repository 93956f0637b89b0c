use serde::{Deserialize, Serialize};
use tsrpc::{ApiCall, TsrpcError};

#[tsrpc::api]
#[derive(Serialize, Deserialize)]
pub struct ReqAdd {}

#[derive(Serialize, Deserialize)]
pub struct ResAdd {}

#[derive(Serialize, Deserialize)]
pub struct ResOther {}

#[tsrpc::handler]
async fn add(_call: ApiCall<ReqAdd>) -> Result<ResOther, TsrpcError> {
    Ok(ResOther {})
}

fn main() {}
