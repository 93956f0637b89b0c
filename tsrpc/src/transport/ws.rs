//! Drives one WebSocket connection (either side): reads frames into a
//! [`FrameHandler`], writes the [`Outbound`] queue, closes with a code and
//! a reason.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data as OpData, OpCode};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use super::outbound::CloseRequest;
use super::outbound::ReplyQueue;
use super::{Disconnect, FrameHandler, Outbound, OutboundReceiver, Received, Replies, close_code};
use crate::codec::WireFrame;

/// How long a closing connection may take to send its close frame and
/// read the peer's before the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Close reasons are limited to 123 bytes by the WebSocket protocol.
const MAX_REASON: usize = 123;

/// tungstenite's configuration for a connection. Buffers are small so that
/// idle connections cost little; messages are limited to `max_message_size`.
pub(crate) fn config(max_message_size: usize) -> WebSocketConfig {
    const WRITE_BUFFER: usize = 16 * 1024;
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(WRITE_BUFFER + max_message_size.saturating_mul(2))
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
}

/// A connection's socket, counting the bytes it took: the writer's
/// progress, as the peer reads. The slow-peer check compares the count
/// over time, so a peer that takes a large frame slowly is not mistaken
/// for one that takes nothing.
#[derive(Debug)]
pub(crate) struct Metered<S> {
    inner: S,
    written: u64,
}

impl<S> Metered<S> {
    pub(crate) fn new(inner: S) -> Self {
        Metered { inner, written: 0 }
    }

    fn count(&mut self, wrote: Poll<std::io::Result<usize>>) -> Poll<std::io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = wrote {
            self.written += n as u64;
        }
        wrote
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let wrote = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.count(wrote)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let wrote = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.count(wrote)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A frame the codec made, ready to be queued; cheap to clone (the bytes
/// are shared), so a broadcast converts once and clones per receiver.
/// Text is sent as it is, unchecked: the JSON encoder writes only UTF-8
/// (Rust strings, ASCII punctuation and serde_json's output), and checking
/// each answer again cost a pass over its bytes. A frame from anywhere
/// else goes through [`to_message_checked`].
pub(crate) fn to_message(frame: WireFrame) -> Message {
    match frame {
        WireFrame::Text(bytes) => {
            Message::Frame(Frame::message(bytes, OpCode::Data(OpData::Text), true))
        }
        WireFrame::Binary(bytes) => Message::Binary(bytes),
    }
}

/// A frame a flow node made or changed, ready to be queued: never send
/// invalid text, so a text frame that is not UTF-8 is logged and replaced
/// by an empty binary frame.
pub(crate) fn to_message_checked(frame: WireFrame) -> Message {
    match frame {
        WireFrame::Text(bytes) => match Utf8Bytes::try_from(bytes) {
            Ok(text) => Message::Text(text),
            Err(e) => {
                tracing::error!("refusing to send a text frame that is not UTF-8: {e}");
                Message::Binary(Bytes::new())
            }
        },
        WireFrame::Binary(bytes) => Message::Binary(bytes),
    }
}

fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_REASON {
        return reason;
    }
    let mut end = MAX_REASON;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

fn close_message(request: &CloseRequest) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(request.code),
        reason: truncate_reason(&request.reason).into(),
    }))
}

enum ReadEnd {
    /// The peer closed, or the socket failed.
    Remote(Disconnect),
    /// This side asked to close.
    Local,
}

fn remote(code: Option<u16>, reason: String) -> ReadEnd {
    ReadEnd::Remote(Disconnect {
        code,
        reason,
        local: false,
    })
}

