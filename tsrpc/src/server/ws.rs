//! The WebSocket adapter: one session per connection, the only part of
//! the server (with [`http`](super::http)) that knows its transport. It
//! reads frames through the codec, hands requests to
//! [`dispatch`](super::dispatch) and writes answers; it owns the hello, the
//! heartbeat and the close codes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::Context;

use tokio_tungstenite::tungstenite::Message as WsMessage;
use tracing::Instrument;

use super::connection::Upgrade;
use super::dispatch::{self, Answer, AnswerShape, CallSlots, Input, Outcome};
use super::flows::{ConnDisconnect, DataFlow};
use super::{Connection, Server, ServerInner};
use crate::codec::{self, ClientFrame, Encoding, FrameError, Request, ServiceKey, WireFrame};
use crate::flow::FlowStep;
use crate::proto::{ServiceInfo, ServiceKind};
use crate::task::{BoxFuture, with_context};
use crate::transport::outbound::{self, SendError};
use crate::transport::{FrameHandler, Outbound, Received, Replies, ServerSocket, close_code, ws};

/// Why the server closes a connection, for the callers outside this file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Close {
    /// `conn.close(reason)`.
    Normal,
    /// The server is stopping.
    Stopping,
}

/// Why a frame could not be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unsent {
    /// The connection is closed or closing.
    Closed,
    /// Its queue is full: it was closed for that.
    Full,
}

/// The outgoing side of a WebSocket connection: its bounded queue.
#[derive(Clone, Debug)]
pub(crate) struct Peer(Outbound);

/// A frame made ready for the socket once and queued on many peers (a
/// broadcast): cloning it shares the bytes.
#[derive(Clone, Debug)]
pub(crate) struct Prepared(WsMessage);

/// A frame the codec made.
impl From<WireFrame> for Prepared {
    fn from(frame: WireFrame) -> Self {
        Prepared(ws::to_message(frame))
    }
}

impl Prepared {
    /// A frame a `pre_send_data` flow node made or changed: its text is
    /// checked.
    pub(crate) fn checked(frame: WireFrame) -> Self {
        Prepared(ws::to_message_checked(frame))
    }
}

impl Peer {
    /// Queues a frame.
    pub(crate) fn send(&self, frame: Prepared) -> Result<(), Unsent> {
        self.0.send(frame.0).map_err(|e| match e {
            SendError::Closed => Unsent::Closed,
            SendError::Full => Unsent::Full,
        })
    }

    /// Asks for the connection to close after what is queued.
    pub(crate) fn close(&self, close: Close, reason: impl Into<String>) {
        let code = match close {
            Close::Normal => close_code::NORMAL,
            Close::Stopping => close_code::GOING_AWAY,
        };
        self.0.close(code, reason);
    }

    /// True once a close was asked for or the connection ended.
    pub(crate) fn is_closing(&self) -> bool {
        self.0.is_closing()
    }

    /// Bytes waiting to be sent.
    pub(crate) fn queued(&self) -> usize {
        self.0.queued()
    }
}

/// Runs one accepted WebSocket connection, from `post_connect` to
/// `post_disconnect`, in a span naming it.
pub(crate) fn serve(
    inner: Arc<ServerInner>,
    socket: ServerSocket,
    upgrade: Upgrade,
    encoding: Option<Encoding>,
) -> BoxFuture<()> {
    let id = inner.next_conn_id();
    let span = tracing::info_span!(
        "conn",
        id,
        remote = upgrade.remote_addr.map(tracing::field::display),
        transport = "ws",
        encoding = ?encoding,
    );
    Box::pin(session(Server { inner }, id, socket, upgrade, encoding).instrument(span))
}

async fn session(
    server: Server,
    id: u64,
    socket: ServerSocket,
    upgrade: Upgrade,
    encoding: Option<Encoding>,
) {
    let settings = server.settings();
    let (outbound, rx) = outbound::channel(settings.send_queue_size);
    let flows = server.inner.flows.clone();
    let conn = Connection::websocket(
        id,
        upgrade,
        Peer(outbound.clone()),
        encoding,
        flows.clone(),
        server.inner.rooms.clone(),
    );
    server.add_connection(&conn);
    tracing::debug!("connected");
    if !flows.post_connect.is_empty() {
        flows.post_connect.exec(conn.clone()).await;
    }
    let limits = ws::Limits {
        keepalive: settings.keepalive,
        heartbeat: settings.heartbeat_wait_time,
        send_timeout: settings.send_timeout,
    };
    let session = Session {
        slots: CallSlots::new(settings.max_pending_calls),
        server: server.clone(),
        conn: conn.clone(),
        hello: AtomicBool::new(false),
        last_named: AtomicU32::new(u32::MAX),
    };
    let end = ws::drive(socket, rx, &outbound, limits, &session).await;
    server.remove_connection(&conn);
    tracing::debug!(code = ?end.code, reason = %end.reason, by_server = end.local, "disconnected");
    if !flows.post_disconnect.is_empty() {
        let event = ConnDisconnect {
            conn,
            reason: end.reason,
            code: end.code,
            by_server: end.local,
        };
        flows.post_disconnect.exec(event).await;
    }
}

