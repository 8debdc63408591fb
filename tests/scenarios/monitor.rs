//! The socket monitor end to end: `enable_monitor` / `disable_monitor` and the events that
//! reach `event_received`.

use std::time::Duration;

use zmqio_tests::{endpoint_of, Ev, Events, Recorder};

use crate::zmqio;
use zmqio::{opt, Error, MonitorEvent, SocketEvent, ZmqTransport};

/// How long to wait to show that something does *not* happen, after a bounce proved that
/// everything before it did.
const QUIET: Duration = Duration::from_millis(100);

/// A transport of `socket_type` with a [`Recorder`], bound to `bind` if given; its
/// `connection_made` is already consumed.
async fn recorded(socket_type: zmq::SocketType, bind: Option<&str>) -> (ZmqTransport, Events) {
    let (p, mut events) = Recorder::new();
    let builder = zmqio::create_zmq_connection(move || p, socket_type);
    let builder = match bind {
        Some(ep) => builder.bind(ep),
        None => builder,
    };
    let (t, _) = builder.await.unwrap();
    assert_eq!(events.next().await, Ev::Made);
    (t, events)
}

/// The next callback, which must be a monitor event.
async fn next_event(events: &mut Events) -> SocketEvent {
    match events.next().await {
        Ev::Event(e) => e,
        other => panic!("expected a monitor event, got {other:?}"),
    }
}

/// Monitor events up to the first of kind `kind`: returns it and the ones before it.
/// Anything but a monitor event on the way is a failure.
async fn wait_for(events: &mut Events, kind: MonitorEvent) -> (SocketEvent, Vec<SocketEvent>) {
    let mut before = Vec::new();
    loop {
        let e = next_event(events).await;
        if e.event == kind {
            return (e, before);
        }
        before.push(e);
    }
}

/// A monitor event's value where libzmq puts a file descriptor.
fn assert_descriptor(e: &SocketEvent) {
    assert!(
        e.value >= 3 && i32::try_from(e.value).is_ok(),
        "not a descriptor: {e:?}"
    );
}

async fn close_all(transports: &[&ZmqTransport]) {
    for t in transports {
        t.close();
    }
    for t in transports {
        assert_eq!(t.wait_closed().await, None);
    }
}

scenario! {
    async fn dealer_sees_connected_then_handshake() {
        let (router, _router_ev) = recorded(zmq::ROUTER, Some("tcp://127.0.0.1:*")).await;
        let ep = endpoint_of(&router);
        let (dealer, mut ev) = recorded(zmq::DEALER, None).await;
        dealer.enable_monitor(None).await.unwrap();
        dealer.connect(&ep).await.unwrap();

        // libzmq may report the connect as delayed before it completes.
        let (connected, before) = wait_for(&mut ev, MonitorEvent::Connected).await;
        for e in &before {
            assert_eq!(e.event, MonitorEvent::ConnectDelayed, "{before:?}");
            assert_eq!(e.endpoint, ep);
        }
        assert_eq!(connected.endpoint, ep);
        assert_descriptor(&connected);
        let handshake = next_event(&mut ev).await;
        assert_eq!(handshake.event, MonitorEvent::HandshakeSucceeded);
        assert_eq!(handshake.endpoint, ep);

        close_all(&[&dealer, &router]).await;
        assert_eq!(ev.lost().await, None);
    }
}

