//! HTTP on the shared listener: API calls and messages as POST requests
//! (TSRPC's HTTP mode), CORS, limits, static files. The calls themselves
//! go to the app as [`HttpCall`]s; this module never knows which API.

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;

use super::listener::App;
use crate::codec::{self, Encoding};
use crate::error::{TsrpcError, codes};

/// The default [`HttpSettings::header_read_timeout`].
pub(crate) const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Which origins may call from a browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cors {
    /// `Access-Control-Allow-Origin: *`.
    Any,
    /// Only these origins (echoed back); no CORS headers for others.
    Origins(Vec<String>),
}

/// HTTP settings of a server.
#[derive(Clone, Debug)]
pub(crate) struct HttpSettings {
    pub(crate) max_body_size: usize,
    pub(crate) cors: Cors,
    pub(crate) static_dir: Option<PathBuf>,
    pub(crate) header_read_timeout: Duration,
}

/// One API call or message received over HTTP.
#[derive(Debug)]
pub(crate) struct HttpCall {
    /// The service name: the path without its leading `/`.
    pub(crate) name: String,
    /// `?type=msg`: a message, answered with an empty body.
    pub(crate) is_msg: bool,
    pub(crate) encoding: Encoding,
    pub(crate) body: Bytes,
    pub(crate) headers: HeaderMap,
    pub(crate) remote: SocketAddr,
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

/// The header that carries a binary-mode client's fingerprint.
pub(crate) const FINGERPRINT_HEADER: &str = "x-tsrpc-fingerprint";

const ALLOW: &str = "GET, HEAD, POST, OPTIONS";

fn respond(
    status: StatusCode,
    content_type: Option<&'static str>,
    body: Bytes,
) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    if let Some(ct) = content_type {
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    res
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    respond(
        status,
        Some("text/plain; charset=utf-8"),
        Bytes::from_static(body.as_bytes()),
    )
}

fn reply_response(reply: HttpReply) -> Response<Full<Bytes>> {
    let content_type = reply.encoding.map(|e| match e {
        Encoding::Json => "application/json; charset=utf-8",
        Encoding::Binary => "application/octet-stream",
    });
    respond(reply.status, content_type, reply.body)
}

/// The `Access-Control-Allow-Origin` value for this request, if any.
fn allowed_origin(cors: &Cors, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
    match cors {
        Cors::Any => Some(HeaderValue::from_static("*")),
        Cors::Origins(list) => {
            let origin = origin?;
            let text = origin.to_str().ok()?;
            list.iter().any(|o| o == text).then(|| origin.clone())
        }
    }
}

fn with_cors(
    mut res: Response<Full<Bytes>>,
    allow: Option<HeaderValue>,
    cors: &Cors,
) -> Response<Full<Bytes>> {
    if let Some(allow) = allow {
        let headers = res.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if matches!(cors, Cors::Origins(_)) {
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
    res
}

/// Serves one HTTP request that is not a WebSocket upgrade.
pub(crate) async fn serve<A: App>(
    app: Arc<A>,
    req: Request<Incoming>,
    remote: SocketAddr,
) -> Response<Full<Bytes>> {
    let settings = app.http_settings().clone();
    let allow = allowed_origin(&settings.cors, req.headers().get(header::ORIGIN));
    let res = match *req.method() {
        Method::OPTIONS => preflight(&req, allow.clone()),
        Method::POST => post(app, req, remote, &settings).await,
        Method::GET | Method::HEAD => match &settings.static_dir {
            Some(dir) => static_file(dir, &req).await,
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
    with_cors(res, allow, &settings.cors)
}

fn preflight(req: &Request<Incoming>, allow: Option<HeaderValue>) -> Response<Full<Bytes>> {
    let mut res = respond(StatusCode::NO_CONTENT, None, Bytes::new());
    let headers = res.headers_mut();
    headers.insert(header::ALLOW, HeaderValue::from_static(ALLOW));
    if allow.is_some() {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW),
        );
        let requested = req
            .headers()
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

fn too_large(max: usize) -> Response<Full<Bytes>> {
    let err = TsrpcError::server(format!(
        "Request body is larger than the limit of {max} bytes"
    ))
    .with_code(codes::INPUT_DATA_ERR)
    .with_data("limit", max);
    let mut res = reply_response(HttpReply::json_error(StatusCode::PAYLOAD_TOO_LARGE, &err));
    // The rest of the body is not read: this connection cannot be reused.
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

async fn post<A: App>(
    app: Arc<A>,
    req: Request<Incoming>,
    remote: SocketAddr,
    settings: &HttpSettings,
) -> Response<Full<Bytes>> {
    if !app.accepting() {
        let err = TsrpcError::server("The server is stopping").with_code(codes::SERVER_STOPPING);
        return reply_response(HttpReply::json_error(StatusCode::SERVICE_UNAVAILABLE, &err));
    }
    let max = settings.max_body_size;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return too_large(max);
    }
    let encoding = match req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        Some(ct) if ct.starts_with("application/octet-stream") => Encoding::Binary,
        _ => Encoding::Json,
    };
    let name = req.uri().path().trim_start_matches('/').to_owned();
    let is_msg = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair == "type=msg"));
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(max),
        Err(e) => {
            tracing::debug!(%remote, "reading a request body failed: {e}");
            return text(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            );
        }
    };
    let call = HttpCall {
        name,
        is_msg,
        encoding,
        body,
        headers: parts.headers,
        remote,
    };
    reply_response(app.http_call(call).await)
}

/// The file under `root` that a request path names, refusing any path that
/// would leave `root`.
fn resolve(root: &Path, uri_path: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(uri_path)
        .decode_utf8()
        .ok()?;
    let mut path = root.to_path_buf();
    for component in Path::new(decoded.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(path)
}

async fn static_file(root: &Path, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let not_found = || text(StatusCode::NOT_FOUND, "Not Found");
    let Some(mut path) = resolve(root, req.uri().path()) else {
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
    let Ok(contents) = tokio::fs::read(&real).await else {
        return not_found();
    };
    let mime = mime_guess::from_path(&real).first_or_octet_stream();
    let mut res = Response::new(Full::new(if req.method() == Method::HEAD {
        Bytes::new()
    } else {
        Bytes::from(contents)
    }));
    if let Ok(value) = HeaderValue::from_str(mime.as_ref()) {
        res.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    res
}

#[cfg(test)]
mod tests {
    use std::path::Path;

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
    }
}
