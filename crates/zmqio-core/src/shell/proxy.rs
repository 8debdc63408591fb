//! An asynchronous proxy between two streams, like libzmq's `zmq_proxy_steerable`.
//!
//! [`Proxy`] forwards every message that arrives on its frontend to its backend and every
//! message that arrives on its backend to its frontend, whole (all frames, routing envelopes
//! included), and, with a capture stream, sends a copy of each to it. A [`ProxyHandle`]
//! pauses, resumes and terminates it from anywhere, as `zmq_proxy_steerable`'s control
//! socket does with `PAUSE`, `RESUME` and `TERMINATE`.
//!
//! The usual pairs: ROUTER frontend and DEALER backend (a request/reply broker), XSUB
//! frontend and XPUB backend (a pub/sub forwarder: subscriptions flow back through it),
//! PULL and PUSH (a pipeline streamer).
//!
//! # Backpressure
//!
//! Nothing in the proxy grows without bound. It takes a message from one side only while
//! the other side's write queue (and the capture's) is at most its high watermark. A side
//! that cannot keep up therefore stops the proxy reading from the other: the other stream's
//! read buffer fills up to its read high watermark, then that stream stops reading its
//! socket, and libzmq's HWM holds back the peers, exactly as a slow reader would.
//!
//! # Unroutable messages
//!
//! A message the other side cannot route (a ROUTER with `RouterMandatory`, and a reply for
//! a routing id no peer has any more: a client that left) is about that message only: it is
//! dropped and counted in that side's `transport().dropped_unroutable()`, whether libzmq
//! refused it at once or after it waited in the write queue, and the proxy goes on. (libzmq's
//! `zmq_proxy` ends on it instead; without `RouterMandatory` a ROUTER drops it silently.)
//!
//! # Example
//!
//! A streamer: producers push jobs to the frontend, workers pull them from the backend.
//!
//! ```
//! # mod doc { include!("doctest_support.rs"); }
//! # doc::run(async {
//! use zmqio_core::proxy::Proxy;
//! use zmqio_core::StreamBuilder;
//!
//! // With an adapter: `create_zmq_stream(zmq::PULL).bind(..)`, and the proxy's `run()`
//! // spawned on the runtime.
//! let frontend = StreamBuilder::new(doc::rt(), zmq::PULL).bind("inproc://jobs-in").await?;
//! let backend = StreamBuilder::new(doc::rt(), zmq::PUSH).bind("inproc://jobs-out").await?;
//! let proxy = Proxy::new(frontend, backend);
//! let handle = proxy.handle();
//!
//! let producer = StreamBuilder::new(doc::rt(), zmq::PUSH).connect("inproc://jobs-in").await?;
//! let mut worker = StreamBuilder::new(doc::rt(), zmq::PULL).connect("inproc://jobs-out").await?;
//! let work = async {
//!     producer.write("job 1")?;
//!     let job = worker.read().await?;
//!     handle.terminate(); // run() returns Ok(())
//!     Ok::<_, zmqio_core::Error>(job)
//! };
//! let (ran, job) = futures::join!(proxy.run(), work);
//! ran?;
//! assert_eq!(&job?[0][..], b"job 1");
//! assert_eq!(handle.forwarded(), (1, 0));
//! # Ok::<(), zmqio_core::Error>(())
//! # });
//! ```

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures::{Sink, Stream};

use crate::{Error, Result, ZmqStream};

/// Messages forwarded in one direction per poll before the proxy yields to other tasks.
const BUDGET: usize = 256;

