//! The bounded outbound queue of one connection, and its close signal.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// A request to close the connection, with the code and reason to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CloseRequest {
    pub(crate) code: u16,
    pub(crate) reason: String,
}

/// The sending half: cheap to clone, never blocks.
#[derive(Clone, Debug)]
pub(crate) struct Outbound {
    tx: mpsc::Sender<Message>,
    close: Arc<CloseSignal>,
}

#[derive(Debug)]
struct CloseSignal {
    tx: watch::Sender<Option<CloseRequest>>,
    first: Mutex<Option<CloseRequest>>,
}

/// The receiving half, owned by the connection's writer.
#[derive(Debug)]
pub(crate) struct OutboundReceiver {
    pub(crate) frames: mpsc::Receiver<Message>,
    pub(crate) close: watch::Receiver<Option<CloseRequest>>,
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
    let (tx, frames) = mpsc::channel(capacity.max(1));
    let (close_tx, close) = watch::channel(None);
    let outbound = Outbound {
        tx,
        close: Arc::new(CloseSignal {
            tx: close_tx,
            first: Mutex::new(None),
        }),
    };
    (outbound, OutboundReceiver { frames, close })
}

impl Outbound {
    /// Queues a frame. A full queue means the peer stopped reading: the
    /// connection is closed rather than letting the queue grow or the
    /// sender wait.
    pub(crate) fn send(&self, frame: Message) -> Result<(), SendError> {
        if self.is_closing() {
            return Err(SendError::Closed);
        }
        match self.tx.try_send(frame) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close(
                    super::close_code::POLICY,
                    format!(
                        "outbound queue full ({} frames): the peer is not reading",
                        self.tx.max_capacity()
                    ),
                );
                Err(SendError::Full)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Closed),
        }
    }

    /// Asks the writer to close the connection. The first request wins.
    pub(crate) fn close(&self, code: u16, reason: impl Into<String>) {
        let mut first = self
            .close
            .first
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            let request = CloseRequest {
                code,
                reason: reason.into(),
            };
            *first = Some(request.clone());
            self.close.tx.send_replace(Some(request));
        }
    }

    /// The close request, once one was made.
    pub(crate) fn close_request(&self) -> Option<CloseRequest> {
        self.close
            .first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many frames wait in the queue.
    pub(crate) fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// True once a close was requested or the writer is gone.
    pub(crate) fn is_closing(&self) -> bool {
        self.tx.is_closed() || self.close.tx.borrow().is_some()
    }
}
