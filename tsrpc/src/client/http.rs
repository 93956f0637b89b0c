//! [`HttpClient`]: calls and messages as HTTP POST requests, over pooled
//! keep-alive connections.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::oneshot;

use super::flows::{ClientFlows, DataFlow};
use super::pending::{AbortBy, PendingCalls};
use super::{CallOptions, DEFAULT_TIMEOUT, Sent};
use crate::codec::FINGERPRINT_HEADER;
use crate::codec::{self, Encoding, ServerFrame, WireFrame};
use crate::error::{TsrpcError, codes};
use crate::flow::FlowStep;
use crate::proto::{Api, Message, ServiceInfo, ServiceKind, ServiceTable};

#[derive(Clone, Debug)]
struct Settings {
    base: String,
    encoding: Encoding,
    timeout: Duration,
    connect_timeout: Duration,
    headers: HeaderMap,
    max_response_size: usize,
    /// The roots `https://` trusts; webpki's when not set.
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::ClientTls>,
}

/// How the client opens connections: plain, or TLS too (`https://`).
#[cfg(feature = "tls")]
type Connector = Timed<hyper_rustls::HttpsConnector<HttpConnector>>;
#[cfg(not(feature = "tls"))]
type Connector = Timed<HttpConnector>;

/// A connector whose connections must be set up, TLS handshake included,
/// within the connect timeout: a server that accepts TCP and then stalls
/// fails the call as one that never accepts does.
#[derive(Clone, Debug)]
struct Timed<C> {
    connector: C,
    timeout: Duration,
}

impl<C> tower_service::Service<http::Uri> for Timed<C>
where
    C: tower_service::Service<http::Uri>,
    C::Future: Send + 'static,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = C::Response;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = crate::task::BoxFuture<Result<C::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.connector.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.connector.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(connected) => connected.map_err(Into::into),
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the connection was not set up in time",
                )
                .into()),
            }
        })
    }
}

struct HttpInner {
    settings: Settings,
    table: Result<&'static ServiceTable, TsrpcError>,
    client: Client<Connector, Full<Bytes>>,
    pending: PendingCalls<oneshot::Sender<()>>,
    flows: ClientFlows,
}

/// An HTTP client: each call is one POST request. Cheap to clone; clones
/// share the connection pool.
///
/// ```no_run
/// # use serde::{Deserialize, Serialize};
/// # #[tsrpc::api] #[derive(Serialize, Deserialize)] pub struct ReqSend { pub content: String }
/// # #[derive(Serialize, Deserialize)] pub struct ResSend { pub time: tsrpc::Timestamp }
/// # #[tokio::main] async fn main() -> Result<(), tsrpc::TsrpcError> {
/// use tsrpc::{CallOptions, HttpClient};
///
/// let client = HttpClient::builder("http://127.0.0.1:3000")
///     .json(true)
///     .header("authorization", "Bearer my-token")
///     .build()?;
/// let res = client.call_api(ReqSend { content: "Hello".into() }).await?;
/// let options = CallOptions::default().header("x-request-id", "42");
/// client.call_api_with(ReqSend { content: "Again".into() }, options).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<HttpInner>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("server", &self.inner.settings.base)
            .field("encoding", &self.inner.settings.encoding)
            .finish_non_exhaustive()
    }
}

/// Builds an [`HttpClient`]; get one with [`HttpClient::builder`].
///
/// ```
/// use std::time::Duration;
/// let client = tsrpc::HttpClient::builder("http://127.0.0.1:3000/api")
///     .json(true)                              // binary by default
///     .timeout(Duration::from_secs(5))         // per call
///     .header("authorization", "Bearer token") // on every request
///     .build()?;
/// # Ok::<(), tsrpc::TsrpcError>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpClientBuilder {
    settings: Settings,
    error: Option<TsrpcError>,
}

impl HttpClientBuilder {
    /// JSON mode (TSRPC v3 compatible) when true; binary (the default) when false.
    pub fn json(mut self, json: bool) -> Self {
        self.settings.encoding = if json {
            Encoding::Json
        } else {
            Encoding::Binary
        };
        self
    }

    /// The encoding to speak: [`Encoding::Tsbuffer`] to call a TSRPC
    /// server in its default binary mode, [`Encoding::Json`] in its JSON
    /// mode, [`Encoding::Binary`] (the default) for a tsrpc server.
    pub fn encoding(mut self, encoding: Encoding) -> Self {
        self.settings.encoding = encoding;
        self
    }

