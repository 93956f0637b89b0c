//! Code shared by the examples (`cargo run --example <name>` from the
//! workspace root): the chatroom of TSRPC's own example. The example
//! binaries are thin wrappers around [`chatroom::server`] and
//! [`chatroom::run_client`], so the tests run exactly what users run.

/// The chatroom: API `Send`, message `Chat`.
pub mod chatroom {
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::time::Duration;

    use serde::{Deserialize, Serialize};
    use tokio::io::{AsyncBufRead, AsyncBufReadExt};
    use tsrpc::client::{DisconnectEvent, HeartbeatConfig};
    use tsrpc::{ApiCall, Server, SetupError, Timestamp, TsrpcError, WsClient};

    /// API "Send": post a message to the room.
    #[tsrpc::api]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ReqSend {
        /// What to say; must not be empty.
        pub content: String,
    }

    /// The response of "Send".
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ResSend {
        /// When the server accepted the message.
        pub time: Timestamp,
    }

    /// Message "Chat": a message posted to the room.
    #[tsrpc::msg]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct MsgChat {
        /// What was said.
        pub content: String,
        /// When the server accepted it.
        pub time: Timestamp,
    }

    /// Handles "Send": refuses empty content, then broadcasts the chat to
    /// every connection, the sender included.
    #[tsrpc::handler]
    pub async fn send(call: ApiCall<ReqSend>) -> Result<ResSend, TsrpcError> {
        if call.req.content.is_empty() {
            return Err(TsrpcError::api("Content is empty"));
        }
        let time = Timestamp::now();
        call.server()
            .broadcast_msg(&MsgChat {
                content: call.req.content.clone(),
                time,
            })
            .await?;
        Ok(ResSend { time })
    }

    /// Where `examples/web/build.sh` puts the browser front end.
    pub fn web_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("web")
            .join("dist")
    }

    /// The chatroom server on `addr`, not started yet. It accepts JSON and
    /// binary connections over WebSocket and HTTP, serves the browser front
    /// end at `/` when it was built, and closes connections that send
    /// nothing (not even a heartbeat) for a minute. Its handlers are found by
    /// `#[tsrpc::handler]`; the login example's, in the same crate, are left out.
    pub fn server(addr: SocketAddr) -> Result<Server, SetupError> {
        let mut builder = Server::builder()
            .bind(addr)
            .heartbeat_wait_time(Some(Duration::from_secs(60)))
            .select_handlers(|h| !h.service().starts_with("login/"));
        if web_dir().join("index.html").is_file() {
            builder = builder.static_dir(web_dir());
        }
        builder.build()
    }

    /// Settings of the terminal client.
    #[derive(Clone, Debug)]
    pub struct ClientOptions {
        /// The server, such as `ws://127.0.0.1:3000`.
        pub url: String,
        /// JSON mode instead of binary.
        pub json: bool,
        /// Wait before reconnecting after an unexpected disconnect.
        pub reconnect_delay: Duration,
    }

    /// Where the client writes what a person would read.
    pub type Output = Arc<dyn Fn(String) + Send + Sync>;

    /// The terminal client: prints every chat, sends each input line with
    /// "Send", prints API errors, and reconnects `reconnect_delay` after an
    /// unexpected disconnect (TSRPC's `postDisconnectFlow` pattern; the
    /// builder's `reconnect(ReconnectPolicy)` does the same with backoff).
    /// Returns at the end of the input.
    pub async fn run_client<R>(
        options: ClientOptions,
        input: R,
        out: Output,
    ) -> Result<(), TsrpcError>
    where
        R: AsyncBufRead + Unpin,
    {
        let heartbeat = HeartbeatConfig {
            interval: Duration::from_secs(20),
            timeout: Duration::from_secs(10),
        };
        let client = WsClient::builder(&options.url)
            .json(options.json)
            .heartbeat(heartbeat)
            .build();

        let print = out.clone();
        client
            .listen_msg(move |chat: MsgChat| print(format!("[{}] {}", chat.time, chat.content)))?;
        let print = out.clone();
        let url = options.url.clone();
        client.flows().post_connect.push(move |client: WsClient| {
            print(format!("Connected to {url}"));
            async move { Some(client) }
        });
        let print = out.clone();
        let delay = options.reconnect_delay;
        client
            .flows()
            .post_disconnect
            .push(move |event: DisconnectEvent| {
                let print = print.clone();
                async move {
                    if !event.is_manual {
                        print(format!(
                            "Disconnected ({}); reconnecting in {} s",
                            event.reason,
                            delay.as_secs_f32()
                        ));
                        let client = event.client.clone();
                        tokio::spawn(async move {
                            loop {
                                tokio::time::sleep(delay).await;
                                match client.connect().await {
                                    Ok(()) => break,
                                    Err(e) => print(format!("Cannot reconnect: {}", e.message)),
                                }
                            }
                        });
                    }
                    Some(event)
                }
            });

        while let Err(e) = client.connect().await {
            out(format!(
                "Cannot connect: {}; retrying in {} s",
                e.message,
                delay.as_secs_f32()
            ));
            tokio::time::sleep(delay).await;
        }

        let mut lines = input.lines();
        while let Some(line) = lines
            .next_line()
            .await
            .map_err(|e| TsrpcError::client(e.to_string()))?
        {
            if let Err(e) = client.call_api(ReqSend { content: line }).await {
                out(format!("Error: {}", e.message));
            }
        }
        client.disconnect().await;
        Ok(())
    }
}

