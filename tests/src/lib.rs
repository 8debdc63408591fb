//! Support for the scenario suite: the watchdog and protocol helpers shared by every runtime.
//!
//! The scenarios themselves live in `scenarios/` and are compiled once per runtime by the
//! files in `tests/`, each of which defines a module `rt` (how to run a future on that runtime)
//! and aliases its adapter crate as `zmqio`.

use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;

/// How long any one scenario may take before it fails as hung.
pub const WATCHDOG: Duration = Duration::from_secs(60);

/// Runs `run(fut)` under a watchdog: a future-level timeout (the scenario fails with a panic
/// naming it) plus a thread that aborts the process if even that cannot fire (a runtime thread
/// blocked for good), so a hang never stalls CI.
pub fn with_watchdog<F, R>(name: &str, limit: Duration, fut: F, run: R) -> F::Output
where
    F: Future + Send,
    R: FnOnce(std::pin::Pin<Box<dyn Future<Output = F::Output> + Send + '_>>) -> F::Output,
{
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let owned = name.to_owned();
    let guard = std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) =
            done_rx.recv_timeout(limit + Duration::from_secs(15))
        {
            eprintln!("watchdog: scenario {owned} is stuck; aborting");
            std::process::abort();
        }
    });
    let name = name.to_owned();
    let timed = async move {
        let timer = async_io::Timer::after(limit);
        futures::pin_mut!(fut);
        futures::pin_mut!(timer);
        match futures::future::select(fut, timer).await {
            futures::future::Either::Left((out, _)) => out,
            futures::future::Either::Right(_) => {
                panic!("scenario {name} timed out after {limit:?}")
            }
        }
    };
    let out = run(Box::pin(timed));
    drop(done_tx);
    let _ = guard.join();
    out
}

use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::StreamExt;
use zmqio_core::{Error, Multipart, SocketEvent, ZmqProtocol, ZmqTransport};

/// One protocol callback, as recorded by [`Recorder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    /// `connection_made`
    Made,
    /// `msg_received`
    Msg(Multipart),
    /// `pause_writing`
    Pause,
    /// `resume_writing`
    Resume,
    /// `event_received`
    Event(SocketEvent),
    /// `connection_lost`
    Lost(Option<Error>),
}

/// A protocol that forwards every callback to a channel, so a scenario can await exactly the
/// callback it expects instead of sleeping.
pub struct Recorder {
    tx: UnboundedSender<Ev>,
    /// The transport, once `connection_made` ran.
    pub transport: Option<ZmqTransport>,
    /// Whether the last of pause/resume was a pause.
    pub paused: bool,
    /// How many `connection_lost` calls arrived (must end as 1).
    pub lost_calls: usize,
    /// Echo every message back (a REP/ROUTER server).
    pub echo: bool,
    /// Panic in `msg_received` (to test that a panicking callback hangs no one).
    pub panic_on_msg: bool,
}

impl Recorder {
    /// A recorder and the receiving end of its callbacks.
    pub fn new() -> (Self, Events) {
        let (tx, rx) = unbounded();
        (
            Self {
                tx,
                transport: None,
                paused: false,
                lost_calls: 0,
                echo: false,
                panic_on_msg: false,
            },
            Events(rx),
        )
    }

    /// A recorder that writes every message it receives back to its transport.
    pub fn echo() -> (Self, Events) {
        let (mut r, e) = Self::new();
        r.echo = true;
        (r, e)
    }

    /// A recorder whose `msg_received` panics with the message `"boom"`.
    pub fn panicking() -> (Self, Events) {
        let (mut r, e) = Self::new();
        r.panic_on_msg = true;
        (r, e)
    }
}

impl ZmqProtocol for Recorder {
    fn connection_made(&mut self, transport: &ZmqTransport) {
        self.transport = Some(transport.clone());
        let _ = self.tx.unbounded_send(Ev::Made);
    }
    fn connection_lost(&mut self, exc: Option<Error>) {
        self.lost_calls += 1;
        let _ = self.tx.unbounded_send(Ev::Lost(exc));
    }
    fn pause_writing(&mut self) {
        assert!(!self.paused, "pause_writing twice in a row");
        self.paused = true;
        let _ = self.tx.unbounded_send(Ev::Pause);
    }
    fn resume_writing(&mut self) {
        assert!(self.paused, "resume_writing without pause_writing");
        self.paused = false;
        let _ = self.tx.unbounded_send(Ev::Resume);
    }
    fn msg_received(&mut self, msg: Multipart) {
        assert!(!self.panic_on_msg, "boom");
        if self.echo {
            if let Some(t) = &self.transport {
                t.write(msg.clone()).expect("echo write");
            }
        }
        let _ = self.tx.unbounded_send(Ev::Msg(msg));
    }
    fn event_received(&mut self, event: SocketEvent) {
        let _ = self.tx.unbounded_send(Ev::Event(event));
    }
}