/// Forwards messages between a frontend and a backend stream, with an optional capture;
/// see the [module docs](self) for a streamer that forwards a message.
///
/// ```
/// # mod doc { include!("doctest_support.rs"); }
/// # doc::run(async {
/// use zmqio_core::proxy::Proxy;
///
/// // A pub/sub forwarder: publishers connect to the XSUB, subscribers to the XPUB.
/// let proxy = Proxy::new(doc::stream(zmq::XSUB).await, doc::stream(zmq::XPUB).await);
/// let handle = proxy.handle();
/// handle.terminate(); // from anywhere, e.g. a signal handler
/// proxy.run().await?;
/// # Ok::<(), zmqio_core::Error>(())
/// # });
/// ```
pub struct Proxy {
    frontend: ZmqStream,
    backend: ZmqStream,
    capture: Option<ZmqStream>,
    control: Arc<Control>,
}

/// Steers a running [`Proxy`]: pause, resume, terminate. Cheap to clone; `Send + Sync`.
///
/// ```
/// # mod doc { include!("doctest_support.rs"); }
/// # doc::run(async {
/// use zmqio_core::proxy::Proxy;
///
/// let proxy = Proxy::new(doc::stream(zmq::PULL).await, doc::stream(zmq::PUSH).await);
/// let handle = proxy.handle();
/// std::thread::spawn(move || handle.terminate()); // Send: steer it from another thread
/// proxy.run().await?; // returns once terminated
/// # Ok::<(), zmqio_core::Error>(())
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct ProxyHandle {
    control: Arc<Control>,
}

/// What a [`ProxyHandle`] asks of the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Run,
    Pause,
    Terminate,
}

#[derive(Debug)]
struct Control {
    state: Mutex<ControlState>,
    /// Messages forwarded: frontend to backend, backend to frontend. Each is counted before
    /// it is handed to the other side, so whoever received a forwarded message (through
    /// libzmq, which orders the two) sees it counted.
    forwarded: [AtomicU64; 2],
}

#[derive(Debug)]
struct ControlState {
    command: Command,
    /// The proxy's task, woken on every command.
    waker: Option<Waker>,
}

impl Control {
    fn lock(&self) -> std::sync::MutexGuard<'_, ControlState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn command(&self, command: Command) {
        let waker = {
            let mut st = self.lock();
            if st.command == Command::Terminate {
                return;
            }
            st.command = command;
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Proxy {
    /// A proxy between `frontend` and `backend` (not running until [`run`](Self::run)).
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::proxy::Proxy;
    ///
    /// // A broker: clients connect to the ROUTER, workers to the DEALER.
    /// let proxy = Proxy::new(doc::stream(zmq::ROUTER).await, doc::stream(zmq::DEALER).await);
    /// proxy.handle().terminate();
    /// proxy.run().await?; // returns at once: terminated
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn new(frontend: ZmqStream, backend: ZmqStream) -> Self {
        Self {
            frontend,
            backend,
            capture: None,
            control: Arc::new(Control {
                state: Mutex::new(ControlState {
                    command: Command::Run,
                    waker: None,
                }),
                forwarded: [AtomicU64::new(0), AtomicU64::new(0)],
            }),
        }
    }

    /// Sends a copy of every forwarded message, in both directions, to `capture` (a PUB,
    /// PUSH, PAIR or DEALER stream, say). The capture's write queue takes part in the
    /// backpressure: while it is above its high watermark, nothing is forwarded. A capture
    /// that fails ends [`run`](Self::run) with its error, after the message it was copying
    /// has gone to the other side (an unroutable one only counted, as always): the proxy
    /// loses no message it took.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::proxy::Proxy;
    ///
    /// let capture = doc::stream(zmq::PUB).await; // bind it where a monitoring tool subscribes
    /// let proxy = Proxy::new(doc::stream(zmq::XSUB).await, doc::stream(zmq::XPUB).await)
    ///     .capture(capture);
    /// proxy.handle().terminate();
    /// proxy.run().await?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn capture(mut self, capture: ZmqStream) -> Self {
        self.capture = Some(capture);
        self
    }

    /// A handle to pause, resume or terminate the proxy, before or while it runs.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::proxy::Proxy;
    ///
    /// let proxy = Proxy::new(doc::stream(zmq::ROUTER).await, doc::stream(zmq::DEALER).await);
    /// let handle = proxy.handle();
    /// let steering = handle.clone(); // handles are cheap to clone, Send and Sync
    /// steering.pause();
    /// handle.terminate();
    /// proxy.run().await?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn handle(&self) -> ProxyHandle {
        ProxyHandle {
            control: self.control.clone(),
        }
    }

