//! The HTTP adapter, and the server's side of the listener: HTTP calls go
//! through [`dispatch`](super::dispatch) like WebSocket ones; this file
//! maps their answers to statuses and bodies. With the WebSocket session
//! (`ws.rs`), the only part of the server that knows its transport.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::Either;
use http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::connection::Upgrade;
use super::dispatch::{self, Answer, AnswerShape, Input, Outcome};
use super::flows::ConnectFlow;
use super::flows::DataFlow;
use super::{Connection, Server, ServerInner};
use crate::codec::{
    self, Body, ClientFrame, Encoding, FINGERPRINT_HEADER, Payload, Request, ServiceKey,
    ServiceRef, WireFrame,
};
use crate::error::{TsrpcError, codes};
use crate::flow::FlowStep;
use crate::proto::{ServiceInfo, ServiceKind};
use crate::task::{self, BoxFuture, with_context};
use crate::transport::http::{HttpCall, HttpReply, service_name};
use crate::transport::service::HttpService;
use crate::transport::{App, Refused, ServerSocket, UpgradeHead};

pub(crate) use crate::transport::admission::{Admission, Caps};
pub use crate::transport::http::ResponseBody;
pub(crate) use crate::transport::http::{
    DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, HttpSettings, Origins,
};
pub(crate) use crate::transport::listener::{Listener, serve as listen};
pub use crate::transport::{
    DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_SEND_QUEUE_SIZE, DEFAULT_SEND_TIMEOUT,
};