scenario! {
    async fn router_sees_listening_accepted_handshake_and_disconnected() {
        let (router, mut ev) = recorded(zmq::ROUTER, None).await;
        router.enable_monitor(None).await.unwrap();
        let ep = router.bind("tcp://127.0.0.1:*").await.unwrap();
        let listening = next_event(&mut ev).await;
        assert_eq!(listening.event, MonitorEvent::Listening);
        assert_eq!(listening.endpoint, ep);
        assert_descriptor(&listening);

        let (dealer, _dealer_ev) = recorded(zmq::DEALER, None).await;
        dealer.connect(&ep).await.unwrap();
        let accepted = next_event(&mut ev).await;
        assert_eq!(accepted.event, MonitorEvent::Accepted);
        assert_eq!(accepted.endpoint, ep);
        assert_descriptor(&accepted);
        let handshake = next_event(&mut ev).await;
        assert_eq!(handshake.event, MonitorEvent::HandshakeSucceeded);

        close_all(&[&dealer]).await;
        let (disconnected, before) = wait_for(&mut ev, MonitorEvent::Disconnected).await;
        assert!(before.is_empty(), "{before:?}");
        assert_eq!(disconnected.endpoint, ep);
        assert_eq!(disconnected.value, accepted.value, "the accepted descriptor");

        close_all(&[&router]).await;
        assert_eq!(ev.lost().await, None);
    }
}

scenario! {
    async fn connect_to_a_dead_port_is_retried() {
        // A port that was just free: bound by the OS, then closed at once (synchronously,
        // unlike a libzmq listener, which closes in its I/O thread).
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let ep = format!("tcp://127.0.0.1:{port}");
        let (dealer, mut ev) = recorded(zmq::DEALER, None).await;
        dealer.setsockopt(opt::ReconnectIvl, 10).unwrap();
        dealer.enable_monitor(None).await.unwrap();
        dealer.connect(&ep).await.unwrap();

        let (retried, before) = wait_for(&mut ev, MonitorEvent::ConnectRetried).await;
        assert_eq!(retried.endpoint, ep);
        for e in &before {
            assert!(
                matches!(e.event, MonitorEvent::ConnectDelayed | MonitorEvent::Closed),
                "{before:?}"
            );
        }
        close_all(&[&dealer]).await;
    }
}

scenario! {
    /// Also: enabling twice keeps the first monitor, so the second call's "every event"
    /// changes nothing.
    async fn a_disconnected_only_mask_delivers_nothing_else() {
        let (router, mut ev) = recorded(zmq::ROUTER, None).await;
        router.enable_monitor(Some(MonitorEvent::Disconnected.into())).await.unwrap();
        router.enable_monitor(None).await.unwrap();
        let ep = router.bind("tcp://127.0.0.1:*").await.unwrap(); // no Listening

        let (dealer, _dealer_ev) = recorded(zmq::DEALER, None).await;
        dealer.connect(&ep).await.unwrap();
        dealer.write(["ping"]).unwrap();
        // The message comes after the connection was accepted and its handshake done; none
        // of those events was reported before it.
        match ev.next().await {
            Ev::Msg(m) => assert_eq!(&m[1][..], b"ping"),
            other => panic!("expected the message, got {other:?}"),
        }

        close_all(&[&dealer]).await;
        let disconnected = next_event(&mut ev).await;
        assert_eq!(disconnected.event, MonitorEvent::Disconnected);
        assert_eq!(disconnected.endpoint, ep);

        router.close();
        assert_eq!(ev.next().await, Ev::Lost(None));
        assert_eq!(router.wait_closed().await, None);
    }
}

