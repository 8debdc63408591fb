//! The four runtimes zmqio runs on, behind one trait so each workload is written once.
//!
//! Each flavor calls its adapter's public entry points (`create_zmq_connection`,
//! `create_zmq_stream`), exactly as a user of that adapter would.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use zmqio_core::{ConnectionBuilder, SocketType, StreamBuilder, ZmqProtocol};

/// A boxed, sendable future.
pub(crate) type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A runtime and its zmqio adapter.
pub(crate) trait Flavor: 'static {
    /// Builds a fresh runtime and runs `fut` to completion on it.
    fn block_on<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T;
    /// Spawns a task; the returned future resolves with its output.
    fn spawn<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> BoxFut<T>;
    /// The runtime's timer.
    fn sleep(d: Duration) -> BoxFut<()>;
    /// The adapter's `create_zmq_connection`.
    fn connection<P, F>(factory: F, ty: SocketType) -> ConnectionBuilder<P>
    where
        P: ZmqProtocol,
        F: FnOnce() -> P + Send + 'static;
    /// The adapter's `create_zmq_stream`.
    fn stream(ty: SocketType) -> StreamBuilder;
}

/// tokio, current-thread runtime: every task on the calling thread.
pub(crate) struct TokioCt;
/// tokio, multi-thread runtime with its default worker count (one per core).
pub(crate) struct TokioMt;
/// smol: `smol::block_on` for the benchmark, `smol::spawn` (the global executor) for tasks.
pub(crate) struct Smol;
/// async-std: its global executor.
pub(crate) struct AsyncStd;

fn tokio_spawn<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> BoxFut<T> {
    let handle = tokio::spawn(fut);
    Box::pin(async move { handle.await.expect("benchmark task panicked") })
}

impl Flavor for TokioCt {
    fn block_on<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(fut)
    }
    fn spawn<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> BoxFut<T> {
        tokio_spawn(fut)
    }
    fn sleep(d: Duration) -> BoxFut<()> {
        Box::pin(tokio::time::sleep(d))
    }
    fn connection<P, F>(factory: F, ty: SocketType) -> ConnectionBuilder<P>
    where
        P: ZmqProtocol,
        F: FnOnce() -> P + Send + 'static,
    {
        zmqio_tokio::create_zmq_connection(factory, ty)
    }
    fn stream(ty: SocketType) -> StreamBuilder {
        zmqio_tokio::create_zmq_stream(ty)
    }
}

impl Flavor for TokioMt {
    fn block_on<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(fut)
    }
    fn spawn<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> BoxFut<T> {
        tokio_spawn(fut)
    }
    fn sleep(d: Duration) -> BoxFut<()> {
        Box::pin(tokio::time::sleep(d))
    }
    fn connection<P, F>(factory: F, ty: SocketType) -> ConnectionBuilder<P>
    where
        P: ZmqProtocol,
        F: FnOnce() -> P + Send + 'static,
    {
        zmqio_tokio::create_zmq_connection(factory, ty)
    }
    fn stream(ty: SocketType) -> StreamBuilder {
        zmqio_tokio::create_zmq_stream(ty)
    }
}

impl Flavor for Smol {
    fn block_on<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
        smol::block_on(fut)
    }
    fn spawn<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> BoxFut<T> {
        Box::pin(smol::spawn(fut))
    }
    fn sleep(d: Duration) -> BoxFut<()> {
        Box::pin(async move {
            smol::Timer::after(d).await;
        })
    }
    fn connection<P, F>(factory: F, ty: SocketType) -> ConnectionBuilder<P>
    where
        P: ZmqProtocol,
        F: FnOnce() -> P + Send + 'static,
    {
        zmqio_smol::create_zmq_connection(factory, ty)
    }
    fn stream(ty: SocketType) -> StreamBuilder {
        zmqio_smol::create_zmq_stream(ty)
    }
}

impl Flavor for AsyncStd {
    fn block_on<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
        async_std::task::block_on(fut)
    }
    fn spawn<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> BoxFut<T> {
        Box::pin(async_std::task::spawn(fut))
    }
    fn sleep(d: Duration) -> BoxFut<()> {
        Box::pin(async_std::task::sleep(d))
    }
    fn connection<P, F>(factory: F, ty: SocketType) -> ConnectionBuilder<P>
    where
        P: ZmqProtocol,
        F: FnOnce() -> P + Send + 'static,
    {
        zmqio_async_std::create_zmq_connection(factory, ty)
    }
    fn stream(ty: SocketType) -> StreamBuilder {
        zmqio_async_std::create_zmq_stream(ty)
    }
}
