//! The async shell's shared state and driver: what runs the engine for one transport.
//!
//! # Who delivers which callback
//!
//! The driver task delivers every callback, with one exception: `pause_writing` runs inside
//! the user's `write()` / `set_write_buffer_limits()` that crossed the high watermark, when
//! the protocol is free at that moment ([`Shared::deliver_pause_now`]). A pause delivered
//! there may overtake messages and monitor events still queued for the driver (they do not
//! depend on the write side), but never a queued `resume_writing`, so pause and resume
//! always alternate. Everything else a user call causes (a `resume_writing` from new limits,
//! the `connection_lost` of a fatal send) stays queued in the engine and is delivered by the
//! driver, which the call wakes.
//!
//! # Locks, and the order they are taken in
//!
//! - the **protocol lock** (`Mutex<P>`, the one the user also gets from the builder): held
//!   by whoever delivers callbacks, for the whole delivery loop;
//! - the **state lock** ([`Shared::lock`]): the engine and everything here; held only for
//!   short, non-blocking stretches, never while a callback runs, so a callback may call any
//!   method of its own transport.
//!
//! The order is protocol lock, then state lock (a stream's read buffer sits between them:
//! its protocol takes the buffer lock inside callbacks, and the buffer's backpressure takes
//! the state lock). Nothing takes the protocol lock while holding the state lock; user
//! commands take the state lock, release it, and only then *try* the protocol lock (for an
//! inline pause), so a user holding the protocol lock never deadlocks with the driver.
//!
//! A message's delivery is marked in the state (`message_in_flight`) from the moment the
//! dispatcher takes it from the engine, under the state lock, until its `msg_received`
//! returns. `close()`/`abort()` close the engine under the same lock and then wait for a
//! marked delivery on another thread to end, which is what makes "no `msg_received` begins
//! once `close()` has returned" hold across threads.
//!
//! The dispatcher takes a whole run of received messages in one lock and marks it as one
//! delivery; between two of them it reads the published status (no lock) and drops the rest
//! once a close or abort has dropped the engine's undelivered messages (see
//! [`deliver_messages`]). So a `close()` still waits for at most the batch being handed
//! over, no `msg_received` begins once it has returned, and a close from inside
//! `msg_received` stops the batch at once. A stream's close keeps what was received and so
//! keeps the batch too. Every other event (pause, resume, monitor events, `connection_lost`)
//! is taken one at a time, as before, so `connection_lost` stays last.

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError};
use std::task::{Context, Poll, Waker};
use std::thread::{self, ThreadId};
use std::time::Duration;

use futures::task::AtomicWaker;

use crate::engine::{Backend, Engine, EngineEvent, Step, ZmqBackend};
use crate::runtime::{Readiness, Runtime};
use crate::shell::monitor::MonitorSlot;
use crate::{Error, Result, ZmqProtocol, ZmqTransport};

/// Messages received per driver wake before it yields to other tasks.
const RECV_BUDGET: usize = 256;

/// The state behind every clone of a transport, shared with its driver.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// What the write-side checks (`drain()`, the `Sink`'s readiness and flush) read without
    /// the lock: the [`Status`] bits of the engine as of the last release of the state
    /// lock. See [`StateGuard`].
    status: AtomicU8,
    /// Signalled when a message delivery ends while a `close()`/`abort()` waits for it.
    message_delivered: Condvar,
    /// The driver's waker: woken after every user call that touched the socket (rule 6).
    driver: AtomicWaker,
    socket_type: zmq::SocketType,
    /// The protocol, for callbacks made outside the driver (`pause_writing` inside `write`).
    /// Weak: the protocol usually holds a transport clone, and the driver holds it strongly.
    protocol: std::sync::Weak<dyn Dispatch>,
    /// The runtime the transport runs on (the socket monitor registers its fd with it).
    runtime: Arc<dyn Runtime>,
}

