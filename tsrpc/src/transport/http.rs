//! HTTP on the shared listener: API calls and messages as POST requests
//! (TSRPC's HTTP mode), CORS, limits, static files. The calls themselves
//! go to the app as [`HttpCall`]s; this module never knows which API.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body, Frame, SizeHint};
use tokio_util::io::ReaderStream;

use super::App;
use super::admission::{Active, Caps};
use crate::codec::{self, Encoding};
use crate::error::{TsrpcError, codes};

/// The default [`HttpSettings::header_read_timeout`].
pub(crate) const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The default [`HttpSettings::body_read_timeout`].
pub(crate) const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Which origins browsers may call from (CORS) and open WebSockets from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origins {
    /// Every origin: `Access-Control-Allow-Origin: *`.
    Any,
    /// Only these origins (and the server's own): they are echoed back;
    /// requests and upgrades from any other are refused with 403.
    List(Vec<String>),
}

/// What the `Origin` of a request allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum OriginCheck {
    /// Allowed; the `Access-Control-Allow-Origin` value to send, if any.
    Allowed(Option<HeaderValue>),
    /// A browser on another site that is not in the list.
    Refused,
}

impl Origins {
    /// Checks a request's `Origin`. A request without one (curl, servers,
    /// native apps: no browser) is allowed, and so is a page of the
    /// server's own origin (its `Host`).
    pub(crate) fn check(&self, headers: &HeaderMap) -> OriginCheck {
        match self {
            // Whatever the request's `Origin`: no look-up.
            Origins::Any => OriginCheck::Allowed(Some(HeaderValue::from_static("*"))),
            Origins::List(list) => {
                let Some(origin) = headers.get(header::ORIGIN) else {
                    return OriginCheck::Allowed(None);
                };
                let text = origin.to_str().unwrap_or("");
                let same_site = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .is_some_and(|host| {
                        text.strip_prefix("http://")
                            .or_else(|| text.strip_prefix("https://"))
                            .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
                    });
                if same_site || list.iter().any(|o| o == text) {
                    OriginCheck::Allowed(Some(origin.clone()))
                } else {
                    OriginCheck::Refused
                }
            }
        }
    }
}

/// HTTP settings of a server.
#[derive(Clone, Debug)]
pub(crate) struct HttpSettings {
    pub(crate) max_body_size: usize,
    pub(crate) origins: Origins,
    pub(crate) static_dir: Option<PathBuf>,
    /// How long a connection may take to send a request's headers, and
    /// may stay without a request in progress.
    pub(crate) header_read_timeout: Duration,
    /// How long a request's body may take to arrive.
    pub(crate) body_read_timeout: Duration,
    /// How long a peer may take none of a response.
    pub(crate) send_timeout: Option<Duration>,
    pub(crate) caps: Caps,
    /// TLS on the listener's connections.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<super::tls::ServerTls>,
}

/// The body of every response a tsrpc server sends over HTTP: bytes in
/// memory, or a file read as it is sent (an `http_body::Body`).
#[derive(Debug)]
pub struct ResponseBody {
    // Holds the request's note on its listener, so a connection counts as
    // busy until its response is out.
    kind: BodyKind,
    active: Option<Active>,
}

#[derive(Debug)]
enum BodyKind {
    Full(Full<Bytes>),
    /// Boxed: a file is rare beside API answers, and large to move.
    File(Box<ReaderStream<tokio::fs::File>>),
}

