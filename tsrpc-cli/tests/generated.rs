//! The generated modules checked in (the migrated chatroom example, the
//! test of a migrated project) are the command's output for their files,
//! as `cargo fmt` leaves it: regenerate them with the commands below when
//! the generator changes.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// `text` as rustfmt formats it (`cargo fmt` formats the checked-in files).
fn rustfmt(text: &str) -> String {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("rustfmt runs (it comes with the toolchain, as cargo fmt)");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(text.as_bytes())
        .expect("rustfmt reads");
    let output = child.wait_with_output().expect("rustfmt finishes");
    assert!(output.status.success(), "rustfmt refused:\n{text}");
    String::from_utf8(output.stdout).expect("UTF-8")
}

fn check(proto: &str, module: &str, command: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join(proto)).expect("the serviceProto");
    let name = Path::new(proto).file_name().unwrap().to_string_lossy();
    let generated = tsrpc::export::rust_protocol(&text, &name).expect("it can be brought over");
    let checked_in = std::fs::read_to_string(root.join(module)).expect("the checked-in module");
    assert!(
        rustfmt(&generated) == rustfmt(&checked_in),
        "{module} is not what `tsrpc import` writes for {proto} now: run\n    {command}"
    );
}

#[test]
fn the_migrated_chatroom_is_the_commands_output() {
    check(
        "examples/migrated-chatroom/serviceProto.ts",
        "examples/migrated-chatroom/protocol.rs",
        "cargo run -p tsrpc-cli -- import examples/migrated-chatroom/serviceProto.ts -o examples/migrated-chatroom/protocol.rs",
    );
}

#[test]
fn the_migrated_shop_is_the_commands_output() {
    check(
        "tests/fixtures/stable-ids-serviceProto.json",
        "tests/fixtures/stable-ids-protocol.rs",
        "cargo run -p tsrpc-cli -- import tests/fixtures/stable-ids-serviceProto.json -o tests/fixtures/stable-ids-protocol.rs",
    );
}
