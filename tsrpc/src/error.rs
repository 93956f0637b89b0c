//! [`TsrpcError`]: the one error type every call resolves with.
//!
//! Its shape is TSRPC's `TsrpcError` (`message`, `type`, optional `code`,
//! any extra properties), so a TypeScript peer reads it unchanged:
//!
//! ```json
//! {"message":"Content is empty","type":"ApiError","code":"EMPTY","field":"content"}
//! ```

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The error codes TSRPC peers know, as constants.
///
/// Server-side codes travel inside a returned error; client-side codes are
/// produced locally by a client.
pub mod codes {
    /// The request or message did not decode into the protocol type (server error).
    pub const INPUT_DATA_ERR: &str = "INPUT_DATA_ERR";
    /// A handler failed in a way it did not report itself, such as a panic (server error).
    pub const INTERNAL_ERR: &str = "INTERNAL_ERR";
    /// No handler implements the called API (server error).
    pub const UNHANDLED_API: &str = "UNHANDLED_API";
    /// The handler ran past the server's API timeout (server error).
    pub const SERVER_TIMEOUT: &str = "SERVER_TIMEOUT";
    /// The server is stopping and refuses new calls (server error).
    pub const SERVER_STOPPING: &str = "SERVER_STOPPING";
    /// No return arrived within the call's timeout (client side, network error).
    pub const TIMEOUT: &str = "TIMEOUT";
    /// The connection dropped while the call was pending (client side, network error).
    pub const LOST_CONN: &str = "LOST_CONN";
    /// The call was made while the WebSocket was not connected (client side).
    pub const WS_NOT_OPEN: &str = "WS_NOT_OPEN";
    /// The call was aborted with `abort`, `abort_by_key` or `abort_all` (client side).
    pub const ABORTED: &str = "ABORTED";
    /// A `pre_connect` node refused a WebSocket upgrade as unauthenticated:
    /// answered 401 (see `ConnectFlow::unauthorized`).
    pub const UNAUTHORIZED: &str = "UNAUTHORIZED";
    /// A WebSocket upgrade was refused with 403 Forbidden (by a server's
    /// `pre_connect` node, say); the client's connect error carries it.
    pub const FORBIDDEN: &str = "FORBIDDEN";
}

/// Which side of the exchange an error comes from: TSRPC's `TsrpcErrorType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The transport failed: connect refused, connection lost, timeout.
    NetworkError,
    /// The server failed to process the call (bad input, no handler, internal error).
    ServerError,
    /// The client refused to send the call (not connected, bad local state).
    ClientError,
    /// The handler returned a business error on purpose (`TsrpcError::api`).
    ApiError,
}

impl ErrorKind {
    /// The kind's name as it appears in the `type` property on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NetworkError => "NetworkError",
            ErrorKind::ServerError => "ServerError",
            ErrorKind::ClientError => "ClientError",
            ErrorKind::ApiError => "ApiError",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error code: TSRPC allows a string or an integer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ErrorCode {
    /// A string code such as `"NEED_LOGIN"`.
    Str(String),
    /// An integer code such as `404`.
    Int(i64),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::Str(s) => f.write_str(s),
            ErrorCode::Int(i) => write!(f, "{i}"),
        }
    }
}

impl From<&str> for ErrorCode {
    fn from(s: &str) -> Self {
        ErrorCode::Str(s.to_owned())
    }
}

impl From<String> for ErrorCode {
    fn from(s: String) -> Self {
        ErrorCode::Str(s)
    }
}

impl From<i64> for ErrorCode {
    fn from(i: i64) -> Self {
        ErrorCode::Int(i)
    }
}

impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        matches!(self, ErrorCode::Str(s) if s == other)
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

/// The error every tsrpc call resolves with when it does not succeed.
///
/// Build business errors with [`TsrpcError::api`] (optionally
/// [`with_code`](Self::with_code) and [`with_data`](Self::with_data)); the
/// framework produces the other kinds. Inspect with the predicates
/// ([`is_api`](Self::is_api), [`is_network`](Self::is_network), ...) and
/// [`has_code`](Self::has_code).
///
/// ```
/// use tsrpc::{codes, TsrpcError};
///
/// let err = TsrpcError::api("Please log in first")
///     .with_code("NEED_LOGIN")
///     .with_data("loginUrl", "/login");
/// assert!(err.is_api());
/// assert!(err.has_code("NEED_LOGIN"));
/// assert_eq!(
///     serde_json::to_string(&err).unwrap(),
///     r#"{"message":"Please log in first","type":"ApiError","code":"NEED_LOGIN","loginUrl":"/login"}"#
/// );
///
/// let lost = TsrpcError::network("Lost connection to server").with_code(codes::LOST_CONN);
/// assert!(lost.is_network() && lost.has_code(codes::LOST_CONN));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TsrpcError {
    /// Human-readable description.
    pub message: String,
    /// Which side failed.
    pub kind: ErrorKind,
    /// Machine-readable code, if any.
    pub code: Option<ErrorCode>,
    /// Extra properties carried next to `message`, `type` and `code`.
    pub data: Map<String, Value>,
}

