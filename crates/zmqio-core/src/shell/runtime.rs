//! The runtime trait: the two primitives an async runtime lends to zmqio.
//!
//! zmqio's shell (transport, stream, driver) is written once, here in the core. A runtime
//! adapter only has to say how to wait for read readiness of a descriptor, how to spawn a
//! task and how to sleep. `zmqio-tokio`, `zmqio-smol` and `zmqio-async-std` each implement [`Runtime`] in a few
//! dozen lines; a program on another executor can do the same.
//!
//! # Adding a runtime
//!
//! Implement [`Runtime`] (register the descriptor with your reactor, spawn a task) and
//! [`Readiness`] (poll for read readiness). Then hand an `Arc` of the runtime to
//! [`ConnectionBuilder::new`](crate::ConnectionBuilder::new) or
//! [`StreamBuilder::new`](crate::StreamBuilder::new), or write a `create_zmq_connection` of
//! your own that does, as the adapters do.
//!
//! The contract, in short:
//!
//! - `register` must watch the descriptor for *read* readiness only and must not take
//!   ownership of it: [`ZmqFd`] implements [`AsFd`] and never closes the descriptor, so a
//!   reactor API that borrows through `AsFd` (async-io's `Async::new_nonblocking`, tokio's
//!   `AsyncFd`) fits. Do not change the descriptor's flags (libzmq owns it).
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
//! impl Runtime for MyRuntime {
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
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// What a runtime adapter provides: descriptor registration, task spawning and a timer.
pub trait Runtime: Send + Sync + 'static {
    /// Registers a socket's `ZMQ_FD` with the reactor, for **read readiness only** (rule 1 of
    /// the `ZMQ_FD` rules). The registration must never read, write or close the descriptor;
    /// dropping the returned [`Readiness`] must deregister it. Called from inside the runtime
    /// (while the create future is polled).
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

/// A socket's `ZMQ_FD`: a notification descriptor owned by libzmq.
///
/// It is handed to [`Runtime::register`] and implements [`AsRawFd`] and [`AsFd`] so reactors
/// can watch it. It does not own the descriptor and never closes it; the driver drops the
/// registration before it closes the socket (rule 9), which keeps the borrow valid.
#[derive(Debug, Clone, Copy)]
pub struct ZmqFd(RawFd);

impl ZmqFd {
    pub(crate) fn new(fd: RawFd) -> Self {
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
        // SAFETY: a `ZmqFd` is only made by the driver from a live socket's `ZMQ_FD`, and the
        // driver drops every registration holding it before it closes the socket, so the
        // descriptor stays open for as long as the borrow can be used.
        #[allow(unsafe_code)]
        unsafe {
            BorrowedFd::borrow_raw(self.0)
        }
    }
}