/// Login and per-connection state: a `Login` API stores the user on its
/// connection, and a `pre_api_call` flow node refuses every other call from
/// an anonymous connection with `NEED_LOGIN`. Over HTTP, where each request
/// is its own connection, the same node reads a token header instead.
pub mod login {
    use std::collections::HashMap;
    use std::hash::{BuildHasher, Hasher};
    use std::net::SocketAddr;
    use std::sync::{LazyLock, Mutex, PoisonError};

    use serde::{Deserialize, Serialize};
    use tsrpc::server::flows::ApiCallFlow;
    use tsrpc::{ApiCall, Server, SetupError, TsrpcError};

    /// API "login/Login".
    #[tsrpc::api(name = "login/Login")]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ReqLogin {
        /// Who logs in.
        pub username: String,
        /// The demo accepts the password `tsrpc` for every user.
        pub password: String,
    }

    /// The response of "login/Login".
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ResLogin {
        /// For HTTP calls: send it as `authorization: Bearer <token>`.
        pub token: String,
    }

    /// API "login/GetSecret": only for logged-in users.
    #[tsrpc::api(name = "login/GetSecret")]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ReqGetSecret {}

    /// The response of "login/GetSecret".
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ResGetSecret {
        /// Who asked.
        pub user: String,
        /// The secret.
        pub secret: String,
    }

    /// API "login/Logout".
    #[tsrpc::api(name = "login/Logout")]
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ReqLogout {}

    /// The response of "login/Logout".
    #[derive(Serialize, Deserialize, Debug, Clone)]
    pub struct ResLogout {}

    /// A logged-in user, stored on the connection and on each call.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct User {
        /// The user's name.
        pub name: String,
    }

    /// Tokens handed out to HTTP clients. A real service would keep them in
    /// a database and make them expire.
    static TOKENS: LazyLock<Mutex<HashMap<String, User>>> = LazyLock::new(Default::default);

    fn tokens() -> std::sync::MutexGuard<'static, HashMap<String, User>> {
        TOKENS.lock().unwrap_or_else(PoisonError::into_inner)
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
    pub async fn login(call: ApiCall<ReqLogin>) -> Result<ResLogin, TsrpcError> {
        if call.req.username.is_empty() || call.req.password != "tsrpc" {
            return Err(TsrpcError::api("Wrong username or password").with_code("BAD_LOGIN"));
        }
        let user = User {
            name: call.req.username.clone(),
        };
        call.conn.insert_extension(user.clone());
        let token = new_token();
        tokens().insert(token.clone(), user);
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
    pub async fn logout(call: ApiCall<ReqLogout>) -> Result<ResLogout, TsrpcError> {
        call.conn.remove_extension::<User>();
        if let Some(token) = bearer(&call.conn) {
            tokens().remove(token);
        }
        Ok(ResLogout {})
    }

    fn bearer(conn: &tsrpc::Connection) -> Option<&str> {
        conn.header("authorization")?.strip_prefix("Bearer ")
    }

    /// The `pre_api_call` node: every call but Login needs a user, from the
    /// connection (WebSocket) or from the token header (HTTP).
    pub async fn require_login(mut call: ApiCallFlow) -> Result<ApiCallFlow, TsrpcError> {
        if call.name() == <ReqLogin as tsrpc::Api>::NAME {
            return Ok(call);
        }
        let user = call
            .conn
            .extension::<User>()
            .or_else(|| bearer(&call.conn).and_then(|token| tokens().get(token).cloned()));
        match user {
            Some(user) => {
                call.extensions.insert(user);
                Ok(call)
            }
            None => Err(TsrpcError::api("You need to log in first").with_code("NEED_LOGIN")),
        }
    }

    /// The login server on `addr`: it serves only the `login/` APIs (the
    /// chatroom's handlers live in this crate too) and checks logins in a
    /// `pre_api_call` flow.
    pub fn server(addr: SocketAddr) -> Result<Server, SetupError> {
        let server = Server::builder()
            .bind(addr)
            .select_handlers(|h| h.service().starts_with("login/"))
            .build()?;
        server.flows().pre_api_call.push(require_login);
        Ok(server)
    }
}
