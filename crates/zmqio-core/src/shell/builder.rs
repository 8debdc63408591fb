//! [`ConnectionBuilder`]: what `create_zmq_connection` returns, awaited into a transport.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::engine::{Backend, Engine, ZmqBackend};
use crate::opt::{OptKind, SetSocketOpt};
use crate::runtime::Runtime;
use crate::{shell, Error, Result, ZmqProtocol, ZmqTransport};

/// One or more endpoints: `&str`, `String`, arrays and vectors of either.
///
/// ```
/// use zmqio_core::IntoEndpoints;
/// assert_eq!("inproc://a".into_endpoints(), vec!["inproc://a".to_owned()]);
/// assert_eq!(["inproc://a", "inproc://b"].into_endpoints().len(), 2);
/// assert_eq!(vec![String::from("inproc://a")].into_endpoints().len(), 1);
/// ```
pub trait IntoEndpoints {
    /// The endpoints, in order.
    fn into_endpoints(self) -> Vec<String>;
}

impl IntoEndpoints for &str {
    fn into_endpoints(self) -> Vec<String> {
        vec![self.to_owned()]
    }
}

impl IntoEndpoints for String {
    fn into_endpoints(self) -> Vec<String> {
        vec![self]
    }
}

impl IntoEndpoints for &String {
    fn into_endpoints(self) -> Vec<String> {
        vec![self.clone()]
    }
}

impl<T: Into<String>, const N: usize> IntoEndpoints for [T; N] {
    fn into_endpoints(self) -> Vec<String> {
        self.into_iter().map(Into::into).collect()
    }
}

impl<T: Into<String>> IntoEndpoints for Vec<T> {
    fn into_endpoints(self) -> Vec<String> {
        self.into_iter().map(Into::into).collect()
    }
}

impl<T: Into<String> + Clone> IntoEndpoints for &[T] {
    fn into_endpoints(self) -> Vec<String> {
        self.iter().cloned().map(Into::into).collect()
    }
}

/// The process-wide context used when no [`context`](ConnectionBuilder::context) is given.
///
/// zmqio never terminates it on its own, so closing a socket never blocks on `LINGER`; a
/// program ends it with [`shutdown`](crate::shutdown), which waits until what was written
/// is sent. After a shutdown, the next call makes a fresh context. It has 1 I/O thread unless
/// [`set_default_io_threads`] set another count before its first use.
///
/// ```
/// let ctx = zmqio_core::default_context();
/// let sock = ctx.socket(zmq::PAIR).unwrap();
/// ```
pub fn default_context() -> zmq::Context {
    shell::shutdown::process_context().0
}

/// Sets the number of libzmq I/O threads of the process-wide context ([`default_context`]),
/// which has 1 otherwise. Call it once, early (e.g. first thing in `main`): it works only
/// before the process-wide context is first used. A context given with `.context(..)` is not
/// affected (set its count with [`zmq::Context::set_io_threads`] before its first socket).
///
/// libzmq gives each connection (not each message) to one I/O thread, the least loaded one
/// when the connection is made, so more I/O threads help only when the I/O thread is the
/// busiest thread and there are cores to spare. Measured on a 2-core machine with one busy
/// PUSH/PULL pair (BENCHMARKS.md, "The I/O thread count"): on tokio's current-thread runtime,
/// whose one thread is the bottleneck, a second I/O thread cost 7-27% of the throughput; on
/// the multi-thread runtime it gained about 10%, with single runs from -19% to +55%. The
/// recommendation is the default of 1; set 2 for a multi-threaded runtime with busy
/// connections and cores to spare, after measuring that load.
///
/// # Errors
///
/// - [`Error::InvalidArgument`] if `n` is below 1.
/// - [`Error::InvalidState`] if the process-wide context already exists (made by an earlier
///   [`default_context`], a transport or stream built without `.context(..)`, or an earlier
///   call of this function) with another count. Asking for the count it already has is `Ok`.
///
/// # Example
///
/// ```
/// zmqio_core::set_default_io_threads(2)?;
/// assert_eq!(zmqio_core::default_context().get_io_threads()?, 2);
/// // The context is in use now: its count can no longer change.
/// assert!(matches!(
///     zmqio_core::set_default_io_threads(4),
///     Err(zmqio_core::Error::InvalidState(_))
/// ));
/// # Ok::<(), zmqio_core::Error>(())
/// ```
pub fn set_default_io_threads(n: i32) -> Result<()> {
    shell::shutdown::set_process_io_threads(n)
}

