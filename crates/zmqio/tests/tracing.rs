//! The `tracing` feature: a span per transport and events for what happens to it.
#![cfg(all(feature = "tracing", feature = "tokio"))]

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use zmqio::auth::CurveAllow;
use zmqio::{opt, MonitorEvent, MonitorEvents, SocketType, ZmqStream};

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

/// Runs `test` on a current-thread tokio runtime with a [`Recorder`] as the subscriber, under
/// a 30 s watchdog; returns what was recorded, one line per span or event.
fn recorded<F: std::future::Future<Output = ()>>(test: F) -> String {
    let recorder = Recorder::default();
    let lines = recorder.lines.clone();
    tracing::subscriber::with_default(recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(30), test)
                    .await
                    .expect("within 30 s");
            });
    });
    let lines = lines.lock().unwrap().join("\n");
    lines
}

/// Waits for the next `HandshakeFailedAuth` of `server`'s monitor and returns its value.
async fn next_auth_failure(server: &mut ZmqStream) -> u32 {
    loop {
        let event = server.read_event().await.unwrap();
        if event.event == MonitorEvent::HandshakeFailedAuth {
            return event.value;
        }
    }
}

#[test]
fn authentication_decisions_are_traced_without_passwords() {
    let lines = recorded(async {
        let ctx = zmqio::zmq::Context::new();
        let auth = zmqio::tokio::start_authenticator(&ctx).await.unwrap();
        auth.configure_plain("*", [("ann", "s3cret-pw")]);
        let mut server = zmqio::tokio::create_zmq_stream(SocketType::PULL)
            .context(ctx.clone())
            .setsockopt(opt::PlainServer, true)
            .setsockopt(opt::ZapDomain, "tracing".to_owned())
            .bind("tcp://127.0.0.1:*")
            .await
            .unwrap();
        let events: MonitorEvents = MonitorEvent::HandshakeFailedAuth.into();
        server
            .transport()
            .enable_monitor(Some(events))
            .await
            .unwrap();
        let endpoint = server.bound_endpoint().unwrap();
        let client = |password: &str| {
            zmqio::tokio::create_zmq_stream(SocketType::PUSH)
                .context(ctx.clone())
                .setsockopt(opt::PlainUsername, Some("ann".to_owned()))
                .setsockopt(opt::PlainPassword, Some(password.to_owned()))
                .setsockopt(opt::Linger, 0)
                .connect(endpoint.clone())
        };
        let good = client("s3cret-pw").await.unwrap();
        good.write("hello").unwrap();
        assert_eq!(server.read().await.unwrap()[0], "hello");
        let bad = client("wrong-pw").await.unwrap();
        assert_eq!(next_auth_failure(&mut server).await, 400);
        for s in [&good, &bad, &server] {
            s.close();
            s.transport().wait_closed().await;
        }
        auth.stop().await;
    });
    let has = |text: &str| assert!(lines.contains(text), "no {text:?} in\n{lines}");
    has("message=authentication: accepted domain=tracing address=127.0.0.1 mechanism=\"PLAIN\" status=200 user_id=ann");
    has("message=authentication: refused domain=tracing address=127.0.0.1 mechanism=\"PLAIN\" status=400 user_id=ann reason=invalid user name or password");
    // In the authenticator's span.
    has(
        "user_id=ann  in [zmqio.transport socket_type=ROUTER bindings={\"inproc://zeromq.zap.01\"}",
    );
    assert!(
        !lines.contains("s3cret-pw") && !lines.contains("wrong-pw"),
        "a password in\n{lines}"
    );
}

