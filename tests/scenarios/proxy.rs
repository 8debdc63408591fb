//! `zmqio_core::proxy`: forwarding between two streams, with capture, steering and
//! backpressure both ways.

use std::time::Duration;

use futures::StreamExt;
use zmqio::proxy::Proxy;
use zmqio::{Multipart, ZmqStream};

use super::timeout;
use crate::{rt, zmqio};

async fn bound(t: zmq::SocketType, endpoint: &str) -> ZmqStream {
    zmqio::create_zmq_stream(t).bind(endpoint).await.unwrap()
}

async fn connected(t: zmq::SocketType, endpoint: &str) -> ZmqStream {
    zmqio::create_zmq_stream(t).connect(endpoint).await.unwrap()
}

async fn read(s: &mut ZmqStream) -> Multipart {
    timeout(Duration::from_secs(10), s.read())
        .await
        .expect("a message within 10 s")
        .unwrap()
}

scenario! {
    /// XSUB frontend, XPUB backend: subscriptions travel up, messages down, filtered.
    async fn proxy_forwards_pub_sub_through_xsub_xpub() {
        let xsub = bound(zmq::XSUB, "tcp://127.0.0.1:*").await;
        let xpub = bound(zmq::XPUB, "tcp://127.0.0.1:*").await;
        let (up, down) = (xsub.bound_endpoint().unwrap(), xpub.bound_endpoint().unwrap());
        let proxy = Proxy::new(xsub, xpub);
        let handle = proxy.handle();
        let running = rt::spawn(proxy.run());

        let publisher = connected(zmq::PUB, &up).await;
        let mut subscriber = connected(zmq::SUB, &down).await;
        subscriber.transport().subscribe("a.").unwrap();
        // Publish until the subscription has made its way up through the proxy.
        let got = loop {
            publisher.write(["b.other", "dropped"]).unwrap();
            publisher.write(["a.topic", "kept"]).unwrap();
            if let Some(msg) = timeout(Duration::from_millis(50), subscriber.next()).await {
                break msg.unwrap().unwrap();
            }
        };
        assert_eq!(got, Multipart::from(["a.topic", "kept"]));
        let (down_count, up_count) = handle.forwarded();
        assert!(down_count >= 1 && up_count >= 1, "{down_count} {up_count}");
        handle.terminate();
        assert!(running.await.is_ok());
    }
}

scenario! {
    /// ROUTER frontend, DEALER backend: REQ clients reach REP workers and get their own
    /// replies back (the routing envelope crosses the proxy whole).
    async fn proxy_brokers_req_rep_through_router_dealer() {
        let router = bound(zmq::ROUTER, "tcp://127.0.0.1:*").await;
        let dealer = bound(zmq::DEALER, "tcp://127.0.0.1:*").await;
        let (clients_at, workers_at) =
            (router.bound_endpoint().unwrap(), dealer.bound_endpoint().unwrap());
        let proxy = Proxy::new(router, dealer);
        let handle = proxy.handle();
        let running = rt::spawn(proxy.run());

        let mut worker = connected(zmq::REP, &workers_at).await;
        let serving = rt::spawn(async move {
            for _ in 0..20 {
                let request = read(&mut worker).await;
                let mut reply = request[0].to_vec();
                reply.extend_from_slice(b" done");
                worker.write(reply).unwrap();
            }
            worker
        });
        let mut clients = Vec::new();
        for c in 0..2 {
            clients.push(connected(zmq::REQ, &clients_at).await);
            let _ = c;
        }
        let mut replies = 0;
        for n in 0..10 {
            for (c, client) in clients.iter_mut().enumerate() {
                client.write(format!("client {c} job {n}")).unwrap();
                let reply = read(client).await;
                assert_eq!(reply[0], format!("client {c} job {n} done").as_bytes());
                // A message is counted before the proxy hands it on: a received reply is
                // always counted already, whichever thread the proxy runs on.
                replies += 1;
                assert_eq!(handle.forwarded(), (replies, replies));
            }
        }
        let _worker = serving.await;
        assert_eq!(handle.forwarded(), (20, 20));
        handle.terminate();
        assert!(running.await.is_ok());
    }
}