/// Everything behind the one lock.
pub(crate) struct State {
    pub(crate) engine: Engine<ZmqBackend>,
    /// `drain()` and `wait_closed()` futures waiting for progress.
    waiters: Vec<Waker>,
    /// The thread delivering a `msg_received` right now: set under this lock when the
    /// message is taken from the engine, cleared under it once the callback returned.
    message_in_flight: Option<ThreadId>,
    /// How many `close()`/`abort()` calls wait for `message_in_flight` to clear.
    message_waiters: usize,
    /// Whether a close keeps the messages already received (a stream: they are queued
    /// reads) instead of dropping them (a protocol: no `msg_received` after `close()`).
    pub(crate) keep_received: bool,
    /// Set once the socket is closed (or the driver is gone).
    finalized: bool,
    /// The dispatcher's batch buffer between deliveries (kept for its capacity).
    batch: VecDeque<EngineEvent>,
    /// The socket monitor, when enabled.
    pub(crate) monitor: MonitorSlot,
}

impl State {
    fn wake_waiters(&mut self) {
        for w in self.waiters.drain(..) {
            w.wake();
        }
    }

    pub(crate) fn wake_waiters_on_progress(&mut self) {
        if self.engine.take_progress() {
            self.wake_waiters();
        }
    }

    pub(crate) fn register_waiter(&mut self, waker: &Waker) {
        if !self.waiters.iter().any(|w| w.will_wake(waker)) {
            self.waiters.push(waker.clone());
        }
    }

    /// `Some(outcome)` once the transport is finished and its socket closed: the error it
    /// was lost with, as the engine recorded it (so the outcome is right even when
    /// `connection_lost` could not be delivered, see [`Driver::finalize`]).
    pub(crate) fn closed_result(&self) -> Option<Option<Error>> {
        self.finalized.then(|| self.engine.lost_error().cloned())
    }

    /// The error a `drain()` or the `Sink` gets once the transport is no longer open: the
    /// fatal error from the moment the engine recorded it, else `Closed`.
    pub(crate) fn closed_error(&self) -> Error {
        self.engine.lost_error().cloned().unwrap_or(Error::Closed)
    }

    /// Ends the message delivery of the current thread; wakes a `close()` waiting for it.
    fn end_message_delivery(&mut self, shared: &Shared) {
        self.message_in_flight = None;
        if self.message_waiters > 0 {
            shared.message_delivered.notify_all();
        }
    }
}

/// Bits of [`Shared::status`]: what a passing write-side check needs to know.
pub(crate) struct Status;

impl Status {
    /// The engine is [`Lifecycle::Open`](crate::engine::Lifecycle::Open).
    pub(crate) const OPEN: u8 = 1;
    /// The write queue holds no message (counted in messages, so a queued message of empty
    /// frames is not "empty").
    pub(crate) const QUEUE_EMPTY: u8 = 2;
    /// The write queue's weight is at most the low watermark.
    pub(crate) const AT_MOST_LOW: u8 = 4;
    /// The write queue's weight is at most the high watermark.
    pub(crate) const AT_MOST_HIGH: u8 = 8;
    /// A close or abort dropped the undelivered messages
    /// ([`Engine::discards_messages`]): a dispatcher holding a batch drops the rest of it.
    pub(crate) const DISCARDS_MESSAGES: u8 = 16;

    #[inline]
    fn of(engine: &Engine<ZmqBackend>) -> u8 {
        let (low, high) = engine.write_limits();
        let weight = engine.queued_weight();
        let mut bits = 0;
        if engine.lifecycle() == crate::engine::Lifecycle::Open {
            bits |= Self::OPEN;
        }
        if engine.queued_messages() == 0 {
            bits |= Self::QUEUE_EMPTY;
        }
        if weight <= low {
            bits |= Self::AT_MOST_LOW;
        }
        if weight <= high {
            bits |= Self::AT_MOST_HIGH;
        }
        if engine.discards_messages() {
            bits |= Self::DISCARDS_MESSAGES;
        }
        bits
    }
}

