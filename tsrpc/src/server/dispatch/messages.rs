//! How a received message reaches its handlers and listeners.

use std::borrow::Cow;

use tracing::Instrument;

use super::super::flows::MsgCallFlow;
use super::super::handler::CallContext;
use super::super::{AnyMsgCall, Connection, Server};
use crate::codec::{Body, Payload};
use crate::flow::FlowStep;
use crate::proto::ServiceInfo;
use crate::task::{self, BoxFuture};

/// Hands a received message to its handlers, listeners and matching
/// listeners, one after the other, between `pre_msg_call` and
/// `post_msg_call`. A message that does not decode is logged and dropped.
pub(crate) async fn deliver_msg(
    server: &Server,
    info: &'static ServiceInfo,
    payload: &Payload,
    conn: &Connection,
) {
    let span = tracing::debug_span!("msg", msg = info.name(), conn = conn.id());
    deliver(server, info, payload, conn).instrument(span).await
}

async fn deliver(
    server: &Server,
    info: &'static ServiceInfo,
    payload: &Payload,
    conn: &Connection,
) {
    let flows = server.flows();
    let decode = |payload: &Payload| match (info.codec().decode_input)(Body::Payload(payload)) {
        Ok(msg) => Some(msg),
        Err(e) => {
            tracing::warn!(conn = conn.id(), msg = info.name(), "invalid message: {e}");
            None
        }
    };
    let mut payload = Cow::Borrowed(payload);
    if !flows.pre_msg_call.is_empty() {
        let Some(msg) = decode(&payload) else { return };
        let call = MsgCallFlow {
            conn: conn.clone(),
            service: info,
            msg,
        };
        let FlowStep::Continue(call) = flows.pre_msg_call.exec(call).await else {
            return;
        };
        // Each listener gets its own copy: the message as the flow left it.
        let encoding = payload.encoding();
        let mut out = Vec::new();
        if let Err(e) = (info.codec().encode_output)(&*call.msg, encoding, &mut out) {
            tracing::error!(
                msg = info.name(),
                "cannot encode the message a flow changed: {e}"
            );
            return;
        }
        payload = Cow::Owned(Payload::new(encoding, out.into()));
    }
    let (typed, matching) = server.msg_listeners(info);
    for (f, _) in typed {
        let Some(msg) = decode(&payload) else { return };
        let ctx = CallContext {
            sn: 0,
            conn: conn.clone(),
            server: server.clone(),
            extensions: http::Extensions::new(),
        };
        guard_listener(info.name(), || f(msg, ctx)).await;
    }
    for f in matching {
        let call = AnyMsgCall::new(
            info.name(),
            payload.as_ref().clone(),
            conn.clone(),
            server.clone(),
        );
        guard_listener(info.name(), || f(call)).await;
    }
    if !flows.post_msg_call.is_empty()
        && let Some(msg) = decode(&payload)
    {
        let call = MsgCallFlow {
            conn: conn.clone(),
            service: info,
            msg,
        };
        flows.post_msg_call.exec(call).await;
    }
}

async fn guard_listener(name: &str, start: impl FnOnce() -> BoxFuture<()>) {
    let outcome = match task::guard(start) {
        Ok(fut) => task::guard_future(fut).await,
        Err(panic) => Err(panic),
    };
    if let Err(panic) = outcome {
        tracing::error!(msg = name, "message listener panicked: {panic}");
    }
}