/// One option given to a builder's `setsockopt`, applied to the engine's socket.
type PendingOption = Box<dyn FnOnce(&mut Engine<ZmqBackend>) -> Result<()> + Send>;

/// What both builders collect: the socket to make or wrap, the options to set on it, and
/// where to bind and connect.
#[derive(Default)]
pub(crate) struct SocketSpec {
    pub(crate) binds: Vec<String>,
    pub(crate) connects: Vec<String>,
    pub(crate) socket: Option<zmq::Socket>,
    pub(crate) context: Option<zmq::Context>,
    pub(crate) options: Vec<PendingOption>,
    /// Whether a PLAIN/CURVE server (or a socket with a ZAP domain) may be made on a context
    /// where no ZAP handler is bound (see `allow_missing_zap_handler`).
    pub(crate) zap_handler_optional: bool,
}

impl SocketSpec {
    /// Makes (or checks) the socket, sets the options, checks that a socket which
    /// authenticates its peers has a ZAP handler, binds, then connects. On any error the
    /// socket is closed when the engine is dropped.
    ///
    /// The backend remembers the socket's context for the socket monitor: the one given, or
    /// the process-wide one for a socket made here. For a wrapped socket without `context`,
    /// it stays unknown (the monitor then assumes the process-wide one).
    pub(crate) fn open(self, socket_type: zmq::SocketType) -> Result<Engine<ZmqBackend>> {
        // For the ZAP handler check: the context the socket is in (`None`: the process-wide
        // one, which a wrapped socket without `context` is assumed to be in).
        let context = self.context.clone();
        let wrapped = self.socket.is_some();
        let backend = match self.socket {
            Some(s) => {
                // A thread-safe (draft) socket (SERVER, CLIENT, RADIO, ...) has no ZMQ_FD
                // (libzmq answers EINVAL), so no reactor can wait on it. Checked first: the
                // `zmq` crate's `get_socket_type` panics on a type it does not know.
                if let Err(zmq::Error::EINVAL) = s.get_fd() {
                    return Err(Error::not_supported(
                        "thread-safe socket types have no ZMQ_FD and cannot be driven",
                    ));
                }
                let actual = s.get_socket_type()?;
                if actual != socket_type {
                    return Err(Error::invalid_argument(format!(
                        "the given socket is {actual:?}, not {socket_type:?}"
                    )));
                }
                ZmqBackend::with_context(s, self.context)
            }
            // The process-wide context is recorded as `None`: it is what an unknown context
            // is assumed to be, and never holding a handle to it costs nothing. A context
            // given here is held, and released off the runtime's threads when the socket
            // closes (see `ZmqBackend::release`).
            None => match self.context {
                Some(ctx) => {
                    let socket = ctx.socket(socket_type)?;
                    ZmqBackend::with_context(socket, Some(ctx))
                }
                None => {
                    let (ctx, generation) = shell::shutdown::process_context();
                    ZmqBackend::in_process_context(ctx.socket(socket_type)?, generation)
                }
            },
        };
        let mut engine = Engine::new(backend, socket_type);
        for apply in self.options {
            apply(&mut engine)?;
        }
        if !self.zap_handler_optional {
            if let Some(backend) = engine.backend_mut() {
                shell::auth::check_zap_handler(backend, context.as_ref(), wrapped)?;
            }
        }
        for ep in &self.binds {
            engine.bind(ep)?;
        }
        for ep in &self.connects {
            engine.connect(ep)?;
        }
        Ok(engine)
    }
}

impl SocketSpec {
    /// Queues `option = value`, to be set once the socket exists, before any bind or
    /// connect. Subscriptions set this way enter the engine's subscription set, as they do
    /// through `ZmqTransport::setsockopt`.
    pub(crate) fn push_option<O>(&mut self, option: O, value: O::Value)
    where
        O: SetSocketOpt + Send + 'static,
        O::Value: Send + 'static,
    {
        self.options.push(Box::new(move |engine| {
            let change = match O::KIND {
                OptKind::Other => None,
                kind => O::as_bytes(&value).map(|b| (kind == OptKind::Subscribe, b.to_vec())),
            };
            let socket = engine
                .backend()
                .and_then(|b| b.socket())
                .ok_or(Error::Closed)?;
            option.set(socket, value)?;
            if let Some((on, bytes)) = change {
                if engine.socket_type() == zmq::SUB {
                    engine.note_subscription(&bytes, on);
                }
            }
            Ok(())
        }));
    }
}

