//! The ceiling: the `zmq` crate with blocking calls, one std thread per socket.

use std::thread;
use std::time::{Duration, Instant};

use crate::common::{
    context, last_endpoint, pub_frame, pub_socket, socket, sub_socket, PubResult, Tput, BIND,
    M_BATCH, M_MSG, M_PAUSE,
};

fn recv_whole(s: &zmq::Socket, msg: &mut zmq::Message) {
    loop {
        s.recv(msg, 0).expect("recv");
        if !msg.get_more() {
            return;
        }
    }
}

/// PUSH->PULL: time from the first send to the last message received.
pub(crate) fn throughput(io_threads: i32, spec: Tput) -> Duration {
    let ctx = context(io_threads);
    let pull = socket(&ctx, zmq::PULL);
    pull.bind(BIND).expect("bind");
    let push = socket(&ctx, zmq::PUSH);
    push.connect(&last_endpoint(&pull)).expect("connect");
    let frames = spec.payload();
    let start = Instant::now();
    let rx = thread::spawn(move || {
        let mut msg = zmq::Message::new();
        for _ in 0..spec.count {
            recv_whole(&pull, &mut msg);
        }
        Instant::now()
    });
    let tx = thread::spawn(move || {
        let last = frames.len() - 1;
        for _ in 0..spec.count {
            for (i, f) in frames.iter().enumerate() {
                let flags = if i < last { zmq::SNDMORE } else { 0 };
                push.send(&f[..], flags).expect("send");
            }
        }
        // Kept open until the receiver is done: LINGER 0 would drop what is in flight.
        push
    });
    let push = tx.join().expect("sender");
    let end = rx.join().expect("receiver");
    drop(push);
    end - start
}

/// REQ/REP: `n` round trips, each timed; returns nanoseconds per round trip.
pub(crate) fn latency(io_threads: i32, n: u64) -> Vec<u64> {
    let ctx = context(io_threads);
    let rep = socket(&ctx, zmq::REP);
    rep.bind(BIND).expect("bind");
    let req = socket(&ctx, zmq::REQ);
    req.connect(&last_endpoint(&rep)).expect("connect");
    let server = thread::spawn(move || {
        let mut msg = zmq::Message::new();
        for _ in 0..n {
            rep.recv(&mut msg, 0).expect("recv");
            rep.send(&msg[..], 0).expect("send");
        }
    });
    let payload = [b'x'; 64];
    let mut msg = zmq::Message::new();
    let mut samples = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let t0 = Instant::now();
        req.send(&payload[..], 0).expect("send");
        req.recv(&mut msg, 0).expect("recv");
        samples.push(t0.elapsed().as_nanos() as u64);
    }
    server.join().expect("server");
    samples
}

/// PUB->SUB with a prefix subscription.
pub(crate) fn pubsub(io_threads: i32, n: u64) -> PubResult {
    let ctx = context(io_threads);
    let publisher = pub_socket(&ctx);
    publisher.bind(BIND).expect("bind");
    let sub = sub_socket(&ctx);
    sub.set_subscribe(b"A").expect("subscribe");
    sub.connect(&last_endpoint(&publisher)).expect("connect");
    let (probe_tx, probe_rx) = std::sync::mpsc::channel();
    let rx = thread::spawn(move || {
        let mut msg = zmq::Message::new();
        let mut received = 0;
        let mut probed = false;
        loop {
            sub.recv(&mut msg, 0).expect("recv");
            match msg[1] {
                b'p' if !probed => {
                    probed = true;
                    probe_tx.send(()).expect("probe");
                }
                b'd' => received += 1,
                b'e' => return (Instant::now(), received),
                _ => {}
            }
        }
    });
    // Subscriptions travel to the publisher asynchronously: probe until one gets through.
    let probe = pub_frame(b'A', b'p');
    while probe_rx.try_recv().is_err() {
        publisher.send(&probe[..], 0).expect("send");
        thread::sleep(Duration::from_millis(1));
    }
    let (a, b, end) = (
        pub_frame(b'A', b'd'),
        pub_frame(b'B', b'd'),
        pub_frame(b'A', b'e'),
    );
    let start = Instant::now();
    for i in 0..n {
        let f = if i % 2 == 0 { &a } else { &b };
        publisher.send(&f[..], 0).expect("send");
    }
    publisher.send(&end[..], 0).expect("send");
    let (t, received) = rx.join().expect("subscriber");
    PubResult {
        elapsed: t - start,
        received,
        sent: n,
    }
}

/// PUSH writes `bytes` (in [`M_MSG`] messages) to a PULL that reads slower; the caller
/// reads the peak RSS afterwards.
pub(crate) fn memory(io_threads: i32, bytes: u64) {
    let ctx = context(io_threads);
    let pull = socket(&ctx, zmq::PULL);
    pull.bind(BIND).expect("bind");
    let push = socket(&ctx, zmq::PUSH);
    push.connect(&last_endpoint(&pull)).expect("connect");
    let count = bytes / M_MSG as u64;
    let rx = thread::spawn(move || {
        let mut msg = zmq::Message::new();
        for i in 1..=count {
            pull.recv(&mut msg, 0).expect("recv");
            if i % M_BATCH == 0 {
                thread::sleep(M_PAUSE);
            }
        }
    });
    let payload = vec![b'm'; M_MSG];
    for _ in 0..count {
        push.send(&payload[..], 0).expect("send");
    }
    rx.join().expect("receiver");
}
