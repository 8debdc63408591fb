//! The stream API (`ZmqStream`: read/write/drain, `Stream` + `Sink`) end to end.

use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use zmqio_core::{Error, Multipart};

use super::timeout;
use crate::{rt, zmqio};

fn bound(s: &zmqio::ZmqStream) -> String {
    s.transport().bindings().into_iter().next().expect("bound")
}

/// A connected pair of streams of the given types over tcp (the first binds).
async fn pair(a: zmq::SocketType, b: zmq::SocketType) -> (zmqio::ZmqStream, zmqio::ZmqStream) {
    let server = zmqio::create_zmq_stream(a)
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap();
    let client = zmqio::create_zmq_stream(b)
        .connect(bound(&server))
        .await
        .unwrap();
    (server, client)
}

scenario! {
    async fn stream_dealer_router_request_answer() {
        let (mut router, mut dealer) = pair(zmq::ROUTER, zmq::DEALER).await;
        for i in 0..100u32 {
            dealer.write([i.to_be_bytes().to_vec()]).unwrap();
            let req = router.read().await.unwrap();
            assert_eq!(req.len(), 2, "identity + body");
            assert_eq!(&req[1][..], &i.to_be_bytes()[..]);
            router.write([req[0].clone(), req[1].clone(), "ok".into()]).unwrap();
            let ans = dealer.read().await.unwrap();
            assert_eq!(&ans[0][..], &i.to_be_bytes()[..]);
            assert_eq!(&ans[1][..], b"ok");
        }
        dealer.close();
        router.close();
        assert_eq!(dealer.transport().wait_closed().await, None);
        assert_eq!(router.transport().wait_closed().await, None);
    }
}

scenario! {
    /// aiozmq loses the messages still queued when the stream closes; we return them first.
    async fn stream_read_returns_queued_messages_after_close() {
        let (mut pull, push) = pair(zmq::PULL, zmq::PUSH).await;
        for i in 0..10u8 {
            push.write([vec![i]]).unwrap();
        }
        // Nothing signals "queued on the reading side", so poll the buffer size (bounded by
        // the watchdog).
        while pull.get_read_buffer_size() < 10 {
            rt::sleep(Duration::from_millis(1)).await;
        }
        pull.close();
        assert!(pull.at_closing());
        assert!(matches!(pull.write(["x"]), Err(Error::Closed)));
        assert!(pull.drain().await.is_err(), "drain after close is an error");
        for i in 0..10u8 {
            assert_eq!(&pull.read().await.unwrap()[0][..], &[i]);
        }
        assert!(matches!(pull.read().await, Err(Error::Closed)));
        assert!(pull.next().await.is_none(), "the Stream ends after close");
        assert!(matches!(pull.read().await, Err(Error::Closed)));
    }
}

scenario! {
    async fn stream_read_after_peer_writes_then_closes() {
        let (mut pull, push) = pair(zmq::PULL, zmq::PUSH).await;
        for i in 0..5u8 {
            push.write([vec![i]]).unwrap();
        }
        push.close();
        assert_eq!(push.transport().wait_closed().await, None);
        for i in 0..5u8 {
            assert_eq!(&pull.read().await.unwrap()[0][..], &[i]);
        }
        pull.close();
        assert!(matches!(pull.read().await, Err(Error::Closed)));
    }
}

scenario! {
    async fn stream_read_limits_pause_then_resume() {
        let server = zmqio::create_zmq_stream(zmq::PULL)
            .bind("tcp://127.0.0.1:*")
            .read_buffer_limits(Some(5), None)
            .await
            .unwrap();
        let mut pull = server;
        assert_eq!(pull.get_read_buffer_limits(), (1, 5));
        let push = zmqio::create_zmq_stream(zmq::PUSH).connect(bound(&pull)).await.unwrap();
        for _ in 0..3 {
            push.write(["7-bytes"]).unwrap();
        }
        // The first 7-byte message exceeds high=5: reading pauses.
        let first = pull.read().await.unwrap();
        assert_eq!(&first[0][..], b"7-bytes");
        // Reading it brought the queue to <= low and resumed; the others still arrive.
        assert_eq!(&pull.read().await.unwrap()[0][..], b"7-bytes");
        assert_eq!(&pull.read().await.unwrap()[0][..], b"7-bytes");
        // Pause is observable while a message is unread.
        push.write(["7-bytes"]).unwrap();
        loop {
            if pull.transport().is_reading_paused() {
                break;
            }
            rt::sleep(Duration::from_millis(2)).await;
        }
        // Raising the limits resumes at once.
        pull.set_read_buffer_limits(Some(1000), None).unwrap();
        assert!(!pull.transport().is_reading_paused());
        assert!(pull.set_read_buffer_limits(Some(1), Some(2)).is_err());
        assert_eq!(&pull.read().await.unwrap()[0][..], b"7-bytes");
    }
}

