//! Which connections the listener keeps: caps on open connections, in all
//! and per remote IP, and the idle watch of each HTTP connection.
//!
//! Every accepted socket holds a [`Slot`] until it is closed (an upgraded
//! WebSocket keeps its HTTP connection's slot). A socket that has not yet
//! sent a whole request is *unused*: it costs a descriptor and proves
//! nothing, so when a cap is reached, or the process runs out of
//! descriptors, the oldest unused socket makes way for the new one. Only
//! when no unused socket is left is a new connection refused, with a
//! plain HTTP answer (503, or 429 for the per-IP cap) before it is closed.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Caps on open connections; `None` is no cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Caps {
    pub(crate) total: Option<usize>,
    pub(crate) per_ip: Option<usize>,
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The server holds as many connections as it may.
    Full(usize),
    /// The remote address holds as many connections as it may.
    PerIp(usize),
}

impl Refusal {
    /// The HTTP answer written to the refused socket before closing it.
    pub(crate) fn response(self) -> String {
        let (status, text) = match self {
            Refusal::Full(cap) => (
                "503 Service Unavailable",
                format!("too many connections: the server holds its limit of {cap}\n"),
            ),
            Refusal::PerIp(cap) => (
                "429 Too Many Requests",
                format!("too many connections from your address (the limit is {cap})\n"),
            ),
        };
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{text}",
            text.len()
        )
    }
}

/// The open connections of one listener.
#[derive(Debug)]
pub(crate) struct Admission {
    caps: Caps,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Every counted connection, by sequence number.
    open: HashMap<u64, (IpAddr, Weak<Slot>)>,
    per_ip: HashMap<IpAddr, usize>,
    /// Unused connections, oldest first.
    unused: BTreeMap<u64, IpAddr>,
    next: u64,
}

impl State {
    /// Stops counting a connection; nothing if it was not counted.
    fn forget(&mut self, seq: u64) -> Option<Weak<Slot>> {
        let (ip, slot) = self.open.remove(&seq)?;
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
        self.unused.remove(&seq);
        Some(slot)
    }

    /// Closes the oldest unused connection (of `ip` only, if given); false
    /// when there is none.
    fn evict(&mut self, ip: Option<IpAddr>) -> bool {
        let oldest = self
            .unused
            .iter()
            .find(|(_, from)| ip.is_none_or(|ip| ip == **from))
            .map(|(&seq, _)| seq);
        let Some(slot) = oldest.and_then(|seq| self.forget(seq)) else {
            return false;
        };
        if let Some(slot) = slot.upgrade() {
            slot.close.notify_one();
        }
        true
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Admission {
    pub(crate) fn new(caps: Caps) -> Arc<Self> {
        Arc::new(Admission {
            caps,
            state: Mutex::new(State::default()),
        })
    }

    /// Admits a new connection from `ip`, making way for it by closing the
    /// oldest unused connection when a cap is reached.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Arc<Slot>, Refusal> {
        let mut state = lock(&self.state);
        if let Some(cap) = self.caps.per_ip
            && state.per_ip.get(&ip).copied().unwrap_or(0) >= cap
            && !state.evict(Some(ip))
        {
            return Err(Refusal::PerIp(cap));
        }
        if let Some(cap) = self.caps.total
            && state.open.len() >= cap
            && !state.evict(None)
        {
            return Err(Refusal::Full(cap));
        }
        let seq = state.next;
        state.next += 1;
        *state.per_ip.entry(ip).or_default() += 1;
        let slot = Arc::new(Slot {
            seq,
            admission: self.clone(),
            used: AtomicBool::new(false),
            close: Notify::new(),
            active: AtomicUsize::new(0),
            started: Instant::now(),
            idle_since_ms: AtomicU64::new(0),
        });
        state.open.insert(seq, (ip, Arc::downgrade(&slot)));
        state.unused.insert(seq, ip);
        Ok(slot)
    }

    /// Closes the oldest unused connection to free its descriptor (the
    /// process ran out of them); false when there is none.
    pub(crate) fn evict_unused(&self) -> bool {
        lock(&self.state).evict(None)
    }

    /// How many connections are open.
    #[cfg(test)]
    fn open(&self) -> usize {
        lock(&self.state).open.len()
    }
}

/// One open connection's place in its listener.
#[derive(Debug)]
pub(crate) struct Slot {
    seq: u64,
    admission: Arc<Admission>,
    used: AtomicBool,
    /// Notified when the connection must close.
    close: Notify,
    /// Requests being answered (their responses included).
    active: AtomicUsize,
    started: Instant,
    /// When `active` last fell to zero, in ms after `started`.
    idle_since_ms: AtomicU64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.admission.state).forget(self.seq);
    }
}

