//! From decoded frames to handlers and back: the server's half of a call.
//!
//! Dispatch knows the service table and the handlers, never the socket:
//! replies go to the connection's outbound queue.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::handler::{CallContext, PlainStart};
use super::{AnswerShape, Connection, DataFlow, HandlerFuture, Server, with_context};
use crate::codec::{self, Body, ClientFrame, Encoding, FrameError, Payload, ServiceRef, WireFrame};
use crate::error::{TsrpcError, codes};
use crate::flow::FlowStep;
use crate::proto::{ServiceInfo, ServiceKind};
use crate::transport::{FrameHandler, Received, Replies, close_code, ws};

/// The server side of one WebSocket connection.
pub(crate) struct ConnSession {
    server: Server,
    conn: Connection,
    /// Binary frames are trusted only after a matching hello.
    hello: AtomicBool,
    /// Bounds the API calls of this connection running at once; when all
    /// permits are taken the connection is not read until one returns.
    permits: Arc<CallSlots>,
}

/// The running API calls of one connection, at most `max`. Cheaper than a
/// semaphore: one atomic operation to take a slot and one to give it back,
/// and none for a call that finishes where it started; only the
/// connection's reader ever takes one or waits for one.
struct CallSlots {
    running: AtomicUsize,
    max: usize,
    freed: Notify,
}

/// A taken slot, given back when dropped.
struct CallSlot(Arc<CallSlots>);

/// A taken slot that borrows its connection's slots: no reference count to
/// touch for a call that ends where it started.
struct CallSlotHere<'a>(&'a Arc<CallSlots>);

impl CallSlotHere<'_> {
    /// The same slot, carried on by a task of its own.
    fn keep(self) -> CallSlot {
        let slots = self.0.clone();
        std::mem::forget(self);
        CallSlot(slots)
    }
}

impl CallSlots {
    /// True when a slot is free. Only the connection's reader takes slots,
    /// so one stays free until it takes it, with [`take`](Self::take).
    fn has_room(&self) -> bool {
        self.running.load(Ordering::Acquire) < self.max
    }

    /// The slot [`has_room`](Self::has_room) found free: a call that
    /// finishes at once needs none, one that waits takes it here.
    fn take(self: &Arc<Self>) -> CallSlot {
        self.running.fetch_add(1, Ordering::AcqRel);
        CallSlot(self.clone())
    }

    /// A slot if one is free.
    fn try_acquire(self: &Arc<Self>) -> Option<CallSlotHere<'_>> {
        let mut running = self.running.load(Ordering::Acquire);
        while running < self.max {
            match self.running.compare_exchange_weak(
                running,
                running + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(CallSlotHere(self)),
                Err(now) => running = now,
            }
        }
        None
    }

    async fn acquire(self: &Arc<Self>) -> CallSlotHere<'_> {
        loop {
            // Created before looking, so a slot freed in between is not missed
            // (`notify_one` leaves a permit when nobody waits).
            let freed = self.freed.notified();
            if let Some(slot) = self.try_acquire() {
                return slot;
            }
            freed.await;
        }
    }
}

impl CallSlots {
    fn give_back(&self) {
        if self.running.fetch_sub(1, Ordering::AcqRel) == self.max {
            self.freed.notify_one();
        }
    }
}

impl Drop for CallSlot {
    fn drop(&mut self) {
        self.0.give_back();
    }
}

impl Drop for CallSlotHere<'_> {
    fn drop(&mut self) {
        self.0.give_back();
    }
}

/// How a request names its API or message: by id (binary) or by name (JSON).
#[derive(Clone, Copy, Debug)]
enum ServiceKey<'a> {
    Id(u32),
    Name(&'a str),
}

impl<'a> From<&'a ServiceRef> for ServiceKey<'a> {
    fn from(service: &'a ServiceRef) -> Self {
        match service {
            ServiceRef::Id(id) => ServiceKey::Id(*id),
            ServiceRef::Name(name) => ServiceKey::Name(name),
        }
    }
}

