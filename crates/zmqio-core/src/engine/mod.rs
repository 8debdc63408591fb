//! The sans-IO engine: the state of one socket and the rules for driving it.
//!
//! [`Engine`] owns a [`Backend`] (the socket) and all pure state: the write queue with its
//! watermarks, the two read pauses (the user's and backpressure's), the subscription set,
//! the bind and connect sets and the lifecycle. It never blocks, never waits and knows no
//! clock or runtime; the async shell ([`ZmqTransport`](crate::ZmqTransport) and its driver)
//! does the waiting.
//!
//! # Calling contract
//!
//! The methods come in four kinds, as in quinn-proto's `Connection`:
//!
//! - **getters** (`queued_bytes`, `write_limits`, `bindings`, ...) only read;
//! - **user commands** (`write`, `close`, `abort`, `pause_reading`, `bind`, `subscribe`, ...)
//!   change state and may call the socket; a command made from another task than the
//!   driver's must wake the driver (`ZMQ_FD` rule 6), and [`write`](Engine::write), the hot
//!   one, says in its [`Written`] whether it has to;
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
//! The engine has no clock. The one deadline it knows, the socket's `ZMQ_LINGER` for a
//! closing transport's queue, is an input: while [`linger_timeout`](Engine::linger_timeout)
//! is `Some(d)`, the driver arms a timer of `d` and calls
//! [`handle_linger_expired`](Engine::handle_linger_expired) when it fires.
//!
//! # Which errors end the transport
//!
//! libzmq answers a send or a receive with an errno that is about the socket, or about one
//! message. The engine sorts them by what libzmq 4.3's socket types mean by them:
//!
//! | errno | from | kind | why |
//! | --- | --- | --- | --- |
//! | `EAGAIN` | any send or receive | not now | HWM reached, no peer yet, nothing to read: the message waits in the queue, reading waits for `POLLIN` |
//! | `EINTR` | any call | not now | retried at once; never reaches the user |
//! | `EHOSTUNREACH` | send of the first frame on ROUTER (with `ROUTER_MANDATORY`) and STREAM | **per message** | no peer has that routing id, or its pipe is closing (the peer left): libzmq refused this one message and consumed nothing; the socket and every other peer are fine |
//! | `EAGAIN` | send on ROUTER (mandatory, peer full), STREAM (peer full), XPUB (`XPUB_NODROP`, a subscriber full) | not now | `POLLOUT` may still be set (another peer has room): see [`Step::Blocked`] |
//! | `EFSM` | send or receive on REQ/REP out of turn | fatal (send); ends a batch (receive after a message) | the socket's state machine is broken; aiozmq ends the transport, and so does zmqio |
//! | `ETERM` | any call | fatal | the context was terminated: the socket is unusable |
//! | `ENOTSOCK`, `EFAULT` | any call | fatal | the socket or message is invalid |
//! | `ENOTSUP` | send on SUB/PULL, receive on PUB/PUSH | fatal | the socket type cannot do it, now or ever |
//! | anything else | send, receive, `ZMQ_EVENTS` | fatal | unknown to the socket types zmqio supports; safer to end than to spin |
//!
//! A per-message `EHOSTUNREACH` from [`write`](Engine::write) with an empty queue is returned
//! (`Err(Zmq(EHOSTUNREACH))`) and nothing is queued. While the queue is flushed, the message
//! is dropped, counted in [`dropped_unroutable`](Engine::dropped_unroutable), and flushing
//! goes on with the next one. libzmq only answers `EHOSTUNREACH` for a message's first frame
//! (the routing id); should it ever come after a frame was accepted, the message cannot be
//! abandoned half sent and the error is fatal. On other socket types `EHOSTUNREACH` cannot
//! happen and stays fatal. Libzmq's own silent drops (a ROUTER without `ROUTER_MANDATORY`,
//! a PUB with a full subscriber) are not seen by zmqio and not counted.
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
//! engine.write(["hello"].into()).unwrap(); // queued, weighs 5 + 32 > high 4
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
use std::time::Duration;

use bytes::Bytes;

pub use self::backend::{Backend, ZmqBackend};
pub use self::monitor::MonitorReader;
use crate::types::endpoint;
use crate::{Error, Multipart, Result, SocketEvent};

/// Default high watermark of the write queue (and of a stream's read buffer), in weight:
/// bytes plus [`FRAME_OVERHEAD`] per frame (see [`message_weight`]).
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;