/// The state lock's guard. Releasing it publishes the engine's [`Status`] in
/// [`Shared::status`], so every change made under the lock is published before anyone else
/// can take the lock, whichever code made it.
///
/// A check that reads the status and finds what it waits for (open, and the queue within its
/// bound) is done without the lock: it sees the state of the last release, which a caller's
/// own earlier `write` has published (same thread), and which any other thread's change
/// publishes at the latest when its lock is released, as a locked check would see it.
/// A check that does not pass takes the lock, checks again, and registers its waker under it;
/// every change that wakes waiters happens under the lock too, so no wake-up is lost.
///
/// A holder that changed nothing the status reads may say so
/// ([`status_unchanged`](Self::status_unchanged)); the release then skips computing it.
pub(crate) struct StateGuard<'a> {
    guard: MutexGuard<'a, State>,
    status: &'a AtomicU8,
    /// Whether the release publishes the status (cleared by `status_unchanged`).
    publish: bool,
}

impl StateGuard<'_> {
    /// Says that nothing the published [`Status`] reads (the engine's lifecycle, its write
    /// queue and watermarks, whether it discards messages) changed while this guard was held,
    /// so the release need not compute it. Checked in debug builds.
    #[inline]
    pub(crate) fn status_unchanged(&mut self) {
        self.publish = false;
    }
}

impl Deref for StateGuard<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.guard
    }
}

impl DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.guard
    }
}

impl Drop for StateGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.publish {
            publish_status(self.status, &self.guard.engine);
        } else {
            debug_assert_eq!(
                self.status.load(Ordering::Relaxed),
                Status::of(&self.guard.engine),
                "the status changed under a guard that said it did not"
            );
        }
    }
}

#[inline]
fn publish_status(status: &AtomicU8, engine: &Engine<ZmqBackend>) {
    let bits = Status::of(engine);
    // A store only when something changed: most releases change nothing here, and a reader on
    // another core keeps its cached copy.
    if status.load(Ordering::Relaxed) != bits {
        status.store(bits, Ordering::Release);
    }
}

impl Shared {
    #[inline]
    pub(crate) fn lock(&self) -> StateGuard<'_> {
        StateGuard {
            guard: self.lock_raw(),
            status: &self.status,
            publish: true,
        }
    }

    /// The state lock without publishing on release: for the `close()` wait on
    /// `message_delivered`, which publishes by hand first.
    #[inline]
    fn lock_raw(&self) -> MutexGuard<'_, State> {
        // A panic never happens while this lock is held (callbacks run outside it), but if
        // one did, the engine's state is still consistent between calls: keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The [`Status`] bits as of the last release of the state lock.
    pub(crate) fn status(&self) -> u8 {
        self.status.load(Ordering::Acquire)
    }

    pub(crate) fn socket_type(&self) -> zmq::SocketType {
        self.socket_type
    }

    pub(crate) fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    /// Wakes the driver so it re-reads `ZMQ_EVENTS` (rule 6).
    pub(crate) fn wake_driver(&self) {
        self.driver.wake();
    }

    /// Called by a user command (`write`, `set_write_buffer_limits`) that left events
    /// pending: delivers a pending `pause_writing` here, inside the user's call, if the
    /// protocol is free right now, and wakes the driver for everything else.
    ///
    /// Only `pause_writing` runs inside a user's call (aiozmq's rule, DESIGN.md "where
    /// callbacks run"): every other callback comes from the driver, so a caller holding a
    /// lock that `msg_received` also takes cannot deadlock itself. The pause may overtake
    /// messages and monitor events still queued, never a queued `resume_writing`
    /// ([`Engine::take_pause_writing`]). If the protocol is locked (a callback runs on
    /// another thread, or the user holds it, or this call comes from inside a callback),
    /// the pause too is left to the driver, which delivers it right after the current
    /// callback.
    pub(crate) fn deliver_pause_now(&self, transport: &ZmqTransport) {
        if let Some(p) = self.protocol.upgrade() {
            p.deliver_pause(transport);
        }
        self.wake_driver();
    }

    /// `close()` (`abort == false`) or `abort()` from a user: starts closing, wakes the
    /// driver, then waits until no `msg_received` is being delivered on another thread, so
    /// that none begins once this returns.
    ///
    /// The wait is for a callback already running (or taken from the engine and about to
    /// run); messages still queued are dropped by the engine's close. It is skipped when this
    /// thread is the one delivering (a `close()` from inside `msg_received`), and for a
    /// stream, whose close keeps what was received instead (see `State::keep_received`).
    pub(crate) fn close(&self, abort: bool) {
        let mut st = self.lock_raw();
        if abort {
            st.engine.abort();
        } else {
            // The socket's LINGER bounds the flush of zmqio's queue as it bounds libzmq's:
            // -1 (or any negative value) keeps trying, 0 drops at once, n ms flushes for at
            // most n ms (the driver arms the timer).
            let linger = st
                .engine
                .backend()
                .and_then(|b| b.socket())
                .and_then(|s| s.get_linger().ok())
                .and_then(|ms| u64::try_from(ms).ok())
                .map(Duration::from_millis);
            let keep_received = st.keep_received;
            st.engine.close_with(linger, keep_received);
        }
        // Published before waiting: the wait releases the lock without a `StateGuard`.
        publish_status(&self.status, &st.engine);
        self.wake_driver();
        if st.keep_received {
            return;
        }
        let me = thread::current().id();
        while st.message_in_flight.is_some_and(|t| t != me) {
            st.message_waiters += 1;
            st = self
                .message_delivered
                .wait(st)
                .unwrap_or_else(|p| p.into_inner());
            st.message_waiters -= 1;
        }
    }
}

