#[tsrpc::api]
pub struct ReqPing;

fn main() {}
