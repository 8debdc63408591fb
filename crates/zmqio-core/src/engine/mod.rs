//! The sans-IO engine: the state of one socket and the rules for driving it.
//!
//! [`Engine`] owns a [`Backend`] (the socket) and all pure state: the write queue with its
//! watermarks, the read-pause flag, the subscription set, the bind and connect sets and the
//! lifecycle. It never blocks, never waits and knows no clock or runtime; the async shell
//! ([`ZmqTransport`](crate::ZmqTransport) and its driver) does the waiting.
//!
//! # Calling contract
//!
//! The methods come in four kinds, as in quinn-proto's `Connection`:
//!
//! - **getters** (`queued_bytes`, `write_limits`, `bindings`, ...) only read;
//! - **user commands** (`write`, `close`, `abort`, `pause_reading`, `bind`, `subscribe`, ...)
//!   change state and may call the socket;
//! - the **input** [`handle_readiness`](Engine::handle_readiness), to call whenever the
//!   socket's `ZMQ_FD` fired, after any user command, and whenever it returned
//!   [`Step::Again`];
//! - the **output** [`poll_event`](Engine::poll_event), which yields [`EngineEvent`]s for the
//!   protocol.
//!
//! After every input or command: drain `poll_event` to `None`, then act on the [`Step`]
//! returned by `handle_readiness`: `Idle` means wait for `ZMQ_FD` (the engine has just seen
//! `ZMQ_EVENTS` without a wanted bit, so waiting cannot miss a state that already exists),
//! `Again` means yield and call again without waiting, `Closed` means close the socket (after
//! deregistering its fd) with [`take_backend`](Engine::take_backend).
//!
//! # Example
//!
//! Over the scripted fake backend, `engine::fake`, which is test scaffolding behind the
//! `testing` feature (so this example runs in the crate's own tests only):
//!
#![cfg_attr(feature = "testing", doc = "```")]
#![cfg_attr(not(feature = "testing"), doc = "```ignore")]
//! use zmqio_core::engine::{fake::FakeBackend, Engine, EngineEvent, Step};
//!
//! let mut backend = FakeBackend::new();
//! backend.set_writable(false); // every send is EAGAIN for now
//! let mut engine = Engine::new(backend, zmq::PUSH);
//! engine.set_write_limits(Some(4), None).unwrap();
//! engine.write(["hello"].into()).unwrap(); // queued, 5 bytes > high 4
//! assert_eq!(engine.poll_event(), Some(EngineEvent::PauseWriting));
//!
//! engine.backend_mut().unwrap().set_writable(true); // the peer caught up
//! assert_eq!(engine.handle_readiness(64), Step::Idle);
//! assert_eq!(engine.poll_event(), Some(EngineEvent::ResumeWriting));
//! assert_eq!(engine.backend_mut().unwrap().sent().len(), 1);
//! ```

mod backend;
#[cfg(any(test, feature = "testing"))]
pub mod fake;
mod monitor;

use std::collections::{BTreeSet, VecDeque};

use bytes::Bytes;

pub use self::backend::{Backend, ZmqBackend};
pub use self::monitor::MonitorReader;
use crate::types::endpoint;
use crate::{Error, Multipart, Result, SocketEvent};

/// Default high watermark of the write queue, in bytes.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;

/// What the engine tells the protocol, drained with [`Engine::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// A message arrived.
    Message(Multipart),
    /// Queued bytes rose above the high watermark.
    PauseWriting,
    /// Queued bytes fell to the low watermark or below.
    ResumeWriting,
    /// A socket monitor event.
    SocketEvent(SocketEvent),
    /// The transport is finished; `Some` carries the fatal error. Always the last event.
    ConnectionLost(Option<Error>),
}

/// What the driver should do after [`Engine::handle_readiness`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do until `ZMQ_FD` fires or a user command comes.
    Idle,
    /// The fairness budget ran out with work left: yield, then call again without waiting.
    Again,
    /// The transport is finished: deregister the fd, then close the socket.
    Closed,
    /// The socket shows `POLLOUT` but refuses the head of the write queue (ROUTER with
    /// `ROUTER_MANDATORY` and that peer full, XPUB with `XPUB_NODROP`). Wait for the fd, but
    /// also call again after a short back-off even if it never fires: the peer's "writable
    /// again" signal may be consumed by the very `ZMQ_EVENTS` read that ended this call, and
    /// `POLLOUT`, already set, cannot tell.
    Blocked,
}

/// Where a transport is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Reading and writing.
    Open,
    /// `close()` was called: no more reads, the write queue is being flushed.
    Closing,
    /// Finished; `connection_lost` is queued or delivered.
    Closed,
}

