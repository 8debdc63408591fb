//! Security end to end: options set through the builders before bind/connect, and the ZAP
//! authenticator (NULL address lists, PLAIN, CURVE, a custom decision, malformed requests,
//! one handler per context).
//!
//! Every test makes its own context, since a ZAP handler serves one context. Security
//! handshakes only happen over a network transport, so the servers bind `tcp://127.0.0.1:*`.
//! Where the linked libzmq has no CURVE (the zmq crate's vendored build), the CURVE tests
//! check the loud refusal instead.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use zmqio_tests::{Ev, Recorder};

use super::timeout;
use crate::{rt, zmqio};
use zmqio::auth::{Authenticator, Certificate, Credentials, CurveAllow, Decision, ZapRequest};
use zmqio::{opt, Error, MonitorEvent, Multipart, SocketEvent, StreamBuilder, ZmqStream};

/// How long to wait to show that something does *not* happen, after an event proved that
/// everything before it did.
const QUIET: Duration = Duration::from_millis(200);

/// Whether the linked libzmq has CURVE. With `ZMQIO_REQUIRE_CURVE` set (CI's leg on the
/// system libzmq), a libzmq without CURVE fails the test instead of testing the refusal.
fn has_curve() -> bool {
    let curve = zmq::has("curve") == Some(true);
    assert!(
        curve || std::env::var_os("ZMQIO_REQUIRE_CURVE").is_none(),
        "ZMQIO_REQUIRE_CURVE is set, but the linked libzmq has no CURVE"
    );
    curve
}

async fn authenticator(ctx: &zmq::Context) -> Authenticator {
    zmqio::start_authenticator(ctx).await.unwrap()
}

/// A PULL server on `ctx` with `options`, bound to tcp, its monitor reporting handshake
/// results. Returns it and its endpoint.
async fn server(
    ctx: &zmq::Context,
    options: impl FnOnce(StreamBuilder) -> StreamBuilder,
) -> (ZmqStream, String) {
    let builder = zmqio::create_zmq_stream(zmq::PULL).context(ctx.clone());
    let s = options(builder).bind("tcp://127.0.0.1:*").await.unwrap();
    s.transport()
        .enable_monitor(Some(
            MonitorEvent::HandshakeFailedAuth
                | MonitorEvent::HandshakeSucceeded
                | MonitorEvent::HandshakeFailedNoDetail,
        ))
        .await
        .unwrap();
    let ep = s.transport().bindings().into_iter().next().unwrap();
    (s, ep)
}

/// A PUSH client on `ctx` with `options`, connected to `ep`.
async fn client(
    ctx: &zmq::Context,
    ep: &str,
    options: impl FnOnce(StreamBuilder) -> StreamBuilder,
) -> ZmqStream {
    let builder = zmqio::create_zmq_stream(zmq::PUSH)
        .context(ctx.clone())
        .setsockopt(opt::Linger, 0);
    options(builder).connect(ep).await.unwrap()
}

/// How long one handshake may take on a loaded machine before the test says which one hung.
const HANDSHAKE: Duration = Duration::from_secs(20);

/// The server's next handshake result.
async fn handshake(server: &mut ZmqStream, tag: &str) -> SocketEvent {
    timeout(HANDSHAKE, server.read_event())
        .await
        .unwrap_or_else(|| panic!("{tag}: no handshake result within {HANDSHAKE:?}"))
        .unwrap()
}

/// `client` gets a message through to `server`, whose monitor saw the handshake succeed.
async fn admitted(server: &mut ZmqStream, client: &ZmqStream, tag: &str) {
    client.write([tag.to_owned()]).unwrap();
    let e = handshake(server, tag).await;
    assert_eq!(e.event, MonitorEvent::HandshakeSucceeded, "{tag}: {e:?}");
    let got = timeout(HANDSHAKE, server.read())
        .await
        .unwrap_or_else(|| panic!("{tag}: admitted, but no message within {HANDSHAKE:?}"))
        .unwrap();
    assert_eq!(got, Multipart::from([tag.to_owned()]), "{tag}");
}

/// `client` is refused: the server's monitor reports `HandshakeFailedAuth` with `status`,
/// and nothing the client wrote arrives.
async fn refused(server: &mut ZmqStream, client: &ZmqStream, status: u32, tag: &str) {
    client.write([tag.to_owned()]).unwrap();
    let e = handshake(server, tag).await;
    assert_eq!(
        (e.event, e.value),
        (MonitorEvent::HandshakeFailedAuth, status),
        "{tag}: {e:?}"
    );
    assert!(
        timeout(QUIET, server.read()).await.is_none(),
        "{tag}: a refused client got a message through"
    );
}

