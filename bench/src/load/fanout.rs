//! Broadcast fan-out: idle clients, one control connection that asks for
//! broadcasts, the time until the last client has each.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Notify, watch};
use tokio_tungstenite::tungstenite::Message;
use tsrpc::__wire::{self as codec, ServerFrame};
use tsrpc::{Encoding, WireFrame};

use super::{STALL, Ws, WsTarget, clip, connect_many, connect_ws};
use crate::proto::{ReqBroadcast, ResBroadcast};
use crate::sys;

/// Shared state of the clients of a fan-out test.
struct Fan {
    /// The broadcast being waited for.
    seq: AtomicU32,
    /// How many clients got it.
    got: AtomicUsize,
    clients: usize,
    /// When the last client got it, in µs after `epoch`.
    done_at: AtomicU64,
    epoch: Instant,
    done: Notify,
    /// Clients that lost their connection or got a wrong frame.
    failed: AtomicUsize,
    first_error: Mutex<Option<String>>,
}

impl Fan {
    fn fail(&self, error: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(error);
        self.done.notify_one();
    }
}

/// `"seq":N` in a JSON message frame.
fn tick_seq(frame: &[u8]) -> Option<u32> {
    const KEY: &[u8] = br#""seq":"#;
    let at = frame.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = frame[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&frame[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

async fn fan_client(mut ws: Ws, fan: Arc<Fan>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => {
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                return;
            }
            next = ws.next() => match next {
                Some(Ok(Message::Text(text))) => {
                    let Some(seq) = tick_seq(text.as_bytes()) else {
                        fan.fail(format!("not a Tick message: {}", clip(&text, 120)));
                        return;
                    };
                    if seq == fan.seq.load(Ordering::Acquire)
                        && fan.got.fetch_add(1, Ordering::AcqRel) + 1 == fan.clients
                    {
                        let at = u64::try_from(fan.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
                        fan.done_at.store(at, Ordering::Release);
                        fan.done.notify_one();
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    fan.fail(format!("a client's connection failed: {e}"));
                    return;
                }
                None => {
                    fan.fail("a client's connection ended".into());
                    return;
                }
            },
        }
    }
}

/// What a fan-out test measured on one server.
#[derive(Clone, Debug, Default)]
pub(crate) struct FanSample {
    /// Server memory per connection (RSS growth over `clients`), bytes.
    pub(crate) rss_per_conn: Option<f64>,
    /// Server RSS before the clients connected, bytes.
    pub(crate) rss_before: Option<u64>,
    /// Time from sending the trigger until every client had the message, one per broadcast.
    pub(crate) times: Vec<Duration>,
    /// Encodes the server reported, one per broadcast.
    pub(crate) encodes: Vec<u32>,
    /// The server's CPU time per broadcast (over all of them).
    pub(crate) cpu_per_broadcast: Option<Duration>,
}

/// Connects `clients` idle JSON WebSockets, spread evenly over `addrs`
/// (the nodes of a cluster, or one server), and measures the memory per
/// connection of the first server (process `pid`); then, `broadcasts`
/// times, asks the first server (over one more connection) to broadcast a
/// message and times how long it takes until every client has it.
pub(crate) async fn fanout(
    addrs: &[SocketAddr],
    clients: usize,
    broadcasts: usize,
    pid: u32,
) -> Result<FanSample, String> {
    let first = WsTarget {
        addr: *addrs.first().ok_or("no server to connect to")?,
        tls: false,
    };
    let mut control = connect_ws(first, "text", 16 << 10).await?;
    // Let the server settle after its first connection.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = sys::rss_of(pid);
    let mut sockets = Vec::with_capacity(clients);
    let mut on_first = 0;
    for (i, &addr) in addrs.iter().enumerate() {
        let share = clients / addrs.len() + usize::from(i < clients % addrs.len());
        if i == 0 {
            on_first = share;
        }
        let target = WsTarget { addr, tls: false };
        sockets.extend(connect_many(target, "text", share, 4 << 10).await?);
    }
    // Give the server time to finish setting up the last connections.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rss_after = sys::rss_of(pid);
    let rss_per_conn = rss_before
        .zip(rss_after)
        .map(|(b, a)| (a as f64 - b as f64) / on_first.max(1) as f64);
    let fan = Arc::new(Fan {
        seq: AtomicU32::new(0),
        got: AtomicUsize::new(0),
        clients,
        done_at: AtomicU64::new(0),
        epoch: Instant::now(),
        done: Notify::new(),
        failed: AtomicUsize::new(0),
        first_error: Mutex::new(None),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|ws| tokio::spawn(fan_client(ws, fan.clone(), stop_rx.clone())))
        .collect();
    let mut sample = FanSample {
        rss_per_conn,
        rss_before,
        ..FanSample::default()
    };
    let cpu_start = sys::cpu_of(pid);
    let outcome = async {
        for i in 0..broadcasts {
            let seq = u32::try_from(i + 1).unwrap_or(u32::MAX);
            fan.got.store(0, Ordering::Release);
            fan.seq.store(seq, Ordering::Release);
            let request = ReqBroadcast {
                seq,
                text: "Hello, World!".into(),
            };
            let frame = codec::encode_api_request(Encoding::Json, 0, "Broadcast", seq, &request)
                .map_err(|e| e.to_string())?;
            let message = Message::Text(
                frame
                    .into_bytes()
                    .try_into()
                    .map_err(|_| "JSON is UTF-8".to_owned())?,
            );
            let start = fan.epoch.elapsed();
            control.send(message).await.map_err(|e| e.to_string())?;
            let reply = tokio::time::timeout(STALL, broadcast_reply(&mut control, seq))
                .await
                .map_err(|_| "no answer to Broadcast".to_owned())??;
            // Its own clients and the control connection (a cluster's other
            // nodes have the rest).
            if reply.receivers as usize != on_first + 1 {
                return Err(format!(
                    "the server broadcast to {} connections, not {}",
                    reply.receivers,
                    on_first + 1
                ));
            }
            sample.encodes.push(reply.encodes);
            let waited = tokio::time::timeout(STALL, async {
                loop {
                    if fan.failed.load(Ordering::Acquire) > 0 {
                        return Err(fan
                            .first_error
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .clone()
                            .unwrap_or_default());
                    }
                    if fan.got.load(Ordering::Acquire) >= clients {
                        return Ok(());
                    }
                    fan.done.notified().await;
                }
            })
            .await;
            match waited {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(format!(
                        "only {} of {clients} clients got broadcast {seq} within {STALL:?}",
                        fan.got.load(Ordering::Acquire)
                    ));
                }
            }
            let done = Duration::from_micros(fan.done_at.load(Ordering::Acquire));
            sample.times.push(done.saturating_sub(start));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok::<(), String>(())
    }
    .await;
    if broadcasts > 0 {
        sample.cpu_per_broadcast = sys::cpu_of(pid)
            .zip(cpu_start)
            .map(|(end, start)| (end - start) / u32::try_from(broadcasts).unwrap_or(u32::MAX));
    }
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), control.close(None)).await;
    outcome.map(|()| sample)
}

/// Reads the control connection until the answer to broadcast `seq`.
async fn broadcast_reply(control: &mut Ws, seq: u32) -> Result<ResBroadcast, String> {
    while let Some(next) = control.next().await {
        let frame = match next.map_err(|e| e.to_string())? {
            Message::Text(t) => WireFrame::Text(t.into()),
            _ => continue,
        };
        match codec::decode_server_frame(Encoding::Json, frame).map_err(|e| e.to_string())? {
            ServerFrame::ApiReturn {
                sn,
                result: Ok(payload),
                ..
            } if sn == seq => return payload.decode().map_err(|e| e.to_string()),
            ServerFrame::ApiReturn { result: Err(e), .. } => {
                return Err(format!("Broadcast failed: {}", e.message));
            }
            _ => {}
        }
    }
    Err("the control connection ended".into())
}

/// What a flood measured: broadcasts made on one node of a cluster, heard
/// by a client of another.
#[derive(Clone, Debug)]
pub(crate) struct FloodSample {
    /// Broadcasts per second, from the first request to the last one heard.
    pub(crate) per_sec: f64,
}

/// Sends `count` Broadcast requests to the server at `from` at once
/// (pipelined on one connection) and times until an idle client of the
/// server at `to` has heard every broadcast.
pub(crate) async fn flood(
    from: SocketAddr,
    to: SocketAddr,
    count: u32,
) -> Result<FloodSample, String> {
    let mut listener = connect_ws(
        WsTarget {
            addr: to,
            tls: false,
        },
        "text",
        64 << 10,
    )
    .await?;
    let control = connect_ws(
        WsTarget {
            addr: from,
            tls: false,
        },
        "text",
        64 << 10,
    )
    .await?;
    let (mut sink, mut replies) = control.split();
    // The control connection gets the answers and the broadcasts too.
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = replies.next().await {} });
    let start = Instant::now();
    let send = async {
        for seq in 1..=count {
            let request = ReqBroadcast {
                seq,
                text: "Hello, World!".into(),
            };
            let frame = codec::encode_api_request(Encoding::Json, 0, "Broadcast", seq, &request)
                .map_err(|e| e.to_string())?;
            let text = frame
                .into_bytes()
                .try_into()
                .map_err(|_| "JSON is UTF-8".to_owned())?;
            sink.feed(Message::Text(text))
                .await
                .map_err(|e| e.to_string())?;
        }
        sink.flush().await.map_err(|e| e.to_string())
    };
    let heard = AtomicU32::new(0);
    let hear = async {
        while heard.load(Ordering::Relaxed) < count {
            match listener.next().await {
                Some(Ok(Message::Text(text))) if tick_seq(text.as_bytes()).is_some() => {
                    heard.fetch_add(1, Ordering::Relaxed);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("the listening client's connection ended".into()),
            }
        }
        Ok(())
    };
    let outcome = tokio::time::timeout(STALL * 3, async {
        let (sent, heard) = tokio::join!(send, hear);
        sent.and(heard)
    })
    .await
    .map_err(|_| {
        format!(
            "{} of {count} broadcasts heard within {:?}",
            heard.load(Ordering::Relaxed),
            STALL * 3
        )
    })
    .and_then(|r| r);
    let elapsed = start.elapsed();
    drain.abort();
    let _ = tokio::time::timeout(Duration::from_secs(1), listener.close(None)).await;
    outcome.map(|()| FloodSample {
        per_sec: f64::from(count) / elapsed.as_secs_f64(),
    })
}