/// An API request as read from its frame.
#[derive(Clone, Copy)]
struct Request<'a> {
    sn: u32,
    body: Body<'a>,
    /// The text frame of a request that was located rather than decoded
    /// (`codec::locate_json_request`): checked whole if the request does
    /// not decode.
    unchecked: Option<&'a [u8]>,
}

/// Where the answer of a call made at once goes.
enum AnswerTo<'r, 'a> {
    /// The connection's queue.
    Queue,
    /// The answers of the connection task's reading turn.
    Replies(&'r mut Replies<'a>),
}

/// How the first run of a plain call ended.
enum Started {
    /// Answered.
    Done,
    /// The handler waits: the call goes on in a task of its own.
    Waiting(HandlerFuture),
    /// The request frame, located without being read, turned out malformed.
    Malformed(FrameError),
}

impl ConnSession {
    pub(crate) fn new(server: Server, conn: Connection, max_pending_calls: usize) -> Self {
        ConnSession {
            server,
            conn,
            hello: AtomicBool::new(false),
            permits: Arc::new(CallSlots {
                running: AtomicUsize::new(0),
                max: max_pending_calls.max(1),
                freed: Notify::new(),
            }),
        }
    }

    fn resolve(&self, service: ServiceKey<'_>, kind: ServiceKind) -> Option<&'static ServiceInfo> {
        let table = self.server.service_table();
        match service {
            ServiceKey::Name(name) => table.find(kind, name),
            ServiceKey::Id(id) => table.get(id).filter(|s| s.kind() == kind),
        }
    }

    async fn reply(&self, frame: WireFrame) {
        // A closed connection has nobody left to answer.
        let _ = self.conn.send_data(frame, None).await;
    }

    /// Answers an API request. `unchecked` is the frame of a request that
    /// was located rather than decoded (`codec::locate_json_request`): it is
    /// checked whole if the request does not decode. `plain` says no flow
    /// sees calls ([`Server::plain_calls`]).
    async fn api_call(
        &self,
        service: ServiceKey<'_>,
        sn: u32,
        payload: Payload,
        unchecked: Option<&[u8]>,
        plain: bool,
    ) {
        let encoding = payload.encoding();
        let Some(info) = self.resolve(service, ServiceKind::Api) else {
            if self.malformed(unchecked) {
                return;
            }
            let (name, shown) = match service {
                ServiceKey::Name(n) => (n, n.to_owned()),
                ServiceKey::Id(id) => ("", format!("id {id}")),
            };
            let err = TsrpcError::server(format!("Unhandled API: {shown}"))
                .with_code(codes::UNHANDLED_API);
            self.reply(codec::encode_api_error(encoding, name, sn, &err))
                .await;
            return;
        };
        let name = info.name();
        if self.server.is_stopping() {
            let err =
                TsrpcError::server("The server is stopping").with_code(codes::SERVER_STOPPING);
            self.reply(codec::encode_api_error(encoding, name, sn, &err))
                .await;
            return;
        }
        let slot = self.permits.acquire().await;
        if plain {
            let req = Request {
                sn,
                body: Body::Payload(&payload),
                unchecked,
            };
            with_context(|cx| self.run_plain(info, req, Some(slot), &mut AnswerTo::Queue, cx))
                .await;
            return;
        }
        let permit = slot.keep();
        let in_flight = self.server.track_call();
        let server = self.server.clone();
        let conn = self.conn.clone();
        let mut call = Box::pin(async move {
            let _permit = permit;
            let _in_flight = in_flight;
            let answer = AssertUnwindSafe(async {
                let result = server.execute_api(info, &payload, conn.clone(), sn).await;
                super::return_frame(info, encoding, sn, result).0
            })
            .catch_unwind()
            .await;
            let frame = answer.unwrap_or_else(|panic| panicked_frame(info, encoding, sn, &*panic));
            let returned = server
                .wants_returns()
                .then(|| match codec::decode_server_frame(frame.clone()) {
                    Ok(codec::ServerFrame::ApiReturn { result, .. }) => Some(result),
                    _ => None,
                })
                .flatten();
            let _ = conn.send_data(frame, None).await;
            if let Some(result) = returned {
                server.after_return(conn, sn, info.name(), result).await;
            }
        });
        // Most calls never wait: run the call here until it first waits,
        // and give it a task of its own only then. A call that finishes at
        // once costs no task, and its reply is written together with the
        // replies to the other frames of the same read (one write for the
        // batch instead of one per call). A panic past the answer (in a
        // post flow's own code) ends this call only, as it would end its task.
        let first_poll = with_context(|cx| {
            std::panic::catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(cx)))
        })
        .await;
        match first_poll {
            Ok(Poll::Ready(())) => {}
            Ok(Poll::Pending) => {
                tokio::spawn(call);
            }
            Err(panic) => {
                let panic = super::panic_text(&*panic);
                tracing::error!(api = name, "panicked past its answer: {panic}");
            }
        }
    }

    /// A call no flow sees: the same steps as [`Server::execute_api`] and
    /// the reply, run here until the handler first waits, without the
    /// boxed future and the timer a call through the flows needs (the API
    /// timeout starts when the handler first waits).
    fn run_plain(
        &self,
        info: &'static ServiceInfo,
        req: Request<'_>,
        slot: Option<CallSlotHere<'_>>,
        to: &mut AnswerTo<'_, '_>,
        cx: &mut Context<'_>,
    ) {
        let in_flight = self.server.track_call_here();
        let started =
            std::panic::catch_unwind(AssertUnwindSafe(|| self.start_plain(info, req, to, cx)));
        match started {
            Ok(Started::Done) => {}
            Ok(Started::Waiting(handler)) => {
                let slot = match slot {
                    Some(slot) => slot.keep(),
                    None => self.permits.take(),
                };
                let in_flight = in_flight.keep();
                let server = self.server.clone();
                let conn = self.conn.clone();
                let (encoding, sn) = (req.body.encoding(), req.sn);
                tokio::spawn(async move {
                    let _slot = slot;
                    let _in_flight = in_flight;
                    let answer = AssertUnwindSafe(async {
                        let result = server.finish_handler(info.name(), handler).await;
                        super::return_frame(info, encoding, sn, result).0
                    })
                    .catch_unwind()
                    .await;
                    let frame =
                        answer.unwrap_or_else(|panic| panicked_frame(info, encoding, sn, &*panic));
                    let _ = conn.send_data(frame, None).await;
                });
            }
            Ok(Started::Malformed(e)) => self.close_malformed(&e),
            // Nothing was answered: a panic in the request's or the
            // response's own serde code, before the answer.
            Err(panic) => {
                let frame = panicked_frame(info, req.body.encoding(), req.sn, &*panic);
                self.send_to(to, frame);
            }
        }
    }

    /// The common case in one synchronous step, without the futures of
    /// [`api_call`](Self::api_call): a plain call to a known API while a
    /// call slot is free and the server is not stopping. False (nothing
    /// done) otherwise.
    fn quick_call(
        &self,
        service: ServiceKey<'_>,
        req: Request<'_>,
        to: &mut AnswerTo<'_, '_>,
        cx: &mut Context<'_>,
    ) -> bool {
        let Some(info) = self.resolve(service, ServiceKind::Api) else {
            return false;
        };
        if self.server.is_stopping() {
            return false;
        }
        if !self.permits.has_room() {
            return false;
        }
        self.run_plain(info, req, None, to, cx);
        true
    }

    fn start_plain(
        &self,
        info: &'static ServiceInfo,
        req: Request<'_>,
        to: &mut AnswerTo<'_, '_>,
        cx: &mut Context<'_>,
    ) -> Started {
        let Request {
            sn,
            body,
            unchecked,
        } = req;
        let encoding = body.encoding();
        let mut answer = |frame| {
            self.send_to(to, frame);
            Started::Done
        };
        let handler = match self.server.api_handler(info) {
            Ok(handler) => handler,
            Err(err) => {
                if let Some(e) = frame_error(unchecked) {
                    return Started::Malformed(e);
                }
                return answer(codec::encode_api_error(encoding, info.name(), sn, &err));
            }
        };
        let ctx = CallContext {
            sn,
            conn: self.conn.clone(),
            server: self.server.clone(),
            extensions: http::Extensions::new(),
        };
        match handler.start(body, ctx, AnswerShape::Frame, cx) {
            PlainStart::Done((frame, _)) => answer(frame),
            PlainStart::Waiting(rest) => Started::Waiting(rest),
            PlainStart::BadInput(e) => {
                if let Some(e) = frame_error(unchecked) {
                    return Started::Malformed(e);
                }
                let err = super::input_error(info.name(), &e);
                answer(codec::encode_api_error(encoding, info.name(), sn, &err))
            }
        }
    }

    fn send_to(&self, to: &mut AnswerTo<'_, '_>, frame: WireFrame) {
        let frame = ws::to_message(frame);
        // A closed connection has nobody left to answer.
        let _ = match to {
            AnswerTo::Queue => self.conn.send_frame(frame).is_ok(),
            AnswerTo::Replies(replies) => replies.send(frame).is_ok(),
        };
    }

    /// True (and the connection closing) when `unchecked` is a malformed frame.
    fn malformed(&self, unchecked: Option<&[u8]>) -> bool {
        match frame_error(unchecked) {
            Some(e) => {
                self.close_malformed(&e);
                true
            }
            None => false,
        }
    }

    fn close_malformed(&self, e: &FrameError) {
        tracing::debug!(conn = self.conn.id(), "{e}");
        self.conn
            .close_with(close_code::INVALID_DATA, e.to_string());
    }

    async fn message(&self, service: ServiceRef, payload: Payload) {
        let Some(info) = self.resolve(ServiceKey::from(&service), ServiceKind::Msg) else {
            tracing::debug!(
                conn = self.conn.id(),
                ?service,
                "dropping a message that is not registered"
            );
            return;
        };
        self.server.deliver_msg(info, &payload, &self.conn).await;
    }

    fn check_hello(&self) -> bool {
        if self.hello.load(Ordering::Relaxed) {
            return true;
        }
        self.conn.close_with(
            close_code::POLICY,
            "binary mode needs the hello frame (0x05, the service table fingerprint) first",
        );
        false
    }
}