#[cfg(test)]
thread_local! {
    /// A test hook run by the dispatcher between taking a message from the engine and
    /// calling `msg_received`: the window a concurrent `close()` must not slip through.
    pub(crate) static BEFORE_MESSAGE: std::cell::RefCell<Option<Box<dyn FnMut()>>> =
        std::cell::RefCell::new(None);
}

/// Delivers engine events to a protocol. Implemented for `Mutex<P>` (one `msg_received` per
/// message) and for [`Runs<P>`] (a run of messages per call).
pub(crate) trait Dispatch: Send + Sync {
    /// Delivers every pending event, in order (the driver's job). With `blocking == false`,
    /// returns `false` at once if the protocol is locked (by a callback in progress or by
    /// the user).
    fn dispatch(&self, transport: &ZmqTransport, blocking: bool) -> bool;

    /// Delivers a pending `pause_writing` if the protocol is free right now (see
    /// [`Shared::deliver_pause_now`]); leaves every other event queued.
    fn deliver_pause(&self, transport: &ZmqTransport);
}

impl<P: ZmqProtocol> Dispatch for Mutex<P> {
    fn dispatch(&self, transport: &ZmqTransport, blocking: bool) -> bool {
        dispatch_events(self, transport, blocking, deliver_messages::<P>)
    }

    fn deliver_pause(&self, transport: &ZmqTransport) {
        deliver_pause_of(self, transport);
    }
}

/// A protocol that takes a whole run of received messages in one call instead of one
/// `msg_received` per message (a stream's own protocol, which queues them for its reader
/// under one lock).
pub(crate) trait ReceivesRuns: ZmqProtocol {
    /// Takes every message of `batch` (all of its events are messages), leaving it empty.
    /// The run is one delivery: a `close()` on another thread waits for it to end, as for a
    /// single `msg_received`. A panic in it (none is expected: it is the crate's own code,
    /// but a `tracing` subscriber runs inside) ends the transport with `CallbackPanicked`,
    /// as a callback's panic does, and the rest of the run is dropped.
    fn messages_received(&mut self, batch: &mut VecDeque<EngineEvent>);
}

/// The cell of a [`ReceivesRuns`] protocol: its mutex, dispatched run by run.
struct Runs<P>(Mutex<P>);

impl<P: ReceivesRuns> Dispatch for Runs<P> {
    fn dispatch(&self, transport: &ZmqTransport, blocking: bool) -> bool {
        dispatch_events(&self.0, transport, blocking, |protocol, batch, _| {
            let result = catch_unwind(AssertUnwindSafe(|| {
                before_message_hook();
                protocol.messages_received(batch);
            }));
            batch.clear();
            result
        })
    }

