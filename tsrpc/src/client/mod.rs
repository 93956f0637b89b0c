//! Clients: [`WsClient`] for long connections, [`HttpClient`] for calls
//! as HTTP requests.
//!
//! Every call resolves with `Result<Res, TsrpcError>`: a return, an error
//! from the server, or a local error (`TIMEOUT`, `LOST_CONN`,
//! `WS_NOT_OPEN`, `ABORTED`).

pub mod flows;
mod http;
mod pending;
mod ws;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

use crate::codec::{self, Encoding, Payload};
use crate::error::TsrpcError;
use crate::flow::FlowStep;
use crate::proto::{AnyValue, Api, Message, ServiceInfo};
use flows::{ApiReturnFlow, ApiReturned, CallApiFlow, ClientFlows, SendMsgFlow};

pub use http::{HttpClient, HttpClientBuilder};
pub use ws::{
    ClientMsgListener, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, DisconnectEvent, HeartbeatConfig,
    ReconnectPolicy, WsClient, WsClientBuilder, WsStatus,
};

/// Options of one call: its timeout, a key to abort it by, and (HTTP)
/// extra request headers.
///
/// ```rust,standalone_crate
/// use std::time::Duration;
/// use serde::{Deserialize, Serialize};
/// use tsrpc::{CallOptions, HttpClient, WsClient};
///
/// #[tsrpc::api]
/// #[derive(Serialize, Deserialize)]
/// pub struct ReqSearch { pub text: String }
/// #[derive(Serialize, Deserialize, Debug)]
/// pub struct ResSearch { pub hits: Vec<String> }
///
/// # async fn run(ws: WsClient, http: HttpClient) -> Result<(), tsrpc::TsrpcError> {
/// // A search that a newer one replaces: abort the old one by its key.
/// let options = CallOptions::default()
///     .timeout(Duration::from_secs(3))
///     .abort_key("search");
/// ws.abort_by_key("search");
/// let res = ws.call_api_with(ReqSearch { text: "rust".into() }, options).await?;
///
/// // Over HTTP, headers for this call only.
/// let options = CallOptions::default().header("x-request-id", "42");
/// let res = http.call_api_with(ReqSearch { text: "rust".into() }, options).await?;
/// # let _ = res; Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CallOptions {
    /// This call's timeout, instead of the client's default.
    pub timeout: Option<Duration>,
    /// A key for `abort_by_key`.
    pub abort_key: Option<String>,
    /// Extra request headers (HTTP only; a WebSocket has no per-call headers).
    pub headers: Vec<(String, String)>,
}

impl CallOptions {
    /// Options with this timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Options with one more request header (HTTP only).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Options with this abort key.
    pub fn abort_key(mut self, key: impl Into<String>) -> Self {
        self.abort_key = Some(key.into());
        self
    }
}

/// A message received by a `listen_msg_matching` listener: its name and a
/// payload it can decode into the right type.
///
/// ```rust,standalone_crate
/// use serde::{Deserialize, Serialize};
/// use tsrpc::client::AnyMsg;
///
/// #[tsrpc::msg(name = "room/Chat")]
/// #[derive(Serialize, Deserialize)]
/// pub struct MsgChat { pub content: String }
///
/// let client = tsrpc::WsClient::builder("ws://127.0.0.1:3000").build();
/// let pattern = tsrpc::Regex::new("^room/").unwrap();
/// client.listen_msg_matching(pattern, |m: AnyMsg| {
///     if let Ok(chat) = m.decode::<MsgChat>() {
///         println!("{}: {}", m.name(), chat.content);
///     }
/// });
/// ```
#[derive(Clone, Debug)]
pub struct AnyMsg {
    name: &'static str,
    payload: Payload,
}

impl AnyMsg {
    /// The message's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Decodes the message.
    pub fn decode<M: serde::de::DeserializeOwned>(&self) -> Result<M, TsrpcError> {
        self.payload
            .decode()
            .map_err(|e| TsrpcError::client(format!("Invalid message {}: {e}", self.name)))
    }
}

/// A call's request, encoded for the transport, and what the transport
/// brought back: the sn it used and the still-encoded response.
pub(crate) type Sent = (u32, Result<Payload, TsrpcError>);

