//! The demo, written once. Each `on_*.rs` includes this file with `#[path]`, after aliasing
//! its adapter crate as `zmqio` and giving a module `rt` with `sleep`; nothing here names a
//! runtime.

use std::time::{Duration, Instant};

use futures::channel::mpsc::{unbounded, TryRecvError, UnboundedReceiver, UnboundedSender};
use futures::future::{self, Either};
use futures::StreamExt;

use super::{rt, zmqio};
use crate::{set_step, Result};
use zmqio::{opt, zmq, Multipart, ZmqProtocol, ZmqTransport};

/// Where every server binds: the port is chosen by the system.
const ANY_PORT: &str = "tcp://127.0.0.1:*";

/// How long the demo waits for any one message before calling it lost.
const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the four patterns, printing one line each under `runtime`; `false` if any failed.
pub(super) async fn run(runtime: &str) -> bool {
    println!("{runtime}");
    let mut ok = true;
    set_step(format!("{runtime}, REQ/REP"));
    ok &= report("REQ/REP", req_rep().await);
    set_step(format!("{runtime}, PUB/SUB"));
    ok &= report("PUB/SUB", pub_sub().await);
    set_step(format!("{runtime}, PUSH/PULL"));
    ok &= report("PUSH/PULL", push_pull().await);
    set_step(format!("{runtime}, DEALER/ROUTER"));
    ok &= report("DEALER/ROUTER", dealer_router().await);
    println!();
    ok
}

/// A protocol that hands every message it receives to a channel, where the demo awaits it.
struct Inbox(UnboundedSender<Multipart>);

impl ZmqProtocol for Inbox {
    fn msg_received(&mut self, msg: Multipart) {
        // The receiver is gone only once the demo gave up on this pattern.
        let _ = self.0.unbounded_send(msg);
    }
}

/// A protocol for sockets that only send.
struct Silent;

impl ZmqProtocol for Silent {}

/// A server protocol that answers each request from its callback: a REP socket answers
/// `ping N` with `pong N`; a ROUTER socket answers `[identity, job]` with
/// `[identity, "done " + job]` and also hands the request to a channel, to show the identity.
struct Server {
    transport: Option<ZmqTransport>,
    requests: Option<UnboundedSender<Multipart>>,
}

impl Server {
    fn new(requests: Option<UnboundedSender<Multipart>>) -> Self {
        Self {
            transport: None,
            requests,
        }
    }
}

impl ZmqProtocol for Server {
    fn connection_made(&mut self, transport: &ZmqTransport) {
        self.transport = Some(transport.clone());
    }

    fn msg_received(&mut self, msg: Multipart) {
        let Some(transport) = &self.transport else {
            return;
        };
        let reply: Multipart = match transport.socket_type() {
            zmq::REP => [text(&msg[0]).replace("ping", "pong")].into(),
            _ => [msg[0].clone(), format!("done {}", text(&msg[1])).into()].into(),
        };
        if let Err(e) = transport.write(reply) {
            // The client then times out waiting and reports the pattern as failed.
            eprintln!("server could not reply: {e}");
        }
        if let Some(requests) = &self.requests {
            let _ = requests.unbounded_send(msg);
        }
    }
}

/// REQ/REP: a few round trips, each reply checked.
async fn req_rep() -> Result<String> {
    const ROUNDS: u32 = 5;
    let (rep, _) = zmqio::create_zmq_connection(|| Server::new(None), zmq::REP)
        .bind(ANY_PORT)
        .await?;
    let endpoint = bound(&rep)?;
    let (tx, mut replies) = unbounded();
    let (req, _) = zmqio::create_zmq_connection(move || Inbox(tx), zmq::REQ)
        .connect(endpoint.as_str())
        .await?;

    // The first round trip also waits for the TCP connection; time the others.
    let mut start = Instant::now();
    let mut last = String::new();
    for n in 1..=ROUNDS {
        if n == 2 {
            start = Instant::now();
        }
        req.write([format!("ping {n}")])?;
        last = text(&recv(&mut replies, "a reply").await?[0]);
        check(last == format!("pong {n}"), || {
            format!("reply {n} was {last:?}")
        })?;
    }
    let each = start.elapsed() / (ROUNDS - 1);
    close_all([req, rep]).await?;
    Ok(format!(
        "{ROUNDS} round trips over {endpoint}, \"ping {ROUNDS}\" -> {last:?}, {each:.0?} each"
    ))
}

