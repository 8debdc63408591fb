//! The socket monitor of a [`ZmqTransport`]: `enable_monitor` / `disable_monitor`, and the
//! state the driver runs it with.
//!
//! # How it works
//!
//! `enable_monitor` makes an inproc PAIR socket in the watched socket's context, connects it
//! to a fresh `inproc://` endpoint, and only then lets `zmq_socket_monitor` bind that
//! endpoint, so not even the first event can be published before anyone listens. The PAIR's
//! `ZMQ_FD` is registered with the transport's runtime, and the transport's driver runs it by
//! the same `ZMQ_FD` rules as the socket itself (see
//! [`MonitorReader`](crate::engine::MonitorReader)): each decoded event is queued on the
//! engine and reaches the protocol's `event_received` like any other callback.
//!
//! Stopping (by `disable_monitor`, or because the transport closes, aborts or fails) calls
//! `zmq_socket_monitor(socket, NULL, 0)`, drops the events not delivered yet, deregisters
//! the PAIR's fd, then closes the PAIR (rule 9).

use std::future::poll_fn;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::thread::{self, ThreadId};

use crate::engine::{retry, Engine, Lifecycle, MonitorReader, Step, ZmqBackend};
use crate::runtime::{Readiness, Runtime};
use crate::{default_context, Error, MonitorEvent, MonitorEvents, Result, ZmqTransport};

