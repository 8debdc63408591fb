//! zmqio's own write queue: waiters woken by a change of the watermarks, bounds that weigh
//! every message (empty ones included), `close()` under the socket's LINGER, and messages
//! libzmq refuses for their destination only (EHOSTUNREACH on a ROUTER).

use std::time::{Duration, Instant};

use futures::{FutureExt, SinkExt};
use zmqio::opt;
use zmqio_core::Error;
use zmqio_tests::{Ev, Recorder};

use super::timeout;
use crate::{rt, zmqio};

/// A unique inproc endpoint for one scenario.
fn inproc(name: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "inproc://write-queue-{name}-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

// ----- a change of the watermarks wakes its waiters -----

scenario! {
    /// No peer, so nothing will ever be flushed: the only thing that can satisfy a pending
    /// `drain()` is raising the watermarks above what is queued, and that must wake it.
    async fn raising_the_watermarks_wakes_a_pending_drain() {
        let (p, _events) = Recorder::new();
        let (push, _) = zmqio::create_zmq_connection(move || p, zmq::PUSH).await.unwrap();
        push.set_write_buffer_limits(Some(1000), Some(100)).unwrap();
        for _ in 0..20 {
            push.write([vec![0u8; 100]]).unwrap();
        }
        assert!(push.get_write_buffer_size() > 1000);
        let drain = rt::spawn({
            let push = push.clone();
            async move { push.drain().await }
        });
        // Let the drain register as a waiter (it cannot be satisfied yet).
        rt::sleep(Duration::from_millis(50)).await;
        push.set_write_buffer_limits(Some(1 << 20), Some(1 << 18)).unwrap();
        let drained = timeout(Duration::from_secs(5), drain).await;
        assert!(matches!(drained, Some(Ok(()))), "drain never woke: {drained:?}");
        push.abort();
        push.wait_closed().await;
    }
}

scenario! {
    /// The same for a `Sink` waiting to be ready (queue above the high watermark).
    async fn raising_the_watermarks_wakes_a_pending_sink() {
        let mut push = zmqio::create_zmq_stream(zmq::PUSH)
            .write_buffer_limits(Some(1000), None)
            .await
            .unwrap();
        let transport = push.transport().clone();
        for _ in 0..20 {
            push.write([vec![0u8; 100]]).unwrap();
        }
        let send = rt::spawn(async move {
            let r = push.feed(["one more"].into()).await;
            (r, push)
        });
        rt::sleep(Duration::from_millis(50)).await;
        transport.set_write_buffer_limits(Some(1 << 20), None).unwrap();
        let (r, push) = timeout(Duration::from_secs(5), send)
            .await
            .expect("the sink never woke");
        r.unwrap();
        push.transport().abort();
        transport.wait_closed().await;
    }
}

// ----- EHOSTUNREACH is about one message -----

/// A ROUTER with `RouterMandatory` bound on inproc, and a DEALER of routing id `id`
/// connected to it and known to the ROUTER (its hello was read).
async fn router_and_dealer(router: &mut zmqio::ZmqStream, ep: &str, id: &str) -> zmqio::ZmqStream {
    let dealer = zmqio::create_zmq_stream(zmq::DEALER).await.unwrap();
    dealer
        .transport()
        .setsockopt(opt::RoutingId, id.as_bytes().to_vec())
        .unwrap();
    dealer.transport().setsockopt(opt::RcvHwm, 2).unwrap();
    dealer.transport().connect(ep).await.unwrap();
    dealer.write(["hello"]).unwrap();
    let hello = router.read().await.unwrap();
    assert_eq!(&hello[0][..], id.as_bytes());
    dealer
}

async fn mandatory_router(ep: &str) -> zmqio::ZmqStream {
    let router = zmqio::create_zmq_stream(zmq::ROUTER).await.unwrap();
    router
        .transport()
        .setsockopt(opt::RouterMandatory, true)
        .unwrap();
    router.transport().setsockopt(opt::SndHwm, 2).unwrap();
    router.transport().bind(ep).await.unwrap();
    router
}

scenario! {
    /// A write to a routing id no peer has is that write's error only: the ROUTER stays open
    /// and keeps serving the DEALER that is connected.
    async fn router_write_to_an_unknown_id_keeps_serving_the_others() {
        let ep = inproc("unknown-id");
        let mut router = mandatory_router(&ep).await;
        let mut dealer = router_and_dealer(&mut router, &ep, "known").await;
        assert_eq!(
            router.write(["nobody", "hello"]),
            Err(Error::Zmq(zmq::Error::EHOSTUNREACH))
        );
        assert!(!router.at_closing());
        assert_eq!(router.transport().get_write_buffer_size(), 0, "nothing queued");
        for i in 0..10u32 {
            router.write([b"known".to_vec(), i.to_be_bytes().to_vec()]).unwrap();
            assert_eq!(&dealer.read().await.unwrap()[0][..], &i.to_be_bytes()[..]);
            dealer.write(["again"]).unwrap();
            assert_eq!(&router.read().await.unwrap()[1][..], b"again");
        }
        assert_eq!(router.transport().dropped_unroutable(), 0);
        router.close();
        dealer.close();
        assert_eq!(router.transport().wait_closed().await, None);
        assert_eq!(dealer.transport().wait_closed().await, None);
    }
}

scenario! {
    /// `write_many` stops at an unroutable message: the ones before it are written, it is
    /// returned as the error (not queued, not counted), the ones after it stay in the batch
    /// for the caller, and the ROUTER stays open to write them.
    async fn router_write_many_keeps_the_rest_after_an_unroutable_message() {
        let ep = inproc("many-unknown-id");
        let mut router = mandatory_router(&ep).await;
        let mut dealer = router_and_dealer(&mut router, &ep, "known").await;
        let to = |who: &str, i: u32| zmqio::Multipart::from(vec![who.as_bytes().to_vec(), i.to_be_bytes().to_vec()]);
        let mut batch = vec![to("known", 0), to("nobody", 9), to("known", 1), to("known", 2)];
        assert_eq!(
            router.write_many(&mut batch),
            Err(Error::Zmq(zmq::Error::EHOSTUNREACH))
        );
        assert_eq!(batch.len(), 2, "the two after the unroutable one are left");
        assert_eq!(&batch[0][1][..], &1u32.to_be_bytes()[..]);
        assert!(!router.at_closing());
        router.write_many(&mut batch).unwrap();
        assert!(batch.is_empty());
        for i in 0..3u32 {
            assert_eq!(&dealer.read().await.unwrap()[0][..], &i.to_be_bytes()[..]);
        }
        assert_eq!(router.transport().dropped_unroutable(), 0);
        router.close();
        dealer.close();
        assert_eq!(router.transport().wait_closed().await, None);
        assert_eq!(dealer.transport().wait_closed().await, None);
    }
}

scenario! {
    /// With nowhere to send (a PUSH with no peer), `write_many` queues the whole batch,
    /// past the high watermark, and `pause_writing` fires once (inside the call when the
    /// protocol is free at that moment, else from the driver right after, as for `write`); a
    /// peer that comes later gets every message in order, and `resume_writing` follows. An
    /// empty batch is a no-op; a closed transport leaves the batch as it was.
    async fn write_many_queues_a_batch_whole_and_pauses_once() {
        const N: u32 = 50;
        let ep = inproc("many-pause");
        let (p, mut events) = Recorder::new();
        let (push, _) = zmqio::create_zmq_connection(move || p, zmq::PUSH)
            .bind(ep.as_str())
            .await
            .unwrap();
        push.set_write_buffer_limits(Some(100), None).unwrap();
        assert_eq!(events.next().await, Ev::Made);
        push.write_many(&mut Vec::new()).unwrap();
        let mut batch: Vec<zmqio::Multipart> =
            (0..N).map(|i| i.to_be_bytes().to_vec().into()).collect();
        push.write_many(&mut batch).unwrap();
        assert!(batch.is_empty());
        assert_eq!(push.get_write_buffer_size(), 4 * N as usize, "all queued");
        assert_eq!(events.next().await, Ev::Pause);

        let mut pull = zmqio::create_zmq_stream(zmq::PULL).connect(ep.as_str()).await.unwrap();
        for i in 0..N {
            assert_eq!(&pull.read().await.unwrap()[0][..], &i.to_be_bytes()[..]);
        }
        assert_eq!(events.next().await, Ev::Resume, "one pause, then the resume");

        push.close();
        let mut kept = vec![zmqio::Multipart::from("kept")];
        assert_eq!(push.write_many(&mut kept), Err(Error::Closed));
        assert_eq!(kept, vec![zmqio::Multipart::from("kept")]);
        assert_eq!(events.lost().await, None);
        pull.close();
    }
}

scenario! {
    /// Messages for a peer whose pipe is full wait in zmqio's queue; when that peer leaves,
    /// libzmq answers EHOSTUNREACH for each of them: they are dropped and counted, while the
    /// messages for another peer queued behind them flow, and the ROUTER stays open.
    async fn queued_messages_to_a_departed_peer_are_dropped_and_counted() {
        const SLOW: u32 = 50;
        const FAST: u32 = 5;
        let ep = inproc("departed");
        let mut router = mandatory_router(&ep).await;
        let slow = router_and_dealer(&mut router, &ep, "slow").await;
        let mut fast = router_and_dealer(&mut router, &ep, "fast").await;
        slow.transport().pause_reading().unwrap();
        // Every message weighs 8 bytes: a 4-byte routing id and a 4-byte sequence number.
        for i in 0..SLOW {
            router.write([b"slow".to_vec(), i.to_be_bytes().to_vec()]).unwrap();
        }
        for i in 0..FAST {
            router.write([b"fast".to_vec(), i.to_be_bytes().to_vec()]).unwrap();
        }
        let queued = router.transport().get_write_buffer_size() / 8;
        assert!(queued > FAST as usize, "the slow peer's pipe is full: zmqio queues");
        let queued_for_slow = (queued - FAST as usize) as u64;

        slow.transport().abort();
        slow.transport().wait_closed().await;
        drop(slow);
        for i in 0..FAST {
            let msg = timeout(Duration::from_secs(10), fast.read())
                .await
                .expect("the messages behind the dropped ones never came")
                .unwrap();
            assert_eq!(&msg[0][..], &i.to_be_bytes()[..]);
        }
        router.drain().await.unwrap();
        assert_eq!(router.transport().dropped_unroutable(), queued_for_slow);
        assert!(!router.at_closing());
        // Still serving.
        router.write(["fast", "after"]).unwrap();
        assert_eq!(&fast.read().await.unwrap()[0][..], b"after");
        fast.write(["bye"]).unwrap();
        assert_eq!(&router.read().await.unwrap()[1][..], b"bye");
        router.close();
        fast.close();
        assert_eq!(router.transport().wait_closed().await, None);
        assert_eq!(fast.transport().wait_closed().await, None);
    }
}

// ----- close() honours LINGER for zmqio's queue -----

/// A PUSH with no peer at all (libzmq takes nothing: every message waits in zmqio's queue),
/// `n` messages written, LINGER set to `linger`.
async fn push_with_a_stuck_queue(
    linger: i32,
    n: u32,
) -> (zmqio::ZmqTransport, zmqio_tests::Events) {
    let (p, events) = Recorder::new();
    let (push, _) = zmqio::create_zmq_connection(move || p, zmq::PUSH)
        .await
        .unwrap();
    push.setsockopt(opt::Linger, linger).unwrap();
    for i in 0..n {
        push.write([i.to_be_bytes().to_vec()]).unwrap();
    }
    assert_eq!(push.get_write_buffer_size(), 4 * n as usize, "all queued");
    (push, events)
}

scenario! {
    /// LINGER 0: `close()` drops zmqio's queue and finishes at once.
    async fn close_with_linger_zero_finishes_at_once() {
        let (push, mut events) = push_with_a_stuck_queue(0, 10).await;
        push.close();
        let closed = timeout(Duration::from_secs(1), push.wait_closed()).await;
        assert_eq!(closed, Some(None), "still closing after 1 s");
        assert_eq!(events.lost().await, None);
        assert_eq!(push.dropped_on_close(), 10);
        assert_eq!(push.get_write_buffer_size(), 0);
    }
}

scenario! {
    /// LINGER 300 ms: `close()` keeps flushing for 300 ms, then drops the rest and finishes.
    async fn close_with_linger_300ms_finishes_after_the_linger() {
        let (push, mut events) = push_with_a_stuck_queue(300, 10).await;
        let start = Instant::now();
        push.close();
        let closed = timeout(Duration::from_secs(2), push.wait_closed()).await;
        let elapsed = start.elapsed();
        assert_eq!(closed, Some(None), "still closing after 2 s");
        assert!(elapsed >= Duration::from_millis(290), "finished early: {elapsed:?}");
        assert_eq!(events.lost().await, None);
        assert_eq!(push.dropped_on_close(), 10);
    }
}

scenario! {
    /// The default LINGER (-1) keeps trying: still closing after 500 ms; `abort()` ends it.
    async fn close_with_the_default_linger_keeps_trying_until_abort() {
        let (push, mut events) = push_with_a_stuck_queue(-1, 10).await;
        assert_eq!(push.getsockopt(opt::Linger).unwrap(), -1, "libzmq's default");
        push.close();
        assert!(timeout(Duration::from_millis(500), push.wait_closed()).await.is_none());
        assert!(push.is_closing());
        assert_eq!(push.get_write_buffer_size(), 40, "nothing dropped");
        push.abort();
        assert_eq!(push.wait_closed().await, None);
        assert_eq!(events.lost().await, None);
        assert_eq!(push.dropped_on_close(), 0, "abort drops, but is not counted here");
    }
}

scenario! {
    /// A peer that appears before the LINGER expires receives everything; nothing is
    /// dropped. (`Immediate` keeps libzmq from taking messages before a connection exists,
    /// so everything waits in zmqio's queue until the peer binds.)
    async fn a_peer_arriving_within_the_linger_receives_everything() {
        const N: u32 = 100;
        let endpoint = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("tcp://{}", listener.local_addr().unwrap())
        };
        let (p, mut events) = Recorder::new();
        let (push, _) = zmqio::create_zmq_connection(move || p, zmq::PUSH).await.unwrap();
        push.setsockopt(opt::Immediate, true).unwrap();
        push.setsockopt(opt::Linger, 10_000).unwrap();
        push.connect(&endpoint).await.unwrap();
        for i in 0..N {
            push.write([i.to_be_bytes().to_vec()]).unwrap();
        }
        assert_eq!(push.get_write_buffer_size(), 4 * N as usize, "no peer yet: all queued");
        push.close();
        rt::sleep(Duration::from_millis(100)).await;
        assert!(push.is_closing());
        let mut pull = zmqio::create_zmq_stream(zmq::PULL)
            .bind(endpoint.as_str())
            .await
            .unwrap();
        for i in 0..N {
            assert_eq!(&pull.read().await.unwrap()[0][..], &i.to_be_bytes()[..]);
        }
        assert_eq!(push.wait_closed().await, None);
        assert_eq!(events.lost().await, None);
        assert_eq!(push.dropped_on_close(), 0);
        pull.close();
        pull.transport().wait_closed().await;
    }
}

