//! Support for the scenario suite: the watchdog and protocol helpers shared by every runtime.
//!
//! The scenarios themselves live in `scenarios/` and are compiled once per runtime by the
//! files in `tests/`, each of which defines a module `rt` (how to run a future on that runtime)
//! and aliases its adapter crate as `zmqio`.

use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;

/// How long any one scenario may take before it fails as hung.
pub const WATCHDOG: Duration = Duration::from_secs(60);

/// Runs `run(fut)` under a watchdog: a future-level timeout (the scenario fails with a panic
/// naming it) plus a thread that aborts the process if even that cannot fire (a runtime thread
/// blocked for good), so a hang never stalls CI.
pub fn with_watchdog<F, R>(name: &str, limit: Duration, fut: F, run: R) -> F::Output
where
    F: Future + Send,
    R: FnOnce(std::pin::Pin<Box<dyn Future<Output = F::Output> + Send + '_>>) -> F::Output,
{
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let owned = name.to_owned();
    let guard = std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) =
            done_rx.recv_timeout(limit + Duration::from_secs(15))
        {
            eprintln!("watchdog: scenario {owned} is stuck; aborting");
            std::process::abort();
        }
    });
    let name = name.to_owned();
    let timed = async move {
        let timer = async_io::Timer::after(limit);
        futures::pin_mut!(fut);
        futures::pin_mut!(timer);
        match futures::future::select(fut, timer).await {
            futures::future::Either::Left((out, _)) => out,
            futures::future::Either::Right(_) => {
                panic!("scenario {name} timed out after {limit:?}")
            }
        }
    };
    let out = run(Box::pin(timed));
    drop(done_tx);
    let _ = guard.join();
    out
}

use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::StreamExt;
use zmqio_core::{Error, Multipart, SocketEvent, ZmqProtocol, ZmqTransport};

/// One protocol callback, as recorded by [`Recorder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    /// `connection_made`
    Made,
    /// `msg_received`
    Msg(Multipart),
    /// `pause_writing`
    Pause,
    /// `resume_writing`
    Resume,
    /// `event_received`
    Event(SocketEvent),
    /// `connection_lost`
    Lost(Option<Error>),
}

/// A protocol that forwards every callback to a channel, so a scenario can await exactly the
/// callback it expects instead of sleeping.
pub struct Recorder {
    tx: UnboundedSender<Ev>,
    /// The transport, once `connection_made` ran.
    pub transport: Option<ZmqTransport>,
    /// Whether the last of pause/resume was a pause.
    pub paused: bool,
    /// How many `connection_lost` calls arrived (must end as 1).
    pub lost_calls: usize,
    /// Echo every message back (a REP/ROUTER server).
    pub echo: bool,
}

impl Recorder {
    /// A recorder and the receiving end of its callbacks.
    pub fn new() -> (Self, Events) {
        let (tx, rx) = unbounded();
        (
            Self {
                tx,
                transport: None,
                paused: false,
                lost_calls: 0,
                echo: false,
            },
            Events(rx),
        )
    }

    /// A recorder that writes every message it receives back to its transport.
    pub fn echo() -> (Self, Events) {
        let (mut r, e) = Self::new();
        r.echo = true;
        (r, e)
    }
}

impl ZmqProtocol for Recorder {
    fn connection_made(&mut self, transport: &ZmqTransport) {
        self.transport = Some(transport.clone());
        let _ = self.tx.unbounded_send(Ev::Made);
    }
    fn connection_lost(&mut self, exc: Option<Error>) {
        self.lost_calls += 1;
        let _ = self.tx.unbounded_send(Ev::Lost(exc));
    }
    fn pause_writing(&mut self) {
        assert!(!self.paused, "pause_writing twice in a row");
        self.paused = true;
        let _ = self.tx.unbounded_send(Ev::Pause);
    }
    fn resume_writing(&mut self) {
        assert!(self.paused, "resume_writing without pause_writing");
        self.paused = false;
        let _ = self.tx.unbounded_send(Ev::Resume);
    }
    fn msg_received(&mut self, msg: Multipart) {
        if self.echo {
            if let Some(t) = &self.transport {
                t.write(msg.clone()).expect("echo write");
            }
        }
        let _ = self.tx.unbounded_send(Ev::Msg(msg));
    }
    fn event_received(&mut self, event: SocketEvent) {
        let _ = self.tx.unbounded_send(Ev::Event(event));
    }
}

/// The callbacks a [`Recorder`] saw, in order.
pub struct Events(UnboundedReceiver<Ev>);

impl Events {
    /// The next callback (panics if the protocol is gone).
    pub async fn next(&mut self) -> Ev {
        self.0.next().await.expect("protocol dropped")
    }

    /// The next `msg_received`, skipping monitor events; panics on anything else.
    pub async fn msg(&mut self) -> Multipart {
        loop {
            match self.next().await {
                Ev::Msg(m) => return m,
                Ev::Event(_) | Ev::Made => continue,
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// Skips everything up to and including `connection_lost`, returning its argument.
    pub async fn lost(&mut self) -> Option<Error> {
        loop {
            if let Ev::Lost(e) = self.next().await {
                return e;
            }
        }
    }

    /// Whatever is already queued, without waiting.
    pub fn ready(&mut self) -> Vec<Ev> {
        let mut v = Vec::new();
        while let Ok(e) = self.0.try_recv() {
            v.push(e);
        }
        v
    }
}

/// The first (resolved) endpoint a transport is bound to.
pub fn endpoint_of(t: &ZmqTransport) -> String {
    t.bindings().into_iter().next().expect("transport is bound")
}