impl std::fmt::Debug for SocketSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketSpec")
            .field("binds", &self.binds)
            .field("connects", &self.connects)
            .field("socket", &self.socket.is_some())
            .field("options", &self.options.len())
            .field("zap_handler_optional", &self.zap_handler_optional)
            .finish_non_exhaustive()
    }
}

/// The builder methods `ConnectionBuilder` and `StreamBuilder` share: where to bind and
/// connect, and which socket and context to use. Both keep them in a `spec: SocketSpec`.
macro_rules! socket_spec_methods {
    () => {
        /// Adds endpoints to bind (before any connect). An IPv6 literal host
        /// (`tcp://[::1]:*`) sets `ZMQ_IPV6` on the socket first, as
        /// [`ZmqTransport::bind`](crate::ZmqTransport::bind) does. Takes one endpoint or
        /// several (see [`IntoEndpoints`](crate::IntoEndpoints)); calling it again adds more.
        ///
        /// ```
        /// # mod doc { include!("doctest_support.rs"); }
        /// # doc::run(async {
        /// use zmqio_core::StreamBuilder;
        ///
        /// // The same on `ConnectionBuilder`; with an adapter, `create_zmq_stream(zmq::PULL)`.
        /// let pull = StreamBuilder::new(doc::rt(), zmq::PULL)
        ///     .bind("inproc://builder-bind")
        ///     .bind(["inproc://builder-bind-2", "tcp://127.0.0.1:*"])
        ///     .await?;
        /// assert_eq!(pull.transport().bindings().len(), 3);
        /// // Where the last bind landed, with the port the system chose:
        /// assert!(pull.bound_endpoint().unwrap().starts_with("tcp://127.0.0.1:"));
        /// # Ok::<(), zmqio_core::Error>(())
        /// # });
        /// ```
        pub fn bind(mut self, endpoints: impl IntoEndpoints) -> Self {
            self.spec.binds.extend(endpoints.into_endpoints());
            self
        }

        /// Adds endpoints to connect (after the binds). An IPv6 literal host sets
        /// `ZMQ_IPV6` on the socket first, as
        /// [`ZmqTransport::connect`](crate::ZmqTransport::connect) does. A tcp endpoint must
        /// name an IP address (`resolve_endpoint` turns a host name into one); the peer need
        /// not be there yet: libzmq connects in the background and retries.
        ///
        /// ```
        /// # mod doc { include!("doctest_support.rs"); }
        /// # doc::run(async {
        /// use zmqio_core::StreamBuilder;
        ///
        /// let push = StreamBuilder::new(doc::rt(), zmq::PUSH)
        ///     .connect("tcp://127.0.0.1:5555")
        ///     .connect(vec!["inproc://builder-connect".to_owned()])
        ///     .await?;
        /// assert_eq!(push.transport().connections().len(), 2);
        /// # Ok::<(), zmqio_core::Error>(())
        /// # });
        /// ```
        pub fn connect(mut self, endpoints: impl IntoEndpoints) -> Self {
            self.spec.connects.extend(endpoints.into_endpoints());
            self
        }

        /// Wraps an existing socket instead of making one; it must be of the type asked for.
        /// Endpoints it was bound or connected to before are not tracked.
        ///
        /// If the socket was not made in [`default_context`](crate::default_context), also
        /// give its context with [`context`](Self::context): the socket monitor
        /// ([`ZmqTransport::enable_monitor`](crate::ZmqTransport::enable_monitor)) needs it, and fails with `InvalidArgument` when
        /// the socket is not in the context it assumed.
        ///
        /// ```
        /// # mod doc { include!("doctest_support.rs"); }
        /// # doc::run(async {
        /// use zmqio_core::{opt, StreamBuilder};
        ///
        /// let socket = zmqio_core::default_context().socket(zmq::PULL)?;
        /// socket.set_rcvhwm(10)?; // set up with the zmq crate's own API
        /// let pull = StreamBuilder::new(doc::rt(), zmq::PULL).zmq_sock(socket).await?;
        /// assert_eq!(pull.transport().getsockopt(opt::RcvHwm)?, 10);
        /// // A socket of another type than the one asked for is refused.
        /// let other = zmqio_core::default_context().socket(zmq::PUSH)?;
        /// let refused = StreamBuilder::new(doc::rt(), zmq::PULL).zmq_sock(other).await;
        /// assert!(matches!(refused, Err(zmqio_core::Error::InvalidArgument(_))));
        /// # Ok::<(), zmqio_core::Error>(())
        /// # });
        /// ```
        pub fn zmq_sock(mut self, socket: zmq::Socket) -> Self {
            self.spec.socket = Some(socket);
            self
        }

        /// Makes the socket in this context instead of the process-wide one. With
        /// [`zmq_sock`](Self::zmq_sock), names the context the given socket belongs to.
        ///
        /// `inproc://` endpoints and the ZAP handler ([`auth`](crate::auth)) are per context.
        ///
        /// ```
        /// # mod doc { include!("doctest_support.rs"); }
        /// # doc::run(async {
        /// use zmqio_core::StreamBuilder;
        ///
        /// let ctx = zmq::Context::new();
        /// let mut pull = StreamBuilder::new(doc::rt(), zmq::PULL)
        ///     .context(ctx.clone())
        ///     .bind("inproc://builder-context")
        ///     .await?;
        /// // A socket of the same context reaches the inproc endpoint.
        /// let push = ctx.socket(zmq::PUSH)?;
        /// push.connect("inproc://builder-context")?;
        /// push.send("hello", 0)?;
        /// assert_eq!(&pull.read().await?[0][..], b"hello");
        /// # Ok::<(), zmqio_core::Error>(())
        /// # });
        /// ```
        pub fn context(mut self, ctx: zmq::Context) -> Self {
            self.spec.context = Some(ctx);
            self
        }

        /// Sets a socket option once the socket is made (or wrapped), before any bind or
        /// connect. Options are applied in the order of the calls, so a later call for the
        /// same option wins.
        ///
        /// This is how options that must precede the first connection are set: CURVE and
        /// PLAIN credentials, [`ZapDomain`](crate::opt::ZapDomain),
        /// [`RoutingId`](crate::opt::RoutingId), the high water marks, `Linger`.
        /// [`Subscribe`](crate::opt::Subscribe) set here enters the subscription set as
        /// `ZmqTransport::subscribe` would.
        ///
        /// # Errors
        ///
        /// The first option libzmq refuses fails the `.await`, as a bad endpoint does: no
        /// protocol callback runs and the socket is closed. A CURVE option where the linked
        /// libzmq has no CURVE fails with [`Error::NotSupported`](crate::Error::NotSupported)
        /// (nothing falls back to clear text). A socket that would authenticate its peers
        /// (a PLAIN or CURVE server, or one with a `ZapDomain`) on a context where no ZAP
        /// handler is bound fails with [`Error::InvalidState`](crate::Error::InvalidState),
        /// unless [`allow_missing_zap_handler`](Self::allow_missing_zap_handler) was called
        /// (see [`auth`](crate::auth)).
        ///
        /// ```
        /// # mod doc { include!("doctest_support.rs"); }
        /// # doc::run(async {
        /// use zmqio_core::{opt, StreamBuilder};
        ///
        /// let mut router = StreamBuilder::new(doc::rt(), zmq::ROUTER)
        ///     .bind("inproc://builder-setsockopt")
        ///     .await?;
        /// let dealer = StreamBuilder::new(doc::rt(), zmq::DEALER)
        ///     .setsockopt(opt::RoutingId, b"worker-1".to_vec()) // set before the connection exists
        ///     .setsockopt(opt::SndHwm, 100)
        ///     .connect("inproc://builder-setsockopt")
        ///     .await?;
        /// dealer.write("ready")?;
        /// assert_eq!(&router.read().await?[0][..], b"worker-1");
        ///
        /// // A value libzmq refuses fails the `.await`.
        /// let refused = StreamBuilder::new(doc::rt(), zmq::DEALER)
        ///     .setsockopt(opt::SndHwm, -1)
        ///     .await;
        /// assert_eq!(refused.unwrap_err().errno(), Some(zmq::Error::EINVAL.to_raw()));
        /// # Ok::<(), zmqio_core::Error>(())
        /// # });
        /// ```
        pub fn setsockopt<O>(mut self, option: O, value: O::Value) -> Self
        where
            O: crate::opt::SetSocketOpt + Send + 'static,
            O::Value: Send + 'static,
        {
            self.spec.push_option(option, value);
            self
        }

        /// Lets a PLAIN or CURVE server, or a socket with a
        /// [`ZapDomain`](crate::opt::ZapDomain), be made on a context where no ZAP handler
        /// is bound at `inproc://zeromq.zap.01`.
        ///
        /// Without a handler libzmq authenticates nobody: a CURVE server admits any client
        /// key (the traffic is still encrypted), the `ZapDomain` of a NULL socket is
        /// ignored, and a PLAIN server fails every handshake. So by default the builder
        /// refuses to make such a socket; call this only where that is what you want (CURVE
        /// encryption without authentication, or a handler that will be bound before any
        /// peer connects).
        ///
        /// ```
        /// # mod doc { include!("doctest_support.rs"); }
        /// # doc::run(async {
        /// use zmqio_core::{opt, Error, StreamBuilder};
        ///
        /// let ctx = zmq::Context::new(); // no ZAP handler is bound on it
        /// let refused = StreamBuilder::new(doc::rt(), zmq::PULL)
        ///     .context(ctx.clone())
        ///     .setsockopt(opt::ZapDomain, "global".to_owned())
        ///     .await;
        /// assert!(matches!(refused, Err(Error::InvalidState(_))));
        ///
        /// let pull = StreamBuilder::new(doc::rt(), zmq::PULL)
        ///     .context(ctx.clone())
        ///     .setsockopt(opt::ZapDomain, "global".to_owned())
        ///     .allow_missing_zap_handler() // every peer is admitted: libzmq ignores the domain
        ///     .await?;
        /// pull.close();
        /// # Ok::<(), zmqio_core::Error>(())
        /// # });
        /// ```
        pub fn allow_missing_zap_handler(mut self) -> Self {
            self.spec.zap_handler_optional = true;
            self
        }
    };
}
pub(crate) use socket_spec_methods;

