//! How a call is answered: the one pipeline every API call goes through,
//! whichever transport brought it (a WebSocket frame, an HTTP request) or
//! none ([`Server::call_api`]).
//!
//! ```text
//! transport adapter ──► codec::Request ──► call() ──► handler
//!  (server/ws.rs,        (located or       flows or
//!   server/http.rs)       decoded)         direct
//!        ▲                                    │
//!        └──────────── Outcome / Answer ◄─────┘
//! ```
//!
//! [`call`] takes the request (encoded, or a value from inside the
//! process), runs it and gives back an [`Outcome`]: answered at once, a
//! future to await or spawn, or a malformed frame. Whether flows see the
//! call was decided when the flows last changed
//! ([`ServerFlows::see_calls`]); a call no flow sees is decoded, run and
//! encoded with its concrete types, in place, until its handler first
//! waits. This module never names a transport: answers are encoded frames
//! plus the error, and the adapters decide what they mean on their wire.

mod answer;
mod messages;
mod slots;

use std::future::Future;
use std::task::{Context, Poll};

pub(crate) use answer::{Answer, AnswerShape, encode_return};
pub(crate) use messages::deliver_msg;
pub(crate) use slots::{CallSlot, CallSlots};

use super::flows::{ApiCallFlow, ApiReturnFlow, ApiReturned, ServerFlows};
use super::handler::{CallContext, HandlerFuture, PlainStart};
use super::{Connection, Server};
use crate::codec::{self, FrameError};
use crate::error::{TsrpcError, codes};
use crate::flow::FlowStep;
use crate::proto::{AnyValue, ServiceInfo};
use crate::task::{self, BoxFuture};

/// A call's request.
pub(crate) enum Input<'a> {
    /// As a transport read it, answered in `shape` (borrowed: the request
    /// stays where the transport located it).
    Encoded(&'a codec::Request<'a>, AnswerShape),
    /// A value from inside the process, answered with a value.
    Value(AnyValue),
}

/// How [`call`] left a call.
pub(crate) enum Outcome {
    /// Answered already.
    Answered(Answer),
    /// The handler waits: the rest of the call, to await or spawn. It holds
    /// the call's place among the server's calls in flight.
    Pending(BoxFuture<Answer>),
    /// The request's frame, located rather than decoded, is malformed: a
    /// protocol error for the transport, not an answer.
    Malformed(FrameError),
}

/// The one entry of every API call: runs the call of `info` made over
/// `conn` until its handler first waits. Inlined into each transport's
/// entry, so that the request and the outcome are not moved through it.
#[inline(always)]
pub(crate) fn call(
    server: &Server,
    conn: &Connection,
    info: &'static ServiceInfo,
    input: Input<'_>,
    cx: &mut Context<'_>,
) -> Outcome {
    let (sn, shape) = match &input {
        Input::Encoded(req, shape) => (req.sn, *shape),
        Input::Value(_) => (0, AnswerShape::Value),
    };
    let fail =
        |err: TsrpcError| Outcome::Answered(Answer::failed(shape, info.id(), info.name(), sn, err));
    // A call that cannot be answered owes the check of a located frame.
    let located = match &input {
        Input::Encoded(req, _) => Some(*req),
        Input::Value(_) => None,
    };
    let refuse = |err: TsrpcError| match located.and_then(|req| req.malformed()) {
        Some(e) => Outcome::Malformed(e),
        None => fail(err),
    };
    if server.is_stopping() {
        return fail(
            TsrpcError::server("The server is stopping").with_code(codes::SERVER_STOPPING),
        );
    }
    let in_flight = server.track_call_here();
    let flows = server.flows();
    let span = tracing::debug_span!("call", api = info.name(), sn, conn = conn.id());
    let _entered = span.enter();
    match input {
        Input::Encoded(req, shape) if !flows.see_calls() => {
            // The handler alone: typed decode, first poll and encode, here.
            let Some(handler) = server.api_handler(info) else {
                return refuse(unhandled(info.name()));
            };
            let ctx = CallContext {
                sn,
                conn: conn.clone(),
                server: server.clone(),
                extensions: http::Extensions::new(),
            };
            match task::guard(|| handler.start(req.body, ctx, shape, info.id(), cx)) {
                Ok(PlainStart::Done(answer)) => Outcome::Answered(answer),
                Ok(PlainStart::BadInput(e)) => refuse(input_error(&e)),
                Ok(PlainStart::Waiting(rest)) => {
                    let inner = server.returns_inner_errors();
                    let (server, in_flight) = (server.clone(), in_flight.keep());
                    Outcome::Pending(pending(inner, shape, info, sn, span.clone(), async move {
                        let _in_flight = in_flight;
                        let result = server.finish_handler(info.name(), rest).await;
                        Answer::from_result(
                            shape,
                            info,
                            sn,
                            result,
                            None,
                            server.returns_inner_errors(),
                        )
                    }))
                }
                Err(panic) => fail(panicked(server.returns_inner_errors(), info, &panic)),
            }
        }
        input => {
            let req = match input {
                Input::Value(req) => req,
                Input::Encoded(req, _) => {
                    match task::guard(|| (info.codec().decode_input)(req.body)) {
                        Ok(Ok(value)) => value,
                        Ok(Err(e)) => return refuse(input_error(&e)),
                        Err(panic) => {
                            return fail(panicked(server.returns_inner_errors(), info, &panic));
                        }
                    }
                }
            };
            let in_flight = in_flight.keep();
            let server = server.clone();
            let call = ApiCallFlow {
                conn: conn.clone(),
                sn,
                extensions: http::Extensions::new(),
                service: info,
                req,
            };
            let inner = server.returns_inner_errors();
            let mut rest = pending(inner, shape, info, sn, span.clone(), async move {
                let _in_flight = in_flight;
                let conn = call.conn.clone();
                let result = server.run_with_flows(call).await;
                let after =
                    (shape != AnswerShape::Value && server.flows().want_returns()).then_some(conn);
                Answer::from_result(
                    shape,
                    info,
                    sn,
                    result,
                    after,
                    server.returns_inner_errors(),
                )
            });
            match rest.as_mut().poll(cx) {
                Poll::Ready(answer) => Outcome::Answered(answer),
                Poll::Pending => Outcome::Pending(rest),
            }
        }
    }
}

