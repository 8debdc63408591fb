//! zmqio's two APIs, written once over [`Flavor`]: the protocol API (callbacks, `write` +
//! `drain`) and the stream API (`read`, and the `Sink` for sending).

use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
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

/// Where the two sockets of a T or L run live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Both on one runtime, each side a task: one program talking to itself.
    Shared,
    /// Each on its own runtime on its own thread, as the raw rows run each socket on its own
    /// std thread (and as two processes would).
    ThreadPerSocket,
}

/// Which zmqio API a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// `ZmqProtocol` callbacks; the sender uses `write` + `drain`.
    Protocol,
    /// `ZmqStream`: `read()` to receive, the `Sink` (`feed`) to send.
    Stream,
    /// `ZmqStream` in batches of [`BATCH`] in the T workloads: `write_many` then `drain()`
    /// to send, `read_many` to receive (the other workloads run as `Stream`).
    StreamMany,
}

/// The most messages one `write_many` or `read_many` of `StreamMany` takes.
const BATCH: usize = 64;

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
    /// Runs a workload's two sides (each owning one socket) in `layout`; returns their outputs.
    fn run_sides<A, B>(
        layout: Layout,
        a: impl Future<Output = A> + Send + 'static,
        b: impl Future<Output = B> + Send + 'static,
    ) -> (A, B)
    where
        A: Send + 'static,
        B: Send + 'static,
    {
        match layout {
            Layout::Shared => F::block_on(async move {
                let a = F::spawn(a);
                let b = F::spawn(b);
                (a.await, b.await)
            }),
            Layout::ThreadPerSocket => {
                let a = thread::spawn(move || F::block_on(a));
                let b = F::block_on(b);
                (a.join().expect("the other side panicked"), b)
            }
        }
    }

    /// PUSH->PULL: time from the first send to the last message received.
    pub(crate) fn throughput(api: Api, io_threads: i32, spec: Tput, layout: Layout) -> Duration {
        let ctx = context(io_threads);
        let (endpoint_tx, endpoint_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let pull = Self::pull_side(api, ctx.clone(), spec.count, endpoint_tx, done_tx);
        let push = Self::push_side(api, ctx.clone(), spec, endpoint_rx, done_rx);
        let (end, start) = Self::run_sides(layout, pull, push);
        drop(ctx);
        end - start
    }

    /// Binds a PULL, hands its endpoint over, receives `count` messages and returns the instant
    /// the last one arrived (after telling the sender through `done`).
    async fn pull_side(
        api: Api,
        ctx: zmq::Context,
        count: u64,
        endpoint: oneshot::Sender<String>,
        done: oneshot::Sender<()>,
    ) -> Instant {
        let end = match api {
            Api::Protocol => {
                let (tx, rx) = oneshot::channel();
                let (pull, _) = F::connection(
                    move || CountUntil {
                        left: count,
                        done: Some(tx),
                    },
                    zmq::PULL,
                )
                .zmq_sock(socket(&ctx, zmq::PULL))
                .bind(BIND)
                .await
                .expect("pull");
                let _ = endpoint.send(first_binding(&pull));
                let end = rx.await.expect("receiver");
                let _ = done.send(());
                close(&pull).await;
                end
            }
            Api::Stream | Api::StreamMany => {
                let mut pull = F::stream(zmq::PULL)
                    .zmq_sock(socket(&ctx, zmq::PULL))
                    .bind(BIND)
                    .await
                    .expect("pull");
                let _ = endpoint.send(first_binding(pull.transport()));
                if api == Api::StreamMany {
                    let mut batch = Vec::with_capacity(BATCH);
                    let mut left = count as usize;
                    while left > 0 {
                        left -= pull
                            .read_many(&mut batch, BATCH.min(left))
                            .await
                            .expect("read_many");
                        batch.clear();
                    }
                } else {
                    for _ in 0..count {
                        pull.read().await.expect("read");
                    }
                }
                let end = Instant::now();
                let _ = done.send(());
                close_stream(&pull).await;
                end
            }
        };
        end
    }

    /// Connects a PUSH to the endpoint it is given, sends `spec.count` messages and returns the
    /// instant of the first send; closes once the receiver says it has them all.
    async fn push_side(
        api: Api,
        ctx: zmq::Context,
        spec: Tput,
        endpoint: oneshot::Receiver<String>,
        done: oneshot::Receiver<()>,
    ) -> Instant {
        let endpoint = endpoint.await.expect("endpoint");
        let frames = spec.payload();
        match api {
            Api::Protocol => {
                let (push, _) = F::connection(|| Quiet, zmq::PUSH)
                    .zmq_sock(socket(&ctx, zmq::PUSH))
                    .connect(endpoint)
                    .await
                    .expect("push");
                let start = Instant::now();
                for _ in 0..spec.count {
                    push.write(message(&frames)).expect("write");
                    push.drain().await.expect("drain");
                }
                done.await.expect("receiver");
                close(&push).await;
                start
            }
            Api::Stream | Api::StreamMany => {
                let mut push = F::stream(zmq::PUSH)
                    .zmq_sock(socket(&ctx, zmq::PUSH))
                    .connect(endpoint)
                    .await
                    .expect("push");
                let start = Instant::now();
                if api == Api::StreamMany {
                    let mut batch = Vec::with_capacity(BATCH);
                    let mut left = spec.count as usize;
                    while left > 0 {
                        let n = BATCH.min(left);
                        batch.extend((0..n).map(|_| message(&frames)));
                        push.write_many(&mut batch).expect("write_many");
                        push.drain().await.expect("drain");
                        left -= n;
                    }
                } else {
                    for _ in 0..spec.count {
                        push.feed(message(&frames)).await.expect("send");
                    }
                }
                push.flush().await.expect("flush");
                done.await.expect("receiver");
                close_stream(&push).await;
                start
            }
        }
    }

    /// REQ/REP round trips, in nanoseconds.
    pub(crate) fn latency(api: Api, io_threads: i32, n: u64, layout: Layout) -> Vec<u64> {
        let ctx = context(io_threads);
        let (endpoint_tx, endpoint_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let rep = Self::rep_side(api, ctx.clone(), n, endpoint_tx, done_rx);
        let req = Self::req_side(api, ctx.clone(), n, endpoint_rx, done_tx);
        let ((), samples) = Self::run_sides(layout, rep, req);
        drop(ctx);
        samples
    }

    /// Binds a REP, hands its endpoint over and echoes every request until `done`.
    async fn rep_side(
        api: Api,
        ctx: zmq::Context,
        n: u64,
        endpoint: oneshot::Sender<String>,
        done: oneshot::Receiver<()>,
    ) {
        match api {
            Api::Protocol => {
                let (rep, _) = F::connection(|| Echo(None), zmq::REP)
                    .zmq_sock(socket(&ctx, zmq::REP))
                    .bind(BIND)
                    .await
                    .expect("rep");
                let _ = endpoint.send(first_binding(&rep));
                done.await.expect("client");
                close(&rep).await;
            }
            Api::Stream | Api::StreamMany => {
                let mut rep = F::stream(zmq::REP)
                    .zmq_sock(socket(&ctx, zmq::REP))
                    .bind(BIND)
                    .await
                    .expect("rep");
                let _ = endpoint.send(first_binding(rep.transport()));
                for _ in 0..n {
                    let msg = rep.read().await.expect("read");
                    rep.write(msg).expect("write");
                }
                done.await.expect("client");
                close_stream(&rep).await;
            }
        }
    }

    /// Connects a REQ and times `n` round trips; says `done` once it has closed.
    async fn req_side(
        api: Api,
        ctx: zmq::Context,
        n: u64,
        endpoint: oneshot::Receiver<String>,
        done: oneshot::Sender<()>,
    ) -> Vec<u64> {
        let endpoint = endpoint.await.expect("endpoint");
        let payload = Bytes::from(vec![b'x'; 64]);
        let samples = match api {
            Api::Protocol => {
                let (tx, rx) = oneshot::channel();
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
                .connect(endpoint)
                .await
                .expect("req");
                pinger.lock().expect("pinger").sent_at = Instant::now();
                req.write(first).expect("request");
                let samples = rx.await.expect("pinger");
                close(&req).await;
                samples
            }
            Api::Stream | Api::StreamMany => {
                let mut req = F::stream(zmq::REQ)
                    .zmq_sock(socket(&ctx, zmq::REQ))
                    .connect(endpoint)
                    .await
                    .expect("req");
                let mut samples = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let t0 = Instant::now();
                    req.write(payload.clone()).expect("write");
                    req.read().await.expect("read");
                    samples.push(t0.elapsed().as_nanos() as u64);
                }
                close_stream(&req).await;
                samples
            }
        };
        let _ = done.send(());
        samples
    }

    /// PUB->SUB with a prefix subscription.
    pub(crate) fn pubsub(api: Api, io_threads: i32, n: u64) -> PubResult {
        let ctx = context(io_threads);
        let c = ctx.clone();
        let r = F::block_on(async move {
            match api {
                Api::Protocol => Self::pubsub_protocol(c, n).await,
                Api::Stream | Api::StreamMany => Self::pubsub_stream(c, n).await,
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
                Api::Stream | Api::StreamMany => Self::memory_stream(c, bytes).await,
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