/// Waits until `s` has `bytes` bytes of messages queued for reading. Nothing signals
/// "queued on the reading side", so this polls the buffer size (bounded by the watchdog).
async fn until_queued(s: &zmqio::ZmqStream, bytes: usize) {
    while s.get_read_buffer_size() < bytes {
        rt::sleep(Duration::from_millis(1)).await;
    }
}

scenario! {
    /// `read_many` takes what is queued, oldest first, at most `limit` at a time, appended
    /// to what `buf` holds; it waits only while nothing is queued; after close it returns
    /// what is left, then `Closed`, leaving `buf` alone.
    async fn stream_read_many_takes_what_is_queued_up_to_the_limit() {
        let (mut pull, push) = pair(zmq::PULL, zmq::PUSH).await;
        for i in 0..200u32 {
            push.write([i.to_be_bytes().to_vec()]).unwrap();
        }
        until_queued(&pull, 800).await;
        let mut buf = vec![Multipart::from("kept")];
        assert_eq!(pull.read_many(&mut buf, 0).await.unwrap(), 0, "limit 0: at once");
        for expected in [64, 64, 64, 8] {
            assert_eq!(pull.read_many(&mut buf, 64).await.unwrap(), expected);
        }
        assert_eq!(pull.get_read_buffer_size(), 0);
        assert_eq!(buf.len(), 201);
        assert_eq!(&buf[0][0][..], b"kept");
        for (i, m) in buf[1..].iter().enumerate() {
            assert_eq!(&m[0][..], &(i as u32).to_be_bytes()[..]);
        }
        assert!(
            pull.read_many(&mut buf, 64).now_or_never().is_none(),
            "nothing queued: it waits"
        );
        push.write(["next"]).unwrap();
        assert_eq!(pull.read_many(&mut buf, 64).await.unwrap(), 1);
        assert_eq!(&buf[201][0][..], b"next");

        push.write(["a"]).unwrap();
        push.write(["b"]).unwrap();
        until_queued(&pull, 2).await;
        pull.close();
        buf.clear();
        assert_eq!(pull.read_many(&mut buf, 1).await.unwrap(), 1);
        assert_eq!(pull.read_many(&mut buf, 64).await.unwrap(), 1);
        assert_eq!(&buf[0][0][..], b"a");
        assert_eq!(&buf[1][0][..], b"b");
        assert!(matches!(pull.read_many(&mut buf, 64).await, Err(Error::Closed)));
        assert_eq!(buf.len(), 2, "an Err leaves buf alone");
    }
}

scenario! {
    /// Taking the queue with `read_many` lifts the pause the read watermark set, as `read`
    /// does (without it the reader would wait forever for the rest).
    async fn stream_read_many_resumes_reading_paused_by_the_read_watermark() {
        let mut pull = zmqio::create_zmq_stream(zmq::PULL)
            .bind("tcp://127.0.0.1:*")
            .read_buffer_limits(Some(5), None)
            .await
            .unwrap();
        let push = zmqio::create_zmq_stream(zmq::PUSH).connect(bound(&pull)).await.unwrap();
        for _ in 0..3 {
            push.write(["7-bytes"]).unwrap();
        }
        // The first 7-byte message exceeds high=5: reading pauses.
        until_queued(&pull, 7).await;
        assert!(pull.transport().is_reading_paused());
        let mut buf = Vec::new();
        while buf.len() < 3 {
            pull.read_many(&mut buf, 64).await.unwrap();
        }
        assert!(buf.iter().all(|m| &m[0][..] == b"7-bytes"));
        assert_eq!(pull.get_read_buffer_size(), 0);
        assert!(!pull.transport().is_reading_paused(), "an empty queue resumed reading");
    }
}

