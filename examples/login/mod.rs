//! Login and per-connection state: a `Login` API stores the user on its
//! connection, and a `pre_api_call` flow node refuses every other call from
//! an anonymous connection with `NEED_LOGIN`. Over HTTP, where each request
//! is its own connection, the same node reads a token header instead.
//!
//! | file | holds |
//! |---|---|
//! | `protocol.rs` | `login/Login`, `login/GetSecret`, `login/Logout` |
//! | `server.rs` | the handlers, the tokens (the server's state), the `require_login` flow node, the server |
//! | `bin/walkthrough.rs` | `cargo run --example login`: both transports, step by step |

mod protocol;
mod server;

pub use protocol::{ReqGetSecret, ReqLogin, ReqLogout, ResGetSecret, ResLogin, ResLogout};
pub use server::{
    Tokens, User, get_secret, login, login_at_connect, logout, require_login, server,
};
