//! Exports of the protocol definitions, for peers written in other
//! languages: today the TypeScript files and `serviceProto` a TSRPC
//! TypeScript project (`tsrpc`, `tsrpc-browser`, `tsrpc-miniapp`) imports.
//!
//! ```rust,standalone_crate
//! use serde::{Deserialize, Serialize};
//!
//! #[tsrpc::api]
//! #[derive(Serialize, Deserialize)]
//! pub struct ReqSend { pub content: String }
//!
//! #[derive(Serialize, Deserialize)]
//! pub struct ResSend { pub time: tsrpc::Timestamp }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let export = tsrpc::export::export_typescript(tsrpc::ServiceTable::global()?)?;
//! assert!(export.file("PtlSend.ts").is_some());
//! assert!(export.file("serviceProto.ts").is_some());
//! // export.write_to("frontend/src/shared/protocols")?;
//! # Ok(()) }
//! ```
//!
//! The guide, with how each Rust type maps: [`crate::guide::typescript`].

mod rust;
mod service_proto;
mod ts;

pub use rust::{ImportError, rust_protocol};
pub use ts::{
    ServiceProtoError, TsExport, TsExportError, TsFile, export_typescript,
    export_typescript_filtered, export_typescript_keeping_ids, use_service_proto,
};