impl ZmqTransport {
    /// Starts the socket monitor: from now on, the socket's monitor events (those in
    /// `events`) arrive as [`SocketEvent`](crate::SocketEvent)s at the protocol's
    /// [`event_received`](crate::ZmqProtocol::event_received).
    ///
    /// `None`, or an empty mask, means every event. Enabling a transport that already has a
    /// monitor keeps the first one, mask and all, and returns `Ok`. Events keep arriving
    /// while reading is paused. The monitor ends with [`disable_monitor`](Self::disable_monitor),
    /// or when the transport closes, aborts or is lost; nothing of it outlives the transport.
    ///
    /// Enable the monitor before `bind` or `connect` to see the events they cause (e.g.
    /// `Listening`): events that happened before this call are not reported.
    /// [`MonitorEvent::MonitorStopped`] is never reported: a monitor stops only when it is
    /// disabled or the transport ends, and no event is delivered after that. A monitor
    /// message libzmq should never send (not two frames, a head that is not 6 bytes, an
    /// endpoint that is not UTF-8) is skipped; the transport carries on.
    ///
    /// # Errors
    ///
    /// - `Closed` once the transport is closing or closed.
    /// - `InvalidArgument` when the socket is not in the context zmqio believes it is in: a
    ///   socket wrapped with the builder's `zmq_sock` is assumed to be in
    ///   [`default_context`] unless its context was given with `context()`.
    /// - `Zmq` / `Io` when libzmq cannot make the monitor or the runtime cannot register
    ///   its descriptor (for example zmqio-tokio's, awaited on a thread outside any tokio
    ///   runtime). Nothing is left behind then: libzmq's monitor is stopped, the PAIR
    ///   closed, and the transport carries on as before.
    ///
    /// # Caveats
    ///
    /// Await it on the transport's runtime (it registers a descriptor with that runtime's
    /// reactor). libzmq reports an event's endpoint as it knows it: a `tcp://` endpoint
    /// connected as given, a bound one with its real port.
    ///
    /// # Example
    ///
    /// A DEALER watching its connection to a ROUTER. With an adapter crate, write
    /// `zmqio_tokio::create_zmq_connection(..)` instead of `ConnectionBuilder::new(rt, ..)`;
    /// the runtime `rt` here is the one-thread-per-task executor of the
    /// [`runtime`](crate::runtime) docs.
    ///
    /// ```
    /// # use std::future::Future;
    /// # use std::pin::Pin;
    /// # use std::sync::Arc;
    /// # use std::task::{Context, Poll};
    /// # use zmqio_core::runtime::{Readiness, Runtime, ZmqFd};
    /// # struct ThreadPerTask;
    /// # struct Ready(async_io::Async<ZmqFd>);
    /// # impl Readiness for Ready {
    /// #     fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
    /// #         self.0.poll_readable(cx)
    /// #     }
    /// # }
    /// # // SAFETY: the `Async` only polls the fd and deregisters it, unclosed, when dropped.
    /// # unsafe impl Runtime for ThreadPerTask {
    /// #     fn register(&self, fd: ZmqFd) -> std::io::Result<Box<dyn Readiness>> {
    /// #         Ok(Box::new(Ready(async_io::Async::new_nonblocking(fd)?)))
    /// #     }
    /// #     fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
    /// #         std::thread::spawn(move || async_io::block_on(future));
    /// #     }
    /// #     fn sleep(&self, d: std::time::Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    /// #         Box::pin(async move { async_io::Timer::after(d).await; })
    /// #     }
    /// # }
    /// use futures::channel::mpsc;
    /// use futures::StreamExt;
    /// use zmqio_core::{ConnectionBuilder, MonitorEvent, SocketEvent, ZmqProtocol};
    ///
    /// /// Forwards every monitor event to a channel.
    /// struct Watch(mpsc::UnboundedSender<SocketEvent>);
    ///
    /// impl ZmqProtocol for Watch {
    ///     fn event_received(&mut self, event: SocketEvent) {
    ///         let _ = self.0.unbounded_send(event);
    ///     }
    /// }
    ///
    /// struct Quiet;
    /// impl ZmqProtocol for Quiet {}
    ///
    /// # let rt: Arc<dyn Runtime> = Arc::new(ThreadPerTask);
    /// # async_io::block_on(async {
    /// let (server, _) = ConnectionBuilder::new(rt.clone(), || Quiet, zmq::ROUTER)
    ///     .bind("tcp://127.0.0.1:*")
    ///     .await?;
    /// let endpoint = server.bindings().into_iter().next().unwrap();
    ///
    /// let (tx, mut events) = mpsc::unbounded();
    /// let (client, _) = ConnectionBuilder::new(rt, move || Watch(tx), zmq::DEALER).await?;
    /// client
    ///     .enable_monitor(Some(MonitorEvent::Connected | MonitorEvent::HandshakeSucceeded))
    ///     .await?;
    /// client.connect(&endpoint).await?;
    ///
    /// let connected = events.next().await.unwrap();
    /// assert_eq!(connected.event, MonitorEvent::Connected);
    /// assert_eq!(connected.endpoint, endpoint); // the value is the connection's descriptor
    /// let handshake = events.next().await.unwrap();
    /// assert_eq!(handshake.event, MonitorEvent::HandshakeSucceeded);
    ///
    /// client.disable_monitor().await?; // no event arrives after this
    /// client.close();
    /// server.close();
    /// client.wait_closed().await;
    /// server.wait_closed().await;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # })
    /// # .unwrap();
    /// ```
    pub async fn enable_monitor(&self, events: Option<MonitorEvents>) -> Result<()> {
        let mask = zmq_mask(events);
        let shared = self.shared();
        let result = {
            let mut guard = shared.lock();
            let st = &mut *guard;
            if st.monitor.active.is_some() {
                Ok(())
            } else if st.engine.lifecycle() != Lifecycle::Open {
                Err(Error::Closed)
            } else {
                match st.engine.backend_mut() {
                    Some(backend) => ActiveMonitor::start(backend, mask, &**shared.runtime())
                        .map(|monitor| st.monitor.active = Some(monitor)),
                    None => Err(Error::Closed),
                }
            }
        };
        // Rules 5 and 6: the driver must look at the fresh PAIR before waiting on its fd, and
        // `zmq_socket_monitor` may have consumed an edge of the socket's own fd.
        shared.wake_driver();
        result
    }