/// Computes `(low, high)` from the optional values the user gave, with aiozmq's rules:
/// high defaults to 64 KiB (or `4 * low` when only low is given), low to `high / 4`, and
/// `high >= low` is required.
///
/// ```
/// use zmqio_core::engine::buffer_limits;
/// assert_eq!(buffer_limits(None, None).unwrap(), (16384, 65536));
/// assert_eq!(buffer_limits(None, Some(10)).unwrap(), (10, 40));
/// assert_eq!(buffer_limits(Some(100), None).unwrap(), (25, 100));
/// assert!(buffer_limits(Some(1), Some(2)).is_err());
/// ```
pub fn buffer_limits(high: Option<usize>, low: Option<usize>) -> Result<(usize, usize)> {
    let high = match (high, low) {
        (Some(h), _) => h,
        (None, Some(l)) => l.saturating_mul(4),
        (None, None) => DEFAULT_HIGH_WATER,
    };
    let low = low.unwrap_or(high / 4);
    if high < low {
        return Err(Error::invalid_argument(format!(
            "high watermark ({high}) must be >= low watermark ({low})"
        )));
    }
    Ok((low, high))
}

/// The state of one socket and the rules that drive it. See the [module docs](self).
pub struct Engine<B> {
    backend: Option<B>,
    socket_type: zmq::SocketType,
    lifecycle: Lifecycle,
    queue: VecDeque<Multipart>,
    queued_bytes: usize,
    /// Frames of the queue's head already accepted by the socket (libzmq accepts a message
    /// atomically, so this is 0 in practice; kept so a partial accept can never send a frame
    /// twice or drop one).
    head_sent: usize,
    low: usize,
    high: usize,
    writing_paused: bool,
    reading_paused: bool,
    subscriptions: BTreeSet<Bytes>,
    bindings: BTreeSet<String>,
    connections: BTreeSet<String>,
    events: VecDeque<EngineEvent>,
    /// Set when something a `drain()`/`wait_closed()` waiter cares about changed.
    progress: bool,
}

impl<B: Backend> Engine<B> {
    /// A new, open engine over `backend` for a socket of `socket_type`.
    pub fn new(backend: B, socket_type: zmq::SocketType) -> Self {
        let (low, high) = (DEFAULT_HIGH_WATER / 4, DEFAULT_HIGH_WATER);
        Self {
            backend: Some(backend),
            socket_type,
            lifecycle: Lifecycle::Open,
            queue: VecDeque::new(),
            queued_bytes: 0,
            head_sent: 0,
            low,
            high,
            writing_paused: false,
            reading_paused: false,
            subscriptions: BTreeSet::new(),
            bindings: BTreeSet::new(),
            connections: BTreeSet::new(),
            events: VecDeque::new(),
            progress: false,
        }
    }

    // ----- getters -----

    /// The socket type given at creation.
    pub fn socket_type(&self) -> zmq::SocketType {
        self.socket_type
    }

    /// Where the engine is in its life.
    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    /// Bytes waiting in the write queue.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Messages waiting in the write queue.
    pub fn queued_messages(&self) -> usize {
        self.queue.len()
    }

    /// `(low, high)` watermarks of the write queue.
    pub fn write_limits(&self) -> (usize, usize) {
        (self.low, self.high)
    }

    /// Whether `pause_writing` was the last of pause/resume to be emitted.
    pub fn is_writing_paused(&self) -> bool {
        self.writing_paused
    }

    /// Whether reading is paused.
    pub fn is_reading_paused(&self) -> bool {
        self.reading_paused
    }

    /// The resolved endpoints bound through this engine.
    pub fn bindings(&self) -> &BTreeSet<String> {
        &self.bindings
    }

    /// The endpoints connected through this engine, as given.
    pub fn connections(&self) -> &BTreeSet<String> {
        &self.connections
    }

    /// The subscription set (SUB sockets only).
    pub fn subscriptions(&self) -> Result<&BTreeSet<Bytes>> {
        self.require_sub("subscriptions")?;
        Ok(&self.subscriptions)
    }

    /// The backend, while the socket is not closed.
    pub fn backend_mut(&mut self) -> Option<&mut B> {
        self.backend.as_mut()
    }

    /// The backend, while the socket is not closed.
    pub fn backend(&self) -> Option<&B> {
        self.backend.as_ref()
    }

    /// Returns and clears the flag that something `drain()` or `wait_closed()` waits for
    /// (queue shrinking, lifecycle change) happened.
    pub fn take_progress(&mut self) -> bool {
        std::mem::take(&mut self.progress)
    }

