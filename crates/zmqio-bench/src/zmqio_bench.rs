//! zmqio's two APIs, written once over [`Flavor`]: the protocol API (callbacks, `write` +
//! `drain`) and the stream API (`read`, and the `Sink` for sending).

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::{mpsc, oneshot};
use futures::{SinkExt, StreamExt};
use zmqio_core::{Multipart, ZmqProtocol, ZmqStream, ZmqTransport};

use crate::common::{
    context, pub_frame, pub_socket, socket, sub_socket, PubResult, Tput, BIND, M_BATCH, M_MSG,
    M_PAUSE,
};
use crate::flavor::Flavor;

/// Which zmqio API a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// `ZmqProtocol` callbacks; the sender uses `write` + `drain`.
    Protocol,
    /// `ZmqStream`: `read()` to receive, the `Sink` (`feed`) to send.
    Stream,
}

/// A protocol that ignores everything.
struct Quiet;
impl ZmqProtocol for Quiet {}

/// Counts messages; reports the instant the last one arrived.
struct CountUntil {
    left: u64,
    done: Option<oneshot::Sender<Instant>>,
}

impl ZmqProtocol for CountUntil {
    fn msg_received(&mut self, _msg: Multipart) {
        self.left = self.left.saturating_sub(1);
        if self.left == 0 {
            if let Some(tx) = self.done.take() {
                let _ = tx.send(Instant::now());
            }
        }
    }
}

/// Sends every message back (REP).
struct Echo(Option<ZmqTransport>);

impl ZmqProtocol for Echo {
    fn connection_made(&mut self, transport: &ZmqTransport) {
        self.0 = Some(transport.clone());
    }
    fn msg_received(&mut self, msg: Multipart) {
        if let Some(t) = &self.0 {
            t.write(msg).expect("echo");
        }
    }
}

/// Sends the next request from the reply's callback (REQ), timing each round trip.
struct Pinger {
    transport: Option<ZmqTransport>,
    left: u64,
    sent_at: Instant,
    payload: Bytes,
    samples: Vec<u64>,
    done: Option<oneshot::Sender<Vec<u64>>>,
}

impl ZmqProtocol for Pinger {
    fn connection_made(&mut self, transport: &ZmqTransport) {
        self.transport = Some(transport.clone());
    }
    fn msg_received(&mut self, _msg: Multipart) {
        self.samples.push(self.sent_at.elapsed().as_nanos() as u64);
        self.left -= 1;
        if self.left == 0 {
            if let Some(tx) = self.done.take() {
                let _ = tx.send(std::mem::take(&mut self.samples));
            }
            return;
        }
        self.sent_at = Instant::now();
        if let Some(t) = &self.transport {
            t.write(self.payload.clone()).expect("request");
        }
    }
}

/// The subscriber of workload P.
struct SubCounter {
    probed: Arc<AtomicBool>,
    received: u64,
    done: Option<oneshot::Sender<(Instant, u64)>>,
}

impl ZmqProtocol for SubCounter {
    fn msg_received(&mut self, msg: Multipart) {
        match msg[0][1] {
            b'p' => self.probed.store(true, Ordering::Release),
            b'd' => self.received += 1,
            b'e' => {
                if let Some(tx) = self.done.take() {
                    let _ = tx.send((Instant::now(), self.received));
                }
            }
            _ => {}
        }
    }
}

/// The slow reader of workload M: pauses reading for [`M_PAUSE`] every [`M_BATCH`]
/// messages (a helper task resumes it).
struct SlowPull {
    transport: Option<ZmqTransport>,
    seen: u64,
    count: u64,
    pauses: mpsc::UnboundedSender<()>,
    done: Option<oneshot::Sender<()>>,
}

impl ZmqProtocol for SlowPull {
    fn connection_made(&mut self, transport: &ZmqTransport) {
        self.transport = Some(transport.clone());
    }
    fn msg_received(&mut self, _msg: Multipart) {
        self.seen += 1;
        if self.seen == self.count {
            if let Some(tx) = self.done.take() {
                let _ = tx.send(());
            }
        } else if self.seen % M_BATCH == 0 {
            if let Some(t) = &self.transport {
                if t.pause_reading().is_ok() {
                    let _ = self.pauses.unbounded_send(());
                }
            }
        }
    }
}