scenario! {
    /// A reply for a client that left (a ROUTER frontend with `RouterMandatory`) is about
    /// that reply only: the proxy drops it, counts it in the frontend's
    /// `dropped_unroutable()`, and goes on brokering.
    async fn proxy_drops_a_reply_to_a_departed_client_and_goes_on() {
        let router = zmqio::create_zmq_stream(zmq::ROUTER)
            .setsockopt(zmqio::opt::RouterMandatory, true)
            .bind("tcp://127.0.0.1:*")
            .await
            .unwrap();
        let dealer = bound(zmq::DEALER, "tcp://127.0.0.1:*").await;
        let (clients_at, workers_at) =
            (router.bound_endpoint().unwrap(), dealer.bound_endpoint().unwrap());
        let frontend = router.transport().clone();
        let proxy = Proxy::new(router, dealer);
        let handle = proxy.handle();
        let running = rt::spawn(proxy.run());

        let mut worker = connected(zmq::DEALER, &workers_at).await;
        let client = connected(zmq::DEALER, &clients_at).await;
        client.write("first").unwrap();
        assert_eq!(&read(&mut worker).await[1][..], b"first");
        worker.write(["gone-client", "late reply"]).unwrap();
        // Nothing signals the drop but the counter: poll it (bounded).
        let dropped = timeout(Duration::from_secs(5), async {
            while frontend.dropped_unroutable() == 0 {
                rt::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        assert!(
            dropped.is_some(),
            "the unroutable reply was not counted within 5 s (did the proxy end?)"
        );
        assert_eq!(frontend.dropped_unroutable(), 1);

        client.write("second").unwrap();
        assert_eq!(&read(&mut worker).await[1][..], b"second");
        assert_eq!(handle.forwarded(), (2, 0), "the dropped reply is not forwarded");
        handle.terminate();
        assert!(running.await.is_ok());
    }
}

scenario! {
    /// Pause stops forwarding (messages wait), resume delivers what waited, in order;
    /// terminate ends `run()` with Ok, also while paused.
    async fn proxy_pause_resume_terminate() {
        let front = bound(zmq::PULL, "inproc://proxy-steer-front").await;
        let back = bound(zmq::PUSH, "inproc://proxy-steer-back").await;
        let proxy = Proxy::new(front, back);
        let handle = proxy.handle();
        let running = rt::spawn(proxy.run());
        let producer = connected(zmq::PUSH, "inproc://proxy-steer-front").await;
        let mut consumer = connected(zmq::PULL, "inproc://proxy-steer-back").await;

        producer.write("before").unwrap();
        assert_eq!(read(&mut consumer).await[0], "before");

        handle.pause();
        for i in 0..10 {
            producer.write(format!("paused {i}")).unwrap();
        }
        // Nothing crosses a paused proxy.
        assert!(timeout(Duration::from_millis(300), consumer.read()).await.is_none());
        assert_eq!(handle.forwarded(), (1, 0));

        handle.resume();
        for i in 0..10 {
            assert_eq!(read(&mut consumer).await[0], format!("paused {i}").as_bytes());
        }

        handle.pause();
        handle.terminate();
        assert!(handle.is_terminated());
        handle.resume(); // terminate is final
        let result = timeout(Duration::from_secs(10), running).await;
        assert!(matches!(result, Some(Ok(()))), "{result:?}");
    }
}

scenario! {
    /// The capture gets a copy of every message, in both directions.
    async fn proxy_capture_sees_both_directions() {
        let front = bound(zmq::PAIR, "inproc://proxy-capture-front").await;
        let back = bound(zmq::PAIR, "inproc://proxy-capture-back").await;
        let capture = bound(zmq::PUSH, "inproc://proxy-capture").await;
        let mut captured = connected(zmq::PULL, "inproc://proxy-capture").await;
        let proxy = Proxy::new(front, back).capture(capture);
        let handle = proxy.handle();
        let running = rt::spawn(proxy.run());
        let mut left = connected(zmq::PAIR, "inproc://proxy-capture-front").await;
        let mut right = connected(zmq::PAIR, "inproc://proxy-capture-back").await;

        left.write(["to", "right"]).unwrap();
        assert_eq!(read(&mut right).await, Multipart::from(["to", "right"]));
        right.write("to left").unwrap();
        assert_eq!(read(&mut left).await[0], "to left");

        assert_eq!(read(&mut captured).await, Multipart::from(["to", "right"]));
        assert_eq!(read(&mut captured).await, Multipart::from("to left"));
        handle.terminate();
        assert!(running.await.is_ok());
    }
}

scenario! {
    /// Backpressure: while the backend cannot send (no peer yet), the proxy stops taking
    /// messages from the frontend once the backend's write queue is over its high watermark,
    /// so the frontend's read buffer fills and its socket stops reading; nothing grows
    /// without bound. A peer arriving gets every message, in order.
    async fn proxy_backpressure_bounds_both_queues() {
        const N: usize = 3000;
        let payload = vec![7u8; 100];
        let front = zmqio::create_zmq_stream(zmq::PULL)
            .bind("inproc://proxy-bp-front")
            .read_buffer_limits(Some(10_000), None)
            .await
            .unwrap();
        let back = zmqio::create_zmq_stream(zmq::PUSH)
            .bind("inproc://proxy-bp-back")
            .write_buffer_limits(Some(10_000), None)
            .await
            .unwrap();
        let (front_t, back_t) = (front.transport().clone(), back.transport().clone());
        let proxy = Proxy::new(front, back);
        let handle = proxy.handle();
        let running = rt::spawn(proxy.run());

        let producer = connected(zmq::PUSH, "inproc://proxy-bp-front").await;
        for i in 0..N {
            let mut frame = (i as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(&payload);
            producer.write(frame).unwrap();
        }
        // The frontend stops reading once its read buffer is full.
        let paused = timeout(Duration::from_secs(10), async {
            while !front_t.is_reading_paused() {
                rt::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(paused.is_some(), "the frontend never paused reading");
        // libzmq's PUSH without a peer takes nothing, so the backend's queue holds what the
        // proxy forwarded: at most the high watermark plus one message.
        let queued = back_t.get_write_buffer_size();
        assert!(queued <= 10_000 + 104, "backend queue {queued}");
        let (forwarded, _) = handle.forwarded();
        assert!(forwarded < N as u64, "forwarded {forwarded} of {N}: no backpressure");

        let mut consumer = connected(zmq::PULL, "inproc://proxy-bp-back").await;
        for i in 0..N {
            let msg = read(&mut consumer).await;
            assert_eq!(&msg[0][..4], &(i as u32).to_be_bytes());
        }
        assert_eq!(handle.forwarded().0, N as u64);
        handle.terminate();
        assert!(running.await.is_ok());
    }
}

scenario! {
    /// A capture whose send fails (here a REQ, which refuses a second request before its
    /// reply: `EFSM`) ends the proxy with that error, but the message it was copying has
    /// already gone to the other side: the proxy loses nothing it took.
    async fn proxy_whose_capture_fails_still_forwards_the_message() {
        let front = bound(zmq::PULL, "tcp://127.0.0.1:*").await;
        let back = bound(zmq::PUSH, "tcp://127.0.0.1:*").await;
        let mut rep = bound(zmq::REP, "tcp://127.0.0.1:*").await;
        let (front_at, back_at, rep_at) = (
            front.bound_endpoint().unwrap(),
            back.bound_endpoint().unwrap(),
            rep.bound_endpoint().unwrap(),
        );
        let capture = connected(zmq::REQ, &rep_at).await;
        let running = rt::spawn(Proxy::new(front, back).capture(capture).run());
        let producer = connected(zmq::PUSH, &front_at).await;
        let mut consumer = connected(zmq::PULL, &back_at).await;

        producer.write("one").unwrap();
        assert_eq!(read(&mut consumer).await[0], "one");
        // The capture's request is out: the REQ now waits for a reply that never comes.
        assert_eq!(read(&mut rep).await[0], "one");

        producer.write("two").unwrap();
        assert_eq!(read(&mut consumer).await[0], "two");
        let ended = timeout(Duration::from_secs(10), running)
            .await
            .expect("the proxy ends within 10 s");
        assert_eq!(ended, Err(zmqio::Error::Zmq(zmq::Error::EFSM)));
    }
}
