//! Which connections the listener keeps: caps on open connections, in all
//! and per remote IP, and the watch that lets go of idle HTTP connections
//! and of request bodies that never end.
//!
//! Every accepted socket holds a [`Slot`] until it is closed (an upgraded
//! WebSocket keeps its HTTP connection's slot). A socket that has not yet
//! sent a whole request is *unused*: it costs a descriptor and proves
//! nothing, so when a cap is reached, or the process runs out of
//! descriptors, the oldest unused socket makes way for the new one. Only
//! when no unused socket is left is a new connection refused, with a
//! plain HTTP answer (503, or 429 for the per-IP cap) before it is closed.
//!
//! The watch costs the requests nothing but a few atomic operations: a
//! task per listener samples every HTTP connection's counters a few times per timeout,
//! and stops a connection by marking its socket ([`Watched`]), whose next
//! read ends.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::task::lock;

/// Caps on open connections; `None` is no cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Caps {
    pub(crate) total: Option<usize>,
    pub(crate) per_ip: Option<usize>,
}

impl Caps {
    /// The default cap on open connections, from the process's limit on
    /// open files (as HAProxy does): nine tenths of it, keeping at least 32
    /// descriptors (at most half) for everything else, so that the cap is
    /// reached, and answered, before the process runs out. 10,000 where
    /// the limit cannot be read.
    pub(crate) fn default_total() -> usize {
        #[cfg(unix)]
        if let Ok((soft, _)) = rlimit::getrlimit(rlimit::Resource::NOFILE)
            && soft > 0
            && soft != rlimit::INFINITY
        {
            let limit = usize::try_from(soft).unwrap_or(usize::MAX);
            let reserve = (limit / 10).max(32).min(limit / 2);
            return limit - reserve;
        }
        10_000
    }
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
    /// The refusal's HTTP status and text.
    pub(crate) fn answer(self) -> (http::StatusCode, String) {
        match self {
            Refusal::Full(cap) => (
                http::StatusCode::SERVICE_UNAVAILABLE,
                format!("too many connections: the server holds its limit of {cap}\n"),
            ),
            Refusal::PerIp(cap) => (
                http::StatusCode::TOO_MANY_REQUESTS,
                format!("too many connections from your address (the limit is {cap})\n"),
            ),
        }
    }

    /// The HTTP answer written to the refused socket before closing it.
    pub(crate) fn response(self) -> String {
        let (status, text) = self.answer();
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
    /// Every counted connection, by sequence number, with its remote
    /// address where known.
    open: HashMap<u64, (Option<IpAddr>, Weak<Slot>)>,
    per_ip: HashMap<IpAddr, usize>,
    /// Unused connections, oldest first.
    unused: BTreeMap<u64, Option<IpAddr>>,
    next: u64,
}

impl State {
    /// Stops counting a connection; nothing if it was not counted.
    fn forget(&mut self, seq: u64) -> Option<Weak<Slot>> {
        let (ip, slot) = self.open.remove(&seq)?;
        if let Some(ip) = ip
            && let Some(n) = self.per_ip.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
        self.unused.remove(&seq);
        Some(slot)
    }

    /// Stops counting the oldest unused connection (of `ip` only, if
    /// given), and returns it to be stopped ([`Evicted::stop`]) once the
    /// lock is released: its slot may be dropped then, which takes the lock.
    fn evict(&mut self, ip: Option<IpAddr>) -> Option<Evicted> {
        let oldest = self
            .unused
            .iter()
            .find(|(_, from)| ip.is_none_or(|ip| Some(ip) == **from))
            .map(|(&seq, _)| seq)?;
        self.forget(oldest).map(Evicted)
    }
}

/// A connection evicted under the lock, to stop after it.
#[must_use = "stop it once the lock is released"]
struct Evicted(Weak<Slot>);

impl Evicted {
    fn stop(self) {
        if let Some(slot) = self.0.upgrade() {
            slot.stop(Stop::All);
        }
    }
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
        self.admit_from(Some(ip), false)
    }