scenario! {
    /// `read_many` is cancel safe: calls cut short by a timeout (some surely are: the sender
    /// pauses far longer than the timeout) lose nothing and leave `buf` as it was.
    async fn stream_read_many_under_timeout_loses_nothing() {
        const N: u32 = 5_000;
        let (mut pull, push) = pair(zmq::PULL, zmq::PUSH).await;
        let sender = rt::spawn(async move {
            for i in 0..N {
                push.write([i.to_be_bytes().to_vec()]).unwrap();
                if i % 1_000 == 500 {
                    rt::sleep(Duration::from_millis(50)).await;
                }
            }
            push.drain().await.unwrap();
            push
        });
        let mut buf = Vec::new();
        let mut timeouts = 0u32;
        while buf.len() < N as usize {
            let before = buf.len();
            match timeout(Duration::from_millis(5), pull.read_many(&mut buf, 64)).await {
                Some(Ok(n)) => {
                    assert!((1..=64).contains(&n), "{n} messages");
                    assert_eq!(buf.len(), before + n);
                }
                Some(Err(e)) => panic!("read_many: {e}"),
                None => {
                    timeouts += 1;
                    assert_eq!(buf.len(), before, "a cancelled call took nothing");
                }
            }
        }
        for (i, m) in buf.iter().enumerate() {
            assert_eq!(&m[0][..], &(i as u32).to_be_bytes()[..]);
        }
        let _push = sender.await;
        assert!(timeouts > 0, "no read_many was cancelled");
    }
}

scenario! {
    async fn stream_builder_rejects_bad_limits() {
        let r = zmqio::create_zmq_stream(zmq::PULL).read_buffer_limits(Some(1), Some(2)).await;
        assert!(matches!(r, Err(Error::InvalidArgument(_))));
        let r = zmqio::create_zmq_stream(zmq::PUSH).write_buffer_limits(Some(1), Some(2)).await;
        assert!(matches!(r, Err(Error::InvalidArgument(_))));
    }
}

scenario! {
    async fn stream_drain_at_once_when_idle_and_waits_while_paused() {
        let push = zmqio::create_zmq_stream(zmq::PUSH)
            .write_buffer_limits(Some(100), None)
            .await
            .unwrap();
        // Idle: at once (the first poll).
        assert!(matches!(push.drain().now_or_never(), Some(Ok(()))));
        // No peer: PUSH can't send, the queue fills past high.
        for _ in 0..10 {
            push.write([vec![0u8; 50]]).unwrap();
        }
        assert!(push.transport().get_write_buffer_size() > 100);
        assert!(timeout(Duration::from_millis(50), push.drain()).await.is_none(), "drain waits");
        let mut pull = zmqio::create_zmq_stream(zmq::PULL).bind("tcp://127.0.0.1:*").await.unwrap();
        push.transport().connect(&bound(&pull)).await.unwrap();
        push.drain().await.unwrap();
        for _ in 0..10 {
            assert_eq!(pull.read().await.unwrap()[0].len(), 50);
        }
    }
}

scenario! {
    /// The `Sink` is ready while the write queue holds at most the high watermark: over it
    /// (no peer, so nothing leaves), `poll_ready` is pending; once a peer takes the queue,
    /// the waiting `poll_ready` is woken and ready.
    async fn stream_sink_not_ready_over_the_high_watermark_until_a_peer_drains() {
        let mut push = zmqio::create_zmq_stream(zmq::PUSH)
            .write_buffer_limits(Some(100), None)
            .await
            .unwrap();
        let ready = |push: &mut zmqio::ZmqStream| {
            std::future::poll_fn(|cx| push.poll_ready_unpin(cx)).now_or_never()
        };
        assert!(matches!(ready(&mut push), Some(Ok(()))), "an empty queue is ready at once");
        // Under the high watermark the Sink stays ready; over it, it is not.
        push.feed(Multipart::from([vec![0u8; 50]])).now_or_never().unwrap().unwrap();
        assert!(matches!(ready(&mut push), Some(Ok(()))), "50 bytes of 100");
        for _ in 0..2 {
            push.write([vec![0u8; 50]]).unwrap();
        }
        assert!(push.transport().get_write_buffer_size() > 100);
        assert!(ready(&mut push).is_none(), "over the high watermark, the Sink is not ready");
        assert!(
            push.feed(Multipart::from(["more"])).now_or_never().is_none(),
            "feed waits for readiness"
        );
        assert_eq!(push.transport().get_write_buffer_size(), 150, "the refused item was not written");
        // A peer comes and takes everything: the pending poll_ready is woken.
        let mut pull = zmqio::create_zmq_stream(zmq::PULL).bind("tcp://127.0.0.1:*").await.unwrap();
        let (transport, ep) = (push.transport().clone(), bound(&pull));
        let waiter = std::future::poll_fn(|cx| push.poll_ready_unpin(cx));
        let (woken, connected) =
            futures::join!(timeout(Duration::from_secs(10), waiter), transport.connect(&ep));
        connected.unwrap();
        assert!(matches!(woken, Some(Ok(()))), "the Sink became ready once the peer drained");
        for _ in 0..3 {
            assert_eq!(pull.read().await.unwrap()[0].len(), 50);
        }
        push.send(Multipart::from(["after"])).await.unwrap();
        assert_eq!(&pull.read().await.unwrap()[0][..], b"after");
    }
}