/// One connection's socket and what waits to be written to it. The reader
/// and the writer take turns in the connection's one task, so the socket
/// is not split (no lock between two halves) and the answers made while
/// reading (`replies`) reach the writer without crossing a channel.
struct Conn<'a, S> {
    ws: WebSocketStream<Metered<S>>,
    rx: OutboundReceiver,
    outbound: &'a Outbound,
    /// Answers made by this task while reading, written before the queue.
    replies: ReplyQueue,
    /// A frame taken for writing while the socket could take no more.
    held: Option<Message>,
    /// Frames handed to tungstenite since its last flush.
    unflushed: bool,
    /// What the socket had taken when the slow-peer check last looked.
    written: u64,
    /// The close request, once the writer saw it.
    close: Option<CloseRequest>,
    close_sent: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<'_, S> {
    /// Bytes waiting to be written (as the queue's bound counts them).
    fn waiting(&self) -> usize {
        let held = self.held.as_ref().map_or(0, super::outbound::cost);
        self.replies.bytes() + self.outbound.queued() + held
    }

    /// True when the writer waits on the socket, not on the queue: a frame
    /// or a flush is held up because the peer does not take the bytes.
    fn blocked(&self) -> bool {
        self.held.is_some() || self.unflushed
    }

    /// True when the socket took bytes since the last call.
    fn progressed(&mut self) -> bool {
        let written = self.ws.get_ref().written;
        written != std::mem::replace(&mut self.written, written)
    }

    /// Writes what waits, in order: a held frame, the replies, the queue;
    /// after a close request, the close frame last. `Ready` when the
    /// writer is done: the close frame is out, or the socket failed.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            while let Some(frame) = self
                .held
                .take()
                .or_else(|| self.replies.pop_front())
                .or_else(|| self.rx.try_recv())
            {
                match self.ws.poll_ready_unpin(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Pending => {
                        self.held = Some(frame);
                        return Poll::Pending;
                    }
                }
                if self.ws.start_send_unpin(frame).is_err() {
                    return Poll::Ready(());
                }
                self.unflushed = true;
            }
            if let Some(request) = &self.close
                && !self.close_sent
            {
                match self.ws.poll_ready_unpin(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Pending => return Poll::Pending,
                }
                let _ = self.ws.start_send_unpin(close_message(request));
                self.close_sent = true;
                self.unflushed = true;
            }
            if self.unflushed {
                match self.ws.poll_flush_unpin(cx) {
                    Poll::Ready(Ok(())) => self.unflushed = false,
                    Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Pending => return Poll::Pending,
                }
            }
            if self.close_sent {
                return Poll::Ready(());
            }
            // Everything is out: wait for the queue (other tasks' frames).
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(frame)) => self.held = Some(frame),
                // Every sender is gone: nothing more can be queued.
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Takes the next frame from the socket, if one is there. `Err` when
    /// the connection ends.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Received>, ReadEnd>> {
        let Poll::Ready(next) = self.ws.poll_next_unpin(cx) else {
            return Poll::Pending;
        };
        Poll::Ready(match next {
            Some(Ok(Message::Text(text))) => Ok(Some(Received::Text(text))),
            Some(Ok(Message::Binary(data))) => Ok(Some(Received::Binary(data))),
            // tungstenite answers pings itself; any frame proves the peer alive.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Ok(None),
            Some(Ok(Message::Close(frame))) => Err(match frame {
                Some(f) => remote(Some(u16::from(f.code)), f.reason.to_string()),
                None => remote(None, "closed by the peer".into()),
            }),
            Some(Err(WsError::Capacity(e))) => {
                self.outbound
                    .close(close_code::TOO_BIG, format!("Message too big: {e}"));
                Err(ReadEnd::Local)
            }
            // A peer that went away without a close frame (a closed tab, a
            // dropped network): tungstenite reports a reset as a protocol error.
            Some(Err(
                WsError::ConnectionClosed
                | WsError::AlreadyClosed
                | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
            ))
            | None => Err(remote(
                None,
                "the connection was closed without a close frame".into(),
            )),
            Some(Err(_)) if self.outbound.is_closing() => Err(ReadEnd::Local),
            // The peer broke the WebSocket protocol: say so, as RFC 6455 asks.
            Some(Err(WsError::Utf8(e))) => {
                self.outbound.close(
                    close_code::INVALID_DATA,
                    format!("a text frame is not valid UTF-8: {e}"),
                );
                Err(ReadEnd::Local)
            }
            Some(Err(WsError::Protocol(e))) => {
                self.outbound.close(
                    close_code::PROTOCOL_ERROR,
                    format!("WebSocket protocol error: {e}"),
                );
                Err(ReadEnd::Local)
            }
            Some(Err(e)) => Err(remote(None, format!("connection error: {e}"))),
        })
    }
}