impl ResponseBody {
    pub(crate) fn full(bytes: Bytes) -> Self {
        ResponseBody {
            kind: BodyKind::Full(Full::new(bytes)),
            active: None,
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match &mut self.get_mut().kind {
            BodyKind::Full(full) => Pin::new(full)
                .poll_frame(cx)
                .map_err(|never: Infallible| match never {}),
            BodyKind::File(file) => Pin::new(&mut **file)
                .poll_next(cx)
                .map(|chunk| chunk.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            BodyKind::Full(full) => full.is_end_stream(),
            BodyKind::File(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            BodyKind::Full(full) => full.size_hint(),
            BodyKind::File(_) => SizeHint::default(),
        }
    }
}

/// One API call or message received over HTTP.
#[derive(Debug)]
pub(crate) struct HttpCall {
    /// The request's URI (`/user/Login?type=msg`): its path names the service.
    pub(crate) uri: http::Uri,
    /// `?type=msg`: a message, answered with an empty body.
    pub(crate) is_msg: bool,
    pub(crate) encoding: Encoding,
    pub(crate) body: Bytes,
    pub(crate) headers: HeaderMap,
    pub(crate) remote: Option<SocketAddr>,
}

/// The service a request's URI names: its path without the leading `/`.
pub(crate) fn service_name(uri: &http::Uri) -> &str {
    uri.path().trim_start_matches('/')
}

/// The answer to an [`HttpCall`].
#[derive(Debug)]
pub(crate) struct HttpReply {
    pub(crate) status: StatusCode,
    /// The body's encoding; `None` for an empty body.
    pub(crate) encoding: Option<Encoding>,
    pub(crate) body: Bytes,
}

impl HttpReply {
    /// A JSON error body with a status.
    pub(crate) fn json_error(status: StatusCode, err: &TsrpcError) -> Self {
        HttpReply {
            status,
            encoding: Some(Encoding::Json),
            body: codec::http_json_error(err),
        }
    }
}

const ALLOW: &str = "GET, HEAD, POST, OPTIONS";

fn respond(
    status: StatusCode,
    content_type: Option<&'static str>,
    body: Bytes,
) -> Response<ResponseBody> {
    let mut res = Response::new(ResponseBody::full(body));
    *res.status_mut() = status;
    if let Some(ct) = content_type {
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    res
}

pub(crate) fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<ResponseBody> {
    respond(status, Some("text/plain; charset=utf-8"), body.into())
}

fn reply_response(reply: HttpReply) -> Response<ResponseBody> {
    let content_type = reply.encoding.map(|e| match e {
        Encoding::Json => "application/json; charset=utf-8",
        Encoding::Binary | Encoding::Tsbuffer => "application/octet-stream",
    });
    respond(reply.status, content_type, reply.body)
}

fn with_cors(
    mut res: Response<ResponseBody>,
    allow: Option<HeaderValue>,
    origins: &Origins,
) -> Response<ResponseBody> {
    if let Some(allow) = allow {
        let headers = res.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if matches!(origins, Origins::List(_)) {
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
    res
}

/// The answer to a browser request from an origin that is not allowed:
/// it is refused before anything runs.
pub(crate) fn origin_refused() -> Response<ResponseBody> {
    text(
        StatusCode::FORBIDDEN,
        "Forbidden: this origin is not allowed to call this server",
    )
}

/// The error of a request body.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body hyper or a tower stack (axum's) hands over.
pub(crate) trait RequestBody:
    Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static
{
}

impl<B: Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static> RequestBody for B {}

/// Serves one HTTP request that is not a WebSocket upgrade. `active` is
/// the listener's note of the request (none when mounted in another
/// server, whose connections are its own to watch).
pub(crate) async fn serve<A: App, B: RequestBody>(
    app: Arc<A>,
    req: Request<B>,
    remote: Option<SocketAddr>,
    active: Option<Active>,
) -> Response<ResponseBody> {
    // The settings are borrowed from a second handle on the app (the
    // first goes to the call): no copy of the origin list or the static
    // folder's path per request.
    let held = app.clone();
    let settings = held.http_settings();
    let allow = match settings.origins.check(req.headers()) {
        OriginCheck::Allowed(allow) => allow,
        OriginCheck::Refused => {
            super::Refusals::count(&app.refusals().origin);
            return origin_refused();
        }
    };
    // Taken apart: a request body need not be `Sync` (axum's is not), so
    // no borrow of the whole request may live across an await.
    let (parts, body) = req.into_parts();
    let res = match parts.method {
        Method::OPTIONS => preflight(&parts, allow.clone()),
        Method::POST => post(app, parts, body, remote, settings, active.as_ref()).await,
        Method::GET | Method::HEAD => match &settings.static_dir {
            Some(dir) => static_file(dir, &parts).await,
            None => text(
                StatusCode::NOT_FOUND,
                "Not Found: call an API with POST /{name}, or connect with a WebSocket",
            ),
        },
        _ => {
            let mut res = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed: use POST to call an API",
            );
            res.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(ALLOW));
            res
        }
    };
    let mut res = with_cors(res, allow, &settings.origins);
    res.body_mut().active = active;
    res
}

fn preflight(req: &http::request::Parts, allow: Option<HeaderValue>) -> Response<ResponseBody> {
    let mut res = respond(StatusCode::NO_CONTENT, None, Bytes::new());
    let headers = res.headers_mut();
    headers.insert(header::ALLOW, HeaderValue::from_static(ALLOW));
    if allow.is_some() {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW),
        );
        let requested = req
            .headers
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("Content-Type"));
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
    }
    res
}

/// An answer after which the connection closes: the rest of the request
/// was not read.
fn closing(mut res: Response<ResponseBody>) -> Response<ResponseBody> {
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

fn too_large(max: usize) -> Response<ResponseBody> {
    let err = TsrpcError::server(format!(
        "Request body is larger than the limit of {max} bytes"
    ))
    .with_code(codes::INPUT_DATA_ERR)
    .with_data("limit", max);
    closing(reply_response(HttpReply::json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &err,
    )))
}

fn body_too_slow(limit: Duration) -> Response<ResponseBody> {
    let err = TsrpcError::server(format!(
        "The request body did not arrive within {} s",
        limit.as_secs_f32()
    ))
    .with_code(codes::INPUT_DATA_ERR);
    closing(reply_response(HttpReply::json_error(
        StatusCode::REQUEST_TIMEOUT,
        &err,
    )))
}

async fn post<A: App, B: RequestBody>(
    app: Arc<A>,
    parts: http::request::Parts,
    body: B,
    remote: Option<SocketAddr>,
    settings: &HttpSettings,
    active: Option<&Active>,
) -> Response<ResponseBody> {
    if !app.accepting() {
        super::Refusals::count(&app.refusals().stopping);
        let err = TsrpcError::server("The server is stopping").with_code(codes::SERVER_STOPPING);
        return reply_response(HttpReply::json_error(StatusCode::SERVICE_UNAVAILABLE, &err));
    }
    let max = settings.max_body_size;
    // A body that says it is too large (its `Content-Length`, which hyper
    // has read) is refused before it is read.
    if body.size_hint().lower() > max as u64 {
        return too_large(max);
    }
    let encoding = match parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        // tsrpc's binary clients name their service table; TSRPC's do not.
        Some(ct) if ct.starts_with("application/octet-stream") => {
            if parts.headers.contains_key(crate::codec::FINGERPRINT_HEADER) {
                Encoding::Binary
            } else {
                Encoding::Tsbuffer
            }
        }
        _ => Encoding::Json,
    };
    let is_msg = parts
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair == "type=msg"));
    let reading = active.map(Active::reading_body);
    let body = match read_body(body, max).await {
        Ok(body) => body,
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(max),
        Err(_) if reading.as_ref().is_some_and(|r| r.timed_out()) => {
            return body_too_slow(settings.body_read_timeout);
        }
        Err(e) => {
            tracing::debug!(?remote, "reading a request body failed: {e}");
            return text(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            );
        }
    };
    drop(reading);
    let call = HttpCall {
        uri: parts.uri,
        is_msg,
        encoding,
        body,
        headers: parts.headers,
        remote,
    };
    reply_response(app.http_call(call).await)
}

