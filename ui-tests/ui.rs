//! Compile tests of `#[tsrpc::api]`, `#[tsrpc::msg]` and `#[tsrpc::handler]`:
//! `<macro>/pass/*.rs` must compile and run, `<macro>/fail/*.rs` must fail
//! with the error in the `.stderr` beside each. Regenerate the `.stderr`
//! files with `TRYBUILD=overwrite cargo test -p tsrpc-ui-tests`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    for name in ["api", "msg", "handler"] {
        t.pass(format!("{name}/pass/*.rs"));
        t.compile_fail(format!("{name}/fail/*.rs"));
    }
}
