//! The physical references: a minimal tokio-tungstenite server and a
//! minimal hyper server that answer the benchmark's frames byte for byte
//! as tsrpc does, without a framework. They splice the request's bytes
//! into the reply (no decoding, no encoding), so the ratio of tsrpc to
//! them is the framework's whole cost.
//!
//! JSON: `["Echo",{…},7]` is answered `["Echo",{"isSucc":true,"res":{…}},7]`;
//! binary: `0x01 id sn payload` is answered `0x02 sn payload` (the response
//! types have the request's fields, so the payload is the same bytes).
//! `Broadcast` sends `["Tick",{"seq":…,"text":…}]` to every connection,
//! built once and shared, through a `tokio::sync::broadcast` channel.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{FutureExt, SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request as WsRequest, Response as WsResponse,
};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// The WebSocket buffers tsrpc's server uses (4 KiB read, 16 KiB write),
/// so both servers pay the same for them.
pub(crate) fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(16 * 1024 + (32 << 20))
        .max_message_size(Some(16 << 20))
        .max_frame_size(Some(16 << 20))
}

/// Serves WebSocket connections on `listener` until the process ends.
pub(crate) async fn serve_ws(listener: TcpListener) {
    let (ticks, _) = broadcast::channel::<Message>(64);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(ws_connection(stream, ticks.clone()));
    }
}

/// Echoes the subprotocol the client offered (`text` or `buffer`).
#[allow(clippy::result_large_err)] // tungstenite's callback signature
fn echo_protocol(req: &WsRequest, mut res: WsResponse) -> Result<WsResponse, ErrorResponse> {
    let offered = req
        .headers()
        .get(http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .and_then(|p| http::HeaderValue::from_str(p).ok());
    if let Some(p) = offered {
        res.headers_mut()
            .insert(http::header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    Ok(res)
}

async fn ws_connection(stream: TcpStream, ticks: broadcast::Sender<Message>) {
    let Ok(mut ws) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, echo_protocol, Some(ws_config()))
            .await
    else {
        return;
    };
    let mut rx = ticks.subscribe();
    loop {
        tokio::select! {
            next = ws.next() => {
                let Some(Ok(msg)) = next else { return };
                let mut msg = msg;
                // Answer everything already read, then flush once.
                loop {
                    if let Some(reply) = answer(msg, &ticks) && ws.feed(reply).await.is_err() {
                        return;
                    }
                    match ws.next().now_or_never() {
                        Some(Some(Ok(more))) => msg = more,
                        Some(_) => return,
                        None => break,
                    }
                }
                if ws.flush().await.is_err() {
                    return;
                }
            }
            tick = rx.recv() => match tick {
                Ok(tick) => {
                    if ws.send(tick).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

/// The reply to one frame, if it needs one.
fn answer(msg: Message, ticks: &broadcast::Sender<Message>) -> Option<Message> {
    match msg {
        Message::Text(text) => {
            let frame = Bytes::from(text);
            let reply = json_reply(&frame, ticks)?;
            Utf8Bytes::try_from(reply).ok().map(Message::Text)
        }
        Message::Binary(frame) => match frame.first() {
            Some(0x00) => Some(Message::Binary(Bytes::from_static(&[0]))),
            Some(0x01) => binary_reply(&frame).map(Message::Binary),
            _ => None,
        },
        _ => None,
    }
}

/// `["Name",body,sn]` → `["Name",{"isSucc":true,"res":body},sn]`.
fn json_reply(frame: &[u8], ticks: &broadcast::Sender<Message>) -> Option<Bytes> {
    // Names hold no comma: the first comma ends the name, the last one
    // starts the sn.
    let first = frame.iter().position(|&b| b == b',')?;
    let last = frame.iter().rposition(|&b| b == b',')?;
    if last <= first || frame.len() < 4 {
        return None;
    }
    let name = &frame[..first];
    let body = &frame[first + 1..last];
    let body = if name == br#"["Broadcast""# {
        Bytes::from(broadcast_json(body, ticks)?)
    } else {
        Bytes::copy_from_slice(body)
    };
    let mut out = BytesMut::with_capacity(frame.len() + 32);
    out.put_slice(&frame[..=first]);
    out.put_slice(br#"{"isSucc":true,"res":"#);
    out.put_slice(&body);
    out.put_u8(b'}');
    out.put_slice(&frame[last..]);
    Some(out.freeze())
}

/// Broadcasts the tick a `Broadcast` request asks for; returns the response body.
fn broadcast_json(body: &[u8], ticks: &broadcast::Sender<Message>) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Req {
        seq: u32,
        text: String,
    }
    let req: Req = serde_json::from_slice(body).ok()?;
    let text = serde_json::to_string(&req.text).ok()?;
    let tick = format!(r#"["Tick",{{"seq":{},"text":{text}}}]"#, req.seq);
    let receivers = ticks.receiver_count();
    let _ = ticks.send(Message::text(tick));
    Some(format!(r#"{{"encodes":1,"receivers":{receivers}}}"#))
}

/// `0x01 id sn payload` → `0x02 sn payload`.
fn binary_reply(frame: &Bytes) -> Option<Bytes> {
    let id_len = frame[1..].iter().position(|&b| b & 0x80 == 0)? + 1;
    let rest = &frame[1 + id_len..];
    let mut out = BytesMut::with_capacity(rest.len() + 1);
    out.put_u8(0x02);
    out.put_slice(rest);
    Some(out.freeze())
}

/// Serves HTTP/1.1 (keep-alive) on `listener` until the process ends:
/// `POST /Name` with a JSON body gets `{"isSucc":true,"res":body}`; an
/// `application/octet-stream` body gets the binary reply.
pub(crate) async fn serve_http(listener: TcpListener) {
    let ticks = Arc::new(broadcast::channel::<Message>(1).0);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let ticks = ticks.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| http_answer(req, ticks.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn http_answer(
    req: Request<Incoming>,
    ticks: Arc<broadcast::Sender<Message>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let binary = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/octet-stream"));
    let name = req.uri().path().trim_start_matches('/').to_owned();
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let (content_type, reply) = if binary {
        ("application/octet-stream", binary_reply(&body))
    } else {
        let body = if name == "Broadcast" {
            broadcast_json(&body, &ticks).map(Bytes::from)
        } else {
            Some(body)
        };
        let reply = body.map(|body| {
            let mut out = BytesMut::with_capacity(body.len() + 24);
            out.put_slice(br#"{"isSucc":true,"res":"#);
            out.put_slice(&body);
            out.put_u8(b'}');
            out.freeze()
        });
        ("application/json; charset=utf-8", reply)
    };
    let Some(reply) = reply else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let mut res = Response::new(Full::new(reply));
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    Ok(res)
}

fn status(status: StatusCode) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = status;
    res
}
