//! Opening a socket the way every command does, waiting on it, and closing it without losing
//! what it accepted for sending.
//!
//! A socket is made by the library's builder with its options (security first) and no
//! endpoints; its monitor is started, then it binds and connects through the transport, so
//! that no connection exists before the options and the monitor do. The monitor reports
//! handshake failures and lost connections on stderr while the command runs.
//!
//! Every socket is in zmqio's process-wide context, and so is the ZAP authenticator a PLAIN
//! or CURVE server starts: [`shutdown`] ends them all at once with `zmqio::shutdown`.

use std::collections::BTreeMap;
use std::future::{poll_fn, Future};
use std::path::Path;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{Notify, OnceCell};

use crate::args::{parse_plain, type_name, Endpoints, Security, SocketOpts};
use crate::error::{describe, failed, is_bad_endpoint, usage, CliError, CliResult};
use crate::keys::{self, NO_CURVE};
use crate::output::{event_detail, event_name};
use crate::zmqio::{
    self,
    auth::{Authenticator, CurveAllow},
    opt, zmq, MonitorEvent, MonitorEvents, Multipart, SocketEvent, StreamBuilder, ZmqStream,
    ZmqTransport,
};

/// Ctrl-C presses, counted from the start of the program, so none is lost between two waits.
fn interrupts() -> &'static Notify {
    static NOTIFY: OnceLock<Notify> = OnceLock::new();
    NOTIFY.get_or_init(Notify::new)
}

/// Starts listening for Ctrl-C (SIGINT) and SIGTERM; from then on they no longer kill the
/// process, they wake [`interrupted`]. Call once, inside the runtime, before any socket is
/// opened: the handlers are installed before this returns, and one listener lives for the
/// whole program, so no signal falls between two waits.
pub(crate) fn listen_for_interrupts() -> CliResult {
    use tokio::signal::unix::{signal, SignalKind};
    for kind in [SignalKind::interrupt(), SignalKind::terminate()] {
        let mut sig =
            signal(kind).map_err(|e| failed(format!("cannot listen for signals: {e}")))?;
        tokio::spawn(async move {
            while sig.recv().await.is_some() {
                interrupts().notify_one();
            }
        });
    }
    Ok(())
}

/// Resolves at the next Ctrl-C (or at once for one not yet waited for).
pub(crate) async fn interrupted() {
    interrupts().notified().await;
}

/// A socket of one command: the stream and what to report.
pub(crate) struct Sock {
    stream: ZmqStream,
    /// Whether the monitor still delivers events.
    events_open: bool,
    reporter: Reporter,
}

/// What [`Sock::wait`] saw first.
pub(crate) enum Waited<T> {
    /// The future finished.
    Done(T),
    /// A message arrived.
    Msg(Multipart),
    /// Ctrl-C.
    Interrupted,
    /// The socket was lost; `Some` with the error if it was a fatal one.
    Lost(Option<zmqio::Error>),
}

/// Everything needed to open a socket.
pub(crate) struct Spec<'a> {
    pub(crate) socket_type: zmq::SocketType,
    pub(crate) binds: &'a [String],
    pub(crate) connects: &'a [String],
    pub(crate) security: &'a Security,
    pub(crate) opts: &'a SocketOpts,
    /// Extra options, set after the security ones.
    pub(crate) extra: &'a [Extra],
    /// Which events to print on stdout instead of reporting them (the monitor command).
    pub(crate) all_events: bool,
    pub(crate) label: &'a str,
    /// How the command line calls the bind and connect arguments, for messages.
    pub(crate) bind_arg: &'a str,
    pub(crate) connect_arg: &'a str,
}

/// Options a command sets for its own reasons.
#[derive(Debug, Clone)]
pub(crate) enum Extra {
    /// ROUTER: refuse a message for a routing id with no connection (`EHOSTUNREACH`) instead
    /// of dropping it silently; `send` retries it until the peer is there.
    RouterMandatory,
}

impl<'a> Spec<'a> {
    /// A spec for `endpoints` with the usual argument names.
    pub(crate) fn new(
        socket_type: zmq::SocketType,
        endpoints: &'a Endpoints,
        security: &'a Security,
        opts: &'a SocketOpts,
    ) -> Self {
        Self {
            socket_type,
            binds: &endpoints.bind,
            connects: &endpoints.connect,
            security,
            opts,
            extra: &[],
            all_events: false,
            label: type_name(socket_type),
            bind_arg: "--bind",
            connect_arg: "--connect",
        }
    }

