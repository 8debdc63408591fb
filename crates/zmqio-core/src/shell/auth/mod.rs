//! Authentication: a ZAP handler (ZeroMQ RFC 27) for one context, CURVE certificates and
//! Z85 keys, like pyzmq's `zmq.auth`.
//!
//! libzmq asks the ZAP handler bound at `inproc://zeromq.zap.01` in a socket's context
//! whether to admit each peer of a PLAIN or CURVE server socket, and of a NULL socket that
//! has a [`ZapDomain`](crate::opt::ZapDomain). Each adapter's `start_authenticator(&ctx)`
//! binds an [`Authenticator`] there; it runs as an ordinary zmqio transport (a ROUTER) on
//! the adapter's runtime: no thread of its own, nothing blocking.
//!
//! # Rules
//!
//! As pyzmq's authenticators decide:
//!
//! - A non-empty allow list ([`Authenticator::allow`]) admits only its addresses, and the
//!   deny list is then not consulted; otherwise an address on the deny list
//!   ([`Authenticator::deny`]) is refused. The lists apply to every mechanism.
//! - An admitted address still needs valid credentials: NULL needs none; PLAIN needs a user
//!   name and password of [`configure_plain`](Authenticator::configure_plain), CURVE a
//!   client key of [`configure_curve`](Authenticator::configure_curve). Both are looked up
//!   for the request's domain, or for `"*"` (any domain, the empty one included) where that
//!   domain has no entry. (pyzmq looks up the request's domain only, and `"*"` for the empty
//!   one.) Nothing configured for PLAIN or CURVE means every such client is refused.
//! - With a custom handler ([`Authenticator::set_handler`]), a request the address lists
//!   admit is decided by that handler instead.
//! - A malformed request (too few frames, a version other than 1.0, an empty mechanism) is
//!   answered with status 500, an unknown mechanism or credentials of the wrong shape with
//!   400: never an accept.
//!
//! A refused peer gets no message through; the server's monitor reports
//! [`HandshakeFailedAuth`](crate::MonitorEvent::HandshakeFailedAuth) with the status code
//! (400) as its value.
//!
//! # No handler, no authentication
//!
//! libzmq's rules (4.3) where no handler is bound on the context: a CURVE server admits
//! every client key (the traffic is encrypted, but anyone may connect), a NULL socket
//! ignores its `ZapDomain` and admits every peer, and a PLAIN server fails every handshake
//! without telling the client why. So zmqio's builders refuse to make such a socket on a
//! context where no handler is bound (`Error::InvalidState`), unless told otherwise with
//! `allow_missing_zap_handler()`. Start the authenticator first, and keep it running: it
//! stops only with [`Authenticator::stop`], never because a handle was dropped. (The check
//! is made when the socket is created; the transport's own `setsockopt` is not checked.)
//!
//! # Example
//!
//! Each adapter's `start_authenticator` docs have a complete CURVE server and client with
//! the authenticator. Certificates and keys need no runtime:
//!
//! ```
//! use zmqio_core::auth::{z85_decode_key, Certificate, CurveAllow};
//!
//! let text = "curve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n";
//! let client = Certificate::parse(text, "client.key")?;
//! let allowed: CurveAllow = [client.public_key].into_iter().collect();
//! assert_eq!(client.public_key, z85_decode_key("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7")?);
//! # Ok::<(), zmqio_core::Error>(())
//! ```

use std::collections::BTreeSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::FutureExt;

use crate::engine::{Backend, ZmqBackend};
use crate::runtime::Runtime;
use crate::shell::monitor::in_context;
use crate::shell::trace::{self, ZapSubject};
use crate::{opt, ConnectionBuilder, Error, Multipart, Result, ZmqProtocol, ZmqTransport};

mod cert;
mod zap;

pub use cert::{
    create_certificates, load_certificates, z85_decode_key, z85_encode_key, Certificate,
};
pub use zap::{Credentials, CurveAllow, Decision, ZapRequest};

use zap::{Policy, Reply, Verdict};

