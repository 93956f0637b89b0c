use std::rc::Rc;

use serde::{Deserialize, Serialize};
use tsrpc::{ApiCall, State, TsrpcError};

#[tsrpc::api]
#[derive(Serialize, Deserialize)]
pub struct ReqAdd {}

#[derive(Serialize, Deserialize)]
pub struct ResAdd {}

/// State is shared by every call, on every thread: `Rc` cannot be.
#[tsrpc::handler]
async fn add(_call: ApiCall<ReqAdd>, _cache: State<Rc<u32>>) -> Result<ResAdd, TsrpcError> {
    Ok(ResAdd {})
}

fn main() {}