    fn monitored(&self) -> MonitorEvents {
        if self.all_events || self.opts.verbose {
            MonitorEvents::ALL
        } else {
            failure_events()
        }
    }

    fn reporter(&self, transport: &ZmqTransport) -> Reporter {
        Reporter {
            transport: transport.clone(),
            verbose: self.opts.verbose || self.all_events,
            label: self.label.to_owned(),
            handshakes: Mutex::new(BTreeMap::new()),
        }
    }
}

/// The events reported on stderr without `--verbose`: failures and lost connections; and
/// finished handshakes, which are not reported but recorded (see [`Sock::handshakes`]).
fn failure_events() -> MonitorEvents {
    MonitorEvent::HandshakeSucceeded
        | MonitorEvent::HandshakeFailedNoDetail
        | MonitorEvent::HandshakeFailedProtocol
        | MonitorEvent::HandshakeFailedAuth
        | MonitorEvent::BindFailed
        | MonitorEvent::AcceptFailed
        | MonitorEvent::Disconnected
}

/// Opens a socket: made with its options, monitor on, bound (printing `bound ENDPOINT` on
/// stderr for each bind, in order), then connected.
pub(crate) async fn open(spec: Spec<'_>) -> CliResult<Sock> {
    let stream = make(&spec).await?;
    let t = stream.transport().clone();
    t.enable_monitor(Some(spec.monitored()))
        .await
        .map_err(|e| failed(format!("cannot monitor the {} socket: {e}", spec.label)))?;
    attach(&spec, &t).await?;
    spec.security.warn();
    Ok(Sock {
        stream,
        events_open: true,
        reporter: spec.reporter(&t),
    })
}

/// Opens a socket as [`open`] does, for a command that hands the stream over (the proxy):
/// its monitor events come through the returned [`Watch`] instead of the stream.
pub(crate) async fn open_watched(spec: Spec<'_>) -> CliResult<(ZmqStream, Watch)> {
    let stream = make(&spec).await?;
    let t = stream.transport().clone();
    let watch = Watch::start(spec.reporter(&t), spec.monitored()).await?;
    attach(&spec, &t).await?;
    spec.security.warn();
    Ok((stream, watch))
}

/// Makes the socket with every option set, security first, before any endpoint.
async fn make(spec: &Spec<'_>) -> CliResult<ZmqStream> {
    // The process-wide context: [`shutdown`] ends it once, at the end.
    let mut builder = spec
        .security
        .configure(zmqio::create_zmq_stream(spec.socket_type))
        .await?;
    let mut given = spec.security.option_args();
    if let Some(linger) = spec.opts.linger {
        builder = builder.setsockopt(opt::Linger, linger);
        given.push("--linger");
    }
    if let Some(id) = &spec.opts.routing_id {
        if id.is_empty() || id.len() > 255 {
            return Err(usage("invalid value for '--routing-id': 1 to 255 bytes"));
        }
        builder = builder.setsockopt(opt::RoutingId, id.as_bytes().to_vec());
        given.push("--routing-id");
    }
    for extra in spec.extra {
        match *extra {
            Extra::RouterMandatory => builder = builder.setsockopt(opt::RouterMandatory, true),
        }
    }
    builder.await.map_err(|e| match e {
        // The values were checked when parsed; whatever libzmq still refuses is one of these.
        zmqio::Error::Zmq(zmq::Error::EINVAL) => usage(format!(
            "invalid value for one of {}: libzmq refuses it",
            given.join(", ")
        )),
        e => failed(format!("cannot make a {} socket: {e}", spec.label)),
    })
}

