//! Engine operation sequences: the operations, a reference model of the engine's observable
//! state, and the harness that applies the operations to an [`Engine`] over a
//! [`FakeBackend`] and checks it against the model and a set of invariants after every step.
//!
//! The model predicts everything observable: each call's result, every event in order, the
//! write queue, watermarks and paused flags, the sets, the lifecycle, and what reaches the
//! fake backend (including which scripted results each backend call consumes). The harness
//! also checks invariants that do not rely on the model, from what it saw going in and out:
//!
//! - the queued bytes are the sum of the queued messages, and the queue is exactly the
//!   accepted writes the backend has not taken (or the engine dropped as unroutable) yet;
//! - the backend receives the accepted writes in FIFO order, each multipart whole and once
//!   (compared by frame identity, not just content), skipping only as many as the engine
//!   counted in `dropped_unroutable`;
//! - `PauseWriting` and `ResumeWriting` strictly alternate, starting with a pause, and the
//!   paused flag agrees with the watermarks (never above high unpaused, never at or below low
//!   paused);
//! - no `Message` is delivered after `close`/`abort`, and delivered messages are a prefix of
//!   what arrived, in order;
//! - `ConnectionLost` comes exactly once and last; nothing reaches the backend once closed;
//! - `Step::Idle` is only returned with nothing left to send or receive, `Step::Blocked`
//!   only when nothing is left to receive and the socket just refused the head of the
//!   queue despite `POLLOUT`, `Step::Again` only once the budget is spent, `Step::Closed`
//!   only when closed;
//! - no call panics.

use std::cell::Cell;
use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;

use crate::engine::fake::{Call, FakeBackend};
use crate::engine::{
    message_weight, socket_receives, Engine, EngineEvent, Lifecycle, Step, Written,
    DEFAULT_HIGH_WATER,
};
use crate::monitor::{MonitorEvent, SocketEvent};
use crate::{Error, Multipart, Result};

/// Most frames in one written message.
pub const MAX_FRAMES: usize = 64;
/// Largest frame written, in bytes (1 MiB).
pub const MAX_FRAME_LEN: usize = 1 << 20;
/// Most operations applied from one input (the rest is ignored).
pub const MAX_OPS: usize = 256;

/// Endpoints for bind and connect: `(endpoint, syntax, connect)`. `syntax`: whether every
/// endpoint call accepts it (an interior NUL or a tcp port libzmq would misread is
/// `EINVAL`); `connect`: whether connect's own check accepts it (a host name or `*` is
/// `InvalidArgument`).
pub const ENDPOINTS: [(&str, bool, bool); 10] = [
    ("tcp://127.0.0.1:*", true, true),
    ("tcp://127.0.0.1:5555", true, true),
    ("tcp://[::1]:5556", true, true),
    ("inproc://model", true, true),
    ("ipc:///tmp/zmqio-model", true, true),
    ("", true, true),
    ("tcp://localhost:5557", true, false),
    ("tcp://*:5558", true, false),
    ("inproc://nul\0byte", false, false),
    ("tcp://127.0.0.1:99999", false, false),
];

/// Subscription values.
pub const TOPICS: [&[u8]; 5] = [b"", b"a", b"ab", b"\0\xff", b"a/longer/topic/name"];

/// The endpoint of the monitor events pushed by [`Op::SocketEvent`].
const EVENT_ENDPOINT: &str = "tcp://127.0.0.1:5555";

/// The socket type an engine is created with (only SUB changes the engine's behaviour).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    /// `ZMQ_PUSH`
    Push,
    /// `ZMQ_DEALER`
    Dealer,
    /// `ZMQ_ROUTER`
    Router,
    /// `ZMQ_PAIR`
    Pair,
    /// `ZMQ_PUB`
    Pub,
    /// `ZMQ_SUB`
    Sub,
}

impl SocketKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 6] = [
        Self::Push,
        Self::Dealer,
        Self::Router,
        Self::Pair,
        Self::Pub,
        Self::Sub,
    ];

    /// The libzmq socket type.
    pub fn socket_type(self) -> zmq::SocketType {
        match self {
            Self::Push => zmq::PUSH,
            Self::Dealer => zmq::DEALER,
            Self::Router => zmq::ROUTER,
            Self::Pair => zmq::PAIR,
            Self::Pub => zmq::PUB,
            Self::Sub => zmq::SUB,
        }
    }
}

/// The frame lengths of one written message (at most [`MAX_FRAMES`], each at most
/// [`MAX_FRAME_LEN`]; longer lists and lengths are cut when the message is built).
///
/// As fuzz input: a count byte (`% 65`), then one little-endian `u32` per frame whose top
/// three bits pick a size class (0-4: up to 16 bytes, 5-6: up to 4 KiB, 7: up to 1 MiB)
/// and whose other bits, modulo the class's size, are the length.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Frames(pub Vec<u32>);

impl Frames {
    /// The lengths, cut to the limits.
    pub fn lens(&self) -> impl Iterator<Item = usize> + '_ {
        self.0
            .iter()
            .take(MAX_FRAMES)
            .map(|&len| (len as usize).min(MAX_FRAME_LEN))
    }

    /// The fuzz-input encoding of one length (see the type docs).
    pub(super) fn encode_len(len: u32) -> u32 {
        let len = len.min(MAX_FRAME_LEN as u32);
        if len <= 16 {
            len
        } else if len <= 4096 {
            (5 << 29) | len
        } else {
            (7 << 29) | len
        }
    }
}

impl fmt::Debug for Frames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Frames(")?;
        f.debug_list().entries(&self.0).finish()?;
        write!(f, ")")
    }
}

impl<'a> Arbitrary<'a> for Frames {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let count = usize::from(u8::arbitrary(u)?) % (MAX_FRAMES + 1);
        let mut lens = Vec::with_capacity(count);
        for _ in 0..count {
            let raw = u32::arbitrary(u)?;
            let value = raw & ((1 << 29) - 1);
            let len = match raw >> 29 {
                0..=4 => value % 17,
                5 | 6 => value % 4097,
                _ => value % (MAX_FRAME_LEN as u32 + 1),
            };
            lens.push(len);
        }
        Ok(Self(lens))
    }
}

/// A call of the fake backend that can be scripted (mirrors [`Call`]).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptCall {
    /// `events` (`ZMQ_EVENTS`)
    Events,
    /// `send_frame`
    Send,
    /// `recv`
    Recv,
    /// `bind`
    Bind,
    /// `unbind`
    Unbind,
    /// `connect`
    Connect,
    /// `disconnect`
    Disconnect,
    /// `set_subscription`
    Subscription,
}

impl ScriptCall {
    /// Every call, in declaration order.
    pub const ALL: [Self; 8] = [
        Self::Events,
        Self::Send,
        Self::Recv,
        Self::Bind,
        Self::Unbind,
        Self::Connect,
        Self::Disconnect,
        Self::Subscription,
    ];

    /// The fake's call.
    pub fn call(self) -> Call {
        match self {
            Self::Events => Call::Events,
            Self::Send => Call::Send,
            Self::Recv => Call::Recv,
            Self::Bind => Call::Bind,
            Self::Unbind => Call::Unbind,
            Self::Connect => Call::Connect,
            Self::Disconnect => Call::Disconnect,
            Self::Subscription => Call::Subscription,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// An errno a scripted call fails with.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Errno {
    /// `EAGAIN`: not now.
    Again,
    /// `EINTR`: interrupted, retried by the engine.
    Intr,
    /// `EFSM`: wrong state (REQ/REP); ends a receive batch after a message.
    Fsm,
    /// `ETERM`: the context was terminated.
    Term,
    /// `ENOTSOCK`
    NotSock,
    /// `EHOSTUNREACH`
    HostUnreach,
    /// `EINVAL`
    Inval,
    /// `EADDRINUSE`
    AddrInUse,
    /// `ENOENT`
    NoEnt,
    /// `EMTHREAD`
    MThread,
}

impl Errno {
    /// The libzmq error.
    pub fn error(self) -> zmq::Error {
        match self {
            Self::Again => zmq::Error::EAGAIN,
            Self::Intr => zmq::Error::EINTR,
            Self::Fsm => zmq::Error::EFSM,
            Self::Term => zmq::Error::ETERM,
            Self::NotSock => zmq::Error::ENOTSOCK,
            Self::HostUnreach => zmq::Error::EHOSTUNREACH,
            Self::Inval => zmq::Error::EINVAL,
            Self::AddrInUse => zmq::Error::EADDRINUSE,
            Self::NoEnt => zmq::Error::ENOENT,
            Self::MThread => zmq::Error::EMTHREAD,
        }
    }
}

/// A scripted result for the next unscripted call of some kind.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scripted {
    /// Behave as the fake's flags say.
    Pass,
    /// Fail with this errno.
    Fail(Errno),
}

impl Scripted {
    fn result(self) -> zmq::Result<()> {
        match self {
            Self::Pass => Ok(()),
            Self::Fail(e) => Err(e.error()),
        }
    }
}

/// A watermark value given to `set_write_limits`.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// 0 to 255 bytes.
    Small(u8),
    /// Up to 64 KiB.
    Medium(u16),
    /// Up to 4 GiB.
    Large(u32),
    /// `usize::MAX`.
    Max,
}

