//! The runtime trait: the primitives an async runtime lends to zmqio.
//!
//! zmqio's shell (transport, stream, driver) is written once, here in the core. A runtime
//! adapter only has to say how to wait for read readiness of a descriptor, how to spawn a
//! task and how to sleep. `zmqio-tokio`, `zmqio-smol` and `zmqio-async-std` each implement
//! [`Runtime`] in a few dozen lines; a program on another executor can do the same.
//!
//! # Adding a runtime
//!
//! Implement [`Runtime`] (register the descriptor with your reactor, spawn a task, sleep)
//! and [`Readiness`] (poll for read readiness). Then hand an `Arc` of the runtime to
//! [`ConnectionBuilder::new`](crate::ConnectionBuilder::new) or
//! [`StreamBuilder::new`](crate::StreamBuilder::new), or write a `create_zmq_connection` of
//! your own that does, as the adapters do.
//!
//! [`Runtime`] is an `unsafe trait`: `register` is handed a descriptor that libzmq owns and
//! closes, and only the implementation can make sure nothing it keeps uses that descriptor
//! after zmqio has let go of it (the same reason tokio's `AsyncFd::register_with_interest`
//! is `unsafe`). Its [Safety](Runtime#safety) section says exactly what to uphold. In short:
//!
//! - `register` must watch the descriptor for *read* readiness only, never read, write or
//!   close it, nor change its flags (libzmq owns it); a reactor API that borrows through
//!   [`AsFd`]/[`AsRawFd`] and never closes (async-io's `Async::new_nonblocking`, tokio's
//!   `AsyncFd::register_with_interest`) fits, since [`ZmqFd`] does not own the descriptor.
//! - Everything `register` keeps of the descriptor lives inside the returned [`Readiness`]
//!   and is gone (deregistered) once that is dropped.
//! - `register` returns an error rather than panicking when it cannot register (for
//!   example when called outside the runtime it needs); zmqio also turns a panic into an
//!   error, but a panicking reactor may have left state behind.
//! - `poll_read_ready` returns `Ready` once per readiness edge and forgets it; spurious
//!   `Ready`s are harmless, a lost one is a hang.
//! - `spawn` must run the driver to completion even if nobody awaits it.
//! - `sleep` must return a timer of the runtime's own: the core has no clock and starts no
//!   reactor of its own, so a tokio program never runs async-io's, nor the other way round.
//!
//! This example runs zmqio on the smallest executor there is, one thread per task blocking
//! on it with async-io's `block_on`, and async-io's reactor:
//!
//! ```
//! use std::future::Future;
//! use std::io;
//! use std::pin::Pin;
//! use std::sync::Arc;
//! use std::task::{Context, Poll};
//! use std::time::Duration;
//!
//! use zmqio_core::runtime::{Readiness, Runtime, ZmqFd};
//! use zmqio_core::{ConnectionBuilder, ZmqProtocol, ZmqTransport, Multipart};
//!
//! struct MyRuntime;
//! struct MyReadiness(async_io::Async<ZmqFd>);
//!
//! impl Readiness for MyReadiness {
//!     fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
//!         self.0.poll_readable(cx)
//!     }
//! }
//!
//! // SAFETY: the `ZmqFd` moves into the `Async`, which only polls it for readability and,
//! // when dropped with the `MyReadiness` holding it, deregisters it without closing it;
//! // nothing else keeps the descriptor.
//! unsafe impl Runtime for MyRuntime {
//!     fn register(&self, fd: ZmqFd) -> io::Result<Box<dyn Readiness>> {
//!         Ok(Box::new(MyReadiness(async_io::Async::new_nonblocking(fd)?)))
//!     }
//!     fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
//!         // A thread per task: the simplest executor there is.
//!         std::thread::spawn(move || async_io::block_on(future));
//!     }
//!     fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
//!         Box::pin(async move {
//!             async_io::Timer::after(duration).await;
//!         })
//!     }
//! }
//!
//! #[derive(Default)]
//! struct Collect(Vec<Multipart>);
//! impl ZmqProtocol for Collect {
//!     fn msg_received(&mut self, msg: Multipart) {
//!         self.0.push(msg);
//!     }
//! }
//!
//! async_io::block_on(async {
//!     let rt: Arc<dyn Runtime> = Arc::new(MyRuntime);
//!     let (pull, got) = ConnectionBuilder::new(rt.clone(), Collect::default, zmq::PULL)
//!         .bind("inproc://custom-runtime")
//!         .await
//!         .unwrap();
//!     let (push, _) = ConnectionBuilder::new(rt, Collect::default, zmq::PUSH)
//!         .connect("inproc://custom-runtime")
//!         .await
//!         .unwrap();
//!     push.write(["hello"]).unwrap();
//!     while got.lock().unwrap().0.is_empty() {
//!         async_io::Timer::after(std::time::Duration::from_millis(1)).await;
//!     }
//!     assert_eq!(&got.lock().unwrap().0[0][0][..], b"hello");
//!     push.close();
//!     pull.close();
//!     push.wait_closed().await;
//!     pull.wait_closed().await;
//! });
//! ```

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// What a runtime adapter provides: descriptor registration, task spawning and a timer.
///
/// # Safety
///
/// [`register`](Self::register) is handed a [`ZmqFd`]: a descriptor that libzmq owns and
/// closes when the socket is closed. zmqio keeps the descriptor open, and the same
/// descriptor, until the [`Readiness`] returned by that `register` call has been dropped,
/// and not a moment longer (rule 9 of the `ZMQ_FD` rules: deregister, then close). So an
/// implementation must guarantee that:
///
/// 1. nothing derived from the `ZmqFd` (the `ZmqFd` itself, a [`BorrowedFd`] or raw
///    descriptor obtained from it, a reactor registration of it) is used once the returned
///    `Readiness` has been dropped; in particular, dropping the `Readiness` deregisters the
///    descriptor from the reactor. If `register` returns an error (or panics), nothing
///    derived from that `ZmqFd` is used after `register` has returned;
/// 2. the descriptor is only ever watched for readiness: never read, written, closed,
///    duplicated for later use, or changed (flags, ownership).
///
/// A `Readiness` that is leaked (`mem::forget`) must therefore never touch its descriptor
/// again either. zmqio, for its part, never leaks one: it drops every `Readiness` before it
/// closes the socket behind it, on every path (close, abort, failure, the runtime dropping
/// the driver task).
///
/// Breaking these promises can make the reactor act on a descriptor number that libzmq has
/// closed and the OS has reused for something else (I/O safety), which is why the trait is
/// `unsafe` to implement rather than the contract of a safe trait that zmqio could not
/// check.
#[allow(unsafe_code)] // The contract above is the point: implementations must uphold it.
pub unsafe trait Runtime: Send + Sync + 'static {
    /// Registers a socket's `ZMQ_FD` with the reactor, for **read readiness only** (rule 1 of
    /// the `ZMQ_FD` rules), under the obligations of the [trait's safety
    /// contract](Runtime#safety).
    ///
    /// Called from the task that awaits a create or `enable_monitor` (normally inside the
    /// runtime). When registration is impossible (for example, called outside the runtime
    /// whose reactor it needs), return an error: zmqio then fails the call that needed it
    /// and leaves nothing running.
    fn register(&self, fd: ZmqFd) -> io::Result<Box<dyn Readiness>>;

    /// Spawns the socket's driver task. It must run to completion even if nobody awaits it.
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send + 'static>>);

    /// A future that completes once `duration` has passed, on the runtime's own timer.
    ///
    /// The driver uses it only where no readiness edge can be relied on: the back-off retry
    /// of a socket whose `POLLOUT` does not cover the head of its queue ([`Step::Blocked`]),
    /// and deadlines such as a close's `LINGER`. Created and polled from inside the runtime
    /// (from the driver task).
    ///
    /// [`Step::Blocked`]: crate::engine::Step::Blocked
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