    /// Stops the socket monitor: no [`SocketEvent`](crate::SocketEvent) reaches the protocol
    /// after this returns, not even one already received from libzmq. A no-op when no
    /// monitor runs (including after close).
    ///
    /// If an event is being delivered on another thread right now, this waits until that
    /// callback returns. Called from inside a callback of this transport (e.g. by blocking
    /// on it in `event_received`), it does not wait for that callback.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for runtimes whose deregistration can fail.
    ///
    /// # Example
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// t.enable_monitor(None).await?;
    /// t.connect("tcp://127.0.0.1:5555").await?;
    /// t.disable_monitor().await?;
    /// t.disable_monitor().await?; // already off: nothing happens
    /// t.enable_monitor(None).await?; // a new monitor
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub async fn disable_monitor(&self) -> Result<()> {
        let shared = self.shared();
        let in_flight = {
            let mut guard = shared.lock();
            let st = &mut *guard;
            let was_active = st.monitor.stop(&mut st.engine);
            if was_active {
                // Rule 6: `zmq_socket_monitor` touched the socket.
                shared.wake_driver();
            }
            st.monitor.delivery_elsewhere()
        };
        if let Some(delivery) = in_flight {
            poll_fn(|cx| shared.lock().monitor.poll_delivered(delivery, cx)).await;
        }
        Ok(())
    }
}

/// The monitor part of a transport's shared state (behind the same lock as the engine).
#[derive(Default)]
pub(crate) struct MonitorSlot {
    active: Option<ActiveMonitor>,
    /// The socket event being delivered to the protocol right now: the delivering thread and
    /// the delivery's number.
    delivering: Option<(ThreadId, u64)>,
    deliveries: u64,
    /// `disable_monitor` calls waiting for that delivery to end.
    waiters: Vec<Waker>,
}

impl MonitorSlot {
    /// Drains the PAIR into `engine` (see [`MonitorReader::handle_readiness`]) and stops the
    /// monitor once it is finished (the engine is no longer open, or the PAIR failed).
    /// Returns whether to call again without waiting (the budget ran out).
    pub(crate) fn run(&mut self, engine: &mut Engine<ZmqBackend>, budget: usize) -> bool {
        let Some(active) = self.active.as_mut() else {
            return false;
        };
        match active.reader.handle_readiness(budget, engine) {
            // The monitor only receives; it is never blocked on a send.
            Step::Idle | Step::Blocked => false,
            Step::Again => true,
            Step::Closed => {
                self.stop(engine);
                false
            }
        }
    }

    /// Polls the PAIR's fd; `Pending` (forever) when no monitor runs. Call only after
    /// [`run`](Self::run) returned `false` and nothing touched the PAIR since.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.active.as_mut() {
            Some(active) => active.readiness.poll_read_ready(cx),
            None => Poll::Pending,
        }
    }

    /// Stops the monitor, if one runs: stops libzmq's side, drops the socket events not
    /// delivered yet, deregisters the PAIR's fd, closes the PAIR. Returns whether one ran.
    pub(crate) fn stop(&mut self, engine: &mut Engine<ZmqBackend>) -> bool {
        let Some(active) = self.active.take() else {
            return false;
        };
        if let Some(backend) = engine.backend_mut() {
            // Fails only once the context is terminated, when libzmq stopped it already.
            let _ = backend.stop_monitor();
        }
        engine.discard_socket_events();
        active.close();
        true
    }

    /// Marks the start of a socket event's delivery on this thread; returns its number.
    pub(crate) fn begin_delivery(&mut self) -> u64 {
        let delivery = self.deliveries;
        self.deliveries += 1;
        self.delivering = Some((thread::current().id(), delivery));
        delivery
    }

    /// Marks the end of the delivery `delivery`, waking `disable_monitor` calls waiting for
    /// it.
    pub(crate) fn end_delivery(&mut self, delivery: u64) {
        if matches!(self.delivering, Some((_, d)) if d == delivery) {
            self.delivering = None;
        }
        for waker in self.waiters.drain(..) {
            waker.wake();
        }
    }

    /// The delivery in progress on another thread than this one, if any.
    fn delivery_elsewhere(&self) -> Option<u64> {
        match self.delivering {
            Some((tid, delivery)) if tid != thread::current().id() => Some(delivery),
            _ => None,
        }
    }

    /// `Ready` once the delivery `delivery` is over.
    fn poll_delivered(&mut self, delivery: u64, cx: &mut Context<'_>) -> Poll<()> {
        match self.delivering {
            Some((_, d)) if d == delivery => {
                if !self.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    self.waiters.push(cx.waker().clone());
                }
                Poll::Pending
            }
            _ => Poll::Ready(()),
        }
    }
}

