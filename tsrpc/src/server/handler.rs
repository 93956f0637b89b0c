//! Handlers, type-erased so one table holds every API's and message's.
//!
//! `#[tsrpc::handler]` turns an `async fn` into a zero-sized type
//! implementing [`ApiHandlerFn`] or [`MsgHandlerFn`] and registers a
//! [`HandlerDescriptor`] with `inventory`; `Server::implement_api` wraps a
//! closure the same way.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::dispatch::{Answer, AnswerShape, encode_return};
use super::state::{State, StateKey};
use super::{ApiCall, Connection, MsgCall, Server};
use crate::codec::{self, Body, PayloadError};
use crate::error::TsrpcError;
use crate::proto::{AnyValue, Api, Location, Message, ServiceKind};
use crate::task::BoxFuture;

/// What a handler's future gives back: the response, type-erased.
pub(crate) type HandlerFuture = BoxFuture<Result<AnyValue, TsrpcError>>;

/// What a call needs besides its decoded input.
#[derive(Clone, Debug)]
pub(crate) struct CallContext {
    pub(crate) sn: u32,
    pub(crate) conn: Connection,
    pub(crate) server: Server,
    pub(crate) extensions: http::Extensions,
}

pub(crate) type ErasedApiFn = Arc<dyn ErasedApi>;
pub(crate) type ErasedMsgFn = Arc<dyn Fn(AnyValue, CallContext) -> BoxFuture<()> + Send + Sync>;

/// A handler of either kind.
#[derive(Clone)]
pub(crate) enum Handler {
    Api(ErasedApiFn),
    Msg(ErasedMsgFn),
}

/// How the first run of a plain call ended ([`ErasedApi::start`]).
pub(crate) enum PlainStart {
    /// The request did not decode.
    BadInput(PayloadError),
    /// The handler returned (or failed): the answer.
    Done(Answer),
    /// The handler waits: the rest of the call, response type-erased.
    Waiting(HandlerFuture),
}

/// An API handler, type-erased so that one table holds every API's.
pub(crate) trait ErasedApi: Send + Sync {
    /// Runs the handler on a request decoded already (a call through the
    /// flows, which see the request and the response as values).
    fn call(&self, req: AnyValue, ctx: CallContext) -> HandlerFuture;

    /// A call no flow sees: decodes the request, polls the handler once
    /// and, if it is done, encodes its response in `shape`, all with the
    /// concrete types: no boxed request, no boxed response, no second
    /// future. Panics are the caller's to guard. `id` is the service's.
    fn start(
        &self,
        body: Body<'_>,
        ctx: CallContext,
        shape: AnswerShape,
        id: u32,
        cx: &mut Context<'_>,
    ) -> PlainStart;
}

/// What an API handler's future gives back.
type ApiResult<R> = Result<<R as Api>::Res, TsrpcError>;

/// A typed API handler; its future is boxed once, where it is made.
struct ApiFn<R: Api> {
    f: Box<dyn Fn(ApiCall<R>) -> BoxFuture<ApiResult<R>> + Send + Sync>,
}

impl<R: Api> ApiFn<R> {
    fn handler(&self, req: R, ctx: CallContext) -> BoxFuture<ApiResult<R>> {
        (self.f)(ApiCall::new(
            req,
            ctx.sn,
            ctx.conn,
            ctx.server,
            ctx.extensions,
        ))
    }
}

fn erase_response<T: Send + Sync + 'static>(
    handler: BoxFuture<Result<T, TsrpcError>>,
) -> HandlerFuture {
    Box::pin(async move { handler.await.map(|res| Box::new(res) as AnyValue) })
}

impl<R: Api> ErasedApi for ApiFn<R> {
    fn call(&self, req: AnyValue, ctx: CallContext) -> HandlerFuture {
        match req.downcast::<R>() {
            Ok(req) => erase_response(self.handler(*req, ctx)),
            Err(_) => Box::pin(std::future::ready(Err(TsrpcError::internal(format!(
                "the handler of {} was given a request of another type",
                R::NAME
            ))))),
        }
    }

    fn start(
        &self,
        body: Body<'_>,
        ctx: CallContext,
        shape: AnswerShape,
        id: u32,
        cx: &mut Context<'_>,
    ) -> PlainStart {
        let (encoding, sn) = (body.encoding(), ctx.sn);
        let inner_errors = ctx.server.returns_inner_errors();
        let req = match body.decode::<R>() {
            Ok(req) => req,
            Err(e) => return PlainStart::BadInput(e),
        };
        let mut handler = self.handler(req, ctx);
        match handler.as_mut().poll(cx) {
            Poll::Ready(result) => {
                let written = result
                    .map(|res| move |out: &mut Vec<u8>| codec::write_payload(encoding, &res, out));
                PlainStart::Done(encode_return(shape, id, R::NAME, sn, written, inner_errors))
            }
            Poll::Pending => PlainStart::Waiting(erase_response(handler)),
        }
    }
}