/// Binds and connects the socket.
async fn attach(spec: &Spec<'_>, t: &ZmqTransport) -> CliResult {
    for ep in spec.binds {
        let bound = t
            .bind(ep)
            .await
            .map_err(|e| endpoint_error(spec.bind_arg, ep, &e))?;
        // One write: a script reading stderr as it comes never sees half a port.
        let line = format!("bound {bound}\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
    }
    for ep in spec.connects {
        let resolved = zmqio::resolve_endpoint(ep)
            .await
            .map_err(|e| endpoint_error(spec.connect_arg, ep, &e))?;
        t.connect(&resolved)
            .await
            .map_err(|e| endpoint_error(spec.connect_arg, ep, &e))?;
    }
    Ok(())
}

fn endpoint_error(arg: &str, ep: &str, e: &zmqio::Error) -> CliError {
    let msg = format!("invalid value '{ep}' for '{arg}': {}", describe(e));
    if is_bad_endpoint(e) {
        usage(msg)
    } else {
        failed(msg)
    }
}

/// Who checks the clients of a server socket.
enum Checked {
    /// Nobody asks: not a server, no ZAP domain.
    NotAsked,
    /// zmqio's authenticator, with these CURVE keys (or none for a PLAIN server) and these
    /// PLAIN users.
    Authenticator {
        curve: Option<CurveAllow>,
        plain: Vec<(String, String)>,
    },
    /// A CURVE server without an allow option: libzmq admits any client key.
    AnyCurveClient,
}

/// zmqio's ZAP authenticator of the process-wide context, started by the first server
/// socket that needs it. The shutdown at the end of the program stops it with the rest.
fn authenticator() -> &'static OnceCell<Authenticator> {
    static AUTH: OnceCell<Authenticator> = OnceCell::const_new();
    &AUTH
}

impl Security {
    /// Adds the security options to `builder` (the builder sets them before any bind or
    /// connect), and starts the authenticator where the socket's clients must be checked.
    pub(crate) async fn configure(&self, mut builder: StreamBuilder) -> CliResult<StreamBuilder> {
        let curve = self.curve_server
            || self.curve_server_key.is_some()
            || self.curve_public_key.is_some()
            || self.curve_secret_key.is_some();
        if self.curve_secret_key.is_some() && !self.curve_server && self.curve_server_key.is_none()
        {
            return Err(usage(
                "'--curve-secret-key' needs '--curve-server' (a server) or '--curve-server-key' (a client)",
            ));
        }
        if curve && !keys::has_curve() {
            return Err(failed(format!("cannot use CURVE: {NO_CURVE}")));
        }
        // Read and check the files first: a bad one is a usage error before anything runs.
        let checked = self.checked()?;
        if let Some(domain) = &self.zap_domain {
            builder = builder.setsockopt(opt::ZapDomain, domain.clone());
        }
        if self.curve_server {
            builder = builder.setsockopt(opt::CurveServer, true);
            if let Some(secret) = &self.curve_secret_key {
                builder = builder.setsockopt(opt::CurveSecretKey, secret.bytes().to_vec());
            }
        } else if let Some(server) = &self.curve_server_key {
            let (public, secret) = match (&self.curve_public_key, &self.curve_secret_key) {
                (Some(p), Some(s)) => (p.clone(), s.clone()),
                (None, None) => keys::generate()?,
                _ => {
                    return Err(usage(
                        "'--curve-public-key' and '--curve-secret-key' go together",
                    ))
                }
            };
            builder = builder
                .setsockopt(opt::CurveServerKey, server.bytes().to_vec())
                .setsockopt(opt::CurvePublicKey, public.bytes().to_vec())
                .setsockopt(opt::CurveSecretKey, secret.bytes().to_vec());
        }
        if let Some((user, pass)) = &self.plain {
            builder = builder
                .setsockopt(opt::PlainUsername, Some(user.clone()))
                .setsockopt(opt::PlainPassword, Some(pass.clone()));
        }
        if self.plain_server {
            builder = builder.setsockopt(opt::PlainServer, true);
        }
        match checked {
            Checked::NotAsked => {}
            // Said on stderr once bound (see `warn`): 'bound ENDPOINT' comes first.
            Checked::AnyCurveClient => builder = builder.allow_missing_zap_handler(),
            Checked::Authenticator { curve, plain } => {
                let auth = authenticator()
                    .get_or_try_init(|| async {
                        zmqio::start_authenticator(&zmqio::default_context())
                            .await
                            .map_err(|e| failed(format!("cannot start the authenticator: {e}")))
                    })
                    .await?;
                // "*": whatever the socket's ZAP domain is.
                if let Some(allowed) = curve {
                    auth.configure_curve("*", allowed);
                }
                if self.plain_server {
                    auth.configure_plain("*", plain);
                }
            }
        }
        Ok(builder)
    }

