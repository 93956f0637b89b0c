#[tsrpc::msg]
pub struct MsgPair<A>(A, A);

fn main() {}
