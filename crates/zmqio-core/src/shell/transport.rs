//! [`ZmqTransport`]: the handle to one asynchronous ZeroMQ socket.

use std::collections::BTreeSet;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::engine::{Backend, Lifecycle};
use crate::opt::{GetSocketOpt, OptKind, SetSocketOpt};
use crate::shell::driver::Shared;
use crate::{Error, Multipart, Result};

/// The handle to one asynchronous ZeroMQ socket, as in aiozmq's `ZmqTransport`.
///
/// Cheap to clone, `Send + Sync`: every clone drives the same socket. The socket itself is
/// run by a driver task on the runtime that created it; the methods here never block and
/// never wait for the network (the `async` ones only because a runtime may need to resolve
/// or register something in future versions; today they complete at once).
///
/// A transport lives until it is closed ([`close`](Self::close), [`abort`](Self::abort) or a
/// fatal error), even if every handle is dropped: like a socket in aiozmq, it belongs to the
/// event loop. Close it when done.
///
/// # Example
///
/// ```
/// # async fn example(transport: zmqio_core::ZmqTransport) -> zmqio_core::Result<()> {
/// use zmqio_core::opt;
///
/// transport.setsockopt(opt::Linger, 0)?;
/// let endpoint = transport.bind("tcp://127.0.0.1:*").await?;
/// assert!(transport.bindings().contains(&endpoint));
/// transport.write(["topic", "payload"])?;
/// transport.drain().await?;
/// transport.close();
/// assert_eq!(transport.wait_closed().await, None);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ZmqTransport {
    shared: Arc<Shared>,
}

impl ZmqTransport {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The socket's type.
    ///
    /// ```
    /// # fn f(t: &zmqio_core::ZmqTransport) {
    /// if t.socket_type() == zmq::SUB { /* ... */ }
    /// # }
    /// ```
    pub fn socket_type(&self) -> zmq::SocketType {
        self.shared.socket_type()
    }

    /// Runs `f` with the raw `zmq::Socket`, for anything zmqio does not wrap.
    ///
    /// Returns `Err(Closed)` once the socket is closed.
    ///
    /// # Caveats
    ///
    /// The transport is locked while `f` runs: `f` must not call methods of this transport.
    /// Sending or receiving through the raw socket bypasses the write queue and the protocol;
    /// the driver is woken afterwards so no readiness edge is lost.
    ///
    /// ```
    /// # fn f(t: &zmqio_core::ZmqTransport) -> zmqio_core::Result<()> {
    /// let hwm = t.with_zmq_socket(|s| s.get_sndhwm())??;
    /// # Ok(()) }
    /// ```
    pub fn with_zmq_socket<R>(&self, f: impl FnOnce(&zmq::Socket) -> R) -> Result<R> {
        let r = {
            let st = self.shared.lock();
            match st.engine.backend().and_then(|b| b.socket()) {
                Some(s) if st.engine.lifecycle() != Lifecycle::Closed => f(s),
                _ => return Err(Error::Closed),
            }
        };
        self.shared.wake_driver();
        Ok(r)
    }

    /// Reads a socket option; see [`opt`](crate::opt).
    ///
    /// ```
    /// # fn f(t: &zmqio_core::ZmqTransport) -> zmqio_core::Result<()> {
    /// use zmqio_core::opt;
    /// let linger: i32 = t.getsockopt(opt::Linger)?;
    /// # Ok(()) }
    /// ```
    pub fn getsockopt<O: GetSocketOpt>(&self, option: O) -> Result<O::Value> {
        self.with_zmq_socket(|s| option.get(s))?
    }

    /// Sets a socket option; see [`opt`](crate::opt). Setting `opt::Subscribe` or
    /// `opt::Unsubscribe` keeps [`subscriptions`](Self::subscriptions) in sync.
    ///
    /// ```
    /// # fn f(t: &zmqio_core::ZmqTransport) -> zmqio_core::Result<()> {
    /// use zmqio_core::opt;
    /// t.setsockopt(opt::SndHwm, 10_000)?;
    /// # Ok(()) }
    /// ```
    pub fn setsockopt<O: SetSocketOpt>(&self, option: O, value: O::Value) -> Result<()> {
        let change = match O::KIND {
            OptKind::Other => None,
            kind => O::as_bytes(&value).map(|b| (kind == OptKind::Subscribe, b.to_vec())),
        };
        self.with_zmq_socket(|s| option.set(s, value))??;
        if let Some((on, bytes)) = change {
            if self.socket_type() == zmq::SUB {
                self.shared.lock().engine.note_subscription(&bytes, on);
            }
        }
        Ok(())
    }

