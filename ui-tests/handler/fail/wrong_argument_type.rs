use serde::{Deserialize, Serialize};
use tsrpc::TsrpcError;

#[derive(Serialize, Deserialize)]
pub struct ResAdd {}

#[tsrpc::handler]
async fn add(req: String) -> Result<ResAdd, TsrpcError> {
    let _ = req;
    Ok(ResAdd {})
}

fn main() {}
