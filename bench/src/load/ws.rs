//! WebSocket calls with a fixed number in flight per connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tsrpc::__wire as codec;
use tsrpc::{Encoding, ServiceTable, WireFrame};

use super::{
    CallSample, CallSpec, ConnStats, MEASURE, Run, STALL, STOP, WARMUP, Window, Ws, WsTarget, clip,
    connect_many, measure, micros, split_sn,
};

/// Runs `conns` WebSocket connections with `inflight` calls each against
/// `addr`, and measures the server `pid`'s CPU time over the window.
pub(crate) async fn ws_calls(
    target: WsTarget,
    spec: Arc<CallSpec>,
    conns: usize,
    inflight: usize,
    window: Window,
    pid: Option<u32>,
    verify_all: bool,
) -> Result<CallSample, String> {
    let protocol = match spec.encoding {
        Encoding::Json => "text",
        Encoding::Binary | Encoding::Tsbuffer => "buffer",
    };
    let read_buffer = (spec.payload.len() * 2).clamp(16 << 10, 512 << 10);
    let mut sockets = connect_many(target, protocol, conns, read_buffer).await?;
    if spec.encoding == Encoding::Binary {
        let fingerprint = ServiceTable::global()
            .map_err(|e| e.to_string())?
            .fingerprint();
        let hello = Message::Binary(codec::encode_hello(fingerprint).into_bytes());
        for ws in &mut sockets {
            ws.send(hello.clone()).await.map_err(|e| e.to_string())?;
        }
    }
    let run = Arc::new(Run {
        phase: AtomicU8::new(WARMUP),
    });
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|ws| {
            tokio::spawn(ws_call_conn(
                ws,
                spec.clone(),
                inflight,
                run.clone(),
                verify_all,
            ))
        })
        .collect();
    measure(tasks, &run, window, pid).await
}

/// One connection of [`ws_calls`]: keeps `inflight` calls going, each
/// answer starting the next call in its slot, until the run stops.
async fn ws_call_conn(
    mut ws: Ws,
    spec: Arc<CallSpec>,
    inflight: usize,
    run: Arc<Run>,
    verify_all: bool,
) -> ConnStats {
    let mut stats = ConnStats::default();
    let slots = u32::try_from(inflight).unwrap_or(u32::MAX);
    let mut sent_sn: Vec<u32> = (1..=slots).collect();
    let mut starts = vec![Instant::now(); inflight];
    // The first verified reply, without its sn: later ones must equal it.
    let mut reference: Option<(usize, Vec<u8>)> = None;
    for (slot, &sn) in sent_sn.iter().enumerate() {
        starts[slot] = Instant::now();
        if let Err(e) = ws.feed(spec.ws_request(sn)).await {
            stats.error = Some(format!("sending failed: {e}"));
            return stats;
        }
    }
    let mut outstanding = inflight;
    let fail = |mut stats: ConnStats, e: String| {
        stats.error = Some(e);
        stats
    };
    loop {
        if let Err(e) = ws.flush().await {
            return fail(stats, format!("sending failed: {e}"));
        }
        let mut next = match tokio::time::timeout(STALL, ws.next()).await {
            Ok(next) => next,
            Err(_) => return fail(stats, format!("no answer for {STALL:?}")),
        };
        loop {
            let frame = match next {
                Some(Ok(Message::Text(t))) => WireFrame::Text(t.into()),
                Some(Ok(Message::Binary(b))) => WireFrame::Binary(b),
                Some(Ok(Message::Close(c))) => {
                    return fail(stats, format!("the server closed the connection: {c:?}"));
                }
                Some(Ok(_)) => {
                    next = match ws.next().now_or_never() {
                        Some(n) => n,
                        None => break,
                    };
                    continue;
                }
                Some(Err(e)) => return fail(stats, format!("connection error: {e}")),
                None => return fail(stats, "the connection ended".into()),
            };
            let now = Instant::now();
            let Some((sn, len, head)) = split_sn(spec.encoding, frame.as_bytes()) else {
                return fail(
                    stats,
                    format!(
                        "not an API return: {}",
                        clip(&String::from_utf8_lossy(frame.as_bytes()), 120)
                    ),
                );
            };
            let slot = (sn.wrapping_sub(1) % slots) as usize;
            if sn == 0 || sent_sn[slot] != sn {
                return fail(stats, format!("answer to sn {sn}, which is not in flight"));
            }
            let same = reference
                .as_ref()
                .is_some_and(|(l, h)| *l == len && h.as_slice() == head);
            if verify_all || !same {
                let reference_now = (len, head.to_vec());
                if let Err(e) = spec.verify_ws(frame) {
                    return fail(stats, e);
                }
                if reference.is_some() && !same {
                    return fail(stats, "an answer differs from the first one".into());
                }
                reference = Some(reference_now);
            }
            // One read of the phase per answer: reading it twice let an
            // answer that saw STOP turn up neither counted down nor refilled.
            let phase = run.phase.load(Ordering::Relaxed);
            match phase {
                MEASURE => {
                    stats.calls += 1;
                    stats.latencies_us.push(micros(now - starts[slot]));
                }
                STOP => {
                    outstanding -= 1;
                    if outstanding == 0 {
                        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                        return stats;
                    }
                }
                _ => {}
            }
            if phase != STOP {
                let sn = sn + slots;
                sent_sn[slot] = sn;
                starts[slot] = now;
                if let Err(e) = ws.feed(spec.ws_request(sn)).await {
                    return fail(stats, format!("sending failed: {e}"));
                }
            }
            next = match ws.next().now_or_never() {
                Some(n) => n,
                None => break,
            };
        }
    }
}
