//! Protocols: the [`Api`] and [`Message`] traits the macros implement, and
//! the [`ServiceTable`] built from every protocol linked into the program.
//!
//! `#[tsrpc::api]` and `#[tsrpc::msg]` register a descriptor with the
//! [`inventory`](https://docs.rs/inventory) crate. The first time the table
//! is needed, every descriptor is collected, ordered by name and given a
//! stable id, and the table's [`Fingerprint`] is computed from each
//! service's name, kind and type shape.

mod table;

use std::any::Any;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::codec::Fingerprint;
pub use table::{ServiceInfo, ServiceTable, TableError};

use crate::codec::{Body, Encoding, PayloadError};
use crate::schema::{self, Shape, ShapeError};

/// A request type: `#[tsrpc::api]` implements it on `ReqXxx` structs.
///
/// ```rust,standalone_crate
/// use serde::{Deserialize, Serialize};
/// use tsrpc::Api;
///
/// #[tsrpc::api(name = "user/Login")]
/// #[derive(Serialize, Deserialize)]
/// pub struct ReqLogin { pub user: String }
///
/// #[derive(Serialize, Deserialize)]
/// pub struct ResLogin { pub token: String }
///
/// assert_eq!(<ReqLogin as Api>::NAME, "user/Login");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an API request: it has no `#[tsrpc::api]`",
    label = "not an API request",
    note = "put `#[tsrpc::api]` on `struct {Self}` (named `ReqXxx`, with a `ResXxx` response beside it), or `#[tsrpc::api(name = \"Xxx\", res = ResponseType)]` for other names"
)]
pub trait Api: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The service name on the wire, such as `"Send"` or `"user/Login"`.
    const NAME: &'static str;
    /// The response type.
    type Res: Serialize + DeserializeOwned + Send + Sync + 'static;
}

/// A message type: `#[tsrpc::msg]` implements it on `MsgXxx` structs.
/// Messages travel both ways and have no reply.
///
/// ```rust,standalone_crate
/// use serde::{Deserialize, Serialize};
/// use tsrpc::Message;
///
/// #[tsrpc::msg] // the message "Chat"
/// #[derive(Serialize, Deserialize)]
/// pub struct MsgChat { pub content: String }
///
/// #[tsrpc::msg(name = "room/Typing")]
/// #[derive(Serialize, Deserialize)]
/// pub struct Typing { pub user: String }
///
/// assert_eq!(MsgChat::NAME, "Chat");
/// assert_eq!(<Typing as Message>::NAME, "room/Typing");
/// // Sent with `server.broadcast_msg(&msg)`, `conn.send_msg(&msg)` or
/// // `client.send_msg(&msg)`; received by `#[tsrpc::handler]` functions
/// // taking `MsgCall<MsgChat>`, or by `client.listen_msg(|m: MsgChat| ..)`.
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a message: it has no `#[tsrpc::msg]`",
    label = "not a message",
    note = "put `#[tsrpc::msg]` on `struct {Self}` (named `MsgXxx`), or `#[tsrpc::msg(name = \"Xxx\")]` for other names"
)]
pub trait Message: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The service name on the wire, such as `"Chat"`.
    const NAME: &'static str;
}

/// Whether a service is a request/response API or a one-way message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKind {
    /// A request/response call.
    Api,
    /// A one-way message.
    Msg,
}

impl ServiceKind {
    /// `"api"` or `"msg"`, as TSRPC's service protos spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Api => "api",
            ServiceKind::Msg => "msg",
        }
    }
}

impl std::fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where something was defined in the user's source, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// The Rust path of the item, such as `chat::proto::ReqSend`.
    pub path: &'static str,
    /// The source file.
    pub file: &'static str,
    /// The line in that file.
    pub line: u32,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` ({}:{})", self.path, self.file, self.line)
    }
}

/// A value whose concrete type only the service descriptor knows.
pub(crate) type AnyValue = Box<dyn Any + Send + Sync>;

/// What `#[tsrpc::api]` and `#[tsrpc::msg]` register. Not for direct use.
#[doc(hidden)]
#[derive(Debug)]
pub struct ServiceDescriptor {
    pub(crate) kind: ServiceKind,
    pub(crate) name: &'static str,
    pub(crate) location: Location,
    pub(crate) codec: ServiceCodec,
}

