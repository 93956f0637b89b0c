//! The chatroom's terminal client: listens for chats, sends lines, and
//! reconnects after a drop.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tsrpc::client::{DisconnectEvent, HeartbeatConfig};
use tsrpc::{TsrpcError, WsClient};

use super::protocol::{MsgChat, ReqSend};

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
pub async fn run_client<R>(options: ClientOptions, input: R, out: Output) -> Result<(), TsrpcError>
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
    client.listen_msg(move |chat: MsgChat| print(format!("[{}] {}", chat.time, chat.content)))?;
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
