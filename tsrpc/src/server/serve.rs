//! Serving until a shutdown signal, in one call: axum's shape,
//! `server.serve().with_graceful_shutdown(signal).await`.

use std::future::{Future, IntoFuture};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::Server;
use crate::task::BoxFuture;

/// Serves a server until it is stopped, starting it unless it is
/// listening already: see [`Server::serve`].
#[derive(Debug)]
#[must_use = "a `Serve` does nothing until awaited"]
pub struct Serve {
    server: Server,
}

impl Serve {
    pub(super) fn new(server: Server) -> Self {
        Serve { server }
    }

    /// Serves until `signal` completes, then stops gracefully: new
    /// connections and calls are refused, running calls finish (for at
    /// most the server's API timeout, when it has one), then every
    /// connection is closed. [`shutdown_signal`] is Ctrl-C or SIGTERM.
    pub fn with_graceful_shutdown<F>(self, signal: F) -> WithGracefulShutdown<F>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        WithGracefulShutdown {
            server: self.server,
            signal,
        }
    }
}

impl IntoFuture for Serve {
    type Output = std::io::Result<()>;
    type IntoFuture = BoxFuture<std::io::Result<()>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            start(&self.server).await?;
            self.server.stopped().await;
            Ok(())
        })
    }
}

/// Starts the server unless it is listening already (started to learn
/// its address first, say).
async fn start(server: &Server) -> std::io::Result<()> {
    if server.local_addr().is_none() {
        server.start().await?;
    }
    Ok(())
}

/// [`Serve`] until a signal: see [`Serve::with_graceful_shutdown`].
#[must_use = "a `WithGracefulShutdown` does nothing until awaited"]
pub struct WithGracefulShutdown<F> {
    server: Server,
    signal: F,
}

impl<F> std::fmt::Debug for WithGracefulShutdown<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithGracefulShutdown")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl<F> IntoFuture for WithGracefulShutdown<F>
where
    F: Future<Output = ()> + Send + 'static,
{
    type Output = std::io::Result<()>;
    type IntoFuture = BoxFuture<std::io::Result<()>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let server = self.server;
            let serving = async {
                start(&server).await?;
                server.stopped().await;
                std::io::Result::Ok(())
            };
            // The signal first: one that sets up a handler when first
            // polled (`shutdown_signal`) has it before the port opens.
            tokio::select! {
                biased;
                () = self.signal => {
                    tracing::info!("shutdown signal: stopping gracefully");
                    // Calls cannot run past the API timeout: wait no longer.
                    let wait = server.settings().api_timeout.unwrap_or(Duration::MAX);
                    // Once `shutdown_signal` has taken over Ctrl-C, a second
                    // one no longer ends the process: it stops at once.
                    let again = async {
                        if SIGNALS_TAKEN.load(Ordering::Acquire) {
                            shutdown_signal().await;
                        } else {
                            std::future::pending::<()>().await;
                        }
                    };
                    tokio::select! {
                        () = server.graceful_stop(wait) => {}
                        () = again => {
                            tracing::warn!("second shutdown signal: stopping at once");
                            server.stop().await;
                        }
                    }
                    Ok(())
                }
                served = serving => served,
            }
        })
    }
}

/// True once [`shutdown_signal`] has set up its handlers: from then on,
/// the signals no longer end the process by themselves.
static SIGNALS_TAKEN: AtomicBool = AtomicBool::new(false);

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM (what `docker stop`
/// and Kubernetes send): the usual signal for
/// [`Serve::with_graceful_shutdown`]. While the server then stops
/// gracefully, a second Ctrl-C or SIGTERM stops it at once.
///
/// ```no_run
/// # async fn run(server: tsrpc::Server) -> std::io::Result<()> {
/// server
///     .serve()
///     .with_graceful_shutdown(tsrpc::server::shutdown_signal())
///     .await
/// # }
/// ```
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No signal handling here: never complete on this branch.
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    // The handlers are set up when the branches are first polled, below.
    SIGNALS_TAKEN.store(true, Ordering::Release);
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