    /// Admits a connection that is in use from the start and never made
    /// to make way: a WebSocket opened through a mounted service, whose
    /// host owns (and watches) the underlying connections. Without its
    /// remote address, only the total cap applies.
    pub(crate) fn admit_in_use(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<Arc<Slot>, Refusal> {
        self.admit_from(ip, true)
    }

    fn admit_from(
        self: &Arc<Self>,
        ip: Option<IpAddr>,
        in_use: bool,
    ) -> Result<Arc<Slot>, Refusal> {
        let mut evicted = Vec::new();
        let admitted = self.admit_locked(&mut lock(&self.state), ip, in_use, &mut evicted);
        for connection in evicted {
            connection.stop();
        }
        admitted
    }

    fn admit_locked(
        self: &Arc<Self>,
        state: &mut State,
        ip: Option<IpAddr>,
        in_use: bool,
        evicted: &mut Vec<Evicted>,
    ) -> Result<Arc<Slot>, Refusal> {
        if let (Some(cap), Some(ip)) = (self.caps.per_ip, ip)
            && state.per_ip.get(&ip).copied().unwrap_or(0) >= cap
        {
            evicted.push(state.evict(Some(ip)).ok_or(Refusal::PerIp(cap))?);
        }
        if let Some(cap) = self.caps.total
            && state.open.len() >= cap
        {
            evicted.push(state.evict(None).ok_or(Refusal::Full(cap))?);
        }
        let seq = state.next;
        state.next += 1;
        if let Some(ip) = ip {
            *state.per_ip.entry(ip).or_default() += 1;
        }
        let slot = Arc::new(Slot {
            seq,
            admission: self.clone(),
            used: AtomicBool::new(in_use),
            upgraded: AtomicBool::new(false),
            stopped: AtomicU8::new(Stop::None as u8),
            waker: AtomicWaker::new(),
            has_waker: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            write_blocked: AtomicBool::new(false),
            writes_resumed: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            reading_body: AtomicU64::new(0),
            looks: Mutex::new(Looks {
                requests: u64::MAX,
                ..Looks::default()
            }),
        });
        state.open.insert(seq, (ip, Arc::downgrade(&slot)));
        if !in_use {
            state.unused.insert(seq, ip);
        }
        Ok(slot)
    }

    /// Closes the oldest unused connection to free its descriptor (the
    /// process ran out of them); false when there is none.
    pub(crate) fn evict_unused(&self) -> bool {
        let evicted = lock(&self.state).evict(None);
        evicted.map(Evicted::stop).is_some()
    }

    /// How many connections are open.
    #[cfg(test)]
    fn open(&self) -> usize {
        lock(&self.state).open.len()
    }
}

/// How much of a connection was stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Stop {
    None = 0,
    /// Reads end (a body that never arrived), the answer may still go out.
    Reads = 1,
    /// Reads and writes end.
    All = 2,
}