    /// Who checks the clients, with the keys and passwords read from their files.
    fn checked(&self) -> CliResult<Checked> {
        let curve = if !self.curve_server {
            None
        } else if self.curve_allow_any {
            Some(CurveAllow::Any)
        } else if self.curve_allow.is_empty() {
            return Ok(Checked::AnyCurveClient);
        } else {
            let mut keys = std::collections::BTreeSet::new();
            for dir in &self.curve_allow {
                match CurveAllow::from_directory(dir) {
                    Ok(CurveAllow::Keys(found)) => {
                        if found.is_empty() {
                            eprintln!(
                                "zmqio: warning: no public certificate (*.key) in {}",
                                dir.display()
                            );
                        }
                        keys.extend(found);
                    }
                    Ok(CurveAllow::Any) => unreachable!("a directory gives keys"),
                    Err(e) => {
                        return Err(usage(format!(
                            "invalid value '{}' for '--curve-allow': {}",
                            dir.display(),
                            describe(&e)
                        )))
                    }
                }
            }
            Some(CurveAllow::Keys(keys))
        };
        let mut plain = self.plain_users.clone();
        if let Some(file) = &self.plain_users_file {
            plain.extend(read_users(file)?);
        }
        if curve.is_none() && !self.plain_server && self.zap_domain.is_none() {
            return Ok(Checked::NotAsked);
        }
        Ok(Checked::Authenticator { curve, plain })
    }

    /// Says on stderr what the options leave open: a CURVE server without an allow option
    /// admits any client key.
    fn warn(&self) {
        if self.curve_server && self.curve_allow.is_empty() && !self.curve_allow_any {
            eprintln!(
                "zmqio: warning: a CURVE server without --curve-allow admits ANY client key \
                 (the traffic is encrypted, but anyone may connect); give --curve-allow DIR to \
                 admit only known clients, or --curve-allow-any to say this is meant"
            );
        }
    }

    /// The security arguments given that set socket options, for messages.
    fn option_args(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        if self.zap_domain.is_some() {
            given.push("--zap-domain");
        }
        if self.plain.is_some() {
            given.push("--plain");
        }
        given
    }
}

/// The users of a `--plain-users-file`: one `USER:PASS` a line; blank lines and lines
/// starting with `#` are skipped.
fn read_users(file: &Path) -> CliResult<Vec<(String, String)>> {
    let bad = |why: String| {
        usage(format!(
            "invalid value '{}' for '--plain-users-file': {why}",
            file.display()
        ))
    };
    let text = std::fs::read_to_string(file).map_err(|e| bad(e.to_string()))?;
    let mut users = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        users.push(parse_plain(line).map_err(|e| bad(format!("line {}: {e}", n + 1)))?);
    }
    if users.is_empty() {
        return Err(bad("no USER:PASS line".into()));
    }
    Ok(users)
}

/// Where the handshakes with the endpoints a socket connected to stand.
#[derive(Debug, Default)]
pub(crate) struct Handshakes {
    /// No handshake with these has succeeded or failed yet.
    pub(crate) pending: Vec<String>,
    /// The handshake with these failed, or the peer closed the connection before it was done
    /// (and none succeeded), with why.
    pub(crate) failed: Vec<(String, String)>,
    /// How many of the endpoints had a handshake succeed.
    pub(crate) succeeded: usize,
}

impl Handshakes {
    /// Whether there is something to tell: a failure, a peer that took the socket, or no
    /// endpoint left to hear from.
    pub(crate) fn settled(&self) -> bool {
        !self.failed.is_empty() || self.succeeded > 0 || self.pending.is_empty()
    }
}

/// The address of a `tcp://IP:PORT` endpoint; of `tcp://SOURCE;IP:PORT`, the peer's (the
/// one libzmq names in its events).
fn tcp_address(endpoint: &str) -> Option<std::net::SocketAddr> {
    let address = endpoint.strip_prefix("tcp://")?;
    address.rsplit(';').next()?.parse().ok()
}

/// Reports a socket's monitor events on stderr.
pub(crate) struct Reporter {
    transport: ZmqTransport,
    verbose: bool,
    /// A name for messages: the socket type, or "frontend"/"backend".
    label: String,
    /// The outcome of the handshakes so far, by endpoint: `Ok` once one succeeded, else why
    /// the last one failed.
    handshakes: Mutex<BTreeMap<String, Result<(), String>>>,
}