/// The endpoint a ZAP handler binds, in the context whose sockets it authenticates.
///
/// ```
/// # mod doc { include!("../doctest_support.rs"); }
/// # doc::run(async {
/// use zmqio_core::auth::{Authenticator, ZAP_ENDPOINT};
///
/// let ctx = zmq::Context::new();
/// let auth = Authenticator::start(doc::rt(), &ctx).await?;
/// // Taken while the handler runs: another socket cannot bind it.
/// let other = ctx.socket(zmq::ROUTER)?;
/// assert_eq!(other.bind(ZAP_ENDPOINT), Err(zmq::Error::EADDRINUSE));
/// auth.stop().await;
/// # Ok::<(), zmqio_core::Error>(())
/// # });
/// ```
pub const ZAP_ENDPOINT: &str = crate::types::endpoint::ZAP;

/// A custom decision for requests the address lists admit, for credentials kept elsewhere
/// (a database, a directory service). Any `Fn(ZapRequest) -> impl Future<Output = Decision>`
/// is one.
///
/// The future runs as a task of the authenticator's runtime, so it may await; requests are
/// answered as their futures finish, in any order. A handler that panics answers 500 (the
/// client is refused).
///
/// ```
/// use zmqio_core::auth::{Credentials, Decision, ZapHandler, ZapRequest};
///
/// let handler = |request: ZapRequest| async move {
///     match request.credentials {
///         Credentials::Plain { username, password } if password == "let me in" => {
///             Decision::Accept(username)
///         }
///         _ => Decision::Refuse("unknown user".into()),
///     }
/// };
/// let request = ZapRequest::new(
///     "",
///     "127.0.0.1",
///     Credentials::Plain { username: "ann".into(), password: "let me in".into() },
/// );
/// let decision = futures::executor::block_on(handler.authenticate(request));
/// assert_eq!(decision, Decision::Accept("ann".into()));
/// // Then: authenticator.set_handler(handler);
/// ```
pub trait ZapHandler: Send + Sync + 'static {
    /// Decides one request.
    fn authenticate(&self, request: ZapRequest) -> Pin<Box<dyn Future<Output = Decision> + Send>>;
}

impl<F, Fut> ZapHandler for F
where
    F: Fn(ZapRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Decision> + Send + 'static,
{
    fn authenticate(&self, request: ZapRequest) -> Pin<Box<dyn Future<Output = Decision> + Send>> {
        Box::pin(self(request))
    }
}

/// A ZAP handler bound on one context; every change applies to the next handshake.
///
/// Made by each adapter's `start_authenticator(&ctx)` (or [`Authenticator::start`] with a
/// runtime of your own). Clones are handles to the same handler. Dropping them does not stop
/// it (a lost handle must not open the door); [`stop`](Self::stop) does. See the
/// [module docs](self) for the rules and an example.
///
/// ```
/// # mod doc { include!("../doctest_support.rs"); }
/// # doc::run(async {
/// use zmqio_core::auth::Authenticator;
/// use zmqio_core::{opt, StreamBuilder};
///
/// let ctx = zmq::Context::new();
/// // With an adapter: `start_authenticator(&ctx)`, before the sockets it guards.
/// let auth = Authenticator::start(doc::rt(), &ctx).await?;
/// auth.configure_plain("*", [("admin", "secret")]);
///
/// let mut server = StreamBuilder::new(doc::rt(), zmq::PULL)
///     .context(ctx.clone())
///     .setsockopt(opt::PlainServer, true)
///     .bind("tcp://127.0.0.1:*")
///     .await?;
/// let client = StreamBuilder::new(doc::rt(), zmq::PUSH)
///     .context(ctx.clone())
///     .setsockopt(opt::PlainUsername, Some("admin".to_owned()))
///     .setsockopt(opt::PlainPassword, Some("secret".to_owned()))
///     .connect(server.bound_endpoint().unwrap())
///     .await?;
/// client.write("hello")?;
/// assert_eq!(&server.read().await?[0][..], b"hello");
/// assert_eq!(auth.accepted(), 1);
/// auth.stop().await;
/// # Ok::<(), zmqio_core::Error>(())
/// # });
/// ```
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
    transport: ZmqTransport,
}