    fn deliver_pause(&self, transport: &ZmqTransport) {
        deliver_pause_of(&self.0, transport);
    }
}

/// [`Dispatch::dispatch`] for the protocol in `protocol`, delivering each run of received
/// messages with `deliver_run` (which empties the batch, or returns the panic of a callback).
fn dispatch_events<P: ZmqProtocol>(
    protocol: &Mutex<P>,
    transport: &ZmqTransport,
    blocking: bool,
    mut deliver_run: impl FnMut(&mut P, &mut VecDeque<EngineEvent>, &Shared) -> thread::Result<()>,
) -> bool {
    let mut guard = if blocking {
        protocol.lock().unwrap_or_else(|p| p.into_inner())
    } else {
        match protocol.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return false,
        }
    };
    let shared = transport.shared();
    let me = thread::current().id();
    // Whether a delivery of messages is still marked (ended under the next lock, to take
    // the state lock once per batch).
    let mut message_marked = false;
    // The messages taken from the engine in one go, delivered outside the lock.
    let mut batch = VecDeque::new();
    loop {
        let (event, delivery) = {
            let mut st = shared.lock();
            if std::mem::take(&mut message_marked) {
                st.end_message_delivery(shared);
            }
            if batch.capacity() == 0 {
                batch = std::mem::take(&mut st.batch);
            }
            // A run of messages: marked as one delivery, which a `close()` on another
            // thread waits for as for a single message.
            if st.engine.take_messages(&mut batch) > 0 {
                st.message_in_flight = Some(me);
                message_marked = true;
                (None, None)
            } else {
                let Some(event) = st.engine.poll_event() else {
                    st.batch = std::mem::take(&mut batch);
                    return true;
                };
                // `disable_monitor` waits for a monitor event's delivery to end.
                let delivery = match event {
                    EngineEvent::SocketEvent(_) => Some(st.monitor.begin_delivery()),
                    _ => None,
                };
                (Some(event), delivery)
            }
        };
        let Some(event) = event else {
            if let Err(payload) = deliver_run(&mut *guard, &mut batch, shared) {
                let mut st = shared.lock();
                st.end_message_delivery(shared);
                message_marked = false;
                st.engine
                    .abort_with(Some(Error::CallbackPanicked(panic_message(&*payload))));
                shared.wake_driver();
            }
            continue;
        };
        let lost = matches!(event, EngineEvent::ConnectionLost(_));
        let result = catch_unwind(AssertUnwindSafe(|| deliver(&mut *guard, event)));
        if result.is_ok() && !lost && delivery.is_none() {
            continue;
        }
        let mut st = shared.lock();
        if let Some(delivery) = delivery {
            st.monitor.end_delivery(delivery);
        }
        if let Err(payload) = result {
            st.engine
                .abort_with(Some(Error::CallbackPanicked(panic_message(&*payload))));
            shared.wake_driver();
        }
        if lost {
            st.wake_waiters();
        }
    }
}

/// [`Dispatch::deliver_pause`] for the protocol in `protocol`.
fn deliver_pause_of<P: ZmqProtocol>(protocol: &Mutex<P>, transport: &ZmqTransport) {
    let mut guard = match protocol.try_lock() {
        Ok(g) => g,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => return,
    };
    let shared = transport.shared();
    if !shared.lock().engine.take_pause_writing() {
        return;
    }
    crate::shell::trace::engine_event(&EngineEvent::PauseWriting);
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| guard.pause_writing())) {
        shared
            .lock()
            .engine
            .abort_with(Some(Error::CallbackPanicked(panic_message(&*payload))));
    }
}