scenario! {
    /// `ZmqStream::close()` follows the same rule.
    async fn stream_close_with_linger_zero_finishes_at_once() {
        let push = zmqio::create_zmq_stream(zmq::PUSH).await.unwrap();
        push.transport().setsockopt(opt::Linger, 0).unwrap();
        for _ in 0..10 {
            push.write([""]).unwrap();
        }
        push.close();
        let closed = timeout(Duration::from_secs(1), push.transport().wait_closed()).await;
        assert_eq!(closed, Some(None), "still closing after 1 s");
        assert_eq!(push.transport().dropped_on_close(), 10);
        assert!(matches!(push.drain().await, Err(Error::Closed)));
    }
}

scenario! {
    /// A stream dropped with a non-empty queue closes under its LINGER too.
    async fn dropped_stream_with_a_queue_finishes_after_its_linger() {
        let push = zmqio::create_zmq_stream(zmq::PUSH).await.unwrap();
        push.transport().setsockopt(opt::Linger, 300).unwrap();
        for _ in 0..10 {
            push.write(["queued"]).unwrap();
        }
        let transport = push.transport().clone();
        let start = Instant::now();
        drop(push);
        let closed = timeout(Duration::from_secs(2), transport.wait_closed()).await;
        assert_eq!(closed, Some(None), "still closing after 2 s");
        assert!(start.elapsed() >= Duration::from_millis(290));
        assert_eq!(transport.dropped_on_close(), 10);
    }
}

