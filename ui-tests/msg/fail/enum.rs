#[tsrpc::msg]
pub enum MsgEvent {
    Joined,
    Left,
}

fn main() {}
