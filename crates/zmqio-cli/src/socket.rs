//! Opening a socket the way every command does, waiting on it, and closing it without losing
//! what it accepted for sending.
//!
//! A socket is made with no endpoints, its options (security first) are set through the
//! transport, then it binds and connects through the transport, so that no connection exists
//! before the options do. Its monitor reports handshake failures and lost connections on
//! stderr while the command runs.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::Notify;

use crate::args::{type_name, Endpoints, Security, SocketOpts};
use crate::error::{describe, failed, is_bad_endpoint, usage, CliError, CliResult};
use crate::keys::{self, NO_CURVE};
use crate::output::{event_detail, event_name};
use crate::zmqio::{
    self, opt, zmq, MonitorEvent, MonitorEvents, Multipart, SocketEvent, ZmqStream, ZmqTransport,
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

/// A socket of one command: the stream, the context it lives in and what to report.
pub(crate) struct Sock {
    stream: ZmqStream,
    /// Whether the monitor still delivers events.
    events_open: bool,
    verbose: bool,
    /// A name for messages: the socket type, or "frontend"/"backend".
    label: String,
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
    /// ROUTER: queue a message for a peer not connected yet instead of dropping it.
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
}

/// The events reported on stderr without `--verbose`: failures and lost connections.
fn failure_events() -> MonitorEvents {
    MonitorEvent::HandshakeFailedNoDetail
        | MonitorEvent::HandshakeFailedProtocol
        | MonitorEvent::HandshakeFailedAuth
        | MonitorEvent::BindFailed
        | MonitorEvent::AcceptFailed
        | MonitorEvent::Disconnected
}

/// Opens a socket: made with no endpoints, options set, monitor on, bound (printing
/// `bound ENDPOINT` on stderr for each bind, in order), then connected.
pub(crate) async fn open(spec: Spec<'_>) -> CliResult<Sock> {
    // The process-wide context: [`shutdown`] terminates it once, at the end.
    let stream = zmqio::create_zmq_stream(spec.socket_type)
        .await
        .map_err(|e| failed(format!("cannot make a {} socket: {e}", spec.label)))?;
    let t = stream.transport().clone();
    spec.security.apply(&t)?;
    if let Some(linger) = spec.opts.linger {
        set(&t, opt::Linger, linger, "--linger")?;
    }
    if let Some(id) = &spec.opts.routing_id {
        if id.is_empty() || id.len() > 255 {
            return Err(usage("invalid value for '--routing-id': 1 to 255 bytes"));
        }
        set(&t, opt::RoutingId, id.as_bytes().to_vec(), "--routing-id")?;
    }
    for extra in spec.extra {
        match *extra {
            Extra::RouterMandatory => set(&t, opt::RouterMandatory, true, "ROUTER_MANDATORY")?,
        }
    }
    let mask = if spec.all_events || spec.opts.verbose {
        MonitorEvents::ALL
    } else {
        failure_events()
    };
    t.enable_monitor(Some(mask))
        .await
        .map_err(|e| failed(format!("cannot monitor the {} socket: {e}", spec.label)))?;
    for ep in spec.binds {
        let bound = t
            .bind(ep)
            .await
            .map_err(|e| endpoint_error(spec.bind_arg, ep, &e))?;
        eprintln!("bound {bound}");
    }
    for ep in spec.connects {
        let resolved = zmqio::resolve_endpoint(ep)
            .await
            .map_err(|e| endpoint_error(spec.connect_arg, ep, &e))?;
        t.connect(&resolved)
            .await
            .map_err(|e| endpoint_error(spec.connect_arg, ep, &e))?;
    }
    Ok(Sock {
        stream,
        events_open: true,
        verbose: spec.opts.verbose || spec.all_events,
        label: spec.label.to_owned(),
    })
}

fn set<O: opt::SetSocketOpt>(t: &ZmqTransport, option: O, value: O::Value, arg: &str) -> CliResult {
    t.setsockopt(option, value).map_err(|e| {
        if matches!(e, zmqio::Error::Zmq(zmq::Error::EINVAL)) {
            usage(format!("invalid value for '{arg}': libzmq refuses it"))
        } else {
            failed(format!("cannot set {arg}: {e}"))
        }
    })
}

fn endpoint_error(arg: &str, ep: &str, e: &zmqio::Error) -> CliError {
    let msg = format!("invalid value '{ep}' for '{arg}': {}", describe(e));
    if is_bad_endpoint(e) {
        usage(msg)
    } else {
        failed(msg)
    }
}

impl Security {
    /// Sets the security options on `t`, before any bind or connect.
    pub(crate) fn apply(&self, t: &ZmqTransport) -> CliResult {
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
        if let Some(domain) = &self.zap_domain {
            set(t, opt::ZapDomain, domain.clone(), "--zap-domain")?;
        }
        if self.curve_server {
            set(t, opt::CurveServer, true, "--curve-server")?;
            if let Some(secret) = &self.curve_secret_key {
                set(
                    t,
                    opt::CurveSecretKey,
                    secret.bytes().to_vec(),
                    "--curve-secret-key",
                )?;
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
            set(
                t,
                opt::CurveServerKey,
                server.bytes().to_vec(),
                "--curve-server-key",
            )?;
            set(
                t,
                opt::CurvePublicKey,
                public.bytes().to_vec(),
                "--curve-public-key",
            )?;
            set(
                t,
                opt::CurveSecretKey,
                secret.bytes().to_vec(),
                "--curve-secret-key",
            )?;
        }
        if let Some((user, pass)) = &self.plain {
            set(t, opt::PlainUsername, Some(user.clone()), "--plain")?;
            set(t, opt::PlainPassword, Some(pass.clone()), "--plain")?;
        }
        if self.plain_server {
            set(t, opt::PlainServer, true, "--plain-server")?;
        }
        Ok(())
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
                Poll::Ready(Ok(ev)) => self.report(&ev),
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

    /// Reports a monitor event on stderr: failures always, the rest with `--verbose`.
    pub(crate) fn report(&self, ev: &SocketEvent) {
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
            if self.transport().connections().contains(&ev.endpoint) {
                eprintln!(
                    "zmqio: {}: connection lost: {} (libzmq reconnects)",
                    self.label, ev.endpoint
                );
            } else {
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

    /// Closes the socket: stops reading, flushes zmqio's write queue into libzmq and waits
    /// until the socket is closed. What libzmq accepted is delivered by [`shutdown`] at the
    /// end of the program. Waiting for a peer that does not come is said on stderr after a
    /// second; Ctrl-C then drops the queue (status 130).
    pub(crate) async fn finish(self) -> CliResult {
        let Self { stream, label, .. } = self;
        let t = stream.transport().clone();
        stream.close();
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
}

/// Ends the program's use of libzmq without losing what it accepted for sending: terminates
/// the process-wide context, which waits until every message its closed sockets accepted is
/// delivered or their LINGER (libzmq's default: forever) expires. Said on stderr after a
/// second; Ctrl-C then drops them (status 130). Call once, after every socket is finished.
///
/// The only place the tool ends libzmq: when the library offers an end-of-program shutdown
/// with a limit, call it here.
pub(crate) async fn shutdown() -> CliResult {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return Ok(());
    }
    // zmq_ctx_term, exactly once (guarded above). zmqio keeps the process-wide context in a
    // static that is never dropped, so no other handle ever terminates it a second time;
    // nothing makes a socket after this. It blocks while libzmq delivers: off the runtime.
    let mut term = tokio::task::spawn_blocking(|| zmqio::default_context().destroy());
    let mut hinted = false;
    loop {
        tokio::select! {
            done = &mut term => {
                return match done {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(failed(format!("cannot end libzmq: {}", e.message()))),
                    Err(e) => Err(failed(format!("cannot end libzmq: {e}"))),
                };
            }
            () = tokio::time::sleep(Duration::from_secs(1)), if !hinted => {
                hinted = true;
                eprintln!(
                    "zmqio: waiting for libzmq to deliver what it accepted (see --linger); Ctrl-C drops it"
                );
            }
            () = interrupted() => {
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