// ----- every message weighs something -----

/// An unused tcp endpoint on the loopback interface.
fn unused_tcp_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("tcp://{}", listener.local_addr().unwrap())
}

scenario! {
    /// A message of one empty frame weighs its frame's overhead: a flood of them crosses the
    /// high watermark and fires `pause_writing` like any other.
    async fn pause_writing_fires_for_many_empty_messages() {
        let (p, mut events) = Recorder::new();
        let (push, _) = zmqio::create_zmq_connection(move || p, zmq::PUSH).await.unwrap();
        let (_, high) = push.get_write_buffer_limits();
        let mut written = 0usize;
        loop {
            push.write([""]).unwrap();
            written += 1;
            if events.ready().contains(&Ev::Pause) {
                break;
            }
            assert!(written <= 100_000, "100,000 empty messages queued and no pause_writing");
        }
        assert_eq!(push.get_write_buffer_size(), 0, "no bytes at all");
        assert!(push.get_write_buffer_weight() > high);
        assert_eq!(written, high / zmqio::engine::FRAME_OVERHEAD + 1);
        push.abort();
        push.wait_closed().await;
    }
}

scenario! {
    /// A queued `[b""]` is a message not yet handed to libzmq: `poll_flush` stays pending
    /// until a peer takes it. (`Immediate`: libzmq takes nothing before a connection exists.)
    async fn a_queued_empty_message_keeps_flush_pending_until_a_peer_takes_it() {
        let endpoint = unused_tcp_endpoint();
        let mut push = zmqio::create_zmq_stream(zmq::PUSH).await.unwrap();
        push.transport().setsockopt(opt::Immediate, true).unwrap();
        push.transport().connect(&endpoint).await.unwrap();
        push.write([""]).unwrap();
        assert_eq!(push.transport().get_write_buffer_size(), 0);
        assert!(push.transport().get_write_buffer_weight() > 0, "queued");
        assert!(push.flush().now_or_never().is_none(), "flushed while still queued");
        let flushed = rt::spawn(async move {
            let r = push.flush().await;
            (r, push)
        });
        let mut pull = zmqio::create_zmq_stream(zmq::PULL)
            .bind(endpoint.as_str())
            .await
            .unwrap();
        let (r, push) = timeout(Duration::from_secs(10), flushed)
            .await
            .expect("flush never resolved once a peer took the message");
        r.unwrap();
        let msg = pull.read().await.unwrap();
        assert_eq!(msg.len(), 1);
        assert!(msg[0].is_empty());
        push.close();
        pull.close();
        push.transport().wait_closed().await;
        pull.transport().wait_closed().await;
    }
}