async fn close(streams: impl IntoIterator<Item = ZmqStream>) {
    for s in streams {
        let what = format!("{:?}", s.transport().socket_type());
        s.close();
        timeout(HANDSHAKE, s.transport().wait_closed())
            .await
            .unwrap_or_else(|| panic!("closing a {what} stream hung"));
    }
}

/// A `(public, secret)` key pair from libzmq; only called where it has CURVE.
fn keypair() -> ([u8; 32], [u8; 32]) {
    let cert = Certificate::generate().unwrap();
    (cert.public_key, cert.secret_key.unwrap())
}

/// Options of a CURVE server with `secret`.
fn curve_server(secret: [u8; 32]) -> impl FnOnce(StreamBuilder) -> StreamBuilder {
    move |b| {
        b.setsockopt(opt::CurveServer, true)
            .setsockopt(opt::CurveSecretKey, secret.to_vec())
    }
}

/// Options of a CURVE client of the server `server_public`.
fn curve_client(
    server_public: [u8; 32],
    (public, secret): ([u8; 32], [u8; 32]),
) -> impl FnOnce(StreamBuilder) -> StreamBuilder {
    move |b| {
        b.setsockopt(opt::CurveServerKey, server_public.to_vec())
            .setsockopt(opt::CurvePublicKey, public.to_vec())
            .setsockopt(opt::CurveSecretKey, secret.to_vec())
    }
}

fn plain_client(user: &str, password: &str) -> impl FnOnce(StreamBuilder) -> StreamBuilder {
    let (user, password) = (user.to_owned(), password.to_owned());
    move |b| {
        b.setsockopt(opt::PlainUsername, Some(user))
            .setsockopt(opt::PlainPassword, Some(password))
    }
}

fn plain_server(b: StreamBuilder) -> StreamBuilder {
    b.setsockopt(opt::PlainServer, true)
}

/// The CURVE refusal where libzmq has no CURVE: clear, and pointing at the README.
fn assert_curve_refusal<T: std::fmt::Debug>(r: Result<T, Error>) {
    match r {
        Err(Error::NotSupported(m)) => {
            assert!(
                m.contains("CURVE is missing") && m.contains("README"),
                "{m}"
            )
        }
        other => panic!("expected the loud CURVE refusal, got {other:?}"),
    }
}

scenario! {
    // The routing id set through the builder is in place before the connect, so it is the
    // first (and only) one the ROUTER ever sees for this peer.
    async fn builder_routing_id_is_the_one_the_router_sees_first() {
        let ctx = zmq::Context::new();
        let mut router = zmqio::create_zmq_stream(zmq::ROUTER)
            .context(ctx.clone())
            .bind("tcp://127.0.0.1:*")
            .await
            .unwrap();
        let ep = router.transport().bindings().into_iter().next().unwrap();
        let dealer = zmqio::create_zmq_stream(zmq::DEALER)
            .context(ctx.clone())
            .setsockopt(opt::RoutingId, b"alice".to_vec())
            .connect(&ep)
            .await
            .unwrap();
        dealer.write(["hi"]).unwrap();
        assert_eq!(router.read().await.unwrap(), Multipart::from(["alice", "hi"]));
        assert_eq!(dealer.transport().getsockopt(opt::RoutingId).unwrap(), b"alice");
        close([dealer, router]).await;
    }
}

scenario! {
    async fn builder_options_apply_in_call_order() {
        let ctx = zmq::Context::new();
        let sub = zmqio::create_zmq_stream(zmq::SUB)
            .context(ctx.clone())
            .setsockopt(opt::RcvHwm, 5)
            .setsockopt(opt::RcvHwm, 7)
            .setsockopt(opt::Linger, 0)
            .setsockopt(opt::Subscribe, b"news".to_vec())
            .connect("inproc://nobody-yet")
            .await
            .unwrap();
        let t = sub.transport();
        assert_eq!(t.getsockopt(opt::RcvHwm).unwrap(), 7);
        assert_eq!(t.getsockopt(opt::Linger).unwrap(), 0);
        // A subscription set through the builder is in the transport's set.
        let subs: Vec<Bytes> = t.subscriptions().unwrap().into_iter().collect();
        assert_eq!(subs, [Bytes::from_static(b"news")]);

        let (p, _events) = Recorder::new();
        let (conn, _) = zmqio::create_zmq_connection(move || p, zmq::DEALER)
            .context(ctx.clone())
            .setsockopt(opt::SndHwm, 3)
            .await
            .unwrap();
        assert_eq!(conn.getsockopt(opt::SndHwm).unwrap(), 3);
        conn.close();
        conn.wait_closed().await;
        close([sub]).await;
    }
}

