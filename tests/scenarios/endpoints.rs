//! Bookkeeping and argument checks: bind/connect sets, subscriptions, endpoint errors,
//! `resolve_endpoint`, and creates that fail.

use std::collections::BTreeSet;

use bytes::Bytes;
use zmqio::opt;
use zmqio::{Error, Multipart};
use zmqio_tests::{endpoint_of, Ev, Recorder};

use super::recorded_connected;
use crate::zmqio;

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn errno_of<T: std::fmt::Debug>(r: zmqio::Result<T>) -> Option<i32> {
    match r {
        Err(e) => e.errno(),
        Ok(v) => panic!("expected an error, got Ok({v:?})"),
    }
}

scenario! {
    /// `bind("tcp://127.0.0.1:*")` returns and records the resolved endpoint; unbinding the
    /// wildcard string fails with ENOENT and changes nothing.
    async fn bindings_hold_the_resolved_endpoint() {
        let (p, _ev) = Recorder::new();
        let (t, _) = zmqio::create_zmq_connection(move || p, zmq::PULL).await.unwrap();
        let ep = t.bind("tcp://127.0.0.1:*").await.unwrap();
        let port: u16 = ep
            .strip_prefix("tcp://127.0.0.1:")
            .expect("tcp endpoint on 127.0.0.1")
            .parse()
            .expect("a real port");
        assert_ne!(port, 0);
        assert_eq!(t.bindings(), set(&[&ep]));

        let err = t.unbind("tcp://127.0.0.1:*").await.unwrap_err();
        assert_eq!(err.errno(), Some(zmq::Error::ENOENT.to_raw()), "{err:?}");
        assert_eq!(t.bindings(), set(&[&ep]));

        let ep2 = t.bind("tcp://127.0.0.1:*").await.unwrap();
        assert_ne!(ep, ep2);
        assert_eq!(t.bindings(), set(&[&ep, &ep2]));
        t.unbind(&ep).await.unwrap();
        assert_eq!(t.bindings(), set(&[&ep2]));
        t.close();
        t.wait_closed().await;

        // The builder's binds are recorded resolved too.
        let (p, _ev) = Recorder::new();
        let (t, _) = zmqio::create_zmq_connection(move || p, zmq::PULL)
            .bind(["tcp://127.0.0.1:*", "inproc://endpoints-bindings"])
            .await
            .unwrap();
        let b = t.bindings();
        assert_eq!(b.len(), 2);
        assert!(b.contains("inproc://endpoints-bindings"));
        assert!(b.iter().all(|e| !e.ends_with('*')), "{b:?}");
        t.close();
        t.wait_closed().await;
    }
}

scenario! {
    /// `connections()` holds the endpoints as given; disconnect forgets one; disconnecting an
    /// unknown endpoint (or unbinding one) is ENOENT and changes nothing.
    async fn connect_and_disconnect_bookkeeping() {
        let (p, mut pull_ev) = Recorder::new();
        let (pull, _) = zmqio::create_zmq_connection(move || p, zmq::PULL)
            .bind(["tcp://127.0.0.1:*", "inproc://endpoints-connect"])
            .await
            .unwrap();
        let tcp = pull
            .bindings()
            .into_iter()
            .find(|e| e.starts_with("tcp://"))
            .unwrap();
        let (push, _ev) = recorded_connected(zmq::PUSH, tcp.as_str()).await;
        assert_eq!(push.connections(), set(&[&tcp]));
        assert_eq!(push.connect("inproc://endpoints-connect").await.unwrap(), "inproc://endpoints-connect");
        assert_eq!(push.connections(), set(&[&tcp, "inproc://endpoints-connect"]));
        assert!(push.bindings().is_empty());

        // Both connections work.
        push.write(["a"]).unwrap();
        push.write(["b"]).unwrap();
        let mut got = vec![pull_ev.msg().await, pull_ev.msg().await];
        got.sort_by(|x, y| x[0].cmp(&y[0]));
        assert_eq!(got, vec![Multipart::from(["a"]), Multipart::from(["b"])]);

        let before = push.connections();
        for unknown in ["inproc://endpoints-nowhere", "tcp://127.0.0.1:1"] {
            assert_eq!(errno_of(push.disconnect(unknown).await), Some(zmq::Error::ENOENT.to_raw()));
            assert_eq!(errno_of(push.unbind(unknown).await), Some(zmq::Error::ENOENT.to_raw()));
        }
        assert_eq!(push.connections(), before);

        push.disconnect(&tcp).await.unwrap();
        assert_eq!(push.connections(), set(&["inproc://endpoints-connect"]));
        assert_eq!(errno_of(push.disconnect(&tcp).await), Some(zmq::Error::ENOENT.to_raw()));
        push.close();
        pull.close();
        push.wait_closed().await;
        pull.wait_closed().await;
    }
}