/// A running monitor: the PAIR that receives libzmq's events and its registration.
struct ActiveMonitor {
    readiness: Box<dyn Readiness>,
    reader: MonitorReader<ZmqBackend>,
}

impl ActiveMonitor {
    /// Makes the PAIR, connects it, starts libzmq's monitor on `socket` and registers the
    /// PAIR's fd. On error nothing is left running.
    fn start(socket: &mut ZmqBackend, mask: i32, runtime: &dyn Runtime) -> Result<Self> {
        // A wrapped socket of unknown context is assumed to be in the default one.
        let ctx = socket.context().cloned().unwrap_or_else(default_context);
        check_context(socket, &ctx)?;
        let endpoint = next_endpoint();
        let pair = ctx.socket(zmq::PAIR)?;
        pair.set_linger(0)?;
        // No receive limit: libzmq's I/O threads publish events with a blocking send, so a
        // full pipe would stall them. The driver drains the PAIR even while reading is paused.
        pair.set_rcvhwm(0)?;
        // Connect before the bind: inproc allows it, and libzmq's blocking send must find a
        // peer for the very first event.
        retry(|| pair.connect(&endpoint))?;
        retry(|| socket.start_monitor(&endpoint, mask))?;
        let registered = pair
            .get_fd()
            .map_err(Error::from)
            .and_then(|fd| Ok(crate::runtime::register(runtime, fd)?));
        match registered {
            Ok(readiness) => Ok(Self {
                readiness,
                // The PAIR holds no context handle: the watched socket's backend does.
                reader: MonitorReader::new(ZmqBackend::with_context(pair, None)),
            }),
            Err(e) => {
                let _ = socket.stop_monitor();
                Err(e)
            }
        }
    }

    /// Deregisters the PAIR's fd, then closes the PAIR (rule 9).
    fn close(self) {
        let Self { readiness, reader } = self;
        drop(readiness);
        drop(reader.into_backend());
    }
}

/// The mask given to libzmq for `events`: every event for an empty mask, and never
/// `MONITOR_STOPPED`. That one is only sent when the monitor stops, and stopping drops the
/// events not delivered yet, so it could never reach the protocol; leaving it out also
/// spares libzmq a blocking send at every stop.
pub(crate) fn zmq_mask(events: Option<MonitorEvents>) -> i32 {
    let stopped = i32::from(MonitorEvent::MonitorStopped.code());
    events.unwrap_or_default().to_zmq_mask() & !stopped
}

/// Checks that `socket` is in `ctx`, where the PAIR will be made: if it is not, the PAIR
/// could never connect to the monitor, and libzmq would block on the first event it sends.
///
/// The check needs the socket's context, which libzmq does not tell, so it lets the socket
/// bind a monitor of *no* events (one that never sends, not even when stopped) and tries to
/// bind the same inproc endpoint in `ctx`: only the same context refuses it as in use.
fn check_context(socket: &mut ZmqBackend, ctx: &zmq::Context) -> Result<()> {
    if in_context(socket, ctx)? {
        Ok(())
    } else {
        Err(Error::invalid_argument(
            "cannot monitor: the socket is not in the context assumed for it; \
             give its context to the builder with `context()`",
        ))
    }
}