/// How a connection is watched for silence and for slowness.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Limits {
    /// Close (code 3001) a connection from which nothing at all was
    /// received for this long; a ping is sent halfway, so that any
    /// WebSocket peer that is still there answers in time.
    pub(crate) keepalive: Option<Duration>,
    /// Close (code 3001) a connection that sent no data frame (a
    /// heartbeat included) for this long: pongs do not count (TSRPC's
    /// `heartbeatWaitTime`).
    pub(crate) heartbeat: Option<Duration>,
    /// Close (code 1008) a connection whose peer took none of the bytes
    /// waiting for it for this long.
    pub(crate) send_timeout: Option<Duration>,
}

/// A deadline counted from the last [`restart`](Self::restart), with one
/// timer for the connection's life (restarting only notes the time).
struct Deadline {
    limit: Duration,
    sleep: Pin<Box<Sleep>>,
    last: Instant,
}

impl Deadline {
    /// A deadline of `limit`, whose timer first fires after `first`.
    fn new(limit: Duration, first: Duration) -> Self {
        Deadline {
            limit,
            sleep: Box::pin(tokio::time::sleep(first)),
            last: Instant::now(),
        }
    }

    /// `Ready` once `after` passed since the last restart. The timer is
    /// moved only when it fires early, so a busy connection costs no timer
    /// work per turn.
    fn poll_passed(&mut self, after: Duration, cx: &mut Context<'_>) -> Poll<()> {
        while self.sleep.as_mut().poll(cx).is_ready() {
            let deadline = self.last + after;
            if Instant::now() >= deadline {
                return Poll::Ready(());
            }
            self.sleep.as_mut().reset(deadline);
        }
        Poll::Pending
    }

    fn restart(&mut self, now: Instant) {
        self.last = now;
    }
}

/// Watches a connection for silence: pings it when half the limit passed
/// with nothing received, and closes it when all of it did.
struct IdleWatch {
    deadline: Deadline,
    pinged: bool,
}

enum Idle {
    Ping,
    Expired,
}

impl IdleWatch {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Idle> {
        let limit = self.deadline.limit;
        if !self.pinged {
            std::task::ready!(self.deadline.poll_passed(limit / 2, cx));
            self.pinged = true;
            return Poll::Ready(Idle::Ping);
        }
        self.deadline.poll_passed(limit, cx).map(|()| Idle::Expired)
    }

    fn restart(&mut self, now: Instant) {
        self.deadline.restart(now);
        if std::mem::take(&mut self.pinged) {
            // The timer waits for the close; the next ping is due sooner.
            let next_ping = self.deadline.last + self.deadline.limit / 2;
            self.deadline.sleep.as_mut().reset(next_ping);
        }
    }
}

/// Watches the writer for a peer that takes nothing: armed while the
/// socket refuses bytes, restarted whenever it takes some.
struct SendWatch {
    deadline: Option<Deadline>,
    limit: Duration,
    armed: bool,
}

impl SendWatch {
    /// `Ready` when the writer has been blocked without progress for the
    /// whole limit.
    fn poll(&mut self, blocked: bool, progressed: bool, cx: &mut Context<'_>) -> Poll<()> {
        if !blocked {
            self.armed = false;
            return Poll::Pending;
        }
        let limit = self.limit;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Deadline::new(limit, limit));
        if !self.armed || progressed {
            deadline.restart(Instant::now());
            self.armed = true;
        }
        deadline.poll_passed(limit, cx)
    }
}

/// `None`, of the type `make` returns (a type that cannot be named).
fn none_like<T>(_make: &impl Fn(WireFrame) -> T) -> Option<T> {
    None
}

async fn close_requested(mut close: watch::Receiver<Option<CloseRequest>>) {
    let _ = close.wait_for(Option::is_some).await;
}