/// One open connection's place in its listener.
#[derive(Debug)]
pub(crate) struct Slot {
    seq: u64,
    admission: Arc<Admission>,
    used: AtomicBool,
    /// A WebSocket now: no longer watched as HTTP.
    upgraded: AtomicBool,
    stopped: AtomicU8,
    /// The connection's task, kept the first time its socket had nothing
    /// to give (a spawned task keeps its waker: one is enough), until the
    /// socket is upgraded (a waker keeps its task's memory).
    waker: AtomicWaker,
    has_waker: AtomicBool,
    /// Requests being answered (their responses included).
    active: AtomicUsize,
    /// A write is waiting for the peer to take bytes (its socket is full).
    write_blocked: AtomicBool,
    /// Times a waiting write went on: the peer's progress.
    writes_resumed: AtomicU64,
    /// Requests begun, ever.
    requests: AtomicU64,
    /// The number (from 1) of the request whose body is being read; 0
    /// when none is.
    reading_body: AtomicU64,
    /// The watch's own notes; only it takes the lock.
    looks: Mutex<Looks>,
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
        if !self.used.load(Ordering::Relaxed) && !self.used.swap(true, Ordering::AcqRel) {
            lock(&self.admission.state).unused.remove(&self.seq);
        }
        self.active.fetch_add(1, Ordering::AcqRel);
        let number = self.requests.fetch_add(1, Ordering::AcqRel) + 1;
        Active {
            slot: self.clone(),
            number,
        }
    }

    /// The socket now carries a WebSocket, which watches itself.
    pub(crate) fn upgraded(&self) {
        self.upgraded.store(true, Ordering::Release);
        drop(self.waker.take());
    }

    fn stop(&self, how: Stop) {
        self.stopped.fetch_max(how as u8, Ordering::AcqRel);
        self.waker.wake();
    }

    fn stopped(&self) -> u8 {
        self.stopped.load(Ordering::Acquire)
    }

    /// Keeps the connection task's waker (once), for the watch to wake it
    /// when it stops the connection; a stop made before is not missed.
    fn keep_waker(&self, cx: &mut Context<'_>) {
        if !self.has_waker.load(Ordering::Relaxed)
            && !self.upgraded.load(Ordering::Acquire)
            && !self.has_waker.swap(true, Ordering::AcqRel)
        {
            self.waker.register(cx.waker());
            if self.stopped() != Stop::None as u8 {
                cx.waker().wake_by_ref();
            }
        }
    }

    /// Completes once the watch stops the connection (evicted to make
    /// room, idle too long), for a wait that does not go through the
    /// watched socket: the first byte of a TLS connection, peeked.
    #[cfg(feature = "tls")]
    pub(crate) async fn until_stopped(&self) {
        std::future::poll_fn(|cx| {
            if self.stopped() != Stop::None as u8 {
                return Poll::Ready(());
            }
            self.keep_waker(cx);
            Poll::Pending
        })
        .await;
    }

    /// Wraps the connection's socket so that the watch can stop it.
    pub(crate) fn watch_io<IO>(self: &Arc<Self>, io: IO) -> Watched<IO> {
        Watched {
            io,
            slot: self.clone(),
        }
    }
}

/// A request in progress on a connection (see [`Slot::begin_request`]).
#[derive(Debug)]
pub(crate) struct Active {
    slot: Arc<Slot>,
    number: u64,
}

impl Active {
    /// The connection's slot.
    pub(crate) fn slot(&self) -> &Slot {
        &self.slot
    }

    /// Marks the request's body as being read until the returned guard
    /// is dropped: the watch stops a body that takes too long.
    pub(crate) fn reading_body(&self) -> ReadingBody<'_> {
        self.slot.reading_body.store(self.number, Ordering::Release);
        ReadingBody(self)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.slot.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// See [`Active::reading_body`].
#[derive(Debug)]
pub(crate) struct ReadingBody<'a>(&'a Active);

impl ReadingBody<'_> {
    /// True when the watch stopped the body for taking too long.
    pub(crate) fn timed_out(&self) -> bool {
        self.0.slot.stopped() != Stop::None as u8
    }
}

impl Drop for ReadingBody<'_> {
    fn drop(&mut self) {
        let _ = self.0.slot.reading_body.compare_exchange(
            self.0.number,
            0,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }
}

/// What the watch saw of one HTTP connection at its last look.
#[derive(Debug, Default)]
struct Looks {
    /// Looks in a row that found it idle, with no request begun between.
    idle: u32,
    requests: u64,
    /// Looks in a row that found the same request body being read.
    body: u32,
    reading: u64,
    /// Looks in a row that found a write waiting on the peer, with no
    /// write taken between.
    stalled: u32,
    resumed: u64,
}