scenario! {
    async fn stream_rep_write_without_request_is_efsm() {
        let mut rep = zmqio::create_zmq_stream(zmq::REP).bind("tcp://127.0.0.1:*").await.unwrap();
        let err = rep.write(["no request yet"]).unwrap_err();
        assert_eq!(err.errno(), Some(zmq::Error::EFSM.to_raw()));
        assert_eq!(rep.read().await.unwrap_err().errno(), Some(zmq::Error::EFSM.to_raw()));
        assert_eq!(rep.drain().await.unwrap_err().errno(), Some(zmq::Error::EFSM.to_raw()));
        assert_eq!(rep.exception().and_then(|e| e.errno()), Some(zmq::Error::EFSM.to_raw()));
        assert!(matches!(rep.read().await, Err(Error::Closed)));
    }
}

scenario! {
    async fn stream_split_halves_exchange_100k() {
        const N: u32 = 100_000;
        let (a, b) = pair(zmq::PAIR, zmq::PAIR).await;
        // b echoes everything back.
        let echo = rt::spawn(async move {
            let mut b = b;
            for _ in 0..N {
                let m = b.read().await.unwrap();
                b.send(m).await.unwrap();
            }
            b.flush().await.unwrap();
            b
        });
        let (mut sink, mut stream) = a.split();
        let writer = rt::spawn(async move {
            for i in 0..N {
                sink.feed(Multipart::from([i.to_be_bytes().to_vec()])).await.unwrap();
            }
            sink.flush().await.unwrap();
            sink
        });
        let reader = rt::spawn(async move {
            for i in 0..N {
                let m = stream.next().await.unwrap().unwrap();
                assert_eq!(&m[0][..], &i.to_be_bytes()[..], "message {i}");
            }
            stream
        });
        let sink = writer.await;
        let stream = reader.await;
        let _b = echo.await;
        let a = sink.reunite(stream).unwrap();
        a.close();
    }
}

scenario! {
    async fn stream_next_under_timeout_loses_nothing() {
        const N: u32 = 2_000;
        let (mut pull, push) = pair(zmq::PULL, zmq::PUSH).await;
        let sender = rt::spawn(async move {
            for i in 0..N {
                push.write([i.to_be_bytes().to_vec()]).unwrap();
                if i % 500 == 250 {
                    // A gap far longer than the reader's timeout: some next() is cancelled
                    // however fast delivery is (the short gaps below race with it).
                    rt::sleep(Duration::from_millis(20)).await;
                } else if i % 7 == 0 {
                    rt::sleep(Duration::from_micros(200)).await;
                }
            }
            push.drain().await.unwrap();
            push
        });
        let mut next = 0u32;
        let mut timeouts = 0u32;
        while next < N {
            match timeout(Duration::from_micros(300), pull.next()).await {
                Some(Some(Ok(m))) => {
                    assert_eq!(&m[0][..], &next.to_be_bytes()[..]);
                    next += 1;
                }
                Some(other) => panic!("unexpected {other:?}"),
                None => timeouts += 1,
            }
        }
        let _push = sender.await;
        // The race must actually have been exercised for this test to mean anything.
        assert!(timeouts > 0, "no next() was cancelled");
    }
}