scenario! {
    /// Subscriptions are a set (subscribing twice is one entry), kept in sync with
    /// `setsockopt`, and only for SUB sockets.
    async fn subscriptions_dedupe_and_are_sub_only() {
        let (p, _ev) = Recorder::new();
        let (sub, _) = zmqio::create_zmq_connection(move || p, zmq::SUB).await.unwrap();
        assert!(sub.subscriptions().unwrap().is_empty());
        sub.subscribe("a").unwrap();
        sub.subscribe(b"a").unwrap();
        sub.subscribe(Bytes::from_static(b"b")).unwrap();
        assert_eq!(sub.subscriptions().unwrap().len(), 2);
        sub.unsubscribe("not subscribed").unwrap();
        sub.unsubscribe("a").unwrap();
        let want: BTreeSet<Bytes> = [Bytes::from_static(b"b")].into_iter().collect();
        assert_eq!(sub.subscriptions().unwrap(), want);

        sub.setsockopt(opt::Subscribe, b"c".to_vec()).unwrap();
        assert!(sub.subscriptions().unwrap().contains(&b"c"[..]));
        sub.setsockopt(opt::Unsubscribe, b"c".to_vec()).unwrap();
        assert!(!sub.subscriptions().unwrap().contains(&b"c"[..]));
        sub.close();
        sub.wait_closed().await;

        for ty in [zmq::PUB, zmq::PULL, zmq::DEALER, zmq::XSUB] {
            let (p, _ev) = Recorder::new();
            let (t, _) = zmqio::create_zmq_connection(move || p, ty).await.unwrap();
            assert!(matches!(t.subscribe("a"), Err(Error::NotSupported(_))), "{ty:?}");
            assert!(matches!(t.unsubscribe("a"), Err(Error::NotSupported(_))), "{ty:?}");
            assert!(matches!(t.subscriptions(), Err(Error::NotSupported(_))), "{ty:?}");
            t.close();
            t.wait_closed().await;
        }
    }
}

scenario! {
    /// Malformed endpoints keep libzmq's errno: EINVAL for a tcp endpoint without a port,
    /// EPROTONOSUPPORT for an unknown transport; nothing is recorded.
    async fn bad_endpoints_give_einval_and_eprotonosupport() {
        let einval = Some(zmq::Error::EINVAL.to_raw());
        let eproto = Some(zmq::Error::EPROTONOSUPPORT.to_raw());
        let (p, _ev) = Recorder::new();
        let (t, _) = zmqio::create_zmq_connection(move || p, zmq::DEALER).await.unwrap();
        assert_eq!(errno_of(t.bind("tcp://127.0.0.1").await), einval);
        assert_eq!(errno_of(t.connect("tcp://127.0.0.1").await), einval);
        assert_eq!(errno_of(t.bind("foo://bar").await), eproto);
        assert_eq!(errno_of(t.connect("foo://bar").await), eproto);
        assert_eq!(errno_of(t.bind("inproc://nul\0byte").await), einval);
        assert!(t.bindings().is_empty());
        assert!(t.connections().is_empty());
        // The errno survives the conversion to std::io::Error.
        let io: std::io::Error = t.bind("foo://bar").await.unwrap_err().into();
        assert_eq!(io.raw_os_error(), eproto);
        t.close();
        t.wait_closed().await;
    }
}

scenario! {
    /// A tcp connect to a DNS name is refused (libzmq would resolve it with a blocking call);
    /// `resolve_endpoint` turns it into an address that works, end to end.
    async fn dns_name_connect_is_refused_and_resolve_endpoint_makes_it_work() {
        let (p, _rep_ev) = Recorder::echo();
        let (rep, _) = zmqio::create_zmq_connection(move || p, zmq::REP)
            .bind("tcp://127.0.0.1:*")
            .await
            .unwrap();
        let ep = endpoint_of(&rep);
        let port = ep.rsplit(':').next().unwrap();
        let by_name = format!("tcp://localhost:{port}");

        let (p, mut req_ev) = Recorder::new();
        let (req, _) = zmqio::create_zmq_connection(move || p, zmq::REQ).await.unwrap();
        assert!(matches!(req.connect(&by_name).await, Err(Error::InvalidArgument(_))));
        assert!(req.connections().is_empty());

        let resolved = zmqio::resolve_endpoint(&by_name).await.unwrap();
        assert_eq!(resolved, ep);
        // IP literals and other transports come back unchanged.
        assert_eq!(zmqio::resolve_endpoint(&ep).await.unwrap(), ep);
        assert_eq!(zmqio::resolve_endpoint("inproc://x").await.unwrap(), "inproc://x");

        assert_eq!(req.connect(&resolved).await.unwrap(), resolved);
        assert_eq!(req.connections(), set(&[&resolved]));
        req.write(["ping"]).unwrap();
        assert_eq!(req_ev.msg().await, Multipart::from(["ping"]));
        req.close();
        rep.close();
        req.wait_closed().await;
        rep.wait_closed().await;
    }
}