impl Admission {
    /// Watches every HTTP connection of the listener, in one task for all
    /// of them, until the listener and its connections are gone: stops a
    /// connection that had no request in progress for `idle` (its first
    /// request included), stops reading a request body that took longer
    /// than `body`, and stops a connection whose peer took none of a
    /// response for `send` (a peer that never reads would otherwise hold
    /// its connection for ever: the response keeps it busy). The counters
    /// are sampled four times per limit, so a limit takes effect between
    /// it and a quarter more.
    pub(crate) async fn watch(
        admission: Weak<Admission>,
        idle: Duration,
        body: Duration,
        send: Option<Duration>,
    ) {
        let shortest = send.map_or(idle.min(body), |send| idle.min(body).min(send));
        let tick = (shortest / 4).max(Duration::from_millis(1));
        let ticks = |limit: Duration| limit.as_nanos().div_ceil(tick.as_nanos()) + 1;
        let (idle_ticks, body_ticks) = (ticks(idle), ticks(body));
        let send_ticks = send.map_or(u128::MAX, ticks);
        let mut slots = Vec::new();
        loop {
            tokio::time::sleep(tick).await;
            let Some(admission) = admission.upgrade() else {
                return;
            };
            slots.clear();
            slots.extend(
                lock(&admission.state)
                    .open
                    .values()
                    .filter_map(|(_, slot)| slot.upgrade()),
            );
            drop(admission);
            for slot in slots.drain(..) {
                if slot.upgraded.load(Ordering::Acquire) || slot.stopped() == Stop::All as u8 {
                    continue;
                }
                let mut looks = lock(&slot.looks);
                let requests = slot.requests.load(Ordering::Acquire);
                let busy = slot.active.load(Ordering::Acquire) > 0;
                looks.idle = if !busy && requests == looks.requests {
                    looks.idle + 1
                } else {
                    // Not idle since the last look (or only since this one).
                    u32::from(!busy)
                };
                looks.requests = requests;
                let reading = slot.reading_body.load(Ordering::Acquire);
                looks.body = if reading != 0 && reading == looks.reading {
                    looks.body + 1
                } else {
                    u32::from(reading != 0)
                };
                looks.reading = reading;
                let blocked = slot.write_blocked.load(Ordering::Acquire);
                let resumed = slot.writes_resumed.load(Ordering::Acquire);
                looks.stalled = if blocked && resumed == looks.resumed {
                    looks.stalled + 1
                } else {
                    u32::from(blocked)
                };
                looks.resumed = resumed;
                if u128::from(looks.stalled) >= send_ticks {
                    tracing::debug!(
                        "closing an HTTP connection whose peer took nothing for {send:?}"
                    );
                    slot.stop(Stop::All);
                } else if u128::from(looks.idle) >= idle_ticks {
                    tracing::debug!("closing an HTTP connection idle for {idle:?}");
                    slot.stop(Stop::All);
                } else if u128::from(looks.body) >= body_ticks {
                    tracing::debug!("a request body took longer than {body:?}");
                    slot.stop(Stop::Reads);
                }
            }
        }
    }
}

/// A connection's socket, which ends (reads see the end of the stream,
/// writes fail) once the watch or an eviction stops the connection.
#[derive(Debug)]
pub(crate) struct Watched<IO> {
    io: IO,
    slot: Arc<Slot>,
}

impl<IO> Watched<IO> {
    /// Keeps the task's waker the first time the socket has nothing to
    /// give, so that a stop wakes the task; later polls pay one load. A
    /// stop made before the waker was kept is not missed: the task is
    /// woken at once to see it.
    fn pending<T>(&self, cx: &mut Context<'_>) -> Poll<T> {
        self.slot.keep_waker(cx);
        Poll::Pending
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.slot.stopped() != Stop::None as u8 {
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Pending => this.pending(cx),
            ready => ready,
        }
    }
}

