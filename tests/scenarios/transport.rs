//! The transport/protocol API end to end.

use zmqio_tests::{endpoint_of, Ev, Recorder};

use crate::zmqio;

scenario! {
    /// aiozmq#157: an inproc REQ bound first and a REP connected second hung, because the
    /// fresh pipe never signalled ZMQ_FD. The engine checks ZMQ_EVENTS after connect.
    async fn inproc_bind_first_does_not_hang() {
        let ep = format!("inproc://bind-first-{}", line!());
        let (req, mut req_ev) = {
            let (p, e) = Recorder::new();
            let (t, _) = zmqio::create_zmq_connection(move || p, zmq::REQ).bind(ep.as_str()).await.unwrap();
            (t, e)
        };
        let (rep, _rep_ev) = {
            let (p, e) = Recorder::echo();
            let (t, _) = zmqio::create_zmq_connection(move || p, zmq::REP).connect(ep.as_str()).await.unwrap();
            (t, e)
        };
        assert_eq!(req_ev.next().await, Ev::Made);
        req.write(["hello"]).unwrap();
        let reply = req_ev.msg().await;
        assert_eq!(&reply[0][..], b"hello");
        req.close();
        rep.close();
        assert_eq!(req_ev.lost().await, None);
        assert_eq!(req.wait_closed().await, None);
        assert_eq!(rep.wait_closed().await, None);
    }
}

scenario! {
    async fn push_pull_100k_in_order() {
        let (p, mut pull_ev) = Recorder::new();
        let (pull, _) = zmqio::create_zmq_connection(move || p, zmq::PULL).bind("tcp://127.0.0.1:*").await.unwrap();
        let (p, _push_ev) = Recorder::new();
        let (push, _) = zmqio::create_zmq_connection(move || p, zmq::PUSH).connect(endpoint_of(&pull)).await.unwrap();
        const N: u32 = 100_000;
        for i in 0..N {
            push.write([i.to_be_bytes().to_vec()]).unwrap();
            if i % 1000 == 999 {
                push.drain().await.unwrap();
            }
        }
        for i in 0..N {
            let m = pull_ev.msg().await;
            assert_eq!(&m[0][..], &i.to_be_bytes()[..]);
        }
        push.close();
        pull.close();
        push.wait_closed().await;
        pull.wait_closed().await;
    }
}
