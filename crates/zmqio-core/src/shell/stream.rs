//! [`ZmqStream`]: a socket as an async reader/writer, a `futures::Stream` and a `Sink`.

use std::collections::VecDeque;
use std::future::{poll_fn, Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures::{Sink, Stream};

use crate::engine::{buffer_limits, bytes_and_weight, EngineEvent};
use crate::runtime::Runtime;
use crate::shell::builder::SocketSpec;
use crate::shell::driver::ReceivesRuns;
use crate::shell::transport::QueueBound;
use crate::{
    shell, Error, IntoEndpoints, Multipart, Result, SocketEvent, ZmqProtocol, ZmqTransport,
};

/// Default bound of the monitor-event backlog of a stream.
///
/// ```
/// assert_eq!(zmqio_core::DEFAULT_EVENTS_BACKLOG, 100);
/// ```
pub const DEFAULT_EVENTS_BACKLOG: usize = 100;

/// Builds a [`ZmqStream`]; returned by each adapter's `create_zmq_stream`. Await it.
///
/// Invalid limits make the awaited builder fail with `InvalidArgument` (before any socket is
/// made). Endpoints are bound first, then connected.
///
/// ```
/// # mod doc { include!("doctest_support.rs"); }
/// # doc::run(async {
/// # let rt = doc::rt();
/// use zmqio_core::StreamBuilder;
///
/// let stream = StreamBuilder::new(rt, zmq::DEALER)
///     .connect("tcp://127.0.0.1:5555")
///     .read_buffer_limits(Some(1 << 20), None)
///     .events_backlog(Some(1000))
///     .await?;
/// # Ok::<(), zmqio_core::Error>(())
/// # });
/// ```
#[must_use = "a builder does nothing until awaited"]
pub struct StreamBuilder {
    runtime: Arc<dyn Runtime>,
    socket_type: zmq::SocketType,
    spec: SocketSpec,
    read_limits: (Option<usize>, Option<usize>),
    write_limits: (Option<usize>, Option<usize>),
    backlog: Option<usize>,
}

impl StreamBuilder {
    /// A builder on `runtime`; adapters wrap this as `create_zmq_stream`.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// // `doc::rt()`: a `zmqio_core::runtime::Runtime` (see that module for one).
    /// let pull = zmqio_core::StreamBuilder::new(doc::rt(), zmq::PULL).await?;
    /// assert_eq!(pull.transport().socket_type(), zmq::PULL);
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn new(runtime: Arc<dyn Runtime>, zmq_type: zmq::SocketType) -> Self {
        Self {
            runtime,
            socket_type: zmq_type,
            spec: SocketSpec::default(),
            read_limits: (None, None),
            write_limits: (None, None),
            backlog: Some(DEFAULT_EVENTS_BACKLOG),
        }
    }

    crate::shell::builder::socket_spec_methods!();

    /// Read-side watermarks: reading from the socket pauses while the messages waiting to be
    /// read weigh more than `high`, and resumes at `low`. A message weighs its bytes plus 32
    /// per frame (`engine::message_weight`), so a flood of empty messages pauses reading like
    /// any other. Defaults: 64 KiB and `high / 4`. `high` below `low` makes the `.await` fail
    /// with `InvalidArgument`.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::{Error, StreamBuilder};
    ///
    /// let pull = StreamBuilder::new(doc::rt(), zmq::PULL)
    ///     .read_buffer_limits(Some(1 << 20), None) // low: high / 4
    ///     .await?;
    /// assert_eq!(pull.get_read_buffer_limits(), (1 << 18, 1 << 20));
    ///
    /// let bad = StreamBuilder::new(doc::rt(), zmq::PULL)
    ///     .read_buffer_limits(Some(10), Some(20))
    ///     .await;
    /// assert!(matches!(bad, Err(Error::InvalidArgument(_))));
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn read_buffer_limits(mut self, high: Option<usize>, low: Option<usize>) -> Self {
        self.read_limits = (high, low);
        self
    }

    /// Write-side watermarks of the transport (see `ZmqTransport::set_write_buffer_limits`):
    /// the `Sink` is ready while the write queue weighs at most `high`, `drain` completes at
    /// `low`. Defaults: 64 KiB and `high / 4`.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::StreamBuilder;
    ///
    /// let push = StreamBuilder::new(doc::rt(), zmq::PUSH)
    ///     .write_buffer_limits(Some(4096), Some(1024))
    ///     .await?;
    /// assert_eq!(push.transport().get_write_buffer_limits(), (1024, 4096));
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn write_buffer_limits(mut self, high: Option<usize>, low: Option<usize>) -> Self {
        self.write_limits = (high, low);
        self
    }

    /// How many monitor events to keep unread before dropping the oldest; `None` keeps all.
    /// Default `Some(100)` ([`DEFAULT_EVENTS_BACKLOG`]); the events dropped are counted in
    /// [`ZmqStream::dropped_events`].
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::StreamBuilder;
    ///
    /// let mut pull = StreamBuilder::new(doc::rt(), zmq::PULL)
    ///     .events_backlog(Some(1)) // only the newest unread event is kept
    ///     .await?;
    /// pull.transport().enable_monitor(None).await?;
    /// pull.transport().bind("tcp://127.0.0.1:*").await?; // Listening
    /// let event = pull.read_event().await?;
    /// assert_eq!(event.event, zmqio_core::MonitorEvent::Listening);
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn events_backlog(mut self, backlog: Option<usize>) -> Self {
        self.backlog = backlog;
        self
    }
}

impl IntoFuture for StreamBuilder {
    type Output = Result<ZmqStream>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let (low, high) = buffer_limits(self.read_limits.0, self.read_limits.1)?;
            buffer_limits(self.write_limits.0, self.write_limits.1)?;
            let mut engine = self.spec.open(self.socket_type)?;
            engine.set_write_limits(self.write_limits.0, self.write_limits.1)?;
            let state = Arc::new(Mutex::new(ReadState::new(low, high, self.backlog)));
            let protocol = StreamProtocol {
                state: state.clone(),
                transport: None,
            };
            let transport = shell::start_receiving_runs(&self.runtime, engine, protocol)?;
            // What left libzmq before a close is a queued read: a close keeps it (nobody
            // else holds the transport yet, so no close came before this).
            transport.shared().lock().keep_received = true;
            Ok(ZmqStream { transport, state })
        })
    }
}