impl<IO: AsyncWrite + Unpin> Watched<IO> {
    /// One write, unless the connection was stopped.
    fn write_with(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut IO>, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if self.slot.stopped() == Stop::All as u8 {
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        let slot = &self.slot;
        match write(Pin::new(&mut self.io), cx) {
            Poll::Pending => {
                // The peer takes nothing for now; the watch times it.
                if !slot.write_blocked.load(Ordering::Relaxed) {
                    slot.write_blocked.store(true, Ordering::Release);
                }
                self.pending(cx)
            }
            ready => {
                if slot.write_blocked.load(Ordering::Relaxed) {
                    slot.write_blocked.store(false, Ordering::Release);
                    slot.writes_resumed.fetch_add(1, Ordering::AcqRel);
                }
                ready
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .write_with(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .write_with(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::{Admission, Caps, Refusal, Stop};

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn the_oldest_unused_connection_makes_way() {
        let admission = Admission::new(Caps {
            total: Some(2),
            per_ip: None,
        });
        let first = admission.admit(A).expect("room");
        let second = admission.admit(B).expect("room");
        let _used = second.begin_request();
        let third = admission.admit(A).expect("the unused first one makes way");
        assert_eq!(
            first.stopped(),
            Stop::All as u8,
            "the evicted one is stopped"
        );
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

    #[test]
    fn the_per_ip_cap_evicts_only_that_ips_connections() {
        let admission = Admission::new(Caps {
            total: None,
            per_ip: Some(1),
        });
        let b = admission.admit(B).expect("room");
        let a = admission.admit(A).expect("room");
        let _a2 = admission.admit(A).expect("A's unused one makes way");
        assert_eq!(a.stopped(), Stop::All as u8);
        assert_eq!(admission.open(), 2);
        let _busy = b.begin_request();
        assert_eq!(admission.admit(B).unwrap_err(), Refusal::PerIp(1));
        assert!(Refusal::PerIp(1).response().starts_with("HTTP/1.1 429"));
    }

    #[test]
    fn connections_in_use_from_the_start_never_make_way() {
        let admission = Admission::new(Caps {
            total: Some(2),
            per_ip: Some(1),
        });
        let a = admission.admit_in_use(Some(A)).expect("room");
        assert_eq!(
            admission.admit_in_use(Some(A)).unwrap_err(),
            Refusal::PerIp(1)
        );
        // Without an address, only the total counts.
        let unknown = admission.admit_in_use(None).expect("room");
        assert_eq!(admission.admit_in_use(None).unwrap_err(), Refusal::Full(2));
        assert_eq!(admission.admit(B).unwrap_err(), Refusal::Full(2));
        assert_eq!(a.stopped(), Stop::None as u8);
        drop(unknown);
        let _b = admission.admit_in_use(Some(B)).expect("room again");
        drop(a);
        let _a = admission
            .admit_in_use(Some(A))
            .expect("A's socket was closed");
    }

    #[test]
    fn descriptors_are_freed_from_unused_connections_only() {
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

    #[tokio::test(start_paused = true)]
    async fn the_watch_stops_idle_connections_and_slow_bodies() {
        use std::time::Duration;
        let admission = Admission::new(Caps {
            total: None,
            per_ip: None,
        });
        let (idle, body) = (Duration::from_secs(10), Duration::from_secs(30));
        tokio::spawn(Admission::watch(
            std::sync::Arc::downgrade(&admission),
            idle,
            body,
            None,
        ));
        // Never used: stopped after the idle limit, and not before.
        let silent = admission.admit(A).unwrap();
        // Busy for longer than the idle limit: kept; its body, stopped.
        let busy = admission.admit(A).unwrap();
        let active = busy.begin_request();
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert_eq!(silent.stopped(), Stop::None as u8);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(silent.stopped(), Stop::All as u8);
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(busy.stopped(), Stop::None as u8, "a request is in progress");
        let reading = active.reading_body();
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert!(!reading.timed_out());
        tokio::time::sleep(Duration::from_secs(15)).await;
        assert!(reading.timed_out());
        assert_eq!(busy.stopped(), Stop::Reads as u8);
    }
}