    // ----- outputs -----

    /// The next event for the protocol, if any.
    pub fn poll_event(&mut self) -> Option<EngineEvent> {
        self.events.pop_front()
    }

    /// Whether [`poll_event`](Self::poll_event) has something.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Takes the backend out once the engine is [`Lifecycle::Closed`], so the caller can close
    /// the socket after deregistering its fd.
    pub fn take_backend(&mut self) -> Option<B> {
        if self.lifecycle == Lifecycle::Closed {
            self.backend.take()
        } else {
            None
        }
    }

    // ----- input -----

    /// Does all the work the socket allows now (`budget` must be at least 1): reads `ZMQ_EVENTS`, flushes the write queue
    /// while `POLLOUT` is set, receives up to `budget` messages while `POLLIN` is set and
    /// reading is not paused, and reads `ZMQ_EVENTS` again after every pass until it shows no
    /// wanted bit. Emits events for [`poll_event`](Self::poll_event).
    pub fn handle_readiness(&mut self, budget: usize) -> Step {
        let mut received = 0;
        // `POLLOUT` means *a* message could be sent, not necessarily the head of the queue
        // (ROUTER with ROUTER_MANDATORY and a full peer, XPUB with XPUB_NODROP): once a flush
        // sends nothing, stop flushing until the fd fires instead of spinning on EAGAIN.
        let mut send_blocked = false;
        loop {
            if self.lifecycle == Lifecycle::Closed {
                return Step::Closed;
            }
            if self.lifecycle == Lifecycle::Closing && self.queue.is_empty() {
                self.finish(None);
                return Step::Closed;
            }
            let events = match self.events() {
                Ok(ev) => ev,
                Err(e) => {
                    self.fatal(e);
                    return Step::Closed;
                }
            };
            let want_out = events.contains(zmq::POLLOUT) && !self.queue.is_empty() && !send_blocked;
            let want_in = events.contains(zmq::POLLIN) && self.reading_allowed();
            if !want_out && !want_in {
                if send_blocked && events.contains(zmq::POLLOUT) && !self.queue.is_empty() {
                    return Step::Blocked;
                }
                return Step::Idle;
            }
            if want_out {
                send_blocked = !self.flush();
                continue;
            }
            // want_in: POLLIN promises one message; receive until EAGAIN (or the budget).
            let mut this_pass = 0;
            while received < budget {
                match self.recv_one() {
                    Ok(msg) => {
                        received += 1;
                        this_pass += 1;
                        self.events.push_back(EngineEvent::Message(msg));
                    }
                    Err(zmq::Error::EAGAIN) => break,
                    // REQ and REP refuse a second receive before the matching send; ZMQ_EVENTS
                    // clears POLLIN then, so this only ends a batch and cannot spin.
                    Err(zmq::Error::EFSM) if this_pass > 0 => break,
                    Err(e) => {
                        self.fatal(e);
                        return Step::Closed;
                    }
                }
            }
            if received >= budget {
                return Step::Again;
            }
        }
    }

    // ----- user commands -----

    /// Writes a message: tries to send it at once when the queue is empty, otherwise (or on
    /// `EAGAIN`) queues it whole. An empty message is a no-op. Any other send error is fatal:
    /// it is returned and the transport is lost with it.
    pub fn write(&mut self, msg: Multipart) -> Result<()> {
        if self.lifecycle != Lifecycle::Open {
            return Err(Error::Closed);
        }
        if msg.is_empty() {
            return Ok(());
        }
        if self.queue.is_empty() {
            match self.send_frames(&msg, 0) {
                Ok(()) => return Ok(()),
                Err((sent, zmq::Error::EAGAIN)) => {
                    self.head_sent = sent;
                }
                Err((_, e)) => {
                    self.fatal(e);
                    return Err(Error::Zmq(e));
                }
            }
        }
        self.queued_bytes += msg.byte_len();
        self.queue.push_back(msg);
        self.maybe_pause();
        Ok(())
    }

    /// Sets the write watermarks (see [`buffer_limits`]) and applies them to the queue at
    /// once.
    pub fn set_write_limits(&mut self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        let (low, high) = buffer_limits(high, low)?;
        self.low = low;
        self.high = high;
        // Once closed, `ConnectionLost` is the last event: nothing may follow it.
        if self.lifecycle != Lifecycle::Closed {
            self.maybe_pause();
            self.maybe_resume();
        }
        Ok(())
    }

