//! Two APIs with one name are a startup error naming both definitions.

use serde::{Deserialize, Serialize};

mod first {
    use super::*;

    #[tsrpc::api(name = "Same")]
    #[derive(Serialize, Deserialize)]
    pub(crate) struct ReqOne {}

    #[derive(Serialize, Deserialize)]
    pub(crate) struct ResOne {}

    #[tsrpc::msg(name = "Twice")]
    #[derive(Serialize, Deserialize)]
    pub(crate) struct MsgA {}
}

mod second {
    use super::*;

    #[tsrpc::api(name = "Same")]
    #[derive(Serialize, Deserialize)]
    pub(crate) struct ReqTwo {}

    #[derive(Serialize, Deserialize)]
    pub(crate) struct ResTwo {}

    #[tsrpc::msg(name = "Twice")]
    #[derive(Serialize, Deserialize)]
    pub(crate) struct MsgB {}
}

#[test]
fn duplicates_are_reported_with_both_definitions() {
    let err = tsrpc::ServiceTable::global().unwrap_err();
    assert_eq!(err.problems().len(), 2, "{err}");
    let text = err.to_string();
    assert!(text.contains("two APIs are named \"Same\""), "{text}");
    assert!(text.contains("duplicate_services::first::ReqOne"), "{text}");
    assert!(
        text.contains("duplicate_services::second::ReqTwo"),
        "{text}"
    );
    assert!(text.contains("two messages are named \"Twice\""), "{text}");
    assert!(text.contains("tests/duplicate_services.rs:"), "{text}");

    let err = tsrpc::Server::builder().build().unwrap_err();
    assert!(err.to_string().contains("\"Same\""), "{err}");
}
