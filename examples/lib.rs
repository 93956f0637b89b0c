//! Code shared by the examples (`cargo run --example <name>` from the
//! workspace root): the chatroom of TSRPC's own example. The example
//! binaries are thin wrappers around [`chatroom::server`] and
//! [`chatroom::run_client`], so the tests run exactly what users run.

/// The chatroom: API `Send`, message `Chat`.
pub mod chatroom {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Duration;

    use serde::{Deserialize, Serialize};
    use tokio::io::{AsyncBufRead, AsyncBufReadExt};
    use tsrpc::client::{DisconnectEvent, ReconnectPolicy};
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

    /// The chatroom server on `addr`, not started yet. It accepts JSON and
    /// binary connections; its handlers are found by `#[tsrpc::handler]`.
    pub fn server(addr: SocketAddr) -> Result<Server, SetupError> {
        Server::builder()
            .bind(addr)
            .heartbeat_wait_time(Some(Duration::from_secs(60)))
            .build()
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
    /// unexpected disconnect. Returns at the end of the input.
    pub async fn run_client<R>(
        options: ClientOptions,
        input: R,
        out: Output,
    ) -> Result<(), TsrpcError>
    where
        R: AsyncBufRead + Unpin,
    {
        let reconnect = ReconnectPolicy {
            initial_delay: options.reconnect_delay,
            max_delay: options.reconnect_delay,
            max_attempts: None,
        };
        let client = WsClient::builder(&options.url)
            .json(options.json)
            .reconnect(reconnect)
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
                if !event.is_manual {
                    print(format!(
                        "Disconnected ({}); reconnecting in {} s",
                        event.reason,
                        delay.as_secs_f32()
                    ));
                }
                async move { Some(event) }
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
            match client.call_api(ReqSend { content: line }).await {
                Ok(_) => {}
                Err(e) => out(format!("Error: {}", e.message)),
            }
        }
        client.disconnect().await;
        Ok(())
    }
}