/// PUB/SUB: a subscription to one topic, the slow joiner waited for, every message counted.
async fn pub_sub() -> Result<String> {
    const N: u32 = 1000;
    // A PUB socket drops what exceeds its high-water mark, and a burst from one task can
    // exceed it before the I/O thread reports progress. Raise it so that the count below is
    // exact; libzmq copies options when it binds or connects, so set it before.
    let (publisher, _) = zmqio::create_zmq_connection(|| Silent, zmq::PUB).await?;
    publisher.setsockopt(opt::SndHwm, 100_000)?;
    let endpoint = publisher.bind(ANY_PORT).await?;

    let (tx, mut inbox) = unbounded();
    let (subscriber, _) = zmqio::create_zmq_connection(move || Inbox(tx), zmq::SUB).await?;
    subscriber.setsockopt(opt::RcvHwm, 100_000)?;
    subscriber.subscribe("weather")?;
    subscriber.connect(&endpoint).await?;

    // The slow joiner: a subscription reaches the publisher some time after connect, and
    // until then the publisher drops everything. Publish until something arrives.
    let deadline = Instant::now() + RECV_TIMEOUT;
    let mut warmups = 0;
    loop {
        publisher.write(["weather", "warm-up"])?;
        warmups += 1;
        rt::sleep(Duration::from_millis(2)).await;
        match inbox.try_recv() {
            Ok(_) => break,
            Err(TryRecvError::Closed) => return Err("the subscriber's protocol is gone".into()),
            Err(TryRecvError::Empty) if Instant::now() > deadline => {
                return Err("no warm-up message reached the subscriber".into());
            }
            Err(TryRecvError::Empty) => {}
        }
    }

    for n in 0..N {
        publisher.write(["news".to_owned(), n.to_string()])?;
        publisher.write(["weather".to_owned(), n.to_string()])?;
    }
    publisher.write(["weather", "end"])?;
    let (mut weather, mut other) = (0, 0);
    loop {
        let msg = recv(&mut inbox, "a published message").await?;
        match (text(&msg[0]).as_str(), text(&msg[1]).as_str()) {
            ("weather", "warm-up") => {}
            ("weather", "end") => break,
            ("weather", n) => {
                check(n == weather.to_string(), || {
                    format!("message {n} arrived where {weather} was due")
                })?;
                weather += 1;
            }
            _ => other += 1,
        }
    }
    check(weather == N, || {
        format!("{weather} of {N} messages arrived")
    })?;
    check(other == 0, || {
        format!("{other} messages of another topic arrived")
    })?;
    close_all([publisher, subscriber]).await?;
    Ok(format!(
        "topic \"weather\": {weather}/{N} in order (after {warmups} warm-up{}), \
         {other}/{N} \"news\" let through",
        if warmups == 1 { "" } else { "s" },
    ))
}

/// PUSH/PULL: a burst of messages with backpressure, in order, and the rate.
async fn push_pull() -> Result<String> {
    const N: u32 = 10_000;
    let (tx, mut inbox) = unbounded();
    let (pull, _) = zmqio::create_zmq_connection(move || Inbox(tx), zmq::PULL)
        .bind(ANY_PORT)
        .await?;
    let (push, _) = zmqio::create_zmq_connection(|| Silent, zmq::PUSH)
        .connect(bound(&pull)?)
        .await?;
    // One message first, so the timing below measures messages, not the TCP handshake.
    push.write(["hello"])?;
    recv(&mut inbox, "the first message").await?;

    let start = Instant::now();
    for i in 0..N {
        push.write([i.to_be_bytes().to_vec()])?;
        if i % 1000 == 999 {
            // Backpressure: wait until the write queue is down to its low-water mark.
            push.drain().await?;
        }
    }
    for i in 0..N {
        let msg = recv(&mut inbox, "a pushed message").await?;
        check(msg[0][..] == i.to_be_bytes(), || {
            format!("message {i} arrived out of order")
        })?;
    }
    let elapsed = start.elapsed();
    close_all([push, pull]).await?;
    let rate = f64::from(N) / elapsed.as_secs_f64();
    Ok(format!(
        "{N} messages in order in {elapsed:.1?}: {} msg/s",
        thousands(rate as u64)
    ))
}

