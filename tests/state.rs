//! App state: values set on the builder reach handlers as `State<T>`
//! arguments, per server, checked when the server is built.
//!
//! The handlers here take state, so this test binary links nothing else
//! that registers handlers (every server built here must be given the
//! state its handlers take).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tsrpc::{ApiCall, HttpClient, MsgCall, Server, State, TsrpcError, WsClient};

#[tsrpc::api(name = "state/Greet")]
#[derive(Serialize, Deserialize, Debug)]
pub struct ReqGreet {
    pub name: String,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct ResGreet {
    pub text: String,
    pub visits: usize,
}

#[tsrpc::msg(name = "state/Ping")]
#[derive(Serialize, Deserialize, Debug)]
pub struct MsgPing {}

/// What a real app keeps in state: configuration...
struct Greeting(String);

/// ...and a store shared by the calls.
#[derive(Default)]
struct Visits {
    names: Mutex<Vec<String>>,
    pings: AtomicUsize,
}

#[tsrpc::handler]
async fn greet(
    call: ApiCall<ReqGreet>,
    greeting: State<Greeting>,
    visits: State<Visits>,
) -> Result<ResGreet, TsrpcError> {
    let mut names = visits.names.lock().unwrap();
    names.push(call.req.name.clone());
    Ok(ResGreet {
        text: format!("{}, {}", greeting.0, call.req.name),
        visits: names.len(),
    })
}

#[tsrpc::handler]
async fn ping(_call: MsgCall<MsgPing>, visits: State<Visits>) {
    visits.pings.fetch_add(1, Ordering::SeqCst);
}

fn server(greeting: &str) -> Server {
    Server::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .state(Greeting(greeting.into()))
        .state(Visits::default())
        .build()
        .unwrap()
}

#[tokio::test]
async fn two_servers_in_one_process_keep_their_own_state() {
    let (a, b) = (server("Hello"), server("Bonjour"));
    let (addr_a, addr_b) = (a.start().await.unwrap(), b.start().await.unwrap());

    let ws = WsClient::builder(format!("ws://{addr_a}")).build();
    ws.connect().await.unwrap();
    let res = ws.call_api(ReqGreet { name: "Ann".into() }).await.unwrap();
    assert_eq!((res.text.as_str(), res.visits), ("Hello, Ann", 1));
    let res = ws.call_api(ReqGreet { name: "Bob".into() }).await.unwrap();
    assert_eq!((res.text.as_str(), res.visits), ("Hello, Bob", 2));

    let http = HttpClient::builder(format!("http://{addr_b}"))
        .json(true)
        .build()
        .unwrap();
    let res = http.call_api(ReqGreet { name: "Cy".into() }).await.unwrap();
    assert_eq!((res.text.as_str(), res.visits), ("Bonjour, Cy", 1));

    // In process too, and the store is the one the handlers wrote.
    let res = b.call_api(ReqGreet { name: "Di".into() }).await.unwrap();
    assert_eq!(res.visits, 2);
    let names = b.state::<Visits>().unwrap().names.lock().unwrap().clone();
    assert_eq!(names, ["Cy", "Di"]);
    assert_eq!(a.state::<Visits>().unwrap().names.lock().unwrap().len(), 2);

    // A message handler takes state the same way.
    ws.send_msg(&MsgPing {}).await.unwrap();
    let visits = a.state::<Visits>().unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while visits.pings.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the ping reaches its handler");
    assert_eq!(b.state::<Visits>().unwrap().pings.load(Ordering::SeqCst), 0);

    ws.disconnect().await;
    a.stop().await;
    b.stop().await;
}

#[test]
fn a_server_without_the_state_its_handlers_take_is_not_built() {
    let err = Server::builder()
        .state(Greeting("Hi".into()))
        .build()
        .unwrap_err();
    let problems = err.problems();
    // `greet` and `ping` both take `Visits`; nothing takes a `String`.
    assert_eq!(problems.len(), 2, "{err}");
    for (handler, problem) in ["state::greet", "state::ping"].iter().zip(problems) {
        assert!(problem.contains(handler), "{problem}");
        assert!(problem.contains("State<state::Visits>"), "{problem}");
        assert!(problem.contains("ServerBuilder::state"), "{problem}");
    }
    // Leaving the handlers out is the other way to build it.
    let server = Server::builder()
        .select_handlers(|h| !h.service().starts_with("state/"))
        .build()
        .unwrap();
    assert!(server.state::<Greeting>().is_none());
}

#[test]
fn setting_a_type_again_replaces_its_value() {
    let server = Server::builder()
        .state(Greeting("first".into()))
        .state(Greeting("second".into()))
        .state(Visits::default())
        .build()
        .unwrap();
    assert_eq!(server.state::<Greeting>().unwrap().0, "second");
}