struct Inner {
    runtime: Arc<dyn Runtime>,
    policy: Mutex<Policy>,
    handler: Mutex<Option<Arc<dyn ZapHandler>>>,
    accepted: AtomicU64,
    refused: AtomicU64,
    /// Calls of the custom handler not yet answered, and how many may be.
    pending: AtomicUsize,
    handler_limit: AtomicUsize,
}

/// How many calls of the custom handler may wait at a time unless
/// [`Authenticator::set_handler_limit`] says otherwise.
///
/// ```
/// assert_eq!(zmqio_core::auth::DEFAULT_HANDLER_LIMIT, 1024);
/// ```
pub const DEFAULT_HANDLER_LIMIT: usize = 1024;

/// One call of the custom handler counted in `Inner::pending` until it is dropped (answered,
/// panicked, or dropped with its task).
struct PendingCall(Arc<Inner>);

impl Drop for PendingCall {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PendingCall {
    /// A slot for one more call, unless the limit is reached.
    fn take(inner: &Arc<Inner>) -> Option<Self> {
        let limit = inner.handler_limit.load(Ordering::Acquire);
        inner
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(inner.clone()))
    }
}

impl Authenticator {
    /// Binds a ZAP handler at [`ZAP_ENDPOINT`] on `ctx`, running on `runtime`. The adapters'
    /// `start_authenticator(&ctx)` call this with their runtime.
    ///
    /// # Errors
    ///
    /// `Error::Zmq(EADDRINUSE)` while another handler (of zmqio or not) is bound on `ctx`.
    ///
    /// ```
    /// # mod doc { include!("../doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::auth::Authenticator;
    ///
    /// let ctx = zmq::Context::new();
    /// let auth = Authenticator::start(doc::rt(), &ctx).await?;
    /// assert!(auth.is_running());
    /// // One handler per context.
    /// let second = Authenticator::start(doc::rt(), &ctx).await;
    /// assert_eq!(second.unwrap_err().errno(), Some(zmq::Error::EADDRINUSE.to_raw()));
    /// auth.stop().await;
    /// let again = Authenticator::start(doc::rt(), &ctx).await?; // free again after stop()
    /// again.stop().await;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub async fn start(runtime: Arc<dyn Runtime>, ctx: &zmq::Context) -> Result<Self> {
        let inner = Arc::new(Inner {
            runtime: runtime.clone(),
            policy: Mutex::new(Policy::default()),
            handler: Mutex::new(None),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            pending: AtomicUsize::new(0),
            handler_limit: AtomicUsize::new(DEFAULT_HANDLER_LIMIT),
        });
        let protocol = ZapProtocol {
            inner: inner.clone(),
            transport: None,
        };
        let (transport, _) = ConnectionBuilder::new(runtime, move || protocol, zmq::ROUTER)
            .context(ctx.clone())
            // Replies to handshakes still pending when the handler stops are dropped.
            .setsockopt(opt::Linger, 0)
            .bind(ZAP_ENDPOINT)
            .await?;
        Ok(Self { inner, transport })
    }

    /// Adds addresses (IP addresses as text, e.g. `"127.0.0.1"`) to the allow list. A
    /// non-empty allow list admits only its addresses, for every mechanism, and the deny
    /// list is then not consulted.
    ///
    /// Both lists compare IP addresses, not their text: an IPv6 address matches however it
    /// is written, and an IPv4 client of a dual-stack server (bound on `[::]`, which sees it
    /// as `::ffff:a.b.c.d`) matches its IPv4 entry.
    ///
    /// ```
    /// # mod doc { include!("../doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::auth::Authenticator;
    ///
    /// let ctx = zmq::Context::new();
    /// // With an adapter: `start_authenticator(&ctx)`.
    /// let auth = Authenticator::start(doc::rt(), &ctx).await?;
    /// auth.allow(["127.0.0.1", "10.0.0.7"]); // only these may connect
    /// auth.allow(vec!["10.0.0.8".to_owned()]); // adds to the list
    /// auth.stop().await;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn allow<S: Into<String>>(&self, addresses: impl IntoIterator<Item = S>) {
        self.policy().allow.extend(
            addresses
                .into_iter()
                .map(|a| zap::canonical_address(&a.into()).into_owned()),
        );
    }

    /// Adds addresses to the deny list: refused for every mechanism, unless the allow list
    /// is in use.
    ///
    /// ```
    /// # mod doc { include!("../doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::auth::Authenticator;
    ///
    /// let ctx = zmq::Context::new();
    /// // With an adapter: `start_authenticator(&ctx)`.
    /// let auth = Authenticator::start(doc::rt(), &ctx).await?;
    /// auth.deny(["192.0.2.1"]); // everyone else may connect (with valid credentials)
    /// auth.stop().await;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn deny<S: Into<String>>(&self, addresses: impl IntoIterator<Item = S>) {
        self.policy().deny.extend(
            addresses
                .into_iter()
                .map(|a| zap::canonical_address(&a.into()).into_owned()),
        );
    }

    /// Sets the PLAIN user names and passwords of `domain` (replacing those it had); `"*"`
    /// covers every domain without an entry of its own.
    ///
    /// PLAIN sends the password in clear text: anyone who can watch the network sees it.
    ///
    /// ```
    /// # mod doc { include!("../doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::auth::Authenticator;
    ///
    /// let ctx = zmq::Context::new();
    /// // With an adapter: `start_authenticator(&ctx)`.
    /// let auth = Authenticator::start(doc::rt(), &ctx).await?;
    /// auth.configure_plain("*", [("admin", "secret")]); // every domain without its own entry
    /// auth.configure_plain("guests", vec![("guest".to_owned(), "guest".to_owned())]);
    /// auth.stop().await;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn configure_plain<U: Into<String>, W: Into<String>>(
        &self,
        domain: &str,
        passwords: impl IntoIterator<Item = (U, W)>,
    ) {
        let users = passwords
            .into_iter()
            .map(|(u, w)| (u.into(), w.into()))
            .collect();
        self.policy().passwords.insert(domain.to_owned(), users);
    }

    /// Sets which CURVE client keys `domain` admits (replacing what it had); `"*"` covers
    /// every domain without an entry of its own. See [`CurveAllow::from_directory`] to admit
    /// every public certificate of a directory.
    ///
    /// ```
    /// # mod doc { include!("../doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::auth::Authenticator;
    ///
    /// let ctx = zmq::Context::new();
    /// // With an adapter: `start_authenticator(&ctx)`.
    /// let auth = Authenticator::start(doc::rt(), &ctx).await?;
    /// use zmqio_core::auth::{z85_decode_key, CurveAllow};
    ///
    /// let client = z85_decode_key("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7")?;
    /// auth.configure_curve("*", CurveAllow::Keys([client].into())); // only this client key
    /// auth.configure_curve("open", CurveAllow::Any); // domain "open": any key, still encrypted
    /// auth.stop().await;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn configure_curve(&self, domain: &str, allowed: CurveAllow) {
        self.policy().curve.insert(domain.to_owned(), allowed);
    }

    /// Decides every request the address lists admit with `handler` instead of the PLAIN and
    /// CURVE configuration (see [`ZapHandler`]). Replaces any handler set before.
    ///
    /// ```
    /// # mod doc { include!("../doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::auth::Authenticator;
    ///
    /// let ctx = zmq::Context::new();
    /// // With an adapter: `start_authenticator(&ctx)`.
    /// let auth = Authenticator::start(doc::rt(), &ctx).await?;
    /// use zmqio_core::auth::{Credentials, Decision, ZapRequest};
    ///
    /// auth.set_handler(|request: ZapRequest| async move {
    ///     // Look the credentials up elsewhere (a database, a directory service)...
    ///     match request.credentials {
    ///         Credentials::Plain { username, .. } if username == "admin" => Decision::Accept(username),
    ///         _ => Decision::Refuse("unknown user".into()),
    ///     }
    /// });
    /// auth.clear_handler(); // back to configure_plain / configure_curve
    /// auth.stop().await;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn set_handler(&self, handler: impl ZapHandler) {
        *lock(&self.inner.handler) = Some(Arc::new(handler));
    }

    /// Goes back to the PLAIN and CURVE configuration for every request.
    ///
    /// ```
    /// # mod doc { include!("../doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::auth::Authenticator;
    ///
    /// let ctx = zmq::Context::new();
    /// // With an adapter: `start_authenticator(&ctx)`.
    /// let auth = Authenticator::start(doc::rt(), &ctx).await?;
    /// use zmqio_core::auth::{Decision, ZapRequest};
    ///
    /// auth.set_handler(|_: ZapRequest| async { Decision::Refuse("maintenance".into()) });
    /// auth.clear_handler();
    /// auth.stop().await;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn clear_handler(&self) {
        *lock(&self.inner.handler) = None;
    }

    /// At most `limit` calls of the custom handler wait for their decision at a time
    /// (default [`DEFAULT_HANDLER_LIMIT`]); a request past it is answered at once with status
    /// 300 (temporary error): libzmq drops that connection and the client retries later. So a
    /// flood of handshakes against a slow handler (a database lookup) holds a bounded amount
    /// of work. `0` answers every request for the handler that way.
    ///
    /// ```
    /// # mod doc { include!("../doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::auth::Authenticator;
    ///
    /// let ctx = zmq::Context::new();
    /// // With an adapter: `start_authenticator(&ctx)`.
    /// let auth = Authenticator::start(doc::rt(), &ctx).await?;
    /// auth.set_handler_limit(64); // a database that takes 64 lookups at a time
    /// auth.stop().await;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn set_handler_limit(&self, limit: usize) {
        self.inner.handler_limit.store(limit, Ordering::Release);
    }

    /// How many handshakes were admitted so far.
    ///
    /// ```
    /// # mod doc { include!("../doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::auth::Authenticator;
    ///
    /// let ctx = zmq::Context::new();
    /// // With an adapter: `start_authenticator(&ctx)`.
    /// let auth = Authenticator::start(doc::rt(), &ctx).await?;
    /// assert_eq!((auth.accepted(), auth.refused()), (0, 0)); // no handshake yet
    /// auth.stop().await;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn accepted(&self) -> u64 {
        self.inner.accepted.load(Ordering::Relaxed)
    }

    /// How many handshakes were refused so far (every reply other than 200, malformed
    /// requests included). A refused client reconnects and asks again, so this counts
    /// attempts, not clients.
    ///
    /// ```
    /// # mod doc { include!("../doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::auth::Authenticator;
    /// use zmqio_core::{opt, MonitorEvent, StreamBuilder};
    ///
    /// let ctx = zmq::Context::new();
    /// let auth = Authenticator::start(doc::rt(), &ctx).await?;
    /// auth.configure_plain("*", [("admin", "secret")]);
    /// let mut server = StreamBuilder::new(doc::rt(), zmq::PULL)
    ///     .context(ctx.clone())
    ///     .setsockopt(opt::PlainServer, true)
    ///     .await?;
    /// server.transport().enable_monitor(Some(MonitorEvent::HandshakeFailedAuth.into())).await?;
    /// let endpoint = server.transport().bind("tcp://127.0.0.1:*").await?;
    /// let intruder = StreamBuilder::new(doc::rt(), zmq::PUSH)
    ///     .context(ctx.clone())
    ///     .setsockopt(opt::PlainUsername, Some("admin".to_owned()))
    ///     .setsockopt(opt::PlainPassword, Some("guess".to_owned()))
    ///     .setsockopt(opt::Linger, 0)
    ///     .connect(endpoint)
    ///     .await?;
    /// let event = server.read_event().await?; // HandshakeFailedAuth, status 400
    /// assert_eq!(event.value, 400);
    /// assert!(auth.refused() >= 1);
    /// intruder.close();
    /// auth.stop().await;
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }

    /// Whether the handler is still bound.
    ///
    /// ```
    /// # mod doc { include!("../doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::auth::Authenticator;
    ///
    /// let ctx = zmq::Context::new();
    /// // With an adapter: `start_authenticator(&ctx)`.
    /// let auth = Authenticator::start(doc::rt(), &ctx).await?;
    /// assert!(auth.is_running());
    /// auth.stop().await;
    /// assert!(!auth.is_running());
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub fn is_running(&self) -> bool {
        !self.transport.is_closing()
    }

    /// Stops the handler: unbinds [`ZAP_ENDPOINT`] (so a new handler may start on the
    /// context as soon as this returns) and closes its socket. Idempotent.
    ///
    /// Once stopped, libzmq no longer authenticates on this context (see the [module
    /// docs](self#no-handler-no-authentication)): start a new handler before new peers
    /// connect.
    ///
    /// ```
    /// # mod doc { include!("../doctest_support.rs"); }
    /// # doc::run(async {
    /// use zmqio_core::auth::Authenticator;
    ///
    /// let ctx = zmq::Context::new();
    /// // With an adapter: `start_authenticator(&ctx)`.
    /// let auth = Authenticator::start(doc::rt(), &ctx).await?;
    /// let handle = auth.clone();
    /// drop(auth); // dropping handles does not stop it...
    /// assert!(handle.is_running());
    /// handle.stop().await; // ...stop() does, and may be called again
    /// handle.stop().await;
    /// assert!(!handle.is_running());
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    pub async fn stop(&self) {
        // Unbinding an inproc endpoint frees its name at once; closing alone frees it only
        // when libzmq's reaper gets to the socket.
        let _ = self.transport.unbind(ZAP_ENDPOINT).await;
        self.transport.close();
        self.transport.wait_closed().await;
    }

    fn policy(&self) -> MutexGuard<'_, Policy> {
        lock(&self.inner.policy)
    }
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("running", &self.is_running())
            .field("accepted", &self.accepted())
            .field("refused", &self.refused())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    /// Counts, traces and sends a reply about `subject`. A reply that cannot be sent (the
    /// handler stopped, the server socket went away) is dropped: the handshake then fails or
    /// times out.
    fn send(
        &self,
        transport: &ZmqTransport,
        envelope: Vec<Bytes>,
        reply: Reply,
        subject: &ZapSubject,
    ) {
        trace::zap_decision(subject, &reply.decision);
        let counter = if reply.accepts() {
            &self.accepted
        } else {
            &self.refused
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let _ = transport.write(reply.into_message(envelope));
    }
}