impl Slot {
    /// Marks a request as begun; the connection is no longer idle until
    /// the returned guard is dropped (with the response's body).
    pub(crate) fn begin_request(self: &Arc<Self>) -> Active {
        if !self.used.swap(true, Ordering::AcqRel) {
            lock(&self.admission.state).unused.remove(&self.seq);
        }
        self.active.fetch_add(1, Ordering::AcqRel);
        Active(self.clone())
    }

    /// Resolves when the connection must close: it was evicted, or it had
    /// no request in progress for `idle` (from its start, or from the end
    /// of its last response).
    pub(crate) async fn closing(&self, idle: Duration) {
        loop {
            let deadline = if self.active.load(Ordering::Acquire) > 0 {
                Instant::now() + idle
            } else {
                let since = Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
                let deadline = self.started + since + idle;
                if Instant::now() >= deadline {
                    return;
                }
                deadline
            };
            tokio::select! {
                () = self.close.notified() => return,
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }
}

/// A request in progress on a connection (see [`Slot::begin_request`]).
#[derive(Debug)]
pub(crate) struct Active(Arc<Slot>);

impl Drop for Active {
    fn drop(&mut self) {
        let slot = &self.0;
        let ms = u64::try_from(slot.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        slot.idle_since_ms.store(ms, Ordering::Release);
        slot.active.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::{Admission, Caps, Refusal};

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    #[tokio::test]
    async fn the_oldest_unused_connection_makes_way() {
        let admission = Admission::new(Caps {
            total: Some(2),
            per_ip: None,
        });
        let first = admission.admit(A).expect("room");
        let second = admission.admit(B).expect("room");
        let _used = second.begin_request();
        let third = admission.admit(A).expect("the unused first one makes way");
        // The evicted one is told to close.
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            first.closing(super::Duration::from_secs(60)),
        )
        .await
        .expect("the evicted connection is closing");
        assert_eq!(admission.open(), 2);
        let _ = third.begin_request();
        // Every connection is in use: the next one is refused.
        assert_eq!(admission.admit(B).unwrap_err(), Refusal::Full(2));
        drop(first);
        assert_eq!(admission.open(), 2, "an evicted slot is not counted twice");
        drop(third);
        assert_eq!(admission.open(), 1);
        admission.admit(B).expect("room again");
    }

    #[tokio::test]
    async fn the_per_ip_cap_evicts_only_that_ips_connections() {
        let admission = Admission::new(Caps {
            total: None,
            per_ip: Some(1),
        });
        let b = admission.admit(B).expect("room");
        let a = admission.admit(A).expect("room");
        let _a2 = admission.admit(A).expect("A's unused one makes way");
        assert_eq!(admission.open(), 2);
        let _busy = b.begin_request();
        assert_eq!(admission.admit(B).unwrap_err(), Refusal::PerIp(1));
        drop(a);
        assert!(Refusal::PerIp(1).response().starts_with("HTTP/1.1 429"));
    }

    #[tokio::test]
    async fn descriptors_are_freed_from_unused_connections_only() {
        let admission = Admission::new(Caps {
            total: None,
            per_ip: None,
        });
        let used = admission.admit(A).expect("room");
        let _active = used.begin_request();
        assert!(!admission.evict_unused());
        let _unused = admission.admit(A).expect("room");
        assert!(admission.evict_unused());
        assert_eq!(admission.open(), 1);
    }
}