scenario! {
    /// `read_event` is cancel safe: an event is taken from the backlog only by the poll that
    /// returns it. Reads polled once and dropped (`now_or_never`) and reads cut short by a
    /// timeout, while monitor events keep arriving (one `Listening` per tcp bind), lose none:
    /// every bind's event is read, in order.
    async fn stream_read_event_cancelled_loses_nothing() {
        const N: usize = 200;
        let mut s = zmqio::create_zmq_stream(zmq::ROUTER)
            .events_backlog(None)
            .await
            .unwrap();
        s.transport()
            .enable_monitor(Some(zmqio::MonitorEvent::Listening.into()))
            .await
            .unwrap();
        let mut bound_eps = Vec::new();
        let mut read = Vec::new();
        let mut cancelled = 0u32;
        for i in 0..N {
            bound_eps.push(s.transport().bind("tcp://127.0.0.1:*").await.unwrap());
            // Polled once, then dropped whenever the event is not there yet.
            match s.read_event().now_or_never() {
                Some(ev) => read.push(ev.unwrap()),
                None => cancelled += 1,
            }
            if i % 3 == 0 {
                match timeout(Duration::from_micros(200), s.read_event()).await {
                    Some(ev) => read.push(ev.unwrap()),
                    None => cancelled += 1,
                }
            }
        }
        while read.len() < N {
            match timeout(Duration::from_secs(10), s.read_event()).await {
                Some(ev) => read.push(ev.unwrap()),
                None => panic!("{} of {N} events read; the rest were lost", read.len()),
            }
        }
        let endpoints: Vec<String> = read.into_iter().map(|ev| ev.endpoint).collect();
        assert_eq!(endpoints, bound_eps);
        // The race must actually have been exercised for this test to mean anything.
        assert!(cancelled > 0, "no read_event() was cancelled");
        assert!(s.read_event().now_or_never().is_none(), "no extra event");
    }
}

scenario! {
    async fn stream_sink_send_all_100k_in_order() {
        const N: u32 = 100_000;
        let (mut pull, mut push) = pair(zmq::PULL, zmq::PUSH).await;
        let reader = rt::spawn(async move {
            for i in 0..N {
                let m = pull.read().await.unwrap();
                assert_eq!(&m[0][..], &i.to_be_bytes()[..]);
            }
            pull
        });
        let mut msgs = futures::stream::iter((0..N).map(|i| Ok(Multipart::from([i.to_be_bytes().to_vec()]))));
        push.send_all(&mut msgs).await.unwrap();
        let _pull = reader.await;
        SinkExt::close(&mut push).await.unwrap();
    }
}

scenario! {
    async fn stream_monitor_events_arrive_through_read_event() {
        let mut router = zmqio::create_zmq_stream(zmq::ROUTER)
            .bind("tcp://127.0.0.1:*")
            .await
            .unwrap();
        let mut dealer = zmqio::create_zmq_stream(zmq::DEALER).await.unwrap();
        dealer.transport().enable_monitor(None).await.unwrap();
        dealer.transport().connect(&bound(&router)).await.unwrap();
        let mut seen = Vec::new();
        loop {
            let ev = dealer.read_event().await.unwrap();
            seen.push(ev.event);
            if ev.event == zmqio::MonitorEvent::HandshakeSucceeded {
                break;
            }
        }
        assert!(seen.contains(&zmqio::MonitorEvent::Connected), "{seen:?}");
        // Messages and events are separate queues: a bounce still works.
        dealer.write(["ping"]).unwrap();
        assert_eq!(&router.read().await.unwrap()[1][..], b"ping");
        assert_eq!(dealer.dropped_events(), 0);
    }
}

scenario! {
    async fn stream_events_backlog_drops_the_oldest() {
        // Listening, Accepted, HandshakeSucceeded: three events into a backlog of two.
        let mut router = zmqio::create_zmq_stream(zmq::ROUTER)
            .events_backlog(Some(2))
            .await
            .unwrap();
        router.transport().enable_monitor(None).await.unwrap();
        let ep = router.transport().bind("tcp://127.0.0.1:*").await.unwrap();
        let dealer = zmqio::create_zmq_stream(zmq::DEALER).connect(ep).await.unwrap();
        dealer.write(["ping"]).unwrap();
        assert_eq!(&router.read().await.unwrap()[1][..], b"ping");
        // Nothing signals "an event was dropped": poll the counter (bounded by the watchdog).
        while router.dropped_events() == 0 {
            rt::sleep(Duration::from_millis(1)).await;
        }
        let first = router.read_event().await.unwrap();
        assert_ne!(first.event, zmqio::MonitorEvent::Listening, "the oldest was dropped");
        let second = router.read_event().await.unwrap();
        assert_eq!(second.event, zmqio::MonitorEvent::HandshakeSucceeded);
        assert_eq!(router.dropped_events(), 1);
        // Unbounded backlog keeps everything.
        let mut all = zmqio::create_zmq_stream(zmq::ROUTER).events_backlog(None).await.unwrap();
        all.transport().enable_monitor(None).await.unwrap();
        all.transport().bind("tcp://127.0.0.1:*").await.unwrap();
        assert_eq!(all.read_event().await.unwrap().event, zmqio::MonitorEvent::Listening);
        assert_eq!(all.dropped_events(), 0);
    }
}