    /// Starts a graceful close: reading stops at once (queued, undelivered messages are
    /// dropped), the write queue is flushed, then `ConnectionLost(None)`. Idempotent.
    pub fn close(&mut self) {
        if self.lifecycle != Lifecycle::Open {
            return;
        }
        self.lifecycle = Lifecycle::Closing;
        self.progress = true;
        self.events
            .retain(|e| !matches!(e, EngineEvent::Message(_)));
        if self.queue.is_empty() {
            self.finish(None);
        }
    }

    /// Closes at once: drops the write queue, then `ConnectionLost(None)`. Never emits
    /// `ResumeWriting`. Idempotent.
    pub fn abort(&mut self) {
        self.abort_with(None);
    }

    /// Like [`abort`](Self::abort) but `ConnectionLost` carries `error`.
    pub fn abort_with(&mut self, error: Option<Error>) {
        if self.lifecycle == Lifecycle::Closed {
            return;
        }
        self.drop_queue();
        // Nothing but connection_lost after an abort: no message, no resume_writing (the
        // contract), no monitor event.
        self.events.clear();
        self.finish(error);
    }

    /// Stops reading from the socket; writes keep flowing.
    pub fn pause_reading(&mut self) -> Result<()> {
        if self.lifecycle != Lifecycle::Open {
            return Err(Error::invalid_state(
                "cannot pause reading: transport is closing",
            ));
        }
        if self.reading_paused {
            return Err(Error::invalid_state("reading is already paused"));
        }
        self.reading_paused = true;
        Ok(())
    }

    /// Resumes reading. A no-op once closing; an error when not paused.
    pub fn resume_reading(&mut self) -> Result<()> {
        if self.lifecycle != Lifecycle::Open {
            return Ok(());
        }
        if !self.reading_paused {
            return Err(Error::invalid_state("reading is not paused"));
        }
        self.reading_paused = false;
        Ok(())
    }

    /// Binds, records and returns the resolved endpoint.
    pub fn bind(&mut self, endpoint: &str) -> Result<String> {
        endpoint::check_endpoint_syntax(endpoint)?;
        let backend = self.open_backend()?;
        let resolved = retry(|| backend.bind(endpoint))?;
        self.bindings.insert(resolved.clone());
        Ok(resolved)
    }

    /// Unbinds; on success forgets the endpoint.
    pub fn unbind(&mut self, endpoint: &str) -> Result<()> {
        endpoint::check_endpoint_syntax(endpoint)?;
        let backend = self.open_backend()?;
        retry(|| backend.unbind(endpoint))?;
        self.bindings.remove(endpoint);
        Ok(())
    }

    /// Connects (a tcp host must be an IP literal), records and returns the endpoint as given.
    pub fn connect(&mut self, endpoint: &str) -> Result<String> {
        endpoint::check_endpoint_syntax(endpoint)?;
        endpoint::check_connect_endpoint(endpoint)?;
        let backend = self.open_backend()?;
        retry(|| backend.connect(endpoint))?;
        self.connections.insert(endpoint.to_owned());
        Ok(endpoint.to_owned())
    }

    /// Disconnects; on success forgets the endpoint.
    pub fn disconnect(&mut self, endpoint: &str) -> Result<()> {
        endpoint::check_endpoint_syntax(endpoint)?;
        let backend = self.open_backend()?;
        retry(|| backend.disconnect(endpoint))?;
        self.connections.remove(endpoint);
        Ok(())
    }

    /// Subscribes (SUB only). A value already in the set does nothing.
    pub fn subscribe(&mut self, value: &[u8]) -> Result<()> {
        self.require_sub("subscribe")?;
        self.open_backend()?;
        if self.subscriptions.contains(value) {
            return Ok(());
        }
        let backend = self.open_backend()?;
        retry(|| backend.set_subscription(value, true))?;
        self.subscriptions.insert(Bytes::copy_from_slice(value));
        Ok(())
    }

    /// Unsubscribes (SUB only). An unknown value does nothing.
    pub fn unsubscribe(&mut self, value: &[u8]) -> Result<()> {
        self.require_sub("unsubscribe")?;
        self.open_backend()?;
        if !self.subscriptions.contains(value) {
            return Ok(());
        }
        let backend = self.open_backend()?;
        retry(|| backend.set_subscription(value, false))?;
        self.subscriptions.remove(value);
        Ok(())
    }

    /// Records a subscription change made directly on the socket (through `setsockopt`).
    pub fn note_subscription(&mut self, value: &[u8], on: bool) {
        if on {
            self.subscriptions.insert(Bytes::copy_from_slice(value));
        } else {
            self.subscriptions.remove(value);
        }
    }

    /// Pushes a monitor event for the protocol (ignored once closed).
    pub fn push_socket_event(&mut self, event: SocketEvent) {
        if self.lifecycle == Lifecycle::Open {
            self.events.push_back(EngineEvent::SocketEvent(event));
        }
    }

