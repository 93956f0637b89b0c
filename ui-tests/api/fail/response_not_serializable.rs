#[tsrpc::api]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ReqLogin {
    pub user: String,
}

pub struct ResLogin {
    pub token: String,
}

fn main() {}