    /// Writes a message.
    ///
    /// With an empty write queue the message is sent at once without blocking; otherwise, or
    /// when the socket would block, it is queued whole and sent by the driver. An empty
    /// message (no frames) is a no-op. `pause_writing` fires inside this call if it pushed
    /// the queue over the high watermark (or right after the current callback, if called from
    /// one). Returns `Err(Closed)` after `close()`; a fatal send error is returned and also
    /// ends the transport.
    ///
    /// ```
    /// # fn f(t: &zmqio_core::ZmqTransport) -> zmqio_core::Result<()> {
    /// t.write(["identity", "", "body"])?;          // three frames
    /// t.write(bytes::Bytes::from_static(b"one"))?; // one frame
    /// # Ok(()) }
    /// ```
    pub fn write(&self, msg: impl Into<Multipart>) -> Result<()> {
        let (result, has_events, driver_has_work) = {
            let mut st = self.shared.lock();
            let r = st.engine.write(msg.into());
            // Rule 6 wakes the driver after a socket call because the call may have taken a
            // readiness edge the driver waits for. A send-only socket (PUSH, PUB) whose queue
            // is empty waits for nothing: it never wants POLLIN, and POLLOUT only matters
            // once a message is queued, and the write that queues one wakes the driver. So
            // the common case, a message sent at once, costs no driver wakeup.
            let send_only = matches!(self.shared.socket_type(), zmq::PUSH | zmq::PUB);
            let idle = send_only && st.engine.queued_messages() == 0;
            (r, st.engine.has_events(), !idle)
        };
        if has_events {
            self.shared.dispatch_now(self);
        } else if driver_has_work {
            self.shared.wake_driver();
        }
        result
    }

    /// Starts closing: no more `msg_received`, the write queue is flushed, then
    /// `connection_lost(None)`, then the socket is closed. Idempotent.
    ///
    /// ```
    /// # async fn f(t: zmqio_core::ZmqTransport) {
    /// t.close();
    /// assert!(t.is_closing());
    /// t.wait_closed().await;
    /// # }
    /// ```
    pub fn close(&self) {
        self.shared.lock().engine.close();
        self.shared.wake_driver();
    }

    /// Closes at once: drops the write queue, `connection_lost(None)`, closes the socket.
    /// Never calls `resume_writing`. Idempotent.
    ///
    /// ```
    /// # fn f(t: &zmqio_core::ZmqTransport) {
    /// t.abort();
    /// # }
    /// ```
    pub fn abort(&self) {
        self.shared.lock().engine.abort();
        self.shared.wake_driver();
    }

    /// Whether `close()` or `abort()` was called or the transport was lost.
    ///
    /// ```
    /// # fn f(t: &zmqio_core::ZmqTransport) {
    /// if !t.is_closing() { let _ = t.write(["ping"]); }
    /// # }
    /// ```
    pub fn is_closing(&self) -> bool {
        self.shared.lock().engine.lifecycle() != Lifecycle::Open
    }

