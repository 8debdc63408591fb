//! Shell tests with a scripted driver: a runtime whose `spawn` hands the driver future to the
//! test, which polls it when and on which thread it wants, and a hook
//! ([`BEFORE_MESSAGE`]) that stops the dispatcher between taking a message from the engine
//! and calling `msg_received`. Together they make the cross-thread interleavings of callback
//! delivery reproducible on real (inproc) sockets.

use std::cell::Cell;
use std::future::{Future, IntoFuture};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use futures::FutureExt;

use crate::runtime::{Readiness, Runtime, ZmqFd};
use crate::shell::driver::BEFORE_MESSAGE;
use crate::shell::transport::QueueBound;
use crate::{
    default_context, ConnectionBuilder, Error, Multipart, StreamBuilder, ZmqProtocol, ZmqTransport,
};

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A runtime that runs nothing by itself: spawned drivers wait in `tasks` until the test
/// polls them; the fd never signals (the test polls the driver when it wants a pass).
#[derive(Default)]
struct Manual {
    tasks: Mutex<Vec<Task>>,
}

struct NeverReady;

impl Readiness for NeverReady {
    fn poll_read_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Pending
    }
}

// SAFETY: `register` drops the `ZmqFd` at once and never touches the descriptor.
#[allow(unsafe_code)]
unsafe impl Runtime for Manual {
    fn register(&self, _fd: ZmqFd) -> io::Result<Box<dyn Readiness>> {
        Ok(Box::new(NeverReady))
    }
    fn spawn(&self, future: Task) {
        self.tasks.lock().unwrap().push(future);
    }
    fn sleep(&self, _duration: Duration) -> Task {
        Box::pin(std::future::pending())
    }
}

impl Manual {
    fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The driver spawned last.
    fn take_driver(&self) -> Task {
        self.tasks
            .lock()
            .unwrap()
            .pop()
            .expect("a driver was spawned")
    }
}

/// Runs a future (or a builder) to completion on this thread.
fn block<F: IntoFuture>(f: F) -> F::Output {
    futures::executor::block_on(f.into_future())
}

/// Polls a driver once (one pass of its loop, up to its next wait).
fn poll_once(driver: &mut Task) -> Poll<()> {
    driver
        .as_mut()
        .poll(&mut Context::from_waker(futures::task::noop_waker_ref()))
}

