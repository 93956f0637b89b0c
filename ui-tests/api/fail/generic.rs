#[tsrpc::api]
pub struct ReqGet<T> {
    pub id: T,
}

fn main() {}
