//! zmqio on smol: asynchronous ZeroMQ with aiozmq's semantics.
//!
//! This crate re-exports all of [`zmqio_core`] and adds the entry points bound to smol:
//! [`create_zmq_connection`], [`create_zmq_stream`] and [`resolve_endpoint`]. Code written
//! against `zmqio_tokio` or `zmqio_async_std` compiles against this crate by changing one
//! `use` line. Each socket's `ZMQ_FD` is watched by async-io's reactor and its driver task
//! runs on smol's global executor, so any executor that polls the futures works:
//! `smol::block_on`, `smol::spawn`, an `async_executor::Executor` of your own.
//!
//! # Example
//!
//! ```
//! use zmqio_smol as zmqio;
//! use zmqio::{zmq, Multipart, ZmqProtocol, ZmqTransport};
//!
//! #[derive(Default)]
//! struct Echo(Option<ZmqTransport>);
//! impl ZmqProtocol for Echo {
//!     fn connection_made(&mut self, t: &ZmqTransport) { self.0 = Some(t.clone()); }
//!     fn msg_received(&mut self, msg: Multipart) { self.0.as_ref().unwrap().write(msg).unwrap(); }
//! }
//!
//! #[derive(Default)]
//! struct Client(Vec<Multipart>);
//! impl ZmqProtocol for Client {
//!     fn msg_received(&mut self, msg: Multipart) { self.0.push(msg); }
//! }
//!
//! # fn main() -> zmqio::Result<()> {
//! smol::block_on(async {
//!     let (server, _) = zmqio::create_zmq_connection(Echo::default, zmq::REP)
//!         .bind("tcp://127.0.0.1:*")
//!         .await?;
//!     let endpoint = server.bindings().into_iter().next().unwrap();
//!     let (client, replies) = zmqio::create_zmq_connection(Client::default, zmq::REQ)
//!         .connect(endpoint)
//!         .await?;
//!     client.write(["ping"])?;
//!     while replies.lock().unwrap().0.is_empty() {
//!         smol::Timer::after(std::time::Duration::from_millis(1)).await;
//!     }
//!     assert_eq!(&replies.lock().unwrap().0[0][0][..], b"ping");
//!     client.close();
//!     server.close();
//!     Ok(())
//! })
//! # }
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::Async;
pub use zmqio_core::*;

use zmqio_core::runtime::{Readiness, Runtime, ZmqFd};

/// The smol implementation of [`Runtime`]: async-io's `Async` for `ZMQ_FD`, `smol::spawn`
/// for the driver.
///
/// [`create_zmq_connection`] and [`create_zmq_stream`] use it already; it is public for code
/// that calls [`ConnectionBuilder::new`] or [`StreamBuilder::new`] itself.
///
/// ```
/// use std::sync::Arc;
/// use zmqio_smol::{zmq, ConnectionBuilder, SmolRuntime, ZmqProtocol};
///
/// struct Quiet;
/// impl ZmqProtocol for Quiet {}
///
/// smol::block_on(async {
///     let (t, _) = ConnectionBuilder::new(Arc::new(SmolRuntime), || Quiet, zmq::PULL)
///         .bind("inproc://smol-runtime-doc")
///         .await
///         .unwrap();
///     t.close();
///     assert_eq!(t.wait_closed().await, None);
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SmolRuntime;

/// `ZMQ_FD` in async-io's reactor. `Async::new_nonblocking` leaves the descriptor's flags
/// alone (libzmq owns it); dropping the `Async` deregisters it and never closes it, because
/// [`ZmqFd`] does not own the descriptor.
struct AsyncIoReadiness(Async<ZmqFd>);

impl Readiness for AsyncIoReadiness {
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Ready once per event the reactor delivered since the last Pending: the edge is
        // consumed by returning it, as the trait asks.
        self.0.poll_readable(cx)
    }
}

// SAFETY (the `Runtime` contract): the `ZmqFd` moves into the `Async`, which only watches it
// for readability (`new_nonblocking` does not even set O_NONBLOCK) and, when dropped with the
// `AsyncIoReadiness` holding it, deregisters it and drops the `ZmqFd`, which closes nothing.
// On error `new_nonblocking` drops the `ZmqFd` before returning. Nothing else keeps it.
#[allow(unsafe_code)]
unsafe impl Runtime for SmolRuntime {
    fn register(&self, fd: ZmqFd) -> io::Result<Box<dyn Readiness>> {
        Ok(Box::new(AsyncIoReadiness(Async::new_nonblocking(fd)?)))
    }

    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) {
        smol::spawn(future).detach();
    }

    /// The runtime's own timer, for the driver's back-off and deadlines.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(async move {
            async_io::Timer::after(duration).await;
        })
    }
}