impl Reporter {
    /// Reports a monitor event on stderr: failures always, the rest with `--verbose`; and
    /// records the outcome of a handshake.
    pub(crate) fn report(&self, ev: &SocketEvent) {
        self.record_handshake(ev);
        let failure = matches!(
            ev.event,
            MonitorEvent::HandshakeFailedNoDetail
                | MonitorEvent::HandshakeFailedProtocol
                | MonitorEvent::HandshakeFailedAuth
                | MonitorEvent::BindFailed
                | MonitorEvent::AcceptFailed
        );
        if failure {
            eprintln!(
                "zmqio: {}: handshake or connection failed: {} {} ({})",
                self.label,
                event_name(ev),
                ev.endpoint,
                event_detail(ev)
            );
        } else if ev.event == MonitorEvent::Disconnected {
            if self.transport.connections().contains(&ev.endpoint) {
                eprintln!(
                    "zmqio: {}: connection lost: {} (libzmq reconnects)",
                    self.label, ev.endpoint
                );
            } else if self.verbose {
                // A peer of a bind leaving is how a sender ends: not worth a line unasked.
                eprintln!(
                    "zmqio: {}: a peer disconnected from {}",
                    self.label, ev.endpoint
                );
            }
        } else if self.verbose {
            eprintln!(
                "zmqio: {}: {} {} ({})",
                self.label,
                event_name(ev),
                ev.endpoint,
                event_detail(ev)
            );
        }
    }

    /// Keeps the outcome of a handshake event, by the endpoint libzmq names.
    fn record_handshake(&self, ev: &SocketEvent) {
        let outcome = match ev.event {
            MonitorEvent::HandshakeSucceeded => Ok(()),
            MonitorEvent::HandshakeFailedNoDetail
            | MonitorEvent::HandshakeFailedProtocol
            | MonitorEvent::HandshakeFailedAuth => {
                Err(format!("{}: {}", event_name(ev), event_detail(ev)))
            }
            // libzmq reports a peer of a socket type that does not pair with this one only
            // by closing the connection: before any handshake succeeded, that is a failure
            // too.
            MonitorEvent::Disconnected => Err("the peer closed the connection before the \
                 handshake was done (does its socket type pair with this one?)"
                .to_owned()),
            _ => return,
        };
        let mut handshakes = self
            .handshakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let keep = match handshakes.get(&ev.endpoint) {
            // One handshake went through: a later failure (a reconnect) does not undo that.
            Some(Ok(())) => true,
            // The disconnect that follows a failed handshake is not a better reason.
            Some(Err(_)) => ev.event == MonitorEvent::Disconnected,
            None => false,
        };
        if !keep {
            handshakes.insert(ev.endpoint.clone(), outcome);
        }
    }

    /// Where the handshakes with the endpoints the socket connected to stand.
    fn connect_outcomes(&self) -> Handshakes {
        let handshakes = self
            .handshakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut outcomes = Handshakes::default();
        for ep in self.transport.connections() {
            // libzmq names a tcp peer by its address as it formats it ("[::1]" for
            // "[0:0::1]"): compare addresses where both parse as one.
            let outcome = handshakes.get(&ep).or_else(|| {
                let addr = tcp_address(&ep)?;
                handshakes
                    .iter()
                    .find(|(seen, _)| tcp_address(seen) == Some(addr))
                    .map(|(_, outcome)| outcome)
            });
            match outcome {
                None => outcomes.pending.push(ep),
                Some(Ok(())) => outcomes.succeeded += 1,
                Some(Err(why)) => outcomes.failed.push((ep, why.clone())),
            }
        }
        outcomes
    }

    /// The socket's transport.
    pub(crate) fn transport(&self) -> &ZmqTransport {
        &self.transport
    }

    /// The name used in messages.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }
}

/// The monitor events of a socket whose stream was handed over (to a proxy), read from a
/// PAIR of their own: libzmq's `zmq_socket_monitor` publishes them on an inproc endpoint.
pub(crate) struct Watch {
    events: ZmqStream,
    open: bool,
    reporter: Reporter,
}