/// What each frame of a message weighs beyond its bytes: 32, the size of the `Bytes` handle
/// that holds it (and about what a queued message costs in memory besides its payload).
pub const FRAME_OVERHEAD: usize = 32;

/// The weight of a message, which every bound of zmqio compares with its watermarks (the
/// write queue's, `drain()`, a `Sink`'s readiness, a stream's read buffer): its bytes plus
/// [`FRAME_OVERHEAD`] per frame. A message of empty frames therefore still weighs something,
/// so a flood of them is bounded like any other; for messages of a few hundred bytes and
/// more, the weight is close to the byte count.
///
/// ```
/// use zmqio_core::engine::{message_weight, FRAME_OVERHEAD};
/// use zmqio_core::Multipart;
///
/// assert_eq!(message_weight(&Multipart::from([""])), FRAME_OVERHEAD);
/// assert_eq!(message_weight(&Multipart::from(["id", "", "hello"])), 7 + 3 * FRAME_OVERHEAD);
/// ```
pub fn message_weight(msg: &Multipart) -> usize {
    bytes_and_weight(msg).1
}

/// A message's payload bytes and its [`message_weight`], from one look at its frames: what
/// every queue that counts both adds and subtracts.
#[inline]
pub(crate) fn bytes_and_weight(msg: &Multipart) -> (usize, usize) {
    let (frames, bytes) = msg.frames_and_bytes();
    (bytes, bytes + FRAME_OVERHEAD * frames)
}

/// What the engine tells the protocol, drained with [`Engine::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// A message arrived.
    Message(Multipart),
    /// The write queue's weight rose above the high watermark.
    PauseWriting,
    /// The write queue's weight fell to the low watermark or below.
    ResumeWriting,
    /// A socket monitor event.
    SocketEvent(SocketEvent),
    /// The transport is finished; `Some` carries the fatal error. Always the last event.
    ConnectionLost(Option<Error>),
}

/// What [`Engine::write`] did, and whether the driver must be woken for it (`ZMQ_FD` rule 6).
///
/// Rule 6 says: wake the driver after a user call that touched the socket from another
/// task, because the call may have consumed the readiness edge the driver waits on (rule 3).
/// The driver waits on `ZMQ_FD` only for what it wants: `POLLIN` while the socket can
/// receive and reading is allowed, `POLLOUT` while the write queue is not empty. So a write
/// must wake it exactly when it made a socket call *and* the driver may be waiting for an edge
/// that call could have taken:
///
/// - a message behind a non-empty queue made no socket call: the driver already waits for
///   `POLLOUT` and nothing it waits for changed (`wake_driver == false`);
/// - a message refused at once (`EAGAIN`) is the queue's first: the driver must now wait for
///   `POLLOUT`, and the refused send may have taken its edge (`wake_driver == true`);
/// - a message sent at once leaves the queue empty, so the driver wants no `POLLOUT`; it
///   still may want `POLLIN`, whose edge the send may have taken, unless the socket type
///   never receives: PUSH and PUB (`wake_driver == false` for those only). The common case
///   of a send-only socket, a message handed to libzmq at once, so costs no driver wake-up.
///
/// A `write` that fails with [`Error::Zmq`] touched the socket too: wake the driver then
/// (after a fatal error it also has a `ConnectionLost` to deliver).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Whether the message waits in the write queue (libzmq did not take it yet). When not
    /// (sent at once, or an empty message), the write changed no state of the engine.
    pub queued: bool,
    /// Whether the driver must be woken to read `ZMQ_EVENTS` again (see the type docs).
    pub wake_driver: bool,
}

