//! Workload X: T64 messages forwarded through a proxy, PUSH -> [PULL | proxy | PUSH] -> PULL
//! over tcp. The producer and the consumer are the same blocking `zmq` threads for both
//! rows, so the proxy in the middle is the only difference: libzmq's `zmq_proxy_steerable` on
//! a thread of its own, or `zmqio_core::proxy::Proxy` on a runtime.

use std::thread;
use std::time::{Duration, Instant};

use crate::common::{context, last_endpoint, socket, BIND};
use crate::flavor::Flavor;

/// Runs a producer of `count` 64-byte messages into `front` and a consumer of as many from
/// `back`; returns the time from the first send to the last receive.
fn drive(front: &str, back: &str, count: u64) -> Duration {
    let ctx = context(1);
    let consumer = socket(&ctx, zmq::PULL);
    consumer.set_rcvhwm(0).expect("rcvhwm");
    consumer.connect(back).expect("connect consumer");
    let producer = socket(&ctx, zmq::PUSH);
    producer.connect(front).expect("connect producer");
    // Prove the path works (and let every connection settle) before the clock starts.
    producer.send("warm-up", 0).expect("send");
    consumer.recv_bytes(0).expect("recv");
    let started = Instant::now();
    let sending = thread::spawn(move || {
        let payload = [b'x'; 64];
        for _ in 0..count {
            producer.send(&payload[..], 0).expect("send");
        }
        producer
    });
    for _ in 0..count {
        consumer.recv_bytes(0).expect("recv");
    }
    let elapsed = started.elapsed();
    drop(sending.join());
    elapsed
}

/// libzmq's proxy on a thread, steered to terminate through its control socket.
pub(crate) fn raw(count: u64) -> Duration {
    let ctx = context(1);
    let mut front = socket(&ctx, zmq::PULL);
    front.bind(BIND).expect("bind");
    let mut back = socket(&ctx, zmq::PUSH);
    back.bind(BIND).expect("bind");
    let (front_at, back_at) = (last_endpoint(&front), last_endpoint(&back));
    let control = socket(&ctx, zmq::PAIR);
    control.bind("inproc://bench-proxy-control").expect("bind");
    let mut peer = socket(&ctx, zmq::PAIR);
    peer.connect("inproc://bench-proxy-control")
        .expect("connect");
    let proxy = thread::spawn(move || {
        let _ = zmq::proxy_steerable(&mut front, &mut back, &mut peer);
    });
    let elapsed = drive(&front_at, &back_at, count);
    control.send("TERMINATE", 0).expect("terminate");
    proxy.join().expect("proxy thread");
    elapsed
}

/// `zmqio_core::proxy::Proxy` on runtime `F`.
pub(crate) fn zmqio<F: Flavor>(count: u64) -> Duration {
    F::block_on(async move {
        let front = F::stream(zmq::PULL).bind(BIND).await.expect("front");
        let back = F::stream(zmq::PUSH).bind(BIND).await.expect("back");
        let (front_at, back_at) = (
            front.bound_endpoint().expect("bound"),
            back.bound_endpoint().expect("bound"),
        );
        let proxy = zmqio_core::proxy::Proxy::new(front, back);
        let handle = proxy.handle();
        let running = F::spawn(proxy.run());
        // The blocking producer and consumer run on threads of their own; the runtime only
        // runs the proxy (and waits for the result without blocking).
        let (tx, rx) = futures::channel::oneshot::channel();
        thread::spawn(move || {
            let _ = tx.send(drive(&front_at, &back_at, count));
        });
        let elapsed = rx.await.expect("driver thread");
        handle.terminate();
        running.await.expect("proxy");
        elapsed
    })
}