impl std::fmt::Debug for StreamBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamBuilder")
            .field("socket_type", &self.socket_type)
            .field("spec", &self.spec)
            .field("read_limits", &self.read_limits)
            .field("write_limits", &self.write_limits)
            .field("backlog", &self.backlog)
            .finish_non_exhaustive()
    }
}

/// The largest queue capacity, in events, that a stream hands back to its driver after taking
/// a run's queue (see `ReadState::push_run`): four of the driver's runs. A larger one, grown by
/// a reader that fell behind, is dropped instead, so the driver's and the engine's queues stay
/// the size their runs need.
const RUN_QUEUE_KEPT: usize = 1024;

/// What the stream's protocol has received and the reader has not taken yet.
struct ReadState {
    /// The queued messages, each an [`EngineEvent::Message`] (the driver's runs come as
    /// such: a run is queued by moving its whole queue in, not message by message).
    messages: VecDeque<EngineEvent>,
    bytes: usize,
    /// The queued messages' weights, summed: what the read watermarks bound.
    weight: usize,
    low: usize,
    high: usize,
    /// Whether this stream paused the transport's reading (read-side backpressure). The
    /// engine keeps this pause apart from the user's `pause_reading`: neither lifts the
    /// other.
    paused: bool,
    events: VecDeque<SocketEvent>,
    backlog: Option<usize>,
    dropped_events: u64,
    closed: bool,
    exception: Option<Error>,
    /// Whether `read()` (or the `Stream`) already returned the exception once.
    exception_read: bool,
    exception_event_read: bool,
    read_waker: Option<Waker>,
    event_waker: Option<Waker>,
}