/// Runs a call through the client flows around `send`, which puts the
/// encoded request on the transport: `pre_call_api` (which may answer the
/// call itself), then `send`, `pre_api_return`, `post_api_return`.
pub(crate) async fn call_through_flows<R, F, Fut>(
    flows: &ClientFlows,
    service: &'static ServiceInfo,
    encoding: Encoding,
    req: R,
    options: CallOptions,
    send: F,
) -> Result<R::Res, TsrpcError>
where
    R: Api,
    F: FnOnce(Bytes, CallOptions) -> Fut,
    Fut: Future<Output = Sent>,
{
    let name = R::NAME;
    let encode = |req: &dyn std::any::Any, out: &mut Vec<u8>| match req.downcast_ref::<R>() {
        Some(req) => codec::write_payload(encoding, req, out),
        None => Err(codec::PayloadError::encode("the request changed type")),
    };
    let mut answered = None;
    let (payload, options) = if flows.pre_call_api.is_empty() {
        let mut out = Vec::new();
        codec::write_payload(encoding, &req, &mut out).map(|()| (out, options))
    } else {
        let call = CallApiFlow {
            options,
            service,
            req: Box::new(req),
            answer: None,
        };
        match flows.pre_call_api.exec(call).await {
            FlowStep::Continue(call) => {
                answered = call.answer;
                let mut out = Vec::new();
                encode(&*call.req, &mut out).map(|()| (out, call.options))
            }
            FlowStep::Stop => {
                return Err(TsrpcError::client(format!(
                    "The call to {name} was cancelled by pre_call_api"
                )));
            }
            FlowStep::Fail(e) => return Err(e),
        }
    }
    .map_err(|e| TsrpcError::client(format!("cannot encode the request of {name}: {e}")))?;

    let (sn, received, result): (
        u32,
        Result<Option<Payload>, TsrpcError>,
        Result<AnyValue, TsrpcError>,
    ) = match answered {
        Some(answer) => (
            0,
            answer.as_ref().map(|_| None).map_err(Clone::clone),
            answer,
        ),
        None => {
            let (sn, received) = send(Bytes::from(payload), options).await;
            let result = received.clone().and_then(|payload| {
                payload
                    .decode::<R::Res>()
                    .map(|res| Box::new(res) as AnyValue)
                    .map_err(|e| TsrpcError::client(format!("Invalid response of API {name}: {e}")))
            });
            (sn, received.map(Some), result)
        }
    };
    let result = if flows.pre_api_return.is_empty() {
        result
    } else {
        let ret = ApiReturnFlow {
            sn,
            service,
            result,
        };
        match flows.pre_api_return.exec(ret).await {
            FlowStep::Continue(ret) => ret.result,
            FlowStep::Stop => Err(TsrpcError::client(format!(
                "The return of {name} was cancelled by pre_api_return"
            ))),
            FlowStep::Fail(e) => Err(e),
        }
    };
    if !flows.post_api_return.is_empty() {
        let returned = ApiReturned {
            sn,
            name,
            result: received,
        };
        flows.post_api_return.exec(returned).await;
    }
    result?
        .downcast::<R::Res>()
        .map(|res| *res)
        .map_err(|_| TsrpcError::client(format!("a flow answered {name} with another type")))
}

/// Sends a message through the client flows around `send`, which puts the
/// encoded message on the transport: `pre_send_msg`, `send`, `post_send_msg`.
/// A `pre_send_msg` node that stops the message is not an error.
pub(crate) async fn send_msg_through_flows<M, F, Fut>(
    flows: &ClientFlows,
    service: &'static ServiceInfo,
    encoding: Encoding,
    msg: &M,
    send: F,
) -> Result<(), TsrpcError>
where
    M: Message,
    F: FnOnce(Bytes) -> Fut,
    Fut: Future<Output = Result<(), TsrpcError>>,
{
    let encode_err = |e: codec::PayloadError| {
        TsrpcError::client(format!("cannot encode message {}: {e}", M::NAME))
    };
    let mut out = Vec::new();
    codec::write_payload(encoding, msg, &mut out).map_err(encode_err)?;
    let mut sent = None;
    if !flows.pre_send_msg.is_empty() {
        // The flow owns a copy: the message, encoded and decoded again.
        let copy: M = Payload::new(encoding, Bytes::from(out.clone()))
            .decode()
            .map_err(|e| TsrpcError::client(format!("cannot copy message {}: {e}", M::NAME)))?;
        let step = SendMsgFlow {
            service,
            msg: Box::new(copy),
        };
        match flows.pre_send_msg.exec(step).await {
            FlowStep::Continue(step) => {
                out.clear();
                (service.codec().encode_output)(&*step.msg, encoding, &mut out)
                    .map_err(encode_err)?;
                sent = Some(step);
            }
            FlowStep::Stop => return Ok(()),
            FlowStep::Fail(e) => return Err(e),
        }
    }
    let payload = Bytes::from(out);
    send(payload.clone()).await?;
    if !flows.post_send_msg.is_empty() {
        let step = match sent {
            Some(step) => step,
            None => SendMsgFlow {
                service,
                msg: Box::new(
                    Payload::new(encoding, payload)
                        .decode::<M>()
                        .map_err(|e| TsrpcError::client(e.to_string()))?,
                ),
            },
        };
        flows.post_send_msg.exec(step).await;
    }
    Ok(())
}