/// TSRPC's HTTP status for an error: 200 for business and input errors,
/// 503 while stopping, 500 for other server errors.
fn status(err: Option<&TsrpcError>) -> StatusCode {
    match err {
        None => StatusCode::OK,
        Some(err) if err.is_api() || err.has_code(codes::INPUT_DATA_ERR) => StatusCode::OK,
        Some(err) if err.has_code(codes::SERVER_STOPPING) => StatusCode::SERVICE_UNAVAILABLE,
        Some(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The status of an answer in `encoding`: TSRPC answers its binary mode's
/// errors with 200 too.
fn status_in(encoding: Encoding, err: Option<&TsrpcError>) -> StatusCode {
    match encoding {
        Encoding::Tsbuffer => StatusCode::OK,
        _ => status(err),
    }
}

fn json_error(err: &TsrpcError) -> HttpReply {
    HttpReply::json_error(status(Some(err)), err)
}

fn empty() -> HttpReply {
    HttpReply {
        status: StatusCode::OK,
        encoding: None,
        body: Bytes::new(),
    }
}

impl App for ServerInner {
    type Admitted = Upgrade;

    fn admit_websocket(
        self: &Arc<Self>,
        head: UpgradeHead,
    ) -> impl Future<Output = Result<Upgrade, Refused>> + Send {
        let flows = self.flows.clone();
        async move {
            let connect = ConnectFlow {
                headers: head.headers,
                uri: head.uri,
                remote_addr: head.remote,
                extensions: http::Extensions::new(),
            };
            let connect = if flows.pre_connect.is_empty() {
                connect
            } else {
                match Box::pin(flows.pre_connect.exec(connect)).await {
                    FlowStep::Continue(connect) => connect,
                    FlowStep::Stop => {
                        return Err(Refused {
                            status: StatusCode::FORBIDDEN,
                            reason: "Connection refused".into(),
                        });
                    }
                    // A business error refuses with its reason; any other
                    // (a node that panicked, a failing database) is the
                    // server's, and its text stays in the server's log.
                    FlowStep::Fail(err) if err.is_api() => {
                        let status = if err.has_code(codes::UNAUTHORIZED) {
                            StatusCode::UNAUTHORIZED
                        } else {
                            StatusCode::FORBIDDEN
                        };
                        tracing::debug!(remote = ?head.remote, %status, "upgrade refused: {}", err.message);
                        return Err(Refused {
                            status,
                            reason: err.message,
                        });
                    }
                    FlowStep::Fail(err) => {
                        tracing::error!(remote = ?head.remote, "pre_connect failed: {}", err.message);
                        return Err(Refused {
                            status: StatusCode::INTERNAL_SERVER_ERROR,
                            reason: "Internal Server Error".into(),
                        });
                    }
                }
            };
            Ok(Upgrade {
                headers: connect.headers,
                uri: connect.uri,
                remote_addr: connect.remote_addr,
                extensions: connect.extensions,
            })
        }
    }

    fn accepting(&self) -> bool {
        !self.is_stopping()
    }

    fn refusals(&self) -> &crate::stats::Refusals {
        &self.refusals
    }

    fn mounted(&self) -> &Arc<Admission> {
        &self.mounted
    }

    fn ws_config(&self) -> WebSocketConfig {
        crate::transport::ws::config(self.settings.max_message_size)
    }

    fn serve_websocket(
        self: Arc<Self>,
        socket: ServerSocket,
        upgrade: Upgrade,
        encoding: Option<Encoding>,
    ) -> BoxFuture<()> {
        super::ws::serve(self, socket, upgrade, encoding)
    }

    fn http_settings(&self) -> &HttpSettings {
        &self.settings.http
    }

    // No `async fn` wrappers on this path: each would keep its arguments
    // beside the future it awaits, and hyper moves the whole future.
    fn http_call(self: Arc<Self>, call: HttpCall) -> impl Future<Output = HttpReply> + Send {
        let encoding = call.encoding;
        let inner_errors = self.settings.return_inner_error;
        let panicked = move |panic: task::Panic| {
            tracing::error!("an HTTP call panicked: {panic}");
            let err = dispatch::internal_error(inner_errors, panic);
            match encoding {
                Encoding::Json => json_error(&err),
                Encoding::Binary | Encoding::Tsbuffer => HttpReply {
                    status: status_in(encoding, Some(&err)),
                    encoding: Some(encoding),
                    body: codec::encode_api_error(encoding, 0, "", 0, &err).into_bytes(),
                },
            }
        };
        // Its creation (the connection, the span a subscriber sees) and
        // its polls, both under the guard.
        match task::guard(|| http_call(Server { inner: self }, call)) {
            Ok(answer) => Either::Left(
                task::guard_future(answer).map(move |answer| answer.unwrap_or_else(panicked)),
            ),
            Err(panic) => Either::Right(std::future::ready(panicked(panic))),
        }
    }
}

/// Answers an API call or message that came over HTTP, through the data
/// flows, in a span naming the connection.
fn http_call(server: Server, call: HttpCall) -> impl Future<Output = HttpReply> + Send {
    use tracing::Instrument;
    let id = server.inner.next_conn_id();
    let span = tracing::debug_span!(
        "conn",
        id,
        remote = call.remote.map(tracing::field::display),
        transport = "http",
        encoding = ?call.encoding,
    );
    let conn = Connection::http(id, call.remote, call.encoding, call.headers);
    let HttpCall {
        uri, is_msg, body, ..
    } = call;
    let encoding = call.encoding;
    let body = match encoding {
        Encoding::Json => WireFrame::Text(body),
        Encoding::Binary | Encoding::Tsbuffer => WireFrame::Binary(body),
    };
    answer(server, conn, uri, is_msg, encoding, body).instrument(span)
}

async fn answer(
    server: Server,
    conn: Connection,
    uri: http::Uri,
    is_msg: bool,
    encoding: Encoding,
    body: WireFrame,
) -> HttpReply {
    let flows = server.flows();
    let body = if flows.see_received_data() {
        let data = DataFlow {
            conn: conn.clone(),
            data: body,
        };
        match Box::pin(flows.pre_recv_data.exec(data)).await {
            FlowStep::Continue(data) => data.data,
            FlowStep::Stop => {
                let err = TsrpcError::server("The request was dropped by the server");
                return HttpReply::json_error(StatusCode::INTERNAL_SERVER_ERROR, &err);
            }
            FlowStep::Fail(e) => return json_error(&e),
        }
    } else {
        body
    };
    let (answer, encoding) = match (body, encoding) {
        (WireFrame::Text(body), _) => (
            json(&server, &conn, &uri, is_msg, body).await,
            Encoding::Json,
        ),
        (WireFrame::Binary(body), Encoding::Tsbuffer) => {
            let name = service_name(&uri);
            (
                tsbuffer(&server, &conn, name, body).await,
                Encoding::Tsbuffer,
            )
        }
        (WireFrame::Binary(body), _) => {
            let name = service_name(&uri);
            (binary(&server, &conn, name, body).await, Encoding::Binary)
        }
    };
    let (mut reply, after) = match answer {
        Handled::Call(answer) => {
            let status = status_in(encoding, answer.error());
            let (frame, _, after, _) = answer.into_parts();
            let reply = HttpReply {
                status,
                encoding: Some(encoding),
                body: frame.into_bytes(),
            };
            (reply, after)
        }
        Handled::Reply(reply) => (reply, None),
    };
    if flows.see_sent_data() && reply.encoding.is_some() {
        let data = match reply.encoding {
            Some(Encoding::Binary | Encoding::Tsbuffer) => WireFrame::Binary(reply.body.clone()),
            _ => WireFrame::Text(reply.body.clone()),
        };
        let data = DataFlow {
            conn: conn.clone(),
            data,
        };
        match Box::pin(flows.pre_send_data.exec(data)).await {
            FlowStep::Continue(data) => reply.body = data.data.into_bytes(),
            FlowStep::Stop => {
                let err = TsrpcError::server("The response was dropped by the server");
                reply = HttpReply::json_error(StatusCode::INTERNAL_SERVER_ERROR, &err);
            }
            FlowStep::Fail(e) => reply = json_error(&e),
        }
    }
    if let Some(returned) = after {
        // The post flows do not hold up the response.
        tokio::spawn(async move { dispatch::after_return(&server, returned).await });
    }
    reply
}

/// What became of an HTTP request.
enum Handled {
    /// An API call, answered through the pipeline.
    Call(Answer),
    /// Answered here: a delivered message (an empty body), or a request
    /// refused before it reached a handler.
    Reply(HttpReply),
}

/// Runs a call through the pipeline to its answer.
async fn run(
    server: &Server,
    conn: &Connection,
    info: &'static ServiceInfo,
    req: Request<'_>,
    shape: AnswerShape,
) -> Answer {
    let sn = req.sn;
    match with_context(|cx| dispatch::call(server, conn, info, Input::Encoded(&req, shape), cx))
        .await
    {
        Outcome::Answered(answer) => answer,
        Outcome::Pending(rest) => rest.await,
        // Only a located frame is found malformed late; HTTP bodies are decoded whole.
        Outcome::Malformed(e) => Answer::failed(
            shape,
            info.id(),
            info.name(),
            sn,
            TsrpcError::input_data(e.to_string()),
        ),
    }
}

/// A JSON call: the URL path names the service, the body is the request.
/// Errors are worded as TSRPC words them (`uri` names the request in them).
async fn json(
    server: &Server,
    conn: &Connection,
    uri: &http::Uri,
    is_msg: bool,
    body: Bytes,
) -> Handled {
    let name = service_name(uri);
    let payload = Payload::new(Encoding::Json, body);
    let refuse = |err: TsrpcError| Handled::Reply(json_error(&err));
    let unknown = || {
        let url = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
        refuse(TsrpcError::input_data(format!("Invalid URL path: {url}")))
    };
    let table = server.service_table();
    if is_msg {
        let Some(info) = table.msg(name) else {
            return unknown();
        };
        // Checked here, to answer a bad message with an error.
        if let Err(e) = (info.codec().decode_input)(Body::Payload(&payload)) {
            return refuse(dispatch::input_error(&e));
        }
        Box::pin(dispatch::deliver_msg(server, info, &payload, conn)).await;
        return Handled::Reply(empty());
    }
    let Some(info) = table.api(name) else {
        return unknown();
    };
    let req = Request::new(ServiceKey::Name(name), 0, Body::Payload(&payload));
    Handled::Call(run(server, conn, info, req, AnswerShape::HttpJson).await)
}

/// A binary call: the body is a request frame naming its service by id,
/// and the URL path must name the same service, so that rules a proxy
/// applies by path hold for binary calls too.
async fn binary(server: &Server, conn: &Connection, path_name: &str, body: Bytes) -> Handled {
    let refuse = |sn: u32, err: TsrpcError| {
        Handled::Reply(HttpReply {
            status: StatusCode::BAD_REQUEST,
            encoding: Some(Encoding::Binary),
            body: codec::encode_api_error(Encoding::Binary, 0, "", sn, &err).into_bytes(),
        })
    };
    let frame = match codec::decode_client_frame(WireFrame::Binary(body)) {
        Ok(frame) => frame,
        Err(e) => return refuse(0, TsrpcError::input_data(e.to_string())),
    };
    let (service, kind, target) = match &frame {
        ClientFrame::ApiRequest {
            service,
            sn,
            payload,
        } => {
            let req = Request::new(service.into(), *sn, Body::Payload(payload));
            (service, ServiceKind::Api, Target::Call(req))
        }
        ClientFrame::Message { service, payload } => {
            (service, ServiceKind::Msg, Target::Msg(payload))
        }
        _ => {
            let err = TsrpcError::input_data("an HTTP body holds an API request or a message");
            return refuse(0, err);
        }
    };
    let sn = match target {
        Target::Call(req) => req.sn,
        Target::Msg(_) => 0,
    };
    let ours = server.inner.fingerprint.as_str();
    let theirs = conn.header(FINGERPRINT_HEADER);
    if theirs != Some(ours) {
        let theirs = theirs.unwrap_or("none");
        return refuse(
            sn,
            TsrpcError::input_data(format!(
                "protocol fingerprint mismatch: server {ours}, client {theirs} (header {FINGERPRINT_HEADER})"
            )),
        );
    }
    let info = match service {
        ServiceRef::Id(id) => server.service_table().get(*id).filter(|s| s.kind() == kind),
        ServiceRef::Name(_) => None,
    };
    let Some(info) = info else {
        let what = match kind {
            ServiceKind::Api => "service",
            ServiceKind::Msg => "message",
        };
        return refuse(sn, TsrpcError::input_data(format!("Invalid {what} id")));
    };
    if info.name() != path_name {
        return refuse(
            sn,
            TsrpcError::input_data(format!(
                "the URL path /{path_name} does not name the frame's service {}",
                info.name()
            )),
        );
    }
    match target {
        Target::Call(req) => Handled::Call(
            run(
                server,
                conn,
                info,
                req,
                AnswerShape::Frame(Encoding::Binary),
            )
            .await,
        ),
        Target::Msg(payload) => {
            Box::pin(dispatch::deliver_msg(server, info, payload, conn)).await;
            Handled::Reply(empty())
        }
    }
}

/// A TSRPC binary call (TSBuffer mode): the body is a `ServerInputData`
/// naming its service by id, posted to the server's URL itself (as TSRPC's
/// clients post it) or to the service's path (`/{name}`, as tsrpc's
/// binary mode, so that rules a proxy applies by path hold); the service's
/// kind says call or message. Input errors are answered `INPUT_DATA_ERR`,
/// with status 200 as TSRPC answers them.
async fn tsbuffer(server: &Server, conn: &Connection, path_name: &str, body: Bytes) -> Handled {
    let refuse = |err: TsrpcError| {
        Handled::Reply(HttpReply {
            status: StatusCode::OK,
            encoding: Some(Encoding::Tsbuffer),
            body: codec::encode_api_error(Encoding::Tsbuffer, 0, "", 0, &err).into_bytes(),
        })
    };
    let (service, payload) = match codec::decode_tsbuffer_client_frame(body) {
        Ok(ClientFrame::ApiRequest {
            service, payload, ..
        }) => (service, payload),
        Ok(ClientFrame::Message { service, payload }) => (service, payload),
        Ok(_) => {
            let err = TsrpcError::input_data("an HTTP body holds an API request or a message");
            return refuse(err);
        }
        Err(e) => return refuse(TsrpcError::input_data(e.to_string())),
    };
    let info = match service {
        ServiceRef::Id(id) => server.service_table().get(id),
        ServiceRef::Name(_) => None,
    };
    let Some(info) = info else {
        return refuse(TsrpcError::input_data("Invalid service id"));
    };
    if !path_name.is_empty() && path_name != info.name() {
        return refuse(TsrpcError::input_data(format!(
            "the URL path /{path_name} does not name the body's service {}",
            info.name()
        )));
    }
    match info.kind() {
        ServiceKind::Api => {
            // The response is the call's: it carries no sn (0).
            let req = Request::new(ServiceKey::Id(info.id()), 0, Body::Payload(&payload));
            let shape = AnswerShape::Frame(Encoding::Tsbuffer);
            Handled::Call(run(server, conn, info, req, shape).await)
        }
        ServiceKind::Msg => {
            // Checked here, to answer a bad message with an error.
            if let Err(e) = (info.codec().decode_input)(Body::Payload(&payload)) {
                return refuse(dispatch::input_error(&e));
            }
            Box::pin(dispatch::deliver_msg(server, info, &payload, conn)).await;
            Handled::Reply(empty())
        }
    }
}

/// What a binary HTTP body holds.
#[derive(Clone, Copy)]
enum Target<'a> {
    Call(Request<'a>),
    Msg(&'a Payload),
}

/// A server as a [`tower::Service`](tower_service::Service) over
/// `http::Request`s, to mount in axum or any hyper-based server: it
/// answers tsrpc's HTTP calls and messages (`POST /{name}`, JSON or
/// binary) and upgrades WebSocket requests, exactly as the server's own
/// listener does. Made by [`Server::service`].
///
/// The service does not need [`Server::start`]: the host serves the port.
/// It answers while the server is not stopping ([`Server::stop`] and
/// [`Server::graceful_stop`] close its WebSocket connections and refuse
/// new calls, as for the listener). What belongs to the port stays with
/// the host: TLS, its connection limits and timeouts (tower-http's
/// `TimeoutLayer`, for one). The server's origin list, body size limit,
/// WebSocket settings, flows and handlers apply as they do on its own
/// listener.
///
/// Mounted under a prefix (axum's `nest_service("/api", ..)`, which
/// strips it), a call's service name is the rest of the path:
/// `POST /api/user/Login` calls `user/Login`. A WebSocket is accepted on
/// any path the host routes to the service.
///
/// The host must serve connections with upgrades for WebSockets (axum's
/// `serve` does; with hyper-util, `serve_connection_with_upgrades`).
///
/// ```rust,no_run
/// # async fn run(server: tsrpc::Server) -> std::io::Result<()> {
/// // In an axum app (axum is not a dependency of tsrpc):
/// // let app = axum::Router::new()
/// //     .route("/health", axum::routing::get(|| async { "ok" }))
/// //     .route_service("/ws", server.service())
/// //     .nest_service("/api", server.service());
/// // axum::serve(listener, app).await?;
/// let service = server.service();
/// # let _ = service; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct TsrpcService(HttpService<ServerInner>);

impl TsrpcService {
    pub(crate) fn new(server: &Server) -> Self {
        TsrpcService(HttpService::new(server.inner.clone()))
    }

    /// How to read a request's peer address from its extensions, where
    /// the host puts it: with axum served
    /// `into_make_service_with_connect_info::<SocketAddr>()`,
    /// `|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)`. Without
    /// it, [`Connection::remote_addr`] is `None`.
    pub fn remote_addr(self, read: fn(&http::Extensions) -> Option<SocketAddr>) -> Self {
        TsrpcService(self.0.with_remote_addr(read))
    }
}

impl<B> tower_service::Service<http::Request<B>> for TsrpcService
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<ResponseBody>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Result<http::Response<ResponseBody>, std::convert::Infallible>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        tower_service::Service::<http::Request<B>>::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        self.0.call(req)
    }
}
