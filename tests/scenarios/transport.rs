//! The transport/protocol API end to end: messages through the socket patterns, the write
//! queue under load, close and abort, pause/resume of reading, and protocol callbacks.

use std::time::Duration;

use futures::future::{select, Either};
use futures::FutureExt;
use zmqio::opt::{self, SetSocketOpt};
use zmqio::{Error, Multipart};
use zmqio_tests::{
    big_message, check_big_message, endpoint_of, Ev, Events, Recorder, SelfCaller, BIG_FRAMES,
    BIG_FRAME_LEN,
};

use super::{recorded_bound, recorded_connected};
use crate::rt;
use crate::zmqio;

/// The next message, or `None` if none arrives within `within`.
async fn msg_within(events: &mut Events, within: Duration) -> Option<Multipart> {
    let msg = events.msg();
    let timer = rt::sleep(within);
    futures::pin_mut!(msg, timer);
    match select(msg, timer).await {
        Either::Left((m, _)) => Some(m),
        Either::Right(_) => None,
    }
}

/// A unique inproc endpoint for one scenario.
fn inproc(name: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "inproc://transport-{name}-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Every callback of a writer after `connection_made` and `pause_writing`, up to and including
/// `connection_lost`.
async fn rest_until_lost(events: &mut Events) -> Vec<Ev> {
    let mut seen = Vec::new();
    loop {
        let ev = events.next().await;
        let last = matches!(ev, Ev::Lost(_));
        seen.push(ev);
        if last {
            return seen;
        }
    }
}

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

scenario! {
    /// PUB/SUB over tcp: the publisher repeats until the subscription has reached it (the
    /// slow joiner), then only subscribed topics arrive, in order.
    async fn pub_sub_delivers_only_subscribed_topics() {
        let (sub, mut sub_ev) = recorded_bound(zmq::SUB).await;
        sub.subscribe("weather.").unwrap();
        let (publ, _pub_ev) = recorded_connected(zmq::PUB, endpoint_of(&sub)).await;

        let first = loop {
            publ.write(["sports.", "probe"]).unwrap();
            publ.write(["weather.", "probe"]).unwrap();
            if let Some(m) = msg_within(&mut sub_ev, Duration::from_millis(20)).await {
                break m;
            }
        };
        assert_eq!(first, Multipart::from(["weather.", "probe"]));

        const N: usize = 200;
        for i in 0..N {
            for topic in ["sports.", "weather.", "weatherless"] {
                publ.write([topic.to_owned(), i.to_string()]).unwrap();
            }
        }
        let mut next = 0;
        while next < N {
            let m = sub_ev.msg().await;
            assert_eq!(&m[0][..], b"weather.", "unsubscribed topic arrived: {m:?}");
            if &m[1][..] == b"probe" {
                assert_eq!(next, 0, "a probe after the burst started");
                continue;
            }
            assert_eq!(m[1], next.to_string().as_bytes(), "out of order");
            next += 1;
        }
        publ.close();
        sub.close();
        assert_eq!(publ.wait_closed().await, None);
        assert_eq!(sub.wait_closed().await, None);
        // Nothing but the burst's tail (none) and connection_lost after that.
        for ev in sub_ev.ready() {
            assert!(matches!(ev, Ev::Lost(None)), "{ev:?}");
        }
    }
}

scenario! {
    /// DEALER/ROUTER with routing ids set before connecting: once on a socket handed to the
    /// builder with `zmq_sock`, once with `setsockopt` on a transport made without endpoints.
    async fn dealer_router_with_identity() {
        let (p, mut router_ev) = Recorder::echo();
        let (router, _) = zmqio::create_zmq_connection(move || p, zmq::ROUTER)
            .bind("tcp://127.0.0.1:*")
            .await
            .unwrap();
        let ep = endpoint_of(&router);

        let sock = zmqio::default_context().socket(zmq::DEALER).unwrap();
        opt::RoutingId.set(&sock, b"dealer-1".to_vec()).unwrap();
        let (p, mut d1_ev) = Recorder::new();
        let (d1, _) = zmqio::create_zmq_connection(move || p, zmq::DEALER)
            .zmq_sock(sock)
            .connect(ep.as_str())
            .await
            .unwrap();

        let (p, mut d2_ev) = Recorder::new();
        let (d2, _) = zmqio::create_zmq_connection(move || p, zmq::DEALER).await.unwrap();
        d2.setsockopt(opt::RoutingId, b"dealer-2".to_vec()).unwrap();
        assert_eq!(d2.getsockopt(opt::RoutingId).unwrap(), b"dealer-2");
        d2.connect(&ep).await.unwrap();

        d1.write(["one", "two"]).unwrap();
        assert_eq!(router_ev.msg().await, Multipart::from(["dealer-1", "one", "two"]));
        // The echo went back to dealer-1 by its id, without the id frame.
        assert_eq!(d1_ev.msg().await, Multipart::from(["one", "two"]));

        d2.write(["three"]).unwrap();
        assert_eq!(router_ev.msg().await, Multipart::from(["dealer-2", "three"]));
        assert_eq!(d2_ev.msg().await, Multipart::from(["three"]));

        // Addressed by id from outside a callback.
        router.write(["dealer-2", "direct"]).unwrap();
        router.write(["dealer-1", "other"]).unwrap();
        assert_eq!(d2_ev.msg().await, Multipart::from(["direct"]));
        assert_eq!(d1_ev.msg().await, Multipart::from(["other"]));

        for t in [&d1, &d2, &router] {
            t.close();
        }
        for t in [&d1, &d2, &router] {
            assert_eq!(t.wait_closed().await, None);
        }
    }
}

scenario! {
    /// One 26-frame x 1000-byte message written 2,000 times arrives intact and in order.
    async fn big_multipart_written_2000_times_arrives_intact() {
        let (pull, mut pull_ev) = recorded_bound(zmq::PULL).await;
        let (push, _push_ev) = recorded_connected(zmq::PUSH, endpoint_of(&pull)).await;
        assert_eq!(big_message(0).byte_len(), BIG_FRAMES * BIG_FRAME_LEN);
        const N: u32 = 2_000;
        for i in 0..N {
            push.write(big_message(i)).unwrap();
        }
        for i in 0..N {
            check_big_message(&pull_ev.msg().await, i);
        }
        push.drain().await.unwrap();
        push.close();
        pull.close();
        assert_eq!(push.wait_closed().await, None);
        assert_eq!(pull.wait_closed().await, None);
    }
}

scenario! {
    /// 10,000 big messages written at once push the queue over the high watermark
    /// (`pause_writing`); `close()` then flushes all of them before `connection_lost(None)`,
    /// and every one arrives, intact and in order.
    async fn close_flushes_10000_queued_messages_before_connection_lost() {
        let (pull, mut pull_ev) = recorded_bound(zmq::PULL).await;
        let (push, mut push_ev) = recorded_connected(zmq::PUSH, endpoint_of(&pull)).await;
        assert_eq!(push_ev.next().await, Ev::Made);
        const N: u32 = 10_000;
        for i in 0..N {
            push.write(big_message(i)).unwrap();
        }
        // The pause proves the queue went over the high watermark; its size right now is not
        // checked, because the driver may already be flushing it into the connected PULL.
        assert_eq!(push_ev.next().await, Ev::Pause);
        push.close();
        assert!(push.is_closing());
        assert_eq!(push.write(["late"]), Err(Error::Closed));

        for i in 0..N {
            check_big_message(&pull_ev.msg().await, i);
        }
        // The writer's queue was flushed, then connection_lost(None) came last, once. (On a
        // multi-threaded executor the driver flushes while the writes go on, so the queue may
        // fall to the low watermark and rise again before close(): the Recorder checks that
        // pause and resume alternate.)
        let rest = rest_until_lost(&mut push_ev).await;
        assert_eq!(rest.last(), Some(&Ev::Lost(None)), "{rest:?}");
        assert!(
            rest[..rest.len() - 1].iter().all(|e| matches!(e, Ev::Pause | Ev::Resume)),
            "{rest:?}"
        );
        assert_eq!(push.wait_closed().await, None);
        assert_eq!(push.get_write_buffer_size(), 0);
        pull.close();
        assert_eq!(pull.wait_closed().await, None);
        assert_eq!(push_ev.ready(), vec![]);
    }
}

scenario! {
    /// `abort()` drops the write queue: `connection_lost(None)` without `resume_writing`, and
    /// only what libzmq had already taken arrives.
    async fn abort_drops_the_write_queue() {
        // The writer is bound and has no peer yet: all 10,000 messages stay queued.
        let (push, mut push_ev) = recorded_bound(zmq::PUSH).await;
        assert_eq!(push_ev.next().await, Ev::Made);
        const N: u32 = 10_000;
        for i in 0..N {
            push.write(big_message(i)).unwrap();
        }
        assert_eq!(push_ev.next().await, Ev::Pause);
        let all_queued = push.get_write_buffer_size();
        assert_eq!(all_queued, N as usize * BIG_FRAMES * BIG_FRAME_LEN);

        // A reader that does not read: libzmq's pipes and the tcp buffers take a few thousand
        // messages at most, so the queue can never fall to the low watermark (no
        // resume_writing is possible before the abort either).
        let (p, mut pull_ev) = Recorder::new();
        let (pull, _) = zmqio::create_zmq_connection(move || p, zmq::PULL).await.unwrap();
        pull.pause_reading().unwrap();
        pull.connect(&endpoint_of(&push)).await.unwrap();
        while push.get_write_buffer_size() == all_queued {
            rt::sleep(Duration::from_millis(2)).await;
        }

        // The driver may still flush a little between this reading and abort(), never more.
        let queued = push.get_write_buffer_size() / (BIG_FRAMES * BIG_FRAME_LEN);
        assert!(queued > N as usize / 2, "{queued}");
        push.abort();
        assert_eq!(push.get_write_buffer_size(), 0);
        assert_eq!(push.write(["late"]), Err(Error::Closed));
        assert_eq!(push_ev.next().await, Ev::Lost(None));
        assert_eq!(push.wait_closed().await, None);
        assert_eq!(push_ev.ready(), vec![], "nothing after connection_lost, no resume_writing");

        // What libzmq had taken before the abort still arrives (the default linger), in order.
        pull.resume_reading().unwrap();
        let handed_over = N - queued as u32;
        for i in 0..handed_over {
            check_big_message(&pull_ev.msg().await, i);
        }
        let mut arrived = handed_over;
        while let Some(m) = msg_within(&mut pull_ev, Duration::from_secs(1)).await {
            check_big_message(&m, arrived);
            arrived += 1;
        }
        assert!(arrived < N, "abort() dropped nothing: all {N} arrived");
        pull.close();
        assert_eq!(pull.wait_closed().await, None);
    }
}

scenario! {
    async fn pause_and_resume_reading_errors() {
        let (p, _ev) = Recorder::new();
        let (t, _) = zmqio::create_zmq_connection(move || p, zmq::PULL).await.unwrap();
        assert!(matches!(t.resume_reading(), Err(Error::InvalidState(_))));
        t.pause_reading().unwrap();
        assert!(matches!(t.pause_reading(), Err(Error::InvalidState(_))));
        t.resume_reading().unwrap();
        assert!(matches!(t.resume_reading(), Err(Error::InvalidState(_))));
        t.pause_reading().unwrap();
        t.close();
        assert!(matches!(t.pause_reading(), Err(Error::InvalidState(_))));
        assert_eq!(t.resume_reading(), Ok(()));
        assert_eq!(t.wait_closed().await, None);
        assert!(matches!(t.pause_reading(), Err(Error::InvalidState(_))));
        assert_eq!(t.resume_reading(), Ok(()));
    }
}

scenario! {
    /// Messages that arrive while reading is paused wait in the socket; `resume_reading`
    /// delivers all of them, in order, with no new traffic to wake the driver.
    async fn no_message_lost_across_a_read_pause() {
        let ep = inproc("pause");
        let (p, mut pull_ev) = Recorder::new();
        let (pull, _) = zmqio::create_zmq_connection(move || p, zmq::PULL)
            .bind(ep.as_str())
            .await
            .unwrap();
        let (push, _push_ev) = recorded_connected(zmq::PUSH, ep.as_str()).await;
        push.write(["warm-up"]).unwrap();
        assert_eq!(pull_ev.msg().await, Multipart::from(["warm-up"]));

        pull.pause_reading().unwrap();
        const N: u32 = 500;
        for i in 0..N {
            push.write([i.to_be_bytes().to_vec()]).unwrap();
        }
        // inproc: everything written is in the reader's pipe once the queue is empty.
        push.drain().await.unwrap();
        assert_eq!(push.get_write_buffer_size(), 0);
        // Touch the reader's socket (this may consume the fd's edge), and give a wrongly
        // running reader the chance to deliver.
        let ev = pull.getsockopt(opt::Events).unwrap();
        assert!(ev.contains(zmq::POLLIN));
        rt::sleep(Duration::from_millis(50)).await;
        assert!(
            pull_ev.ready().iter().all(|e| !matches!(e, Ev::Msg(_))),
            "a message was delivered while reading was paused"
        );

        pull.resume_reading().unwrap();
        for i in 0..N {
            assert_eq!(pull_ev.msg().await[0], i.to_be_bytes()[..]);
        }
        push.close();
        pull.close();
        assert_eq!(push.wait_closed().await, None);
        assert_eq!(pull.wait_closed().await, None);
    }
}

scenario! {
    /// While reading is paused, writes keep flowing.
    async fn writes_flow_while_reading_is_paused() {
        let ep = inproc("paused-writes");
        let (p, mut a_ev) = Recorder::new();
        let (a, _) = zmqio::create_zmq_connection(move || p, zmq::PAIR).bind(ep.as_str()).await.unwrap();
        let (p, mut b_ev) = Recorder::new();
        let (b, _) = zmqio::create_zmq_connection(move || p, zmq::PAIR).connect(ep.as_str()).await.unwrap();
        a.pause_reading().unwrap();
        b.write(["to a"]).unwrap();
        for i in 0..100u32 {
            a.write([i.to_be_bytes().to_vec()]).unwrap();
        }
        for i in 0..100u32 {
            assert_eq!(b_ev.msg().await[0], i.to_be_bytes()[..]);
        }
        a.resume_reading().unwrap();
        assert_eq!(a_ev.msg().await, Multipart::from(["to a"]));
        a.close();
        b.close();
        a.wait_closed().await;
        b.wait_closed().await;
    }
}

scenario! {
    async fn write_after_close_is_closed() {
        let (p, mut ev) = Recorder::new();
        let (t, _) = zmqio::create_zmq_connection(move || p, zmq::PUSH).await.unwrap();
        t.write(Multipart::new()).unwrap();
        t.close();
        assert!(t.is_closing());
        assert_eq!(t.write(["x"]), Err(Error::Closed));
        assert_eq!(t.write(Multipart::new()), Err(Error::Closed));
        assert_eq!(ev.lost().await, None);
        assert_eq!(t.wait_closed().await, None);
        assert_eq!(t.write(["x"]), Err(Error::Closed));
        assert_eq!(t.drain().await, Err(Error::Closed));
        assert_eq!(t.with_zmq_socket(|_| ()), Err(Error::Closed));

        let (p, mut ev) = Recorder::new();
        let (t, _) = zmqio::create_zmq_connection(move || p, zmq::PUSH).await.unwrap();
        t.abort();
        assert_eq!(t.write(["x"]), Err(Error::Closed));
        assert_eq!(ev.lost().await, None);
    }
}

scenario! {
    /// A `msg_received` that panics aborts the transport: `connection_lost` gets the panic,
    /// every waiter resolves, and the protocol's mutex is still usable.
    async fn panicking_msg_received_closes_without_hanging() {
        let ep = inproc("panic");
        let (p, mut ev) = Recorder::panicking();
        let (pull, protocol) = zmqio::create_zmq_connection(move || p, zmq::PULL)
            .bind(ep.as_str())
            .await
            .unwrap();
        let waiter = rt::spawn({
            let t = pull.clone();
            async move { t.wait_closed().await }
        });
        let (push, _push_ev) = recorded_connected(zmq::PUSH, ep.as_str()).await;
        push.write(["trigger"]).unwrap();

        assert_eq!(ev.next().await, Ev::Made);
        match ev.next().await {
            Ev::Lost(Some(Error::CallbackPanicked(m))) => assert!(m.contains("boom"), "{m}"),
            other => panic!("expected connection_lost(CallbackPanicked), got {other:?}"),
        }
        assert!(matches!(waiter.await, Some(Error::CallbackPanicked(_))));
        assert!(matches!(pull.wait_closed().await, Some(Error::CallbackPanicked(_))));
        assert!(matches!(pull.drain().await, Err(Error::CallbackPanicked(_))));
        assert!(pull.is_closing());
        assert_eq!(pull.write(["x"]), Err(Error::Closed));
        {
            let guard = protocol.lock();
            assert!(guard.is_ok(), "the protocol's mutex is poisoned");
            assert_eq!(guard.unwrap().lost_calls, 1);
        }
        push.close();
        assert_eq!(push.wait_closed().await, None);
    }
}

scenario! {
    async fn drain_returns_at_once_when_idle() {
        let (p, _ev) = Recorder::new();
        let (t, _) = zmqio::create_zmq_connection(move || p, zmq::PUSH).await.unwrap();
        assert_eq!(t.drain().now_or_never(), Some(Ok(())));
        // Below the low watermark counts as drained even with something queued (no peer).
        t.write(["queued"]).unwrap();
        assert_eq!(t.get_write_buffer_size(), 6);
        assert_eq!(t.drain().now_or_never(), Some(Ok(())));
        t.abort();
        assert_eq!(t.drain().now_or_never(), Some(Err(Error::Closed)));
    }
}

scenario! {
    /// `drain()` waits for the queue to fall to the low watermark, then resolves.
    async fn drain_waits_for_the_low_watermark() {
        let ep = inproc("drain");
        let (p, _push_ev) = Recorder::new();
        let (push, _) = zmqio::create_zmq_connection(move || p, zmq::PUSH)
            .bind(ep.as_str())
            .await
            .unwrap();
        for i in 0..100 {
            push.write(big_message(i)).unwrap();
        }
        let mut drain = Box::pin(push.drain());
        assert!((&mut drain).now_or_never().is_none(), "no peer yet: nothing can drain");
        let (pull, mut pull_ev) = recorded_connected(zmq::PULL, ep.as_str()).await;
        drain.await.unwrap();
        assert!(push.get_write_buffer_size() <= push.get_write_buffer_limits().0);
        for i in 0..100 {
            check_big_message(&pull_ev.msg().await, i);
        }
        push.close();
        pull.close();
        push.wait_closed().await;
        pull.wait_closed().await;
    }
}

scenario! {
    /// `wait_closed()` resolves with what `connection_lost` got, for every way a transport
    /// ends, and keeps resolving afterwards.
    async fn wait_closed_resolves_with_the_connection_lost_argument() {
        let (p, mut ev) = Recorder::new();
        let (t, _) = zmqio::create_zmq_connection(move || p, zmq::PUSH).await.unwrap();
        let waiter = rt::spawn({
            let t = t.clone();
            async move { t.wait_closed().await }
        });
        t.close();
        let lost = ev.lost().await;
        assert_eq!(lost, None);
        assert_eq!(waiter.await, lost);
        assert_eq!(t.wait_closed().await, lost);

        let (p, mut ev) = Recorder::new();
        let (t, _) = zmqio::create_zmq_connection(move || p, zmq::PUSH).await.unwrap();
        t.abort();
        assert_eq!(t.wait_closed().await, None);
        assert_eq!(ev.lost().await, None);

        let ep = inproc("wait-closed");
        let (p, mut ev) = Recorder::panicking();
        let (t, _) = zmqio::create_zmq_connection(move || p, zmq::PAIR).bind(ep.as_str()).await.unwrap();
        let (p, _peer_ev) = Recorder::new();
        let (peer, _) = zmqio::create_zmq_connection(move || p, zmq::PAIR).connect(ep.as_str()).await.unwrap();
        peer.write(["boom"]).unwrap();
        let lost = ev.lost().await;
        assert!(matches!(lost, Some(Error::CallbackPanicked(_))), "{lost:?}");
        assert_eq!(t.wait_closed().await, lost);
        assert_eq!(t.wait_closed().await, lost);
        peer.close();
        peer.wait_closed().await;
    }
}

scenario! {
    /// Callbacks call `write`, `close`, `is_closing`, the limits and getters of their own
    /// transport without deadlock; `pause_writing` caused inside a callback comes right after
    /// it.
    async fn callbacks_can_call_their_own_transport() {
        let ep = inproc("reentrant");
        let (p, mut me_ev) = SelfCaller::new();
        let (me, _) = zmqio::create_zmq_connection(move || p, zmq::PAIR)
            .bind(ep.as_str())
            .await
            .unwrap();
        let (peer, mut peer_ev) = recorded_connected(zmq::PAIR, ep.as_str()).await;
        assert_eq!(me_ev.next().await, Ev::Made);
        assert_eq!(peer_ev.msg().await, Multipart::from(["hello"]));

        for word in ["ping", "limits"] {
            peer.write([word]).unwrap();
            assert_eq!(me_ev.next().await, Ev::Msg(Multipart::from([word])));
            assert_eq!(peer_ev.msg().await[0], format!("re:{word}").as_bytes());
        }
        assert_eq!(me.get_write_buffer_limits(), (10, 1000));

        // Writes made inside a callback that cross the high watermark: pause_writing comes
        // right after that callback, resume_writing once the peer has read enough.
        me.set_write_buffer_limits(None, None).unwrap();
        peer.pause_reading().unwrap();
        peer.write(["flood"]).unwrap();
        assert_eq!(me_ev.next().await, Ev::Msg(Multipart::from(["flood"])));
        assert_eq!(me_ev.next().await, Ev::Pause);
        assert!(me.get_write_buffer_size() > me.get_write_buffer_limits().1);
        peer.resume_reading().unwrap();
        assert_eq!(me_ev.next().await, Ev::Resume);
        assert_eq!(peer_ev.msg().await[0], b"re:flood"[..]);

        me.close();
        assert_eq!(me_ev.lost().await, None);
        assert_eq!(me.wait_closed().await, None);
        peer.close();
        peer.wait_closed().await;
    }
}

scenario! {
    /// `close()` from inside `msg_received`, and `abort()` likewise.
    async fn callbacks_can_close_and_abort_their_own_transport() {
        for (word, expect_reply) in [("bye", true), ("abort", false)] {
            let ep = inproc(word);
            let (p, mut me_ev) = SelfCaller::new();
            let (me, _) = zmqio::create_zmq_connection(move || p, zmq::PAIR)
                .bind(ep.as_str())
                .await
                .unwrap();
            let (p, mut peer_ev) = Recorder::new();
            let (peer, _) = zmqio::create_zmq_connection(move || p, zmq::PAIR)
                .connect(ep.as_str())
                .await
                .unwrap();
            assert_eq!(peer_ev.msg().await, Multipart::from(["hello"]));
            peer.write([word]).unwrap();
            assert_eq!(me_ev.next().await, Ev::Made);
            assert_eq!(me_ev.next().await, Ev::Msg(Multipart::from([word])));
            assert_eq!(me_ev.next().await, Ev::Lost(None));
            assert_eq!(me.wait_closed().await, None);
            assert!(me.is_closing());
            if expect_reply {
                // close() flushed the reply written just before it.
                assert_eq!(peer_ev.msg().await[0], format!("re:{word}").as_bytes());
            }
            peer.close();
            peer.wait_closed().await;
        }
    }
}
