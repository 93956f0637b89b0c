//! HTTP/1.1 keep-alive calls, one in flight per connection, through a
//! minimal client of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tsrpc::{Encoding, ServiceTable};

use super::{
    CallSample, CallSpec, ConnStats, MEASURE, Run, STALL, STOP, WARMUP, Window, clip, connect_tcp,
    measure, micros,
};

/// Runs `conns` keep-alive HTTP/1.1 connections, one call in flight on
/// each, against `addr`.
///
/// The client is a minimal HTTP/1.1 writer and reader (one pre-built
/// request, responses with a `Content-Length`), several times cheaper than
/// a full client, so that the servers rather than the load generator set
/// the pace.
pub(crate) async fn http_calls(
    addr: SocketAddr,
    spec: Arc<CallSpec>,
    conns: usize,
    window: Window,
    pid: Option<u32>,
    verify_all: bool,
) -> Result<CallSample, String> {
    let run = Arc::new(Run {
        phase: AtomicU8::new(WARMUP),
    });
    let fingerprint = ServiceTable::global()
        .map_err(|e| e.to_string())?
        .fingerprint();
    let body = spec.http_body();
    let mut request = format!(
        "POST /{} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        spec.name,
        match spec.encoding {
            Encoding::Json => "application/json",
            Encoding::Binary | Encoding::Tsbuffer => "application/octet-stream",
        },
        body.len()
    );
    if spec.encoding == Encoding::Binary {
        request.push_str(&format!("X-Tsrpc-Fingerprint: {fingerprint}\r\n"));
    }
    request.push_str("\r\n");
    let mut request = request.into_bytes();
    request.extend_from_slice(&body);
    let request = Bytes::from(request);
    let sem = Arc::new(tokio::sync::Semaphore::new(256));
    let mut connecting = Vec::with_capacity(conns);
    for _ in 0..conns {
        let sem = sem.clone();
        connecting.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.map_err(|e| e.to_string())?;
            connect_tcp(addr).await
        }));
    }
    let mut streams = Vec::with_capacity(conns);
    for c in connecting {
        streams.push(c.await.map_err(|e| e.to_string())??);
    }
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|stream| {
            tokio::spawn(http_call_conn(
                stream,
                request.clone(),
                spec.clone(),
                run.clone(),
                verify_all,
            ))
        })
        .collect();
    measure(tasks, &run, window, pid).await
}

/// Reads one HTTP/1.1 response from `stream` (bytes already read are in
/// `buf`); returns its body if the status is 200.
async fn read_response(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<Bytes, String> {
    loop {
        if let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..head_end])
                .map_err(|_| "response headers are not UTF-8".to_owned())?;
            let mut lines = head.split("\r\n");
            let status = lines.next().unwrap_or_default().to_owned();
            let mut length = None;
            for line in lines {
                let Some((name, value)) = line.split_once(':') else {
                    continue;
                };
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(format!("unexpected Transfer-Encoding: {}", value.trim()));
                }
            }
            let length = length.ok_or("a response without Content-Length")?;
            let total = head_end + 4 + length;
            while buf.len() < total {
                if stream.read_buf(buf).await.map_err(|e| e.to_string())? == 0 {
                    return Err("the server closed the connection".into());
                }
            }
            let mut response = buf.split_to(total);
            let body = response.split_off(head_end + 4).freeze();
            if !status.starts_with("HTTP/1.1 200") {
                return Err(format!(
                    "{status}: {}",
                    clip(&String::from_utf8_lossy(&body), 120)
                ));
            }
            return Ok(body);
        }
        if stream.read_buf(buf).await.map_err(|e| e.to_string())? == 0 {
            return Err("the server closed the connection".into());
        }
    }
}

async fn http_call_conn(
    mut stream: TcpStream,
    request: Bytes,
    spec: Arc<CallSpec>,
    run: Arc<Run>,
    verify_all: bool,
) -> ConnStats {
    let mut stats = ConnStats::default();
    let mut buf = BytesMut::with_capacity(8 << 10);
    let mut reference: Option<Bytes> = None;
    while run.phase.load(Ordering::Relaxed) != STOP {
        let start = Instant::now();
        let call = async {
            stream
                .write_all(&request)
                .await
                .map_err(|e| e.to_string())?;
            read_response(&mut stream, &mut buf).await
        };
        let reply = match tokio::time::timeout(STALL, call).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => {
                stats.error = Some(format!("HTTP call failed: {e}"));
                return stats;
            }
            Err(_) => {
                stats.error = Some(format!("no HTTP answer for {STALL:?}"));
                return stats;
            }
        };
        let now = Instant::now();
        let same = reference.as_ref() == Some(&reply);
        if verify_all || !same {
            if let Err(e) = spec.verify_http(reply.clone()) {
                stats.error = Some(e);
                return stats;
            }
            if reference.is_some() && !same {
                stats.error = Some("an answer differs from the first one".into());
                return stats;
            }
            reference = Some(reply);
        }
        if run.phase.load(Ordering::Relaxed) == MEASURE {
            stats.calls += 1;
            stats.latencies_us.push(micros(now - start));
        }
    }
    stats
}