    /// Makes the transport lost with a fatal libzmq error (see the semantics table).
    ///
    /// Messages received before the error and not yet polled are still delivered, before the
    /// `ConnectionLost`: they arrived whole, and dropping them would lose data silently.
    pub fn fatal(&mut self, error: zmq::Error) {
        if self.lifecycle == Lifecycle::Closed {
            return;
        }
        self.finish(Some(Error::Zmq(error)));
    }

    // ----- private helpers -----

    fn reading_allowed(&self) -> bool {
        self.lifecycle == Lifecycle::Open && !self.reading_paused
    }

    fn require_sub(&self, what: &str) -> Result<()> {
        if self.socket_type == zmq::SUB {
            Ok(())
        } else {
            Err(Error::not_supported(format!(
                "{what} is only valid for SUB sockets"
            )))
        }
    }

    fn open_backend(&mut self) -> Result<&mut B> {
        match (self.lifecycle, self.backend.as_mut()) {
            (Lifecycle::Open, Some(b)) => Ok(b),
            _ => Err(Error::Closed),
        }
    }

    fn events(&mut self) -> zmq::Result<zmq::PollEvents> {
        match self.backend.as_mut() {
            Some(b) => retry(|| b.events()),
            None => Ok(zmq::PollEvents::empty()),
        }
    }

    fn recv_one(&mut self) -> zmq::Result<Multipart> {
        match self.backend.as_mut() {
            Some(b) => retry(|| b.recv()),
            None => Err(zmq::Error::EAGAIN),
        }
    }

    /// Sends frames `from..` of `msg`; on error returns how many frames in total were sent.
    fn send_frames(
        &mut self,
        msg: &Multipart,
        from: usize,
    ) -> std::result::Result<(), (usize, zmq::Error)> {
        let Some(backend) = self.backend.as_mut() else {
            return Err((from, zmq::Error::ENOTSOCK));
        };
        let last = msg.len() - 1;
        for (i, frame) in msg.iter().enumerate().skip(from) {
            retry(|| backend.send_frame(frame, i < last)).map_err(|e| (i, e))?;
        }
        Ok(())
    }

    /// Sends queued messages until the queue is empty or the socket refuses; returns whether
    /// any frame was sent.
    fn flush(&mut self) -> bool {
        let mut sent_any = false;
        while let Some(head) = self.queue.pop_front() {
            let from = self.head_sent;
            match self.send_frames(&head, from) {
                Ok(()) => {
                    sent_any = true;
                    self.head_sent = 0;
                    self.queued_bytes -= head.byte_len();
                    self.progress = true;
                    self.maybe_resume();
                }
                Err((sent, zmq::Error::EAGAIN)) => {
                    self.head_sent = sent;
                    self.queue.push_front(head);
                    return sent_any || sent > from;
                }
                Err((_, e)) => {
                    self.queue.push_front(head);
                    self.fatal(e);
                    return sent_any;
                }
            }
        }
        sent_any
    }

    fn maybe_pause(&mut self) {
        if !self.writing_paused && self.queued_bytes > self.high {
            self.writing_paused = true;
            self.events.push_back(EngineEvent::PauseWriting);
        }
    }

    fn maybe_resume(&mut self) {
        if self.writing_paused && self.queued_bytes <= self.low {
            self.writing_paused = false;
            self.events.push_back(EngineEvent::ResumeWriting);
        }
    }

    fn drop_queue(&mut self) {
        self.queue.clear();
        self.queued_bytes = 0;
        self.head_sent = 0;
    }

    fn finish(&mut self, error: Option<Error>) {
        self.drop_queue();
        self.lifecycle = Lifecycle::Closed;
        self.progress = true;
        self.events.push_back(EngineEvent::ConnectionLost(error));
    }
}

impl<B> std::fmt::Debug for Engine<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("socket_type", &self.socket_type)
            .field("lifecycle", &self.lifecycle)
            .field("queued_messages", &self.queue.len())
            .field("queued_bytes", &self.queued_bytes)
            .field("limits", &(self.low, self.high))
            .field("writing_paused", &self.writing_paused)
            .field("reading_paused", &self.reading_paused)
            .finish_non_exhaustive()
    }
}

/// Retries a libzmq call while it fails with `EINTR`: that errno never reaches the user.
pub(crate) fn retry<T>(mut f: impl FnMut() -> zmq::Result<T>) -> zmq::Result<T> {
    loop {
        match f() {
            Err(zmq::Error::EINTR) => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests;