/// Whether a socket of this type ever receives: PUSH and PUB never do, so their driver never
/// waits for `POLLIN` (see [`Written`]).
pub fn socket_receives(socket_type: zmq::SocketType) -> bool {
    !matches!(socket_type, zmq::PUSH | zmq::PUB)
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
    /// The queued messages' [`message_weight`]s, summed: what the watermarks bound.
    queued_weight: usize,
    /// Frames of the queue's head already accepted by the socket (libzmq accepts a message
    /// atomically, so this is 0 in practice; kept so a partial accept can never send a frame
    /// twice or drop one).
    head_sent: usize,
    low: usize,
    high: usize,
    writing_paused: bool,
    /// Reading paused by the user (`pause_reading`).
    reading_paused: bool,
    /// Reading paused by the shell's read-side backpressure (a stream's full read buffer);
    /// independent of `reading_paused`: the socket is read only while neither is set.
    read_backpressure: bool,
    subscriptions: BTreeSet<Bytes>,
    bindings: BTreeSet<String>,
    connections: BTreeSet<String>,
    events: VecDeque<EngineEvent>,
    /// The error the transport was lost with, once it is [`Lifecycle::Closed`].
    lost_error: Option<Error>,
    /// Set by a close or abort that dropped the received, undelivered messages; from then on
    /// no message is ever queued again (see [`discards_messages`](Self::discards_messages)).
    discards_messages: bool,
    /// Set when something a `drain()`/`wait_closed()` waiter cares about changed.
    progress: bool,
    /// Queued messages dropped because libzmq refused their destination (per-message
    /// `EHOSTUNREACH`).
    dropped_unroutable: u64,
    /// While closing: how long the queue may still be flushed (`None`: for ever).
    linger: Option<Duration>,
    /// Queued messages dropped because a close's LINGER expired first.
    dropped_on_close: u64,
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
            queued_weight: 0,
            head_sent: 0,
            low,
            high,
            writing_paused: false,
            reading_paused: false,
            read_backpressure: false,
            subscriptions: BTreeSet::new(),
            bindings: BTreeSet::new(),
            connections: BTreeSet::new(),
            events: VecDeque::new(),
            lost_error: None,
            discards_messages: false,
            progress: false,
            dropped_unroutable: 0,
            linger: None,
            dropped_on_close: 0,
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

    /// The [weight](message_weight) of the write queue: what the watermarks bound.
    pub fn queued_weight(&self) -> usize {
        self.queued_weight
    }

    /// Messages waiting in the write queue.
    pub fn queued_messages(&self) -> usize {
        self.queue.len()
    }

    /// Queued messages dropped while flushing because libzmq refused their destination
    /// (`EHOSTUNREACH` on a ROUTER or STREAM: no such peer, or it left). A `write` refused
    /// that way returns the error instead and is not counted, unless the caller drops it
    /// and counts it here (the proxy does). See the [module docs](self).
    pub fn dropped_unroutable(&self) -> u64 {
        self.dropped_unroutable
    }

    /// Counts in [`dropped_unroutable`](Self::dropped_unroutable) a message dropped because
    /// libzmq refused its destination, and reports it: a queued one (`flush`), or one the
    /// caller dropped after `write` refused it (the proxy does, as a ROUTER without
    /// `RouterMandatory` would).
    pub(crate) fn note_unroutable(&mut self, routing_id: Option<&Bytes>) {
        self.dropped_unroutable += 1;
        crate::types::trace::message_unroutable(
            self.socket_type,
            routing_id,
            self.dropped_unroutable,
        );
    }

    /// Queued messages dropped by a close whose LINGER expired before the queue was flushed
    /// (see [`close_with_linger`](Self::close_with_linger)). `abort` and fatal errors drop
    /// the queue too, but are not counted here: the caller asked for the one, and
    /// `ConnectionLost(Some(..))` reports the other.
    pub fn dropped_on_close(&self) -> u64 {
        self.dropped_on_close
    }

    /// While closing with a finite, non-zero LINGER and a queue left: how long after the
    /// close the driver must call [`handle_linger_expired`](Self::handle_linger_expired).
    /// `None` otherwise.
    pub fn linger_timeout(&self) -> Option<Duration> {
        match self.lifecycle {
            Lifecycle::Closing => self.linger,
            _ => None,
        }
    }

    /// `(low, high)` watermarks of the write queue.
    pub fn write_limits(&self) -> (usize, usize) {
        (self.low, self.high)
    }

    /// Whether `pause_writing` was the last of pause/resume to be emitted.
    pub fn is_writing_paused(&self) -> bool {
        self.writing_paused
    }

    /// Whether reading is paused by [`pause_reading`](Self::pause_reading) (the user's
    /// pause; see also [`is_read_backpressured`](Self::is_read_backpressured)).
    pub fn is_reading_paused(&self) -> bool {
        self.reading_paused
    }

    /// Whether reading is paused by [`set_read_backpressure`](Self::set_read_backpressure).
    pub fn is_read_backpressured(&self) -> bool {
        self.read_backpressure
    }

    /// The fatal error the transport was lost with: `Some` once it is
    /// [`Lifecycle::Closed`] by a fatal error (or an abort that carried one), `None` while
    /// it is open or closing and after a plain close or abort. This is the one place the
    /// outcome is kept: `drain()`, the `Sink` and `wait_closed()` all read it, so they see
    /// the error as soon as the transport is lost, before `ConnectionLost` is delivered.
    pub fn lost_error(&self) -> Option<&Error> {
        self.lost_error.as_ref()
    }

    /// Whether a close or an abort has dropped the messages received and not yet polled.
    /// Once set it stays set, and no message is queued any more (reading has stopped). A
    /// caller that took messages out with [`take_messages`](Self::take_messages) and has not
    /// delivered them all drops the rest once this is set, as the engine dropped its own.
    pub fn discards_messages(&self) -> bool {
        self.discards_messages
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

    /// Returns and clears the flag that something `drain()`, a `Sink` or `wait_closed()`
    /// waits for (queue shrinking, lifecycle change, a raised watermark) happened.
    pub fn take_progress(&mut self) -> bool {
        std::mem::take(&mut self.progress)
    }

    // ----- outputs -----

    /// The next event for the protocol, if any.
    pub fn poll_event(&mut self) -> Option<EngineEvent> {
        self.events.pop_front()
    }

    /// Moves the [`EngineEvent::Message`]s at the front of the event queue, up to the first
    /// event of another kind, to the back of `out`, in order; returns how many. The same as
    /// calling [`poll_event`](Self::poll_event) while it yields messages, in one call: a
    /// caller that delivers them later must check
    /// [`discards_messages`](Self::discards_messages) between them (a close or abort
    /// meanwhile drops the rest).
    ///
    /// When `out` is empty and every pending event is a message (the common case), the two
    /// queues are swapped instead of moving the messages one by one, so `out`'s capacity is
    /// the engine's next event queue.
    pub fn take_messages(&mut self, out: &mut VecDeque<EngineEvent>) -> usize {
        let is_message = |e: &EngineEvent| matches!(e, EngineEvent::Message(_));
        if out.is_empty() && self.events.iter().all(is_message) {
            std::mem::swap(out, &mut self.events);
            return out.len();
        }
        let run = self.events.iter().take_while(|e| is_message(e)).count();
        out.extend(self.events.drain(..run));
        run
    }

    /// Whether [`poll_event`](Self::poll_event) has something.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Takes the first pending `PauseWriting` out of the event queue, unless a
    /// `ResumeWriting` is pending before it; returns whether it took one. Every other event
    /// stays queued, in order.
    ///
    /// This is how the shell delivers `pause_writing` inside the user's `write()` while
    /// every other event waits for the driver: a pause may overtake pending messages and
    /// monitor events (they are independent of the write side), but never a pending
    /// resume, so the protocol still sees pause and resume alternate.
    pub fn take_pause_writing(&mut self) -> bool {
        for (i, event) in self.events.iter().enumerate() {
            match event {
                EngineEvent::PauseWriting => {
                    self.events.remove(i);
                    return true;
                }
                EngineEvent::ResumeWriting => return false,
                _ => {}
            }
        }
        false
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
            // The backend is borrowed beside the event queue, so a received message goes
            // straight into the queue (EINTR retried as `retry` does).
            let mut this_pass = 0;
            let mut failed = None;
            if let Some(backend) = self.backend.as_mut() {
                while received < budget {
                    match backend.recv() {
                        Ok(msg) => {
                            received += 1;
                            this_pass += 1;
                            self.events.push_back(EngineEvent::Message(msg));
                        }
                        Err(zmq::Error::EINTR) => {}
                        Err(zmq::Error::EAGAIN) => break,
                        // REQ and REP refuse a second receive before the matching send;
                        // ZMQ_EVENTS clears POLLIN then, so this only ends a batch and cannot
                        // spin.
                        Err(zmq::Error::EFSM) if this_pass > 0 => break,
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
            }
            if let Some(e) = failed {
                self.fatal(e);
                return Step::Closed;
            }
            if received >= budget {
                return Step::Again;
            }
        }
    }

    // ----- user commands -----

    /// Writes a message: tries to send it at once when the queue is empty, otherwise (or on
    /// `EAGAIN`) queues it whole. An empty message is a no-op. A per-message error
    /// (`EHOSTUNREACH` on a ROUTER or STREAM, see the [module docs](self)) is returned, nothing
    /// is queued and the transport stays open. Any other send error is fatal: it is returned
    /// and the transport is lost with it.
    ///
    /// On success, [`Written`] says whether the message was queued and whether the driver
    /// must be woken (`ZMQ_FD` rule 6, argued in [`Written`]'s docs).
    pub fn write(&mut self, msg: Multipart) -> Result<Written> {
        if self.lifecycle != Lifecycle::Open {
            return Err(Error::Closed);
        }
        if msg.is_empty() {
            return Ok(Written {
                queued: false,
                wake_driver: false,
            });
        }
        let touched_socket = self.queue.is_empty();
        if touched_socket {
            match self.send_frames(&msg, 0) {
                Ok(()) => {
                    return Ok(Written {
                        queued: false,
                        wake_driver: socket_receives(self.socket_type),
                    })
                }
                Err((sent, zmq::Error::EAGAIN)) => {
                    self.head_sent = sent;
                }
                Err((sent, e)) if self.is_per_message(e, sent) => return Err(Error::Zmq(e)),
                Err((_, e)) => {
                    self.fatal(e);
                    return Err(Error::Zmq(e));
                }
            }
        }
        let (bytes, weight) = bytes_and_weight(&msg);
        self.queued_bytes += bytes;
        self.queued_weight += weight;
        self.queue.push_back(msg);
        self.maybe_pause();
        Ok(Written {
            queued: true,
            wake_driver: touched_socket,
        })
    }

    /// Sets the write watermarks (see [`buffer_limits`]) and applies them to the queue at
    /// once.
    ///
    /// Raising either watermark may satisfy a waiter without the queue changing (a `drain()`
    /// waits for the low one, a `Sink` for the high one), so a raise sets the
    /// [progress](Self::take_progress) flag: any change a waiter waits for wakes it.
    pub fn set_write_limits(&mut self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        let (low, high) = buffer_limits(high, low)?;
        if low > self.low || high > self.high {
            self.progress = true;
        }
        self.low = low;
        self.high = high;
        // Once closed, `ConnectionLost` is the last event: nothing may follow it.
        if self.lifecycle != Lifecycle::Closed {
            self.maybe_pause();
            self.maybe_resume();
        }
        Ok(())
    }

    /// Starts a graceful close that keeps trying to flush for ever (LINGER `-1`): see
    /// [`close_with_linger`](Self::close_with_linger). Idempotent.
    pub fn close(&mut self) {
        self.close_with(None, false);
    }

    /// Like [`close`](Self::close), but messages already received and not yet polled stay
    /// queued and are polled before `ConnectionLost`: they have left the socket, so for a
    /// reader that drains a buffer (a stream) they count as received. Idempotent.
    pub fn close_keeping_received(&mut self) {
        self.close_with(None, true);
    }

    /// Starts a graceful close: reading stops at once (queued, undelivered messages are
    /// dropped), the write queue is flushed, then `ConnectionLost(None)`. Idempotent (a
    /// second call changes nothing, its `linger` included).
    ///
    /// `linger` bounds the flush as libzmq's `ZMQ_LINGER` bounds its own: `None` keeps
    /// trying for ever; `Some(Duration::ZERO)` drops what is queued and finishes at once;
    /// `Some(d)` lets the driver flush for at most `d` (see
    /// [`linger_timeout`](Self::linger_timeout)), then drops the rest. Dropped messages are
    /// counted in [`dropped_on_close`](Self::dropped_on_close); `ConnectionLost(None)` either
    /// way.
    pub fn close_with_linger(&mut self, linger: Option<Duration>) {
        self.close_with(linger, false);
    }

    /// The general close: [`close_with_linger`](Self::close_with_linger)'s `linger`, and
    /// whether messages already received stay queued for polling
    /// ([`close_keeping_received`](Self::close_keeping_received)). Idempotent.
    pub fn close_with(&mut self, linger: Option<Duration>, keep_received: bool) {
        if self.lifecycle != Lifecycle::Open {
            return;
        }
        self.lifecycle = Lifecycle::Closing;
        self.progress = true;
        if !keep_received {
            self.events
                .retain(|e| !matches!(e, EngineEvent::Message(_)));
            self.discards_messages = true;
        }
        self.linger = linger;
        if self.queue.is_empty() || linger == Some(Duration::ZERO) {
            self.handle_linger_expired();
        }
    }

    /// The close's LINGER expired: drops what is still queued (counted in
    /// [`dropped_on_close`](Self::dropped_on_close)), then `ConnectionLost(None)`. No
    /// `ResumeWriting` for the dropped queue, as with `abort`. Does nothing unless closing.
    pub fn handle_linger_expired(&mut self) {
        if self.lifecycle != Lifecycle::Closing {
            return;
        }
        self.dropped_on_close += self.queue.len() as u64;
        crate::types::trace::dropped_on_close(
            self.socket_type,
            self.queue.len(),
            self.dropped_on_close,
        );
        self.finish(None);
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
        self.discards_messages = true;
        self.finish(error);
    }

    /// Sets or clears the read-side backpressure pause (a stream's full read buffer). It is
    /// independent of [`pause_reading`](Self::pause_reading): the socket is read only while
    /// neither pause is set, so a user's `resume_reading` never lifts backpressure and
    /// backpressure ending never lifts a user's pause. Never an error; after close it only
    /// records the flag.
    pub fn set_read_backpressure(&mut self, on: bool) {
        self.read_backpressure = on;
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
        self.lifecycle == Lifecycle::Open && !self.reading_paused && !self.read_backpressure
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

    /// Sends frames `from..` of `msg`; on error returns how many frames in total were sent.
    fn send_frames(
        &mut self,
        msg: &Multipart,
        from: usize,
    ) -> std::result::Result<(), (usize, zmq::Error)> {
        let Some(backend) = self.backend.as_mut() else {
            return Err((from, zmq::Error::ENOTSOCK));
        };
        if let (0, [frame]) = (from, &msg[..]) {
            // The common one-frame message, without the iterator.
            return retry(|| backend.send_frame(frame, false)).map_err(|e| (0, e));
        }
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
                    let (bytes, weight) = bytes_and_weight(&head);
                    self.queued_bytes -= bytes;
                    self.queued_weight -= weight;
                    self.progress = true;
                    self.maybe_resume();
                }
                Err((sent, zmq::Error::EAGAIN)) => {
                    self.head_sent = sent;
                    self.queue.push_front(head);
                    return sent_any || sent > from;
                }
                Err((sent, e)) if self.is_per_message(e, sent) => {
                    // Refused for its destination only: drop it, count it, go on.
                    self.head_sent = 0;
                    let (bytes, weight) = bytes_and_weight(&head);
                    self.queued_bytes -= bytes;
                    self.queued_weight -= weight;
                    self.note_unroutable(head.first());
                    self.progress = true;
                    self.maybe_resume();
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

    /// Whether a send error at frame `frame` of a message is about that message only (see
    /// the [module docs](self)): `EHOSTUNREACH` on a socket that routes by id, before any
    /// frame of the message was accepted.
    fn is_per_message(&self, error: zmq::Error, frame: usize) -> bool {
        error == zmq::Error::EHOSTUNREACH
            && frame == 0
            && matches!(self.socket_type, zmq::ROUTER | zmq::STREAM)
    }

    fn maybe_pause(&mut self) {
        if !self.writing_paused && self.queued_weight > self.high {
            self.writing_paused = true;
            self.events.push_back(EngineEvent::PauseWriting);
        }
    }

    fn maybe_resume(&mut self) {
        if self.writing_paused && self.queued_weight <= self.low {
            self.writing_paused = false;
            self.events.push_back(EngineEvent::ResumeWriting);
        }
    }

    fn drop_queue(&mut self) {
        self.queue.clear();
        self.queued_bytes = 0;
        self.queued_weight = 0;
        self.head_sent = 0;
    }

    fn finish(&mut self, error: Option<Error>) {
        self.drop_queue();
        self.linger = None;
        self.lifecycle = Lifecycle::Closed;
        self.progress = true;
        self.lost_error = error.clone();
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
            .field("queued_weight", &self.queued_weight)
            .field("limits", &(self.low, self.high))
            .field("writing_paused", &self.writing_paused)
            .field("reading_paused", &self.reading_paused)
            .field("read_backpressure", &self.read_backpressure)
            .field("dropped_unroutable", &self.dropped_unroutable)
            .field("dropped_on_close", &self.dropped_on_close)
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
