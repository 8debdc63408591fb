// Support for the doc examples of the shell (`ZmqTransport`, `ZmqStream`, the builders, the
// monitor), so that each of them runs for real instead of only compiling. Not a module of the
// crate: an example includes it, hidden, as
//
//     # mod doc { include!("doctest_support.rs"); }
//
// and then runs its body with `doc::run(async { .. })` on sockets made by `doc::transport`,
// `doc::stream` or `doc::pair`. The runtime is the one-thread-per-task executor on async-io's
// reactor shown in the `runtime` module docs (async-io is a dev-dependency).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use zmqio_core::runtime::{Readiness, Runtime, ZmqFd};
use zmqio_core::{ConnectionBuilder, StreamBuilder, ZmqProtocol, ZmqStream, ZmqTransport};

/// One thread per task, blocking on it with async-io's `block_on`.
pub struct ThreadPerTask;

struct Ready(async_io::Async<ZmqFd>);

impl Readiness for Ready {
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.0.poll_readable(cx)
    }
}

// SAFETY: the `Async` only polls the fd for readability and deregisters it, without closing
// it, when the `Ready` is dropped.
#[allow(unsafe_code)]
unsafe impl Runtime for ThreadPerTask {
    fn register(&self, fd: ZmqFd) -> std::io::Result<Box<dyn Readiness>> {
        Ok(Box::new(Ready(async_io::Async::new_nonblocking(fd)?)))
    }
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        std::thread::spawn(move || async_io::block_on(future));
    }
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            async_io::Timer::after(d).await;
        })
    }
}

/// The runtime of the examples.
pub fn rt() -> Arc<dyn Runtime> {
    Arc::new(ThreadPerTask)
}

/// Runs an example to its end; an error fails it, and so does an example still running after
/// 30 s (a watchdog, so a hang fails fast instead of stalling the doctests).
pub fn run(example: impl Future<Output = zmqio_core::Result<()>>) {
    let watchdog = async_io::Timer::after(Duration::from_secs(30));
    let outcome = async_io::block_on(futures::future::select(Box::pin(example), watchdog));
    match outcome {
        futures::future::Either::Left((result, _)) => result.expect("the example succeeds"),
        futures::future::Either::Right(_) => panic!("the example did not finish within 30 s"),
    }
}

struct Quiet;
impl ZmqProtocol for Quiet {}

/// A transport of type `kind`, neither bound nor connected.
pub async fn transport(kind: zmq::SocketType) -> ZmqTransport {
    ConnectionBuilder::new(rt(), || Quiet, kind).await.expect("a transport").0
}

/// A stream of type `kind`, neither bound nor connected.
pub async fn stream(kind: zmq::SocketType) -> ZmqStream {
    StreamBuilder::new(rt(), kind).await.expect("a stream")
}

/// Two connected streams: the first bound to `tcp://127.0.0.1:*`, the second connected to it.
pub async fn pair(bound: zmq::SocketType, connected: zmq::SocketType) -> (ZmqStream, ZmqStream) {
    let a = StreamBuilder::new(rt(), bound)
        .bind("tcp://127.0.0.1:*")
        .await
        .expect("a bound stream");
    let ep = a.transport().bindings().into_iter().next().expect("bound");
    let b = StreamBuilder::new(rt(), connected)
        .connect(ep)
        .await
        .expect("a connected stream");
    (a, b)
}