pub(crate) fn erase_api<R, F, Fut>(f: F) -> ErasedApiFn
where
    R: Api,
    F: Fn(ApiCall<R>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R::Res, TsrpcError>> + Send + 'static,
{
    Arc::new(ApiFn::<R> {
        f: Box::new(move |call| Box::pin(f(call))),
    })
}

/// [`erase_api`] for a `#[tsrpc::handler]` function, whose future is
/// boxed already.
fn erase_api_fn<H: ApiHandlerFn>() -> ErasedApiFn {
    Arc::new(ApiFn::<H::Req> {
        f: Box::new(H::call),
    })
}

pub(crate) fn erase_msg<M, F, Fut>(f: F) -> ErasedMsgFn
where
    M: Message,
    F: Fn(MsgCall<M>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |msg: AnyValue, ctx: CallContext| -> BoxFuture<()> {
        match msg.downcast::<M>() {
            Ok(msg) => Box::pin(f(MsgCall::new(*msg, ctx.conn, ctx.server))),
            Err(_) => {
                tracing::error!(
                    msg = M::NAME,
                    "message handler was given a message of another type"
                );
                Box::pin(std::future::ready(()))
            }
        }
    })
}

/// Boxes an API handler's future; a wrong response type or a future that
/// is not `Send` is reported here, on the handler's return type.
#[doc(hidden)]
pub fn api_future<R: Api, Fut>(fut: Fut) -> BoxFuture<Result<R::Res, TsrpcError>>
where
    Fut: Future<Output = Result<R::Res, TsrpcError>> + Send + 'static,
{
    Box::pin(fut)
}

/// Boxes a message handler's future.
#[doc(hidden)]
pub fn msg_future<Fut>(fut: Fut) -> BoxFuture<()>
where
    Fut: Future<Output = ()> + Send + 'static,
{
    Box::pin(fut)
}

/// Implemented by the type `#[tsrpc::handler]` generates for an API handler.
#[doc(hidden)]
pub trait ApiHandlerFn: 'static {
    type Req: Api;
    /// The state types the handler takes.
    const STATES: &'static [StateKey] = &[];
    fn call(call: ApiCall<Self::Req>) -> BoxFuture<Result<<Self::Req as Api>::Res, TsrpcError>>;
}

/// Implemented by the type `#[tsrpc::handler]` generates for a message handler.
#[doc(hidden)]
pub trait MsgHandlerFn: 'static {
    type Msg: Message;
    /// The state types the handler takes.
    const STATES: &'static [StateKey] = &[];
    fn call(call: MsgCall<Self::Msg>) -> BoxFuture<()>;
}

/// The state a handler takes, for the code `#[tsrpc::handler]` generates.
/// [`ServerBuilder::build`](super::ServerBuilder::build) refuses a handler
/// whose state is missing, so the error is for handlers a server was
/// given some other way.
pub fn handler_state<T: Send + Sync + 'static>(server: &Server) -> Result<State<T>, TsrpcError> {
    server.state::<T>().ok_or_else(|| {
        let what = format_args!("the server has no `State<{}>`", std::any::type_name::<T>());
        super::dispatch::internal_error(server.returns_inner_errors(), what)
    })
}

/// An API handler's answer when it could not be called.
pub fn api_failed<Res: Send + 'static>(err: TsrpcError) -> BoxFuture<Result<Res, TsrpcError>> {
    Box::pin(std::future::ready(Err(err)))
}

/// A message handler that could not be called: logged.
pub fn msg_failed(name: &'static str, err: TsrpcError) -> BoxFuture<()> {
    tracing::error!(
        msg = name,
        "cannot call the message handler: {}",
        err.message
    );
    Box::pin(std::future::ready(()))
}

/// What `#[tsrpc::handler]` registers. Not for direct use.
#[doc(hidden)]
#[derive(Debug)]
pub struct HandlerDescriptor {
    pub(crate) info: HandlerInfo,
    pub(crate) states: &'static [StateKey],
    pub(crate) make: fn() -> Handler,
}

fn make_api<H: ApiHandlerFn>() -> Handler {
    Handler::Api(erase_api_fn::<H>())
}

fn make_msg<H: MsgHandlerFn>() -> Handler {
    Handler::Msg(erase_msg(H::call))
}

impl HandlerDescriptor {
    /// The descriptor of an API handler.
    pub const fn api<H: ApiHandlerFn>(location: Location) -> Self {
        HandlerDescriptor {
            info: HandlerInfo {
                kind: ServiceKind::Api,
                service: <H::Req as Api>::NAME,
                location,
            },
            states: H::STATES,
            make: make_api::<H>,
        }
    }

    /// The descriptor of a message handler.
    pub const fn msg<H: MsgHandlerFn>(location: Location) -> Self {
        HandlerDescriptor {
            info: HandlerInfo {
                kind: ServiceKind::Msg,
                service: <H::Msg as Message>::NAME,
                location,
            },
            states: H::STATES,
            make: make_msg::<H>,
        }
    }
}

inventory::collect!(HandlerDescriptor);

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handler::Api(_) => "Handler::Api",
            Handler::Msg(_) => "Handler::Msg",
        })
    }
}

/// A registered handler, as [`ServerBuilder::select_handlers`](super::ServerBuilder::select_handlers)
/// and [`Server::handlers`] show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandlerInfo {
    kind: ServiceKind,
    service: &'static str,
    location: Location,
}

impl HandlerInfo {
    pub(crate) fn manual(kind: ServiceKind, service: &'static str, location: Location) -> Self {
        HandlerInfo {
            kind,
            service,
            location,
        }
    }

    /// Whether it handles an API or a message.
    pub fn kind(&self) -> ServiceKind {
        self.kind
    }

    /// The API's or message's name.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Where the handler is defined; `path` is the function's Rust path
    /// (for example `my_app::chat::send`), handy to select handlers by module.
    pub fn location(&self) -> Location {
        self.location
    }
}
