//! The migration guide's worked example: TSRPC's chatroom backend moved to
//! Rust (`examples/migrated-chatroom`: its `serviceProto.json`, the module
//! `tsrpc import` wrote from it, the handler), and the chatroom's TSRPC
//! clients, built with the original file, in binary and JSON modes.

mod node;
// A protocol module's items are `pub`, for a protocol crate.
#[allow(unreachable_pub)]
#[path = "../examples/migrated-chatroom/protocol.rs"]
mod protocol;
// A protocol module's items are `pub`, for a protocol crate.
#[allow(unreachable_pub)]
#[path = "../examples/migrated-chatroom/server.rs"]
mod server;

use std::path::Path;

use serde_json::json;

#[tokio::test]
async fn the_chatrooms_typescript_clients_talk_to_the_migrated_backend_unchanged() {
    let server = server::builder("127.0.0.1:0".parse().unwrap())
        .build()
        .expect("the generated types are the file's");
    let addr = server.start().await.expect("the server starts");
    let proto =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/migrated-chatroom/serviceProto.ts");
    for mode in ["binary", "json"] {
        let lines = node::run(
            "chatroom-client.js",
            &[&proto.to_string_lossy(), &format!("ws://{addr}"), mode],
        )
        .await;
        let chat = |content: String| json!({ "content": content, "isDate": true });
        let inbox = json!([
            chat(format!("hello in {mode} mode")),
            chat("over HTTP".into())
        ]);
        assert_eq!(
            lines[0],
            json!({
                "sentIsDate": true,
                "refused": "Content is empty",
                "httpIsDate": true,
                "inboxes": [inbox.clone(), inbox],
            }),
            "{mode} mode"
        );
    }
    server.stop().await;
}