/// The handler's protocol: answers each request as it arrives.
struct ZapProtocol {
    inner: Arc<Inner>,
    transport: Option<ZmqTransport>,
}

impl ZmqProtocol for ZapProtocol {
    fn connection_made(&mut self, transport: &ZmqTransport) {
        self.transport = Some(transport.clone());
    }

    fn connection_lost(&mut self, _exc: Option<Error>) {
        self.transport = None;
    }

    fn msg_received(&mut self, msg: Multipart) {
        let Some(transport) = &self.transport else {
            return;
        };
        let (envelope, body) = zap::split_envelope(msg.into_vec());
        let request = match zap::parse_request(&body) {
            Ok(request) => request,
            Err(reply) => {
                let subject = ZapSubject::malformed();
                return self.inner.send(transport, envelope, reply, &subject);
            }
        };
        let subject = ZapSubject::of(&request);
        let handler = lock(&self.inner.handler).clone();
        let verdict = lock(&self.inner.policy).decide(&request, handler.is_some());
        match (verdict, handler) {
            (Verdict::Reply(reply), _) => self.inner.send(transport, envelope, reply, &subject),
            (Verdict::AskHandler, Some(handler)) => {
                let Some(slot) = PendingCall::take(&self.inner) else {
                    // A flood of handshakes must not grow the handler's work without bound.
                    let reply = Reply {
                        request_id: request.request_id,
                        decision: Decision::TemporaryError(
                            "too many authentications pending".into(),
                        ),
                    };
                    return self.inner.send(transport, envelope, reply, &subject);
                };
                let request_id = request.request_id.clone();
                // A handler that panics, now or when polled, refuses (500) and harms nothing.
                let decision =
                    std::panic::catch_unwind(AssertUnwindSafe(|| handler.authenticate(request)));
                let inner = self.inner.clone();
                let transport = transport.clone();
                self.inner.runtime.spawn(Box::pin(async move {
                    let panicked =
                        || Decision::InternalError("authentication handler panicked".into());
                    let decision = match decision {
                        Ok(fut) => AssertUnwindSafe(fut)
                            .catch_unwind()
                            .await
                            .unwrap_or_else(|_| panicked()),
                        Err(_) => panicked(),
                    };
                    drop(slot);
                    inner.send(
                        &transport,
                        envelope,
                        Reply {
                            request_id,
                            decision,
                        },
                        &subject,
                    );
                }));
            }
            (Verdict::AskHandler, None) => {
                let reply = Reply {
                    request_id: request.request_id,
                    decision: Decision::InternalError("no handler".into()),
                };
                self.inner.send(transport, envelope, reply, &subject);
            }
        }
    }
}

