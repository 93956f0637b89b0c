//! The `tsrpc` command itself: `import` to standard output or to a file,
//! and a clear failure (exit status 1, every problem named) otherwise.

use std::path::Path;
use std::process::Command;

fn tsrpc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tsrpc"))
        .args(args)
        .output()
        .expect("the command runs")
}

#[test]
fn import_writes_the_module_to_stdout_or_a_file() {
    let proto =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/migrated-chatroom/serviceProto.ts");
    let proto = proto.to_str().unwrap();
    let text = std::fs::read_to_string(proto).unwrap();
    let expected = tsrpc::export::rust_protocol(&text, "serviceProto.ts").unwrap();

    let out = tsrpc(&["import", proto]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);

    let file = std::env::temp_dir().join(format!("tsrpc-import-{}.rs", std::process::id()));
    let out = tsrpc(&["import", proto, "-o", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), expected);
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn what_cannot_be_brought_over_fails_naming_it() {
    let file = std::env::temp_dir().join(format!("tsrpc-bad-{}.json", std::process::id()));
    std::fs::write(
        &file,
        r#"{ "services": [{ "id": 0, "name": "Chat", "type": "msg" }], "types": {
            "MsgChat/MsgChat": { "type": "Interface", "properties": [
                { "id": 0, "name": "level", "type": { "type": "Enum", "members": [] } } ] } } }"#,
    )
    .unwrap();
    let out = tsrpc(&["import", file.to_str().unwrap()]);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.ends_with(
            "cannot be brought over:\n  `MsgChat/MsgChat.level`: Enum types have no Rust form in tsrpc\n"
        ),
        "{stderr}"
    );

    let out = tsrpc(&["export"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .starts_with("usage: tsrpc import")
    );
}
