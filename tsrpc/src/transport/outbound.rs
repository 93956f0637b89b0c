//! The bounded outbound queue of one connection, and its close signal.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// A request to close the connection, with the code and reason to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CloseRequest {
    pub(crate) code: u16,
    pub(crate) reason: String,
}

/// The sending half: cheap to clone, never blocks.
///
/// The bound is kept by a counter beside tokio's unbounded channel rather
/// than by tokio's bounded channel, whose receiver takes a lock for every
/// frame to give its permit back: queuing and taking a frame here are a
/// few atomic operations each.
#[derive(Clone, Debug)]
pub(crate) struct Outbound {
    tx: mpsc::UnboundedSender<Message>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Frames queued and not yet taken by the writer.
    queued: AtomicUsize,
    capacity: usize,
    /// Set with the first close request, so senders check it without a lock.
    closing: AtomicBool,
    close_tx: watch::Sender<Option<CloseRequest>>,
    first: Mutex<Option<CloseRequest>>,
}

/// The receiving half, owned by the connection's writer.
#[derive(Debug)]
pub(crate) struct OutboundReceiver {
    frames: mpsc::UnboundedReceiver<Message>,
    shared: Arc<Shared>,
    pub(crate) close: watch::Receiver<Option<CloseRequest>>,
}

impl OutboundReceiver {
    /// The next frame, or `Pending` with the task woken when one is queued.
    /// `Ready(None)` once every sender is gone and the queue is empty.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        let frame = std::task::ready!(self.frames.poll_recv(cx));
        if frame.is_some() {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
        }
        Poll::Ready(frame)
    }

    /// The next frame if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<Message> {
        let frame = self.frames.try_recv().ok();
        if frame.is_some() {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
        }
        frame
    }
}

/// Why a frame was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The connection is closed or closing.
    Closed,
    /// The queue was full: the peer does not read. The connection is being closed.
    Full,
}

/// A queue of at most `capacity` frames.
pub(crate) fn channel(capacity: usize) -> (Outbound, OutboundReceiver) {
    let (tx, frames) = mpsc::unbounded_channel();
    let (close_tx, close) = watch::channel(None);
    let shared = Arc::new(Shared {
        queued: AtomicUsize::new(0),
        capacity: capacity.max(1),
        closing: AtomicBool::new(false),
        close_tx,
        first: Mutex::new(None),
    });
    let outbound = Outbound {
        tx,
        shared: shared.clone(),
    };
    (
        outbound,
        OutboundReceiver {
            frames,
            shared,
            close,
        },
    )
}

impl Outbound {
    /// Queues a frame. A full queue means the peer stopped reading: the
    /// connection is closed rather than letting the queue grow or the
    /// sender wait.
    pub(crate) fn send(&self, frame: Message) -> Result<(), SendError> {
        if self.is_closing() {
            return Err(SendError::Closed);
        }
        let shared = &self.shared;
        if shared.queued.fetch_add(1, Ordering::AcqRel) >= shared.capacity {
            shared.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(self.full());
        }
        if self.tx.send(frame).is_err() {
            shared.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(SendError::Closed);
        }
        Ok(())
    }

    /// Closes the connection whose queue is full.
    fn full(&self) -> SendError {
        self.close(
            super::close_code::POLICY,
            format!(
                "outbound queue full ({} frames): the peer is not reading",
                self.shared.capacity
            ),
        );
        SendError::Full
    }

    /// How many frames the queue holds at most.
    pub(crate) fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Asks the writer to close the connection. The first request wins.
    pub(crate) fn close(&self, code: u16, reason: impl Into<String>) {
        let mut first = self
            .shared
            .first
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            let request = CloseRequest {
                code,
                reason: reason.into(),
            };
            *first = Some(request.clone());
            self.shared.closing.store(true, Ordering::Release);
            self.shared.close_tx.send_replace(Some(request));
        }
    }

    /// The close request, once one was made.
    pub(crate) fn close_request(&self) -> Option<CloseRequest> {
        self.shared
            .first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many frames wait in the queue.
    pub(crate) fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }

    /// True once a close was requested or the writer is gone.
    pub(crate) fn is_closing(&self) -> bool {
        self.shared.closing.load(Ordering::Acquire) || self.tx.is_closed()
    }
}

/// Frames the connection's own task makes while it reads (the answers to
/// calls that finished at once): they wait beside the queue, in the task's
/// own memory, and are written in the same turn without crossing the
/// channel. They count against the queue's bound, and keep their order
/// with queued frames: while frames wait in the queue, later ones join it.
pub(crate) struct Replies<'a> {
    pub(super) frames: &'a mut VecDeque<Message>,
    pub(super) outbound: &'a Outbound,
}

impl Replies<'_> {
    /// Sends a frame, as [`Outbound::send`] does.
    pub(crate) fn send(&mut self, frame: Message) -> Result<(), SendError> {
        if self.outbound.queued() > 0 {
            return self.outbound.send(frame);
        }
        if self.outbound.is_closing() {
            return Err(SendError::Closed);
        }
        if self.frames.len() >= self.outbound.capacity() {
            return Err(self.outbound.full());
        }
        self.frames.push_back(frame);
        Ok(())
    }
}