/// Refuses to let `backend`'s socket authenticate its peers on a context without a ZAP
/// handler (see the module docs). `context` is the socket's context as the builder knows it,
/// or `None` for the process-wide one; for a `wrapped` socket (the user's own) that is only
/// what the user said, so it is checked first: a handler in another context would not
/// authenticate this socket's peers.
pub(crate) fn check_zap_handler(
    backend: &mut ZmqBackend,
    context: Option<&zmq::Context>,
    wrapped: bool,
) -> Result<()> {
    let Some(socket) = backend.socket() else {
        return Ok(());
    };
    let Some(what) = authenticating(socket)? else {
        return Ok(());
    };
    let ctx = context.cloned().unwrap_or_else(crate::default_context);
    if wrapped && !in_context(backend, &ctx)? {
        return Err(Error::invalid_state(format!(
            "{what} needs a ZAP handler on its context, and the socket is not in the context \
             assumed for it (the process-wide one, unless given): give its context to the \
             builder with context(), or call allow_missing_zap_handler()"
        )));
    }
    if zap_handler_bound(&ctx)? {
        return Ok(());
    }
    Err(Error::invalid_state(format!(
        "{what} needs a ZAP handler, and none is bound at {ZAP_ENDPOINT} on its context: \
         start one first (start_authenticator), or call allow_missing_zap_handler() on the \
         builder"
    )))
}

