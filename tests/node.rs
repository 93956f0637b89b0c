//! Runs the plain JavaScript peers of `interop/` (TSRPC's npm clients
//! built with a serviceProto read at run time); included by the test
//! files that need them (`mod node;`).
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

/// The interop folder, its npm packages installed (as `tests/interop.rs`
/// does when they are missing).
pub fn interop() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop");
    if !dir.join("node_modules/.package-lock.json").exists() {
        let status = std::process::Command::new("bash")
            .arg(dir.join("setup.sh"))
            .status()
            .expect("bash runs interop/setup.sh");
        assert!(status.success(), "interop/setup.sh failed");
    }
    dir
}

/// Runs `interop/{script}` with `args` to its end; panics with its output
/// if it fails. Returns its standard output's lines, each JSON.
pub async fn run(script: &str, args: &[&str]) -> Vec<Value> {
    let child = tokio::process::Command::new("node")
        .arg(interop().join(script))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{script} {args:?} did not finish in time"))
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script} {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Runs `interop/stable-ids-client.js` (TSRPC's clients, binary mode, built
/// with `tests/fixtures/stable-ids-serviceProto.json`) against the shop
/// server at `ws://{addr}` and checks every answer: the server's handlers
/// answer an order with `id` count × 10, `Paid(count × 100 + express)` for
/// a delivery (its lines' sku `item@address`) or `Open`, refuse an empty
/// item ("item is empty"), and answer a note with its text upper-cased
/// from `rust, to {from}`.
pub async fn check_shop_clients(addr: std::net::SocketAddr) {
    use serde_json::json;
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stable-ids-serviceProto.json");
    let lines = run(
        "stable-ids-client.js",
        &[&fixture.to_string_lossy(), &format!("ws://{addr}")],
    )
    .await;
    assert_eq!(
        lines[0],
        json!({ "ws": { "isSucc": true, "res": {
            "id": 20, "status": { "Paid": 201 }, "lines": [{ "sku": "tea@Main St 1", "qty": 2 }] } } })
    );
    assert_eq!(
        lines[1],
        json!({ "ws": { "isSucc": true, "res": {
            "id": 10, "status": "Open", "lines": [{ "sku": "cake", "qty": 1 }] } } })
    );
    assert_eq!(lines[2]["ws"]["isSucc"], false, "{}", lines[2]);
    assert_eq!(lines[2]["ws"]["err"]["message"], "item is empty");
    assert_eq!(
        lines[3],
        json!({ "notes": [{ "text": "HELLO", "from": "rust, to node" }] })
    );
    assert_eq!(
        lines[4],
        json!({ "http": { "isSucc": true, "res": {
            "id": 30, "status": "Open", "lines": [{ "sku": "tea", "qty": 3 }] } } })
    );
}