fn first_binding(t: &ZmqTransport) -> String {
    t.bindings().into_iter().next().expect("bound")
}

async fn close(t: &ZmqTransport) {
    t.close();
    t.wait_closed().await;
}

async fn close_stream(s: &ZmqStream) {
    close(s.transport()).await;
}

fn message(frames: &[Bytes]) -> Multipart {
    frames.iter().cloned().collect()
}

/// The benchmarks of one flavor.
pub(crate) struct Bench<F>(PhantomData<F>);

impl<F: Flavor> Bench<F> {
    /// PUSH->PULL: time from the first send to the last message received.
    pub(crate) fn throughput(api: Api, io_threads: i32, spec: Tput) -> Duration {
        let ctx = context(io_threads);
        let c = ctx.clone();
        let d = F::block_on(async move {
            match api {
                Api::Protocol => Self::throughput_protocol(c, spec).await,
                Api::Stream => Self::throughput_stream(c, spec).await,
            }
        });
        drop(ctx);
        d
    }

    async fn throughput_protocol(ctx: zmq::Context, spec: Tput) -> Duration {
        let (tx, rx) = oneshot::channel();
        let (pull, _) = F::connection(
            move || CountUntil {
                left: spec.count,
                done: Some(tx),
            },
            zmq::PULL,
        )
        .zmq_sock(socket(&ctx, zmq::PULL))
        .bind(BIND)
        .await
        .expect("pull");
        let (push, _) = F::connection(|| Quiet, zmq::PUSH)
            .zmq_sock(socket(&ctx, zmq::PUSH))
            .connect(first_binding(&pull))
            .await
            .expect("push");
        let frames = spec.payload();
        let start = Instant::now();
        let sender = F::spawn({
            let push = push.clone();
            async move {
                for _ in 0..spec.count {
                    push.write(message(&frames)).expect("write");
                    push.drain().await.expect("drain");
                }
            }
        });
        let end = rx.await.expect("receiver");
        sender.await;
        close(&push).await;
        close(&pull).await;
        end - start
    }

    async fn throughput_stream(ctx: zmq::Context, spec: Tput) -> Duration {
        let mut pull = F::stream(zmq::PULL)
            .zmq_sock(socket(&ctx, zmq::PULL))
            .bind(BIND)
            .await
            .expect("pull");
        let mut push = F::stream(zmq::PUSH)
            .zmq_sock(socket(&ctx, zmq::PUSH))
            .connect(first_binding(pull.transport()))
            .await
            .expect("push");
        let frames = spec.payload();
        let start = Instant::now();
        let sender = F::spawn(async move {
            for _ in 0..spec.count {
                push.feed(message(&frames)).await.expect("send");
            }
            push.flush().await.expect("flush");
            push
        });
        let receiver = F::spawn(async move {
            for _ in 0..spec.count {
                pull.read().await.expect("read");
            }
            (Instant::now(), pull)
        });
        let (end, pull) = receiver.await;
        let push = sender.await;
        close_stream(&push).await;
        close_stream(&pull).await;
        end - start
    }

    /// REQ/REP round trips, in nanoseconds.
    pub(crate) fn latency(api: Api, io_threads: i32, n: u64) -> Vec<u64> {
        let ctx = context(io_threads);
        let c = ctx.clone();
        let samples = F::block_on(async move {
            match api {
                Api::Protocol => Self::latency_protocol(c, n).await,
                Api::Stream => Self::latency_stream(c, n).await,
            }
        });
        drop(ctx);
        samples
    }

