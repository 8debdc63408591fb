//! tmq, the Rust peer, on tokio's current-thread runtime: its Sink/Stream API.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tmq::AsZmqSocket;

use crate::common::{
    context, last_endpoint, pub_frame, PubResult, Tput, BIND, M_BATCH, M_MSG, M_PAUSE,
};
use crate::flavor::{Flavor, TokioCt};

fn message(frames: &[bytes::Bytes]) -> tmq::Multipart {
    frames.iter().map(|f| zmq::Message::from(&f[..])).collect()
}

/// PUSH->PULL: time from the first send to the last message received.
pub(crate) fn throughput(io_threads: i32, spec: Tput) -> Duration {
    let ctx = context(io_threads);
    TokioCt::block_on(async move {
        let mut pull = tmq::pull(&ctx).set_linger(0).bind(BIND).expect("bind");
        let ep = last_endpoint(pull.get_socket());
        let mut push = tmq::push(&ctx).set_linger(0).connect(&ep).expect("connect");
        let frames = spec.payload();
        let start = Instant::now();
        let sender = TokioCt::spawn(async move {
            for _ in 0..spec.count {
                push.feed(message(&frames)).await.expect("send");
            }
            SinkExt::<tmq::Multipart>::flush(&mut push)
                .await
                .expect("flush");
            // Kept open until the receiver is done: LINGER 0 would drop what is in flight.
            push
        });
        for _ in 0..spec.count {
            pull.next().await.expect("open").expect("recv");
        }
        let end = Instant::now();
        drop(sender.await);
        end - start
    })
}

/// REQ/REP round trips, in nanoseconds.
pub(crate) fn latency(io_threads: i32, n: u64) -> Vec<u64> {
    let ctx = context(io_threads);
    TokioCt::block_on(async move {
        let mut rep = tmq::reply(&ctx).set_linger(0).bind(BIND).expect("bind");
        let ep = last_endpoint(rep.get_socket());
        let mut req = tmq::request(&ctx)
            .set_linger(0)
            .connect(&ep)
            .expect("connect");
        let server = TokioCt::spawn(async move {
            for _ in 0..n {
                let (msg, sender) = rep.recv().await.expect("recv");
                rep = sender.send(msg).await.expect("send");
            }
        });
        let payload = [b'x'; 64];
        let mut samples = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let t0 = Instant::now();
            let receiver = req.send(vec![&payload[..]].into()).await.expect("send");
            let (_, sender) = receiver.recv().await.expect("recv");
            req = sender;
            samples.push(t0.elapsed().as_nanos() as u64);
        }
        server.await;
        samples
    })
}

/// PUB->SUB with a prefix subscription.
pub(crate) fn pubsub(io_threads: i32, n: u64) -> PubResult {
    let ctx = context(io_threads);
    TokioCt::block_on(async move {
        let mut publisher = tmq::publish(&ctx)
            .set_linger(0)
            .set_sndhwm(0)
            .bind(BIND)
            .expect("bind");
        let ep = last_endpoint(publisher.get_socket());
        let mut sub = tmq::subscribe(&ctx)
            .set_linger(0)
            .set_rcvhwm(0)
            .connect(&ep)
            .expect("connect")
            .subscribe(b"A")
            .expect("subscribe");
        let probed = Arc::new(AtomicBool::new(false));
        let flag = probed.clone();
        let receiver = TokioCt::spawn(async move {
            let mut received = 0;
            loop {
                let msg = sub.next().await.expect("open").expect("recv");
                match msg[0][1] {
                    b'p' => flag.store(true, Ordering::Release),
                    b'd' => received += 1,
                    b'e' => return (Instant::now(), received),
                    _ => {}
                }
            }
        });
        let probe = pub_frame(b'A', b'p');
        while !probed.load(Ordering::Acquire) {
            publisher
                .send(message(std::slice::from_ref(&probe)))
                .await
                .expect("send");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let (a, b) = (pub_frame(b'A', b'd'), pub_frame(b'B', b'd'));
        let start = Instant::now();
        for i in 0..n {
            let f = if i % 2 == 0 { &a } else { &b };
            publisher
                .feed(message(std::slice::from_ref(f)))
                .await
                .expect("send");
        }
        publisher
            .send(message(&[pub_frame(b'A', b'e')]))
            .await
            .expect("send");
        let (end, received) = receiver.await;
        PubResult {
            elapsed: end - start,
            received,
            sent: n,
        }
    })
}

/// A fast PUSH and a slow PULL moving `bytes`.
pub(crate) fn memory(io_threads: i32, bytes: u64) {
    let ctx = context(io_threads);
    TokioCt::block_on(async move {
        let mut pull = tmq::pull(&ctx).set_linger(0).bind(BIND).expect("bind");
        let ep = last_endpoint(pull.get_socket());
        let mut push = tmq::push(&ctx).set_linger(0).connect(&ep).expect("connect");
        let count = bytes / M_MSG as u64;
        let payload = bytes::Bytes::from(vec![b'm'; M_MSG]);
        let sender = TokioCt::spawn(async move {
            for _ in 0..count {
                push.feed(message(std::slice::from_ref(&payload)))
                    .await
                    .expect("send");
            }
            SinkExt::<tmq::Multipart>::flush(&mut push)
                .await
                .expect("flush");
            // Kept open until the receiver is done: LINGER 0 would drop what is in flight.
            push
        });
        for i in 1..=count {
            pull.next().await.expect("open").expect("recv");
            if i % M_BATCH == 0 {
                tokio::time::sleep(M_PAUSE).await;
            }
        }
        drop(sender.await);
    });
}
