#[tsrpc::api]
pub enum ReqLogin {
    Password(String),
}

fn main() {}