    async fn latency_protocol(ctx: zmq::Context, n: u64) -> Vec<u64> {
        let (rep, _) = F::connection(|| Echo(None), zmq::REP)
            .zmq_sock(socket(&ctx, zmq::REP))
            .bind(BIND)
            .await
            .expect("rep");
        let (tx, rx) = oneshot::channel();
        let payload = Bytes::from(vec![b'x'; 64]);
        let first = payload.clone();
        let (req, pinger) = F::connection(
            move || Pinger {
                transport: None,
                left: n,
                sent_at: Instant::now(),
                payload,
                samples: Vec::with_capacity(n as usize),
                done: Some(tx),
            },
            zmq::REQ,
        )
        .zmq_sock(socket(&ctx, zmq::REQ))
        .connect(first_binding(&rep))
        .await
        .expect("req");
        pinger.lock().expect("pinger").sent_at = Instant::now();
        req.write(first).expect("request");
        let samples = rx.await.expect("pinger");
        close(&req).await;
        close(&rep).await;
        samples
    }

    async fn latency_stream(ctx: zmq::Context, n: u64) -> Vec<u64> {
        let mut rep = F::stream(zmq::REP)
            .zmq_sock(socket(&ctx, zmq::REP))
            .bind(BIND)
            .await
            .expect("rep");
        let mut req = F::stream(zmq::REQ)
            .zmq_sock(socket(&ctx, zmq::REQ))
            .connect(first_binding(rep.transport()))
            .await
            .expect("req");
        let server = F::spawn(async move {
            for _ in 0..n {
                let msg = rep.read().await.expect("read");
                rep.write(msg).expect("write");
            }
            rep
        });
        let client = F::spawn(async move {
            let payload = Bytes::from(vec![b'x'; 64]);
            let mut samples = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let t0 = Instant::now();
                req.write(payload.clone()).expect("write");
                req.read().await.expect("read");
                samples.push(t0.elapsed().as_nanos() as u64);
            }
            (samples, req)
        });
        let (samples, req) = client.await;
        let rep = server.await;
        close_stream(&req).await;
        close_stream(&rep).await;
        samples
    }

    /// PUB->SUB with a prefix subscription.
    pub(crate) fn pubsub(api: Api, io_threads: i32, n: u64) -> PubResult {
        let ctx = context(io_threads);
        let c = ctx.clone();
        let r = F::block_on(async move {
            match api {
                Api::Protocol => Self::pubsub_protocol(c, n).await,
                Api::Stream => Self::pubsub_stream(c, n).await,
            }
        });
        drop(ctx);
        r
    }

    async fn publish(publisher: &ZmqTransport, probed: &AtomicBool, n: u64) -> Instant {
        let probe = pub_frame(b'A', b'p');
        while !probed.load(Ordering::Acquire) {
            publisher.write(probe.clone()).expect("probe");
            F::sleep(Duration::from_millis(1)).await;
        }
        let (a, b) = (pub_frame(b'A', b'd'), pub_frame(b'B', b'd'));
        let start = Instant::now();
        for i in 0..n {
            let f = if i % 2 == 0 { &a } else { &b };
            publisher.write(f.clone()).expect("publish");
            publisher.drain().await.expect("drain");
        }
        publisher.write(pub_frame(b'A', b'e')).expect("end");
        start
    }

    async fn pubsub_protocol(ctx: zmq::Context, n: u64) -> PubResult {
        let (publisher, _) = F::connection(|| Quiet, zmq::PUB)
            .zmq_sock(pub_socket(&ctx))
            .bind(BIND)
            .await
            .expect("pub");
        let probed = Arc::new(AtomicBool::new(false));
        let (tx, rx) = oneshot::channel();
        let flag = probed.clone();
        let (sub, _) = F::connection(
            move || SubCounter {
                probed: flag,
                received: 0,
                done: Some(tx),
            },
            zmq::SUB,
        )
        .zmq_sock(sub_socket(&ctx))
        .await
        .expect("sub");
        sub.subscribe(b"A").expect("subscribe");
        sub.connect(&first_binding(&publisher))
            .await
            .expect("connect");
        let start = Self::publish(&publisher, &probed, n).await;
        let (end, received) = rx.await.expect("subscriber");
        close(&publisher).await;
        close(&sub).await;
        PubResult {
            elapsed: end - start,
            received,
            sent: n,
        }
    }

    async fn pubsub_stream(ctx: zmq::Context, n: u64) -> PubResult {
        let publisher = F::stream(zmq::PUB)
            .zmq_sock(pub_socket(&ctx))
            .bind(BIND)
            .await
            .expect("pub");
        let mut sub = F::stream(zmq::SUB)
            .zmq_sock(sub_socket(&ctx))
            .await
            .expect("sub");
        sub.transport().subscribe(b"A").expect("subscribe");
        sub.transport()
            .connect(&first_binding(publisher.transport()))
            .await
            .expect("connect");
        let probed = Arc::new(AtomicBool::new(false));
        let flag = probed.clone();
        let receiver = F::spawn(async move {
            let mut received = 0;
            loop {
                let msg = sub.read().await.expect("read");
                match msg[0][1] {
                    b'p' => flag.store(true, Ordering::Release),
                    b'd' => received += 1,
                    b'e' => return (Instant::now(), received, sub),
                    _ => {}
                }
            }
        });
        let start = Self::publish(publisher.transport(), &probed, n).await;
        let (end, received, sub) = receiver.await;
        close_stream(&publisher).await;
        close_stream(&sub).await;
        PubResult {
            elapsed: end - start,
            received,
            sent: n,
        }
    }

    /// A fast PUSH and a slow PULL moving `bytes`, with default watermarks.
    pub(crate) fn memory(api: Api, io_threads: i32, bytes: u64) {
        let ctx = context(io_threads);
        let c = ctx.clone();
        F::block_on(async move {
            match api {
                Api::Protocol => Self::memory_protocol(c, bytes).await,
                Api::Stream => Self::memory_stream(c, bytes).await,
            }
        });
        drop(ctx);
    }

    async fn memory_protocol(ctx: zmq::Context, bytes: u64) {
        let count = bytes / M_MSG as u64;
        let (pauses_tx, mut pauses) = mpsc::unbounded();
        let (done_tx, done) = oneshot::channel();
        let (pull, _) = F::connection(
            move || SlowPull {
                transport: None,
                seen: 0,
                count,
                pauses: pauses_tx,
                done: Some(done_tx),
            },
            zmq::PULL,
        )
        .zmq_sock(socket(&ctx, zmq::PULL))
        .bind(BIND)
        .await
        .expect("pull");
        let resumer = F::spawn({
            let pull = pull.clone();
            async move {
                while pauses.next().await.is_some() {
                    F::sleep(M_PAUSE).await;
                    let _ = pull.resume_reading();
                }
            }
        });
        let (push, _) = F::connection(|| Quiet, zmq::PUSH)
            .zmq_sock(socket(&ctx, zmq::PUSH))
            .connect(first_binding(&pull))
            .await
            .expect("push");
        let payload = Bytes::from(vec![b'm'; M_MSG]);
        for _ in 0..count {
            push.write(payload.clone()).expect("write");
            push.drain().await.expect("drain");
        }
        done.await.expect("reader");
        close(&push).await;
        close(&pull).await;
        // The resumer ends when the protocol (its sender) is dropped; no need to wait.
        drop(resumer);
    }

    async fn memory_stream(ctx: zmq::Context, bytes: u64) {
        let count = bytes / M_MSG as u64;
        let mut pull = F::stream(zmq::PULL)
            .zmq_sock(socket(&ctx, zmq::PULL))
            .bind(BIND)
            .await
            .expect("pull");
        let mut push = F::stream(zmq::PUSH)
            .zmq_sock(socket(&ctx, zmq::PUSH))
            .connect(first_binding(pull.transport()))
            .await
            .expect("push");
        let reader = F::spawn(async move {
            for i in 1..=count {
                pull.read().await.expect("read");
                if i % M_BATCH == 0 {
                    F::sleep(M_PAUSE).await;
                }
            }
            pull
        });
        let payload = Bytes::from(vec![b'm'; M_MSG]);
        for _ in 0..count {
            push.feed(payload.clone().into()).await.expect("send");
        }
        push.flush().await.expect("flush");
        let pull = reader.await;
        close_stream(&push).await;
        close_stream(&pull).await;
    }
}
