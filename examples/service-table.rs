//! Prints the service table the macros registered: names, ids, the type
//! shapes and the fingerprint, then serves one call in process.
//!
//! ```text
//! cargo run --example service-table
//! ```

use tsrpc::Server;
use tsrpc_examples::chatroom::ReqSend;
use tsrpc_examples::login;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Every handler linked in, the login example's too: they keep their
    // tokens in the server's state, so the server needs one.
    let server = Server::builder().state(login::Tokens::default()).build()?;
    let table = server.service_table();

    println!("Services (id, kind, name, Rust type):");
    println!("{table}\n");
    for service in table.iter() {
        println!(
            "{} {} (id {}):",
            service.kind(),
            service.name(),
            service.id()
        );
        match service.shape() {
            Ok(shape) => print!("{}", indent(&shape.to_string())),
            Err(e) => println!("    {e}"),
        }
    }
    println!("\nHandlers:");
    for handler in server.handlers() {
        println!(
            "    {} {} -> {}",
            handler.kind(),
            handler.service(),
            handler.location()
        );
    }

    let res = server
        .call_api(ReqSend {
            content: "Hello!".into(),
        })
        .await?;
    println!("\nIn-process call Send {{ content: \"Hello!\" }} -> {res:?}");
    let empty = ReqSend {
        content: String::new(),
    };
    if let Err(err) = server.call_api(empty).await {
        println!("In-process call Send {{ content: \"\" }} -> {err}");
    }
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("    {line}\n")).collect()
}
