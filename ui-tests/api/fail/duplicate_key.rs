use serde::{Deserialize, Serialize};

#[tsrpc::api(name = "A", name = "B")]
#[derive(Serialize, Deserialize)]
pub struct ReqLogin {}

#[derive(Serialize, Deserialize)]
pub struct ResLogin {}

fn main() {}