/// The callbacks a [`Recorder`] saw, in order.
pub struct Events(UnboundedReceiver<Ev>);

impl Events {
    /// The next callback (panics if the protocol is gone).
    pub async fn next(&mut self) -> Ev {
        self.0.next().await.expect("protocol dropped")
    }

    /// The next `msg_received`, skipping monitor events; panics on anything else.
    pub async fn msg(&mut self) -> Multipart {
        loop {
            match self.next().await {
                Ev::Msg(m) => return m,
                Ev::Event(_) | Ev::Made => continue,
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// Skips everything up to and including `connection_lost`, returning its argument.
    pub async fn lost(&mut self) -> Option<Error> {
        loop {
            if let Ev::Lost(e) = self.next().await {
                return e;
            }
        }
    }

    /// Whatever is already queued, without waiting.
    pub fn ready(&mut self) -> Vec<Ev> {
        let mut v = Vec::new();
        while let Ok(e) = self.0.try_recv() {
            v.push(e);
        }
        v
    }
}

/// The first (resolved) endpoint a transport is bound to.
pub fn endpoint_of(t: &ZmqTransport) -> String {
    t.bindings().into_iter().next().expect("transport is bound")
}

/// Frames in a [`big_message`].
pub const BIG_FRAMES: usize = 26;
/// Bytes in each frame of a [`big_message`].
pub const BIG_FRAME_LEN: usize = 1000;

/// A 26-frame message of 1000-byte frames: frame 0 starts with `seq` (big-endian) and every
/// frame `i` is filled with a byte pattern depending on `i`, so a reordered, truncated or
/// mixed-up message is caught by [`check_big_message`]. Frames 1.. are shared between calls
/// (cheap clones), so thousands of these cost little memory.
pub fn big_message(seq: u32) -> Multipart {
    use std::sync::OnceLock;
    static SHARED: OnceLock<Vec<bytes::Bytes>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| (1..BIG_FRAMES).map(big_frame).collect());
    let mut first = big_frame(0).to_vec();
    first[..4].copy_from_slice(&seq.to_be_bytes());
    let mut msg = Multipart::with_capacity(BIG_FRAMES);
    msg.push(first);
    for frame in shared {
        msg.push(frame.clone());
    }
    msg
}

fn big_frame(i: usize) -> bytes::Bytes {
    (0..BIG_FRAME_LEN)
        .map(|j| (i * 31 + j * 7) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// Panics unless `msg` is exactly `big_message(seq)`.
pub fn check_big_message(msg: &Multipart, seq: u32) {
    assert_eq!(msg.len(), BIG_FRAMES, "message {seq}: frame count");
    let want = big_message(seq);
    for (i, (got, want)) in msg.iter().zip(want.iter()).enumerate() {
        assert!(got == want, "message {seq}: frame {i} differs");
    }
}

/// A protocol whose callbacks call methods of their own transport (the reentrancy the
/// protocol docs promise), reporting what it saw through a [`Recorder`]-style channel:
///
/// - `connection_made`: writes `"hello"`;
/// - `msg_received(m)`: writes `"re:" + m[0]`; on `"limits"` also sets and reads the write
///   buffer limits; on `"flood"` writes 1000-byte messages until the write queue is above the
///   high watermark; on `"bye"` calls `close()` and checks `is_closing()`; on `"abort"` calls
///   `abort()`.
pub struct SelfCaller {
    inner: Recorder,
}

impl SelfCaller {
    /// A self-calling protocol and the receiving end of its callbacks.
    pub fn new() -> (Self, Events) {
        let (inner, events) = Recorder::new();
        (Self { inner }, events)
    }

    fn transport(&self) -> &ZmqTransport {
        self.inner.transport.as_ref().expect("connection_made ran")
    }
}

impl ZmqProtocol for SelfCaller {
    fn connection_made(&mut self, transport: &ZmqTransport) {
        assert!(!transport.is_closing());
        transport
            .write(["hello"])
            .expect("write in connection_made");
        self.inner.connection_made(transport);
    }
    fn connection_lost(&mut self, exc: Option<Error>) {
        let t = self.transport();
        assert!(t.is_closing());
        assert_eq!(t.write(["too late"]), Err(Error::Closed));
        self.inner.connection_lost(exc);
    }
    fn msg_received(&mut self, msg: Multipart) {
        let t = self.transport().clone();
        assert!(!t.is_closing());
        let mut reply = b"re:".to_vec();
        reply.extend_from_slice(&msg[0]);
        t.write([reply]).expect("write in msg_received");
        match &msg[0][..] {
            b"limits" => {
                t.set_write_buffer_limits(Some(1000), Some(10))
                    .expect("limits in msg_received");
                assert_eq!(t.get_write_buffer_limits(), (10, 1000));
                let _ = t.get_write_buffer_size();
                let _ = t.bindings();
            }
            b"flood" => {
                let high = t.get_write_buffer_limits().1;
                for i in 0..100_000u32 {
                    t.write([i.to_be_bytes().to_vec(), vec![0; 1000]])
                        .expect("write in msg_received");
                    if t.get_write_buffer_size() > high {
                        break;
                    }
                }
                assert!(t.get_write_buffer_size() > high, "the peer never filled up");
            }
            b"bye" => {
                t.close();
                assert!(t.is_closing());
                t.close();
            }
            b"abort" => t.abort(),
            _ => {}
        }
        self.inner.msg_received(msg);
    }
    fn pause_writing(&mut self) {
        self.inner.pause_writing();
    }
    fn resume_writing(&mut self) {
        self.inner.resume_writing();
    }
}

/// A [`Runtime`](zmqio_core::runtime::Runtime) that counts what zmqio asks of the runtime it
/// wraps: every poll of a driver task, every readiness poll of a `ZMQ_FD`, and the
/// registrations alive. Build
/// transports on it with `ConnectionBuilder::new` / `StreamBuilder::new` to prove, by a count
/// rather than a clock, that a driver sleeps when it should (idle, blocked) instead of
/// spinning.
pub mod counting {
    use std::future::Future;
    use std::io;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use zmqio_core::runtime::{Readiness, Runtime, ZmqFd};

    /// What a [`CountingRuntime`] saw, shared with the test.
    #[derive(Debug, Default)]
    pub struct Counts {
        driver_polls: AtomicU64,
        readiness_polls: AtomicU64,
        registrations: AtomicU64,
        deregistrations: AtomicU64,
    }

    impl Counts {
        /// Polls of driver tasks so far.
        pub fn driver_polls(&self) -> u64 {
            self.driver_polls.load(Ordering::SeqCst)
        }

        /// Calls of `poll_read_ready` on `ZMQ_FD` registrations so far.
        pub fn readiness_polls(&self) -> u64 {
            self.readiness_polls.load(Ordering::SeqCst)
        }

        /// Descriptors registered and not deregistered yet: a socket's `ZMQ_FD` and its
        /// monitor PAIR's, each from `register` until zmqio drops the registration (which it
        /// does right before it closes that socket).
        pub fn live_registrations(&self) -> u64 {
            self.registrations.load(Ordering::SeqCst) - self.deregistrations.load(Ordering::SeqCst)
        }
    }

    /// `inner`, with counters around the driver tasks and the readiness registrations.
    pub struct CountingRuntime {
        inner: Arc<dyn Runtime>,
        counts: Arc<Counts>,
    }

    impl CountingRuntime {
        /// Wraps `inner`; returns the runtime to build transports on and its counters.
        pub fn wrap(inner: Arc<dyn Runtime>) -> (Arc<dyn Runtime>, Arc<Counts>) {
            let counts = Arc::new(Counts::default());
            let rt = Arc::new(Self {
                inner,
                counts: counts.clone(),
            });
            (rt, counts)
        }
    }

    struct CountingReadiness {
        inner: Box<dyn Readiness>,
        counts: Arc<Counts>,
    }

    impl Drop for CountingReadiness {
        fn drop(&mut self) {
            self.counts.deregistrations.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Readiness for CountingReadiness {
        fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.counts.readiness_polls.fetch_add(1, Ordering::SeqCst);
            self.inner.poll_read_ready(cx)
        }
    }

    struct CountingTask {
        inner: Pin<Box<dyn Future<Output = ()> + Send + 'static>>,
        counts: Arc<Counts>,
    }

    impl Future for CountingTask {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.counts.driver_polls.fetch_add(1, Ordering::SeqCst);
            self.inner.as_mut().poll(cx)
        }
    }

    // SAFETY: registration is the wrapped runtime's (which upholds the contract); its
    // `Readiness` is kept only inside the `CountingReadiness`, so it is dropped exactly when
    // that one is.
    unsafe impl Runtime for CountingRuntime {
        fn register(&self, fd: ZmqFd) -> io::Result<Box<dyn Readiness>> {
            let inner = self.inner.register(fd)?;
            self.counts.registrations.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(CountingReadiness {
                inner,
                counts: self.counts.clone(),
            }))
        }

        fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) {
            self.inner.spawn(Box::pin(CountingTask {
                inner: future,
                counts: self.counts.clone(),
            }));
        }

        fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
            self.inner.sleep(duration)
        }
    }
}