impl Watch {
    /// Starts monitoring the reporter's socket for `mask`. The PAIR connects first, so that
    /// not even the first event is published before it listens.
    async fn start(reporter: Reporter, mask: MonitorEvents) -> CliResult<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let endpoint = format!(
            "inproc://zmqio-cli.monitor.{}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let cannot = |e: &dyn std::fmt::Display| {
            failed(format!("cannot monitor the {} socket: {e}", reporter.label))
        };
        let events = zmqio::create_zmq_stream(zmq::PAIR)
            .connect(endpoint.as_str())
            .await
            .map_err(|e| cannot(&e))?;
        reporter
            .transport
            .with_zmq_socket(|s| s.monitor(&endpoint, i32::from(mask.bits())))
            .map_err(|e| cannot(&e))?
            .map_err(|e| cannot(&e))?;
        Ok(Self {
            events,
            open: true,
            reporter,
        })
    }

    /// Reports on stderr the events that arrived; never ready.
    pub(crate) fn poll_report(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while self.open {
            match pin!(self.events.read()).poll(cx) {
                Poll::Ready(Ok(frames)) => match zmqio::decode_monitor_event(&frames) {
                    Ok(ev) if ev.event != MonitorEvent::MonitorStopped => self.reporter.report(&ev),
                    // libzmq's last word, or a message it should never send.
                    _ => {}
                },
                Poll::Ready(Err(_)) => self.open = false,
                Poll::Pending => break,
            }
        }
        Poll::Pending
    }

    /// The socket watched, and its name.
    pub(crate) fn reporter(&self) -> &Reporter {
        &self.reporter
    }
}

impl Sock {
    /// The transport, for writes, subscriptions and options.
    pub(crate) fn transport(&self) -> &ZmqTransport {
        self.stream.transport()
    }

    /// The socket type.
    pub(crate) fn socket_type(&self) -> zmq::SocketType {
        self.stream.transport().socket_type()
    }