impl Limit {
    /// The value in bytes.
    pub fn value(self) -> usize {
        match self {
            Self::Small(v) => v.into(),
            Self::Medium(v) => v.into(),
            Self::Large(v) => v as usize,
            Self::Max => usize::MAX,
        }
    }
}

/// An endpoint for unbind or disconnect.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `ENDPOINTS[i % len]`.
    Fixed(u8),
    /// The i-th (modulo) endpoint currently bound (for unbind) or connected (for
    /// disconnect); `ENDPOINTS[i % len]` when there is none.
    Known(u8),
}

/// One step applied to the engine (or to its fake backend).
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `write` a message with these frame lengths (no frames: an empty message).
    Write(Frames),
    /// `FakeBackend::set_writable`: whether unscripted sends succeed and `POLLOUT` is set.
    SetWritable(bool),
    /// `FakeBackend::script`: the result of the next unscripted call of this kind.
    Script(ScriptCall, Scripted),
    /// `FakeBackend::clear_scripts`.
    ClearScripts,
    /// `FakeBackend::push_incoming` of one message of `1 + n % 3` frames.
    Incoming(u8),
    /// Readiness: optionally set `writable` (`POLLOUT`), push `incoming % 4` messages
    /// (`POLLIN`), then `handle_readiness(budget)`.
    Readiness {
        /// New writable flag, if any.
        writable: Option<bool>,
        /// Messages to push first (`% 4`).
        incoming: u8,
        /// The receive budget.
        budget: u8,
    },
    /// `set_write_limits(high, low)`, valid or not.
    SetWriteLimits {
        /// High watermark, if given.
        high: Option<Limit>,
        /// Low watermark, if given.
        low: Option<Limit>,
    },
    /// `pause_reading`.
    PauseReading,
    /// `resume_reading`.
    ResumeReading,
    /// `subscribe(TOPICS[i % len])`.
    Subscribe(u8),
    /// `unsubscribe(TOPICS[i % len])`.
    Unsubscribe(u8),
    /// `note_subscription(TOPICS[i % len], on)`.
    NoteSubscription(u8, bool),
    /// `bind(ENDPOINTS[i % len])`.
    Bind(u8),
    /// `unbind`.
    Unbind(Target),
    /// `connect(ENDPOINTS[i % len])`.
    Connect(u8),
    /// `disconnect`.
    Disconnect(Target),
    /// `push_socket_event` with this event code and value.
    SocketEvent {
        /// `ZMQ_EVENT_*` code (any `u16`).
        code: u16,
        /// The event's value.
        value: u32,
    },
    /// `poll_event` up to `n` times (`0`: until `None`).
    Poll(u8),
    /// `take_progress`.
    TakeProgress,
    /// `close`.
    Close,
    /// `abort`.
    Abort,
    /// `fatal(errno)`.
    Fatal(Errno),
    /// `take_backend` (only gives the backend once closed).
    TakeBackend,
    /// `set_read_backpressure(on)`: the read-side pause of a stream, independent of
    /// `pause_reading`.
    SetReadBackpressure(bool),
    /// `close_keeping_received`: a close whose received, unpolled messages stay queued.
    CloseKeepingReceived,
    /// `take_pause_writing` (the pause the shell delivers inside `write`).
    TakePauseWriting,
    /// `close_with_linger(Some(n ms))` (`0`: drop the queue at once).
    CloseWithLinger(u8),
    /// `handle_linger_expired`.
    LingerExpired,
}

/// One fuzz input of the `engine_ops` target: a socket kind and the operations.
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub struct EngineCase {
    /// The engine's socket type.
    pub socket: SocketKind,
    /// The operations, applied in order (at most [`MAX_OPS`]).
    pub ops: Vec<Op>,
}

/// What an operation returned (compared between the engine and the model).
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Nothing (a command returning `()`, or a fake-only operation).
    Nothing,
    /// A `Result<()>`.
    Unit(Result<()>),
    /// `write`'s result.
    Written(Result<Written>),
    /// An endpoint call's `Result<String>`.
    Endpoint(Result<String>),
    /// `handle_readiness`.
    Step(Step),
    /// The events polled.
    Events(Vec<EngineEvent>),
    /// `take_progress`, or whether `take_backend` gave the backend.
    Flag(bool),
}

impl Outcome {
    /// Whether the two outcomes agree: errors compare by kind (and errno for libzmq errors),
    /// not by message text.
    pub fn agrees_with(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Nothing, Self::Nothing) => true,
            (Self::Unit(a), Self::Unit(b)) => same_result(a, b),
            (Self::Written(a), Self::Written(b)) => same_result(a, b),
            (Self::Endpoint(a), Self::Endpoint(b)) => same_result(a, b),
            (Self::Step(a), Self::Step(b)) => a == b,
            (Self::Events(a), Self::Events(b)) => a == b,
            (Self::Flag(a), Self::Flag(b)) => a == b,
            _ => false,
        }
    }
}

fn same_result<T: PartialEq>(a: &Result<T>, b: &Result<T>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => a == b,
        (Err(Error::Zmq(a)), Err(Error::Zmq(b))) => a == b,
        (Err(a), Err(b)) => std::mem::discriminant(a) == std::mem::discriminant(b),
        _ => false,
    }
}

/// The bytes that written frames are cut from: frames are slices of this one buffer, so
/// a 1 MiB frame costs no allocation, and a frame's identity (pointer and length) tells
/// which write it came from.
fn pattern() -> &'static Bytes {
    static PATTERN: OnceLock<Bytes> = OnceLock::new();
    PATTERN.get_or_init(|| {
        let mut state = 0x2545_f491_u32;
        let data: Vec<u8> = (0..MAX_FRAME_LEN + 65536)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state.to_le_bytes()[0]
            })
            .collect();
        Bytes::from(data)
    })
}

/// The message of the `seq`-th write: each frame a slice of [`pattern`] at an offset
/// derived from `seq` and the frame's index.
fn written_message(frames: &Frames, seq: u64) -> Multipart {
    let pattern = pattern();
    frames
        .lens()
        .enumerate()
        .map(|(i, len)| {
            let offset = (seq.wrapping_mul(4099).wrapping_add(i as u64 * 31) % 65536) as usize;
            pattern.slice(offset..offset + len)
        })
        .collect()
}

/// The `seq`-th incoming message, of `1 + n % 3` small frames.
fn incoming_message(n: u8, seq: u64) -> Multipart {
    let mut msg = Multipart::new();
    msg.push(format!("in-{seq}"));
    for part in 1..=n % 3 {
        msg.push(format!("part-{part}"));
    }
    msg
}

fn topic(i: u8) -> &'static [u8] {
    TOPICS[usize::from(i) % TOPICS.len()]
}

fn fixed_endpoint(i: u8) -> (&'static str, bool, bool) {
    ENDPOINTS[usize::from(i) % ENDPOINTS.len()]
}

