use serde::{Deserialize, Serialize};

/// Neither a name nor a response can be derived from `Login`.
#[tsrpc::api]
#[derive(Serialize, Deserialize)]
pub struct Login {}

/// `Req` alone leaves an empty name.
#[tsrpc::api(res = Login)]
#[derive(Serialize, Deserialize)]
pub struct Req {}

fn main() {}
