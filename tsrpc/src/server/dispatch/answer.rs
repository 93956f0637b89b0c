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

/// A call's answer.
pub(crate) struct Answer {
    /// The encoded return (empty for [`AnswerShape::Value`]).
    pub(crate) frame: WireFrame,
    /// The call's error, when it failed: the HTTP adapter maps it to a
    /// status.
    pub(crate) error: Option<Box<TsrpcError>>,
    /// What the post-return flows get, when any is set: run them with
    /// [`after_return`](super::after_return) once the frame is sent.
    pub(crate) after: Option<Box<ApiReturned>>,
    /// The response, for [`AnswerShape::Value`].
    pub(crate) value: Option<AnyValue>,
}

impl Answer {
    fn encoded(frame: WireFrame, error: Option<TsrpcError>) -> Self {
        Answer {
            frame,
            error: error.map(Box::new),
            after: None,
            value: None,
        }
    }

    /// The answer of a call that failed with `err`.
    pub(crate) fn error(shape: AnswerShape, name: &str, sn: u32, err: TsrpcError) -> Self {
        let none = Err::<fn(&mut Vec<u8>) -> Result<(), PayloadError>, _>(err);
        encode_return(shape, name, sn, none)
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
    ) -> Self {
        let Some(encoding) = shape.encoding() else {
            return match result {
                Ok(value) => Answer {
                    value: Some(value),
                    ..Answer::encoded(WireFrame::Binary(Default::default()), None)
                },
                Err(err) => Answer::encoded(WireFrame::Binary(Default::default()), Some(err)),
            };
        };
        let codec = info.codec();
        let written = result
            .as_ref()
            .map(|res| move |out: &mut Vec<u8>| (codec.encode_output)(&**res, encoding, out))
            .map_err(Clone::clone);
        let mut answer = encode_return(shape, info.name(), sn, written);
        answer.after = after.map(|conn| {
            Box::new(ApiReturned {
                conn,
                sn,
                name: info.name(),
                result: match &answer.error {
                    // A response that could not be encoded failed the call.
                    Some(err) => Err(TsrpcError::clone(err)),
                    None => result.map(Arc::from),
                },
            })
        });
        answer
    }
}

/// The answer of a call in `shape`, with its response given as the
/// function that writes it (so a call no flow sees encodes its concrete
/// type); a response that cannot be encoded becomes `INTERNAL_ERR`.
pub(crate) fn encode_return(
    shape: AnswerShape,
    name: &str,
    sn: u32,
    result: Result<impl FnOnce(&mut Vec<u8>) -> Result<(), PayloadError>, TsrpcError>,
) -> Answer {
    let err = match result {
        Ok(write) => {
            let encoded = match shape {
                AnswerShape::Frame(encoding) => {
                    codec::encode_api_success(encoding, name, sn, write)
                }
                AnswerShape::HttpJson => codec::http_json_success(write).map(WireFrame::Text),
                AnswerShape::Value => Ok(WireFrame::Binary(Default::default())),
            };
            match encoded {
                Ok(frame) => return Answer::encoded(frame, None),
                Err(e) => {
                    tracing::error!(api = name, "cannot encode the response: {e}");
                    TsrpcError::internal(format!("the response of {name} could not be encoded"))
                }
            }
        }
        Err(err) => err,
    };
    let frame = match shape {
        AnswerShape::Frame(encoding) => codec::encode_api_error(encoding, name, sn, &err),
        AnswerShape::HttpJson => WireFrame::Text(codec::http_json_error(&err)),
        AnswerShape::Value => WireFrame::Binary(Default::default()),
    };
    Answer::encoded(frame, Some(err))
}