    /// Polls for the next message (when `messages`) or the loss of the socket, reporting
    /// monitor events on stderr meanwhile.
    ///
    /// Each read is cancel safe: the futures made here are dropped right after a poll that
    /// returned `Pending` and lose nothing; the stream keeps the waker.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        messages: bool,
    ) -> Poll<Result<Multipart, Option<zmqio::Error>>> {
        while self.events_open {
            let event = pin!(self.stream.read_event()).poll(cx);
            match event {
                Poll::Ready(Ok(ev)) => self.reporter.report(&ev),
                Poll::Ready(Err(_)) => self.events_open = false,
                Poll::Pending => break,
            }
        }
        if !messages {
            return Poll::Pending;
        }
        let read = pin!(self.stream.read()).poll(cx);
        match read {
            Poll::Ready(Ok(m)) => Poll::Ready(Ok(m)),
            Poll::Ready(Err(zmqio::Error::Closed)) => Poll::Ready(Err(self.stream.exception())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(Some(e))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Waits for `fut`, a message (when `messages`), Ctrl-C or the loss of the socket,
    /// whichever comes first; reports monitor events on stderr meanwhile. A socket whose
    /// messages the command does not want leaves them queued (the read-side watermark then
    /// stops reading).
    pub(crate) async fn wait<F: Future>(&mut self, fut: F, messages: bool) -> Waited<F::Output> {
        let mut fut = pin!(fut);
        let mut intr = pin!(interrupted());
        poll_fn(|cx| {
            if intr.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Waited::Interrupted);
            }
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(Waited::Done(v));
            }
            match self.poll_next(cx, messages) {
                Poll::Ready(Ok(m)) => Poll::Ready(Waited::Msg(m)),
                Poll::Ready(Err(e)) => Poll::Ready(Waited::Lost(e)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// Waits until the handshakes with the endpoints the socket connected to are
    /// [settled](Handshakes::settled), reporting monitor events meanwhile, or until `fut`
    /// ends (then `Done` with where they stand), Ctrl-C or the loss of the socket. Without a
    /// monitor, there is nothing to wait for.
    pub(crate) async fn handshakes<F: Future>(&mut self, fut: F) -> Waited<Handshakes> {
        let mut fut = pin!(fut);
        let mut intr = pin!(interrupted());
        poll_fn(|cx| {
            if intr.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Waited::Interrupted);
            }
            // Takes every event already there (and registers for the next) first.
            if let Poll::Ready(Err(e)) = self.poll_next(cx, false) {
                return Poll::Ready(Waited::Lost(e));
            }
            if !self.events_open {
                return Poll::Ready(Waited::Done(Handshakes::default()));
            }
            let outcomes = self.reporter.connect_outcomes();
            if outcomes.settled() || fut.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Waited::Done(outcomes));
            }
            Poll::Pending
        })
        .await
    }

    /// Waits for the next monitor event (the monitor command), reading and dropping the
    /// messages the socket receives meanwhile.
    pub(crate) async fn next_event(&mut self) -> Waited<SocketEvent> {
        let mut intr = pin!(interrupted());
        poll_fn(|cx| {
            if intr.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Waited::Interrupted);
            }
            if self.events_open {
                match pin!(self.stream.read_event()).poll(cx) {
                    Poll::Ready(Ok(ev)) => return Poll::Ready(Waited::Done(ev)),
                    Poll::Ready(Err(_)) => self.events_open = false,
                    Poll::Pending => {}
                }
            }
            loop {
                let read = pin!(self.stream.read()).poll(cx);
                match read {
                    Poll::Ready(Ok(_)) => continue,
                    Poll::Ready(Err(zmqio::Error::Closed)) => {
                        return Poll::Ready(Waited::Lost(self.stream.exception()))
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Waited::Lost(Some(e))),
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await
    }

    /// Closes the socket: stops reading, flushes zmqio's write queue into libzmq and waits
    /// until the socket is closed (see [`finish`]).
    pub(crate) async fn finish(self) -> CliResult {
        let Self {
            stream, reporter, ..
        } = self;
        stream.close();
        finish(reporter.transport(), reporter.label()).await
    }
}

/// Waits until the closing transport `t` has flushed zmqio's write queue into libzmq and
/// closed its socket. What libzmq accepted is delivered by [`shutdown`] at the end of the
/// program. Waiting for a peer that does not come is said on stderr after a second; Ctrl-C
/// then drops the queue (status 130).
pub(crate) async fn finish(t: &ZmqTransport, label: &str) -> CliResult {
    t.close();
    let mut hinted = false;
    let lost = loop {
        tokio::select! {
            lost = t.wait_closed() => break lost,
            () = tokio::time::sleep(Duration::from_secs(1)), if !hinted => {
                hinted = true;
                eprintln!(
                    "zmqio: {label}: waiting for a peer to take {} queued bytes; Ctrl-C drops them",
                    t.get_write_buffer_size()
                );
            }
            () = interrupted() => {
                let bytes = t.get_write_buffer_size();
                t.abort();
                t.wait_closed().await;
                return Err(CliError::Dropped(format!(
                    "{label}: dropped {bytes} queued bytes that no peer took"
                )));
            }
        }
    };
    match lost {
        None => Ok(()),
        Some(e) => Err(failed(format!("{label}: connection lost: {e}"))),
    }
}

/// How long the end of the program may wait for libzmq to deliver: no bound of its own
/// (LINGER, `--linger`, bounds it; Ctrl-C ends it).
const UNTIL_INTERRUPTED: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Ends the program's use of libzmq without losing what it accepted for sending, with
/// `zmqio::shutdown`: closes whatever is still open in the process-wide context (the
/// authenticator included), then terminates the context, which waits until every message
/// its closed sockets accepted is delivered or their LINGER (libzmq's default: forever)
/// expires. Said on stderr after a second; Ctrl-C then drops them (status 130). Call once,
/// after every socket is finished.
pub(crate) async fn shutdown() -> CliResult {
    let mut end = pin!(zmqio::shutdown(UNTIL_INTERRUPTED));
    let mut hinted = false;
    loop {
        tokio::select! {
            done = &mut end => {
                return done.map_err(|e| failed(format!("cannot end libzmq: {e}")));
            }
            () = tokio::time::sleep(Duration::from_secs(1)), if !hinted => {
                hinted = true;
                eprintln!(
                    "zmqio: waiting for libzmq to deliver what it accepted (see --linger); Ctrl-C drops it"
                );
            }
            () = interrupted() => {
                // The termination goes on on the library's thread; the process exits.
                return Err(CliError::Dropped(
                    "dropped messages libzmq had not delivered yet".into(),
                ));
            }
        }
    }
}

/// `Waited::Lost` as an error.
pub(crate) fn lost_error(label: &str, e: Option<zmqio::Error>) -> CliError {
    match e {
        Some(e) => failed(format!("{label}: connection lost: {e}")),
        None => failed(format!("{label}: the socket closed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_endpoints_compare_as_the_addresses_libzmq_names() {
        let v6 = tcp_address("tcp://[::1]:5555");
        assert!(v6.is_some());
        assert_eq!(tcp_address("tcp://[0:0::1]:5555"), v6);
        assert_eq!(
            tcp_address("tcp://127.0.0.1:6000;127.0.0.1:5555"),
            tcp_address("tcp://127.0.0.1:5555")
        );
        assert_eq!(tcp_address("ipc:///tmp/x"), None);
    }
}