/// CURVE: the client's public key (Z85) is the user id; secret keys never appear.
#[test]
fn curve_decisions_name_the_public_key_only() {
    if zmqio::zmq::has("curve") != Some(true) {
        eprintln!("skipped: the linked libzmq has no CURVE");
        return;
    }
    let server_keys = zmqio::auth::Certificate::generate().unwrap();
    let client_keys = zmqio::auth::Certificate::generate().unwrap();
    let secrets = [
        server_keys.secret_key.unwrap(),
        client_keys.secret_key.unwrap(),
    ]
    .map(|k| zmqio::auth::z85_encode_key(&k));
    let lines = recorded(async {
        let ctx = zmqio::zmq::Context::new();
        let auth = zmqio::tokio::start_authenticator(&ctx).await.unwrap();
        auth.configure_curve("*", CurveAllow::Any);
        let mut server = zmqio::tokio::create_zmq_stream(SocketType::PULL)
            .context(ctx.clone())
            .setsockopt(opt::CurveServer, true)
            .setsockopt(
                opt::CurveSecretKey,
                server_keys.secret_key.unwrap().to_vec(),
            )
            .bind("tcp://127.0.0.1:*")
            .await
            .unwrap();
        let client = zmqio::tokio::create_zmq_stream(SocketType::PUSH)
            .context(ctx.clone())
            .setsockopt(opt::CurveServerKey, server_keys.public_key.to_vec())
            .setsockopt(opt::CurvePublicKey, client_keys.public_key.to_vec())
            .setsockopt(
                opt::CurveSecretKey,
                client_keys.secret_key.unwrap().to_vec(),
            )
            .connect(server.bound_endpoint().unwrap())
            .await
            .unwrap();
        client.write("hello").unwrap();
        assert_eq!(server.read().await.unwrap()[0], "hello");
        for s in [&client, &server] {
            s.close();
            s.transport().wait_closed().await;
        }
        auth.stop().await;
    });
    let has = |text: &str| assert!(lines.contains(text), "no {text:?} in\n{lines}");
    has(&format!(
        "message=authentication: accepted domain= address=127.0.0.1 mechanism=\"CURVE\" status=200 user_id={}",
        client_keys.public_z85()
    ));
    for secret in secrets {
        assert!(!lines.contains(&secret), "a secret key in\n{lines}");
    }
}

/// A queued message whose peer left is dropped and counted in `dropped_unroutable`; a close
/// whose LINGER expires drops the rest and counts it in `dropped_on_close`: both traced.
#[test]
fn dropped_messages_are_traced() {
    let lines = recorded(async {
        let router = zmqio::tokio::create_zmq_stream(SocketType::ROUTER)
            .setsockopt(opt::RouterMandatory, true)
            .setsockopt(opt::SndHwm, 2)
            .bind("inproc://tracing-unroutable")
            .await
            .unwrap();
        let mut router = router;
        let mut dealers = Vec::new();
        for id in ["slow", "fast"] {
            let dealer = zmqio::tokio::create_zmq_stream(SocketType::DEALER)
                .setsockopt(opt::RoutingId, id.as_bytes().to_vec())
                .setsockopt(opt::RcvHwm, 2)
                .connect("inproc://tracing-unroutable")
                .await
                .unwrap();
            dealer.write("hello").unwrap();
            assert_eq!(router.read().await.unwrap()[0], id.as_bytes());
            dealer.transport().pause_reading().unwrap();
            dealers.push(dealer);
        }
        let [slow, mut fast] = <[ZmqStream; 2]>::try_from(dealers).ok().unwrap();
        // The slow peer's pipe fills up: the rest waits in zmqio's queue, then its peer goes.
        for i in 0..50u32 {
            router
                .write([b"slow".to_vec(), i.to_be_bytes().to_vec()])
                .unwrap();
        }
        router.write(["fast", "after"]).unwrap();
        slow.transport().abort();
        slow.transport().wait_closed().await;
        fast.transport().resume_reading().unwrap();
        assert_eq!(fast.read().await.unwrap()[0], "after");
        router.drain().await.unwrap();
        assert!(router.transport().dropped_unroutable() > 0);

        // A PUSH without a peer holds everything in zmqio's queue; LINGER 0 drops it on close.
        let push = zmqio::tokio::create_zmq_stream(SocketType::PUSH)
            .setsockopt(opt::Linger, 0)
            .bind("inproc://tracing-linger")
            .await
            .unwrap();
        push.write("one").unwrap();
        push.write("two").unwrap();
        push.close();
        push.transport().wait_closed().await;
        assert_eq!(push.transport().dropped_on_close(), 2);
        for s in [&router, &fast] {
            s.close();
            s.transport().wait_closed().await;
        }
    });
    let has = |text: &str| assert!(lines.contains(text), "no {text:?} in\n{lines}");
    has("message=message dropped: destination unreachable (EHOSTUNREACH) socket_type=ROUTER routing_id=Some(b\"slow\") dropped_unroutable=1  in [zmqio.transport socket_type=ROUTER");
    has("message=close: LINGER expired, queued messages dropped socket_type=PUSH dropped=2 dropped_on_close=2");
}