/// Delivers the messages of `batch` in order, outside the state lock, until it is empty, a
/// callback panics (the panic is returned, the rest dropped) or a close or abort has dropped
/// the engine's undelivered messages since the batch was taken (the rest is dropped too, as
/// the engine dropped its own).
///
/// That check reads the published [`Status`] before each message but the first (taken under
/// the lock while nothing was discarded). A `close()` from inside a callback publishes before
/// it returns, so the next message of the batch is dropped; a `close()` on another thread
/// publishes before it waits for the batch's delivery mark, so at most the messages this
/// thread begins before it sees the change are delivered, all before that `close()` returns.
fn deliver_messages<P: ZmqProtocol>(
    protocol: &mut P,
    batch: &mut VecDeque<EngineEvent>,
    shared: &Shared,
) -> thread::Result<()> {
    // One `catch_unwind` for the batch: a message is taken out before its callback runs, so
    // after a panic the batch holds exactly the messages not delivered.
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut first = true;
        while let Some(msg) = batch.pop_front() {
            if !std::mem::take(&mut first) && shared.status() & Status::DISCARDS_MESSAGES != 0 {
                return;
            }
            before_message_hook();
            deliver(protocol, msg);
        }
    }));
    batch.clear();
    result
}

/// Runs the test hook [`BEFORE_MESSAGE`] (tests only).
#[inline]
fn before_message_hook() {
    #[cfg(test)]
    BEFORE_MESSAGE.with(|hook| {
        if let Some(hook) = hook.borrow_mut().as_mut() {
            hook();
        }
    });
}

fn deliver<P: ZmqProtocol>(protocol: &mut P, event: EngineEvent) {
    crate::shell::trace::engine_event(&event);
    match event {
        EngineEvent::Message(msg) => protocol.msg_received(msg),
        EngineEvent::PauseWriting => protocol.pause_writing(),
        EngineEvent::ResumeWriting => protocol.resume_writing(),
        EngineEvent::SocketEvent(ev) => protocol.event_received(ev),
        EngineEvent::ConnectionLost(e) => protocol.connection_lost(e),
    }
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Starts a transport over an engine whose binds and connects are done: registers the fd,
/// calls `connection_made`, spawns the driver.
pub(crate) fn start<P: ZmqProtocol>(
    runtime: &Arc<dyn Runtime>,
    engine: Engine<ZmqBackend>,
    protocol: P,
) -> Result<(ZmqTransport, Arc<Mutex<P>>)> {
    let protocol = Arc::new(Mutex::new(protocol));
    let transport = start_cell(runtime, engine, protocol.clone(), |cell| cell)?;
    Ok((transport, protocol))
}

/// [`start`] for a protocol that takes received messages run by run ([`ReceivesRuns`]).
pub(crate) fn start_receiving_runs<P: ReceivesRuns>(
    runtime: &Arc<dyn Runtime>,
    engine: Engine<ZmqBackend>,
    protocol: P,
) -> Result<ZmqTransport> {
    let cell = Arc::new(Runs(Mutex::new(protocol)));
    start_cell(runtime, engine, cell, |cell| &cell.0)
}

/// What [`start`] does, for any cell of a protocol (`mutex` finds the protocol's mutex in
/// it, for `connection_made`).
fn start_cell<P: ZmqProtocol, C: Dispatch + 'static>(
    runtime: &Arc<dyn Runtime>,
    engine: Engine<ZmqBackend>,
    protocol: Arc<C>,
    mutex: impl Fn(&C) -> &Mutex<P>,
) -> Result<ZmqTransport> {
    let fd = match engine.backend().map(|b| b.socket()) {
        Some(Some(socket)) => socket.get_fd()?,
        _ => return Err(Error::Closed),
    };
    let readiness = crate::runtime::register(&**runtime, fd)?;
    let socket_type = engine.socket_type();
    let dyn_protocol: Arc<dyn Dispatch> = protocol.clone();
    let status = AtomicU8::new(Status::of(&engine));
    let shared = Arc::new(Shared {
        status,
        state: Mutex::new(State {
            engine,
            waiters: Vec::new(),
            message_in_flight: None,
            message_waiters: 0,
            keep_received: false,
            finalized: false,
            batch: VecDeque::new(),
            monitor: MonitorSlot::default(),
        }),
        message_delivered: Condvar::new(),
        driver: AtomicWaker::new(),
        socket_type,
        protocol: Arc::downgrade(&dyn_protocol),
        runtime: runtime.clone(),
    });
    crate::shell::shutdown::register(&shared);
    let transport = ZmqTransport::from_shared(shared);
    let made = {
        let mut guard = mutex(&protocol).lock().unwrap_or_else(|p| p.into_inner());
        catch_unwind(AssertUnwindSafe(|| guard.connection_made(&transport)))
    };
    let mut driver = Driver {
        transport: transport.clone(),
        protocol: dyn_protocol,
        readiness: Some(readiness),
        backoff: Backoff::new(),
        linger: None,
    };
    if let Err(payload) = made {
        // The socket is closed here, with no callback after the failed one.
        driver.finalize(false);
        return Err(Error::CallbackPanicked(panic_message(&*payload)));
    }
    let driver = {
        let st = transport.shared().lock();
        let engine = &st.engine;
        crate::types::trace::instrument(
            driver,
            socket_type,
            engine.bindings(),
            engine.connections(),
        )
    };
    runtime.spawn(Box::pin(driver));
    Ok(transport)
}

