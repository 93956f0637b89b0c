//! Code shared by the examples (`cargo run --example <name>` from the
//! workspace root) and the tests, one folder per example that needs
//! several files: `chatroom/` (TSRPC's chatroom: server, terminal client,
//! browser front end in `web/`) and `login/` (per-connection state and a
//! flow that refuses anonymous calls). Single-file examples sit beside
//! them: `service-table.rs`, `export-ts.rs`.

pub mod chatroom;
pub mod login;
