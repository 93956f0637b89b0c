//! The `tsrpc` command.
//!
//! ```text
//! tsrpc import <serviceProto.json> [-o <protocol.rs>]
//! ```
//!
//! writes the Rust protocol module of a TSRPC project's `serviceProto.json`
//! (to standard output without `-o`); see the migration guide
//! (`tsrpc::guide::migration`).

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: tsrpc import <serviceProto.ts|serviceProto.json> [-o <protocol.rs>]

Writes the Rust protocol module of a TSRPC project's serviceProto (the
serviceProto.ts TSRPC's generator writes, or its JSON): a #[tsrpc::api] or
#[tsrpc::msg] struct per service, a Rust type per type they use, and
SERVICE_PROTO, the file's ids, for ServerBuilder::service_proto.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `text` to standard output; a closed pipe (`| head`) is no error.
fn print(text: &str) -> Result<(), String> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("cannot write: {e}")),
        _ => Ok(()),
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let (input, output) = match args {
        [command, input] if command == "import" => (input, None),
        [command, input, flag, output]
            if command == "import" && (flag == "-o" || flag == "--out") =>
        {
            (input, Some(PathBuf::from(output)))
        }
        [flag] if flag == "-h" || flag == "--help" => return print(&format!("{USAGE}\n")),
        _ => return Err(USAGE.into()),
    };
    let text = std::fs::read_to_string(input).map_err(|e| format!("cannot read {input}: {e}"))?;
    let source = PathBuf::from(input)
        .file_name()
        .map_or_else(|| input.clone(), |name| name.to_string_lossy().into_owned());
    let module = tsrpc::export::rust_protocol(&text, &source).map_err(|e| {
        let mut message = format!("{input} cannot be brought over:");
        for problem in e.problems() {
            message.push_str("\n  ");
            message.push_str(problem);
        }
        message
    })?;
    match output {
        Some(path) => std::fs::write(&path, module)
            .map_err(|e| format!("cannot write {}: {e}", path.display())),
        None => print(&module),
    }
}