scenario! {
    // A refused option fails the create like a bad endpoint: no callback, and the socket is
    // closed (the context can terminate).
    async fn builder_failing_option_fails_the_create_and_closes_the_socket() {
        let ctx = zmq::Context::new();
        let (p, mut events) = Recorder::new();
        let Err(err) = zmqio::create_zmq_connection(move || p, zmq::DEALER)
            .context(ctx.clone())
            .setsockopt(opt::SndHwm, 10)
            .setsockopt(opt::Linger, -2)
            .bind("tcp://127.0.0.1:*")
            .await
        else {
            panic!("a refused option must fail the create");
        };
        assert_eq!(err, Error::Zmq(zmq::Error::EINVAL));
        let err = zmqio::create_zmq_stream(zmq::PULL)
            .context(ctx.clone())
            .setsockopt(opt::RoutingId, Vec::new())
            .await
            .unwrap_err();
        assert_eq!(err, Error::Zmq(zmq::Error::EINVAL));
        if !has_curve() {
            assert_curve_refusal(
                zmqio::create_zmq_stream(zmq::REP)
                    .context(ctx.clone())
                    .setsockopt(opt::CurveServer, true)
                    .bind("tcp://127.0.0.1:*")
                    .await,
            );
        }
        assert!(events.ready().is_empty(), "a callback ran: {:?}", events.ready());
        // Every socket was closed: terminating the context returns.
        let term = std::thread::spawn(move || drop(ctx));
        for _ in 0..1000 {
            if term.is_finished() {
                break;
            }
            rt::sleep(Duration::from_millis(10)).await;
        }
        assert!(term.is_finished(), "the context did not terminate: a socket is open");
    }
}

scenario! {
    async fn plain_right_password_admitted_wrong_refused() {
        let ctx = zmq::Context::new();
        let auth = authenticator(&ctx).await;
        auth.configure_plain("*", [("admin", "secret")]);

        let (mut srv, ep) = server(&ctx, plain_server).await;
        let good = client(&ctx, &ep, plain_client("admin", "secret")).await;
        admitted(&mut srv, &good, "good").await;
        assert_eq!(auth.accepted(), 1);

        let (mut srv2, ep2) = server(&ctx, plain_server).await;
        let bad = client(&ctx, &ep2, plain_client("admin", "guess")).await;
        refused(&mut srv2, &bad, 400, "wrong password").await;
        let nobody = client(&ctx, &ep2, plain_client("nobody", "secret")).await;
        refused(&mut srv2, &nobody, 400, "unknown user").await;
        assert!(auth.refused() >= 2, "{auth:?}");
        assert_eq!(auth.accepted(), 1);
        close([good, bad, nobody, srv, srv2]).await;
        auth.stop().await;
    }
}

scenario! {
    async fn null_with_zap_domain_consults_the_deny_list() {
        let ctx = zmq::Context::new();
        let auth = authenticator(&ctx).await;
        auth.deny(["127.0.0.1"]);
        let (mut srv, ep) =
            server(&ctx, |b| b.setsockopt(opt::ZapDomain, "global".into())).await;
        let c = client(&ctx, &ep, |b| b).await;
        refused(&mut srv, &c, 400, "denied address").await;
        assert!(auth.refused() >= 1);

        // The same address is admitted by the allow list, which takes precedence.
        auth.allow(["127.0.0.1"]);
        let (mut srv2, ep2) =
            server(&ctx, |b| b.setsockopt(opt::ZapDomain, "global".into())).await;
        let c2 = client(&ctx, &ep2, |b| b).await;
        admitted(&mut srv2, &c2, "allowed").await;
        assert_eq!(auth.accepted(), 1);
        close([c, c2, srv, srv2]).await;
        auth.stop().await;
    }
}