    /// Runs the proxy until it is terminated (`Ok`) or a stream fails or closes (`Err`, with
    /// the stream's error, or [`Error::Closed`]). The streams are closed when it returns
    /// (queued writes are still flushed).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops the proxy like `terminate` does; no message is lost in the
    /// proxy itself (one is taken from a stream only when the other side accepts it at once).
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::proxy::Proxy;
    ///
    /// let proxy = Proxy::new(doc::stream(zmq::ROUTER).await, doc::stream(zmq::DEALER).await);
    /// let handle = proxy.handle();
    /// handle.terminate();
    /// proxy.run().await?; // returns at once: terminated
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub async fn run(mut self) -> Result<()> {
        poll_fn(|cx| self.poll_run(cx)).await
    }

    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        {
            let mut st = self.control.lock();
            match st.command {
                Command::Terminate => return Poll::Ready(Ok(())),
                Command::Pause => {
                    st.waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                Command::Run => st.waker = Some(cx.waker().clone()),
            }
        }
        let Self {
            frontend,
            backend,
            capture,
            control,
        } = self;
        let [to_backend, to_frontend] = &control.forwarded;
        let forward = pass(frontend, backend, capture.as_mut(), to_backend, cx)?;
        let back = pass(backend, frontend, capture.as_mut(), to_frontend, cx)?;
        if forward.budget_spent || back.budget_spent {
            // More may be waiting: come back after other tasks had a turn.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

/// How one direction's pass went.
struct Pass {
    budget_spent: bool,
}

/// Moves messages from `from` to `to` (and copies them to `capture`) while `to` and
/// `capture` are ready (write queue at most the high watermark) and `from` has some, up to
/// the budget, counting each in `forwarded` before it is handed to `to`. Registers `cx` with
/// whichever side it stopped on.
fn pass(
    from: &mut ZmqStream,
    to: &mut ZmqStream,
    mut capture: Option<&mut ZmqStream>,
    forwarded: &AtomicU64,
    cx: &mut Context<'_>,
) -> Result<Pass> {
    for _ in 0..BUDGET {
        match Pin::new(&mut *to).poll_ready(cx) {
            Poll::Ready(r) => r?,
            Poll::Pending => {
                return Ok(Pass {
                    budget_spent: false,
                })
            }
        }
        if let Some(c) = capture.as_deref_mut() {
            match Pin::new(c).poll_ready(cx) {
                Poll::Ready(r) => r?,
                Poll::Pending => {
                    return Ok(Pass {
                        budget_spent: false,
                    })
                }
            }
        }
        let msg = match Pin::new(&mut *from).poll_next(cx) {
            Poll::Ready(Some(r)) => r?,
            Poll::Ready(None) => return Err(Error::Closed),
            Poll::Pending => {
                return Ok(Pass {
                    budget_spent: false,
                })
            }
        };
        // The copy goes to the capture after `to` has the message: a capture that fails
        // then ends the proxy without taking the message down with it.
        let copy = capture.is_some().then(|| msg.clone());
        // The routing id, for the report of a message `to` cannot route: kept only where
        // there is a report to make and `to` routes by id (ROUTER, STREAM).
        #[cfg(feature = "tracing")]
        let routing_id = matches!(to.transport().socket_type(), zmq::ROUTER | zmq::STREAM)
            .then(|| msg.first().cloned())
            .flatten();
        #[cfg(not(feature = "tracing"))]
        let routing_id: Option<bytes::Bytes> = None;
        forwarded.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = Pin::new(&mut *to).start_send(msg) {
            forwarded.fetch_sub(1, Ordering::Relaxed);
            if e != Error::Zmq(zmq::Error::EHOSTUNREACH) {
                return Err(e);
            }
            // About this message only (a ROUTER with `RouterMandatory`, and a routing id no
            // peer has, e.g. a client that left): dropped and counted, as it would be had it
            // waited in the queue first; the proxy goes on.
            to.transport().note_unroutable(routing_id.as_ref());
        }
        if let (Some(c), Some(copy)) = (capture.as_deref_mut(), copy) {
            Pin::new(c).start_send(copy)?;
        }
    }
    Ok(Pass { budget_spent: true })
}

impl ProxyHandle {
    /// Stops forwarding until [`resume`](Self::resume); messages wait in the streams and
    /// sockets meanwhile (and hold the peers back through the watermarks). Like
    /// `zmq_proxy_steerable`'s `PAUSE`.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::proxy::Proxy;
    ///
    /// let proxy = Proxy::new(doc::stream(zmq::ROUTER).await, doc::stream(zmq::DEALER).await);
    /// let handle = proxy.handle();
    /// handle.pause();
    /// assert!(!handle.is_terminated());
    /// handle.terminate();
    /// proxy.run().await?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn pause(&self) {
        self.control.command(Command::Pause);
    }

    /// Forwards again after [`pause`](Self::pause). Like `RESUME`.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::proxy::Proxy;
    ///
    /// let proxy = Proxy::new(doc::stream(zmq::ROUTER).await, doc::stream(zmq::DEALER).await);
    /// let handle = proxy.handle();
    /// handle.pause();
    /// handle.resume();
    /// handle.terminate();
    /// proxy.run().await?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn resume(&self) {
        self.control.command(Command::Run);
    }

    /// Ends the proxy: its `run()` returns `Ok(())` at its next poll. Final: a terminated
    /// proxy does not resume. Like `TERMINATE`.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::proxy::Proxy;
    ///
    /// let proxy = Proxy::new(doc::stream(zmq::ROUTER).await, doc::stream(zmq::DEALER).await);
    /// let handle = proxy.handle();
    /// handle.terminate();
    /// assert!(handle.is_terminated());
    /// proxy.run().await?; // Ok: terminated, not failed
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn terminate(&self) {
        self.control.command(Command::Terminate);
    }

    /// Whether [`terminate`](Self::terminate) was called.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::proxy::Proxy;
    ///
    /// let proxy = Proxy::new(doc::stream(zmq::ROUTER).await, doc::stream(zmq::DEALER).await);
    /// let handle = proxy.handle();
    /// assert!(!handle.is_terminated());
    /// handle.terminate();
    /// assert!(handle.is_terminated());
    /// # proxy.run().await?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn is_terminated(&self) -> bool {
        self.control.lock().command == Command::Terminate
    }

    /// How many messages were forwarded so far: `(frontend to backend, backend to frontend)`.
    /// A message is counted before it is handed to the other side, so once a peer has
    /// received a forwarded message, this counts it.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::proxy::Proxy;
    ///
    /// let proxy = Proxy::new(doc::stream(zmq::ROUTER).await, doc::stream(zmq::DEALER).await);
    /// let handle = proxy.handle();
    /// let (requests, replies) = handle.forwarded();
    /// assert_eq!((requests, replies), (0, 0));
    /// handle.terminate();
    /// proxy.run().await?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn forwarded(&self) -> (u64, u64) {
        let [to_backend, to_frontend] = &self.control.forwarded;
        (
            to_backend.load(Ordering::Relaxed),
            to_frontend.load(Ordering::Relaxed),
        )
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("frontend", &self.frontend)
            .field("backend", &self.backend)
            .field("capture", &self.capture)
            .field("control", &self.control)
            .finish()
    }
}