/// Builds a transport/protocol pair; returned by each adapter's `create_zmq_connection`.
///
/// Await it to get `(ZmqTransport, Arc<Mutex<P>>)`. Endpoints are bound first, then
/// connected; `connection_made` has run when it resolves. A create that fails closes the
/// socket it made and calls no protocol callback.
///
/// ```
/// # mod doc { include!("doctest_support.rs"); }
/// # doc::run(async {
/// # let rt = doc::rt();
/// use zmqio_core::{ConnectionBuilder, ZmqProtocol};
///
/// struct Quiet;
/// impl ZmqProtocol for Quiet {}
///
/// let (transport, _protocol) = ConnectionBuilder::new(rt, || Quiet, zmq::DEALER)
///     .bind("tcp://127.0.0.1:*")
///     .connect(["inproc://a", "inproc://b"])
///     .await?;
/// # Ok::<(), zmqio_core::Error>(())
/// # });
/// ```
#[must_use = "a builder does nothing until awaited"]
pub struct ConnectionBuilder<P> {
    runtime: Arc<dyn Runtime>,
    factory: Box<dyn FnOnce() -> P + Send>,
    socket_type: zmq::SocketType,
    spec: SocketSpec,
}

impl<P: ZmqProtocol> ConnectionBuilder<P> {
    /// A builder on `runtime`; adapters wrap this as `create_zmq_connection`.
    ///
    /// ```
    /// # mod doc { include!("doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::{ConnectionBuilder, ZmqProtocol};
    ///
    /// struct Quiet;
    /// impl ZmqProtocol for Quiet {}
    ///
    /// // `doc::rt()`: a `zmqio_core::runtime::Runtime` (see that module for one).
    /// let (transport, _) = ConnectionBuilder::new(doc::rt(), || Quiet, zmq::PULL).await?;
    /// assert_eq!(transport.socket_type(), zmq::PULL);
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn new<F>(runtime: Arc<dyn Runtime>, protocol_factory: F, zmq_type: zmq::SocketType) -> Self
    where
        F: FnOnce() -> P + Send + 'static,
    {
        Self {
            runtime,
            factory: Box::new(protocol_factory),
            socket_type: zmq_type,
            spec: SocketSpec::default(),
        }
    }

    socket_spec_methods!();
}

impl<P: ZmqProtocol> IntoFuture for ConnectionBuilder<P> {
    type Output = Result<(ZmqTransport, Arc<Mutex<P>>)>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let engine = self.spec.open(self.socket_type)?;
            let protocol = (self.factory)();
            shell::start(&self.runtime, engine, protocol)
        })
    }
}

impl<P> std::fmt::Debug for ConnectionBuilder<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionBuilder")
            .field("socket_type", &self.socket_type)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}