fn endpoint(name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "inproc://zmqio-shell-{name}-{}",
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A raw PUSH connected to `endpoint` that has sent `"0"`, `"1"`, `"2"` (all in the
/// receiver's inproc pipe when this returns).
fn push_three(endpoint: &str) -> zmq::Socket {
    let push = default_context().socket(zmq::PUSH).unwrap();
    push.connect(endpoint).unwrap();
    for m in ["0", "1", "2"] {
        push.send(m, 0).unwrap();
    }
    push
}

/// Polls `driver` once on a thread of its own whose dispatcher stops before the first
/// `msg_received`: it sends on `entered`, then waits for `go`.
fn poll_stopping_at_first_message(
    mut driver: Task,
    entered: mpsc::Sender<()>,
    go: mpsc::Receiver<()>,
) -> thread::JoinHandle<Task> {
    thread::spawn(move || {
        let first = Cell::new(true);
        BEFORE_MESSAGE.with(|hook| {
            *hook.borrow_mut() = Some(Box::new(move || {
                if first.replace(false) {
                    entered.send(()).unwrap();
                    go.recv().unwrap();
                }
            }));
        });
        let _ = poll_once(&mut driver);
        BEFORE_MESSAGE.with(|hook| hook.borrow_mut().take());
        driver
    })
}

/// Records messages and whether one began after `close()` had returned.
struct CloseProbe {
    got: Arc<Mutex<Vec<Multipart>>>,
    close_returned: Arc<AtomicBool>,
    late: Arc<AtomicBool>,
}

impl ZmqProtocol for CloseProbe {
    fn msg_received(&mut self, msg: Multipart) {
        if self.close_returned.load(Ordering::SeqCst) {
            self.late.store(true, Ordering::SeqCst);
        }
        self.got.lock().unwrap().push(msg);
    }
}

/// Issue 11, item 4. Scenario: the driver has taken message 0 from the engine (messages 1
/// and 2 still queued there) and has not called `msg_received` yet, when `close()` runs on
/// another thread. Bug: `close()` returned at once and `msg_received(0)` began afterwards.
/// Fix: `close()` waits until a message delivery marked on another thread has ended.
#[test]
fn close_waits_for_a_message_being_handed_over_and_none_begins_after() {
    let rt = Manual::new();
    let ep = endpoint("close-handoff");
    let got = Arc::new(Mutex::new(Vec::new()));
    let close_returned = Arc::new(AtomicBool::new(false));
    let late = Arc::new(AtomicBool::new(false));
    let probe = CloseProbe {
        got: got.clone(),
        close_returned: close_returned.clone(),
        late: late.clone(),
    };
    let (transport, _) =
        block(ConnectionBuilder::new(rt.clone(), move || probe, zmq::PULL).bind(ep.as_str()))
            .unwrap();
    let _push = push_three(&ep);

    let (entered_tx, entered) = mpsc::channel();
    let (go, go_rx) = mpsc::channel();
    let driver_thread = poll_stopping_at_first_message(rt.take_driver(), entered_tx, go_rx);
    entered.recv_timeout(Duration::from_secs(30)).unwrap();

    let (closed_tx, closed) = mpsc::channel();
    let closer = {
        let transport = transport.clone();
        let close_returned = close_returned.clone();
        thread::spawn(move || {
            transport.close();
            close_returned.store(true, Ordering::SeqCst);
            closed_tx.send(()).unwrap();
        })
    };
    // Without the fix, close() returns within this time; with it, it cannot return before
    // the delivery ends (a slow machine only makes the check weaker, never wrong).
    let returned_during_handoff = closed.recv_timeout(Duration::from_millis(300)).is_ok();
    go.send(()).unwrap();
    let mut driver = driver_thread.join().unwrap();
    closer.join().unwrap();

    assert!(
        !returned_during_handoff,
        "close() returned while a message was being handed to msg_received"
    );
    assert!(
        !late.load(Ordering::SeqCst),
        "msg_received began after close() returned"
    );
    // The message in flight was delivered; the ones still queued were dropped by close().
    assert_eq!(*got.lock().unwrap(), vec![Multipart::from(["0"])]);
    assert_eq!(poll_once(&mut driver), Poll::Ready(()));
    assert_eq!(transport.wait_closed().now_or_never(), Some(None));
}

/// A `close()` from inside `msg_received` does not wait for that very callback.
#[test]
fn close_from_inside_msg_received_does_not_wait_for_itself() {
    struct Closer {
        transport: Option<ZmqTransport>,
        seen: Arc<AtomicUsize>,
    }
    impl ZmqProtocol for Closer {
        fn connection_made(&mut self, t: &ZmqTransport) {
            self.transport = Some(t.clone());
        }
        fn msg_received(&mut self, _msg: Multipart) {
            self.seen.fetch_add(1, Ordering::SeqCst);
            let t = self.transport.as_ref().unwrap();
            t.close();
            t.abort();
        }
    }
    let rt = Manual::new();
    let ep = endpoint("close-inside");
    let seen = Arc::new(AtomicUsize::new(0));
    let protocol = Closer {
        transport: None,
        seen: seen.clone(),
    };
    let (transport, _) =
        block(ConnectionBuilder::new(rt.clone(), move || protocol, zmq::PULL).bind(ep.as_str()))
            .unwrap();
    let _push = push_three(&ep);
    let mut driver = rt.take_driver();
    // One pass delivers message 0, whose callback closes; 1 and 2 are dropped.
    let _ = poll_once(&mut driver);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert_eq!(poll_once(&mut driver), Poll::Ready(()));
    assert_eq!(transport.wait_closed().now_or_never(), Some(None));
}

/// Issue 16. Scenario: a stream's driver took messages 0, 1 and 2 out of libzmq and is
/// handing message 0 to the stream when `close()` runs on another thread. Bug: the close
/// dropped 1 and 2, still queued in the engine, so `read()` gave 0 and then `Closed`. Fix: a
/// stream's close keeps what was received; `read()` gives 0, 1, 2, then `Closed`.
#[test]
fn stream_close_keeps_messages_the_driver_has_not_handed_over() {
    let rt = Manual::new();
    let ep = endpoint("stream-close");
    let mut stream = block(StreamBuilder::new(rt.clone(), zmq::PULL).bind(ep.as_str())).unwrap();
    let _push = push_three(&ep);

    let (entered_tx, entered) = mpsc::channel();
    let (go, go_rx) = mpsc::channel();
    let driver_thread = poll_stopping_at_first_message(rt.take_driver(), entered_tx, go_rx);
    entered.recv_timeout(Duration::from_secs(30)).unwrap();
    stream.close(); // a stream's close never waits for the driver
    go.send(()).unwrap();
    let mut driver = driver_thread.join().unwrap();

    for want in ["0", "1", "2"] {
        let msg = block(stream.read()).unwrap();
        assert_eq!(msg, Multipart::from([want]));
    }
    assert!(matches!(block(stream.read()), Err(Error::Closed)));
    assert_eq!(poll_once(&mut driver), Poll::Ready(()));
}

/// Records each callback with whether it ran inside a user call marked by `INSIDE`.
#[derive(Default)]
struct WhereProbe {
    seen: Arc<Mutex<Vec<(&'static str, bool)>>>,
}

thread_local! {
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

impl WhereProbe {
    fn note(&self, what: &'static str) {
        let inside = INSIDE.with(Cell::get);
        self.seen.lock().unwrap().push((what, inside));
    }
}

impl ZmqProtocol for WhereProbe {
    fn connection_lost(&mut self, _exc: Option<Error>) {
        self.note("lost");
    }
    fn pause_writing(&mut self) {
        self.note("pause");
    }
    fn resume_writing(&mut self) {
        self.note("resume");
    }
    fn msg_received(&mut self, _msg: Multipart) {
        self.note("msg");
    }
}

/// Runs `f` as a user call: callbacks inside it see `INSIDE`.
fn inside<R>(f: impl FnOnce() -> R) -> R {
    INSIDE.with(|i| i.set(true));
    let r = f();
    INSIDE.with(|i| i.set(false));
    r
}

/// Issue 11, item 3. Scenario: `set_write_buffer_limits` lowers the queue below the new low
/// watermark (a pending `resume_writing`), and a REP's `write` fails fatally (a pending
/// `connection_lost`). Bug: both callbacks ran inside the user's call. Fix: only
/// `pause_writing` runs there; the rest comes from the driver.
#[test]
fn only_pause_writing_runs_inside_a_users_call() {
    let rt = Manual::new();
    let probe = WhereProbe::default();
    let seen = probe.seen.clone();
    // A DEALER with no peer: every send is EAGAIN, so writes queue.
    let (dealer, _) = block(ConnectionBuilder::new(
        rt.clone(),
        move || probe,
        zmq::DEALER,
    ))
    .unwrap();
    let mut driver = rt.take_driver();
    inside(|| {
        dealer.set_write_buffer_limits(Some(4), Some(0)).unwrap();
        dealer.write(["12345"]).unwrap(); // above high: pause_writing, here
        dealer.set_write_buffer_limits(Some(1000), None).unwrap(); // weight 37 <= low 250: resume
    });
    assert_eq!(*seen.lock().unwrap(), vec![("pause", true)]);
    let _ = poll_once(&mut driver);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![("pause", true), ("resume", false)]
    );
    dealer.abort();
    assert_eq!(poll_once(&mut driver), Poll::Ready(()));

    let probe = WhereProbe::default();
    let seen = probe.seen.clone();
    let (rep, _) = block(ConnectionBuilder::new(rt.clone(), move || probe, zmq::REP)).unwrap();
    let mut driver = rt.take_driver();
    let r = inside(|| rep.write(["no request yet"]));
    assert_eq!(r, Err(Error::Zmq(zmq::Error::EFSM)));
    assert_eq!(*seen.lock().unwrap(), vec![]);
    assert_eq!(poll_once(&mut driver), Poll::Ready(()));
    assert_eq!(*seen.lock().unwrap(), vec![("lost", false)]);
}

/// Issue 11, items 5 and 7. Scenario: a REP's `write` fails fatally while the user holds the
/// protocol's mutex, and the runtime then drops the driver task (a runtime shutting down).
/// Bug: `drain()` said `Closed` (not the error) until `connection_lost` had run, and since
/// it never ran, `wait_closed()` resolved with `None`. Fix: both read the error the engine
/// recorded when the transport was lost.
#[test]
fn fatal_error_reaches_drain_and_wait_closed_even_without_connection_lost() {
    let rt = Manual::new();
    let probe = WhereProbe::default();
    let seen = probe.seen.clone();
    let (rep, protocol) =
        block(ConnectionBuilder::new(rt.clone(), move || probe, zmq::REP)).unwrap();
    let driver = rt.take_driver();
    let efsm = Error::Zmq(zmq::Error::EFSM);
    let held = protocol.lock().unwrap();
    assert_eq!(rep.write(["no request yet"]), Err(efsm.clone()));
    assert_eq!(rep.drain().now_or_never(), Some(Err(efsm.clone())));
    drop(driver); // the runtime drops the task while the protocol is held
    assert_eq!(rep.wait_closed().now_or_never(), Some(Some(efsm.clone())));
    drop(held);
    // Documented: connection_lost is skipped then, rather than block the shutdown.
    assert_eq!(*seen.lock().unwrap(), vec![]);
    assert_eq!(rep.drain().now_or_never(), Some(Err(efsm)));
}

struct Quiet;
impl ZmqProtocol for Quiet {}

/// The write-side checks (`drain()`, the `Sink`'s readiness and flush) that pass read the
/// published status and take no lock: they answer at once while another thread holds the
/// state lock.
#[test]
fn write_side_checks_that_pass_take_no_lock() {
    let rt = Manual::new();
    let (push, _) = block(ConnectionBuilder::new(rt.clone(), || Quiet, zmq::PUSH)).unwrap();
    let _driver = rt.take_driver();
    let held = push.shared().lock();
    let (tx, rx) = mpsc::channel();
    let checker = push.clone();
    let t = thread::spawn(move || {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let checks = [
            checker.poll_queue_at_most(&mut cx, QueueBound::Empty),
            checker.poll_queue_at_most(&mut cx, QueueBound::Low),
            checker.poll_queue_at_most(&mut cx, QueueBound::High),
        ];
        tx.send(checks.map(|c| matches!(c, Poll::Ready(Ok(())))))
            .unwrap();
    });
    let answered = rx.recv_timeout(Duration::from_secs(5));
    drop(held);
    t.join().unwrap();
    assert_eq!(
        answered,
        Ok([true; 3]),
        "the checks waited for the state lock"
    );
}

/// What the lock-free checks read follows every change a waiter waits for: the queue
/// growing past each bound (a message of empty frames included: "empty" counts messages),
/// the limits, and the lifecycle; a check that does not pass registers its waker under the
/// lock, and the change that satisfies it wakes it.
#[test]
fn published_status_follows_the_queue_the_limits_and_the_lifecycle() {
    let rt = Manual::new();
    // No peer: every message waits in zmqio's queue.
    let (push, _) = block(ConnectionBuilder::new(rt.clone(), || Quiet, zmq::PUSH)).unwrap();
    let _driver = rt.take_driver();
    let woken = Arc::new(AtomicUsize::new(0));
    let waker = futures::task::waker(Arc::new(CountingWaker(woken.clone())));
    let mut cx = Context::from_waker(&waker);
    let mut check = |bound| push.poll_queue_at_most(&mut cx, bound).is_ready();
    assert!(check(QueueBound::Empty));

    push.write([""]).unwrap(); // weighs 32: within both watermarks, but not empty
    assert!(!check(QueueBound::Empty));
    assert!(check(QueueBound::Low));
    assert!(check(QueueBound::High));

    push.set_write_buffer_limits(Some(64), Some(32)).unwrap();
    push.write(vec![0u8; 40]).unwrap(); // 32 + 72 = 104 > 64
    assert!(!check(QueueBound::Low));
    assert!(!check(QueueBound::High));
    assert_eq!(woken.load(Ordering::SeqCst), 0);

    push.set_write_buffer_limits(Some(1000), Some(500)).unwrap(); // satisfies both waiters
    assert_eq!(woken.load(Ordering::SeqCst), 1, "one waker, woken once");
    assert!(check(QueueBound::Low));
    assert!(check(QueueBound::High));

    push.setsockopt(crate::opt::Linger, 0).unwrap();
    push.close();
    assert_eq!(push.drain().now_or_never(), Some(Err(Error::Closed)));
    assert!(matches!(
        push.poll_queue_at_most(&mut Context::from_waker(&waker), QueueBound::Empty),
        Poll::Ready(Err(Error::Closed))
    ));
}

struct CountingWaker(Arc<AtomicUsize>);

impl futures::task::ArcWake for CountingWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A panic inside a stream's run of messages (none is expected there; the test hook stands
/// in for, say, a panicking `tracing` subscriber) ends the transport with
/// `CallbackPanicked`, as a callback's panic does, instead of unwinding out of the driver.
#[test]
fn a_panic_in_a_streams_run_ends_the_transport_not_the_driver() {
    let rt = Manual::new();
    let ep = endpoint("run-panic");
    let mut stream = block(StreamBuilder::new(rt.clone(), zmq::PULL).bind(ep.as_str())).unwrap();
    let _push = push_three(&ep);
    let mut driver = rt.take_driver();

    BEFORE_MESSAGE.with(|hook| *hook.borrow_mut() = Some(Box::new(|| panic!("in the run"))));
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_once(&mut driver)));
    BEFORE_MESSAGE.with(|hook| hook.borrow_mut().take());
    assert!(polled.is_ok(), "the panic unwound out of the driver");

    // The driver ends the transport over its next passes.
    let mut ended = false;
    for _ in 0..10 {
        if poll_once(&mut driver).is_ready() {
            ended = true;
            break;
        }
    }
    assert!(ended, "the driver did not finish");
    match block(stream.read()) {
        Err(Error::CallbackPanicked(m)) => assert!(m.contains("in the run"), "{m}"),
        other => panic!("expected CallbackPanicked, got {other:?}"),
    }
    assert!(matches!(block(stream.read()), Err(Error::Closed)));
}
