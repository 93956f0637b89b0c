use serde::{Deserialize, Serialize};
use tsrpc::{ApiCall, TsrpcError};

#[tsrpc::api]
#[derive(Serialize, Deserialize)]
pub struct ReqAdd {}

#[derive(Serialize, Deserialize)]
pub struct ResAdd {}

#[tsrpc::handler]
fn add(_call: ApiCall<ReqAdd>) -> Result<ResAdd, TsrpcError> {
    Ok(ResAdd {})
}

fn main() {}