    /// How long to wait for a new connection to be set up: the server to
    /// accept it and, for `https://`, the TLS handshake (10 s by default);
    /// the call then fails with a `NetworkError`. The call timeout bounds
    /// the whole call as well.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// The servers an `https://` client trusts: the Mozilla roots by
    /// default; [`ClientTls::with_root_pem`](crate::tls::ClientTls::with_root_pem)
    /// for a private CA or a self-signed certificate.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::ClientTls) -> Self {
        self.settings.tls = Some(tls);
        self
    }

    /// The default call timeout (15 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// A header sent with every request, such as `authorization`.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(name), Ok(value)) => {
                self.settings.headers.insert(name, value);
            }
            _ => {
                self.error = Some(TsrpcError::client(format!(
                    "invalid header {name:?}: {value:?}"
                )))
            }
        }
        self
    }

    /// The largest response body accepted (16 MiB by default).
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.settings.max_response_size = bytes;
        self
    }

    /// Builds the client; fails on an invalid URL or header.
    pub fn build(self) -> Result<HttpClient, TsrpcError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let base = self.settings.base.trim_end_matches('/').to_owned();
        let scheme_ok =
            base.starts_with("http://") || (cfg!(feature = "tls") && base.starts_with("https://"));
        if base.parse::<http::Uri>().is_err() || !scheme_ok {
            return Err(TsrpcError::client(format!(
                "invalid server URL {base:?}: expected http://host:port{}",
                if cfg!(feature = "tls") {
                    " or https://host:port"
                } else {
                    ""
                }
            )));
        }
        let table = ServiceTable::global().map_err(|e| TsrpcError::client(e.to_string()));
        #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
        let mut connector = HttpConnector::new();
        #[cfg(feature = "tls")]
        let connector = {
            connector.enforce_http(false);
            let tls = self.settings.tls.clone().unwrap_or_default();
            // hyper-rustls sets ALPN itself (and refuses a config with some).
            let mut config = (*tls.rustls_config()).clone();
            config.alpn_protocols.clear();
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(config)
                .https_or_http()
                .enable_http1()
                .wrap_connector(connector)
        };
        let connector = Timed {
            connector,
            timeout: self.settings.connect_timeout,
        };
        Ok(HttpClient {
            inner: Arc::new(HttpInner {
                settings: Settings {
                    base,
                    ..self.settings
                },
                table,
                client: Client::builder(TokioExecutor::new()).build(connector),
                pending: PendingCalls::new(),
                flows: ClientFlows::new(),
            }),
        })
    }
}

impl HttpClient {
    /// A client of the server at `url` (`http://host:port`) with the defaults.
    pub fn new(url: impl Into<String>) -> Result<Self, TsrpcError> {
        Self::builder(url).build()
    }

    /// A builder for a client of the server at `url`.
    pub fn builder(url: impl Into<String>) -> HttpClientBuilder {
        HttpClientBuilder {
            settings: Settings {
                base: url.into(),
                encoding: Encoding::Binary,
                timeout: DEFAULT_TIMEOUT,
                connect_timeout: super::ws::DEFAULT_CONNECT_TIMEOUT,
                headers: HeaderMap::new(),
                max_response_size: crate::transport::DEFAULT_MAX_MESSAGE_SIZE,
                #[cfg(feature = "tls")]
                tls: None,
            },
            error: None,
        }
    }