scenario! {
    /// A dual-stack server (bound on `[::]`) sees an IPv4 client as `::ffff:127.0.0.1`: the
    /// deny list's `127.0.0.1` still refuses it, and the allow list's admits it.
    async fn address_lists_match_ipv4_clients_of_a_dual_stack_server() {
        let ctx = zmq::Context::new();
        let auth = authenticator(&ctx).await;
        auth.deny(["127.0.0.1"]);
        let dual_stack = |ctx: &zmq::Context| {
            let ctx = ctx.clone();
            async move {
                let s = zmqio::create_zmq_stream(zmq::PULL)
                    .context(ctx)
                    .setsockopt(opt::ZapDomain, "global".into())
                    .await
                    .unwrap();
                s.transport()
                    .enable_monitor(Some(
                        MonitorEvent::HandshakeFailedAuth | MonitorEvent::HandshakeSucceeded,
                    ))
                    .await
                    .unwrap();
                let ep = s.transport().bind("tcp://[::]:*").await.unwrap();
                let port = ep.rsplit(':').next().unwrap().to_owned();
                (s, format!("tcp://127.0.0.1:{port}"))
            }
        };
        let (mut srv, ep) = dual_stack(&ctx).await;
        let c = client(&ctx, &ep, |b| b).await;
        refused(&mut srv, &c, 400, "denied, through [::]").await;

        auth.allow(["127.0.0.1"]);
        let (mut srv2, ep2) = dual_stack(&ctx).await;
        let c2 = client(&ctx, &ep2, |b| b).await;
        admitted(&mut srv2, &c2, "allowed, through [::]").await;
        close([c, c2, srv, srv2]).await;
        auth.stop().await;
    }
}