/// Whether every endpoint call accepts `endpoint` (see [`ENDPOINTS`]); the endpoints the
/// engine recorded (bound, connected) always do.
fn syntax_ok(endpoint: &str) -> bool {
    ENDPOINTS
        .iter()
        .find(|(e, _, _)| *e == endpoint)
        .map_or(true, |&(_, syntax, _)| syntax)
}

fn known_endpoint(set: &BTreeSet<String>, target: Target) -> String {
    match target {
        Target::Fixed(i) => fixed_endpoint(i).0.to_owned(),
        Target::Known(i) if set.is_empty() => fixed_endpoint(i).0.to_owned(),
        Target::Known(i) => set
            .iter()
            .nth(usize::from(i) % set.len())
            .cloned()
            .unwrap_or_default(),
    }
}

fn socket_event(code: u16, value: u32) -> SocketEvent {
    SocketEvent {
        event: MonitorEvent::from_code(code),
        value,
        endpoint: EVENT_ENDPOINT.to_owned(),
    }
}

// ----- the reference model -----

/// How far sending a message's frames got.
enum Sent {
    /// Every frame was accepted.
    All,
    /// `EAGAIN` at this frame (the number of frames accepted).
    Blocked(usize),
    /// Another error, at this frame (the number of frames accepted).
    Failed(usize, zmq::Error),
}

/// The model of the fake backend: the environment, with the same rules as
/// [`FakeBackend`].
#[derive(Clone)]
struct FakeModel {
    writable: bool,
    inbox: VecDeque<Multipart>,
    partial: usize,
    sent: Vec<Multipart>,
    scripts: [VecDeque<Scripted>; 8],
    calls: [usize; 8],
    bound: BTreeSet<String>,
    connected: BTreeSet<String>,
    subscription_calls: usize,
    next_port: u16,
    partial_frames: Vec<Bytes>,
}

impl FakeModel {
    fn new() -> Self {
        Self {
            writable: true,
            inbox: VecDeque::new(),
            partial: 0,
            sent: Vec::new(),
            scripts: Default::default(),
            calls: [0; 8],
            bound: BTreeSet::new(),
            connected: BTreeSet::new(),
            subscription_calls: 0,
            next_port: 40000,
            partial_frames: Vec::new(),
        }
    }

    fn step(&mut self, call: ScriptCall) -> zmq::Result<()> {
        self.calls[call.index()] += 1;
        self.scripts[call.index()]
            .pop_front()
            .map_or(Ok(()), Scripted::result)
    }

    /// `(POLLIN, POLLOUT)`.
    fn events(&mut self) -> zmq::Result<(bool, bool)> {
        self.step(ScriptCall::Events)?;
        Ok((!self.inbox.is_empty(), self.writable))
    }

    fn send(&mut self, frame: &Bytes, more: bool) -> zmq::Result<()> {
        self.step(ScriptCall::Send)?;
        if !self.writable && self.partial == 0 {
            return Err(zmq::Error::EAGAIN);
        }
        self.partial_frames.push(frame.clone());
        self.partial += 1;
        if !more {
            self.sent.push(
                std::mem::take(&mut self.partial_frames)
                    .into_iter()
                    .collect(),
            );
            self.partial = 0;
        }
        Ok(())
    }

    fn recv(&mut self) -> zmq::Result<Multipart> {
        self.step(ScriptCall::Recv)?;
        self.inbox.pop_front().ok_or(zmq::Error::EAGAIN)
    }

    fn bind(&mut self, endpoint: &str) -> zmq::Result<String> {
        self.step(ScriptCall::Bind)?;
        let resolved = match endpoint.strip_suffix(":*") {
            Some(base) => {
                self.next_port += 1;
                format!("{base}:{}", self.next_port)
            }
            None => endpoint.to_owned(),
        };
        if self.bound.insert(resolved.clone()) {
            Ok(resolved)
        } else {
            Err(zmq::Error::EADDRINUSE)
        }
    }

    fn unbind(&mut self, endpoint: &str) -> zmq::Result<()> {
        self.step(ScriptCall::Unbind)?;
        if self.bound.remove(endpoint) {
            Ok(())
        } else {
            Err(zmq::Error::ENOENT)
        }
    }

    fn connect(&mut self, endpoint: &str) -> zmq::Result<()> {
        self.step(ScriptCall::Connect)?;
        self.connected.insert(endpoint.to_owned());
        Ok(())
    }

    fn disconnect(&mut self, endpoint: &str) -> zmq::Result<()> {
        self.step(ScriptCall::Disconnect)?;
        if self.connected.remove(endpoint) {
            Ok(())
        } else {
            Err(zmq::Error::ENOENT)
        }
    }

    fn set_subscription(&mut self) -> zmq::Result<()> {
        self.step(ScriptCall::Subscription)?;
        self.subscription_calls += 1;
        Ok(())
    }
}

/// The model's weight of a message: its bytes, plus 32 for each frame.
fn weight(msg: &Multipart) -> usize {
    msg.iter().map(|frame| frame.len() + 32).sum()
}

/// Calls `f` again while it fails with `EINTR`, as the engine promises.
fn retry<T>(
    fake: &mut FakeModel,
    mut f: impl FnMut(&mut FakeModel) -> zmq::Result<T>,
) -> zmq::Result<T> {
    loop {
        match f(fake) {
            Err(zmq::Error::EINTR) => continue,
            other => return other,
        }
    }
}

/// The reference model: what the engine's observable state and outputs must be.
///
/// [`apply`](Self::apply) predicts the effect of an [`Op`] and stores what it returns in
/// [`outcome`](Self::outcome). It follows the engine's documented rules, written for
/// clarity rather than speed, with the fake backend's rules as the environment.
#[derive(Clone)]
pub struct Model {
    socket: SocketKind,
    lifecycle: Lifecycle,
    queue: VecDeque<Multipart>,
    queued_bytes: usize,
    /// Bytes plus 32 per frame of every queued message: what the watermarks bound.
    queued_weight: usize,
    /// Frames of the queue's head already accepted by the backend.
    head_sent: usize,
    low: usize,
    high: usize,
    writing_paused: bool,
    reading_paused: bool,
    read_backpressure: bool,
    subscriptions: BTreeSet<Bytes>,
    bindings: BTreeSet<String>,
    connections: BTreeSet<String>,
    events: VecDeque<EngineEvent>,
    lost_error: Option<Error>,
    /// Whether a close or abort dropped the undelivered messages (`discards_messages`).
    discards_messages: bool,
    progress: bool,
    dropped_unroutable: u64,
    /// The LINGER of a close in progress.
    linger: Option<Duration>,
    dropped_on_close: u64,
    backend_taken: bool,
    fake: FakeModel,
    writes: u64,
    arrivals: u64,
    /// What the last operation returned.
    pub outcome: Outcome,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("socket", &self.socket)
            .field("lifecycle", &self.lifecycle)
            .field("queued_messages", &self.queue.len())
            .field("queued_bytes", &self.queued_bytes)
            .field("queued_weight", &self.queued_weight)
            .field("head_sent", &self.head_sent)
            .field("limits", &(self.low, self.high))
            .field("writing_paused", &self.writing_paused)
            .field("reading_paused", &self.reading_paused)
            .field("read_backpressure", &self.read_backpressure)
            .field("pending_events", &self.events.len())
            .field("sent", &self.fake.sent.len())
            .field("inbox", &self.fake.inbox.len())
            .field("writable", &self.fake.writable)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// A fresh engine over a fresh fake (writable, empty inbox, nothing scripted).
    pub fn new(socket: SocketKind) -> Self {
        Self {
            socket,
            lifecycle: Lifecycle::Open,
            queue: VecDeque::new(),
            queued_bytes: 0,
            queued_weight: 0,
            head_sent: 0,
            low: DEFAULT_HIGH_WATER / 4,
            high: DEFAULT_HIGH_WATER,
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
            backend_taken: false,
            fake: FakeModel::new(),
            writes: 0,
            arrivals: 0,
            outcome: Outcome::Nothing,
        }
    }

    /// The socket kind.
    pub fn socket(&self) -> SocketKind {
        self.socket
    }