scenario! {
    /// A peer flooding empty messages at a stream nobody reads: the stream's read buffer
    /// weighs them, so reading pauses (and libzmq's HWMs push back on the peer) instead of
    /// the buffer growing without bound. Everything still arrives, in order, once read.
    async fn a_flood_of_empty_messages_pauses_a_streams_reading() {
        const N: usize = 20_000;
        let ep = inproc("empty-flood");
        let mut pull = zmqio::create_zmq_stream(zmq::PULL)
            .bind(ep.as_str())
            .await
            .unwrap();
        let (p, _events) = Recorder::new();
        let (push, _) = zmqio::create_zmq_connection(move || p, zmq::PUSH)
            .connect(ep.as_str())
            .await
            .unwrap();
        for i in 0..N {
            // Every 1000th message carries its sequence number, to check the order.
            if i % 1000 == 0 {
                push.write([(i as u32).to_be_bytes().to_vec()]).unwrap();
            } else {
                push.write([""]).unwrap();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pull.transport().is_reading_paused() {
            assert!(
                Instant::now() < deadline,
                "a flood of empty messages never paused reading: {pull:?}"
            );
            rt::sleep(Duration::from_millis(10)).await;
        }
        assert!(push.get_write_buffer_weight() > 0, "the writer feels the backpressure");
        for i in 0..N {
            let msg = pull.read().await.unwrap();
            if i % 1000 == 0 {
                assert_eq!(&msg[0][..], &(i as u32).to_be_bytes()[..]);
            } else {
                assert!(msg.len() == 1 && msg[0].is_empty(), "message {i}: {msg:?}");
            }
        }
        push.close();
        pull.close();
        push.wait_closed().await;
        pull.transport().wait_closed().await;
    }
}