scenario! {
    async fn disable_stops_events_and_enable_again_works() {
        let (router, mut ev) = recorded(zmq::ROUTER, Some("tcp://127.0.0.1:*")).await;
        let ep = endpoint_of(&router);
        router.enable_monitor(None).await.unwrap();

        let (first, _first_ev) = recorded(zmq::DEALER, None).await;
        first.connect(&ep).await.unwrap();
        wait_for(&mut ev, MonitorEvent::HandshakeSucceeded).await;

        router.disable_monitor().await.unwrap();
        router.disable_monitor().await.unwrap(); // not enabled: a no-op
        // Whatever was delivered before disable_monitor returned is already here.
        for e in ev.ready() {
            assert!(matches!(e, Ev::Event(_)), "{e:?}");
        }

        // A second connection and both disconnections: no events any more.
        let (second, _second_ev) = recorded(zmq::DEALER, None).await;
        second.connect(&ep).await.unwrap();
        second.write(["after"]).unwrap();
        match ev.next().await {
            Ev::Msg(m) => assert_eq!(&m[1][..], b"after"),
            other => panic!("expected the message, got {other:?}"),
        }
        close_all(&[&first, &second]).await;
        let (third, _third_ev) = recorded(zmq::DEALER, None).await;
        third.connect(&ep).await.unwrap();
        third.write(["bounce"]).unwrap();
        match ev.next().await {
            Ev::Msg(m) => assert_eq!(&m[1][..], b"bounce"),
            other => panic!("expected the message, got {other:?}"),
        }
        crate::rt::sleep(QUIET).await;
        assert_eq!(ev.ready(), Vec::new());

        // Enabled again: a fresh monitor reports the next connection.
        router.enable_monitor(None).await.unwrap();
        let (fourth, _fourth_ev) = recorded(zmq::DEALER, None).await;
        fourth.connect(&ep).await.unwrap();
        let (accepted, _) = wait_for(&mut ev, MonitorEvent::Accepted).await;
        assert_eq!(accepted.endpoint, ep);
        wait_for(&mut ev, MonitorEvent::HandshakeSucceeded).await;

        close_all(&[&third, &fourth, &router]).await;
        ev.lost().await;
    }
}

