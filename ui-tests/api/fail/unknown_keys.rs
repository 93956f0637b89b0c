use serde::{Deserialize, Serialize};

#[tsrpc::api(nam = "Login", response = ResLogin, name = "Login")]
#[derive(Serialize, Deserialize)]
pub struct ReqLogin {}

#[derive(Serialize, Deserialize)]
pub struct ResLogin {}

fn main() {}