scenario! {
    /// `shutdown_context` closes the authenticator only after every other transport: while
    /// a server still flushes (here for its 3 s LINGER, no peer taking its messages) it
    /// still listens, and a denied peer that connects meanwhile must still be refused.
    /// (Without a handler bound, libzmq admits everyone.)
    async fn shutdown_keeps_authenticating_while_servers_flush() {
        let ctx = zmq::Context::new();
        let auth = authenticator(&ctx).await;
        auth.deny(["127.0.0.1"]);
        let push = zmqio::create_zmq_stream(zmq::PUSH)
            .context(ctx.clone())
            .setsockopt(opt::ZapDomain, "global".into())
            .setsockopt(opt::Linger, 3_000)
            .bind("tcp://127.0.0.1:*")
            .await
            .unwrap();
        let ep = push.bound_endpoint().unwrap();
        for i in 0..10 {
            push.write([format!("secret {i}")]).unwrap(); // no peer: queued in zmqio
        }
        let ending = rt::spawn(zmqio::shutdown_context(ctx, Duration::from_secs(20)));
        let closing = timeout(HANDSHAKE, async {
            while !push.at_closing() {
                rt::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        assert!(closing.is_some(), "the shutdown did not close the server");

        // A denied peer on a context of its own, trying for half of the server's flush.
        let (tx, rx) = futures::channel::oneshot::channel();
        std::thread::spawn(move || {
            let other = zmq::Context::new();
            let thief = other.socket(zmq::PULL).unwrap();
            thief.set_linger(0).unwrap();
            thief.set_rcvtimeo(1_500).unwrap();
            thief.connect(&ep).unwrap();
            let _ = tx.send(thief.recv_bytes(0).ok());
        });
        let stolen = rx.await.unwrap();
        assert!(
            stolen.is_none(),
            "a denied peer received {:?} during the shutdown",
            stolen.map(|b| String::from_utf8_lossy(&b).into_owned())
        );
        assert_eq!(ending.await, Ok(()));
        assert_eq!(push.transport().dropped_on_close(), 10);
        drop(auth);
    }
}

scenario! {
    /// The check for a ZAP handler looks in the wrapped socket's own context: a handler on
    /// the context the builder was told (or assumes) does not authenticate a socket of
    /// another one, so the builder refuses; with its real context it accepts.
    async fn wrapped_socket_zap_check_looks_in_its_own_context() {
        let with_handler = zmq::Context::new();
        let auth = authenticator(&with_handler).await;
        let without = zmq::Context::new();
        let stranger = without.socket(zmq::PULL).unwrap();
        let built = zmqio::create_zmq_stream(zmq::PULL)
            .zmq_sock(stranger)
            .context(with_handler.clone()) // not its context
            .setsockopt(opt::ZapDomain, "global".into())
            .await;
        assert!(matches!(built, Err(Error::InvalidState(_))), "{built:?}");

        let own = with_handler.socket(zmq::PULL).unwrap();
        let built = zmqio::create_zmq_stream(zmq::PULL)
            .zmq_sock(own)
            .context(with_handler.clone())
            .setsockopt(opt::ZapDomain, "global".into())
            .await
            .unwrap();
        close([built]).await;
        auth.stop().await;
    }
}

scenario! {
    /// Past `set_handler_limit` calls waiting for the custom handler, a request is answered
    /// 300 at once instead of adding work; a call that ends frees its place.
    async fn handler_limit_answers_300_past_it() {
        use std::sync::{Arc, Mutex};
        use futures::channel::oneshot;
        let ctx = zmq::Context::new();
        let auth = authenticator(&ctx).await;
        auth.set_handler_limit(1);
        let (entered_tx, entered) = oneshot::channel::<()>();
        let (release, gate) = oneshot::channel::<()>();
        let first_call = Arc::new(Mutex::new(Some((entered_tx, gate))));
        auth.set_handler(move |_request: ZapRequest| {
            let first = first_call.lock().unwrap().take();
            async move {
                if let Some((entered_tx, gate)) = first {
                    let _ = entered_tx.send(());
                    let _ = gate.await; // the first call waits until released
                }
                Decision::Accept("user".into())
            }
        });
        let (mut srv, ep) = server(&ctx, plain_server).await;
        let first = client(&ctx, &ep, plain_client("a", "b")).await;
        timeout(HANDSHAKE, entered).await.expect("the handler was called").unwrap();

        // On a server of its own: its client retries after each 300, and the monitor events
        // of those retries must not mix with the first client's.
        let (mut srv2, ep2) = server(&ctx, plain_server).await;
        let second = client(&ctx, &ep2, plain_client("a", "b")).await;
        refused(&mut srv2, &second, 300, "over the limit").await;
        close([second, srv2]).await;

        release.send(()).unwrap();
        admitted(&mut srv, &first, "the waiting one").await;
        let third = client(&ctx, &ep, plain_client("a", "b")).await;
        admitted(&mut srv, &third, "its place is free again").await;
        close([first, third, srv]).await;
        auth.stop().await;
    }
}

scenario! {
    // libzmq consults the handler for NULL only when the server has a ZapDomain: without
    // one, a denied address connects and the handler sees no request.
    async fn null_without_zap_domain_does_not_consult_the_handler() {
        let ctx = zmq::Context::new();
        let auth = authenticator(&ctx).await;
        auth.deny(["127.0.0.1"]);
        let (mut srv, ep) = server(&ctx, |b| b).await;
        let c = client(&ctx, &ep, |b| b).await;
        admitted(&mut srv, &c, "no domain").await;
        assert_eq!((auth.accepted(), auth.refused()), (0, 0));
        close([c, srv]).await;
        auth.stop().await;
    }
}

scenario! {
    async fn allow_list_refuses_other_addresses() {
        let ctx = zmq::Context::new();
        let auth = authenticator(&ctx).await;
        auth.allow(["10.1.2.3"]);
        auth.configure_plain("*", [("admin", "secret")]);
        let (mut srv, ep) = server(&ctx, plain_server).await;
        // Right credentials, but 127.0.0.1 is not on the allow list.
        let c = client(&ctx, &ep, plain_client("admin", "secret")).await;
        refused(&mut srv, &c, 400, "not allowed").await;
        assert_eq!(auth.accepted(), 0);
        close([c, srv]).await;
        auth.stop().await;
    }
}

scenario! {
    async fn curve_listed_key_admitted_unlisted_refused_and_any() {
        let ctx = zmq::Context::new();
        let auth = authenticator(&ctx).await;
        if !has_curve() {
            assert_curve_refusal(Certificate::generate());
            assert_curve_refusal(
                zmqio::create_zmq_stream(zmq::PULL)
                    .context(ctx.clone())
                    .setsockopt(opt::CurveServer, true)
                    .bind("tcp://127.0.0.1:*")
                    .await,
            );
            assert_curve_refusal(
                zmqio::create_zmq_stream(zmq::PUSH)
                    .context(ctx.clone())
                    .setsockopt(opt::CurveServerKey, vec![0; 32])
                    .connect("tcp://127.0.0.1:9")
                    .await,
            );
            auth.stop().await;
            return;
        }
        let (server_public, server_secret) = keypair();
        let listed = keypair();
        let unlisted = keypair();
        auth.configure_curve("*", CurveAllow::Keys(BTreeSet::from([listed.0])));

        let (mut srv, ep) = server(&ctx, curve_server(server_secret)).await;
        let c = client(&ctx, &ep, curve_client(server_public, listed)).await;
        admitted(&mut srv, &c, "listed").await;
        assert_eq!(auth.accepted(), 1);

        let (mut srv2, ep2) = server(&ctx, curve_server(server_secret)).await;
        let c2 = client(&ctx, &ep2, curve_client(server_public, unlisted)).await;
        refused(&mut srv2, &c2, 400, "unlisted").await;

        // A domain configured with Any admits the unlisted key.
        auth.configure_curve("open", CurveAllow::Any);
        let (mut srv3, ep3) = server(&ctx, |b| {
            curve_server(server_secret)(b).setsockopt(opt::ZapDomain, "open".into())
        })
        .await;
        let c3 = client(&ctx, &ep3, curve_client(server_public, unlisted)).await;
        admitted(&mut srv3, &c3, "any").await;
        assert_eq!(auth.accepted(), 2);
        close([c, c2, c3, srv, srv2, srv3]).await;
        auth.stop().await;
    }
}

scenario! {
    async fn one_handler_per_context_and_a_new_one_after_stop() {
        let ctx = zmq::Context::new();
        let auth = authenticator(&ctx).await;
        let err = zmqio::start_authenticator(&ctx).await.unwrap_err();
        assert_eq!(err, Error::Zmq(zmq::Error::EADDRINUSE));
        // Another context has its own handler.
        let other = zmq::Context::new();
        let auth_other = authenticator(&other).await;

        // Dropping every handle does not stop the handler.
        let clone = auth.clone();
        drop(auth);
        drop(clone);
        let err = zmqio::start_authenticator(&ctx).await.unwrap_err();
        assert_eq!(err, Error::Zmq(zmq::Error::EADDRINUSE));
        // ... and it still answers (it admits NULL by default).
        let (mut srv, ep) = server(&ctx, |b| b.setsockopt(opt::ZapDomain, "d".into())).await;
        let c = client(&ctx, &ep, |b| b).await;
        admitted(&mut srv, &c, "after drop").await;
        close([c, srv]).await;

        // stop() on the other context's handler frees the endpoint at once; twice is fine.
        auth_other.stop().await;
        auth_other.stop().await;
        assert!(!auth_other.is_running());
        let again = authenticator(&other).await;
        again.configure_plain("*", [("u", "p")]);
        let (mut srv, ep) = server(&other, plain_server).await;
        let c = client(&other, &ep, plain_client("u", "p")).await;
        admitted(&mut srv, &c, "restarted").await;
        assert_eq!(again.accepted(), 1);
        close([c, srv]).await;
        again.stop().await;
    }
}

scenario! {
    // libzmq admits every PLAIN client when no handler is bound, so the builder refuses to
    // make a PLAIN server (or a socket with a ZapDomain) there, unless told otherwise.
    async fn no_handler_no_authenticating_server_unless_opted_out() {
        let ctx = zmq::Context::new();
        for (what, options) in [
            ("PLAIN", plain_server as fn(StreamBuilder) -> StreamBuilder),
            ("ZapDomain", |b: StreamBuilder| b.setsockopt(opt::ZapDomain, "d".into())),
        ] {
            let err = options(zmqio::create_zmq_stream(zmq::PULL).context(ctx.clone()))
                .bind("tcp://127.0.0.1:*")
                .await
                .unwrap_err();
            match err {
                Error::InvalidState(m) => {
                    assert!(m.contains("start_authenticator"), "{what}: {m}")
                }
                other => panic!("{what}: expected InvalidState, got {other:?}"),
            }
        }
        if has_curve() {
            let (_, secret) = keypair();
            let err = zmqio::create_zmq_stream(zmq::PULL)
                .context(ctx.clone())
                .setsockopt(opt::CurveServer, true)
                .setsockopt(opt::CurveSecretKey, secret.to_vec())
                .await
                .unwrap_err();
            assert!(matches!(err, Error::InvalidState(_)), "{err:?}");
        }
        // A PLAIN client and a NULL socket without a domain need no handler.
        let c = client(&ctx, "tcp://127.0.0.1:9", plain_client("u", "p")).await;

        // Opted out, libzmq's rules show. A ZapDomain is ignored: anyone is admitted.
        let (mut srv, ep) = server(&ctx, |b| {
            b.setsockopt(opt::ZapDomain, "d".into())
                .allow_missing_zap_handler()
        })
        .await;
        let anyone = client(&ctx, &ep, |b| b).await;
        admitted(&mut srv, &anyone, "domain ignored").await;
        // A PLAIN server fails every handshake, without a word to the client.
        let (mut plain, ep) = server(&ctx, |b| plain_server(b).allow_missing_zap_handler()).await;
        let user = client(&ctx, &ep, plain_client("admin", "secret")).await;
        user.write(["x"]).unwrap();
        let e = handshake(&mut plain, "plain without handler").await;
        assert_eq!(e.event, MonitorEvent::HandshakeFailedNoDetail, "{e:?}");
        let mut streams = vec![c, anyone, srv, user, plain];
        // A CURVE server admits every client key.
        if has_curve() {
            let (server_public, server_secret) = keypair();
            let (mut curve, ep) = server(&ctx, |b| {
                curve_server(server_secret)(b).allow_missing_zap_handler()
            })
            .await;
            let stranger = client(&ctx, &ep, curve_client(server_public, keypair())).await;
            admitted(&mut curve, &stranger, "any key").await;
            streams.extend([stranger, curve]);
        }
        close(streams).await;
    }
}

scenario! {
    async fn custom_handler_decides_after_the_address_lists() {
        let ctx = zmq::Context::new();
        let auth = authenticator(&ctx).await;
        auth.set_handler(|request: ZapRequest| async move {
            // An await inside the decision, as a database lookup would have.
            futures::future::ready(()).await;
            match request.credentials {
                Credentials::Plain { username, .. } if username == "later" => {
                    Decision::TemporaryError("try again".into())
                }
                Credentials::Plain { username, .. } if username == "boom" => {
                    panic!("handler failure")
                }
                Credentials::Plain { username, password } if password == username.to_uppercase() => {
                    Decision::Accept(username)
                }
                _ => Decision::Refuse("no".into()),
            }
        });
        let (mut srv, ep) = server(&ctx, plain_server).await;
        let ok = client(&ctx, &ep, plain_client("ann", "ANN")).await;
        admitted(&mut srv, &ok, "hook accepts").await;

        for (user, status) in [("bob", 400), ("later", 300), ("boom", 500)] {
            let (mut srv, ep) = server(&ctx, plain_server).await;
            let c = client(&ctx, &ep, plain_client(user, "x")).await;
            refused(&mut srv, &c, status, user).await;
            close([c, srv]).await;
        }
        // The address lists still come first.
        auth.deny(["127.0.0.1"]);
        let (mut srv2, ep2) = server(&ctx, plain_server).await;
        let denied = client(&ctx, &ep2, plain_client("ann", "ANN")).await;
        refused(&mut srv2, &denied, 400, "denied before the hook").await;
        auth.clear_handler();
        assert_eq!(auth.accepted(), 1);
        close([ok, denied, srv, srv2]).await;
        auth.stop().await;
    }
}

scenario! {
    // Anyone on the context can talk to the handler: malformed requests get an error
    // status, never an accept, and the handler goes on working.
    async fn malformed_zap_requests_get_error_status() {
        let ctx = zmq::Context::new();
        let auth = authenticator(&ctx).await;
        let mut req = zmqio::create_zmq_stream(zmq::REQ)
            .context(ctx.clone())
            .connect(zmqio::auth::ZAP_ENDPOINT)
            .await
            .unwrap();
        let status = |reply: &Multipart| String::from_utf8(reply[2].to_vec()).unwrap();
        let cases: [(Vec<&str>, &str); 6] = [
            (vec!["1.0"], "500"),
            (vec!["1.0", "7", "d", "127.0.0.1", ""], "500"),
            (vec!["2.0", "7", "d", "127.0.0.1", "", "NULL"], "500"),
            (vec!["1.0", "7", "d", "127.0.0.1", "", "KERBEROS"], "400"),
            (vec!["1.0", "7", "d", "127.0.0.1", "", "PLAIN", "only-user"], "400"),
            (vec!["1.0", "7", "d", "127.0.0.1", "", "CURVE", "short"], "400"),
        ];
        for (request, want) in cases {
            req.write(request.clone()).unwrap();
            let reply = req.read().await.unwrap();
            assert_eq!(reply.len(), 6, "{request:?}: {reply:?}");
            assert_eq!(&reply[0][..], b"1.0");
            assert_eq!(status(&reply), want, "{request:?}: {reply:?}");
            assert!(reply[4].is_empty(), "a refusal carries no user id");
        }
        assert_eq!((auth.accepted(), auth.refused()), (0, 6));
        // A well-formed request is still answered, echoing its request id.
        req.write(["1.0", "42", "d", "127.0.0.1", "", "NULL"]).unwrap();
        let reply = req.read().await.unwrap();
        assert_eq!((&reply[1][..], status(&reply).as_str()), (&b"42"[..], "200"));
        assert_eq!(auth.accepted(), 1);
        close([req]).await;
        auth.stop().await;
    }
}

scenario! {
    // 200 clients handshake at once; every one is answered and admitted.
    async fn burst_of_200_clients_each_answered() {
        const CLIENTS: usize = 200;
        let ctx = zmq::Context::new();
        let auth = authenticator(&ctx).await;
        auth.configure_plain("*", [("user", "pass")]);
        let mut router = zmqio::create_zmq_stream(zmq::ROUTER)
            .context(ctx.clone())
            .setsockopt(opt::PlainServer, true)
            .bind("tcp://127.0.0.1:*")
            .await
            .unwrap();
        let ep = router.transport().bindings().into_iter().next().unwrap();
        let mut clients = Vec::with_capacity(CLIENTS);
        for _ in 0..CLIENTS {
            let c = zmqio::create_zmq_stream(zmq::DEALER)
                .context(ctx.clone())
                .setsockopt(opt::Linger, 0)
                .setsockopt(opt::PlainUsername, Some("user".into()))
                .setsockopt(opt::PlainPassword, Some("pass".into()))
                .connect(&ep)
                .await
                .unwrap();
            clients.push(c);
        }
        for (i, c) in clients.iter().enumerate() {
            c.write([i.to_string()]).unwrap();
        }
        let mut seen = BTreeSet::new();
        for _ in 0..CLIENTS {
            let msg = router.read().await.unwrap();
            assert!(seen.insert(msg[1].clone()), "twice: {msg:?}");
            router.write(msg).unwrap();
        }
        for (i, c) in clients.iter_mut().enumerate() {
            assert_eq!(c.read().await.unwrap(), Multipart::from([i.to_string()]));
        }
        assert_eq!((auth.accepted(), auth.refused()), (CLIENTS as u64, 0));
        clients.push(router);
        close(clients).await;
        auth.stop().await;
    }
}

scenario! {
    // The handler's replies and the protocol callbacks of an ordinary transport: a
    // Recorder on a PLAIN server sees the admitted client's message and nothing else.
    async fn refused_peer_reaches_no_protocol_callback() {
        let ctx = zmq::Context::new();
        let auth = authenticator(&ctx).await;
        auth.configure_plain("*", [("admin", "secret")]);
        let (p, mut events) = Recorder::new();
        let (srv, _) = zmqio::create_zmq_connection(move || p, zmq::PULL)
            .context(ctx.clone())
            .setsockopt(opt::PlainServer, true)
            .bind("tcp://127.0.0.1:*")
            .await
            .unwrap();
        assert_eq!(events.next().await, Ev::Made);
        srv.enable_monitor(Some(MonitorEvent::HandshakeFailedAuth.into())).await.unwrap();
        let ep = srv.bindings().into_iter().next().unwrap();
        let bad = client(&ctx, &ep, plain_client("admin", "wrong")).await;
        bad.write(["must not arrive"]).unwrap();
        match events.next().await {
            Ev::Event(e) => assert_eq!((e.event, e.value), (MonitorEvent::HandshakeFailedAuth, 400)),
            other => panic!("expected the refusal, got {other:?}"),
        }
        let good = client(&ctx, &ep, plain_client("admin", "secret")).await;
        good.write(["welcome"]).unwrap();
        assert_eq!(events.msg().await, Multipart::from(["welcome"]));
        srv.close();
        srv.wait_closed().await;
        let rest = events.ready();
        assert!(
            rest.iter().all(|e| !matches!(e, Ev::Msg(_))),
            "a refused client's message arrived: {rest:?}"
        );
        close([bad, good]).await;
        auth.stop().await;
    }
}
