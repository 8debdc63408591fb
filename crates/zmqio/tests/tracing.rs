//! The `tracing` feature: a span per transport and events for what happens to it.
#![cfg(all(feature = "tracing", feature = "tokio"))]

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use zmqio::SocketType;

/// Records span names (with their fields) and event messages (with the current span).
#[derive(Clone, Default)]
struct Recorder {
    lines: Arc<Mutex<Vec<String>>>,
    next_id: Arc<AtomicU64>,
    spans: Arc<Mutex<Vec<(u64, String)>>>,
}

#[derive(Default)]
struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

thread_local! {
    static CURRENT: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut f = Fields::default();
        attrs.record(&mut f);
        let text = format!("{} {}", attrs.metadata().name(), f.0);
        self.lines.lock().unwrap().push(format!("span {text}"));
        self.spans.lock().unwrap().push((id, text));
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let span = CURRENT.with(|c| c.borrow().last().copied());
        let span = span.and_then(|id| {
            let spans = self.spans.lock().unwrap();
            spans.iter().find(|(i, _)| *i == id).map(|(_, t)| t.clone())
        });
        self.lines
            .lock()
            .unwrap()
            .push(format!("event {} in [{}]", f.0, span.unwrap_or_default()));
    }
    fn enter(&self, id: &Id) {
        CURRENT.with(|c| c.borrow_mut().push(id.into_u64()));
    }
    fn exit(&self, _: &Id) {
        CURRENT.with(|c| {
            c.borrow_mut().pop();
        });
    }
}

#[test]
fn transports_have_a_span_and_report_their_life() {
    let recorder = Recorder::default();
    let lines = recorder.lines.clone();
    tracing::subscriber::with_default(recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(30), async {
                    let mut pull = zmqio::tokio::create_zmq_stream(SocketType::PULL)
                        .await
                        .unwrap();
                    pull.transport().enable_monitor(None).await.unwrap();
                    let endpoint = pull.transport().bind("tcp://127.0.0.1:*").await.unwrap();
                    let push = zmqio::tokio::create_zmq_stream(SocketType::PUSH)
                        .connect(endpoint)
                        .await
                        .unwrap();
                    push.write("hello").unwrap();
                    assert_eq!(pull.read().await.unwrap()[0], "hello");
                    // A PUSH without a peer queues what it is given: over the high
                    // watermark of one byte, writing pauses.
                    let lonely = zmqio::tokio::create_zmq_stream(SocketType::PUSH)
                        .bind("inproc://tracing-lonely")
                        .write_buffer_limits(Some(1), None)
                        .await
                        .unwrap();
                    lonely.write("queued").unwrap();
                    lonely.transport().abort();
                    lonely.transport().wait_closed().await;
                    pull.close();
                    pull.transport().wait_closed().await;
                    push.close();
                    push.transport().wait_closed().await;
                })
                .await
                .expect("within 30 s");
            });
    });
    let lines = lines.lock().unwrap().join("\n");
    let has = |text: &str| assert!(lines.contains(text), "no {text:?} in\n{lines}");
    has("span zmqio.transport socket_type=PULL");
    has("span zmqio.transport socket_type=PUSH bindings={} connections={\"tcp://127.0.0.1:");
    has("message=connection made");
    has("message=monitor event event=Listening");
    has("message=monitor event event=Accepted");
    has("message=pause writing");
    // Events from the driver carry the transport's span.
    has("message=connection lost  in [zmqio.transport socket_type=PULL");
    has("message=connection lost  in [zmqio.transport socket_type=PUSH bindings={\"inproc://tracing-lonely\"}");
}