/// The rest of a call, boxed once, under the panic guard: a panic in the
/// handler's later polls, a flow or the response's own serde code is the
/// call's `INTERNAL_ERR`.
fn pending(
    inner: bool,
    shape: AnswerShape,
    info: &'static ServiceInfo,
    sn: u32,
    span: tracing::Span,
    rest: impl Future<Output = Answer> + Send + 'static,
) -> BoxFuture<Answer> {
    use tracing::Instrument;
    Box::pin(
        async move {
            match task::guard_future(rest).await {
                Ok(answer) => answer,
                Err(panic) => Answer::failed(
                    shape,
                    info.id(),
                    info.name(),
                    sn,
                    panicked(inner, info, &panic),
                ),
            }
        }
        .instrument(span),
    )
}

impl Server {
    /// `pre_api_call`, the handler, `pre_api_return`.
    async fn run_with_flows(&self, call: ApiCallFlow) -> Result<AnyValue, TsrpcError> {
        let flows: &ServerFlows = self.flows();
        let info = call.service;
        let name = info.name();
        let call = if flows.pre_api_call.is_empty() {
            call
        } else {
            match flows.pre_api_call.exec(call).await {
                FlowStep::Continue(call) => call,
                FlowStep::Stop => {
                    return Err(TsrpcError::server(format!(
                        "The call to {name} was cancelled by the server"
                    )));
                }
                FlowStep::Fail(e) => return Err(e),
            }
        };
        let ApiCallFlow {
            conn,
            sn,
            extensions,
            req,
            ..
        } = call;
        let ctx = CallContext {
            sn,
            conn: conn.clone(),
            server: self.clone(),
            extensions,
        };
        let result = match self.api_handler(info) {
            Some(handler) => self.finish_handler(name, handler.call(req, ctx)).await,
            None => Err(unhandled(name)),
        };
        if flows.pre_api_return.is_empty() {
            return result;
        }
        let ret = ApiReturnFlow {
            conn,
            sn,
            service: info,
            result,
        };
        match flows.pre_api_return.exec(ret).await {
            FlowStep::Continue(ret) => ret.result,
            FlowStep::Stop => Err(TsrpcError::server(format!(
                "The return of {name} was cancelled by the server"
            ))),
            FlowStep::Fail(e) => Err(e),
        }
    }

    /// Runs a handler's future to its end under the API timeout, counted
    /// from here: the one timeout of every call.
    pub(crate) async fn finish_handler(
        &self,
        name: &str,
        handler: HandlerFuture,
    ) -> Result<AnyValue, TsrpcError> {
        match self.settings().api_timeout {
            None => handler.await,
            Some(limit) => match tokio::time::timeout(limit, handler).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!(api = name, ?limit, "handler timed out");
                    Err(TsrpcError::server("Server Timeout").with_code(codes::SERVER_TIMEOUT))
                }
            },
        }
    }
}

/// Runs `post_api_return` then `post_api_call`, once the answer is on its
/// way; the transports call it after sending [`Answer::after`].
pub(crate) async fn after_return(server: &Server, returned: ApiReturned) {
    let flows = server.flows();
    flows.post_api_return.exec(returned.clone()).await;
    flows.post_api_call.exec(returned).await;
}

/// The error of a call that panicked (in its handler, or its request's or
/// response's own serde code); the panic is logged, and its
/// text is the error's `innerErr` when the server returns inner errors.
fn panicked(inner: bool, info: &ServiceInfo, panic: &task::Panic) -> TsrpcError {
    tracing::error!(api = info.name(), "the call panicked: {panic}");
    internal_error(inner, panic)
}

/// The `INTERNAL_ERR` answer: "Internal Server Error", with what went
/// wrong as `innerErr` when `inner` (TSRPC's `returnInnerError`).
pub(crate) fn internal_error(inner: bool, what: impl std::fmt::Display) -> TsrpcError {
    let err = TsrpcError::internal("Internal Server Error");
    if inner {
        err.with_data("innerErr", what.to_string())
    } else {
        err
    }
}

/// The `INPUT_DATA_ERR` for a request that did not decode, in TSRPC's
/// words, with a `path` property naming the field.
pub(crate) fn input_error(e: &codec::PayloadError) -> TsrpcError {
    let err = TsrpcError::input_data(e.to_string());
    match e.path() {
        Some(path) => err.with_data("path", path),
        None => err,
    }
}

/// The error of a call to an API without a handler (or not registered).
pub(crate) fn unhandled(name: impl std::fmt::Display) -> TsrpcError {
    TsrpcError::server(format!("Unhandled API: {name}")).with_code(codes::UNHANDLED_API)
}