/// The task that runs one transport's engine: waits on `ZMQ_FD`, calls the engine, delivers
/// its events, closes the socket at the end.
///
/// # One poll
///
/// 1. Register the waker in `Shared::driver` first, so that a user call on another thread
///    that touches the socket after this point wakes this task (rule 6), and no wake-up
///    falls between the work below and the wait at the end.
/// 2. Under the state lock: drain the monitor PAIR (before the socket: a failing PAIR ends
///    the engine, which then says `Closed`), then [`Engine::handle_readiness`]: read
///    `ZMQ_EVENTS`, flush and receive until it shows no wanted bit or the receive budget is
///    spent. Wake `drain()`/`wait_closed()` waiters if the engine reports progress (the
///    queue shrank, the lifecycle changed). Received messages and other events are now
///    queued in the engine.
/// 3. With the state lock released, deliver every queued event in order
///    ([`Dispatch::dispatch`], blocking on the protocol lock: a user holding it only
///    delays the driver). Callbacks run without the state lock, so they may call their
///    transport; whatever they cause (a write, a close) is seen by the next pass.
/// 4. Act on the [`Step`] from 2: `Closed` finalizes (deregister the fd, close the socket,
///    mark finished, wake waiters) and ends the task; `Again` (budget spent) wakes itself
///    and yields, for fairness, without waiting on the fd; `Idle` waits on `ZMQ_FD` and the
///    monitor's fd; `Blocked` (the head of the queue was refused despite `POLLOUT`) also
///    arms the back-off timer. A ready fd loops to 2 at once instead of returning: it only
///    means "`ZMQ_EVENTS` may have changed", and polling it again consumed the readiness.
///
/// Waiting happens only right after step 2 read `ZMQ_EVENTS` without a wanted bit, and
/// every callback of step 3 that touched the socket went through a transport method that
/// woke this task, so the task is polled again: no edge is lost (rules 3, 6 and 7).
struct Driver {
    transport: ZmqTransport,
    protocol: Arc<dyn Dispatch>,
    readiness: Option<Box<dyn Readiness>>,
    backoff: Backoff,
    /// The LINGER deadline of a close in progress (`Engine::linger_timeout`).
    linger: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

/// The retry timer for [`Step::Blocked`]: 1 ms, doubling to 64 ms, reset once the engine is
/// simply idle. Only a socket whose `POLLOUT` does not cover the head of its queue ever uses
/// it; every other socket waits on its fd alone and costs nothing while idle.
struct Backoff {
    timer: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    delay: Duration,
}

impl Backoff {
    const MIN: Duration = Duration::from_millis(1);
    const MAX: Duration = Duration::from_millis(64);

    fn new() -> Self {
        Self {
            timer: None,
            delay: Self::MIN,
        }
    }

    fn reset(&mut self) {
        self.timer = None;
        self.delay = Self::MIN;
    }