/// Type-erased encode/decode functions of one service's types.
pub(crate) struct ServiceCodec {
    /// Decodes the request (API) or the message (Msg).
    pub(crate) decode_input: fn(Body<'_>) -> Result<AnyValue, PayloadError>,
    /// Encodes the response (API) or the message (Msg).
    pub(crate) encode_output:
        fn(&(dyn Any + Send + Sync), Encoding, &mut Vec<u8>) -> Result<(), PayloadError>,
    /// Traces the type shapes of the service.
    pub(crate) shape: fn() -> Result<Shape, ShapeError>,
}

impl std::fmt::Debug for ServiceCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCodec").finish_non_exhaustive()
    }
}

fn decode_as<T: DeserializeOwned + Send + Sync + 'static>(
    body: Body<'_>,
) -> Result<AnyValue, PayloadError> {
    body.decode::<T>().map(|v| Box::new(v) as AnyValue)
}

fn encode_as<T: Serialize + 'static>(
    value: &(dyn Any + Send + Sync),
    encoding: Encoding,
    out: &mut Vec<u8>,
) -> Result<(), PayloadError> {
    let value = value.downcast_ref::<T>().ok_or_else(|| {
        PayloadError::encode(format!("value is not a {}", std::any::type_name::<T>()))
    })?;
    crate::codec::write_payload(encoding, value, out)
}

impl ServiceDescriptor {
    /// The descriptor of API `T`; used by `#[tsrpc::api]`.
    pub const fn api<T: Api>(location: Location) -> Self {
        ServiceDescriptor {
            kind: ServiceKind::Api,
            name: T::NAME,
            location,
            codec: ServiceCodec {
                decode_input: decode_as::<T>,
                encode_output: encode_as::<T::Res>,
                shape: trace_api::<T>,
            },
        }
    }

    /// The descriptor of message `T`; used by `#[tsrpc::msg]`.
    pub const fn msg<T: Message>(location: Location) -> Self {
        ServiceDescriptor {
            kind: ServiceKind::Msg,
            name: T::NAME,
            location,
            codec: ServiceCodec {
                decode_input: decode_as::<T>,
                encode_output: encode_as::<T>,
                shape: trace_msg::<T>,
            },
        }
    }
}

inventory::collect!(ServiceDescriptor);

/// The shape of API `T`: its request (`req`) and response (`res`).
fn trace_api<T: Api>() -> Result<Shape, ShapeError> {
    schema::trace(
        std::any::type_name::<T>(),
        &[
            ("req", schema::root::<T> as schema::RootFn),
            ("res", schema::root::<T::Res>),
        ],
    )
}

/// The shape of message `T` (`msg`).
fn trace_msg<T: Message>() -> Result<Shape, ShapeError> {
    schema::trace(
        std::any::type_name::<T>(),
        &[("msg", schema::root::<T> as schema::RootFn)],
    )
}

/// Checks a service name at compile time (used by the macros through a
/// `const` assertion, so a bad name is a compile error).
///
/// A name is one or more `/`-separated segments of ASCII letters, digits,
/// `_`, `-` and `.`; it does not start or end with `/`.
#[doc(hidden)]
pub const fn is_valid_service_name(name: &str) -> bool {
    let b = name.as_bytes();
    if b.is_empty() || b[0] == b'/' || b[b.len() - 1] == b'/' {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let ok = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'/');
        if !ok || (c == b'/' && i + 1 < b.len() && b[i + 1] == b'/') {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::is_valid_service_name as ok;

    #[test]
    fn service_names() {
        assert!(ok("Send") && ok("user/Login") && ok("a.b-c_d/E1"));
        assert!(!ok("") && !ok("/x") && !ok("x/") && !ok("a//b") && !ok("a b") && !ok("é"));
    }
}
