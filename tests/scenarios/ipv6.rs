//! IPv6 literal endpoints work as given.
//!
//! Bug: libzmq uses an IPv6 address only on a socket with `ZMQ_IPV6` set. Without it a bind
//! to `tcp://[::1]:*` failed, and a connect to `tcp://[::1]:PORT` succeeded and then never
//! connected: `write` succeeded, nothing arrived, no error anywhere.
//!
//! Fix: a bind or connect to an endpoint with an IPv6 literal host sets `ZMQ_IPV6` first
//! (through the builders and the transport's `bind`/`connect` alike); IPv4 endpoints leave
//! the option off.

use zmqio::opt;
use zmqio_tests::{endpoint_of, Recorder};

use super::{recorded_bound, recorded_connected};
use crate::zmqio;

/// Whether this machine has an IPv6 loopback; prints why a test is skipped when not.
fn ipv6_loopback(test: &str) -> bool {
    match std::net::TcpListener::bind("[::1]:0") {
        Ok(_) => true,
        Err(e) => {
            println!("{test}: skipped, this machine has no IPv6 loopback ({e})");
            false
        }
    }
}

fn ipv6_of(t: &zmqio::ZmqTransport) -> bool {
    t.getsockopt(opt::Ipv6).expect("ZMQ_IPV6")
}

scenario! {
    /// The builders: a PULL bound to `tcp://[::1]:*`, a PUSH connected to its endpoint.
    async fn builders_bind_and_connect_over_ipv6_loopback() {
        if !ipv6_loopback("builders_bind_and_connect_over_ipv6_loopback") {
            return;
        }
        let (p, mut pull_events) = Recorder::new();
        let (pull, _) = zmqio::create_zmq_connection(move || p, zmq::PULL)
            .bind("tcp://[::1]:*")
            .await
            .expect("bind to [::1]");
        let endpoint = endpoint_of(&pull);
        assert!(endpoint.starts_with("tcp://[::1]:"), "{endpoint}");
        let (push, _push_events) = recorded_connected(zmq::PUSH, endpoint.as_str()).await;
        assert!(ipv6_of(&pull) && ipv6_of(&push));

        push.write(["over ipv6"]).unwrap();
        let got = super::timeout(std::time::Duration::from_secs(20), pull_events.msg())
            .await
            .expect("nothing arrived over [::1]");
        assert_eq!(&got[0][..], b"over ipv6");
        push.close();
        pull.close();
        push.wait_closed().await;
        pull.wait_closed().await;
    }
}

scenario! {
    /// The transport's own `bind` and `connect`, on sockets made without endpoints.
    async fn transport_bind_and_connect_over_ipv6_loopback() {
        if !ipv6_loopback("transport_bind_and_connect_over_ipv6_loopback") {
            return;
        }
        let (p, mut pull_events) = Recorder::new();
        let (pull, _) = zmqio::create_zmq_connection(move || p, zmq::PULL).await.unwrap();
        assert!(!ipv6_of(&pull));
        let endpoint = pull.bind("tcp://[::1]:*").await.expect("bind to [::1]");
        assert!(endpoint.starts_with("tcp://[::1]:"), "{endpoint}");

        let (q, _push_events) = Recorder::new();
        let (push, _) = zmqio::create_zmq_connection(move || q, zmq::PUSH).await.unwrap();
        assert_eq!(push.connect(&endpoint).await.unwrap(), endpoint);
        assert!(ipv6_of(&pull) && ipv6_of(&push));

        push.write(["over ipv6"]).unwrap();
        let got = super::timeout(std::time::Duration::from_secs(20), pull_events.msg())
            .await
            .expect("nothing arrived over [::1]");
        assert_eq!(&got[0][..], b"over ipv6");
        push.close();
        pull.close();
        push.wait_closed().await;
        pull.wait_closed().await;
    }
}

scenario! {
    /// An IPv6 address as `resolve_endpoint` writes it (the resolver of this machine may not
    /// give one for any name, so the address is formatted by the same function) connects.
    async fn a_resolved_ipv6_endpoint_connects() {
        if !ipv6_loopback("a_resolved_ipv6_endpoint_connects") {
            return;
        }
        let (pull, mut pull_events) = {
            let (p, ev) = Recorder::new();
            let (t, _) = zmqio::create_zmq_connection(move || p, zmq::PULL)
                .bind("tcp://[::1]:*")
                .await
                .unwrap();
            (t, ev)
        };
        let port: u16 = endpoint_of(&pull).rsplit(':').next().unwrap().parse().unwrap();
        let addr = std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
        let resolved = zmqio::resolved_endpoint("tcp://some-ipv6-host:1", [addr]).unwrap();
        assert_eq!(resolved, format!("tcp://[::1]:{port}"));
        // An IPv6 literal is already resolved: it comes back unchanged.
        assert_eq!(zmqio::resolve_endpoint(&resolved).await.unwrap(), resolved);

        let (push, _push_events) = recorded_connected(zmq::PUSH, resolved.as_str()).await;
        push.write(["resolved"]).unwrap();
        let got = super::timeout(std::time::Duration::from_secs(20), pull_events.msg())
            .await
            .expect("nothing arrived over [::1]");
        assert_eq!(&got[0][..], b"resolved");
        push.close();
        pull.close();
        push.wait_closed().await;
        pull.wait_closed().await;
    }
}

scenario! {
    /// IPv4 endpoints leave `ZMQ_IPV6` as it was: off by default, on when the user set it.
    async fn ipv4_endpoints_leave_the_ipv6_option_alone() {
        let (pull, mut pull_events) = recorded_bound(zmq::PULL).await;
        let (push, _push_events) = recorded_connected(zmq::PUSH, endpoint_of(&pull)).await;
        assert!(!ipv6_of(&pull) && !ipv6_of(&push));
        push.write(["v4"]).unwrap();
        assert_eq!(&pull_events.msg().await[0][..], b"v4");
        assert!(!ipv6_of(&pull) && !ipv6_of(&push));

        let (q, _ev) = Recorder::new();
        let (other, _) = zmqio::create_zmq_connection(move || q, zmq::PULL).await.unwrap();
        other.setsockopt(opt::Ipv6, true).unwrap();
        other.bind("tcp://127.0.0.1:*").await.unwrap();
        assert!(ipv6_of(&other));
        for t in [push, pull, other] {
            t.close();
            t.wait_closed().await;
        }
    }
}

scenario! {
    /// The silent case of the bug: the peer is bound to `[::1]` (with the option set by
    /// hand); a PUSH only connects, and must deliver.
    async fn a_connect_to_an_ipv6_peer_delivers() {
        if !ipv6_loopback("a_connect_to_an_ipv6_peer_delivers") {
            return;
        }
        let (p, mut pull_events) = Recorder::new();
        let (pull, _) = zmqio::create_zmq_connection(move || p, zmq::PULL).await.unwrap();
        pull.setsockopt(opt::Ipv6, true).unwrap();
        let endpoint = pull.bind("tcp://[::1]:*").await.unwrap();
        let (push, _push_events) = recorded_connected(zmq::PUSH, endpoint.as_str()).await;
        push.write(["found"]).unwrap();
        let got = super::timeout(std::time::Duration::from_secs(20), pull_events.msg())
            .await
            .expect("a connect to [::1] never delivered");
        assert_eq!(&got[0][..], b"found");
        push.close();
        pull.close();
        push.wait_closed().await;
        pull.wait_closed().await;
    }
}