/// The answer to a call that panicked outside its handler, in its
/// request's or response's own serde code: `INTERNAL_ERR`, as for a
/// handler's panic.
fn panicked_frame(
    info: &ServiceInfo,
    encoding: Encoding,
    sn: u32,
    panic: &(dyn std::any::Any + Send),
) -> WireFrame {
    let err = super::serde_panicked(info.name(), panic);
    codec::encode_api_error(encoding, info.name(), sn, &err)
}

/// What is wrong with a frame that was located rather than decoded, if
/// anything: the check a located request owes when it cannot be answered.
fn frame_error(unchecked: Option<&[u8]>) -> Option<FrameError> {
    let text = Bytes::copy_from_slice(unchecked?);
    codec::decode_client_frame(WireFrame::Text(text)).err()
}

impl FrameHandler for ConnSession {
    fn on_frame_now(
        &self,
        frame: &Received,
        replies: &mut Replies<'_>,
        cx: &mut Context<'_>,
    ) -> bool {
        if !self.server.plain_calls() || !self.server.flows().pre_recv_data.is_empty() {
            return false;
        }
        match frame {
            Received::Text(text) => {
                let Some(request) = codec::locate_json_request(text.as_str()) else {
                    return false;
                };
                self.conn.settle_encoding(Encoding::Json);
                let req = Request {
                    sn: request.sn,
                    body: Body::Json(request.body),
                    unchecked: Some(text.as_bytes()),
                };
                let to = &mut AnswerTo::Replies(replies);
                self.quick_call(ServiceKey::Name(request.name), req, to, cx)
            }
            Received::Binary(data) => {
                if let Some((id, sn, body)) = codec::locate_binary_request(data)
                    && self.hello.load(Ordering::Relaxed)
                {
                    self.conn.settle_encoding(Encoding::Binary);
                    let req = Request {
                        sn,
                        body: Body::Binary(body),
                        unchecked: None,
                    };
                    let to = &mut AnswerTo::Replies(replies);
                    self.quick_call(ServiceKey::Id(id), req, to, cx)
                } else if data[..] == [0] {
                    // A heartbeat.
                    let _ = replies.send(WsMessage::Binary(Bytes::from_static(&[0])));
                    true
                } else {
                    false
                }
            }
        }
    }