impl TsrpcError {
    /// An error of the given kind with no code and no extra data.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        TsrpcError {
            message: message.into(),
            kind,
            code: None,
            data: Map::new(),
        }
    }

    /// A business error returned on purpose by a handler (`ApiError`).
    pub fn api(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ApiError, message)
    }

    /// A server-side failure (`ServerError`).
    pub fn server(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ServerError, message)
    }

    /// A failure on the client before anything was sent (`ClientError`).
    pub fn client(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ClientError, message)
    }

    /// A transport failure (`NetworkError`).
    pub fn network(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NetworkError, message)
    }

    /// Sets the code.
    pub fn with_code(mut self, code: impl Into<ErrorCode>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Adds an extra property. `message`, `type` and `code` are reserved:
    /// setting them here is ignored on the wire in favour of the fields.
    pub fn with_data(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.data.insert(key.into(), value.into());
        self
    }

    /// The `INPUT_DATA_ERR` server error: the input did not decode.
    pub fn input_data(message: impl Into<String>) -> Self {
        Self::server(message).with_code(codes::INPUT_DATA_ERR)
    }

    /// The `INTERNAL_ERR` server error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::server(message).with_code(codes::INTERNAL_ERR)
    }

    /// True for an `ApiError`.
    pub fn is_api(&self) -> bool {
        self.kind == ErrorKind::ApiError
    }

    /// True for a `ServerError`.
    pub fn is_server(&self) -> bool {
        self.kind == ErrorKind::ServerError
    }

    /// True for a `ClientError`.
    pub fn is_client(&self) -> bool {
        self.kind == ErrorKind::ClientError
    }

    /// True for a `NetworkError`.
    pub fn is_network(&self) -> bool {
        self.kind == ErrorKind::NetworkError
    }

    /// True when the code is the given string code.
    pub fn has_code(&self, code: &str) -> bool {
        self.code.as_ref().is_some_and(|c| c == code)
    }
}

impl fmt::Display for TsrpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(code) = &self.code {
            write!(f, " [{code}]")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for TsrpcError {}

const RESERVED_KEYS: [&str; 3] = ["message", "type", "code"];

impl Serialize for TsrpcError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("message", &self.message)?;
        map.serialize_entry("type", &self.kind)?;
        if let Some(code) = &self.code {
            map.serialize_entry("code", code)?;
        }
        for (k, v) in &self.data {
            if !RESERVED_KEYS.contains(&k.as_str()) {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for TsrpcError {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut data = Map::<String, Value>::deserialize(deserializer)?;
        let message = match data.remove("message") {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => return Err(D::Error::missing_field("message")),
        };
        // TSRPC peers always send `type`; an error without one is taken as an ApiError.
        let kind = match data.remove("type") {
            Some(v) => ErrorKind::deserialize(v).map_err(D::Error::custom)?,
            None => ErrorKind::ApiError,
        };
        let code = match data.remove("code") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                ErrorCode::deserialize(v)
                    .map_err(|_| D::Error::custom("error code must be a string or an integer"))?,
            ),
        };
        Ok(TsrpcError {
            message,
            kind,
            code,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_extra_properties() {
        let text = r#"{"message":"m","type":"ServerError","code":404,"extra":{"a":[1]}}"#;
        let err: TsrpcError = serde_json::from_str(text).unwrap();
        assert!(err.is_server());
        assert_eq!(err.code, Some(ErrorCode::Int(404)));
        assert_eq!(err.data["extra"]["a"][0], 1);
        assert_eq!(serde_json::to_string(&err).unwrap(), text);
    }

    #[test]
    fn reserved_keys_in_data_do_not_shadow_fields() {
        let err = TsrpcError::api("real").with_data("message", "fake");
        assert_eq!(
            serde_json::to_string(&err).unwrap(),
            r#"{"message":"real","type":"ApiError"}"#
        );
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(serde_json::from_str::<TsrpcError>(r#"{"type":"ApiError"}"#).is_err());
        assert!(serde_json::from_str::<TsrpcError>(r#"{"message":"m","type":"Nope"}"#).is_err());
        assert!(serde_json::from_str::<TsrpcError>(r#"{"message":"m","code":true}"#).is_err());
        assert!(serde_json::from_str::<TsrpcError>("[1]").is_err());
    }
}
