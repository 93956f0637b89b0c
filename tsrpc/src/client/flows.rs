//! The client's flows, shared by [`WsClient`] and
//! [`HttpClient`](super::HttpClient) (which has no connection, so runs
//! neither `pre_connect`, `post_connect` nor `post_disconnect`).

use std::fmt;

use super::{CallOptions, DisconnectEvent, WsClient};
use crate::codec::{self, Payload, WireFrame};
use crate::error::TsrpcError;
use crate::flow::Flow;
use crate::proto::{AnyValue, Api, Message, ServiceInfo};

/// Every flow of a client (`client.flows()`); see the flows guide
/// ([`crate::guide::flows`]).
///
/// ```
/// use tsrpc::WsClient;
/// use tsrpc::client::flows::{CallApiFlow, DataFlow};
///
/// let client = WsClient::builder("ws://127.0.0.1:3000").build();
/// // Count the bytes sent.
/// client.flows().pre_send_data.push(|data: DataFlow| {
///     println!("sending {} bytes", data.data.as_bytes().len());
///     async move { Some(data) }
/// });
/// // Put a token on every call (read by the server's flows).
/// client.flows().pre_call_api.push(|call: CallApiFlow| async move { Some(call) });
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct ClientFlows {
    /// Before connecting; stop or fail to refuse (`connect` then fails).
    pub pre_connect: Flow<WsClient>,
    /// After each successful connect.
    pub post_connect: Flow<WsClient>,
    /// After a connected client became disconnected, for any reason.
    pub post_disconnect: Flow<DisconnectEvent>,
    /// Before a call is sent; may change the request, answer the call
    /// itself without the network ([`CallApiFlow::answer`]), or stop or
    /// fail it (the call then resolves with a "cancelled" or the node's error).
    pub pre_call_api: Flow<CallApiFlow>,
    /// Before a call resolves (whatever its outcome); may change the outcome.
    pub pre_api_return: Flow<ApiReturnFlow>,
    /// After a call resolved, with the return as received.
    pub post_api_return: Flow<ApiReturned>,
    /// Before a message is sent; may change it, or not send it (stop).
    pub pre_send_msg: Flow<SendMsgFlow>,
    /// After a message was sent.
    pub post_send_msg: Flow<SendMsgFlow>,
    /// Before a received message reaches the listeners; may change or drop it.
    pub pre_recv_msg: Flow<RecvMsgFlow>,
    /// After the listeners of a received message ran.
    pub post_recv_msg: Flow<RecvMsgFlow>,
    /// Before data is sent; may change or drop it.
    pub pre_send_data: Flow<DataFlow>,
    /// Before received data is decoded; may change or drop it.
    pub pre_recv_data: Flow<DataFlow>,
}

impl ClientFlows {
    pub(crate) fn new() -> Self {
        ClientFlows {
            pre_connect: Flow::named("pre_connect"),
            post_connect: Flow::named("post_connect"),
            post_disconnect: Flow::named("post_disconnect"),
            pre_call_api: Flow::named("pre_call_api"),
            pre_api_return: Flow::named("pre_api_return"),
            post_api_return: Flow::named("post_api_return"),
            pre_send_msg: Flow::named("pre_send_msg"),
            post_send_msg: Flow::named("post_send_msg"),
            pre_recv_msg: Flow::named("pre_recv_msg"),
            post_recv_msg: Flow::named("post_recv_msg"),
            pre_send_data: Flow::named("pre_send_data"),
            pre_recv_data: Flow::named("pre_recv_data"),
        }
    }
}

/// A call about to be sent: a node may change the request or the call's
/// options, answer it from a cache (nothing is sent), or cancel it.
///
/// ```rust,standalone_crate
/// use serde::{Deserialize, Serialize};
/// use tsrpc::WsClient;
/// use tsrpc::client::flows::CallApiFlow;
///
/// #[tsrpc::api]
/// #[derive(Serialize, Deserialize)]
/// pub struct ReqGetPrice { pub item: String }
/// #[derive(Serialize, Deserialize)]
/// pub struct ResGetPrice { pub cents: u64 }
///
/// let client = WsClient::builder("ws://127.0.0.1:3000").build();
/// client.flows().pre_call_api.push(|mut call: CallApiFlow| async move {
///     if call.req::<ReqGetPrice>().is_some_and(|req| req.item == "free sample") {
///         call.answer::<ReqGetPrice>(ResGetPrice { cents: 0 }); // not sent
///     }
///     call.options = call.options.header("x-client", "rust");
///     Some(call)
/// });
/// ```
#[non_exhaustive]
pub struct CallApiFlow {
    /// The call's options; a node may change them.
    pub options: CallOptions,
    pub(crate) service: &'static ServiceInfo,
    pub(crate) req: AnyValue,
    pub(crate) answer: Option<Result<AnyValue, TsrpcError>>,
}

impl CallApiFlow {
    /// The API's name.
    pub fn name(&self) -> &'static str {
        self.service.name()
    }

    /// The request, if this is a call of API `R`.
    pub fn req<R: Api>(&self) -> Option<&R> {
        self.req.downcast_ref()
    }

    /// The request, to change it.
    pub fn req_mut<R: Api>(&mut self) -> Option<&mut R> {
        self.req.downcast_mut()
    }

    /// Answers the call without the network (a cache, a mock...): return
    /// the value after this and the call resolves with `res`. Ignored (and
    /// logged) when `R` is not this call's API.
    pub fn answer<R: Api>(&mut self, res: R::Res) {
        if R::NAME == self.name() {
            self.answer = Some(Ok(Box::new(res)));
        } else {
            tracing::error!(
                api = self.name(),
                given = R::NAME,
                "answer with the response of another API"
            );
        }
    }

    /// Answers the call with an error, without the network.
    pub fn answer_error(&mut self, err: TsrpcError) {
        self.answer = Some(Err(err));
    }
}