/// The server side of one WebSocket connection.
struct Session {
    server: Server,
    conn: Connection,
    /// Binary frames are trusted only after a matching hello.
    hello: AtomicBool,
    /// Bounds the API calls of this connection running at once; when all
    /// are taken the connection is not read until one returns.
    slots: Arc<CallSlots>,
    /// The table id of the service last found by name.
    last_named: AtomicU32,
}

/// The answer to a heartbeat: the heartbeat.
fn heartbeat() -> Prepared {
    Prepared::from(codec::encode_heartbeat())
}

impl Session {
    fn resolve(&self, service: ServiceKey<'_>, kind: ServiceKind) -> Option<&'static ServiceInfo> {
        let table = self.server.service_table();
        match service {
            ServiceKey::Name(name) => {
                // A client mostly calls what it called last: one compare of
                // the name instead of hashing it.
                let last = table.get(self.last_named.load(Ordering::Relaxed));
                if let Some(info) = last.filter(|s| s.name() == name && s.kind() == kind) {
                    return Some(info);
                }
                let info = table.find(kind, name)?;
                self.last_named.store(info.id(), Ordering::Relaxed);
                Some(info)
            }
            ServiceKey::Id(id) => table.get(id).filter(|s| s.kind() == kind),
        }
    }

    /// Runs a request through the pipeline, until its handler first waits.
    #[inline]
    fn call(&self, req: &Request<'_>, cx: &mut Context<'_>) -> Outcome {
        let shape = AnswerShape::Frame(req.encoding());
        let Some(info) = self.resolve(req.service, ServiceKind::Api) else {
            if let Some(e) = req.malformed() {
                return Outcome::Malformed(e);
            }
            let (id, name) = match req.service {
                ServiceKey::Name(name) => (0, name),
                ServiceKey::Id(id) => (id, ""),
            };
            let err = dispatch::unhandled(req.service);
            return Outcome::Answered(Answer::failed(shape, id, name, req.sn, err));
        };
        dispatch::call(
            &self.server,
            &self.conn,
            info,
            Input::Encoded(req, shape),
            cx,
        )
    }

    /// A call's answer, when no flow is to see it: with the other answers
    /// of the frames read in the same turn.
    fn answer_now(&self, answer: Answer, replies: &mut Replies<'_>) {
        if answer.has_after() || self.server.flows().see_sent_data() {
            // The flows changed since the frame was read.
            tokio::spawn(deliver(self.server.clone(), self.conn.clone(), answer));
        } else {
            // A closed connection has nobody left to answer.
            let _ = replies.send(ws::to_message(answer.frame));
        }
    }

    /// Lets a call that waits go on in a task of its own, holding its slot.
    fn go_on(&self, rest: BoxFuture<Answer>, slot: dispatch::CallSlot) {
        let (server, conn) = (self.server.clone(), self.conn.clone());
        tokio::spawn(async move {
            let _slot = slot;
            deliver(server, conn, rest.await).await;
        });
    }

    /// Runs a request read by [`on_frame`](FrameHandler::on_frame).
    async fn api_call(&self, req: Request<'_>) {
        let slot = self.slots.acquire().await;
        match with_context(|cx| self.call(&req, cx)).await {
            Outcome::Answered(answer) => {
                deliver(self.server.clone(), self.conn.clone(), answer).await
            }
            Outcome::Pending(rest) => self.go_on(rest, slot.keep()),
            Outcome::Malformed(e) => self.close_malformed(&e),
        }
    }

    fn close_malformed(&self, e: &FrameError) {
        tracing::debug!("{e}");
        match e.encoding() {
            // As TSRPC closes: a normal close whose reason is its own text
            // (`Input is not a valid JSON string: ...`), which TSRPC
            // clients show as the error of the calls the close ends.
            Encoding::Json => self.close(close_code::NORMAL, e.reason()),
            // As TSRPC closes on a binary frame it cannot read.
            Encoding::Tsbuffer => self.close(close_code::NORMAL, e.to_string()),
            Encoding::Binary => self.close(close_code::INVALID_DATA, e.to_string()),
        }
    }

    fn close(&self, code: u16, reason: impl Into<String>) {
        if let Some(Peer(outbound)) = self.conn.peer() {
            outbound.close(code, reason);
        }
    }

    async fn message(&self, service: ServiceKey<'_>, payload: &codec::Payload) {
        let Some(info) = self.resolve(service, ServiceKind::Msg) else {
            tracing::debug!(%service, "dropping a message that is not registered");
            return;
        };
        dispatch::deliver_msg(&self.server, info, payload, &self.conn).await;
    }

    /// Which binary mode a binary frame is in: tsrpc's once the handshake
    /// (its fingerprint header) or a hello frame chose it (a hello sets the
    /// connection's encoding), or when it is a hello; else TSRPC's TSBuffer
    /// mode.
    fn binary_mode(&self, data: &[u8]) -> Encoding {
        if self.conn.encoding() == Some(Encoding::Binary) || codec::is_hello(data) {
            Encoding::Binary
        } else {
            Encoding::Tsbuffer
        }
    }

    fn check_hello(&self) -> bool {
        if self.hello.load(Ordering::Relaxed) {
            return true;
        }
        self.close(
            close_code::POLICY,
            "binary mode needs the hello frame (0x05, the service table fingerprint) first",
        );
        false
    }
}

/// Sends an answer through `pre_send_data`, then runs the post-return flows.
async fn deliver(server: Server, conn: Connection, answer: Answer) {
    // A closed connection has nobody left to answer.
    let (frame, _, after, _) = answer.into_parts();
    let _ = conn.send_data(frame).await;
    if let Some(returned) = after {
        dispatch::after_return(&server, returned).await;
    }
}

impl FrameHandler for Session {
    fn on_frame_now(
        &self,
        frame: &Received,
        replies: &mut Replies<'_>,
        cx: &mut Context<'_>,
    ) -> bool {
        if !self.server.flows().none_see_calls_or_data() {
            return false;
        }
        let req = match frame {
            Received::Text(text) => codec::locate_text_request(text.as_str()),
            Received::Binary(data) if codec::is_heartbeat(data) => {
                let _ = replies.send(heartbeat().0);
                return true;
            }
            Received::Binary(data) => match self.binary_mode(data) {
                Encoding::Binary if self.hello.load(Ordering::Relaxed) => {
                    codec::locate_binary_request(data)
                }
                Encoding::Tsbuffer => codec::locate_tsbuffer_request(data),
                _ => None,
            },
        };
        let Some(req) = req else { return false };
        if !self.slots.has_room() {
            return false;
        }
        self.conn.settle_encoding(req.encoding());
        match self.call(&req, cx) {
            Outcome::Answered(answer) => self.answer_now(answer, replies),
            Outcome::Pending(rest) => self.go_on(rest, self.slots.take()),
            Outcome::Malformed(e) => self.close_malformed(&e),
        }
        true
    }