fn runtime() -> Arc<dyn Runtime> {
    static RUNTIME: OnceLock<Arc<dyn Runtime>> = OnceLock::new();
    RUNTIME.get_or_init(|| Arc::new(SmolRuntime)).clone()
}

/// Creates a transport/protocol pair on smol; await the builder to get
/// `(ZmqTransport, Arc<Mutex<P>>)`.
///
/// ```
/// # fn main() -> zmqio_smol::Result<()> {
/// struct Quiet;
/// impl zmqio_smol::ZmqProtocol for Quiet {}
///
/// smol::block_on(async {
///     let (transport, _protocol) =
///         zmqio_smol::create_zmq_connection(|| Quiet, zmqio_smol::zmq::PULL)
///             .bind("tcp://127.0.0.1:*")
///             .await?;
///     transport.close();
///     Ok(())
/// })
/// # }
/// ```
pub fn create_zmq_connection<P, F>(
    protocol_factory: F,
    zmq_type: SocketType,
) -> ConnectionBuilder<P>
where
    F: FnOnce() -> P + Send + 'static,
    P: ZmqProtocol,
{
    ConnectionBuilder::new(runtime(), protocol_factory, zmq_type)
}

/// Creates a [`ZmqStream`] on smol; await the builder.
///
/// ```
/// # fn main() -> zmqio_smol::Result<()> {
/// use zmqio_smol::zmq;
///
/// smol::block_on(async {
///     let mut pull = zmqio_smol::create_zmq_stream(zmq::PULL)
///         .bind("tcp://127.0.0.1:*")
///         .await?;
///     let endpoint = pull.transport().bindings().into_iter().next().unwrap();
///     let push = zmqio_smol::create_zmq_stream(zmq::PUSH).connect(endpoint).await?;
///     push.write(["hello"])?;
///     assert_eq!(&pull.read().await?[0][..], b"hello");
///     Ok(())
/// })
/// # }
/// ```
pub fn create_zmq_stream(zmq_type: SocketType) -> StreamBuilder {
    StreamBuilder::new(runtime(), zmq_type)
}

/// Resolves the host of a `tcp://host:port` endpoint with smol's resolver, so the result can
/// be given to `connect` (which takes IP literals only). Other transports and IP literals come
/// back unchanged.
///
/// ```
/// # fn main() -> zmqio_smol::Result<()> {
/// smol::block_on(async {
///     let ep = zmqio_smol::resolve_endpoint("tcp://localhost:5555").await?;
///     assert!(ep == "tcp://127.0.0.1:5555" || ep == "tcp://[::1]:5555");
///     Ok(())
/// })
/// # }
/// ```
pub async fn resolve_endpoint(endpoint: &str) -> Result<String> {
    let Some((host, port)) = tcp_host_to_resolve(endpoint) else {
        return Ok(endpoint.to_owned());
    };
    resolved_endpoint(endpoint, smol::net::resolve((host, port)).await?)
}

/// Starts a ZAP handler for `ctx` on smol: an [`auth::Authenticator`] bound at
/// `inproc://zeromq.zap.01`, deciding who may connect to that context's PLAIN and CURVE
/// servers (see [`auth`] for the rules). It runs until [`stop`](auth::Authenticator::stop)
/// is called, even if every handle is dropped.
///
/// # Errors
///
/// `Error::Zmq(EADDRINUSE)` while another handler is bound on `ctx`.
///
/// # Example
///
/// A PLAIN server with one user (the `zmqio_tokio` docs show CURVE):
///
/// ```
/// use zmqio_smol as zmqio;
/// use zmqio::{opt, zmq};
///
/// # fn main() -> zmqio::Result<()> {
/// smol::block_on(async {
///     let ctx = zmq::Context::new();
///     let auth = zmqio::start_authenticator(&ctx).await?;
///     auth.configure_plain("*", [("admin", "secret")]);
///
///     let mut server = zmqio::create_zmq_stream(zmq::PULL)
///         .context(ctx.clone())
///         .setsockopt(opt::PlainServer, true)
///         .bind("tcp://127.0.0.1:*")
///         .await?;
///     let endpoint = server.transport().bindings().into_iter().next().unwrap();
///     let client = zmqio::create_zmq_stream(zmq::PUSH)
///         .context(ctx.clone())
///         .setsockopt(opt::PlainUsername, Some("admin".into()))
///         .setsockopt(opt::PlainPassword, Some("secret".into()))
///         .connect(endpoint)
///         .await?;
///     client.write(["hello"])?;
///     assert_eq!(&server.read().await?[0][..], b"hello");
///     assert_eq!(auth.accepted(), 1);
///     client.close();
///     server.close();
///     auth.stop().await;
///     Ok(())
/// })
/// # }
/// ```
pub async fn start_authenticator(ctx: &zmq::Context) -> Result<auth::Authenticator> {
    auth::Authenticator::start(runtime(), ctx).await
}
