//! zmqio on tokio: asynchronous ZeroMQ with aiozmq's semantics.
//!
//! This crate re-exports all of [`zmqio_core`] and adds the entry points bound to tokio:
//! [`create_zmq_connection`], [`create_zmq_stream`] and [`resolve_endpoint`]. Code written
//! against `zmqio_smol` or `zmqio_async_std` compiles against this crate by changing one
//! `use` line. It needs a tokio runtime with the I/O driver and timers enabled
//! (`enable_all`, or `#[tokio::main]`), current-thread or multi-thread; creating a socket
//! in a runtime without either fails with an error that names the builder call missing.
//!
//! # Example
//!
//! ```
//! use zmqio_tokio as zmqio;
//! use zmqio::{Multipart, ZmqProtocol, ZmqTransport};
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
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> zmqio::Result<()> {
//! let (server, _) = zmqio::create_zmq_connection(Echo::default, zmq::REP)
//!     .bind("tcp://127.0.0.1:*")
//!     .await?;
//! let endpoint = server.bindings().into_iter().next().unwrap();
//! let (client, replies) = zmqio::create_zmq_connection(Client::default, zmq::REQ)
//!     .connect(endpoint)
//!     .await?;
//! client.write(["ping"])?;
//! while replies.lock().unwrap().0.is_empty() {
//!     tokio::time::sleep(std::time::Duration::from_millis(1)).await;
//! }
//! assert_eq!(&replies.lock().unwrap().0[0][0][..], b"ping");
//! client.close();
//! server.close();
//! # Ok(())
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

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
pub use zmqio_core::*;

use zmqio_core::runtime::{Readiness, Runtime, ZmqFd};

/// The tokio implementation of [`Runtime`]: `AsyncFd` for `ZMQ_FD`, `tokio::spawn` for the
/// driver.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioRuntime;

struct TokioReadiness(AsyncFd<ZmqFd>);

impl Readiness for TokioReadiness {
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.0.poll_read_ready(cx) {
            Poll::Ready(Ok(mut guard)) => {
                // The driver calls this only after seeing no wanted bit in ZMQ_EVENTS, and
                // re-reads ZMQ_EVENTS right after: clearing here loses no edge (rule 7).
                guard.clear_ready();
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

// SAFETY (the `Runtime` contract): the `ZmqFd` moves into the `AsyncFd`, which only watches
// it for readability and, when dropped with the `TokioReadiness` holding it, deregisters it
// and drops the `ZmqFd`, which closes nothing. Nothing else keeps the descriptor, and a
// failed registration hands the `ZmqFd` back inside the error, which is dropped here.
#[allow(unsafe_code)]
unsafe impl Runtime for TokioRuntime {
    /// Registers `fd` with the reactor of the current tokio runtime.
    ///
    /// # Errors
    ///
    /// An `io::Error` when called outside a tokio runtime (there is no reactor to register
    /// with), in a runtime built without timers (`enable_time`) or without the I/O driver
    /// (`enable_io`), or when the reactor refuses the descriptor. tokio reports a missing
    /// driver only by panicking: the panic is caught, but its message is printed by the
    /// panic hook, and with `panic = "abort"` the process aborts instead.
    fn register(&self, fd: ZmqFd) -> io::Result<Box<dyn Readiness>> {
        if let Err(e) = tokio::runtime::Handle::try_current() {
            return Err(io::Error::other(format!(
                "zmqio-tokio must be used from inside a tokio runtime: {e}"
            )));
        }
        // The driver's back-off and a close's LINGER run on the runtime's timer, and tokio
        // panics when a `Sleep` is made without one: inside the driver, long after the call
        // that could have reported it. Find out here, where the error reaches the caller.
        // (tokio offers no way to ask; its panic message is printed once, by the hook, and
        // a program built with `panic = "abort"` aborts here, as it would have at the
        // driver's first timer.)
        let timers = std::panic::catch_unwind(|| drop(tokio::time::sleep(Duration::ZERO)));
        if timers.is_err() {
            return Err(io::Error::other(
                "zmqio-tokio needs a tokio runtime with timers: call `enable_time()` (or \
                 `enable_all()`) on the runtime builder",
            ));
        }
        // SAFETY: `fd` is a live socket's ZMQ_FD, and by the contract of `Runtime` (which
        // zmqio, the only caller, upholds) the socket stays open, with this same descriptor,
        // until the `TokioReadiness` made here is dropped. The `AsyncFd` lives inside it, so
        // the descriptor outlives the `AsyncFd`, as `register_with_interest` requires.
        let async_fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Box::new(TokioReadiness(async_fd)))
    }

    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) {
        tokio::spawn(future);
    }

    /// The runtime's own timer, for the driver's back-off and deadlines.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

fn runtime() -> Arc<dyn Runtime> {
    static RUNTIME: OnceLock<Arc<dyn Runtime>> = OnceLock::new();
    RUNTIME.get_or_init(|| Arc::new(TokioRuntime)).clone()
}

/// Creates a transport/protocol pair on tokio; await the builder to get
/// `(ZmqTransport, Arc<Mutex<P>>)`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> zmqio_tokio::Result<()> {
/// struct Quiet;
/// impl zmqio_tokio::ZmqProtocol for Quiet {}
///
/// let (transport, _protocol) = zmqio_tokio::create_zmq_connection(|| Quiet, zmq::PULL)
///     .bind("tcp://127.0.0.1:*")
///     .await?;
/// transport.close();
/// # Ok(()) }
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

/// Creates a [`ZmqStream`] on tokio; await the builder.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> zmqio_tokio::Result<()> {
/// let mut pull = zmqio_tokio::create_zmq_stream(zmq::PULL)
///     .bind("tcp://127.0.0.1:*")
///     .await?;
/// let endpoint = pull.transport().bindings().into_iter().next().unwrap();
/// let push = zmqio_tokio::create_zmq_stream(zmq::PUSH).connect(endpoint).await?;
/// push.write(["hello"])?;
/// assert_eq!(&pull.read().await?[0][..], b"hello");
/// # Ok(()) }
/// ```
pub fn create_zmq_stream(zmq_type: SocketType) -> StreamBuilder {
    StreamBuilder::new(runtime(), zmq_type)
}

/// Resolves the host of a `tcp://host:port` endpoint with tokio's resolver, so the result can
/// be given to `connect` (which takes IP literals only). Other transports and IP literals come
/// back unchanged.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> zmqio_tokio::Result<()> {
/// let ep = zmqio_tokio::resolve_endpoint("tcp://localhost:5555").await?;
/// assert!(ep == "tcp://127.0.0.1:5555" || ep == "tcp://[::1]:5555");
/// # Ok(()) }
/// ```
pub async fn resolve_endpoint(endpoint: &str) -> Result<String> {
    let Some((host, port)) = tcp_host_to_resolve(endpoint) else {
        return Ok(endpoint.to_owned());
    };
    resolved_endpoint(endpoint, tokio::net::lookup_host((host, port)).await?)
}

/// Starts a ZAP handler for `ctx` on tokio: an [`auth::Authenticator`] bound at
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
/// A CURVE server that admits one client key, and that client. It needs a libzmq with
/// CURVE (see the README's Security section), hence `no_run`:
///
/// ```no_run
/// use zmqio_tokio as zmqio;
/// use zmqio::auth::{Certificate, CurveAllow};
/// use zmqio::opt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> zmqio::Result<()> {
/// let ctx = zmq::Context::new();
/// let server_cert = Certificate::generate()?; // or Certificate::load("server.key_secret")?
/// let client_cert = Certificate::generate()?;
///
/// // The handler first: a CURVE server without one would admit any client key.
/// let auth = zmqio::start_authenticator(&ctx).await?;
/// auth.configure_curve("*", CurveAllow::Keys([client_cert.public_key].into()));
///
/// let mut server = zmqio::create_zmq_stream(zmq::REP)
///     .context(ctx.clone())
///     .setsockopt(opt::CurveServer, true)
///     .setsockopt(opt::CurveSecretKey, server_cert.secret_key.unwrap().to_vec())
///     .bind("tcp://127.0.0.1:*")
///     .await?;
/// let endpoint = server.transport().bindings().into_iter().next().unwrap();
///
/// let mut client = zmqio::create_zmq_stream(zmq::REQ)
///     .context(ctx.clone())
///     .setsockopt(opt::CurveServerKey, server_cert.public_key.to_vec())
///     .setsockopt(opt::CurvePublicKey, client_cert.public_key.to_vec())
///     .setsockopt(opt::CurveSecretKey, client_cert.secret_key.unwrap().to_vec())
///     .connect(endpoint)
///     .await?;
/// client.write(["hello"])?;
/// let request = server.read().await?;
/// server.write(request)?;
/// assert_eq!(&client.read().await?[0][..], b"hello");
/// assert_eq!(auth.accepted(), 1);
/// auth.stop().await;
/// # Ok(()) }
/// ```
pub async fn start_authenticator(ctx: &zmq::Context) -> Result<auth::Authenticator> {
    auth::Authenticator::start(runtime(), ctx).await
}
