//! The chatroom mounted in an axum app: the app keeps its own routes
//! (`/health`, `/metrics` with the chatroom's stats, its page at `/`) and
//! tsrpc answers the chatroom's WebSocket
//! at `/ws` and its HTTP API under `/api` (`POST /api/Send`), on one port.
//!
//! All the tsrpc code there is: build the server as usual, and hand
//! [`Server::service`](tsrpc::Server::service) to the router instead of
//! starting the server's own listener.

use std::future::Future;
use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::Html;
use axum::routing::get;
use tokio::net::TcpListener;

/// The app: its own routes, and the chatroom server mounted at `/ws` and
/// `/api`.
pub fn router(chat: &tsrpc::Server) -> Router {
    // Connections see the peer's address (axum puts it in the request's
    // extensions when served with connect info, below).
    let service = chat
        .service()
        .remote_addr(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|info| info.0));
    let stats = chat.clone();
    Router::new()
        .route("/", get(page))
        .route("/health", get(|| async { "ok" }))
        // The chatroom's numbers on the app's own metrics route.
        .route("/metrics", get(move || async move { Json(stats.stats()) }))
        .route_service("/ws", service.clone())
        .nest_service("/api", service)
}

/// Serves the app on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    chat: &tsrpc::Server,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(chat).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn page() -> Html<&'static str> {
    Html(
        "<!doctype html><title>axum + tsrpc</title>\
         <h1>An axum app with a tsrpc chatroom</h1>\
         <p>WebSocket: <code>/ws</code>; HTTP API: <code>POST /api/Send</code>; \
         health: <a href=\"/health\"><code>/health</code></a>.</p>",
    )
}
