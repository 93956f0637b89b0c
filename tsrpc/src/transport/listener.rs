//! One TCP listener for every transport: hyper serves each connection and
//! hands WebSocket upgrades and plain HTTP requests to the [`App`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::admission::{Admission, Refusal, Slot};
use super::{App, Refusals};

/// HTTP/2 streams one connection may have open at once.
const MAX_CONCURRENT_STREAMS: u32 = 128;

/// Refused sockets being answered at once; past this, they are closed
/// without an answer, so refusing costs little even under a flood.
const MAX_ANSWERED_REFUSALS: usize = 64;

/// True for EMFILE and ENFILE (23 and 24 on Linux, macOS and the BSDs;
/// WSAEMFILE on Windows): other accept errors (a connection aborted before
/// it was accepted) are no reason to close someone else's.
fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24 | 10024))
}

/// A running listener; dropping it does not stop it, [`Listener::stop`] does.
#[derive(Debug)]
pub(crate) struct Listener {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
}

impl Listener {
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting and ends the HTTP connections it served.
    pub(crate) fn stop(&self) {
        self.shutdown.send_replace(true);
    }
}

/// Binds `addr` and serves it until [`Listener::stop`].
pub(crate) async fn serve<A: App>(addr: SocketAddr, app: Arc<A>) -> std::io::Result<Listener> {
    let tcp = TcpListener::bind(addr).await?;
    let local_addr = tcp.local_addr()?;
    let (shutdown, stopped) = watch::channel(false);
    tokio::spawn(accept_loop(tcp, app, stopped));
    Ok(Listener {
        local_addr,
        shutdown,
    })
}

async fn accept_loop<A: App>(tcp: TcpListener, app: Arc<A>, mut stopped: watch::Receiver<bool>) {
    let settings = app.http_settings();
    let admission = Admission::new(settings.caps);
    tokio::spawn(Admission::watch(
        Arc::downgrade(&admission),
        settings.header_read_timeout,
        settings.body_read_timeout,
        settings.send_timeout,
    ));
    let answering = Arc::new(AtomicUsize::new(0));
    let mut failing = false;
    loop {
        let (stream, remote) = tokio::select! {
            () = until_stopped(&mut stopped) => return,
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: free one held
                    // by a socket that never sent a request, or wait (never
                    // spin). Said once per spell of failures.
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!("accept failed: {e}");
                    }
                    let pause = if out_of_descriptors(&e) && admission.evict_unused() {
                        1
                    } else {
                        50
                    };
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                    continue;
                }
            },
        };
        failing = false;
        let slot = match admission.admit(remote.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                tracing::debug!(%remote, ?refusal, "connection refused");
                let refusals = app.refusals();
                Refusals::count(match refusal {
                    Refusal::Full(_) => &refusals.connection_limit,
                    Refusal::PerIp(_) => &refusals.per_ip_limit,
                });
                if answering.fetch_add(1, Ordering::AcqRel) < MAX_ANSWERED_REFUSALS {
                    let answering = answering.clone();
                    tokio::spawn(async move {
                        refuse(stream, refusal).await;
                        answering.fetch_sub(1, Ordering::AcqRel);
                    });
                } else {
                    answering.fetch_sub(1, Ordering::AcqRel);
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            app.clone(),
            stream,
            remote,
            slot,
            stopped.clone(),
        ));
    }
}

/// Writes a refusal's plain HTTP answer and closes the socket.
async fn refuse(stream: TcpStream, refusal: Refusal) {
    answer_and_close(stream, refusal.response()).await;
}

/// Writes a plain HTTP answer and closes the socket, reading (and
/// dropping) what the client sent so that the close does not reset the
/// connection before the answer is read.
async fn answer_and_close(mut stream: TcpStream, answer_text: String) {
    let answer = async {
        stream.write_all(answer_text.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut left: usize = 64 << 10;
        while left > 0 {
            let n = stream.read(&mut sink).await?;
            if n == 0 {
                break;
            }
            left = left.saturating_sub(n);
        }
        std::io::Result::Ok(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}

/// Serves one accepted connection until it ends, the listener stops, or
/// the connection is let go: it sat without a request in progress for the
/// header read timeout (its first request included), or it never sent a
/// request and was evicted to make way for a new connection.
async fn serve_connection<A: App>(
    app: Arc<A>,
    stream: TcpStream,
    remote: SocketAddr,
    slot: Arc<Slot>,
    #[cfg_attr(not(feature = "tls"), allow(unused_mut))] mut stopped: watch::Receiver<bool>,
) {
    #[cfg(feature = "tls")]
    if let Some(tls) = app.http_settings().tls.clone() {
        let idle = app.http_settings().header_read_timeout;
        let handshake = async {
            let stream = expect_tls(stream).await?;
            tls.acceptor()
                .accept(slot.watch_io(stream))
                .await
                .map_err(|e| format!("TLS handshake failed: {e}"))
        };
        // A peer that stalls mid-handshake has the header read timeout
        // to finish it, like one that trickles its request.
        // Stopped by the listener, or by the watch (evicted to make room:
        // the peek does not go through the watched socket).
        let accepted = tokio::select! {
            accepted = tokio::time::timeout(idle, handshake) => accepted,
            () = until_stopped(&mut stopped) => return,
            () = slot.until_stopped() => return,
        };
        match accepted {
            Ok(Ok(tls)) => serve_http(app, TokioIo::new(tls), remote, slot, stopped).await,
            Ok(Err(e)) => {
                Refusals::count(&app.refusals().tls);
                tracing::debug!(%remote, "{e}");
            }
            Err(_) => {
                Refusals::count(&app.refusals().tls);
                tracing::debug!(%remote, "TLS handshake timed out");
            }
        }
        return;
    }
    let io = TokioIo::new(slot.watch_io(stream));
    serve_http(app, io, remote, slot, stopped).await;
}

/// Reads nothing, but looks at the first byte: a TLS connection starts
/// with a handshake record (22). Plain HTTP sent to the TLS port gets a
/// plain answer saying so, rather than a handshake error it cannot read.
#[cfg(feature = "tls")]
async fn expect_tls(stream: TcpStream) -> Result<TcpStream, String> {
    const HANDSHAKE: u8 = 22;
    let mut first = [0u8; 1];
    let n = stream
        .peek(&mut first)
        .await
        .map_err(|e| format!("reading the TLS handshake failed: {e}"))?;
    if n == 0 {
        return Err("closed before the TLS handshake".into());
    }
    if first[0] != HANDSHAKE {
        let body = "This port speaks TLS: use https:// or wss://\n";
        let answer = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        answer_and_close(stream, answer).await;
        return Err("plain text on the TLS port: answered 400".into());
    }
    Ok(stream)
}

/// Serves HTTP (and upgrades) on a connection's stream, TLS or not.
async fn serve_http<A: App, IO>(
    app: Arc<A>,
    io: IO,
    remote: SocketAddr,
    slot: Arc<Slot>,
    mut stopped: watch::Receiver<bool>,
) where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let idle = app.http_settings().header_read_timeout;
    let service = service_fn(move |req| {
        let active = slot.begin_request();
        super::service::handle(app.clone(), req, Some(remote), Some(active))
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A client that trickles its headers cannot hold a connection forever.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(idle);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS);
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::select! {
        result = conn => {
            if let Err(e) = result {
                tracing::debug!(%remote, "HTTP connection ended: {e}");
            }
        }
        () = until_stopped(&mut stopped) => {}
    }
}

async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}
