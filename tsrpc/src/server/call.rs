//! [`ApiCall`] and [`MsgCall`]: what a handler receives.

use std::fmt;

use super::{Connection, Server};
use crate::proto::{Api, Message};

/// One API call, as a handler receives it.
///
/// ```rust,standalone_crate
/// use serde::{Deserialize, Serialize};
/// use tsrpc::{ApiCall, TsrpcError};
///
/// #[tsrpc::api]
/// #[derive(Serialize, Deserialize)]
/// pub struct ReqAdd { pub a: i32, pub b: i32 }
/// #[derive(Serialize, Deserialize)]
/// pub struct ResAdd { pub sum: i32 }
///
/// #[tsrpc::handler]
/// async fn add(call: ApiCall<ReqAdd>) -> Result<ResAdd, TsrpcError> {
///     let sum = call.req.a.checked_add(call.req.b).ok_or_else(|| TsrpcError::api("overflow"))?;
///     Ok(ResAdd { sum })
/// }
/// ```
#[non_exhaustive]
pub struct ApiCall<Req: Api> {
    /// The decoded request.
    pub req: Req,
    /// The call's serial number, chosen by the client (0 for in-process calls).
    pub sn: u32,
    /// The connection the call came over.
    pub conn: Connection,
    /// Values `pre_api_call` flow nodes attached to this call.
    pub extensions: http::Extensions,
    server: Server,
}

impl<Req: Api> ApiCall<Req> {
    pub(crate) fn new(
        req: Req,
        sn: u32,
        conn: Connection,
        server: Server,
        extensions: http::Extensions,
    ) -> Self {
        ApiCall {
            req,
            sn,
            conn,
            extensions,
            server,
        }
    }

    /// The server handling the call (to broadcast, or call other APIs).
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The API's name.
    pub fn name(&self) -> &'static str {
        Req::NAME
    }
}

impl<Req: Api + fmt::Debug> fmt::Debug for ApiCall<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiCall")
            .field("name", &Req::NAME)
            .field("sn", &self.sn)
            .field("req", &self.req)
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

/// One received message, as a message handler receives it.
///
/// ```rust,standalone_crate
/// use serde::{Deserialize, Serialize};
/// use tsrpc::MsgCall;
///
/// #[tsrpc::msg]
/// #[derive(Serialize, Deserialize)]
/// pub struct MsgTyping { pub user: String }
///
/// #[tsrpc::handler]
/// async fn on_typing(call: MsgCall<MsgTyping>) {
///     println!("{} is typing (connection {})", call.msg.user, call.conn.id());
/// }
/// ```
#[non_exhaustive]
pub struct MsgCall<Msg: Message> {
    /// The decoded message.
    pub msg: Msg,
    /// The connection the message came over.
    pub conn: Connection,
    server: Server,
}

impl<Msg: Message> MsgCall<Msg> {
    pub(crate) fn new(msg: Msg, conn: Connection, server: Server) -> Self {
        MsgCall { msg, conn, server }
    }

    /// The server that received the message.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The message's name.
    pub fn name(&self) -> &'static str {
        Msg::NAME
    }
}

impl<Msg: Message + fmt::Debug> fmt::Debug for MsgCall<Msg> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsgCall")
            .field("name", &Msg::NAME)
            .field("msg", &self.msg)
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

/// A message received by a [`Server::listen_msg_matching`] listener: its
/// name and payload, decodable into whichever type fits.
///
/// ```no_run,standalone_crate
/// # use serde::{Deserialize, Serialize};
/// # #[tsrpc::msg(name = "room/Join")] #[derive(Serialize, Deserialize)] pub struct MsgJoin { pub user: String }
/// # fn f(server: tsrpc::Server) -> Result<(), Box<dyn std::error::Error>> {
/// server.listen_msg_matching(tsrpc::Regex::new("^room/")?, |call: tsrpc::AnyMsgCall| async move {
///     if call.name() == "room/Join" {
///         let join: MsgJoin = call.decode().unwrap();
///         println!("{} joined", join.user);
///     }
/// });
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AnyMsgCall {
    name: &'static str,
    payload: crate::codec::Payload,
    /// The connection the message came over.
    pub conn: Connection,
    server: Server,
}

impl AnyMsgCall {
    pub(crate) fn new(
        name: &'static str,
        payload: crate::codec::Payload,
        conn: Connection,
        server: Server,
    ) -> Self {
        AnyMsgCall {
            name,
            payload,
            conn,
            server,
        }
    }

    /// The message's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Decodes the message; an `INPUT_DATA_ERR` error says what did not fit.
    pub fn decode<M: serde::de::DeserializeOwned>(&self) -> Result<M, crate::TsrpcError> {
        self.payload
            .decode()
            .map_err(|e| crate::server::dispatch::input_error(&e))
    }

    /// The server that received the message.
    pub fn server(&self) -> &Server {
        &self.server
    }
}

impl fmt::Debug for AnyMsgCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyMsgCall")
            .field("name", &self.name)
            .field("payload", &self.payload)
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}
