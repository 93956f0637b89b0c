//! The bounded outbound queue of one connection, and its close signal.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// A request to close the connection, with the code and reason to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CloseRequest {
    pub(crate) code: u16,
    pub(crate) reason: String,
}

/// What one queued frame costs beside its bytes: the queue's node and the
/// frame's header, so that a flood of empty frames is bounded too.
pub(crate) const FRAME_OVERHEAD: usize = 64;

/// The bytes a frame counts for against the queue's bound: its payload
/// (a frame queued ready-made counts its payload too, not its header).
pub(crate) fn cost(frame: &Message) -> usize {
    let len = match frame {
        Message::Frame(frame) => frame.payload().len(),
        frame => frame.len(),
    };
    len + FRAME_OVERHEAD
}

/// The bound's one rule: a frame of `cost` bytes joins `before` bytes if
/// together they stay within `capacity`, or if nothing waits (so that no
/// message the size limit allows is refused for its size alone).
fn fits(before: usize, cost: usize, capacity: usize) -> bool {
    before == 0 || before + cost <= capacity
}

/// The sending half: cheap to clone, never blocks.
///
/// The queue is bounded in bytes (each frame's length plus
/// [`FRAME_OVERHEAD`]), so the memory a connection can pin is known
/// whatever the sizes of its frames. A frame larger than the whole bound
/// is still taken by an empty queue, so no message that the size limit
/// allows is refused for its size alone.
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
    /// Bytes queued and not yet taken by the writer.
    queued: AtomicUsize,
    /// The bound, in bytes.
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
        if let Some(frame) = &frame {
            self.shared.queued.fetch_sub(cost(frame), Ordering::AcqRel);
        }
        Poll::Ready(frame)
    }

    /// The next frame if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<Message> {
        let frame = self.frames.try_recv().ok();
        if let Some(frame) = &frame {
            self.shared.queued.fetch_sub(cost(frame), Ordering::AcqRel);
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

/// A queue of at most `capacity` bytes.
pub(crate) fn channel(capacity: usize) -> (Outbound, OutboundReceiver) {
    let (tx, frames) = mpsc::unbounded_channel();
    let (close_tx, close) = watch::channel(None);
    let shared = Arc::new(Shared {
        queued: AtomicUsize::new(0),
        capacity: capacity.max(FRAME_OVERHEAD),
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
    /// Queues a frame. A full queue means the peer reads far slower than
    /// it is written to: the connection is closed rather than letting the
    /// queue grow or the sender wait.
    pub(crate) fn send(&self, frame: Message) -> Result<(), SendError> {
        if self.is_closing() {
            return Err(SendError::Closed);
        }
        let shared = &self.shared;
        let cost = cost(&frame);
        let before = shared.queued.fetch_add(cost, Ordering::AcqRel);
        if !fits(before, cost, shared.capacity) {
            shared.queued.fetch_sub(cost, Ordering::AcqRel);
            return Err(self.full());
        }
        if self.tx.send(frame).is_err() {
            shared.queued.fetch_sub(cost, Ordering::AcqRel);
            return Err(SendError::Closed);
        }
        Ok(())
    }

    /// Closes the connection whose queue is full.
    fn full(&self) -> SendError {
        self.close(
            super::close_code::POLICY,
            format!(
                "outbound queue full ({} bytes): the peer is not reading",
                self.shared.capacity
            ),
        );
        SendError::Full
    }

    /// How many bytes the queue holds at most.
    pub(crate) fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Asks the writer to close the connection. The first request wins.
    pub(crate) fn close(&self, code: u16, reason: impl Into<String>) {
        let mut first = crate::task::lock(&self.shared.first);
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
        crate::task::lock(&self.shared.first).clone()
    }

    /// How many bytes wait in the queue.
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
#[derive(Debug, Default)]
pub(crate) struct ReplyQueue {
    frames: VecDeque<Message>,
    /// What `frames` count against the bound, as [`cost`] says.
    bytes: usize,
}

impl ReplyQueue {
    pub(super) fn pop_front(&mut self) -> Option<Message> {
        let frame = self.frames.pop_front()?;
        self.bytes -= cost(&frame);
        Some(frame)
    }

    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }
}

/// A connection's [`ReplyQueue`] beside its [`Outbound`], lent to a frame
/// handler while it handles what was read.
pub(crate) struct Replies<'a> {
    pub(super) queue: &'a mut ReplyQueue,
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
        let cost = cost(&frame);
        if !fits(self.queue.bytes, cost, self.outbound.capacity()) {
            return Err(self.outbound.full());
        }
        self.queue.frames.push_back(frame);
        self.queue.bytes += cost;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tokio_tungstenite::tungstenite::Message;

    use super::{FRAME_OVERHEAD, Replies, ReplyQueue, SendError, channel};

    fn frame(len: usize) -> Message {
        Message::Binary(vec![7; len].into())
    }

    #[test]
    fn the_bound_is_in_bytes() {
        let (outbound, mut rx) = channel(10 * (100 + FRAME_OVERHEAD));
        for _ in 0..10 {
            outbound.send(frame(100)).expect("room for ten");
        }
        assert_eq!(outbound.queued(), 10 * (100 + FRAME_OVERHEAD));
        assert_eq!(outbound.send(frame(1)), Err(SendError::Full));
        let request = outbound.close_request().expect("a full queue closes");
        assert_eq!(request.code, crate::transport::close_code::POLICY);
        assert!(request.reason.contains("not reading"), "{}", request.reason);
        // Taking frames gives their bytes back.
        while rx.try_recv().is_some() {}
        assert_eq!(outbound.queued(), 0);
    }

    #[test]
    fn many_small_frames_fit_where_few_large_ones_do() {
        let (outbound, _rx) = channel(1 << 20);
        for _ in 0..5_000 {
            outbound.send(frame(20)).expect("small frames are cheap");
        }
        let (outbound, _rx) = channel(1 << 20);
        outbound
            .send(frame(600 << 10))
            .expect("the first large frame fits");
        assert_eq!(outbound.send(frame(600 << 10)), Err(SendError::Full));
    }

    #[test]
    fn an_empty_queue_takes_a_frame_larger_than_its_bound() {
        let (outbound, mut rx) = channel(1 << 10);
        outbound
            .send(frame(4 << 10))
            .expect("an empty queue takes it");
        assert_eq!(outbound.send(frame(1)), Err(SendError::Full));
        let (outbound, _rx2) = channel(1 << 10);
        let mut queue = ReplyQueue::default();
        let mut replies = Replies {
            queue: &mut queue,
            outbound: &outbound,
        };
        replies
            .send(frame(4 << 10))
            .expect("an empty reply queue takes it");
        assert_eq!(replies.send(frame(1)), Err(SendError::Full));
        assert!(rx.try_recv().is_some());
    }

    #[test]
    fn replies_count_against_the_bound_and_give_it_back() {
        let (outbound, _rx) = channel(3 * (10 + FRAME_OVERHEAD));
        let mut queue = ReplyQueue::default();
        let mut replies = Replies {
            queue: &mut queue,
            outbound: &outbound,
        };
        for _ in 0..3 {
            replies.send(frame(10)).expect("room for three");
        }
        assert_eq!(replies.send(frame(10)), Err(SendError::Full));
        while queue.pop_front().is_some() {}
        assert_eq!(queue.bytes(), 0);
    }

    #[test]
    fn replies_join_the_queue_while_it_holds_frames() {
        let (outbound, mut rx) = channel(1 << 20);
        outbound.send(frame(1)).expect("queued");
        let mut queue = ReplyQueue::default();
        Replies {
            queue: &mut queue,
            outbound: &outbound,
        }
        .send(frame(2))
        .expect("queued behind it");
        assert_eq!(queue.bytes(), 0, "kept in order behind the queued frame");
        assert_eq!(rx.try_recv().map(|m| m.len()), Some(1));
        assert_eq!(rx.try_recv().map(|m| m.len()), Some(2));
    }

    #[test]
    fn the_first_close_wins_and_nothing_is_queued_after_it() {
        let (tx, mut rx) = channel(1 << 10);
        assert!(!tx.is_closing() && tx.close_request().is_none());
        tx.close(1000, "bye");
        tx.close(1008, "later");
        let request = tx.close_request().expect("a close request");
        assert_eq!((request.code, request.reason.as_str()), (1000, "bye"));
        assert_eq!(rx.close.borrow().as_ref().map(|r| r.code), Some(1000));
        assert!(tx.is_closing());
        assert_eq!(tx.send(frame(1)), Err(SendError::Closed));
        assert!(rx.try_recv().is_none());
    }

    #[test]
    fn a_full_queue_asks_for_the_close_with_the_reason() {
        let (tx, _rx) = channel(100);
        tx.send(frame(100)).expect("an empty queue takes a frame");
        assert_eq!(tx.send(frame(1)), Err(SendError::Full));
        let request = tx.close_request().expect("closing");
        assert_eq!(request.code, crate::transport::close_code::POLICY);
        assert!(request.reason.contains("not reading"), "{}", request.reason);
    }

    #[test]
    fn the_writer_is_woken_by_a_frame_and_told_when_senders_are_gone() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::task::{Context, Poll, Wake, Waker};

        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let woken = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let (tx, mut rx) = channel(1 << 10);
        assert!(rx.poll_recv(&mut cx).is_pending());
        tx.send(frame(3)).expect("queued");
        assert_eq!(woken.0.load(Ordering::SeqCst), 1, "the writer was woken");
        assert_eq!(tx.queued(), 3 + FRAME_OVERHEAD);
        assert!(matches!(rx.poll_recv(&mut cx), Poll::Ready(Some(_))));
        assert_eq!(tx.queued(), 0, "a frame taken gives its bytes back");
        drop(tx);
        assert!(matches!(rx.poll_recv(&mut cx), Poll::Ready(None)));
    }
}