    fn service(&self, kind: ServiceKind, name: &str) -> Result<&'static ServiceInfo, TsrpcError> {
        self.inner
            .table
            .clone()?
            .find(kind, name)
            .ok_or_else(|| TsrpcError::client(format!("{kind} {name:?} is not registered")))
    }

    /// The client's flows (the call, message and data flows; an HTTP client
    /// has no connection, so the connection flows never run).
    pub fn flows(&self) -> &ClientFlows {
        &self.inner.flows
    }

    /// The sn the last call was given, for [`abort`](Self::abort).
    pub fn last_sn(&self) -> u32 {
        self.inner.pending.last_sn()
    }

    /// Calls API `R` with the default options.
    pub async fn call_api<R: Api>(&self, req: R) -> Result<R::Res, TsrpcError> {
        self.call_api_with(req, CallOptions::default()).await
    }

    /// Calls API `R`. Resolves with the response, the server's error, a
    /// `NetworkError` when the server cannot be reached (`TIMEOUT` past the
    /// timeout), or `ABORTED`. Errors of a non-200 response carry its
    /// `status`. The call flows run around it.
    pub async fn call_api_with<R: Api>(
        &self,
        req: R,
        options: CallOptions,
    ) -> Result<R::Res, TsrpcError> {
        let service = self.service(ServiceKind::Api, R::NAME)?;
        let encoding = self.inner.settings.encoding;
        super::call_through_flows(
            &self.inner.flows,
            service,
            encoding,
            req,
            options,
            |payload, options| self.send_call(service, payload, options),
        )
        .await
    }

    /// Posts an encoded request and reads its return.
    async fn send_call(
        &self,
        service: &'static ServiceInfo,
        payload: Bytes,
        options: CallOptions,
    ) -> Sent {
        let sn = self.inner.pending.next_sn();
        let encoding = self.inner.settings.encoding;
        let body = match encoding {
            Encoding::Json => payload,
            Encoding::Tsbuffer => {
                let frame = codec::encode_tsbuffer_http_request_with(service.id(), |out| {
                    out.extend_from_slice(&payload);
                    Ok(())
                });
                match frame {
                    Ok(frame) => frame.into_bytes(),
                    Err(e) => return (sn, Err(TsrpcError::client(e.to_string()))),
                }
            }
            Encoding::Binary => {
                let frame = codec::encode_api_request_with(
                    Encoding::Binary,
                    service.id(),
                    service.name(),
                    sn,
                    |out| {
                        out.extend_from_slice(&payload);
                        Ok(())
                    },
                );
                match frame {
                    Ok(frame) => frame.into_bytes(),
                    Err(e) => return (sn, Err(TsrpcError::client(e.to_string()))),
                }
            }
        };
        let (abort, aborted) = oneshot::channel();
        let _pending = self
            .inner
            .pending
            .insert(sn, options.abort_key.clone(), abort);
        let timeout = options.timeout.unwrap_or(self.inner.settings.timeout);
        let exchange = self.post(service.name(), false, body, &options);
        let (status, body) = tokio::select! {
            result = tokio::time::timeout(timeout, exchange) => match result {
                Ok(Ok(exchanged)) => exchanged,
                Ok(Err(e)) => return (sn, Err(e)),
                Err(_) => return (sn, Err(TsrpcError::network("Request Timeout").with_code(codes::TIMEOUT))),
            },
            _ = aborted => return (sn, Err(TsrpcError::client("Request aborted").with_code(codes::ABORTED))),
        };
        let with_status = |err: TsrpcError| {
            if status == StatusCode::OK {
                err
            } else {
                err.with_data("status", status.as_u16())
            }
        };
        let result = match encoding {
            Encoding::Json => codec::decode_http_json_return(body.clone()).ok(),
            Encoding::Binary | Encoding::Tsbuffer => {
                match codec::decode_server_frame(encoding, WireFrame::Binary(body.clone())) {
                    Ok(ServerFrame::ApiReturn { result, .. }) => Some(result),
                    _ => None,
                }
            }
        };
        let Some(result) = result else {
            let excerpt = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            let err = TsrpcError::network(format!(
                "HTTP {status}: the response is not a tsrpc return: {excerpt}"
            ));
            return (sn, Err(with_status(err)));
        };
        (sn, result.map_err(with_status))
    }

    /// Sends a message (`POST /{name}?type=msg`).
    pub async fn send_msg<M: Message>(&self, msg: &M) -> Result<(), TsrpcError> {
        self.send_msg_with(msg, CallOptions::default()).await
    }

    /// Sends a message with options (timeout, headers), through the message flows.
    pub async fn send_msg_with<M: Message>(
        &self,
        msg: &M,
        options: CallOptions,
    ) -> Result<(), TsrpcError> {
        let service = self.service(ServiceKind::Msg, M::NAME)?;
        let encoding = self.inner.settings.encoding;
        super::send_msg_through_flows(&self.inner.flows, service, encoding, msg, |payload| {
            self.post_msg(service, payload, options)
        })
        .await
    }

    async fn post_msg(
        &self,
        service: &'static ServiceInfo,
        payload: Bytes,
        options: CallOptions,
    ) -> Result<(), TsrpcError> {
        let encoding = self.inner.settings.encoding;
        let body = match encoding {
            Encoding::Json => payload,
            Encoding::Binary | Encoding::Tsbuffer => {
                codec::encode_client_message_with(encoding, service.id(), service.name(), |out| {
                    out.extend_from_slice(&payload);
                    Ok(())
                })
                .map_err(|e| TsrpcError::client(e.to_string()))?
                .into_bytes()
            }
        };
        let timeout = options.timeout.unwrap_or(self.inner.settings.timeout);
        let (status, body) =
            tokio::time::timeout(timeout, self.post(service.name(), true, body, &options))
                .await
                .map_err(|_| TsrpcError::network("Request Timeout").with_code(codes::TIMEOUT))??;
        if status == StatusCode::OK && body.is_empty() {
            return Ok(());
        }
        let err = match encoding {
            Encoding::Json => codec::decode_http_json_return(body)
                .ok()
                .and_then(Result::err),
            Encoding::Binary | Encoding::Tsbuffer => {
                match codec::decode_server_frame(encoding, WireFrame::Binary(body)) {
                    Ok(ServerFrame::ApiReturn { result: Err(e), .. }) => Some(e),
                    _ => None,
                }
            }
        };
        Err(err
            .unwrap_or_else(|| {
                TsrpcError::network(format!("HTTP {status} for message {}", service.name()))
            })
            .with_data("status", status.as_u16()))
    }

    async fn post(
        &self,
        name: &str,
        is_msg: bool,
        body: Bytes,
        options: &CallOptions,
    ) -> Result<(StatusCode, Bytes), TsrpcError> {
        let settings = &self.inner.settings;
        let flows = &self.inner.flows;
        let as_frame = |body: Bytes| match settings.encoding {
            Encoding::Json => WireFrame::Text(body),
            Encoding::Binary | Encoding::Tsbuffer => WireFrame::Binary(body),
        };
        let body = if flows.pre_send_data.is_empty() {
            body
        } else {
            match flows
                .pre_send_data
                .exec(DataFlow {
                    data: as_frame(body),
                })
                .await
            {
                FlowStep::Continue(data) => data.data.into_bytes(),
                FlowStep::Stop => {
                    return Err(TsrpcError::client(format!(
                        "The request to {name} was dropped by pre_send_data"
                    )));
                }
                FlowStep::Fail(e) => return Err(e),
            }
        };
        let query = if is_msg { "?type=msg" } else { "" };
        let url = format!("{}/{name}{query}", settings.base);
        let content_type = match settings.encoding {
            Encoding::Json => "application/json",
            Encoding::Binary | Encoding::Tsbuffer => "application/octet-stream",
        };
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&url)
            .header(header::CONTENT_TYPE, content_type);
        if let Some(headers) = request.headers_mut() {
            headers.extend(settings.headers.clone());
            if settings.encoding == Encoding::Binary
                && let Ok(table) = &self.inner.table
                && let Ok(value) = HeaderValue::try_from(table.fingerprint().to_string())
            {
                headers.insert(FINGERPRINT_HEADER, value);
            }
            for (k, v) in &options.headers {
                match (
                    HeaderName::try_from(k.as_str()),
                    HeaderValue::try_from(v.as_str()),
                ) {
                    (Ok(k), Ok(v)) => {
                        headers.insert(k, v);
                    }
                    _ => return Err(TsrpcError::client(format!("invalid header {k:?}: {v:?}"))),
                }
            }
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| TsrpcError::client(format!("invalid request to {url}: {e}")))?;
        let response = self.inner.client.request(request).await.map_err(|e| {
            let within = if e.is_connect() && timed_out(&e) {
                format!(
                    " (connect timeout {} ms)",
                    settings.connect_timeout.as_millis()
                )
            } else {
                String::new()
            };
            TsrpcError::network(format!("failed to reach {url}: {}{within}", causes(&e)))
        })?;
        let status = response.status();
        let body = Limited::new(response.into_body(), settings.max_response_size)
            .collect()
            .await
            .map_err(|e| TsrpcError::network(format!("failed to read the response of {url}: {e}")))?
            .to_bytes();
        if flows.pre_recv_data.is_empty() {
            return Ok((status, body));
        }
        match flows
            .pre_recv_data
            .exec(DataFlow {
                data: as_frame(body),
            })
            .await
        {
            FlowStep::Continue(data) => Ok((status, data.data.into_bytes())),
            FlowStep::Stop => Err(TsrpcError::client(format!(
                "The response of {name} was dropped by pre_recv_data"
            ))),
            FlowStep::Fail(e) => Err(e),
        }
    }

    fn abort_by(&self, by: AbortBy<'_>) {
        for abort in self.inner.pending.take_aborted(by) {
            let _ = abort.send(());
        }
    }

    /// Aborts the pending call with this sn: it resolves with `ABORTED`.
    pub fn abort(&self, sn: u32) {
        self.abort_by(AbortBy::Sn(sn));
    }

    /// Aborts every pending call made with this abort key.
    pub fn abort_by_key(&self, key: &str) {
        self.abort_by(AbortBy::Key(key));
    }

    /// Aborts every pending call.
    pub fn abort_all(&self) {
        self.abort_by(AbortBy::All);
    }
}

/// An error and its causes, `outer: inner: ...` (hyper's own text is only
/// "client error (Connect)").
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// True when one of the error's causes is an I/O time-out.
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(cause) = source {
        if cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = cause.source();
    }
    false
}