scenario! {
    /// A create that fails makes no protocol callback.
    async fn failed_create_makes_no_callback() {
        let (p, mut ev) = Recorder::new();
        let r = zmqio::create_zmq_connection(move || p, zmq::PUSH).bind("foo://bar").await;
        assert_eq!(errno_of(r.map(|_| ())), Some(zmq::Error::EPROTONOSUPPORT.to_raw()));
        assert_eq!(ev.ready(), vec![]);

        let (p, mut ev) = Recorder::new();
        let r = zmqio::create_zmq_connection(move || p, zmq::PUSH)
            .bind("inproc://endpoints-failed-create")
            .connect("tcp://localhost:5555")
            .await;
        assert!(matches!(r, Err(Error::InvalidArgument(_))));
        assert_eq!(ev.ready(), vec![]);
        let (p, mut ev) = Recorder::new();
        let r = zmqio::create_zmq_connection(move || p, zmq::PUSH).connect("tcp://127.0.0.1").await;
        assert_eq!(errno_of(r.map(|_| ())), Some(zmq::Error::EINVAL.to_raw()));
        assert_eq!(ev.ready(), vec![]);
    }
}

scenario! {
    /// A socket given with `zmq_sock` must be of the type asked for.
    async fn zmq_sock_of_another_type_is_invalid_argument() {
        let sock = zmqio::default_context().socket(zmq::PUSH).unwrap();
        let (p, mut ev) = Recorder::new();
        let r = zmqio::create_zmq_connection(move || p, zmq::PULL).zmq_sock(sock).await;
        assert!(matches!(r, Err(Error::InvalidArgument(_))));
        assert_eq!(ev.ready(), vec![]);

        // The right type is accepted.
        let sock = zmqio::default_context().socket(zmq::PULL).unwrap();
        let (p, mut ev) = Recorder::new();
        let (t, _) = zmqio::create_zmq_connection(move || p, zmq::PULL).zmq_sock(sock).await.unwrap();
        assert_eq!(ev.next().await, Ev::Made);
        assert_eq!(t.socket_type(), zmq::PULL);
        t.close();
        t.wait_closed().await;
    }
}

scenario! {
    /// `bound_endpoint()` is where a builder's bind landed, resolved, on transports and
    /// streams; with several bindings, the one bound last; `None` when nothing is bound.
    async fn bound_endpoint_is_the_resolved_bind() {
        let (p, _ev) = Recorder::new();
        let (t, _) = zmqio::create_zmq_connection(move || p, zmq::PULL)
            .bind("tcp://127.0.0.1:*")
            .await
            .unwrap();
        let ep = t.bound_endpoint().expect("bound by the builder");
        assert!(ep.starts_with("tcp://127.0.0.1:") && !ep.ends_with('*'), "{ep}");
        assert_eq!(t.bindings(), set(&[&ep]));
        // The last bind wins while nothing was connected after it.
        let second = t.bind("inproc://bound-endpoint-second").await.unwrap();
        assert_eq!(t.bound_endpoint().as_deref(), Some(second.as_str()));
        t.unbind(&second).await.unwrap();
        assert_eq!(t.bound_endpoint(), Some(ep.clone()));
        t.unbind(&ep).await.unwrap();
        assert_eq!(t.bound_endpoint(), None);
        t.close();
        t.wait_closed().await;

        // A stream bound and connected by its builder: the bind, not the connect.
        let mut pull = zmqio::create_zmq_stream(zmq::PULL)
            .bind("tcp://127.0.0.1:*")
            .await
            .unwrap();
        let push = zmqio::create_zmq_stream(zmq::PUSH)
            .bind("inproc://bound-endpoint-push")
            .connect(pull.bound_endpoint().unwrap())
            .await
            .unwrap();
        assert_eq!(push.bound_endpoint().as_deref(), Some("inproc://bound-endpoint-push"));
        push.write("bounce").unwrap();
        assert_eq!(&pull.read().await.unwrap()[0][..], b"bounce");
        let unbound = zmqio::create_zmq_stream(zmq::PUSH).await.unwrap();
        assert_eq!(unbound.bound_endpoint(), None);
    }
}