impl ReadState {
    fn new(low: usize, high: usize, backlog: Option<usize>) -> Self {
        Self {
            messages: VecDeque::new(),
            bytes: 0,
            weight: 0,
            low,
            high,
            paused: false,
            events: VecDeque::new(),
            backlog,
            dropped_events: 0,
            closed: false,
            exception: None,
            exception_read: false,
            exception_event_read: false,
            read_waker: None,
            event_waker: None,
        }
    }

    /// Queues a received message for the reader.
    #[inline]
    fn push(&mut self, msg: Multipart) {
        let (bytes, weight) = bytes_and_weight(&msg);
        self.bytes += bytes;
        self.weight += weight;
        self.messages.push_back(EngineEvent::Message(msg));
    }

    /// Queues a run of received messages (every event of `run` is a message), leaving `run`
    /// empty. Into an empty queue the run's whole queue is moved (the queues are swapped), so
    /// the messages themselves are not moved one by one; only their sizes are read.
    fn push_run(&mut self, run: &mut VecDeque<EngineEvent>) {
        for event in run.iter() {
            debug_assert!(
                matches!(event, EngineEvent::Message(_)),
                "a run holds messages only"
            );
            if let EngineEvent::Message(msg) = event {
                let (bytes, weight) = bytes_and_weight(msg);
                self.bytes += bytes;
                self.weight += weight;
            }
        }
        if self.messages.is_empty() {
            std::mem::swap(&mut self.messages, run);
            // `run` goes back to the driver and on to the engine: a read queue that once grew
            // large (a slow reader under a high watermark) is not kept there.
            if run.capacity() > RUN_QUEUE_KEPT {
                *run = VecDeque::new();
            }
        } else {
            self.messages.append(run);
        }
    }

    /// Takes the oldest queued message, with its bytes and weight taken off the counts.
    #[inline]
    fn pop(&mut self) -> Option<Multipart> {
        // Only messages are queued (`push`, `push_run`); anything else would be dropped.
        let Some(EngineEvent::Message(msg)) = self.messages.pop_front() else {
            return None;
        };
        let (bytes, weight) = bytes_and_weight(&msg);
        self.bytes -= bytes;
        self.weight -= weight;
        Some(msg)
    }

