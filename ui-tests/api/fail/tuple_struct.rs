#[tsrpc::api]
pub struct ReqLogin(String);

fn main() {}
