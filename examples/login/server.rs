//! The login example's server: handlers that keep the user on the
//! connection, tokens for HTTP, and the `pre_api_call` node that refuses
//! anonymous calls.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tsrpc::server::flows::{ApiCallFlow, ConnectFlow};
use tsrpc::{ApiCall, Server, SetupError, State, TsrpcError};

use super::protocol::{ReqGetSecret, ReqLogin, ReqLogout, ResGetSecret, ResLogin, ResLogout};

/// A logged-in user, stored on the connection and on each call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user's name.
    pub name: String,
}

/// Tokens handed out to HTTP clients: the server's state, which its
/// handlers take as a `State<Tokens>` argument. A real service would keep
/// them in a database (the pool would be the state) and make them expire.
#[derive(Debug, Default)]
pub struct Tokens(Mutex<HashMap<String, User>>);

impl Tokens {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, User>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// 128 bits from the standard library's randomly keyed hasher: enough
/// for a demo; use a cryptographic generator in production.
fn new_token() -> String {
    let state = std::collections::hash_map::RandomState::new();
    let mut token = String::new();
    for part in 0u8..2 {
        let mut hasher = state.build_hasher();
        hasher.write_u8(part);
        token.push_str(&format!("{:016x}", hasher.finish()));
    }
    token
}

/// Handles "login/Login".
#[tsrpc::handler]
pub async fn login(call: ApiCall<ReqLogin>, tokens: State<Tokens>) -> Result<ResLogin, TsrpcError> {
    if call.req.username.is_empty() || call.req.password != "tsrpc" {
        return Err(TsrpcError::api("Wrong username or password").with_code("BAD_LOGIN"));
    }
    let user = User {
        name: call.req.username.clone(),
    };
    call.conn.insert_extension(user.clone());
    let token = new_token();
    tokens.lock().insert(token.clone(), user);
    Ok(ResLogin { token })
}

/// Handles "login/GetSecret": the flow put the user on the call.
#[tsrpc::handler]
pub async fn get_secret(call: ApiCall<ReqGetSecret>) -> Result<ResGetSecret, TsrpcError> {
    let user = call
        .extensions
        .get::<User>()
        .ok_or_else(|| TsrpcError::api("You need to log in first").with_code("NEED_LOGIN"))?;
    Ok(ResGetSecret {
        user: user.name.clone(),
        secret: format!("{}'s secret is safe with tsrpc", user.name),
    })
}

/// Handles "login/Logout": forgets the connection's user and the token.
#[tsrpc::handler]
pub async fn logout(
    call: ApiCall<ReqLogout>,
    tokens: State<Tokens>,
) -> Result<ResLogout, TsrpcError> {
    call.conn.remove_extension::<User>();
    if let Some(token) = bearer(&call.conn) {
        tokens.lock().remove(token);
    }
    Ok(ResLogout {})
}

fn bearer(conn: &tsrpc::Connection) -> Option<&str> {
    conn.header("authorization")?.strip_prefix("Bearer ")
}

/// The `pre_api_call` node: every call but Login needs a user, from the
/// connection (WebSocket) or from the token header (HTTP).
pub async fn require_login(
    mut call: ApiCallFlow,
    tokens: State<Tokens>,
) -> Result<ApiCallFlow, TsrpcError> {
    if call.name() == <ReqLogin as tsrpc::Api>::NAME {
        return Ok(call);
    }
    let user = call
        .conn
        .extension::<User>()
        .or_else(|| bearer(&call.conn).and_then(|token| tokens.lock().get(token).cloned()));
    match user {
        Some(user) => {
            call.extensions.insert(user);
            Ok(call)
        }
        None => Err(TsrpcError::api("You need to log in first").with_code("NEED_LOGIN")),
    }
}

/// The `pre_connect` node: a WebSocket that brings a token (`?token=..` in
/// its URL, or an `Authorization: Bearer ..` header on its handshake) is
/// logged in before it opens; a wrong token is refused with 401 and never
/// opens. Without a token it opens anonymous, to log in with `Login`.
pub async fn login_at_connect(
    mut connect: ConnectFlow,
    tokens: State<Tokens>,
) -> Result<ConnectFlow, TsrpcError> {
    let token = connect
        .query_param("token")
        .map(|t| t.into_owned())
        .or_else(|| {
            let header = connect.header("authorization")?;
            header.strip_prefix("Bearer ").map(str::to_owned)
        });
    let Some(token) = token else {
        return Ok(connect);
    };
    let user = tokens.lock().get(&token).cloned();
    match user {
        Some(user) => {
            connect.extensions.insert(user);
            Ok(connect)
        }
        None => Err(ConnectFlow::unauthorized("Unknown or expired token")),
    }
}

/// The login server on `addr`: it serves only the `login/` APIs (the
/// chatroom's handlers live in this crate too), keeps its tokens in its
/// state, logs WebSockets in at connect when they bring a token, and
/// checks logins in a `pre_api_call` flow.
pub fn server(addr: SocketAddr) -> Result<Server, SetupError> {
    let server = Server::builder()
        .bind(addr)
        .select_handlers(|h| h.service().starts_with("login/"))
        .state(Tokens::default())
        .build()?;
    // Flow nodes are closures pushed on one server: they take its state
    // from the server.
    let tokens = server.state::<Tokens>().expect("set on the builder above");
    let at_connect = tokens.clone();
    server
        .flows()
        .pre_connect
        .push(move |connect: ConnectFlow| login_at_connect(connect, at_connect.clone()));
    server
        .flows()
        .pre_api_call
        .push(move |call: ApiCallFlow| require_login(call, tokens.clone()));
    Ok(server)
}