    async fn on_frame(&self, frame: WireFrame) {
        let flows = self.server.flows();
        let frame = if flows.see_received_data() {
            let data = DataFlow {
                conn: self.conn.clone(),
                data: frame,
            };
            match flows.pre_recv_data.exec(data).await {
                FlowStep::Continue(data) => data.data,
                FlowStep::Stop | FlowStep::Fail(_) => return,
            }
        } else {
            frame
        };
        // A JSON request located where it lies, else the frame decoded whole.
        if let WireFrame::Text(bytes) = &frame
            && let Ok(text) = std::str::from_utf8(bytes)
            && let Some(req) = codec::locate_text_request(text)
        {
            self.conn.settle_encoding(Encoding::Json);
            self.api_call(req).await;
            return;
        }
        let encoding = match &frame {
            WireFrame::Text(_) => Encoding::Json,
            WireFrame::Binary(data) => self.binary_mode(data),
        };
        let decoded = match frame {
            WireFrame::Binary(data) if encoding == Encoding::Tsbuffer => {
                codec::decode_tsbuffer_client_frame(data)
            }
            frame => codec::decode_client_frame(frame),
        };
        let frame = match decoded {
            Ok(frame) => frame,
            Err(e) => {
                self.close_malformed(&e);
                return;
            }
        };
        if matches!(frame, ClientFrame::Heartbeat) {
            let _ = self.conn.send(heartbeat());
            return;
        }
        self.conn.settle_encoding(encoding);
        // tsrpc's binary mode trusts service ids only after the hello.
        let trusted = || encoding != Encoding::Binary || self.check_hello();
        if let Some(req) = frame.request() {
            if trusted() {
                self.api_call(req).await;
            }
            return;
        }
        match &frame {
            ClientFrame::Hello { fingerprint } => {
                let ours = self.server.service_table().fingerprint();
                if *fingerprint == ours {
                    self.hello.store(true, Ordering::Relaxed);
                    self.conn.choose_binary();
                } else {
                    self.close(
                        close_code::POLICY,
                        format!(
                            "protocol fingerprint mismatch: server {ours}, client {fingerprint}"
                        ),
                    );
                }
            }
            ClientFrame::Message { service, payload } => {
                if trusted() {
                    self.message(service.into(), payload).await;
                }
            }
            ClientFrame::ApiRequest { .. } | ClientFrame::Heartbeat => {}
        }
    }
}