/// DEALER/ROUTER: a dealer with a routing id; the router sees it and routes the replies back.
async fn dealer_router() -> Result<String> {
    const JOBS: u32 = 3;
    const ID: &str = "client-1";
    let (req_tx, mut requests) = unbounded();
    let (router, _) = zmqio::create_zmq_connection(move || Server::new(Some(req_tx)), zmq::ROUTER)
        .bind(ANY_PORT)
        .await?;
    let (tx, mut replies) = unbounded();
    let (dealer, _) = zmqio::create_zmq_connection(move || Inbox(tx), zmq::DEALER).await?;
    dealer.setsockopt(opt::RoutingId, ID.as_bytes().to_vec())?;
    dealer.connect(&bound(&router)?).await?;

    for n in 1..=JOBS {
        dealer.write([format!("job {n}")])?;
    }
    for n in 1..=JOBS {
        let request = recv(&mut requests, "a request at the router").await?;
        let identity = text(&request[0]);
        check(identity == ID, || {
            format!("the router saw identity {identity:?}")
        })?;
        let reply = text(&recv(&mut replies, "a reply at the dealer").await?[0]);
        check(reply == format!("done job {n}"), || {
            format!("reply {n} was {reply:?}")
        })?;
    }
    close_all([dealer, router]).await?;
    Ok(format!(
        "dealer {ID:?}: the router saw that routing id on {JOBS}/{JOBS} jobs, \
         {JOBS}/{JOBS} replies routed back"
    ))
}

/// Prints one pattern's outcome; `true` if it worked.
fn report(pattern: &str, outcome: Result<String>) -> bool {
    match outcome {
        Ok(summary) => {
            println!("  {pattern:<14} {summary}");
            true
        }
        Err(e) => {
            println!("  {pattern:<14} FAILED: {e}");
            false
        }
    }
}

/// The next message from a protocol's channel, or an error after [`RECV_TIMEOUT`].
async fn recv(inbox: &mut UnboundedReceiver<Multipart>, what: &str) -> Result<Multipart> {
    let timeout = rt::sleep(RECV_TIMEOUT);
    futures::pin_mut!(timeout);
    match future::select(inbox.next(), timeout).await {
        Either::Left((Some(msg), _)) => Ok(msg),
        Either::Left((None, _)) => Err(format!("waiting for {what}: the protocol is gone").into()),
        Either::Right(_) => Err(format!("{what} did not come within {RECV_TIMEOUT:?}").into()),
    }
}

/// The endpoint a server is bound to, with the port the system chose.
fn bound(server: &ZmqTransport) -> Result<String> {
    server
        .bindings()
        .into_iter()
        .next()
        .ok_or_else(|| "the server is not bound".into())
}

/// Closes the sockets and waits until each is closed, which must be without error.
async fn close_all<const N: usize>(transports: [ZmqTransport; N]) -> Result<()> {
    for t in &transports {
        t.close();
    }
    for t in &transports {
        if let Some(e) = t.wait_closed().await {
            return Err(format!("the {:?} socket closed with {e}", t.socket_type()).into());
        }
    }
    Ok(())
}

/// `Ok` if `ok`, else the error `describe` gives.
fn check(ok: bool, describe: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(describe().into())
    }
}

/// `1234567` as `1 234 567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// A frame as text (lossy: the demo only sends text and numbers).
fn text(frame: &[u8]) -> String {
    String::from_utf8_lossy(frame).into_owned()
}
