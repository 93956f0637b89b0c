use serde::{Deserialize, Serialize};

#[tsrpc::api]
#[derive(Serialize, Deserialize)]
pub struct ReqLogin {
    pub user: String,
}

fn main() {}