/// Runs a connection until it ends, and says why it ended.
///
/// Each turn of the connection's task writes what finished since the last
/// turn, reads and handles every frame that arrived, and writes again what
/// the reading produced: the answers to a batch of calls that finish at
/// once leave in one write, in the same turn. Starting each turn with the
/// writer means a busy reader never starves it. The reader stops while
/// half the queue's capacity waits to be written, until the writer has
/// sent it: a peer that sends calls faster than it reads their answers is
/// slowed down, not disconnected.
///
/// `limits` close a silent connection (3001) and one whose peer takes
/// nothing of what waits for it (1008): a peer that reads, however big
/// the burst, is never cut off for it. A close request (from
/// `outbound.close`) sends the queued frames, then the close frame; a peer
/// that does not read is dropped after a grace period.
pub(crate) async fn drive<S, H>(
    ws: WebSocketStream<Metered<S>>,
    rx: OutboundReceiver,
    outbound: &Outbound,
    limits: Limits,
    handler: &H,
) -> Disconnect
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: FrameHandler,
{
    let close_watch = rx.close.clone();
    let mut conn = Conn {
        ws,
        rx,
        outbound,
        replies: ReplyQueue::default(),
        held: None,
        unflushed: false,
        written: 0,
        close: None,
        close_sent: false,
    };
    let end = {
        let close_requested = close_requested(close_watch);
        let handle = |frame: WireFrame| handler.on_frame(frame);
        // The frame being handled, when it had to wait.
        let busy = none_like(&handle);
        tokio::pin!(close_requested, busy);
        let mut idle = limits.keepalive.map(|limit| IdleWatch {
            deadline: Deadline::new(limit, limit / 2),
            pinged: false,
        });
        let mut heartbeat = limits.heartbeat.map(|limit| Deadline::new(limit, limit));
        let mut send_watch = limits.send_timeout.map(|limit| SendWatch {
            deadline: None,
            limit,
            armed: false,
        });
        // From a close request: how long the peer has to take the queue
        // and the close frame before the socket is dropped.
        let mut hard_close: Option<Pin<Box<Sleep>>> = None;
        // From the end of the writer (the close frame is out, or the
        // socket failed): how long the peer has to answer.
        let mut writer_done: Option<Pin<Box<Sleep>>> = None;
        let grace = || Some(Box::pin(tokio::time::sleep(CLOSE_GRACE)));
        let mut first_turn = true;
        poll_fn(|cx| {
            // Polled once to register, then only once a close was asked for.
            if conn.close.is_none()
                && (first_turn || outbound.is_closing())
                && close_requested.as_mut().poll(cx).is_ready()
            {
                conn.close = outbound.close_request();
                hard_close = Some(Box::pin(tokio::time::sleep(CLOSE_GRACE * 2)));
            }
            first_turn = false;
            if writer_done.is_none() && conn.poll_write(cx).is_ready() {
                writer_done = grace();
            }
            // The reader: every frame already there, each handled at once
            // when it can be, else through its future, polled here first.
            let limit = outbound.capacity().div_ceil(2);
            // Anything received (pongs included), and data frames.
            let mut read_any = false;
            let mut read_data = false;
            let mut yielded = false;
            loop {
                if let Some(frame) = busy.as_mut().as_pin_mut() {
                    if frame.poll(cx).is_pending() {
                        break;
                    }
                    busy.set(None);
                    // Time spent on a frame is not the peer's silence.
                    read_data = true;
                }
                if conn.waiting() >= limit {
                    yielded = true;
                    break;
                }
                match conn.poll_next(cx) {
                    Poll::Pending => break,
                    Poll::Ready(Err(end)) => return Poll::Ready(end),
                    Poll::Ready(Ok(frame)) => {
                        read_any = true;
                        let Some(frame) = frame else { continue };
                        read_data = true;
                        let mut replies = Replies {
                            queue: &mut conn.replies,
                            outbound,
                        };
                        if !handler.on_frame_now(&frame, &mut replies, cx) {
                            busy.set(Some(handle(frame.into())));
                        }
                    }
                }
            }
            if writer_done.is_none()
                && (conn.waiting() > 0 || conn.unflushed)
                && conn.poll_write(cx).is_ready()
            {
                writer_done = grace();
            }
            if yielded && conn.waiting() < limit {
                // The writer made room: read on after the other tasks' turn.
                cx.waker().wake_by_ref();
            }
            let active = read_data || yielded || busy.is_some();
            let now = (active || read_any).then(Instant::now);
            if let Some(heartbeat) = &mut heartbeat {
                if let (true, Some(now)) = (active, now) {
                    heartbeat.restart(now);
                } else if heartbeat.poll_passed(heartbeat.limit, cx).is_ready() {
                    outbound.close(
                        close_code::HEARTBEAT_TIMEOUT,
                        format!(
                            "Receive heartbeat timeout: no heartbeat or data for {} ms",
                            heartbeat.limit.as_millis()
                        ),
                    );
                    return Poll::Ready(ReadEnd::Local);
                }
            }
            if let Some(idle) = &mut idle {
                if let Some(now) = now {
                    idle.restart(now);
                } else {
                    match idle.poll(cx) {
                        Poll::Pending => {}
                        // Any WebSocket peer answers a ping by itself.
                        // Not into a queue that is filling up: the ping
                        // must never be what closes it as full (the send
                        // timeout judges a peer that does not read).
                        Poll::Ready(Idle::Ping) => {
                            if conn.waiting() < outbound.capacity() / 2 {
                                let _ = outbound.send(Message::Ping(Bytes::new()));
                            }
                        }
                        Poll::Ready(Idle::Expired) => {
                            outbound.close(
                                close_code::HEARTBEAT_TIMEOUT,
                                format!(
                                    "Receive heartbeat timeout: nothing received for {} ms, not even a pong",
                                    idle.deadline.limit.as_millis()
                                ),
                            );
                            return Poll::Ready(ReadEnd::Local);
                        }
                    }
                }
            }
            let progressed = conn.progressed();
            if let Some(watch) = &mut send_watch
                && conn.close.is_none()
                && watch.poll(conn.blocked(), progressed, cx).is_ready()
            {
                outbound.close(
                    close_code::POLICY,
                    format!(
                        "the peer is not reading: {} bytes waited {} ms without any taken",
                        conn.waiting(),
                        watch.limit.as_millis()
                    ),
                );
                return Poll::Ready(ReadEnd::Local);
            }
            for deadline in [&mut hard_close, &mut writer_done].into_iter().flatten() {
                if deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(ReadEnd::Local);
                }
            }
            Poll::Pending
        })
        .await
    };
    let mut ws = conn.ws;
    let request = outbound.close_request();
    if let (ReadEnd::Local, Some(request), false) = (&end, &request, conn.close_sent) {
        let _ = tokio::time::timeout(CLOSE_GRACE, ws.send(close_message(request))).await;
    }
    // Flushes a close reply tungstenite queued for the peer's close frame.
    let _ = tokio::time::timeout(CLOSE_GRACE, SinkExt::close(&mut ws)).await;
    // Nothing more will be written: wake anyone waiting on this queue.
    outbound.close(close_code::NORMAL, "connection closed");
    match (end, request) {
        // The peer answered a close this side asked for: still this side's close.
        (ReadEnd::Remote(_), Some(request)) => Disconnect {
            code: Some(request.code),
            reason: request.reason,
            local: true,
        },
        (ReadEnd::Remote(d), None) => d,
        (ReadEnd::Local, Some(request)) => Disconnect {
            code: Some(request.code),
            reason: request.reason,
            local: true,
        },
        (ReadEnd::Local, None) => Disconnect {
            code: None,
            reason: "connection closed".into(),
            local: true,
        },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reasons_are_cut_on_char_boundaries() {
        let long = "é".repeat(100);
        let cut = super::truncate_reason(&long);
        assert!(cut.len() <= super::MAX_REASON && cut.chars().all(|c| c == 'é'));
        assert_eq!(super::truncate_reason("short"), "short");
    }
}
