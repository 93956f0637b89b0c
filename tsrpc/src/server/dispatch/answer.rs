//! What a call answers: its encoded return, with what the transports and
//! the post-return flows need beside it.

use std::sync::Arc;

use super::super::Connection;
use super::super::flows::ApiReturned;
use crate::codec::{self, Encoding, PayloadError, WireFrame};
use crate::error::TsrpcError;
use crate::proto::{AnyValue, ServiceInfo};

/// What a call's answer is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AnswerShape {
    /// A return frame in this encoding: over WebSocket, and the body of an
    /// HTTP binary call.
    Frame(Encoding),
    /// The body of an HTTP JSON call, `{"isSucc":...}`.
    HttpJson,
    /// The response value itself, for a call made inside the process.
    Value,
}

impl AnswerShape {
    fn encoding(self) -> Option<Encoding> {
        match self {
            AnswerShape::Frame(encoding) => Some(encoding),
            AnswerShape::HttpJson => Some(Encoding::Json),
            AnswerShape::Value => None,
        }
    }
}

/// A call's answer: the encoded return, and, boxed apart since a call
/// that succeeds without flows has none of it, the rest.
pub(crate) struct Answer {
    /// The encoded return (empty for [`AnswerShape::Value`]).
    pub(crate) frame: WireFrame,
    rest: Option<Box<Rest>>,
}

#[derive(Default)]
struct Rest {
    error: Option<TsrpcError>,
    after: Option<ApiReturned>,
    value: Option<AnyValue>,
}

impl Answer {
    /// A return, encoded.
    #[inline]
    fn returned(frame: WireFrame) -> Self {
        Answer { frame, rest: None }
    }

    /// An error, encoded in `frame`.
    fn failed_with(frame: WireFrame, error: TsrpcError) -> Self {
        Answer {
            frame,
            rest: Some(Box::new(Rest {
                error: Some(error),
                ..Rest::default()
            })),
        }
    }

    fn rest(&mut self) -> &mut Rest {
        self.rest.get_or_insert_with(Box::default)
    }

    /// The call's error, when it failed: the HTTP adapter maps it to a
    /// status.
    pub(crate) fn error(&self) -> Option<&TsrpcError> {
        self.rest.as_ref()?.error.as_ref()
    }

    /// True when post-return flows wait for this answer to be sent.
    #[inline]
    pub(crate) fn has_after(&self) -> bool {
        self.rest.as_ref().is_some_and(|rest| rest.after.is_some())
    }

    /// The frame, the error, what the post-return flows get (run them with
    /// [`after_return`](super::after_return) once the frame is sent) and
    /// the response value (for [`AnswerShape::Value`]).
    #[inline]
    pub(crate) fn into_parts(
        self,
    ) -> (
        WireFrame,
        Option<TsrpcError>,
        Option<ApiReturned>,
        Option<AnyValue>,
    ) {
        match self.rest {
            None => (self.frame, None, None, None),
            Some(rest) => (self.frame, rest.error, rest.after, rest.value),
        }
    }

    /// The answer of a call of service `id` (named `name`) that failed
    /// with `err`.
    pub(crate) fn failed(
        shape: AnswerShape,
        id: u32,
        name: &str,
        sn: u32,
        err: TsrpcError,
    ) -> Self {
        let none = Err::<fn(&mut Vec<u8>) -> Result<(), PayloadError>, _>(err);
        encode_return(shape, id, name, sn, none, false)
    }

    /// The answer of a call that was run with its request and response as
    /// values (through the flows, or inside the process). `after` is the
    /// connection when post-return flows want the result.
    pub(crate) fn from_result(
        shape: AnswerShape,
        info: &ServiceInfo,
        sn: u32,
        result: Result<AnyValue, TsrpcError>,
        after: Option<Connection>,
        inner_errors: bool,
    ) -> Self {
        let Some(encoding) = shape.encoding() else {
            let mut answer = Answer::returned(WireFrame::Binary(Default::default()));
            match result {
                Ok(value) => answer.rest().value = Some(value),
                Err(err) => answer.rest().error = Some(err),
            }
            return answer;
        };
        let codec = info.codec();
        let written = result
            .as_ref()
            .map(|res| move |out: &mut Vec<u8>| (codec.encode_output)(&**res, encoding, out))
            .map_err(Clone::clone);
        let mut answer = encode_return(shape, info.id(), info.name(), sn, written, inner_errors);
        if let Some(conn) = after {
            let result = match answer.error() {
                // A response that could not be encoded failed the call.
                Some(err) => Err(err.clone()),
                None => result.map(Arc::from),
            };
            answer.rest().after = Some(ApiReturned {
                conn,
                sn,
                name: info.name(),
                result,
            });
        }
        answer
    }
}

/// The answer of a call in `shape`, with its response given as the
/// function that writes it (so a call no flow sees encodes its concrete
/// type); a response that cannot be encoded becomes `INTERNAL_ERR`, with
/// the reason as its `innerErr` when `inner_errors`.
#[inline]
pub(crate) fn encode_return(
    shape: AnswerShape,
    id: u32,
    name: &str,
    sn: u32,
    result: Result<impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>, TsrpcError>,
    inner_errors: bool,
) -> Answer {
    let err = match result {
        Ok(write) => {
            let encoded = match shape {
                AnswerShape::Frame(encoding) => {
                    codec::encode_api_success(encoding, id, name, sn, write)
                }
                AnswerShape::HttpJson => codec::http_json_success(write).map(WireFrame::Text),
                AnswerShape::Value => Ok(WireFrame::Binary(Default::default())),
            };
            match encoded {
                Ok(frame) => return Answer::returned(frame),
                Err(e) => {
                    tracing::error!(api = name, "cannot encode the response: {e}");
                    let why = format_args!("the response of {name} could not be encoded: {e}");
                    super::internal_error(inner_errors, why)
                }
            }
        }
        Err(err) => err,
    };
    tracing::debug!(api = name, sn, kind = ?err.kind, code = ?err.code, "call failed: {}", err.message);
    let frame = match shape {
        AnswerShape::Frame(encoding) => codec::encode_api_error(encoding, id, name, sn, &err),
        AnswerShape::HttpJson => WireFrame::Text(codec::http_json_error(&err)),
        AnswerShape::Value => WireFrame::Binary(Default::default()),
    };
    Answer::failed_with(frame, err)
}
