//! From decoded frames to handlers and back: the server's half of a call.
//!
//! Dispatch knows the service table and the handlers, never the socket:
//! replies go to the connection's outbound queue.

use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::{Connection, DataFlow, Server};
use crate::codec::{self, ClientFrame, Encoding, Payload, ServiceRef, WireFrame};
use crate::error::{TsrpcError, codes};
use crate::flow::FlowStep;
use crate::proto::{ServiceInfo, ServiceKind};
use crate::transport::{FrameHandler, close_code};

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
/// semaphore: one atomic operation to take a slot and one to give it back;
/// only the connection's reader ever waits for one.
struct CallSlots {
    running: AtomicUsize,
    max: usize,
    freed: Notify,
}

/// A taken slot, given back when dropped.
struct CallSlot(Arc<CallSlots>);

impl CallSlots {
    async fn acquire(self: &Arc<Self>) -> CallSlot {
        loop {
            // Created before looking, so a slot freed in between is not missed
            // (`notify_one` leaves a permit when nobody waits).
            let freed = self.freed.notified();
            let running = self.running.load(Ordering::Acquire);
            if running < self.max {
                if self
                    .running
                    .compare_exchange(running, running + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return CallSlot(self.clone());
                }
                continue;
            }
            freed.await;
        }
    }
}

impl Drop for CallSlot {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == self.0.max {
            self.0.freed.notify_one();
        }
    }
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

    fn resolve(&self, service: &ServiceRef, kind: ServiceKind) -> Option<&'static ServiceInfo> {
        let table = self.server.service_table();
        match service {
            ServiceRef::Name(name) => table.find(kind, name),
            ServiceRef::Id(id) => table.get(*id).filter(|s| s.kind() == kind),
        }
    }

    async fn reply(&self, frame: WireFrame) {
        // A closed connection has nobody left to answer.
        let _ = self.conn.send_data(frame, None).await;
    }

    async fn api_call(&self, service: ServiceRef, sn: u32, payload: Payload) {
        let encoding = payload.encoding();
        let Some(info) = self.resolve(&service, ServiceKind::Api) else {
            let (name, shown) = match &service {
                ServiceRef::Name(n) => (n.as_str(), n.clone()),
                ServiceRef::Id(id) => ("", format!("id {id}")),
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
        let permit = self.permits.acquire().await;
        let in_flight = self.server.track_call();
        let server = self.server.clone();
        let conn = self.conn.clone();
        let mut call = Box::pin(async move {
            let _permit = permit;
            let _in_flight = in_flight;
            let result = server.execute_api(info, &payload, conn.clone(), sn).await;
            let (frame, _) = super::return_frame(info, encoding, sn, result);
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
        // batch instead of one per call). A panic outside the handler's own
        // guard ends this call only, as it would end its task.
        let first_poll = poll_fn(|cx| {
            Poll::Ready(std::panic::catch_unwind(AssertUnwindSafe(|| {
                call.as_mut().poll(cx)
            })))
        })
        .await;
        match first_poll {
            Ok(Poll::Ready(())) => {}
            Ok(Poll::Pending) => {
                tokio::spawn(call);
            }
            Err(_) => tracing::error!(
                conn = self.conn.id(),
                api = info.name(),
                "an API call panicked outside its handler"
            ),
        }
    }

    async fn message(&self, service: ServiceRef, payload: Payload) {
        let Some(info) = self.resolve(&service, ServiceKind::Msg) else {
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

impl FrameHandler for ConnSession {
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
        let is_binary = matches!(frame, WireFrame::Binary(_));
        let frame = match codec::decode_client_frame(frame) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::debug!(conn = self.conn.id(), "{e}");
                self.conn
                    .close_with(close_code::INVALID_DATA, e.to_string());
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
                    self.api_call(service, sn, payload).await;
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