/// Whether `socket` is in `ctx` (the probe of [`check_context`]).
pub(crate) fn in_context(socket: &mut ZmqBackend, ctx: &zmq::Context) -> Result<bool> {
    let endpoint = next_endpoint();
    retry(|| socket.start_monitor(&endpoint, 0))?;
    let probe = ctx.socket(zmq::PAIR).and_then(|probe| {
        probe.set_linger(0)?;
        Ok(retry(|| probe.bind(&endpoint)))
    });
    let _ = socket.stop_monitor();
    match probe? {
        Err(zmq::Error::EADDRINUSE) => Ok(true),
        Ok(()) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A fresh inproc endpoint for a monitor.
fn next_endpoint() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "inproc://zmqio.monitor.{}.{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::AtomicBool;
    use std::sync::{mpsc, Arc};
    use std::time::Duration;

    use super::*;
    use crate::runtime::ZmqFd;
    use crate::{ConnectionBuilder, SocketEvent, ZmqProtocol};

    /// One thread per task, on async-io's reactor (as in the `runtime` module docs).
    struct ThreadPerTask;
    struct AsyncIoReadiness(async_io::Async<ZmqFd>);

    impl Readiness for AsyncIoReadiness {
        fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.0.poll_readable(cx)
        }
    }

    // SAFETY: the `ZmqFd` moves into the `Async`, which only polls it for readability and
    // deregisters it, without closing it, when the `AsyncIoReadiness` is dropped.
    #[allow(unsafe_code)]
    unsafe impl Runtime for ThreadPerTask {
        fn register(&self, fd: ZmqFd) -> io::Result<Box<dyn Readiness>> {
            Ok(Box::new(AsyncIoReadiness(
                async_io::Async::new_nonblocking(fd)?,
            )))
        }
        fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
            thread::spawn(move || async_io::block_on(future));
        }
        fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
            Box::pin(async move {
                async_io::Timer::after(d).await;
            })
        }
    }

    const WAIT: Duration = Duration::from_secs(20);

    /// [`ThreadPerTask`], except that every registration after the first panics.
    struct PanicsOnSecondRegister(std::sync::atomic::AtomicUsize);

    // SAFETY: registration is `ThreadPerTask`'s, which upholds the contract; a panicking
    // call keeps nothing of its `ZmqFd`.
    #[allow(unsafe_code)]
    unsafe impl Runtime for PanicsOnSecondRegister {
        fn register(&self, fd: ZmqFd) -> io::Result<Box<dyn Readiness>> {
            if self.0.fetch_add(1, Ordering::SeqCst) > 0 {
                panic!("no reactor here");
            }
            ThreadPerTask.register(fd)
        }
        fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
            ThreadPerTask.spawn(future);
        }
        fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
            ThreadPerTask.sleep(d)
        }
    }

    /// Bug: a `register` that panicked inside `enable_monitor` skipped the cleanup of the
    /// failed start, leaving libzmq's monitor running with its PAIR closed, so the next
    /// event (the bind's `Listening`) blocked the thread that caused it for good.
    #[test]
    fn a_panicking_register_fails_enable_monitor_and_leaves_no_monitor_behind() {
        async_io::block_on(async {
            let rt: Arc<dyn Runtime> = Arc::new(PanicsOnSecondRegister(
                std::sync::atomic::AtomicUsize::new(0),
            ));
            struct Quiet;
            impl ZmqProtocol for Quiet {}
            let (t, _) = ConnectionBuilder::new(rt, || Quiet, zmq::PULL)
                .await
                .unwrap();
            match t.enable_monitor(None).await {
                Err(Error::Io(e)) => assert!(e.to_string().contains("no reactor here"), "{e}"),
                other => panic!("expected an i/o error, got {other:?}"),
            }
            // Bound on another thread, so a stalled libzmq monitor fails the test instead
            // of hanging it.
            let (done, done_rx) = mpsc::channel();
            let t2 = t.clone();
            thread::spawn(move || {
                let _ = done.send(futures::executor::block_on(t2.bind("tcp://127.0.0.1:*")));
            });
            let bound = done_rx.recv_timeout(WAIT).expect("the bind is stuck");
            assert!(bound.unwrap().starts_with("tcp://127.0.0.1:"));
            t.close();
            assert_eq!(t.wait_closed().await, None);
        });
    }

    #[test]
    fn the_zmq_mask_never_asks_for_monitor_stopped() {
        assert_eq!(zmq_mask(None), 0xFBFF);
        assert_eq!(zmq_mask(Some(MonitorEvents::empty())), 0xFBFF);
        assert_eq!(zmq_mask(Some(MonitorEvents::ALL)), 0x7BFF);
        let mask = MonitorEvent::Connected | MonitorEvent::MonitorStopped;
        assert_eq!(zmq_mask(Some(mask)), 0x0001);
    }

    /// Signals when `event_received` starts, then takes its time.
    struct Slow {
        started: mpsc::Sender<()>,
        done: Arc<AtomicBool>,
    }

    impl ZmqProtocol for Slow {
        fn event_received(&mut self, _event: SocketEvent) {
            self.done.store(false, Ordering::SeqCst);
            let _ = self.started.send(());
            thread::sleep(Duration::from_millis(200));
            self.done.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn disable_waits_for_an_event_being_delivered_on_another_thread() {
        async_io::block_on(async {
            let rt: Arc<dyn Runtime> = Arc::new(ThreadPerTask);
            let (started, started_rx) = mpsc::channel();
            let done = Arc::new(AtomicBool::new(false));
            let protocol = Slow {
                started,
                done: done.clone(),
            };
            let (t, _) = ConnectionBuilder::new(rt, move || protocol, zmq::ROUTER)
                .await
                .unwrap();
            t.enable_monitor(Some(MonitorEvent::Listening.into()))
                .await
                .unwrap();
            t.bind("tcp://127.0.0.1:*").await.unwrap();
            // The driver's thread is now inside event_received.
            started_rx.recv_timeout(WAIT).unwrap();
            t.disable_monitor().await.unwrap();
            assert!(
                done.load(Ordering::SeqCst),
                "disable_monitor returned while an event was being delivered"
            );
            t.close();
            assert_eq!(t.wait_closed().await, None);
        });
    }

    /// Disables the monitor from inside `event_received`, blocking on it there.
    struct DisableInside {
        transport: Option<ZmqTransport>,
        events: mpsc::Sender<SocketEvent>,
    }

    impl ZmqProtocol for DisableInside {
        fn connection_made(&mut self, transport: &ZmqTransport) {
            self.transport = Some(transport.clone());
        }
        fn event_received(&mut self, event: SocketEvent) {
            let _ = self.events.send(event);
            if let Some(t) = &self.transport {
                futures::executor::block_on(t.disable_monitor()).unwrap();
            }
        }
    }

    #[test]
    fn disable_inside_event_received_does_not_wait_for_itself() {
        async_io::block_on(async {
            let rt: Arc<dyn Runtime> = Arc::new(ThreadPerTask);
            let (events, events_rx) = mpsc::channel();
            let protocol = DisableInside {
                transport: None,
                events,
            };
            let (t, _) = ConnectionBuilder::new(rt, move || protocol, zmq::ROUTER)
                .await
                .unwrap();
            t.enable_monitor(None).await.unwrap();
            // Two events at once; the first one's callback disables the monitor.
            t.bind("tcp://127.0.0.1:*").await.unwrap();
            t.bind("tcp://127.0.0.1:*").await.unwrap();
            let first = events_rx.recv_timeout(WAIT).unwrap();
            assert_eq!(first.event, MonitorEvent::Listening);
            t.close();
            assert_eq!(t.wait_closed().await, None);
            // The second Listening was dropped with the monitor.
            assert!(events_rx.try_recv().is_err());
        });
    }
}