/// A request body, read whole, up to `max` bytes (past them, the error
/// is a [`LengthLimitError`]). A body that came in one chunk, as most
/// calls' bodies do, is that chunk: no list of chunks, no copy.
async fn read_body<B: RequestBody>(body: B, max: usize) -> Result<Bytes, BoxError> {
    let mut body = std::pin::pin!(Limited::new(body, max));
    let mut first = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        // Trailers say nothing to a call.
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        match &mut joined {
            Some(joined) => joined.extend_from_slice(&data),
            None if first.is_empty() => first = data,
            None => {
                let mut both = BytesMut::with_capacity(first.len() + data.len());
                both.extend_from_slice(&first);
                both.extend_from_slice(&data);
                joined = Some(both);
            }
        }
    }
    Ok(joined.map_or(first, BytesMut::freeze))
}

/// The file under `root` that a request path names, refusing any path that
/// would leave `root` and any hidden file or folder (`.git`, `.env`).
fn resolve(root: &Path, uri_path: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(uri_path)
        .decode_utf8()
        .ok()?;
    let mut path = root.to_path_buf();
    for component in Path::new(decoded.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) if part.as_encoded_bytes().starts_with(b".") => return None,
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(path)
}

/// Serves a file of the static folder, read as it is sent (never whole
/// into memory), with its length; `HEAD` gets the headers alone.
async fn static_file(root: &Path, req: &http::request::Parts) -> Response<ResponseBody> {
    let not_found = || text(StatusCode::NOT_FOUND, "Not Found");
    let Some(mut path) = resolve(root, req.uri.path()) else {
        return not_found();
    };
    if tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_dir()) {
        path.push("index.html");
    }
    // Symbolic links must not lead out of the folder either.
    let (Ok(real), Ok(real_root)) = (
        tokio::fs::canonicalize(&path).await,
        tokio::fs::canonicalize(root).await,
    ) else {
        return not_found();
    };
    if !real.starts_with(&real_root) {
        return not_found();
    }
    let Ok(file) = tokio::fs::File::open(&real).await else {
        return not_found();
    };
    let Ok(meta) = file.metadata().await else {
        return not_found();
    };
    if !meta.is_file() {
        return not_found();
    }
    let kind = if req.method == Method::HEAD {
        BodyKind::Full(Full::new(Bytes::new()))
    } else {
        BodyKind::File(Box::new(ReaderStream::with_capacity(file, 64 << 10)))
    };
    let mut res = Response::new(ResponseBody { kind, active: None });
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
    let mime = mime_guess::from_path(&real).first_or_octet_stream();
    if let Ok(value) = HeaderValue::from_str(mime.as_ref()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    res
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use bytes::Bytes;
    use http::HeaderMap;
    use http_body_util::{LengthLimitError, StreamBody};
    use hyper::body::Frame;

    fn body(
        frames: Vec<Frame<Bytes>>,
    ) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, std::io::Error>>> {
        StreamBody::new(futures_util::stream::iter(frames.into_iter().map(Ok)))
    }

    #[tokio::test]
    async fn a_body_is_read_whole_within_its_limit() {
        // One chunk: that chunk itself, not a copy.
        let one = Bytes::from_static(b"{\"a\":1}");
        let read = super::read_body(body(vec![Frame::data(one.clone())]), 100)
            .await
            .unwrap();
        assert_eq!(read.as_ptr(), one.as_ptr());
        // Several chunks, an empty one and trailers: joined in order.
        let frames = vec![
            Frame::data(Bytes::from_static(b"ab")),
            Frame::data(Bytes::new()),
            Frame::data(Bytes::from_static(b"cd")),
            Frame::trailers(HeaderMap::new()),
            Frame::data(Bytes::from_static(b"e")),
        ];
        let read = super::read_body(body(frames), 100).await.unwrap();
        assert_eq!(read, "abcde");
        assert_eq!(super::read_body(body(vec![]), 100).await.unwrap(), "");
        // Past the limit: a `LengthLimitError`, however it is cut.
        for frames in [
            vec![Frame::data(Bytes::from_static(b"abcdef"))],
            vec![
                Frame::data(Bytes::from_static(b"abc")),
                Frame::data(Bytes::from_static(b"def")),
            ],
        ] {
            let err = super::read_body(body(frames), 5).await.unwrap_err();
            assert!(err.downcast_ref::<LengthLimitError>().is_some(), "{err}");
        }
    }

    #[test]
    fn paths_cannot_leave_the_static_folder() {
        let root = Path::new("/srv/www");
        assert_eq!(
            super::resolve(root, "/a/b.js").unwrap(),
            Path::new("/srv/www/a/b.js")
        );
        assert_eq!(super::resolve(root, "/").unwrap(), Path::new("/srv/www"));
        assert_eq!(
            super::resolve(root, "/./x").unwrap(),
            Path::new("/srv/www/x")
        );
        assert!(super::resolve(root, "/../etc/passwd").is_none());
        assert!(super::resolve(root, "/a/%2e%2e/%2e%2e/etc").is_none());
        assert!(super::resolve(root, "/%ff").is_none());
        assert!(super::resolve(root, "/.env").is_none());
        assert!(super::resolve(root, "/a/.git/config").is_none());
        assert!(super::resolve(root, "/%2egit/config").is_none());
        assert_eq!(
            super::resolve(root, "/a.b/c.js").unwrap(),
            Path::new("/srv/www/a.b/c.js")
        );
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    http::HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn origins_outside_the_list_are_refused() {
        use super::{OriginCheck, Origins};
        let list = Origins::List(vec!["https://app.example".into()]);
        let allowed = |h: &[(&'static str, &'static str)]| {
            matches!(list.check(&headers(h)), OriginCheck::Allowed(_))
        };
        assert!(allowed(&[("origin", "https://app.example")]));
        assert!(allowed(&[]), "no Origin: not a browser");
        assert!(allowed(&[
            ("origin", "http://127.0.0.1:3000"),
            ("host", "127.0.0.1:3000")
        ]));
        assert!(!allowed(&[("origin", "https://evil.example")]));
        assert!(!allowed(&[("origin", "https://app.example.evil")]));
        assert!(!allowed(&[
            ("origin", "http://127.0.0.1:3001"),
            ("host", "127.0.0.1:3000")
        ]));
        assert!(!allowed(&[("origin", "null")]));
        assert_eq!(
            Origins::Any.check(&headers(&[("origin", "https://evil.example")])),
            OriginCheck::Allowed(Some(http::HeaderValue::from_static("*")))
        );
    }
}