    /// The predicted lifecycle.
    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    /// Whether the reading is paused (by the user).
    pub fn is_reading_paused(&self) -> bool {
        self.reading_paused
    }

    /// Whether the reading is paused by read-side backpressure.
    pub fn is_read_backpressured(&self) -> bool {
        self.read_backpressure
    }

    /// The predicted queued bytes.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// The predicted weight of the queue.
    pub fn queued_weight(&self) -> usize {
        self.queued_weight
    }

    /// The predicted `(low, high)` watermarks.
    pub fn write_limits(&self) -> (usize, usize) {
        (self.low, self.high)
    }

    /// Applies `op`, storing its result in [`outcome`](Self::outcome).
    pub fn apply(&mut self, op: &Op) {
        self.outcome = match *op {
            Op::Write(ref frames) => {
                let msg = written_message(frames, self.writes);
                self.writes += 1;
                Outcome::Written(self.write(msg))
            }
            Op::SetWritable(writable) => {
                if !self.backend_taken {
                    self.fake.writable = writable;
                }
                Outcome::Nothing
            }
            Op::Script(call, result) => {
                if !self.backend_taken {
                    self.fake.scripts[call.index()].push_back(result);
                }
                Outcome::Nothing
            }
            Op::ClearScripts => {
                if !self.backend_taken {
                    self.fake.scripts = Default::default();
                }
                Outcome::Nothing
            }
            Op::Incoming(n) => {
                self.arrive(n);
                Outcome::Nothing
            }
            Op::Readiness {
                writable,
                incoming,
                budget,
            } => {
                if let (Some(writable), false) = (writable, self.backend_taken) {
                    self.fake.writable = writable;
                }
                for _ in 0..incoming % 4 {
                    self.arrive(0);
                }
                Outcome::Step(self.readiness(budget.into()))
            }
            Op::SetWriteLimits { high, low } => {
                Outcome::Unit(self.set_write_limits(high.map(Limit::value), low.map(Limit::value)))
            }
            Op::PauseReading => Outcome::Unit(self.pause_reading()),
            Op::ResumeReading => Outcome::Unit(self.resume_reading()),
            Op::Subscribe(i) => Outcome::Unit(self.subscription(topic(i), true)),
            Op::Unsubscribe(i) => Outcome::Unit(self.subscription(topic(i), false)),
            Op::NoteSubscription(i, on) => {
                let value = Bytes::from_static(topic(i));
                if on {
                    self.subscriptions.insert(value);
                } else {
                    self.subscriptions.remove(&value);
                }
                Outcome::Nothing
            }
            Op::Bind(i) => Outcome::Endpoint(self.bind(fixed_endpoint(i).0)),
            Op::Unbind(target) => {
                let endpoint = known_endpoint(&self.bindings, target);
                Outcome::Unit(self.unbind(&endpoint))
            }
            Op::Connect(i) => {
                let (endpoint, _, accepted) = fixed_endpoint(i);
                Outcome::Endpoint(self.connect(endpoint, accepted))
            }
            Op::Disconnect(target) => {
                let endpoint = known_endpoint(&self.connections, target);
                Outcome::Unit(self.disconnect(&endpoint))
            }
            Op::SocketEvent { code, value } => {
                if self.lifecycle == Lifecycle::Open {
                    self.events
                        .push_back(EngineEvent::SocketEvent(socket_event(code, value)));
                }
                Outcome::Nothing
            }
            Op::Poll(n) => {
                let n = if n == 0 { usize::MAX } else { n.into() };
                let mut polled = Vec::new();
                while polled.len() < n {
                    match self.events.pop_front() {
                        Some(event) => polled.push(event),
                        None => break,
                    }
                }
                Outcome::Events(polled)
            }
            Op::TakeProgress => Outcome::Flag(std::mem::take(&mut self.progress)),
            Op::Close => {
                self.close();
                Outcome::Nothing
            }
            Op::Abort => {
                self.abort();
                Outcome::Nothing
            }
            Op::Fatal(errno) => {
                self.fail(errno.error());
                Outcome::Nothing
            }
            Op::TakeBackend => {
                let taken = self.lifecycle == Lifecycle::Closed && !self.backend_taken;
                self.backend_taken |= taken;
                Outcome::Flag(taken)
            }
            Op::SetReadBackpressure(on) => {
                self.read_backpressure = on;
                Outcome::Nothing
            }
            Op::CloseKeepingReceived => {
                self.close_with(None, true);
                Outcome::Nothing
            }
            Op::TakePauseWriting => {
                // The first pause, unless a resume is pending before it.
                let first = self.events.iter().position(|e| {
                    matches!(e, EngineEvent::PauseWriting | EngineEvent::ResumeWriting)
                });
                let taken = match first {
                    Some(i) if self.events[i] == EngineEvent::PauseWriting => {
                        self.events.remove(i);
                        true
                    }
                    _ => false,
                };
                Outcome::Flag(taken)
            }
            Op::CloseWithLinger(ms) => {
                self.close_with(Some(Duration::from_millis(ms.into())), false);
                Outcome::Nothing
            }
            Op::LingerExpired => {
                self.linger_expired();
                Outcome::Nothing
            }
        };
    }

    fn arrive(&mut self, n: u8) {
        let msg = incoming_message(n, self.arrivals);
        self.arrivals += 1;
        if !self.backend_taken {
            self.fake.inbox.push_back(msg);
        }
    }

    /// The backend, for a command that needs an open transport.
    fn open_fake(&mut self) -> Result<&mut FakeModel> {
        if self.lifecycle == Lifecycle::Open && !self.backend_taken {
            Ok(&mut self.fake)
        } else {
            Err(Error::Closed)
        }
    }

    fn write(&mut self, msg: Multipart) -> Result<Written> {
        if self.lifecycle != Lifecycle::Open {
            return Err(Error::Closed);
        }
        if msg.is_empty() {
            return Ok(Written {
                queued: false,
                wake_driver: false,
            });
        }
        // Only an empty queue lets a message go out at once; otherwise it waits its turn,
        // without a socket call, so the driver has nothing new to look at.
        let first = self.queue.is_empty();
        if first {
            match self.send_from(&msg, 0) {
                // Sent: the driver waits for no POLLOUT now, only for the POLLIN edge the
                // send may have taken, and a PUSH or PUB never receives.
                Sent::All => {
                    return Ok(Written {
                        queued: false,
                        wake_driver: socket_receives(self.socket.socket_type()),
                    })
                }
                Sent::Blocked(frames) => self.head_sent = frames,
                // Refused for its destination only: returned, nothing queued, still open.
                Sent::Failed(frame, e) if self.per_message(e, frame) => {
                    return Err(Error::Zmq(e));
                }
                Sent::Failed(_, e) => {
                    self.fail(e);
                    return Err(Error::Zmq(e));
                }
            }
        }
        self.queued_bytes += msg.byte_len();
        self.queued_weight += weight(&msg);
        self.queue.push_back(msg);
        self.pause_if_above_high();
        // The queue's first message: the driver must now wait for POLLOUT.
        Ok(Written {
            queued: true,
            wake_driver: first,
        })
    }

