//! The async shell's shared state and driver: what runs the engine for one transport.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::task::AtomicWaker;

use crate::engine::{Backend, Engine, EngineEvent, Step, ZmqBackend};
use crate::runtime::{Readiness, Runtime, ZmqFd};
use crate::shell::monitor::MonitorSlot;
use crate::{Error, Result, ZmqProtocol, ZmqTransport};

/// Messages received per driver wake before it yields to other tasks.
const RECV_BUDGET: usize = 256;

/// The state behind every clone of a transport, shared with its driver.
pub(crate) struct Shared {
    state: Mutex<State>,
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
    /// Set once `connection_lost` was delivered, with its argument.
    lost: Option<Option<Error>>,
    /// Set once the socket is closed (or the driver is gone).
    finalized: bool,
    /// The socket monitor, when enabled.
    pub(crate) monitor: MonitorSlot,
}

impl State {
    fn wake_waiters(&mut self) {
        for w in self.waiters.drain(..) {
            w.wake();
        }
    }

    fn wake_waiters_on_progress(&mut self) {
        if self.engine.take_progress() {
            self.wake_waiters();
        }
    }

    pub(crate) fn register_waiter(&mut self, waker: &Waker) {
        if !self.waiters.iter().any(|w| w.will_wake(waker)) {
            self.waiters.push(waker.clone());
        }
    }

    /// `Some(result)` once the transport is finished and its socket closed.
    pub(crate) fn closed_result(&self) -> Option<Option<Error>> {
        match (&self.lost, self.finalized) {
            (Some(lost), true) => Some(lost.clone()),
            (None, true) => Some(None),
            _ => None,
        }
    }

    /// The error a `drain()` gets once the transport is no longer open.
    pub(crate) fn closed_error(&self) -> Error {
        match &self.lost {
            Some(Some(e)) => e.clone(),
            _ => Error::Closed,
        }
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic never happens while this lock is held (callbacks run outside it), but if
        // one did, the engine's state is still consistent between calls: keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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

    /// Delivers pending events from outside the driver if the protocol is free right now;
    /// otherwise leaves them to the driver.
    pub(crate) fn dispatch_now(&self, transport: &ZmqTransport) {
        if let Some(p) = self.protocol.upgrade() {
            p.dispatch(transport, false);
        }
        self.wake_driver();
    }
}

/// Delivers engine events to a protocol. Implemented for `Mutex<P>`.
pub(crate) trait Dispatch: Send + Sync {
    /// Delivers every pending event. With `blocking == false`, returns `false` at once if the
    /// protocol is locked (by a callback in progress or by the user).
    fn dispatch(&self, transport: &ZmqTransport, blocking: bool) -> bool;
}

impl<P: ZmqProtocol> Dispatch for Mutex<P> {
    fn dispatch(&self, transport: &ZmqTransport, blocking: bool) -> bool {
        let mut guard = if blocking {
            self.lock().unwrap_or_else(|p| p.into_inner())
        } else {
            match self.try_lock() {
                Ok(g) => g,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => return false,
            }
        };
        let shared = transport.shared();
        loop {
            let (event, delivery) = {
                let mut st = shared.lock();
                let Some(event) = st.engine.poll_event() else {
                    return true;
                };
                // `disable_monitor` on another thread waits for this delivery to end.
                let delivery = match event {
                    EngineEvent::SocketEvent(_) => Some(st.monitor.begin_delivery()),
                    _ => None,
                };
                (event, delivery)
            };
            let lost = match &event {
                EngineEvent::ConnectionLost(e) => Some(e.clone()),
                _ => None,
            };
            let result = catch_unwind(AssertUnwindSafe(|| deliver(&mut *guard, event)));
            if result.is_ok() && lost.is_none() && delivery.is_none() {
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
            if let Some(lost) = lost {
                st.lost = Some(lost);
                st.wake_waiters();
            }
        }
    }
}

fn deliver<P: ZmqProtocol>(protocol: &mut P, event: EngineEvent) {
    crate::types::trace::engine_event(&event);
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
    let fd = match engine.backend().map(|b| b.socket()) {
        Some(Some(socket)) => socket.get_fd()?,
        _ => return Err(Error::Closed),
    };
    let readiness = runtime.register(ZmqFd::new(fd))?;
    let socket_type = engine.socket_type();
    let protocol = Arc::new(Mutex::new(protocol));
    let dyn_protocol: Arc<dyn Dispatch> = protocol.clone();
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            engine,
            waiters: Vec::new(),
            lost: None,
            finalized: false,
            monitor: MonitorSlot::default(),
        }),
        driver: AtomicWaker::new(),
        socket_type,
        protocol: Arc::downgrade(&dyn_protocol),
        runtime: runtime.clone(),
    });
    let transport = ZmqTransport::from_shared(shared);
    let made = {
        let mut guard = protocol.lock().unwrap_or_else(|p| p.into_inner());
        catch_unwind(AssertUnwindSafe(|| guard.connection_made(&transport)))
    };
    let mut driver = Driver {
        transport: transport.clone(),
        protocol: dyn_protocol,
        readiness: Some(readiness),
        backoff: Backoff::new(),
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
    Ok((transport, protocol))
}

/// The task that runs one transport's engine: waits on `ZMQ_FD`, calls the engine, delivers
/// its events, closes the socket at the end.
struct Driver {
    transport: ZmqTransport,
    protocol: Arc<dyn Dispatch>,
    readiness: Option<Box<dyn Readiness>>,
    backoff: Backoff,
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
