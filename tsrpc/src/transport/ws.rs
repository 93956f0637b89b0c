//! Drives one WebSocket connection (either side): reads frames into a
//! [`FrameHandler`], writes the [`Outbound`] queue, closes with a code and
//! a reason.

use std::future::{Future, poll_fn};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use super::outbound::CloseRequest;
use super::{Disconnect, FrameHandler, Outbound, OutboundReceiver, close_code};
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

/// A frame ready to be queued; cheap to clone (the bytes are shared), so a
/// broadcast converts once and clones per receiver.
pub(crate) fn to_message(frame: WireFrame) -> Message {
    match frame {
        WireFrame::Text(bytes) => match Utf8Bytes::try_from(bytes) {
            Ok(text) => Message::Text(text),
            // The JSON encoder only writes UTF-8; never send invalid text.
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

async fn read_loop<S, H>(
    stream: &mut futures_util::stream::SplitStream<WebSocketStream<S>>,
    idle_limit: Option<Duration>,
    outbound: &Outbound,
    handler: &H,
) -> ReadEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: FrameHandler,
{
    loop {
        let next = match idle_limit {
            None => stream.next().await,
            Some(limit) => match tokio::time::timeout(limit, stream.next()).await {
                Ok(next) => next,
                Err(_) => {
                    outbound.close(
                        close_code::HEARTBEAT_TIMEOUT,
                        format!(
                            "Receive heartbeat timeout: nothing received for {} ms",
                            limit.as_millis()
                        ),
                    );
                    return ReadEnd::Local;
                }
            },
        };
        let remote = |code: Option<u16>, reason: String| {
            ReadEnd::Remote(Disconnect {
                code,
                reason,
                local: false,
            })
        };
        match next {
            Some(Ok(Message::Text(text))) => {
                handler.on_frame(WireFrame::Text(Bytes::from(text))).await;
                let_the_writer_run(outbound).await;
            }
            Some(Ok(Message::Binary(data))) => {
                handler.on_frame(WireFrame::Binary(data)).await;
                let_the_writer_run(outbound).await;
            }
            // tungstenite answers pings itself; any frame proves the peer alive.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Close(frame))) => {
                return match frame {
                    Some(f) => remote(Some(u16::from(f.code)), f.reason.to_string()),
                    None => remote(None, "closed by the peer".into()),
                };
            }
            Some(Err(WsError::Capacity(e))) => {
                outbound.close(close_code::TOO_BIG, format!("Message too big: {e}"));
                return ReadEnd::Local;
            }
            Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) | None => {
                return remote(
                    None,
                    "the connection was closed without a close frame".into(),
                );
            }
            Some(Err(e)) => {
                if outbound.is_closing() {
                    return ReadEnd::Local;
                }
                return remote(None, format!("connection error: {e}"));
            }
        }
    }
}

/// Yields once the frames read so far have half filled the outbound queue
/// (answers to calls that finished at once), so that the writer sends them
/// before more are read: a client that sends many calls at once before it
/// reads any answer is not a client that stopped reading.
async fn let_the_writer_run(outbound: &Outbound) {
    if outbound.wants_flush() {
        tokio::task::yield_now().await;
    }
}

async fn write_loop<S>(
    sink: &mut futures_util::stream::SplitSink<WebSocketStream<S>, Message>,
    rx: &mut OutboundReceiver,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // One wait for the whole loop: registering a new one for every frame
    // would cost a lock per frame.
    let close = close_requested(rx.close.clone());
    tokio::pin!(close);
    loop {
        tokio::select! {
            biased;
            () = &mut close => {
                let request = rx.close.borrow().clone();
                if let Some(request) = request {
                    // Frames queued before the close request go out first.
                    while let Some(frame) = rx.try_recv() {
                        if sink.feed(frame).await.is_err() {
                            return;
                        }
                    }
                    let _ = sink.send(close_message(&request)).await;
                }
                // Else the sending side is gone: nothing more can be queued.
                return;
            }
            frame = rx.recv() => {
                let Some(frame) = frame else { return };
                if sink.feed(frame).await.is_err() {
                    return;
                }
                // Batch whatever else is queued into one flush.
                while let Some(frame) = rx.try_recv() {
                    if sink.feed(frame).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn close_requested(mut close: watch::Receiver<Option<CloseRequest>>) {
    let _ = close.wait_for(Option::is_some).await;
}

/// Runs a connection until it ends, and says why it ended.
///
/// `idle_limit` closes the connection (code 3001) when nothing at all was
/// received for that long. A close request (from `outbound.close`) sends
/// the queued frames, then the close frame; a peer that does not read is
/// dropped after a grace period.
pub(crate) async fn drive<S, H>(
    ws: WebSocketStream<S>,
    mut rx: OutboundReceiver,
    outbound: &Outbound,
    idle_limit: Option<Duration>,
    handler: &H,
) -> Disconnect
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: FrameHandler,
{
    let (mut sink, mut stream) = ws.split();
    let close_watch = rx.close.clone();
    let end = {
        let writer = write_loop(&mut sink, &mut rx);
        let reader = read_loop(&mut stream, idle_limit, outbound, handler);
        let hard_close = async {
            close_requested(close_watch).await;
            tokio::time::sleep(CLOSE_GRACE * 2).await;
        };
        tokio::pin!(writer, reader, hard_close);
        // The writer goes first (what finished since the last turn), then
        // the reader, then the writer again if the reader queued anything:
        // the replies the reader's frames produced at once leave in the same
        // turn, in one write, instead of waiting for the task's next turn
        // behind every other connection. Starting each turn with the writer
        // means a busy reader never starves it.
        let first = poll_fn(|cx| {
            if writer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            if let Poll::Ready(end) = reader.as_mut().poll(cx) {
                return Poll::Ready(Some(end));
            }
            if outbound.queued() > 0 && writer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            if hard_close.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Some(ReadEnd::Local));
            }
            Poll::Pending
        })
        .await;
        match first {
            Some(end) => end,
            // The close frame is out (or the socket broke): give the peer
            // a moment to answer it.
            None => tokio::select! {
                end = &mut reader => end,
                () = tokio::time::sleep(CLOSE_GRACE) => ReadEnd::Local,
            },
        }
    };
    let request = outbound.close_request();
    if let (ReadEnd::Local, Some(request)) = (&end, &request) {
        // Sent already unless the reader ended first; a second one is refused harmlessly.
        let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(close_message(request))).await;
    }
    // Flushes a close reply tungstenite queued for the peer's close frame.
    let _ = tokio::time::timeout(CLOSE_GRACE, sink.close()).await;
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