impl fmt::Debug for CallApiFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallApiFlow")
            .field("name", &self.name())
            .field("options", &self.options)
            .field("answered", &self.answer.is_some())
            .finish_non_exhaustive()
    }
}

/// A call's outcome before the caller gets it: a node may replace it.
///
/// ```
/// use tsrpc::client::flows::ApiReturnFlow;
/// let client = tsrpc::WsClient::builder("ws://127.0.0.1:3000").build();
/// client.flows().pre_api_return.push(|ret: ApiReturnFlow| async move {
///     if let Some(err) = ret.error() {
///         eprintln!("{} failed: {}", ret.name(), err.message);
///     }
///     Some(ret)
/// });
/// ```
#[non_exhaustive]
pub struct ApiReturnFlow {
    /// The call's serial number (0 when it was never sent).
    pub sn: u32,
    pub(crate) service: &'static ServiceInfo,
    pub(crate) result: Result<AnyValue, TsrpcError>,
}

crate::flow::api_outcome_accessors!(ApiReturnFlow);

/// A call's return as it was received (before `pre_api_return` changes).
///
/// ```
/// use tsrpc::client::flows::ApiReturned;
/// let client = tsrpc::WsClient::builder("ws://127.0.0.1:3000").build();
/// client.flows().post_api_return.push(|ret: ApiReturned| async move {
///     println!("{} #{}: {}", ret.name, ret.sn, if ret.is_succ() { "ok" } else { "failed" });
///     Some(ret)
/// });
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ApiReturned {
    /// The call's serial number (0 when it was never sent).
    pub sn: u32,
    /// The API's name.
    pub name: &'static str,
    pub(crate) result: Result<Option<Payload>, TsrpcError>,
}

impl ApiReturned {
    /// The response, decoded, if the call succeeded over the network.
    pub fn res<R: Api>(&self) -> Option<Result<R::Res, TsrpcError>> {
        let payload = self.result.as_ref().ok()?.as_ref()?;
        Some(
            payload
                .decode()
                .map_err(|e| TsrpcError::client(e.to_string())),
        )
    }

    /// The error, if the call failed.
    pub fn error(&self) -> Option<&TsrpcError> {
        self.result.as_ref().err()
    }

    /// True when the call succeeded.
    pub fn is_succ(&self) -> bool {
        self.result.is_ok()
    }
}

/// A message the client sends (see [`ClientFlows::pre_send_msg`]).
///
/// ```
/// use tsrpc::client::flows::SendMsgFlow;
/// let client = tsrpc::WsClient::builder("ws://127.0.0.1:3000").build();
/// client.flows().pre_send_msg.push(|send: SendMsgFlow| async move {
///     println!("sending {}", send.name());
///     Some(send)
/// });
/// ```
#[non_exhaustive]
pub struct SendMsgFlow {
    pub(crate) service: &'static ServiceInfo,
    pub(crate) msg: AnyValue,
}

crate::flow::msg_value_accessors!(SendMsgFlow);

impl fmt::Debug for SendMsgFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendMsgFlow")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

/// A message the client received, still encoded.
///
/// ```rust,standalone_crate
/// use serde::{Deserialize, Serialize};
/// use tsrpc::client::flows::RecvMsgFlow;
///
/// #[tsrpc::msg]
/// #[derive(Serialize, Deserialize)]
/// pub struct MsgChat { pub content: String }
///
/// let client = tsrpc::WsClient::builder("ws://127.0.0.1:3000").build();
/// // Listeners get the message as this node leaves it.
/// client.flows().pre_recv_msg.push(|mut recv: RecvMsgFlow| async move {
///     if let Ok(mut chat) = recv.msg::<MsgChat>() {
///         chat.content = chat.content.trim().to_owned();
///         recv.set_msg(&chat).ok()?;
///     }
///     Some(recv)
/// });
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RecvMsgFlow {
    pub(crate) service: &'static ServiceInfo,
    pub(crate) payload: Payload,
}

impl RecvMsgFlow {
    /// The message's name.
    pub fn name(&self) -> &'static str {
        self.service.name()
    }

    /// Decodes the message.
    pub fn msg<M: Message>(&self) -> Result<M, TsrpcError> {
        self.payload
            .decode()
            .map_err(|e| TsrpcError::client(e.to_string()))
    }

    /// Hands this message to the listeners instead. Fails when `M` is not
    /// this message's type.
    pub fn set_msg<M: Message>(&mut self, msg: &M) -> Result<(), TsrpcError> {
        if M::NAME != self.name() {
            return Err(TsrpcError::client(format!(
                "{} is not message {}",
                M::NAME,
                self.name()
            )));
        }
        let encoding = self.payload.encoding();
        let mut out = Vec::new();
        codec::write_payload(encoding, msg, &mut out)
            .map_err(|e| TsrpcError::client(e.to_string()))?;
        self.payload = Payload::new(encoding, out.into());
        Ok(())
    }
}

impl fmt::Debug for RecvMsgFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvMsgFlow")
            .field("name", &self.name())
            .field("payload", &self.payload)
            .finish()
    }
}

/// Data on its way out or in: a WebSocket frame or an HTTP body.
///
/// ```
/// use tsrpc::client::flows::DataFlow;
/// let client = tsrpc::WsClient::builder("ws://127.0.0.1:3000").build();
/// client.flows().pre_recv_data.push(|data: DataFlow| async move {
///     println!("received {} bytes", data.data.as_bytes().len());
///     Some(data)
/// });
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DataFlow {
    /// The frame or body; a node may replace it.
    pub data: WireFrame,
}