    async fn on_frame(&self, frame: WireFrame) {
        let flows = self.server.flows();
        let frame = if flows.pre_recv_data.is_empty() {
            frame
        } else {
            let data = DataFlow {
                conn: self.conn.clone(),
                data: frame,
            };
            match flows.pre_recv_data.exec(data).await {
                FlowStep::Continue(data) => data.data,
                FlowStep::Stop | FlowStep::Fail(_) => return,
            }
        };
        let plain = self.server.plain_calls();
        if plain
            && let WireFrame::Text(bytes) = &frame
            && let Ok(text) = std::str::from_utf8(bytes)
            && let Some(request) = codec::locate_json_request(text)
        {
            self.conn.settle_encoding(Encoding::Json);
            let service = ServiceKey::Name(request.name);
            let (sn, unchecked) = (request.sn, Some(text.as_bytes()));
            let req = Request {
                sn,
                body: Body::Json(request.body),
                unchecked,
            };
            let done =
                with_context(|cx| self.quick_call(service, req, &mut AnswerTo::Queue, cx)).await;
            if !done {
                let payload =
                    Payload::new(Encoding::Json, bytes.slice_ref(request.body.as_bytes()));
                self.api_call(service, sn, payload, unchecked, true).await;
            }
            return;
        }
        let is_binary = matches!(frame, WireFrame::Binary(_));
        let frame = match codec::decode_client_frame(frame) {
            Ok(frame) => frame,
            Err(e) => {
                self.close_malformed(&e);
                return;
            }
        };
        if !matches!(frame, ClientFrame::Heartbeat) {
            self.conn.settle_encoding(if is_binary {
                Encoding::Binary
            } else {
                Encoding::Json
            });
        }
        match frame {
            ClientFrame::Heartbeat => {
                let _ = self
                    .conn
                    .send_frame(WsMessage::Binary(Bytes::from_static(&[0])));
            }
            ClientFrame::Hello { fingerprint } => {
                let ours = self.server.service_table().fingerprint();
                if fingerprint == ours {
                    self.hello.store(true, Ordering::Relaxed);
                } else {
                    self.conn.close_with(
                        close_code::POLICY,
                        format!(
                            "protocol fingerprint mismatch: server {ours}, client {fingerprint}"
                        ),
                    );
                }
            }
            ClientFrame::ApiRequest {
                service,
                sn,
                payload,
            } => {
                if !is_binary || self.check_hello() {
                    let service = ServiceKey::from(&service);
                    let req = Request {
                        sn,
                        body: Body::Payload(&payload),
                        unchecked: None,
                    };
                    let done = plain
                        && with_context(|cx| {
                            self.quick_call(service, req, &mut AnswerTo::Queue, cx)
                        })
                        .await;
                    if !done {
                        self.api_call(service, sn, payload, None, plain).await;
                    }
                }
            }
            ClientFrame::Message { service, payload } => {
                if !is_binary || self.check_hello() {
                    self.message(service, payload).await;
                }
            }
        }
    }
}