    fn send_from(&mut self, msg: &Multipart, from: usize) -> Sent {
        if self.backend_taken {
            return Sent::Failed(from, zmq::Error::ENOTSOCK);
        }
        for (i, frame) in msg.iter().enumerate().skip(from) {
            let more = i + 1 < msg.len();
            match retry(&mut self.fake, |fake| fake.send(frame, more)) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) => return Sent::Blocked(i),
                Err(e) => return Sent::Failed(i, e),
            }
        }
        Sent::All
    }

    fn readiness(&mut self, budget: usize) -> Step {
        let mut received = 0;
        // `POLLOUT` may not mean the head can go (ROUTER_MANDATORY): after a flush that
        // sent nothing, no more flushing in this call.
        let mut send_blocked = false;
        loop {
            match self.lifecycle {
                Lifecycle::Closed => return Step::Closed,
                Lifecycle::Closing if self.queue.is_empty() => {
                    self.finish(None);
                    return Step::Closed;
                }
                _ => {}
            }
            // ZMQ_EVENTS is read before every pass.
            let (pollin, pollout) = if self.backend_taken {
                (false, false)
            } else {
                match retry(&mut self.fake, FakeModel::events) {
                    Ok(events) => events,
                    Err(e) => {
                        self.fail(e);
                        return Step::Closed;
                    }
                }
            };
            if pollout && !self.queue.is_empty() && !send_blocked {
                send_blocked = !self.flush();
                continue;
            }
            let reading = self.lifecycle == Lifecycle::Open
                && !self.reading_paused
                && !self.read_backpressure;
            if !(pollin && reading) {
                // POLLOUT with a refused head: retry after a back-off, not only on the fd.
                if send_blocked && pollout && !self.queue.is_empty() {
                    return Step::Blocked;
                }
                return Step::Idle;
            }
            // One batch: receive until EAGAIN (or EFSM after a message), within the budget.
            let mut batch = 0;
            while received < budget {
                match retry(&mut self.fake, FakeModel::recv) {
                    Ok(msg) => {
                        received += 1;
                        batch += 1;
                        self.events.push_back(EngineEvent::Message(msg));
                    }
                    Err(zmq::Error::EAGAIN) => break,
                    Err(zmq::Error::EFSM) if batch > 0 => break,
                    Err(e) => {
                        self.fail(e);
                        return Step::Closed;
                    }
                }
            }
            if received >= budget {
                return Step::Again;
            }
        }
    }

    /// Sends from the queue until it is empty or the backend refuses; returns whether any
    /// frame went out.
    fn flush(&mut self) -> bool {
        let mut sent_any = false;
        while let Some(head) = self.queue.front().cloned() {
            let from = self.head_sent;
            match self.send_from(&head, from) {
                Sent::All => {
                    sent_any = true;
                    self.queue.pop_front();
                    self.queued_bytes -= head.byte_len();
                    self.queued_weight -= weight(&head);
                    self.head_sent = 0;
                    self.progress = true;
                    self.resume_if_at_or_below_low();
                }
                Sent::Blocked(frames) => {
                    self.head_sent = frames;
                    return sent_any || frames > from;
                }
                // Refused for its destination only: dropped, counted, the flush goes on.
                Sent::Failed(frame, e) if self.per_message(e, frame) => {
                    self.queue.pop_front();
                    self.queued_bytes -= head.byte_len();
                    self.queued_weight -= weight(&head);
                    self.head_sent = 0;
                    self.dropped_unroutable += 1;
                    self.progress = true;
                    self.resume_if_at_or_below_low();
                }
                Sent::Failed(_, e) => {
                    self.fail(e);
                    return sent_any;
                }
            }
        }
        sent_any
    }

    /// `EHOSTUNREACH` on a ROUTER, refused at a message's first frame, is about that message
    /// only.
    fn per_message(&self, error: zmq::Error, frame: usize) -> bool {
        error == zmq::Error::EHOSTUNREACH && frame == 0 && self.socket == SocketKind::Router
    }

    fn set_write_limits(&mut self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        // aiozmq's rules: high defaults to 64 KiB, or 4 * low when only low is given; low
        // defaults to high / 4; high must not be below low.
        let high = match (high, low) {
            (Some(high), _) => high,
            (None, Some(low)) => low.saturating_mul(4),
            (None, None) => DEFAULT_HIGH_WATER,
        };
        let low = low.unwrap_or(high / 4);
        if high < low {
            return Err(Error::invalid_argument("high < low"));
        }
        // A raised watermark may satisfy a `drain()` or a `Sink` waiting for it.
        if low > self.low || high > self.high {
            self.progress = true;
        }
        self.low = low;
        self.high = high;
        // Nothing is emitted once `ConnectionLost` is out.
        if self.lifecycle != Lifecycle::Closed {
            self.pause_if_above_high();
            self.resume_if_at_or_below_low();
        }
        Ok(())
    }

    fn pause_if_above_high(&mut self) {
        if !self.writing_paused && self.queued_weight > self.high {
            self.writing_paused = true;
            self.events.push_back(EngineEvent::PauseWriting);
        }
    }

    fn resume_if_at_or_below_low(&mut self) {
        if self.writing_paused && self.queued_weight <= self.low {
            self.writing_paused = false;
            self.events.push_back(EngineEvent::ResumeWriting);
        }
    }

    fn pause_reading(&mut self) -> Result<()> {
        if self.lifecycle != Lifecycle::Open || self.reading_paused {
            return Err(Error::invalid_state("cannot pause reading"));
        }
        self.reading_paused = true;
        Ok(())
    }

    fn resume_reading(&mut self) -> Result<()> {
        if self.lifecycle != Lifecycle::Open {
            return Ok(());
        }
        if !self.reading_paused {
            return Err(Error::invalid_state("reading is not paused"));
        }
        self.reading_paused = false;
        Ok(())
    }

    fn subscription(&mut self, value: &'static [u8], on: bool) -> Result<()> {
        if self.socket != SocketKind::Sub {
            return Err(Error::not_supported("not a SUB socket"));
        }
        // Closed first, whether or not the call would change the set.
        self.open_fake()?;
        if self.subscriptions.contains(value) == on {
            return Ok(());
        }
        retry(self.open_fake()?, FakeModel::set_subscription)?;
        if on {
            self.subscriptions.insert(Bytes::from_static(value));
        } else {
            self.subscriptions.remove(value);
        }
        Ok(())
    }

    fn bind(&mut self, endpoint: &str) -> Result<String> {
        if !syntax_ok(endpoint) {
            return Err(Error::Zmq(zmq::Error::EINVAL));
        }
        let resolved = retry(self.open_fake()?, |fake| fake.bind(endpoint))?;
        self.bindings.insert(resolved.clone());
        Ok(resolved)
    }

    fn unbind(&mut self, endpoint: &str) -> Result<()> {
        if !syntax_ok(endpoint) {
            return Err(Error::Zmq(zmq::Error::EINVAL));
        }
        retry(self.open_fake()?, |fake| fake.unbind(endpoint))?;
        self.bindings.remove(endpoint);
        Ok(())
    }

    fn connect(&mut self, endpoint: &str, accepted: bool) -> Result<String> {
        if !syntax_ok(endpoint) {
            return Err(Error::Zmq(zmq::Error::EINVAL));
        }
        if !accepted {
            return Err(Error::invalid_argument("not an ip address"));
        }
        retry(self.open_fake()?, |fake| fake.connect(endpoint))?;
        self.connections.insert(endpoint.to_owned());
        Ok(endpoint.to_owned())
    }

    fn disconnect(&mut self, endpoint: &str) -> Result<()> {
        if !syntax_ok(endpoint) {
            return Err(Error::Zmq(zmq::Error::EINVAL));
        }
        retry(self.open_fake()?, |fake| fake.disconnect(endpoint))?;
        self.connections.remove(endpoint);
        Ok(())
    }

    /// `close`: LINGER -1, keep flushing for ever.
    fn close(&mut self) {
        self.close_with(None, false);
    }

    /// `close_with(linger, keep_received)`: stops reading (with `keep_received`, received
    /// messages not yet polled stay queued, ahead of `ConnectionLost`); finishes at once with
    /// an empty queue, drops the queue with LINGER 0, otherwise remembers the LINGER for the
    /// driver.
    fn close_with(&mut self, linger: Option<Duration>, keep_received: bool) {
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
            self.linger_expired();
        }
    }

    /// The LINGER expired: while closing, count and drop the queue, then finish.
    fn linger_expired(&mut self) {
        if self.lifecycle != Lifecycle::Closing {
            return;
        }
        self.dropped_on_close += self.queue.len() as u64;
        self.finish(None);
    }

    /// A fatal libzmq error (`fatal`): the queue is dropped, but messages received before it
    /// are still delivered, before `ConnectionLost`.
    fn fail(&mut self, error: zmq::Error) {
        if self.lifecycle == Lifecycle::Closed {
            return;
        }
        self.finish(Some(Error::Zmq(error)));
    }

    /// `abort`: drop the queue and every undelivered event (messages, pause/resume, monitor
    /// events: nothing but `ConnectionLost` follows an abort), then finish.
    fn abort(&mut self) {
        if self.lifecycle == Lifecycle::Closed {
            return;
        }
        self.events.clear();
        self.discards_messages = true;
        self.finish(None);
    }

    fn finish(&mut self, error: Option<Error>) {
        self.linger = None;
        self.queue.clear();
        self.queued_bytes = 0;
        self.queued_weight = 0;
        self.head_sent = 0;
        self.lifecycle = Lifecycle::Closed;
        self.progress = true;
        self.lost_error = error.clone();
        self.events.push_back(EngineEvent::ConnectionLost(error));
    }
}

