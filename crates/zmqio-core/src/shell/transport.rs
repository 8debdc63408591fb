//! [`ZmqTransport`]: the handle to one asynchronous ZeroMQ socket.

use std::collections::BTreeSet;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::engine::{Backend, Lifecycle, Written};
use crate::opt::{GetSocketOpt, OptKind, SetSocketOpt};
use crate::shell::driver::{Shared, Status};
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
/// # mod doc { include!("doctest_support.rs"); }
/// # doc::run(async {
/// # let transport = doc::transport(zmq::PUB).await;
/// use zmqio_core::opt;
///
/// transport.setsockopt(opt::Linger, 0)?;
/// let endpoint = transport.bind("tcp://127.0.0.1:*").await?;
/// assert!(transport.bindings().contains(&endpoint));
/// transport.write(["topic", "payload"])?;
/// transport.drain().await?;
/// transport.close();
/// assert_eq!(transport.wait_closed().await, None);
/// # Ok::<(), zmqio_core::Error>(())
/// # });
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
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::SUB).await;
    /// if t.socket_type() == zmq::SUB { /* ... */ }
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
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
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// let hwm = t.with_zmq_socket(|s| s.get_sndhwm())??;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
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
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// use zmqio_core::opt;
    /// let linger: i32 = t.getsockopt(opt::Linger)?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn getsockopt<O: GetSocketOpt>(&self, option: O) -> Result<O::Value> {
        self.with_zmq_socket(|s| option.get(s))?
    }

    /// Sets a socket option; see [`opt`](crate::opt). Setting `opt::Subscribe` or
    /// `opt::Unsubscribe` keeps [`subscriptions`](Self::subscriptions) in sync.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// use zmqio_core::opt;
    /// t.setsockopt(opt::SndHwm, 10_000)?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
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
    /// ends the transport. `Err(Zmq(EHOSTUNREACH))` from a ROUTER with `RouterMandatory` (no
    /// peer with that routing id) is about this message only: nothing is queued and the
    /// transport stays open (see [`dropped_unroutable`](Self::dropped_unroutable) for such a
    /// message that had to wait in the queue).
    ///
    /// `pause_writing` is the only callback that may run inside this call; every other one
    /// (`msg_received`, `resume_writing`, `event_received`, `connection_lost`) comes from the
    /// driver task, never from here. So calling `write` while holding a lock that those
    /// callbacks take is safe. The pause is delivered here only if the protocol is not
    /// locked at that moment (otherwise the driver delivers it right after), and only if no
    /// `resume_writing` is still waiting to be delivered before it (then the driver delivers
    /// both, in order); it may come before messages that arrived earlier and are still
    /// waiting for the driver.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// t.write(["identity", "", "body"])?;          // three frames
    /// t.write(bytes::Bytes::from_static(b"one"))?; // one frame
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn write(&self, msg: impl Into<Multipart>) -> Result<()> {
        let (result, has_events) = {
            let mut st = self.shared.lock();
            let r = st.engine.write(msg.into());
            if let Ok(Written { queued: false, .. }) = r {
                // Sent at once (or empty): the engine's queue, lifecycle and limits are as
                // they were, so the status is too.
                st.status_unchanged();
            }
            (r, st.engine.has_events())
        };
        // The engine decides whether this write may have taken an edge the driver waits for
        // (ZMQ_FD rule 6; see `engine::Written`).
        let wake_driver = match &result {
            Ok(written) => written.wake_driver,
            Err(e) => !matches!(e, Error::Closed),
        };
        self.after_write(has_events, wake_driver);
        result.map(|_| ())
    }

    /// Writes the messages of `msgs` in order, from the front, as that many
    /// [`write`](Self::write)s would, under one lock of the transport instead of one per
    /// message: the cheaper way to write a batch.
    ///
    /// On `Ok` every message was written (sent, or queued whole) and `msgs` is empty, its
    /// capacity kept for the next batch. A closed transport returns `Err(Closed)` and leaves
    /// `msgs` as it was. On another error the messages before the one that failed were
    /// written and are removed from `msgs`; the one that failed is dropped, as `write` drops
    /// it; the ones after it stay in `msgs`, unwritten. So after a ROUTER's `EHOSTUNREACH`
    /// (about that one message; the transport stays open) the caller can go on with the
    /// rest; after a fatal error the transport is lost and the rest stays with the caller.
    ///
    /// Like `write`, it never waits and never refuses a message for the watermarks: a batch
    /// that pushes the queue over the high watermark is queued whole, and `pause_writing`
    /// fires once, on the same terms as for `write`: inside this call if the protocol is not
    /// locked at that moment, else from the driver right after. Empty messages are no-ops.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// use zmqio_core::Multipart;
    ///
    /// let mut batch: Vec<Multipart> = (0..64u32).map(|i| i.to_be_bytes().to_vec().into()).collect();
    /// t.write_many(&mut batch)?;
    /// assert!(batch.is_empty());
    /// t.drain().await?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn write_many(&self, msgs: &mut Vec<Multipart>) -> Result<()> {
        if msgs.is_empty() {
            return Ok(());
        }
        let (failed, wake_driver, has_events) = {
            let mut st = self.shared.lock();
            if st.engine.lifecycle() != Lifecycle::Open {
                st.status_unchanged();
                return Err(Error::Closed);
            }
            let mut wake_driver = false;
            let mut any_queued = false;
            let mut failed = None;
            for (i, msg) in msgs.iter_mut().enumerate() {
                match st.engine.write(std::mem::take(msg)) {
                    Ok(written) => {
                        wake_driver |= written.wake_driver;
                        any_queued |= written.queued;
                    }
                    // Not `Closed`: the transport was open above and is left only through
                    // an error that ends the batch here.
                    Err(e) => {
                        wake_driver = true;
                        failed = Some((i, e));
                        break;
                    }
                }
            }
            if failed.is_none() && !any_queued {
                // Every message sent at once (or empty), as in `write`.
                st.status_unchanged();
            }
            (failed, wake_driver, st.engine.has_events())
        };
        self.after_write(has_events, wake_driver);
        match failed {
            None => {
                msgs.clear();
                Ok(())
            }
            Some((i, e)) => {
                msgs.drain(..=i);
                Err(e)
            }
        }
    }

    /// After the lock of a write is released: delivers a `pause_writing` the write caused
    /// (and wakes the driver for the rest), else wakes the driver if the engine said so.
    #[inline]
    fn after_write(&self, has_events: bool, wake_driver: bool) {
        if has_events {
            self.shared.deliver_pause_now(self);
        } else if wake_driver {
            self.shared.wake_driver();
        }
    }

    /// Starts closing: no more `msg_received`, zmqio's write queue is flushed into libzmq,
    /// then `connection_lost(None)`, then the socket is closed. Idempotent.
    ///
    /// How long the flush may take is the socket's `ZMQ_LINGER` (`opt::Linger`), read when
    /// `close()` is called, applied to zmqio's queue as libzmq applies it to its own:
    ///
    /// - `-1` (libzmq's default): keep trying for as long as it takes; with a peer that never
    ///   comes, until [`abort`](Self::abort);
    /// - `0`: drop what is queued and finish at once;
    /// - `n` milliseconds: flush for at most `n` ms, then drop the rest and finish.
    ///
    /// `connection_lost(None)` either way; [`dropped_on_close`](Self::dropped_on_close) tells
    /// how many messages were dropped. (What libzmq already took is then libzmq's, under the
    /// same LINGER.)
    ///
    /// Once `close()` has returned, no `msg_received` begins, on any thread: messages that
    /// arrived and were not delivered yet are dropped, and if the driver is delivering one
    /// on another thread right now, `close()` waits until that callback returns. Called from
    /// inside `msg_received` of this transport, it does not wait for that callback.
    ///
    /// On a stream's transport ([`ZmqStream::transport`](crate::ZmqStream::transport)),
    /// messages already taken from libzmq are kept for the stream's reader instead (see
    /// [`ZmqStream::close`](crate::ZmqStream::close)).
    ///
    /// # Caveats
    ///
    /// Because of that wait, do not call `close()` while holding a lock that this
    /// transport's `msg_received` takes, from outside that callback: the callback could
    /// never finish. (Holding the protocol's own mutex is fine: no callback runs then.)
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::{opt, ConnectionBuilder, ZmqProtocol};
    ///
    /// struct Quiet;
    /// impl ZmqProtocol for Quiet {}
    ///
    /// // A PUSH with no peer: libzmq takes nothing, both messages wait in zmqio's queue.
    /// let (push, _) = ConnectionBuilder::new(doc::rt(), || Quiet, zmq::PUSH).await?;
    /// push.write(["one"])?;
    /// push.write(["two"])?;
    /// push.setsockopt(opt::Linger, 0)?;
    /// push.close();
    /// assert!(push.is_closing());
    /// assert_eq!(push.wait_closed().await, None); // at once, not never
    /// assert_eq!(push.dropped_on_close(), 2);
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn close(&self) {
        self.shared.close(false);
    }

    /// Messages a [`close`](Self::close) dropped from zmqio's write queue because the socket's
    /// LINGER expired before a peer took them. 0 while open, and after a close that flushed
    /// everything. [`abort`](Self::abort) drops the queue too, without counting it here.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::opt;
    ///
    /// let push = doc::transport(zmq::PUSH).await; // no peer: what it writes waits
    /// push.setsockopt(opt::Linger, 100)?; // give the queue 100 ms on close
    /// push.write(["never sent"])?;
    /// push.close();
    /// push.wait_closed().await;
    /// if push.dropped_on_close() > 0 {
    ///     eprintln!("{} messages never left", push.dropped_on_close());
    /// }
    /// assert_eq!(push.dropped_on_close(), 1);
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn dropped_on_close(&self) -> u64 {
        self.shared.lock().engine.dropped_on_close()
    }

    /// Closes at once: drops the write queue, `connection_lost(None)`, closes the socket.
    /// Never calls `resume_writing`. Idempotent.
    ///
    /// Like [`close`](Self::close), once `abort()` has returned no `msg_received` begins (it
    /// waits for one running on another thread, with the same caveat).
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// t.abort();
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn abort(&self) {
        self.shared.close(true);
    }

    /// Whether `close()` or `abort()` was called or the transport was lost.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// if !t.is_closing() { let _ = t.write(["ping"]); }
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn is_closing(&self) -> bool {
        self.shared.lock().engine.lifecycle() != Lifecycle::Open
    }

    /// The write watermarks as `(low, high)`.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// assert_eq!(t.get_write_buffer_limits(), (16384, 65536)); // the defaults
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.shared.lock().engine.write_limits()
    }

    /// Sets the write watermarks: high defaults to 64 KiB (or `4 * low`), low to `high / 4`;
    /// `high < low` is `InvalidArgument`. The watermarks bound the queue's *weight*: each
    /// message weighs its bytes plus 32 per frame
    /// ([`engine::message_weight`](crate::engine::message_weight)), so a flood of empty
    /// messages pauses writing like any other. Applies at once: `pause_writing` may fire
    /// inside this call (as in [`write`](Self::write)); `resume_writing`, like every other
    /// callback, comes from the driver task. A pending [`drain`](Self::drain) or `Sink` that
    /// the new watermarks satisfy is woken.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// t.set_write_buffer_limits(Some(1 << 20), None)?;
    /// assert_eq!(t.get_write_buffer_limits(), (1 << 18, 1 << 20));
    /// assert!(t.set_write_buffer_limits(Some(1), Some(2)).is_err());
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        let (result, has_events) = {
            let mut st = self.shared.lock();
            let r = st.engine.set_write_limits(high, low);
            // Raised watermarks may satisfy a pending `drain()` or `Sink::poll_ready`.
            st.wake_waiters_on_progress();
            (r, st.engine.has_events())
        };
        if has_events {
            self.shared.deliver_pause_now(self);
        }
        result
    }

    /// Bytes waiting in the write queue (the payload only; the watermarks compare the
    /// [weight](Self::get_write_buffer_weight)).
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// let queued = t.get_write_buffer_size();
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn get_write_buffer_size(&self) -> usize {
        self.shared.lock().engine.queued_bytes()
    }

    /// The weight of the write queue, which the watermarks bound: its bytes plus 32 per
    /// frame ([`engine::message_weight`](crate::engine::message_weight)). `pause_writing`
    /// fires once it rises above the high watermark, `resume_writing` once it falls to the
    /// low one.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// let push = doc::transport(zmq::PUSH).await; // no peer: what it writes waits
    /// push.write(["abc", ""])?;
    /// assert_eq!(push.get_write_buffer_size(), 3); // bytes
    /// assert_eq!(push.get_write_buffer_weight(), 3 + 2 * 32); // bytes + 32 per frame
    /// let (_, high) = push.get_write_buffer_limits();
    /// assert!(push.get_write_buffer_weight() <= high); // not paused
    /// push.abort();
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn get_write_buffer_weight(&self) -> usize {
        self.shared.lock().engine.queued_weight()
    }

    /// Messages zmqio dropped from its write queue because libzmq refused their destination:
    /// `EHOSTUNREACH` on a ROUTER with `RouterMandatory` (or a STREAM) for a message that
    /// waited in the queue while its peer left. The transport stays open and the queue goes on
    /// flushing. A `write` that libzmq refuses that way at once returns the error
    /// (`Error::Zmq(EHOSTUNREACH)`) instead, queues nothing and is not counted; a
    /// [`Proxy`](crate::proxy::Proxy) forwarding to this transport drops such a message and
    /// counts it here too.
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
    /// # let rt: Arc<dyn Runtime> = Arc::new(ThreadPerTask);
    /// use zmqio_core::{opt, ConnectionBuilder, Error, ZmqProtocol};
    ///
    /// struct Quiet;
    /// impl ZmqProtocol for Quiet {}
    ///
    /// # async_io::block_on(async {
    /// let (router, _) = ConnectionBuilder::new(rt, || Quiet, zmq::ROUTER).await?;
    /// router.setsockopt(opt::RouterMandatory, true)?;
    /// let refused = router.write(["nobody", "hello"]);
    /// assert_eq!(refused, Err(Error::Zmq(zmq::Error::EHOSTUNREACH)));
    /// assert!(!router.is_closing()); // one unroutable message does not end a ROUTER
    /// assert_eq!(router.dropped_unroutable(), 0); // returned, not dropped
    /// router.close();
    /// router.wait_closed().await;
    /// # Ok::<(), Error>(())
    /// # }).unwrap();
    /// ```
    pub fn dropped_unroutable(&self) -> u64 {
        self.shared.lock().engine.dropped_unroutable()
    }

    /// Counts a message this transport's `write` refused with `EHOSTUNREACH` and the
    /// caller dropped (see `Engine::note_unroutable`).
    pub(crate) fn note_unroutable(&self, routing_id: Option<&Bytes>) {
        let mut st = self.shared.lock();
        st.engine.note_unroutable(routing_id);
        st.status_unchanged();
    }

    /// Stops delivering messages; writes keep flowing. `InvalidState` if already paused or
    /// closing.
    ///
    /// This pause is the user's own: on a stream's transport it is independent of the
    /// stream's read-side backpressure. The socket is read only while neither is paused, so
    /// the stream resuming itself never lifts this pause, and
    /// [`resume_reading`](Self::resume_reading) never lifts the stream's.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// t.pause_reading()?;
    /// assert!(t.pause_reading().is_err());
    /// t.resume_reading()?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn pause_reading(&self) -> Result<()> {
        self.shared.lock().engine.pause_reading()
    }

    /// Whether the socket is not being read: paused by
    /// [`pause_reading`](Self::pause_reading), or by a stream's read-side backpressure, or
    /// both. (`resume_reading` undoes only the first.)
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// assert!(!t.is_reading_paused());
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn is_reading_paused(&self) -> bool {
        let st = self.shared.lock();
        st.engine.is_reading_paused() || st.engine.is_read_backpressured()
    }

    /// Sets or clears a stream's read-side backpressure pause (independent of the user's
    /// `pause_reading`); clearing it wakes the driver to re-check `ZMQ_EVENTS` (rule 6).
    pub(crate) fn set_read_backpressure(&self, on: bool) {
        self.shared.lock().engine.set_read_backpressure(on);
        if !on {
            self.shared.wake_driver();
        }
    }

    /// Resumes delivering messages, including those that arrived meanwhile (no new traffic
    /// needed). `InvalidState` if not paused; a no-op once closing. Undoes only
    /// [`pause_reading`](Self::pause_reading): a stream's backpressure pause stays.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// t.pause_reading()?;
    /// t.resume_reading()?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn resume_reading(&self) -> Result<()> {
        let r = self.shared.lock().engine.resume_reading();
        self.shared.wake_driver();
        r
    }

    /// Binds and returns the resolved endpoint (`tcp://127.0.0.1:*` gives the real port).
    ///
    /// An IPv6 literal host (`tcp://[::1]:*`) works as given: zmqio sets `ZMQ_IPV6` on the
    /// socket first (libzmq ignores IPv6 addresses without it); other endpoints leave that
    /// option as it is.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// let ep = t.bind("tcp://127.0.0.1:*").await?;
    /// assert!(!ep.ends_with('*'));
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub async fn bind(&self, endpoint: &str) -> Result<String> {
        let r = self.shared.lock().engine.bind(endpoint);
        self.shared.wake_driver();
        r
    }

    /// Unbinds an endpoint bound before (use the resolved form). `ENOENT` for an unknown one.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// let ep = t.bind("tcp://127.0.0.1:*").await?;
    /// t.unbind(&ep).await?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub async fn unbind(&self, endpoint: &str) -> Result<()> {
        let r = self.shared.lock().engine.unbind(endpoint);
        self.shared.wake_driver();
        r
    }

    /// Connects and returns the endpoint as given. A tcp host must be an IP literal
    /// (`InvalidArgument` otherwise): resolve names with the adapter's `resolve_endpoint`.
    /// An IPv6 literal (`tcp://[::1]:5555`, as `resolve_endpoint` may return) works as
    /// given: zmqio sets `ZMQ_IPV6` on the socket first, as for [`bind`](Self::bind).
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// t.connect("tcp://127.0.0.1:5555").await?;
    /// assert!(t.connect("tcp://localhost:5555").await.is_err());
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub async fn connect(&self, endpoint: &str) -> Result<String> {
        let r = self.shared.lock().engine.connect(endpoint);
        self.shared.wake_driver();
        r
    }

    /// Disconnects a connected endpoint. `ENOENT` for an unknown one.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// # t.connect("tcp://127.0.0.1:5555").await?;
    /// t.disconnect("tcp://127.0.0.1:5555").await?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub async fn disconnect(&self, endpoint: &str) -> Result<()> {
        let r = self.shared.lock().engine.disconnect(endpoint);
        self.shared.wake_driver();
        r
    }

    /// The endpoints bound through this transport, resolved.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// for ep in t.bindings() { println!("bound to {ep}"); }
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
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
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// let t = doc::transport(zmq::PULL).await;
    /// assert_eq!(t.bound_endpoint(), None);
    /// let ep = t.bind("tcp://127.0.0.1:*").await?;
    /// assert!(!ep.ends_with('*')); // the port the system chose
    /// assert_eq!(t.bound_endpoint(), Some(ep));
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
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
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// let n = t.connections().len();
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn connections(&self) -> BTreeSet<String> {
        self.shared.lock().engine.connections().clone()
    }

    /// Subscribes a SUB socket to a prefix (`NotSupported` on other types). Subscribing twice
    /// to the same value is one subscription.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::SUB).await;
    /// t.subscribe(b"weather.")?;
    /// t.subscribe("weather.")?; // no change
    /// assert_eq!(t.subscriptions()?.len(), 1);
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn subscribe(&self, value: impl AsRef<[u8]>) -> Result<()> {
        let r = self.shared.lock().engine.subscribe(value.as_ref());
        self.shared.wake_driver();
        r
    }

    /// Removes a subscription (`NotSupported` on non-SUB sockets); an unknown value is fine.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::SUB).await;
    /// t.unsubscribe(b"weather.")?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn unsubscribe(&self, value: impl AsRef<[u8]>) -> Result<()> {
        let r = self.shared.lock().engine.unsubscribe(value.as_ref());
        self.shared.wake_driver();
        r
    }

    /// The current subscriptions (`NotSupported` on non-SUB sockets).
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::SUB).await;
    /// let subs = t.subscriptions()?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn subscriptions(&self) -> Result<BTreeSet<Bytes>> {
        self.shared.lock().engine.subscriptions().cloned()
    }

    /// Waits until the write queue's weight (bytes plus 32 per frame) is at most the low
    /// watermark.
    ///
    /// `Ok` at once when it already does. `Err` with the fatal error if the transport is lost
    /// first (from the moment it is lost, whether or not `connection_lost` has run yet), or
    /// `Err(Closed)` if it is closing or closed.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// // No peer: the messages wait in zmqio's queue, 100 * (4 + 32) = 3,600 of weight,
    /// // within the default low watermark (16,384), so `drain` is ready at once.
    /// for i in 0..100u32 {
    ///     t.write([i.to_be_bytes().to_vec()])?;
    /// }
    /// t.drain().await?;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub async fn drain(&self) -> Result<()> {
        poll_fn(|cx| self.poll_queue_at_most(cx, QueueBound::Low)).await
    }

    /// `Ready(Ok)` once the write queue is within `bound` (its weight at most a watermark, or
    /// no message at all for [`QueueBound::Empty`]); `Ready(Err)` once the transport is
    /// closing or lost; otherwise registers `cx` to be woken on progress.
    ///
    /// The check that passes is inlined into the caller's future and takes no lock (see
    /// `StateGuard`); the rest is [`poll_queue_locked`](Self::poll_queue_locked).
    #[inline]
    pub(crate) fn poll_queue_at_most(
        &self,
        cx: &mut Context<'_>,
        bound: QueueBound,
    ) -> Poll<Result<()>> {
        let needed = Status::OPEN
            | match bound {
                QueueBound::Empty => Status::QUEUE_EMPTY,
                QueueBound::Low => Status::AT_MOST_LOW,
                QueueBound::High => Status::AT_MOST_HIGH,
            };
        if self.shared.status() & needed == needed {
            return Poll::Ready(Ok(()));
        }
        self.poll_queue_locked(cx, bound)
    }

    /// [`poll_queue_at_most`](Self::poll_queue_at_most) under the state lock: the check
    /// again, then an error or the waker's registration.
    #[inline(never)]
    fn poll_queue_locked(&self, cx: &mut Context<'_>, bound: QueueBound) -> Poll<Result<()>> {
        let mut st = self.shared.lock();
        if st.engine.lifecycle() != Lifecycle::Open {
            return Poll::Ready(Err(st.closed_error()));
        }
        let (low, high) = st.engine.write_limits();
        let within = match bound {
            // Counted in messages: a queued `[b""]` weighs little but is not flushed.
            QueueBound::Empty => st.engine.queued_messages() == 0,
            QueueBound::Low => st.engine.queued_weight() <= low,
            QueueBound::High => st.engine.queued_weight() <= high,
        };
        if within {
            return Poll::Ready(Ok(()));
        }
        st.register_waiter(cx.waker());
        Poll::Pending
    }

    /// Waits until the transport is finished and its socket closed; resolves with the
    /// argument `connection_lost` got: `None` after `close()` or `abort()`, the fatal error
    /// after one.
    ///
    /// The outcome is the one the transport recorded when it was lost, so it is right even
    /// if `connection_lost` was never delivered: when the runtime drops the driver task (a
    /// tokio runtime shutting down) while the protocol's mutex is held elsewhere, the socket
    /// is still closed but `connection_lost` is skipped rather than block the shutdown; this
    /// still resolves, with the real outcome.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// # let t = doc::transport(zmq::DEALER).await;
    /// t.close();
    /// assert!(t.wait_closed().await.is_none());
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
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