/// A descriptor registered for read readiness.
pub trait Readiness: Send + 'static {
    /// `Ready(Ok(()))` when the descriptor has become readable since the last `Ready`, clearing
    /// that readiness; `Pending` (with the waker stored) otherwise.
    ///
    /// The driver calls this only after it saw `ZMQ_EVENTS` without a wanted bit, and re-reads
    /// `ZMQ_EVENTS` after every `Ready`, so clearing here never loses an edge (rule 7).
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// A socket's `ZMQ_FD`: a notification descriptor owned by libzmq, lent to
/// [`Runtime::register`].
///
/// It implements [`AsRawFd`] and [`AsFd`] so reactors can watch it, and never closes the
/// descriptor. It is neither `Clone` nor `Copy`, and only zmqio makes one: the one value
/// handed to `register` is all there is, and the [`Runtime`] safety contract bounds how long
/// it (and any [`BorrowedFd`] taken from it) may be used.
#[derive(Debug)]
pub struct ZmqFd(RawFd);

impl ZmqFd {
    fn new(fd: RawFd) -> Self {
        Self(fd)
    }
}

impl AsRawFd for ZmqFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl AsFd for ZmqFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: a `ZmqFd` is made only by `register` below, from the `ZMQ_FD` of a socket
        // that is open, and is moved straight into `Runtime::register`. The socket is closed
        // only after the `Readiness` returned from that call is dropped (or right away when
        // the call failed), and `Runtime`'s safety contract forbids using the `ZmqFd`, or
        // anything borrowed from it, past that point. So the descriptor is open for as long
        // as any borrow of it can be used.
        #[allow(unsafe_code)]
        unsafe {
            BorrowedFd::borrow_raw(self.0)
        }
    }
}

/// Registers `fd`, the `ZMQ_FD` of a socket the caller keeps open until the returned
/// [`Readiness`] is dropped, with `runtime`. A panicking `register` becomes an error, so a
/// failed registration never unwinds through code that must clean up after it.
pub(crate) fn register(runtime: &dyn Runtime, fd: RawFd) -> io::Result<Box<dyn Readiness>> {
    catch_unwind(AssertUnwindSafe(|| runtime.register(ZmqFd::new(fd)))).unwrap_or_else(|payload| {
        Err(io::Error::other(format!(
            "the runtime failed to register a descriptor: {}",
            crate::shell::driver::panic_message(&*payload)
        )))
    })
}
