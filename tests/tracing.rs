//! What the server reports through `tracing`: a span per connection and
//! per call, and events for connect, disconnect and failed calls.

mod support;

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use support::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tsrpc::{HttpClient, Server, WsClient};
use tsrpc_tests::proto::*;

/// Records every span (name and fields) and event (message and fields).
#[derive(Clone, Default)]
struct Recorder {
    lines: Arc<Mutex<Vec<String>>>,
    next: Arc<AtomicU64>,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(format!("span {}", span.metadata().name()));
        span.record(&mut fields);
        self.lines.lock().unwrap().push(fields.0);
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields("event".to_owned());
        event.record(&mut fields);
        self.lines.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Recorder {
    fn has(&self, parts: &[&str]) -> bool {
        let lines = self.lines.lock().unwrap();
        lines.iter().any(|l| parts.iter().all(|p| l.contains(p)))
    }
}

// One thread: the subscriber is the test thread's default, and every task
// of the server and the client runs on it.
#[tokio::test(flavor = "current_thread")]
async fn connections_and_calls_have_spans_and_events() {
    let recorder = Recorder::default();
    let _default = tracing::subscriber::set_default(recorder.clone());
    let (server, url) = start(Server::builder()).await;
    let client = WsClient::builder(&url).json(true).build();
    client.connect().await.unwrap();
    client
        .call_api(ReqEcho {
            a: 1,
            b: "x".into(),
            c: true,
        })
        .await
        .unwrap();
    client.call_api(ReqSleep { ms: 1 }).await.unwrap();
    client.call_api(ReqPanic {}).await.unwrap_err();
    client.disconnect().await;
    let http = HttpClient::new(url.replace("ws://", "http://")).unwrap();
    http.call_api(ReqSleep { ms: 0 }).await.unwrap();
    server.stop().await;
    let dump = || recorder.lines.lock().unwrap().join("\n");
    for parts in [
        &[
            "span conn",
            "transport=\"ws\"",
            "remote=",
            "encoding=Some(Json)",
        ][..],
        &["span conn", "transport=\"http\"", "encoding=Binary"],
        &["span call", "api=\"Echo\"", "sn=1"],
        &["span call", "api=\"Sleep\"", "sn=2"],
        &["event", "message=connected"],
        &["event", "message=disconnected", "code=Some(1000)"],
        &["event", "message=call failed", "api=\"Panic\"", "sn=3"],
    ] {
        assert!(
            recorder.has(parts),
            "no line with {parts:?} in:\n{}",
            dump()
        );
    }
}
