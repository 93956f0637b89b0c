//! Code shared by the examples (`cargo run --example <name>` from the
//! workspace root) and the tests, one folder per example that needs
//! several files: `chatroom/` (TSRPC's chatroom: server, terminal client,
//! browser front end in `web/`), `login/` (per-connection state and a
//! flow that refuses anonymous calls) and `axum_app/` (the chatroom
//! mounted in an axum app, at `/ws` and `/api`). Single-file examples sit beside
//! them: `service-table.rs`, `export-ts.rs`.

pub mod axum_app;
pub mod chatroom;
pub mod login;
