#[tsrpc::api]
pub struct ReqLogin {
    pub user: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct ResLogin {}

fn main() {}