// ----- the system under test -----

/// The engine under test, its fake backend, and what the harness saw going in and out
/// (for the invariants that do not rely on the model).
pub struct Harness {
    engine: Engine<FakeBackend>,
    /// The backend once [`Op::TakeBackend`] took it.
    taken: Option<FakeBackend>,
    writes: u64,
    arrivals: u64,
    /// Every message `write` accepted, in order.
    accepted: Vec<Multipart>,
    /// Every message pushed into the fake's inbox, in order.
    arrived: Vec<Multipart>,
    /// Messages delivered through `poll_event`.
    delivered_messages: usize,
    /// Whether `PauseWriting` was the last of pause/resume delivered.
    pause_delivered: bool,
    /// `ConnectionLost` events delivered.
    lost_delivered: usize,
    /// The error of the delivered `ConnectionLost`.
    lost_error: Option<Option<Error>>,
    /// Set once `close` or `abort` was called before the transport was lost: no `Message`
    /// may be delivered after that. (After a fatal error, the messages received before it
    /// still are.)
    reading_over: bool,
    /// Set by `close_keeping_received` on an open transport: how many messages may be
    /// delivered in all (those delivered or received by then), none received later.
    deliverable: Option<usize>,
    /// Set once `abort` or `fatal` was called while not closed, or a fatal error happened:
    /// queued messages may then be dropped.
    dropped_queue: bool,
    /// The fake's writable flag, as last set.
    writable: bool,
    /// How many backend-sent messages were already compared with `accepted`.
    checked_sent: Cell<usize>,
    /// How many accepted writes the backend took or the engine dropped as unroutable.
    consumed: Cell<usize>,
    /// `dropped_unroutable` as last checked.
    dropped_seen: Cell<u64>,
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("engine", &self.engine)
            .field("accepted", &self.accepted.len())
            .field("arrived", &self.arrived.len())
            .field("delivered_messages", &self.delivered_messages)
            .field("lost_delivered", &self.lost_delivered)
            .finish_non_exhaustive()
    }
}