    /// The write watermarks as `(low, high)`.
    ///
    /// ```
    /// # fn f(t: &zmqio_core::ZmqTransport) {
    /// assert_eq!(t.get_write_buffer_limits(), (16384, 65536)); // the defaults
    /// # }
    /// ```
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.shared.lock().engine.write_limits()
    }

    /// Sets the write watermarks: high defaults to 64 KiB (or `4 * low`), low to `high / 4`;
    /// `high < low` is `InvalidArgument`. Applies at once (may fire `pause_writing` or
    /// `resume_writing`).
    ///
    /// ```
    /// # fn f(t: &zmqio_core::ZmqTransport) -> zmqio_core::Result<()> {
    /// t.set_write_buffer_limits(Some(1 << 20), None)?;
    /// assert_eq!(t.get_write_buffer_limits(), (1 << 18, 1 << 20));
    /// assert!(t.set_write_buffer_limits(Some(1), Some(2)).is_err());
    /// # Ok(()) }
    /// ```
    pub fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        let (result, has_events) = {
            let mut st = self.shared.lock();
            let r = st.engine.set_write_limits(high, low);
            (r, st.engine.has_events())
        };
        if has_events {
            self.shared.dispatch_now(self);
        }
        result
    }

    /// Bytes waiting in the write queue.
    ///
    /// ```
    /// # fn f(t: &zmqio_core::ZmqTransport) {
    /// let queued = t.get_write_buffer_size();
    /// # }
    /// ```
    pub fn get_write_buffer_size(&self) -> usize {
        self.shared.lock().engine.queued_bytes()
    }

    /// Stops delivering messages; writes keep flowing. `InvalidState` if already paused or
    /// closing.
    ///
    /// ```
    /// # fn f(t: &zmqio_core::ZmqTransport) -> zmqio_core::Result<()> {
    /// t.pause_reading()?;
    /// assert!(t.pause_reading().is_err());
    /// t.resume_reading()?;
    /// # Ok(()) }
    /// ```
    pub fn pause_reading(&self) -> Result<()> {
        self.shared.lock().engine.pause_reading()
    }

    /// Whether reading is paused (by [`pause_reading`](Self::pause_reading), or by a stream's
    /// read-side backpressure).
    ///
    /// ```
    /// # fn f(t: &zmqio_core::ZmqTransport) {
    /// assert!(!t.is_reading_paused());
    /// # }
    /// ```
    pub fn is_reading_paused(&self) -> bool {
        self.shared.lock().engine.is_reading_paused()
    }

    /// Resumes delivering messages, including those that arrived meanwhile (no new traffic
    /// needed). `InvalidState` if not paused; a no-op once closing.
    ///
    /// ```
    /// # fn f(t: &zmqio_core::ZmqTransport) -> zmqio_core::Result<()> {
    /// t.pause_reading()?;
    /// t.resume_reading()?;
    /// # Ok(()) }
    /// ```
    pub fn resume_reading(&self) -> Result<()> {
        let r = self.shared.lock().engine.resume_reading();
        self.shared.wake_driver();
        r
    }

    /// Binds and returns the resolved endpoint (`tcp://127.0.0.1:*` gives the real port).
    ///
    /// ```
    /// # async fn f(t: zmqio_core::ZmqTransport) -> zmqio_core::Result<()> {
    /// let ep = t.bind("tcp://127.0.0.1:*").await?;
    /// assert!(!ep.ends_with('*'));
    /// # Ok(()) }
    /// ```
    pub async fn bind(&self, endpoint: &str) -> Result<String> {
        let r = self.shared.lock().engine.bind(endpoint);
        self.shared.wake_driver();
        r
    }

    /// Unbinds an endpoint bound before (use the resolved form). `ENOENT` for an unknown one.
    ///
    /// ```
    /// # async fn f(t: zmqio_core::ZmqTransport) -> zmqio_core::Result<()> {
    /// let ep = t.bind("tcp://127.0.0.1:*").await?;
    /// t.unbind(&ep).await?;
    /// # Ok(()) }
    /// ```
    pub async fn unbind(&self, endpoint: &str) -> Result<()> {
        let r = self.shared.lock().engine.unbind(endpoint);
        self.shared.wake_driver();
        r
    }

    /// Connects and returns the endpoint as given. A tcp host must be an IP literal
    /// (`InvalidArgument` otherwise): resolve names with the adapter's `resolve_endpoint`.
    ///
    /// ```
    /// # async fn f(t: zmqio_core::ZmqTransport) -> zmqio_core::Result<()> {
    /// t.connect("tcp://127.0.0.1:5555").await?;
    /// assert!(t.connect("tcp://localhost:5555").await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn connect(&self, endpoint: &str) -> Result<String> {
        let r = self.shared.lock().engine.connect(endpoint);
        self.shared.wake_driver();
        r
    }

    /// Disconnects a connected endpoint. `ENOENT` for an unknown one.
    ///
    /// ```
    /// # async fn f(t: zmqio_core::ZmqTransport) -> zmqio_core::Result<()> {
    /// t.disconnect("tcp://127.0.0.1:5555").await?;
    /// # Ok(()) }
    /// ```
    pub async fn disconnect(&self, endpoint: &str) -> Result<()> {
        let r = self.shared.lock().engine.disconnect(endpoint);
        self.shared.wake_driver();
        r
    }

    /// The endpoints bound through this transport, resolved.
    ///
    /// ```
    /// # fn f(t: &zmqio_core::ZmqTransport) {
    /// for ep in t.bindings() { println!("bound to {ep}"); }
    /// # }
    /// ```
    pub fn bindings(&self) -> BTreeSet<String> {
        self.shared.lock().engine.bindings().clone()
    }

    /// The endpoint this transport is bound to, resolved (`tcp://127.0.0.1:*` gives the real
    /// port): the one-call way to learn where a builder's `bind` landed. `None` when nothing
    /// is bound.
    ///
    /// With several bindings, the one bound last: libzmq's `ZMQ_LAST_ENDPOINT` when it names
    /// a current binding (it also records connects, so after a later `connect` it does not),
    /// otherwise the greatest of [`bindings`](Self::bindings). Use `bindings()` for all of
    /// them.
    ///
    /// ```
    /// # async fn f(t: zmqio_core::ZmqTransport) -> zmqio_core::Result<()> {
    /// let ep = t.bind("tcp://127.0.0.1:*").await?;
    /// assert_eq!(t.bound_endpoint(), Some(ep));
    /// # Ok(()) }
    /// ```
    pub fn bound_endpoint(&self) -> Option<String> {
        let mut bindings = self.bindings();
        let last = self.getsockopt(crate::opt::LastEndpoint).ok();
        match last {
            Some(last) if bindings.contains(&last) => Some(last),
            _ => bindings.pop_last(),
        }
    }

    /// The endpoints connected through this transport, as given.
    ///
    /// ```
    /// # fn f(t: &zmqio_core::ZmqTransport) {
    /// let n = t.connections().len();
    /// # }
    /// ```
    pub fn connections(&self) -> BTreeSet<String> {
        self.shared.lock().engine.connections().clone()
    }

    /// Subscribes a SUB socket to a prefix (`NotSupported` on other types). Subscribing twice
    /// to the same value is one subscription.
    ///
    /// ```
    /// # fn f(t: &zmqio_core::ZmqTransport) -> zmqio_core::Result<()> {
    /// t.subscribe(b"weather.")?;
    /// t.subscribe("weather.")?; // no change
    /// assert_eq!(t.subscriptions()?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn subscribe(&self, value: impl AsRef<[u8]>) -> Result<()> {
        let r = self.shared.lock().engine.subscribe(value.as_ref());
        self.shared.wake_driver();
        r
    }

    /// Removes a subscription (`NotSupported` on non-SUB sockets); an unknown value is fine.
    ///
    /// ```
    /// # fn f(t: &zmqio_core::ZmqTransport) -> zmqio_core::Result<()> {
    /// t.unsubscribe(b"weather.")?;
    /// # Ok(()) }
    /// ```
    pub fn unsubscribe(&self, value: impl AsRef<[u8]>) -> Result<()> {
        let r = self.shared.lock().engine.unsubscribe(value.as_ref());
        self.shared.wake_driver();
        r
    }

    /// The current subscriptions (`NotSupported` on non-SUB sockets).
    ///
    /// ```
    /// # fn f(t: &zmqio_core::ZmqTransport) -> zmqio_core::Result<()> {
    /// let subs = t.subscriptions()?;
    /// # Ok(()) }
    /// ```
    pub fn subscriptions(&self) -> Result<BTreeSet<Bytes>> {
        self.shared.lock().engine.subscriptions().cloned()
    }

    /// Waits until the write queue holds at most the low watermark.
    ///
    /// `Ok` at once when it already does. `Err` with the fatal error if the transport is lost
    /// first, or `Err(Closed)` if it is closing or closed.
    ///
    /// ```
    /// # async fn f(t: zmqio_core::ZmqTransport) -> zmqio_core::Result<()> {
    /// for i in 0..1000u32 {
    ///     t.write([i.to_be_bytes().to_vec()])?;
    /// }
    /// t.drain().await?;
    /// # Ok(()) }
    /// ```
    pub async fn drain(&self) -> Result<()> {
        poll_fn(|cx| self.poll_queue_at_most(cx, QueueBound::Low)).await
    }

    /// `Ready(Ok)` once the write queue holds at most `bound` bytes; `Ready(Err)` once the
    /// transport is closing or lost; otherwise registers `cx` to be woken on progress.
    pub(crate) fn poll_queue_at_most(
        &self,
        cx: &mut Context<'_>,
        bound: QueueBound,
    ) -> Poll<Result<()>> {
        let mut st = self.shared.lock();
        if st.engine.lifecycle() != Lifecycle::Open {
            return Poll::Ready(Err(st.closed_error()));
        }
        let (low, high) = st.engine.write_limits();
        let limit = match bound {
            QueueBound::Empty => 0,
            QueueBound::Low => low,
            QueueBound::High => high,
        };
        if st.engine.queued_bytes() <= limit {
            return Poll::Ready(Ok(()));
        }
        st.register_waiter(cx.waker());
        Poll::Pending
    }

    /// Waits until the transport is finished and its socket closed; resolves with the
    /// argument `connection_lost` got.
    ///
    /// ```
    /// # async fn f(t: zmqio_core::ZmqTransport) {
    /// t.close();
    /// assert!(t.wait_closed().await.is_none());
    /// # }
    /// ```
    pub async fn wait_closed(&self) -> Option<Error> {
        poll_fn(|cx| self.poll_closed(cx)).await
    }

    /// `Ready` with the `connection_lost` argument once the transport is finished and its
    /// socket closed; otherwise registers `cx` to be woken.
    pub(crate) fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<Option<Error>> {
        let mut st = self.shared.lock();
        match st.closed_result() {
            Some(r) => Poll::Ready(r),
            None => {
                st.register_waiter(cx.waker());
                Poll::Pending
            }
        }
    }
}

/// What [`ZmqTransport::poll_queue_at_most`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueBound {
    /// An empty queue (a `Sink` flush).
    Empty,
    /// At most the low watermark (`drain`).
    Low,
    /// At most the high watermark (a `Sink` ready for more).
    High,
}

impl std::fmt::Debug for ZmqTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("ZmqTransport")
            .field("socket_type", &self.shared.socket_type())
            .field("engine", &st.engine)
            .finish()
    }
}
