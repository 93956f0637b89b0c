#[tsrpc::api(name = "user/Login", res = LoginResult)]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Login {
    pub user: String,
}

pub struct LoginResult {
    pub token: String,
}

fn main() {}