    /// `Ready` once the current delay has passed (then the next delay doubles).
    fn poll_elapsed(&mut self, runtime: &dyn Runtime, cx: &mut Context<'_>) -> Poll<()> {
        let delay = self.delay;
        let timer = self.timer.get_or_insert_with(|| runtime.sleep(delay));
        match timer.as_mut().poll(cx) {
            Poll::Ready(_) => {
                self.timer = None;
                self.delay = (self.delay * 2).min(Self::MAX);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Driver {
    /// Deregisters the fd, then closes the socket (rule 9), then wakes every waiter.
    /// `deliver` says whether a `connection_lost` still pending goes to the protocol.
    ///
    /// The pending `connection_lost` is delivered only if the protocol lock is free: this
    /// also runs from `Drop` when the runtime drops the task (a tokio runtime shutting down),
    /// possibly on a thread that holds the protocol lock itself, and blocking there could
    /// hang the shutdown. So at runtime shutdown `connection_lost` is skipped when the user
    /// holds the protocol lock; `wait_closed()` and `drain()` still report the real outcome,
    /// which the engine recorded when the transport was lost ([`State::closed_result`]).
    fn finalize(&mut self, deliver: bool) {
        drop(self.readiness.take());
        let shared = self.transport.shared();
        let backend = {
            let mut guard = shared.lock();
            let st = &mut *guard;
            st.engine.abort();
            // The monitor's fd is deregistered and its PAIR closed before the socket.
            st.monitor.stop(&mut st.engine);
            st.engine.take_backend()
        };
        if deliver {
            // Deliver a connection_lost that abort() just queued (never one twice).
            self.protocol.dispatch(&self.transport, false);
        } else {
            let mut st = shared.lock();
            while st.engine.poll_event().is_some() {}
        }
        if let Some(backend) = backend {
            backend.release();
        }
        let mut st = shared.lock();
        st.finalized = true;
        st.wake_waiters();
    }
}

impl Future for Driver {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let shared = this.transport.shared().clone();
        shared.driver.register(cx.waker());
        loop {
            let (step, monitor_again) = {
                let mut guard = shared.lock();
                let st = &mut *guard;
                // The monitor first: a failing PAIR ends the engine, which then says Closed.
                let monitor_again = st.monitor.run(&mut st.engine, RECV_BUDGET);
                let step = st.engine.handle_readiness(RECV_BUDGET);
                st.wake_waiters_on_progress();
                (step, monitor_again)
            };
            this.protocol.dispatch(&this.transport, true);
            match step {
                Step::Closed => {
                    this.finalize(true);
                    return Poll::Ready(());
                }
                Step::Again => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Step::Idle | Step::Blocked if monitor_again => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Step::Idle => this.backoff.reset(),
                Step::Blocked => {}
            }
            // A close with a finite LINGER: the engine has no clock, the driver keeps its
            // deadline (armed once, at the first wait after the close).
            let linger = shared.lock().engine.linger_timeout();
            if let Some(after) = linger {
                let timer = this
                    .linger
                    .get_or_insert_with(|| shared.runtime().sleep(after));
                if timer.as_mut().poll(cx).is_ready() {
                    shared.lock().engine.handle_linger_expired();
                    continue;
                }
            }
            let Some(readiness) = this.readiness.as_mut() else {
                return Poll::Ready(());
            };
            match readiness.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => {
                    shared.lock().engine.abort_with(Some(Error::from(e)));
                    continue;
                }
                Poll::Pending => {}
            }
            // Both fds are waited on at once: the socket's and the monitor PAIR's.
            let monitor_ready = shared.lock().monitor.poll_ready(cx);
            match monitor_ready {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => {
                    shared.lock().engine.abort_with(Some(Error::from(e)));
                }
                Poll::Pending if step == Step::Blocked => {
                    if this
                        .backoff
                        .poll_elapsed(&**shared.runtime(), cx)
                        .is_pending()
                    {
                        return Poll::Pending;
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The runtime dropped the task before it finished (e.g. at runtime shutdown): still
        // close the socket, after deregistering its fd.
        if self.readiness.is_some() {
            self.finalize(true);
        }
    }
}