impl Harness {
    /// A fresh engine of `socket` kind over a fresh fake.
    pub fn new(socket: SocketKind) -> Self {
        Self {
            engine: Engine::new(FakeBackend::new(), socket.socket_type()),
            taken: None,
            writes: 0,
            arrivals: 0,
            accepted: Vec::new(),
            arrived: Vec::new(),
            delivered_messages: 0,
            pause_delivered: false,
            lost_delivered: 0,
            lost_error: None,
            reading_over: false,
            deliverable: None,
            dropped_queue: false,
            writable: true,
            checked_sent: Cell::new(0),
            consumed: Cell::new(0),
            dropped_seen: Cell::new(0),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine<FakeBackend> {
        &self.engine
    }

    fn fake(&self) -> &FakeBackend {
        match (self.engine.backend(), &self.taken) {
            (Some(fake), _) | (None, Some(fake)) => fake,
            // The engine only gives its backend away through `take_backend`, which the
            // harness keeps in `taken`.
            (None, None) => unreachable!("the backend is either in the engine or taken"),
        }
    }

    fn calls(&self) -> [usize; 8] {
        let fake = self.fake();
        ScriptCall::ALL.map(|call| fake.calls(call.call()))
    }

    /// Applies `op` to the engine, checks its result against `model` (which has already
    /// applied it), then checks every invariant.
    ///
    /// # Panics
    ///
    /// When the engine disagrees with the model or breaks an invariant.
    pub fn apply(&mut self, op: &Op, model: &Model) {
        let closed_before = self.engine.lifecycle() == Lifecycle::Closed;
        let calls_before = self.calls();
        let inbox_before = self.fake().inbox_len();
        let mut pushed = 0;

        let outcome = match *op {
            Op::Write(ref frames) => {
                let msg = written_message(frames, self.writes);
                self.writes += 1;
                let queued_before = self.engine.queued_messages();
                let result = self.engine.write(msg.clone());
                if result.is_ok() && !msg.is_empty() {
                    self.accepted.push(msg);
                }
                if matches!(result, Err(Error::Zmq(_)))
                    && self.engine.lifecycle() == Lifecycle::Closed
                {
                    self.dropped_queue = true;
                }
                if let Ok(written) = result {
                    assert_eq!(
                        written.queued,
                        self.engine.queued_messages() == queued_before + 1,
                        "Written::queued disagrees with the queue"
                    );
                }
                Outcome::Written(result)
            }
            Op::SetWritable(writable) => {
                self.set_writable(writable);
                Outcome::Nothing
            }
            Op::Script(call, result) => {
                if let Some(fake) = self.engine.backend_mut() {
                    fake.script(call.call(), result.result());
                }
                Outcome::Nothing
            }
            Op::ClearScripts => {
                if let Some(fake) = self.engine.backend_mut() {
                    fake.clear_scripts();
                }
                Outcome::Nothing
            }
            Op::Incoming(n) => {
                self.arrive(n);
                Outcome::Nothing
            }
            Op::Readiness {
                writable,
                incoming,
                budget,
            } => {
                if let Some(writable) = writable {
                    self.set_writable(writable);
                }
                for _ in 0..incoming % 4 {
                    pushed += usize::from(self.arrive(0));
                }
                let sends_before = self.fake().calls(Call::Send);
                let step = self.engine.handle_readiness(budget.into());
                let tried_to_send = self.fake().calls(Call::Send) > sends_before;
                self.check_step(step, budget.into(), inbox_before + pushed, tried_to_send);
                Outcome::Step(step)
            }
            Op::SetWriteLimits { high, low } => Outcome::Unit(
                self.engine
                    .set_write_limits(high.map(Limit::value), low.map(Limit::value)),
            ),
            Op::PauseReading => Outcome::Unit(self.engine.pause_reading()),
            Op::ResumeReading => Outcome::Unit(self.engine.resume_reading()),
            Op::Subscribe(i) => Outcome::Unit(self.engine.subscribe(topic(i))),
            Op::Unsubscribe(i) => Outcome::Unit(self.engine.unsubscribe(topic(i))),
            Op::NoteSubscription(i, on) => {
                self.engine.note_subscription(topic(i), on);
                Outcome::Nothing
            }
            Op::Bind(i) => Outcome::Endpoint(self.engine.bind(fixed_endpoint(i).0)),
            Op::Unbind(target) => {
                let endpoint = known_endpoint(self.engine.bindings(), target);
                Outcome::Unit(self.engine.unbind(&endpoint))
            }
            Op::Connect(i) => Outcome::Endpoint(self.engine.connect(fixed_endpoint(i).0)),
            Op::Disconnect(target) => {
                let endpoint = known_endpoint(self.engine.connections(), target);
                Outcome::Unit(self.engine.disconnect(&endpoint))
            }
            Op::SocketEvent { code, value } => {
                self.engine.push_socket_event(socket_event(code, value));
                Outcome::Nothing
            }
            Op::Poll(n) => {
                let mut polled = Vec::new();
                if n == 0 {
                    // Until `None`, the way the shell's dispatcher does it: runs of messages
                    // in one `take_messages`, every other event with `poll_event`.
                    let mut run = VecDeque::new();
                    loop {
                        if self.engine.take_messages(&mut run) > 0 {
                            assert!(
                                run.iter().all(|e| matches!(e, EngineEvent::Message(_))),
                                "take_messages gave another event than a message"
                            );
                            polled.extend(run.drain(..));
                            continue;
                        }
                        match self.engine.poll_event() {
                            Some(event) => polled.push(event),
                            None => break,
                        }
                    }
                }
                while polled.len() < usize::from(n) {
                    match self.engine.poll_event() {
                        Some(event) => polled.push(event),
                        None => break,
                    }
                }
                self.deliver(&polled);
                Outcome::Events(polled)
            }
            Op::TakeProgress => Outcome::Flag(self.engine.take_progress()),
            Op::Close => {
                // Only a close of an open transport stops the reading (one already lost
                // still delivers what it received before the error).
                self.reading_over |= self.engine.lifecycle() == Lifecycle::Open;
                self.engine.close();
                Outcome::Nothing
            }
            Op::Abort => {
                self.dropped_queue |= !closed_before;
                self.reading_over |= !closed_before;
                self.engine.abort();
                Outcome::Nothing
            }
            Op::Fatal(errno) => {
                self.dropped_queue |= !closed_before;
                self.engine.fatal(errno.error());
                Outcome::Nothing
            }
            Op::CloseWithLinger(ms) => {
                self.reading_over |= self.engine.lifecycle() == Lifecycle::Open;
                // Dropping the queue is what a LINGER of 0 asks for.
                self.dropped_queue |= ms == 0 && self.engine.lifecycle() == Lifecycle::Open;
                self.engine
                    .close_with_linger(Some(Duration::from_millis(ms.into())));
                Outcome::Nothing
            }
            Op::LingerExpired => {
                self.dropped_queue |= self.engine.lifecycle() == Lifecycle::Closing;
                self.engine.handle_linger_expired();
                Outcome::Nothing
            }
            Op::TakeBackend => {
                let taken = self.engine.take_backend();
                let gave = taken.is_some();
                if let Some(fake) = taken {
                    assert!(self.taken.is_none(), "take_backend gave the backend twice");
                    self.taken = Some(fake);
                }
                Outcome::Flag(gave)
            }
            Op::SetReadBackpressure(on) => {
                self.engine.set_read_backpressure(on);
                Outcome::Nothing
            }
            Op::CloseKeepingReceived => {
                if self.engine.lifecycle() == Lifecycle::Open && self.deliverable.is_none() {
                    // What the engine took out of the fake so far may still be delivered.
                    self.deliverable = Some(self.arrived.len() - self.fake().inbox_len());
                }
                self.engine.close_keeping_received();
                Outcome::Nothing
            }
            Op::TakePauseWriting => {
                let taken = self.engine.take_pause_writing();
                if taken {
                    self.deliver(&[EngineEvent::PauseWriting]);
                }
                Outcome::Flag(taken)
            }
        };

        assert!(
            outcome.agrees_with(&model.outcome),
            "{op:?} returned {outcome:?}, the model says {:?}",
            model.outcome
        );
        if closed_before {
            assert_eq!(
                self.calls(),
                calls_before,
                "{op:?} reached the backend after the transport was closed"
            );
        }
        self.check(model);
    }

    fn set_writable(&mut self, writable: bool) {
        if let Some(fake) = self.engine.backend_mut() {
            fake.set_writable(writable);
            self.writable = writable;
        }
    }

    /// Pushes one incoming message into the fake (unless the backend was taken); returns
    /// whether it did.
    fn arrive(&mut self, n: u8) -> bool {
        let msg = incoming_message(n, self.arrivals);
        self.arrivals += 1;
        match self.engine.backend_mut() {
            Some(fake) => {
                fake.push_incoming(msg.clone());
                self.arrived.push(msg);
                true
            }
            None => false,
        }
    }

    /// Checks the events a protocol would get.
    fn deliver(&mut self, events: &[EngineEvent]) {
        for event in events {
            assert_eq!(
                self.lost_delivered, 0,
                "{event:?} delivered after ConnectionLost"
            );
            match event {
                EngineEvent::Message(msg) => {
                    assert!(
                        !self.reading_over,
                        "message delivered after close/abort: {msg:?}"
                    );
                    assert!(
                        self.deliverable
                            .map_or(true, |n| self.delivered_messages < n),
                        "message received after close_keeping_received: {msg:?}"
                    );
                    assert_eq!(
                        Some(msg),
                        self.arrived.get(self.delivered_messages),
                        "messages delivered out of order, twice or from nowhere"
                    );
                    self.delivered_messages += 1;
                }
                EngineEvent::PauseWriting => {
                    assert!(!self.pause_delivered, "PauseWriting twice in a row");
                    self.pause_delivered = true;
                }
                EngineEvent::ResumeWriting => {
                    assert!(self.pause_delivered, "ResumeWriting without PauseWriting");
                    self.pause_delivered = false;
                }
                EngineEvent::SocketEvent(_) => {}
                EngineEvent::ConnectionLost(error) => {
                    self.lost_delivered += 1;
                    self.lost_error = Some(error.clone());
                }
            }
        }
    }

    /// What `handle_readiness` returned must fit the state it left.
    fn check_step(&self, step: Step, budget: usize, inbox_before: usize, tried_to_send: bool) {
        let e = &self.engine;
        let fake = self.fake();
        match step {
            Step::Idle | Step::Blocked => {
                assert_ne!(e.lifecycle(), Lifecycle::Closed, "Idle once closed");
                let can_send = self.writable && e.queued_messages() > 0;
                let can_recv = fake.inbox_len() > 0
                    && e.lifecycle() == Lifecycle::Open
                    && !e.is_reading_paused()
                    && !e.is_read_backpressured();
                // With POLLOUT and a queue left, a send must have been refused in this call
                // (the engine then says Blocked: retry after a back-off, not only on the fd).
                assert!(
                    (!can_send || tried_to_send) && !can_recv,
                    "Idle with work left: can send {can_send}, can receive {can_recv}"
                );
                assert_eq!(
                    step == Step::Blocked,
                    can_send,
                    "Blocked exactly when POLLOUT is set and the queue is not empty"
                );
            }
            Step::Again => {
                assert_eq!(e.lifecycle(), Lifecycle::Open, "Again while not open");
                assert_eq!(
                    inbox_before - fake.inbox_len(),
                    budget,
                    "Again before the budget was spent"
                );
            }
            Step::Closed => assert_eq!(e.lifecycle(), Lifecycle::Closed, "Closed while not"),
        }
    }

    /// Compares the engine with the model and checks the model-independent invariants.
    ///
    /// # Panics
    ///
    /// When they disagree or an invariant is broken.
    pub fn check(&self, model: &Model) {
        let e = &self.engine;
        assert_eq!(e.lifecycle(), model.lifecycle, "lifecycle");
        assert_eq!(e.queued_bytes(), model.queued_bytes, "queued bytes");
        assert_eq!(e.queued_weight(), model.queued_weight, "queued weight");
        assert_eq!(e.queued_messages(), model.queue.len(), "queued messages");
        assert_eq!(e.write_limits(), (model.low, model.high), "write limits");
        assert_eq!(
            e.is_writing_paused(),
            model.writing_paused,
            "writing paused"
        );
        assert_eq!(
            e.is_reading_paused(),
            model.reading_paused,
            "reading paused"
        );
        assert_eq!(
            e.is_read_backpressured(),
            model.read_backpressure,
            "read backpressure"
        );
        assert_eq!(e.lost_error(), model.lost_error.as_ref(), "lost error");
        assert_eq!(
            e.discards_messages(),
            model.discards_messages,
            "discards messages"
        );
        if e.discards_messages() {
            assert!(
                !model
                    .events
                    .iter()
                    .any(|ev| matches!(ev, EngineEvent::Message(_))),
                "a message queued after the messages were discarded"
            );
        }
        if e.lifecycle() != Lifecycle::Closed {
            assert_eq!(
                e.lost_error(),
                None,
                "an error before the transport was lost"
            );
        }
        assert_eq!(e.bindings(), &model.bindings, "bindings");
        assert_eq!(e.connections(), &model.connections, "connections");
        match e.subscriptions() {
            Ok(subs) => {
                assert_eq!(model.socket, SocketKind::Sub, "subscriptions of a non-SUB");
                assert_eq!(subs, &model.subscriptions, "subscriptions");
            }
            Err(err) => {
                assert_ne!(model.socket, SocketKind::Sub, "SUB without subscriptions");
                assert!(matches!(err, Error::NotSupported(_)), "{err:?}");
            }
        }
        assert_eq!(e.has_events(), !model.events.is_empty(), "pending events");
        assert_eq!(self.taken.is_some(), model.backend_taken, "backend taken");
        assert_eq!(
            e.backend().is_none(),
            model.backend_taken,
            "backend present"
        );

        let fake = self.fake();
        assert_eq!(self.calls(), model.fake.calls, "backend calls");
        assert_eq!(fake.inbox_len(), model.fake.inbox.len(), "inbox");
        assert_eq!(fake.partial().len(), model.fake.partial, "partial message");
        assert_eq!(fake.sent().len(), model.fake.sent.len(), "messages sent");
        assert_eq!(
            fake.subscription_calls().len(),
            model.fake.subscription_calls,
            "subscription calls"
        );

        // FIFO, whole, once: the backend got the accepted writes in order, frame by frame the
        // very same buffers, skipping only the ones the engine counted as unroutable.
        assert_eq!(
            e.dropped_unroutable(),
            model.dropped_unroutable,
            "dropped unroutable"
        );
        assert_eq!(
            e.dropped_on_close(),
            model.dropped_on_close,
            "dropped on close"
        );
        let linger = match model.lifecycle {
            Lifecycle::Closing => model.linger,
            _ => None,
        };
        assert_eq!(e.linger_timeout(), linger, "linger timeout");
        let sent = fake.sent();
        let dropped = e.dropped_unroutable() - self.dropped_seen.get();
        let dropped = usize::try_from(dropped).expect("a small count");
        let mut consumed = self.consumed.get();
        let mut skipped = 0;
        for (i, msg) in sent.iter().enumerate().skip(self.checked_sent.get()) {
            loop {
                let Some(next) = self.accepted.get(consumed) else {
                    panic!("message {i} reached the backend but was never accepted");
                };
                consumed += 1;
                if same_frames(msg, next) {
                    break;
                }
                skipped += 1;
                assert!(
                    skipped <= dropped,
                    "message {i} reached the backend changed, out of order or twice"
                );
            }
        }
        // Drops after the last message sent.
        consumed += dropped - skipped;
        assert!(
            consumed <= self.accepted.len(),
            "more dropped than accepted"
        );
        self.consumed.set(consumed);
        self.dropped_seen.set(e.dropped_unroutable());
        let unsent = &self.accepted[consumed..];
        if e.lifecycle() == Lifecycle::Closed {
            assert_eq!(e.queued_bytes(), 0, "bytes queued once closed");
            assert_eq!(e.queued_weight(), 0, "weight queued once closed");
            assert_eq!(e.queued_messages(), 0, "messages queued once closed");
        } else {
            // The queue is exactly the accepted writes the backend has not taken.
            let unsent_bytes: usize = unsent.iter().map(Multipart::byte_len).sum();
            assert_eq!(
                e.queued_bytes(),
                unsent_bytes,
                "queued bytes != queued messages"
            );
            // Every message weighs its bytes plus 32 per frame, so even empty ones count.
            let unsent_weight: usize = unsent.iter().map(message_weight).sum();
            assert_eq!(
                e.queued_weight(),
                unsent_weight,
                "queued weight != queued messages"
            );
            assert!(
                e.queued_weight() >= e.queued_bytes() + 32 * e.queued_messages(),
                "a message weighs nothing"
            );
            assert_eq!(e.queued_messages(), unsent.len(), "queue != unsent writes");
            // A multipart in progress is a prefix of the queue's head.
            let partial = fake.partial();
            if !partial.is_empty() {
                let head = unsent
                    .first()
                    .expect("a partial message with an empty queue");
                assert!(
                    partial.len() < head.len()
                        && partial
                            .iter()
                            .zip(head.iter())
                            .all(|(a, b)| same_bytes(a, b)),
                    "the frames in progress are not the head's"
                );
            }
            // The paused flag sits exactly between the watermarks.
            let (low, high) = e.write_limits();
            if e.is_writing_paused() {
                assert!(
                    e.queued_weight() > low,
                    "paused at or below the low watermark"
                );
            } else {
                assert!(
                    e.queued_weight() <= high,
                    "not paused above the high watermark"
                );
            }
        }
        self.checked_sent.set(sent.len());
    }

    /// Ends a run: lets everything flow (scripts cleared, writable, reading resumed),
    /// checks that nothing is stuck, closes gracefully, and checks the end.
    ///
    /// # Panics
    ///
    /// When something is stuck or an invariant is broken.
    pub fn settle(&mut self, model: &mut Model) {
        fn step(op: Op, model: &mut Model, harness: &mut Harness) {
            model.apply(&op);
            harness.apply(&op, model);
        }
        step(Op::ClearScripts, model, self);
        step(Op::SetWritable(true), model, self);
        if model.is_reading_paused() {
            step(Op::ResumeReading, model, self);
        }
        if model.is_read_backpressured() {
            step(Op::SetReadBackpressure(false), model, self);
        }
        self.drive(model);
        step(Op::Poll(0), model, self);
        let open = model.lifecycle() == Lifecycle::Open;
        if open {
            // Everything written went out, everything that arrived was delivered.
            assert_eq!(
                self.engine.queued_messages(),
                0,
                "writes stuck in the queue"
            );
            assert_eq!(
                self.fake().sent().len() + self.engine.dropped_unroutable() as usize,
                self.accepted.len(),
                "accepted writes never sent"
            );
            assert_eq!(self.fake().inbox_len(), 0, "messages stuck in the inbox");
            assert_eq!(
                self.delivered_messages,
                self.arrived.len(),
                "arrived messages never delivered"
            );
        }
        step(Op::Close, model, self);
        self.drive(model);
        step(Op::Poll(0), model, self);
        assert_eq!(
            self.engine.lifecycle(),
            Lifecycle::Closed,
            "close never finished"
        );
        assert_eq!(
            self.lost_delivered, 1,
            "ConnectionLost not delivered exactly once"
        );
        if !self.dropped_queue && self.lost_error == Some(None) {
            // A graceful close flushes everything that was accepted (but the unroutable).
            assert_eq!(
                self.fake().sent().len() + self.engine.dropped_unroutable() as usize,
                self.accepted.len(),
                "a graceful close lost writes"
            );
        }
        step(
            Op::Readiness {
                writable: Some(true),
                incoming: 1,
                budget: 8,
            },
            model,
            self,
        );
        step(Op::Poll(0), model, self);
        step(Op::TakeBackend, model, self);
    }

    /// `handle_readiness` until it stops asking to be called again.
    fn drive(&mut self, model: &mut Model) {
        for _ in 0..10_000 {
            let op = Op::Readiness {
                writable: None,
                incoming: 0,
                budget: u8::MAX,
            };
            model.apply(&op);
            self.apply(&op, model);
            if !matches!(model.outcome, Outcome::Step(Step::Again)) {
                return;
            }
        }
        panic!("handle_readiness kept returning Again");
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // A random sequence cannot promise that every scripted call happened.
        if let Some(fake) = self.engine.backend_mut() {
            fake.clear_scripts();
        }
        if let Some(fake) = &mut self.taken {
            fake.clear_scripts();
        }
    }
}

fn same_bytes(a: &Bytes, b: &Bytes) -> bool {
    a.as_ptr() == b.as_ptr() && a.len() == b.len()
}

fn same_frames(a: &Multipart, b: &Multipart) -> bool {
    a.len() == b.len() && a.iter().zip(b.iter()).all(|(a, b)| same_bytes(a, b))
}

/// Runs a whole case: every operation on the model and the engine, with the checks after
/// each, then [`Harness::settle`].
///
/// # Panics
///
/// When the engine disagrees with the model or breaks an invariant.
pub fn run(case: &EngineCase) {
    let mut model = Model::new(case.socket);
    let mut harness = Harness::new(case.socket);
    harness.check(&model);
    for op in case.ops.iter().take(MAX_OPS) {
        model.apply(op);
        harness.apply(op, &model);
    }
    harness.settle(&mut model);
}
