//! Two handlers for one API, and a handler for an API that is not
//! registered, are startup errors naming the definitions.

use serde::{Deserialize, Serialize};
use tsrpc::{ApiCall, TsrpcError};

#[tsrpc::api]
#[derive(Serialize, Deserialize)]
pub(crate) struct ReqWork {}

#[derive(Serialize, Deserialize)]
pub(crate) struct ResWork {}

#[tsrpc::handler]
async fn work_a(_: ApiCall<ReqWork>) -> Result<ResWork, TsrpcError> {
    Ok(ResWork {})
}

#[tsrpc::handler]
async fn work_b(_: ApiCall<ReqWork>) -> Result<ResWork, TsrpcError> {
    Ok(ResWork {})
}

/// Implements `Api` by hand, without `#[tsrpc::api]`: not in the table.
#[derive(Serialize, Deserialize)]
pub(crate) struct ReqHidden {}

impl tsrpc::Api for ReqHidden {
    const NAME: &'static str = "Hidden";
    type Res = ResWork;
}

#[tsrpc::handler]
async fn hidden(_: ApiCall<ReqHidden>) -> Result<ResWork, TsrpcError> {
    Ok(ResWork {})
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = tsrpc::Server::builder().build().unwrap_err();
    assert_eq!(err.problems().len(), 2, "{err}");
    let text = err.to_string();
    assert!(text.contains("two handlers for API \"Work\""), "{text}");
    assert!(text.contains("duplicate_handlers::work_a"), "{text}");
    assert!(text.contains("duplicate_handlers::work_b"), "{text}");
    assert!(
        text.contains("API \"Hidden\", which is not registered"),
        "{text}"
    );

    // Selecting one of the two handlers resolves the conflict.
    let server = tsrpc::Server::builder()
        .select_handlers(|h| h.location().path.ends_with("work_a"))
        .build()
        .unwrap();
    assert_eq!(server.handlers().len(), 1);
}