    /// What a read finds when no message is queued: the end (the fatal error once, then
    /// `Closed`) once the stream is closed, else `Pending`, with `cx`'s waker kept for the
    /// next message.
    fn end_or_wait(&mut self, cx: &mut Context<'_>) -> Poll<Error> {
        if self.closed {
            return Poll::Ready(end_error(&self.exception, &mut self.exception_read));
        }
        self.read_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Sets or clears the transport's backpressure pause to match the queued weight (bytes
    /// plus 32 per frame). Called with the state locked so a pause and a resume can never
    /// cross. The user's own `pause_reading`/`resume_reading` is a separate pause, untouched
    /// here.
    fn apply_backpressure(&mut self, transport: &ZmqTransport) {
        if !self.paused && self.weight > self.high {
            self.paused = true;
            transport.set_read_backpressure(true);
        } else if self.paused && self.weight <= self.low {
            self.paused = false;
            transport.set_read_backpressure(false);
        }
    }
}

/// What a read of a closed, drained queue returns: the fatal error the first time (if there
/// was one), `Closed` after that. `reported` remembers the first time, per queue.
fn end_error(exception: &Option<Error>, reported: &mut bool) -> Error {
    match exception {
        Some(e) if !std::mem::replace(reported, true) => e.clone(),
        _ => Error::Closed,
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

/// The protocol behind a stream: queues what arrives for the reader.
struct StreamProtocol {
    state: Arc<Mutex<ReadState>>,
    transport: Option<ZmqTransport>,
}

impl StreamProtocol {
    fn lock(&self) -> MutexGuard<'_, ReadState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ReceivesRuns for StreamProtocol {
    /// `msg_received` for a run of messages, under one lock of the read queue instead of
    /// one per message. The read-side backpressure is applied once, after the run: the run
    /// has left libzmq already, so pausing after its first message would not keep any of it
    /// out of the queue either.
    fn messages_received(&mut self, batch: &mut VecDeque<EngineEvent>) {
        let waker = {
            let mut st = self.lock();
            // Messages are not traced (see `trace::engine_event`), so the run goes in whole.
            st.push_run(batch);
            if let Some(t) = &self.transport {
                st.apply_backpressure(t);
            }
            st.read_waker.take()
        };
        wake(waker);
    }
}

impl ZmqProtocol for StreamProtocol {
    fn connection_made(&mut self, transport: &ZmqTransport) {
        self.transport = Some(transport.clone());
    }

    fn connection_lost(&mut self, exc: Option<Error>) {
        let (r, e) = {
            let mut st = self.lock();
            st.closed = true;
            st.exception = exc;
            (st.read_waker.take(), st.event_waker.take())
        };
        wake(r);
        wake(e);
        // Drop the transport: the driver holds this protocol until it finishes, and the
        // transport is not needed after the last callback.
        self.transport = None;
    }

    fn msg_received(&mut self, msg: Multipart) {
        let waker = {
            let mut st = self.lock();
            st.push(msg);
            if let Some(t) = &self.transport {
                st.apply_backpressure(t);
            }
            st.read_waker.take()
        };
        wake(waker);
    }

    fn event_received(&mut self, event: SocketEvent) {
        let waker = {
            let mut st = self.lock();
            if let Some(bound) = st.backlog {
                while st.events.len() >= bound && !st.events.is_empty() {
                    st.events.pop_front();
                    st.dropped_events += 1;
                }
                if bound == 0 {
                    st.dropped_events += 1;
                    return;
                }
            }
            st.events.push_back(event);
            st.event_waker.take()
        };
        wake(waker);
    }
}

/// A socket as an async reader and writer, as in aiozmq's `ZmqStream`; also a
/// [`futures::Stream`] of messages and a [`futures::Sink`] of messages.
///
/// Incoming messages are queued for [`read`](Self::read) (or the `Stream`); while what waits
/// weighs more than the read high watermark (bytes plus 32 per frame, so empty messages
/// count too), reading from the socket pauses, so a slow reader pushes back on the peer
/// through libzmq's HWM instead of growing memory. This pause is the stream's own:
/// `stream.transport().pause_reading()` / `resume_reading()` are a separate pause, and the
/// socket is read only while neither is set. Writes go through the
/// transport's write queue.
///
/// Dropping the stream closes it: queued writes are still flushed, for as long as the socket's
/// LINGER allows (see `ZmqTransport::close`).
///
/// # Example
///
/// ```
/// # mod doc { include!("doctest_support.rs"); }
/// # doc::run(async {
/// # let (server, client) = doc::pair(zmq::ROUTER, zmq::DEALER).await;
/// use futures::{SinkExt, StreamExt};
///
/// let (mut server, mut client) = (server, client);   // a ROUTER and a DEALER, connected
/// client.write(["request"])?;
/// let request = server.read().await?;                // [identity, "request"]
/// server.write([request[0].clone(), "answer".into()])?;
/// let answer = client.next().await.unwrap()?;        // the Stream API
/// assert_eq!(&answer[0][..], b"answer");
/// client.send(["bye"].into()).await?;                 // the Sink API
/// # Ok::<(), zmqio_core::Error>(())
/// # });
/// ```
pub struct ZmqStream {
    transport: ZmqTransport,
    state: Arc<Mutex<ReadState>>,
}

impl ZmqStream {
    fn lock(&self) -> MutexGuard<'_, ReadState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The transport underneath, for bind/connect/options/subscriptions/monitor.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let s = doc::stream(zmq::DEALER).await;
    /// let ep = s.transport().bind("tcp://127.0.0.1:*").await?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn transport(&self) -> &ZmqTransport {
        &self.transport
    }

    /// The endpoint the stream is bound to, resolved; see
    /// [`ZmqTransport::bound_endpoint`].
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::StreamBuilder;
    ///
    /// // With an adapter: `create_zmq_stream(zmq::PULL).bind("tcp://127.0.0.1:*").await?`.
    /// let s = StreamBuilder::new(doc::rt(), zmq::PULL)
    ///     .bind("tcp://127.0.0.1:*")
    ///     .await?;
    /// let endpoint = s.bound_endpoint().expect("bound by the builder");
    /// assert!(!endpoint.ends_with('*')); // the real port, to give to connect
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn bound_endpoint(&self) -> Option<String> {
        self.transport.bound_endpoint()
    }

    /// Reads the next message.
    ///
    /// Messages already queued are returned even after the stream closed; then a fatal error
    /// is returned once (if the transport was lost with one), then `Err(Closed)`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a message is taken from the queue only by the poll that returns it, so
    /// dropping a pending `read()` (e.g. in `select!` or a timeout) never loses one.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let (mut s, peer) = doc::pair(zmq::PULL, zmq::PUSH).await;
    /// # peer.write(["hello"])?;
    /// let msg = s.read().await?;
    /// println!("{} frames", msg.len());
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub async fn read(&mut self) -> Result<Multipart> {
        poll_fn(|cx| self.poll_read(cx)).await
    }

    fn poll_read(&self, cx: &mut Context<'_>) -> Poll<Result<Multipart>> {
        let mut st = self.lock();
        if let Some(msg) = st.pop() {
            st.apply_backpressure(&self.transport);
            return Poll::Ready(Ok(msg));
        }
        st.end_or_wait(cx).map(Err)
    }

    /// Reads up to `limit` messages at once: waits until at least one is queued, then moves
    /// up to `limit` of the queued ones, oldest first, to the end of `buf` and returns how
    /// many. `limit == 0` returns `Ok(0)` at once.
    ///
    /// The same messages in the same order as that many [`read`](Self::read)s, for one lock
    /// and one read-watermark check per call instead of one per message: for a consumer
    /// that keeps up with a fast producer, the cheaper way to read. It never waits for more
    /// messages than are already queued, so it adds no latency. The read watermarks count
    /// only what is still queued: messages in `buf` are the caller's.
    ///
    /// After close, like `read`: the queued messages, then the fatal error once (if the
    /// transport was lost with one), then `Err(Closed)`; `buf` is left as it was on an
    /// `Err`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like `read`: messages are moved to `buf` only by the poll that returns
    /// their count.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let (mut s, peer) = doc::pair(zmq::PULL, zmq::PUSH).await;
    /// # for i in 0..3u8 { peer.write([vec![i]])?; }
    /// let mut batch = Vec::with_capacity(64);
    /// let mut total = 0;
    /// while total < 3 {
    ///     total += s.read_many(&mut batch, 64).await?;
    /// }
    /// for msg in batch.drain(..) {
    ///     println!("{} frames", msg.len());
    /// }
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub async fn read_many(&mut self, buf: &mut Vec<Multipart>, limit: usize) -> Result<usize> {
        if limit == 0 {
            return Ok(0);
        }
        poll_fn(|cx| self.poll_read_many(cx, buf, limit)).await
    }

    fn poll_read_many(
        &self,
        cx: &mut Context<'_>,
        buf: &mut Vec<Multipart>,
        limit: usize,
    ) -> Poll<Result<usize>> {
        let mut st = self.lock();
        buf.reserve(st.messages.len().min(limit));
        let mut n = 0;
        while n < limit {
            let Some(msg) = st.pop() else { break };
            buf.push(msg);
            n += 1;
        }
        if n == 0 {
            return st.end_or_wait(cx).map(Err);
        }
        st.apply_backpressure(&self.transport);
        Poll::Ready(Ok(n))
    }

    /// Reads the next socket monitor event (enable the monitor with
    /// `stream.transport().enable_monitor(..)`). At most `events_backlog` events are kept;
    /// older ones are dropped (see [`dropped_events`](Self::dropped_events)).
    ///
    /// Cancel safe, like [`read`](Self::read). After close: queued events, then the fatal
    /// error once if there was one, then `Err(Closed)`. Events that reached the backlog
    /// before `disable_monitor()` stay readable: they had been delivered to the stream.
    ///
    /// # Caveats
    ///
    /// Without `enable_monitor`, this waits until the stream closes.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let mut s = doc::stream(zmq::DEALER).await;
    /// # s.transport().enable_monitor(None).await?;
    /// # s.transport().bind("tcp://127.0.0.1:*").await?;
    /// let ev = s.read_event().await?;
    /// println!("{:?} on {}", ev.event, ev.endpoint);
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub async fn read_event(&mut self) -> Result<SocketEvent> {
        poll_fn(|cx| {
            let mut st = self.lock();
            if let Some(ev) = st.events.pop_front() {
                return Poll::Ready(Ok(ev));
            }
            if st.closed {
                let ReadState {
                    exception,
                    exception_event_read,
                    ..
                } = &mut *st;
                return Poll::Ready(Err(end_error(exception, exception_event_read)));
            }
            st.event_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// How many monitor events were dropped because the backlog was full.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let s = doc::stream(zmq::DEALER).await;
    /// assert_eq!(s.dropped_events(), 0);
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn dropped_events(&self) -> u64 {
        self.lock().dropped_events
    }

    /// Writes a message (see `ZmqTransport::write`).
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let s = doc::stream(zmq::DEALER).await;
    /// s.write(["hello", "world"])?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn write(&self, msg: impl Into<Multipart>) -> Result<()> {
        self.transport.write(msg)
    }

    /// Writes the messages of `msgs` in order under one lock (see
    /// `ZmqTransport::write_many`): on `Ok` `msgs` is empty; on an error the ones after the
    /// message that failed stay in it.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let s = doc::stream(zmq::DEALER).await;
    /// let mut batch = vec!["one".into(), "two".into()];
    /// s.write_many(&mut batch)?;
    /// assert!(batch.is_empty());
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn write_many(&self, msgs: &mut Vec<Multipart>) -> Result<()> {
        self.transport.write_many(msgs)
    }

    /// Waits until the write queue's weight is at most the low watermark; `Err` once closed
    /// or lost
    /// (with the fatal error, if there was one).
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let s = doc::stream(zmq::DEALER).await;
    /// s.write(["x"])?;
    /// s.drain().await?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub async fn drain(&self) -> Result<()> {
        self.transport.drain().await
    }

    /// Closes the stream: queued writes are flushed, for as long as the socket's LINGER allows
    /// (`-1`, the default: until they are; `0`: not at all; `n`: at most `n` ms; see
    /// `ZmqTransport::close` and `dropped_on_close`), queued reads stay readable.
    ///
    /// Queued reads are everything zmqio took out of libzmq before this call, including
    /// messages the driver received and had not yet handed to the stream: [`read`](Self::read)
    /// returns them all, in order, then `Err(Closed)`. Messages still inside libzmq are
    /// dropped with the socket. Never blocks.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let s = doc::stream(zmq::DEALER).await;
    /// s.close();
    /// assert!(s.at_closing());
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn close(&self) {
        self.transport.close();
    }

    /// Whether the stream is closing or closed.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let s = doc::stream(zmq::DEALER).await;
    /// # (|| {
    /// if s.at_closing() { return; }
    /// # })();
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn at_closing(&self) -> bool {
        self.transport.is_closing()
    }

    /// The fatal error the transport was lost with, if any.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let s = doc::stream(zmq::DEALER).await;
    /// if let Some(e) = s.exception() { eprintln!("lost: {e}"); }
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn exception(&self) -> Option<Error> {
        self.lock().exception.clone()
    }

    /// Bytes received and queued for [`read`](Self::read), not yet read.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let s = doc::stream(zmq::DEALER).await;
    /// let unread = s.get_read_buffer_size();
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn get_read_buffer_size(&self) -> usize {
        self.lock().bytes
    }

    /// The read watermarks as `(low, high)`.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let s = doc::stream(zmq::DEALER).await;
    /// assert_eq!(s.get_read_buffer_limits(), (16384, 65536));
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn get_read_buffer_limits(&self) -> (usize, usize) {
        let st = self.lock();
        (st.low, st.high)
    }

    /// Sets the read watermarks (same rules as the write ones) and applies them at once:
    /// raising them resumes a paused socket.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let s = doc::stream(zmq::DEALER).await;
    /// s.set_read_buffer_limits(Some(1 << 20), None)?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn set_read_buffer_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        let (low, high) = buffer_limits(high, low)?;
        let mut st = self.lock();
        st.low = low;
        st.high = high;
        st.apply_backpressure(&self.transport);
        Ok(())
    }
}

impl Stream for ZmqStream {
    type Item = Result<Multipart>;

    /// Cancel safe; ends (`None`) after the stream closed and every queued message (and the
    /// fatal error, if any) was returned.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.poll_read(cx) {
            Poll::Ready(Err(Error::Closed)) => Poll::Ready(None),
            Poll::Ready(r) => Poll::Ready(Some(r)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Sink<Multipart> for ZmqStream {
    type Error = Error;

    /// Ready while the write queue's weight is at most the high watermark; `Err` once the
    /// stream is closing or lost (with the fatal error from the moment the transport is lost).
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.transport.poll_queue_at_most(cx, QueueBound::High)
    }

    fn start_send(self: Pin<&mut Self>, item: Multipart) -> Result<()> {
        self.transport.write(item)
    }

    /// Ready once the write queue holds no message (every message handed to libzmq; a queued
    /// empty message counts); `Err` once the stream is closing or lost, as
    /// [`poll_ready`](Self::poll_ready).
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.transport.poll_queue_at_most(cx, QueueBound::Empty)
    }

    /// Closes the stream and waits until the queue is flushed and the socket closed.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.transport.close();
        match self.transport.poll_closed(cx) {
            Poll::Ready(None) => Poll::Ready(Ok(())),
            Poll::Ready(Some(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for ZmqStream {
    fn drop(&mut self) {
        self.transport.close();
    }
}

impl std::fmt::Debug for ZmqStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("ZmqStream")
            .field("transport", &self.transport)
            .field("queued_messages", &st.messages.len())
            .field("queued_bytes", &st.bytes)
            .field("queued_weight", &st.weight)
            .field("read_limits", &(st.low, st.high))
            .field("paused", &st.paused)
            .field("closed", &st.closed)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::FRAME_OVERHEAD;

    fn run_of(n: usize, first: u32) -> VecDeque<EngineEvent> {
        (first..first + n as u32)
            .map(|i| EngineEvent::Message(Multipart::from(i.to_be_bytes().to_vec())))
            .collect()
    }

    fn number(msg: &Multipart) -> u32 {
        u32::from_be_bytes(msg[0][..].try_into().expect("four bytes"))
    }

    /// Runs are queued in order whether they are swapped into an empty queue or appended to
    /// a non-empty one, with bytes and weight counted for each message (an empty message
    /// weighs one frame's overhead); a large queue is not handed back to the driver.
    #[test]
    fn runs_are_queued_whole_in_order_and_counted() {
        let mut st = ReadState::new(0, usize::MAX, None);
        // A reader that fell behind: one large run, swapped in.
        let mut run = run_of(3000, 0);
        st.push_run(&mut run);
        assert!(run.is_empty());
        assert_eq!(
            (st.bytes, st.weight),
            (3000 * 4, 3000 * (4 + FRAME_OVERHEAD))
        );
        // Appended behind it, with an empty message.
        let mut more = run_of(2, 3000);
        more.push_back(EngineEvent::Message(Multipart::from(Vec::<u8>::new())));
        st.push_run(&mut more);
        assert!(more.is_empty());
        assert_eq!(st.weight, 3002 * (4 + FRAME_OVERHEAD) + FRAME_OVERHEAD);
        for i in 0..3002 {
            assert_eq!(st.pop().map(|m| number(&m)), Some(i));
        }
        assert_eq!(st.pop().map(|m| m[0].len()), Some(0));
        assert!(st.pop().is_none());
        assert_eq!((st.bytes, st.weight), (0, 0));
        // The next run is swapped in; the large queue it replaces is not handed back.
        let mut next = run_of(1, 7);
        st.push_run(&mut next);
        assert!(next.is_empty());
        assert!(next.capacity() <= RUN_QUEUE_KEPT, "{}", next.capacity());
        assert_eq!(st.pop().map(|m| number(&m)), Some(7));
    }
}