scenario! {
    /// Closing a monitored transport stops its monitor: the monitor PAIR's descriptor is
    /// deregistered (and the PAIR closed right after) by the time `wait_closed` returns, even
    /// though a handle to the transport is still alive. Counted on a counting wrapper of this
    /// runtime: two live registrations (the socket's and the PAIR's) while monitored, none
    /// once closed.
    async fn close_with_a_monitor_ends_it() {
        let (router, _router_ev) = recorded(zmq::ROUTER, Some("tcp://127.0.0.1:*")).await;
        let (counting, counts) = zmqio_tests::counting::CountingRuntime::wrap(crate::rt::runtime());
        let (p, mut ev) = Recorder::new();
        let (dealer, _) = zmqio::ConnectionBuilder::new(counting, move || p, zmq::DEALER)
            .await
            .unwrap();
        assert_eq!(ev.next().await, Ev::Made);
        assert_eq!(counts.live_registrations(), 1, "the socket's ZMQ_FD");
        dealer.enable_monitor(None).await.unwrap();
        assert_eq!(counts.live_registrations(), 2, "the socket's and the monitor PAIR's");
        dealer.connect(&endpoint_of(&router)).await.unwrap();
        wait_for(&mut ev, MonitorEvent::HandshakeSucceeded).await;

        dealer.close();
        // Nothing but monitor events delivered before the close, then connection_lost.
        loop {
            match ev.next().await {
                Ev::Event(_) => continue,
                Ev::Lost(e) => {
                    assert_eq!(e, None);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(dealer.wait_closed().await, None);
        assert_eq!(
            counts.live_registrations(),
            0,
            "the monitor PAIR outlived the closed transport"
        );
        assert_eq!(dealer.enable_monitor(None).await, Err(Error::Closed));
        dealer.disable_monitor().await.unwrap();

        // The router going away would be a Disconnected event for a live monitor.
        close_all(&[&router]).await;
        crate::rt::sleep(QUIET).await;
        assert_eq!(ev.ready(), Vec::new());
    }
}

scenario! {
    async fn abort_with_a_monitor_ends_it() {
        let (router, _router_ev) = recorded(zmq::ROUTER, Some("tcp://127.0.0.1:*")).await;
        let (dealer, mut ev) = recorded(zmq::DEALER, None).await;
        dealer.enable_monitor(None).await.unwrap();
        dealer.connect(&endpoint_of(&router)).await.unwrap();
        wait_for(&mut ev, MonitorEvent::HandshakeSucceeded).await;

        dealer.abort();
        assert_eq!(ev.lost().await, None);
        assert_eq!(dealer.wait_closed().await, None);
        assert_eq!(dealer.enable_monitor(None).await, Err(Error::Closed));
        close_all(&[&router]).await;
    }
}

scenario! {
    async fn events_flow_while_reading_is_paused() {
        let (router, mut router_ev) = recorded(zmq::ROUTER, Some("tcp://127.0.0.1:*")).await;
        let (dealer, mut ev) = recorded(zmq::DEALER, None).await;
        dealer.pause_reading().unwrap();
        dealer.enable_monitor(None).await.unwrap();
        dealer.connect(&endpoint_of(&router)).await.unwrap();
        wait_for(&mut ev, MonitorEvent::HandshakeSucceeded).await;

        // Writes flow too; the reply waits until reading resumes.
        dealer.write(["hi"]).unwrap();
        let request = router_ev.msg().await;
        router.write([request[0].clone(), "back".into()]).unwrap();
        dealer.resume_reading().unwrap();
        assert_eq!(&ev.msg().await[0][..], b"back");

        close_all(&[&dealer, &router]).await;
    }
}

scenario! {
    /// A wrapped socket is assumed to be in the default context; when it is not, enabling
    /// the monitor is a clear error (it used to be a monitor that never reports anything).
    async fn monitor_of_a_wrapped_socket_needs_its_context() {
        let ctx = zmq::Context::new();
        let (router, _router_ev) = recorded(zmq::ROUTER, Some("tcp://127.0.0.1:*")).await;
        let ep = endpoint_of(&router);

        let sock = ctx.socket(zmq::DEALER).unwrap();
        sock.set_linger(0).unwrap();
        let (p, _ev) = Recorder::new();
        let (wrapped, _) = zmqio::create_zmq_connection(move || p, zmq::DEALER)
            .zmq_sock(sock)
            .await
            .unwrap();
        match wrapped.enable_monitor(None).await {
            Err(Error::InvalidArgument(msg)) => assert!(msg.contains("context"), "{msg}"),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
        // Nothing is left half-enabled: the transport still works and closes.
        wrapped.connect(&ep).await.unwrap();
        close_all(&[&wrapped]).await;

        let sock = ctx.socket(zmq::DEALER).unwrap();
        sock.set_linger(0).unwrap();
        let (p, mut ev) = Recorder::new();
        let (wrapped, _) = zmqio::create_zmq_connection(move || p, zmq::DEALER)
            .zmq_sock(sock)
            .context(ctx.clone())
            .await
            .unwrap();
        assert_eq!(ev.next().await, Ev::Made);
        wrapped.enable_monitor(None).await.unwrap();
        wrapped.connect(&ep).await.unwrap();
        let (connected, _) = wait_for(&mut ev, MonitorEvent::Connected).await;
        assert_eq!(connected.endpoint, ep);

        close_all(&[&wrapped, &router]).await;
        // Every socket of `ctx` is closed, the monitor's included: dropping it terminates.
        drop(ctx);
    }
}

scenario! {
    /// libzmq reports a failed bind to the socket's monitor before `zmq_bind` returns, and
    /// sending that event can overwrite errno (with `EAGAIN`, never an error of `zmq_bind`).
    /// A monitored bind to an address in use still says `EADDRINUSE`.
    async fn a_monitored_bind_reports_the_real_error() {
        let (holder, _holder_events) = recorded(zmq::PULL, Some("tcp://127.0.0.1:*")).await;
        let taken = endpoint_of(&holder);
        for mask in [
            Some(MonitorEvent::BindFailed.into()),
            Some(MonitorEvent::BindFailed | MonitorEvent::Disconnected),
            None,
        ] {
            let (t, _events) = recorded(zmq::PULL, None).await;
            t.enable_monitor(mask).await.unwrap();
            assert_eq!(
                t.bind(&taken).await,
                Err(Error::Zmq(zmq::Error::EADDRINUSE)),
                "monitor mask {mask:?}"
            );
            t.close();
        }
        holder.close();
    }
}
