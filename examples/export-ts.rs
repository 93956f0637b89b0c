//! Exports the TypeScript side of the chatroom protocol: the files of a
//! TSRPC project's `shared/protocols/` folder (`PtlSend.ts`, `MsgChat.ts`,
//! `serviceProto.ts`, ...), so a TSRPC front end (`tsrpc-browser`, or
//! `tsrpc` in Node) created with `json: true` talks to the Rust server.
//!
//! ```text
//! cargo run --example export-ts -- frontend/src/shared/protocols
//! ```

use std::process::ExitCode;

// Links the chatroom protocol, so it is in the service table.
use tsrpc_examples as _;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: cargo run --example export-ts -- <output folder>");
        return ExitCode::from(2);
    };
    let table = match tsrpc::ServiceTable::global() {
        Ok(table) => table,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // This crate has other examples' protocols too: keep the chatroom's.
    let chatroom =
        |s: &tsrpc::ServiceInfo| s.location().path.starts_with("tsrpc_examples::chatroom::");
    let export = match tsrpc::export::export_typescript_filtered(table, chatroom) {
        Ok(export) => export,
        Err(e) => {
            for problem in e.problems() {
                eprintln!("error: {problem}");
            }
            return ExitCode::FAILURE;
        }
    };
    // Services whose types have no TypeScript form are left out, named.
    for problem in export.left_out() {
        eprintln!("left out: {problem}");
    }
    if let Err(e) = export.write_to(&dir) {
        eprintln!("cannot write to {}: {e}", dir.to_string_lossy());
        return ExitCode::FAILURE;
    }
    for file in export.files() {
        println!("{}", std::path::Path::new(&dir).join(&file.path).display());
    }
    ExitCode::SUCCESS
}