/// What makes libzmq consult the ZAP handler for this socket's peers, if anything.
fn authenticating(socket: &zmq::Socket) -> Result<Option<&'static str>> {
    Ok(match socket.get_mechanism()? {
        zmq::Mechanism::ZMQ_PLAIN if socket.is_plain_server()? => {
            Some("a PLAIN server (libzmq would fail every handshake)")
        }
        zmq::Mechanism::ZMQ_CURVE if socket.is_curve_server()? => {
            Some("a CURVE server (libzmq would admit every client key)")
        }
        // A domain that is not UTF-8 is a domain all the same.
        zmq::Mechanism::ZMQ_NULL if socket.get_zap_domain()?.map_or(true, |d| !d.is_empty()) => {
            Some("a socket with a ZapDomain (libzmq would ignore the domain)")
        }
        _ => None,
    })
}

/// Whether a ZAP handler is bound on `ctx`: binding its endpoint fails with `EADDRINUSE`.
/// Where nothing is bound, the probe unbinds at once (synchronously for inproc).
fn zap_handler_bound(ctx: &zmq::Context) -> Result<bool> {
    let probe = ctx.socket(zmq::PAIR)?;
    probe.set_linger(0)?;
    match probe.bind(ZAP_ENDPOINT) {
        Err(zmq::Error::EADDRINUSE) => Ok(true),
        Err(e) => Err(e.into()),
        Ok(()) => {
            probe.unbind(ZAP_ENDPOINT)?;
            Ok(false)
        }
    }
}

/// Client public keys as a [`CurveAllow::Keys`].
impl FromIterator<[u8; 32]> for CurveAllow {
    fn from_iter<I: IntoIterator<Item = [u8; 32]>>(keys: I) -> Self {
        Self::Keys(keys.into_iter().collect::<BTreeSet<_>>())
    }
}
