//! Shutdown: closing and dropping everything (transports, streams, the runtime itself) never
//! blocks a thread and never panics; and what LINGER does to a context the user owns.
//!
//! These are plain `#[test]`s rather than scenarios: a scenario runs inside `rt::run`, so it
//! cannot watch its own runtime being dropped. Each test runs its runtime on a thread of its
//! own and fails if that thread is still busy after a deadline (a thread stuck in libzmq
//! cannot be cancelled, so each test that can block also knows how to unblock it: bring up
//! the absent peer, so that libzmq can deliver what it was waiting to deliver).
//!
//! tokio runtimes can be dropped, and are. smol and async-std run their tasks on a global
//! executor that lives as long as the process; for them "drop everything" means every handle
//! and stream, with the drivers left running.
//!
//! # LINGER, as verified here
//!
//! - zmqio never changes `ZMQ_LINGER`: it stays libzmq's default, `-1` (wait forever).
//! - The process-wide context ([`zmqio_core::default_context`]) is never terminated, so
//!   closing a socket in it never blocks: `zmq_close` returns at once and libzmq keeps
//!   delivering what it accepted in the background for as long as the process lives (checked
//!   by the reliability scenario `closed_push_still_delivers_with_default_linger`).
//! - A context the user made (`.context(ctx)`) is terminated when its last reference is
//!   dropped, and `zmq_ctx_term` then blocks until every closed socket of it has sent what
//!   libzmq accepted, or its LINGER expired: with the default `-1` and a peer that never comes,
//!   forever ([`user_context_term_waits_for_pending_messages`]). Set `opt::Linger` (e.g. `0`)
//!   on such sockets to bound it ([`user_context_term_with_linger_zero_returns_at_once`]).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Once};
use std::thread;
use std::time::{Duration, Instant};

/// How long a shutdown may take before the test calls it blocked.
const DEADLINE: Duration = Duration::from_secs(15);

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts every panic in the process that is not an assertion of this file (so runtime worker
/// threads count too, where a panicking task would otherwise only print), keeping the default
/// report.
fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let ours = info
                .location()
                .is_some_and(|l| l.file().ends_with("shutdown.rs"));
            if !ours {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

fn assert_no_panics() {
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "something panicked (see the output above)"
    );
}

/// Runs `f` on a thread of its own: `Ok(output)` if it finishes within `limit`, `Err` with the
/// still-running thread's output channel if not. A panic in `f` is resumed here.
fn finishes_within<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, mpsc::Receiver<T>> {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            handle.join().expect("thread finished");
            Ok(v)
        }
        Err(mpsc::RecvTimeoutError::Timeout) => Err(rx),
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(payload) => std::panic::resume_unwind(payload),
            Ok(()) => unreachable!("the thread sends before it finishes"),
        },
    }
}

/// A tcp endpoint nobody listens on (yet): a port the OS just handed out and took back.
fn unused_tcp_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let port = listener.local_addr().expect("local addr").port();
    format!("tcp://127.0.0.1:{port}")
}

/// An inproc endpoint no other test uses (the runtimes' tests share one process).
fn unique_inproc(what: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "inproc://shutdown-{what}-{}",
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// Brings up the absent peer: a plain (blocking) PULL bound on `endpoint` in a context of its
/// own, which receives `n` messages (with a receive timeout, so it cannot hang).
fn late_pull(endpoint: &str, n: usize) -> Vec<Vec<u8>> {
    let ctx = zmq::Context::new();
    let pull = ctx.socket(zmq::PULL).expect("socket");
    pull.set_linger(0).expect("linger");
    pull.set_rcvtimeo(10_000).expect("rcvtimeo");
    let start = Instant::now();
    loop {
        // The port may still be held for a moment by a socket closing in the background.
        match pull.bind(endpoint) {
            Ok(()) => break,
            Err(zmq::Error::EADDRINUSE) if start.elapsed() < Duration::from_secs(10) => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("rebinding {endpoint}: {e}"),
        }
    }
    (0..n)
        .map(|_| {
            pull.recv_bytes(0)
                .expect("the late peer gets the pending message")
        })
        .collect()
}

/// Everything a program might leave behind, none of it closed: returns the transports (for
/// checks after the runtime is gone), the streams (read and dropped after it) and the
/// recorded protocols' callbacks (each must end with exactly one `connection_lost(None)`).
///
/// Two streams are dropped here, inside the runtime, and must close by themselves: one that
/// can never finish flushing (it says it is closing) and one that can (it closes for good).
macro_rules! leave_everything_open {
    ($zmqio:ident) => {{
        use zmqio::{opt, ZmqStream, ZmqTransport};
        use zmqio_tests::{Events, Recorder};
        use $zmqio as zmqio;

        let mut transports: Vec<ZmqTransport> = Vec::new();
        let mut streams: Vec<ZmqStream> = Vec::new();
        let mut recorded: Vec<(ZmqTransport, Events)> = Vec::new();

        // A PUSH with no peer at all: libzmq takes nothing (EAGAIN), so everything waits in
        // zmqio's queue. Dropped at once: it closes and can never finish flushing.
        let push = zmqio::create_zmq_stream(zmq::PUSH).await.unwrap();
        for i in 0..100u8 {
            push.write([vec![i; 1000]]).unwrap();
        }
        assert!(push.transport().get_write_buffer_size() > 0);
        let t = push.transport().clone();
        drop(push);
        assert!(t.is_closing(), "a dropped stream closes by itself");
        assert!(matches!(t.write(["late"]), Err(zmqio_core::Error::Closed)));
        transports.push(t);

        // A PUSH whose peer takes everything: dropped, it closes for good by itself.
        let ep = crate::unique_inproc("flushed");
        let mut pull = zmqio::create_zmq_stream(zmq::PULL)
            .bind(ep.as_str())
            .await
            .unwrap();
        let push = zmqio::create_zmq_stream(zmq::PUSH)
            .connect(ep)
            .await
            .unwrap();
        push.write(["last words"]).unwrap();
        let t = push.transport().clone();
        drop(push);
        assert_eq!(
            t.wait_closed().await,
            None,
            "a dropped stream closes by itself"
        );
        assert_eq!(&pull.read().await.unwrap()[0][..], b"last words");
        transports.push(t);
        transports.push(pull.transport().clone());
        streams.push(pull);

        // A PUSH connected to an endpoint nobody listens on: libzmq's pipe is full (SNDHWM 2)
        // and zmqio queues the rest. Kept open.
        let push = zmqio::create_zmq_stream(zmq::PUSH).await.unwrap();
        push.transport().setsockopt(opt::SndHwm, 2).unwrap();
        push.transport()
            .connect(&crate::unused_tcp_endpoint())
            .await
            .unwrap();
        for i in 0..100u8 {
            push.write([vec![i; 1000]]).unwrap();
        }
        assert!(push.transport().get_write_buffer_size() > 0);
        transports.push(push.transport().clone());
        streams.push(push);

        // A connected PAIR pair over tcp with traffic in flight both ways and unread
        // messages. Kept open.
        let mut a = zmqio::create_zmq_stream(zmq::PAIR)
            .bind("tcp://127.0.0.1:*")
            .await
            .unwrap();
        let ep = a.transport().bindings().into_iter().next().unwrap();
        let b = zmqio::create_zmq_stream(zmq::PAIR)
            .connect(ep)
            .await
            .unwrap();
        b.write(["bounce"]).unwrap();
        assert_eq!(&a.read().await.unwrap()[0][..], b"bounce");
        for i in 0..1000u32 {
            a.write([i.to_be_bytes().to_vec()]).unwrap();
            b.write([i.to_be_bytes().to_vec()]).unwrap();
        }
        transports.push(a.transport().clone());
        transports.push(b.transport().clone());
        streams.push(a);
        streams.push(b);

        // A transport whose protocol holds a clone of it (a reference cycle), with a bound
        // PUB publishing to a SUB. Never closed; the caller keeps no stream for it.
        let ep = crate::unique_inproc("pub");
        let (p, pub_events) = Recorder::new();
        let (publ, _) = zmqio::create_zmq_connection(move || p, zmq::PUB)
            .bind(ep.as_str())
            .await
            .unwrap();
        let (p, sub_events) = Recorder::new();
        let (sub, _) = zmqio::create_zmq_connection(move || p, zmq::SUB)
            .connect(ep)
            .await
            .unwrap();
        sub.subscribe(b"").unwrap();
        for _ in 0..100 {
            publ.write(["news"]).unwrap();
        }
        transports.push(publ.clone());
        transports.push(sub.clone());
        recorded.push((publ, pub_events));
        recorded.push((sub, sub_events));

        // A protocol-driven PUSH with messages queued for a peer that never comes.
        let (p, push_events) = Recorder::new();
        let (push, _) = zmqio::create_zmq_connection(move || p, zmq::PUSH)
            .connect(crate::unused_tcp_endpoint())
            .await
            .unwrap();
        push.setsockopt(opt::SndHwm, 2).unwrap();
        for i in 0..100u8 {
            push.write([vec![i; 1000]]).unwrap();
        }
        assert!(push.get_write_buffer_size() > 0);
        transports.push(push.clone());
        recorded.push((push, push_events));

        // A REP that got a request and never answered.
        let ep = crate::unique_inproc("rep");
        let rep = zmqio::create_zmq_stream(zmq::REP)
            .bind(ep.as_str())
            .await
            .unwrap();
        let req = zmqio::create_zmq_stream(zmq::REQ)
            .connect(ep)
            .await
            .unwrap();
        req.write(["question"]).unwrap();
        transports.push(rep.transport().clone());
        transports.push(req.transport().clone());
        streams.push(rep);
        streams.push(req);

        (transports, streams, recorded)
    }};
}

/// Checks, once every transport is finished, that each recorded protocol got exactly one
/// `connection_lost`, with `None`, as its last callback, and that each stream reads what it
/// still holds and then says it is closed (its own protocol got `connection_lost` too).
fn check_everything_lost(
    recorded: Vec<(zmqio_core::ZmqTransport, zmqio_tests::Events)>,
    streams: &mut [zmqio_core::ZmqStream],
) {
    use futures::FutureExt;
    use zmqio_tests::Ev;
    for (t, mut events) in recorded {
        let events = events.ready();
        let lost: Vec<&Ev> = events.iter().filter(|e| matches!(e, Ev::Lost(_))).collect();
        assert_eq!(lost, [&Ev::Lost(None)], "{t:?}: connection_lost calls");
        assert_eq!(
            events.last(),
            Some(&Ev::Lost(None)),
            "{t:?}: the last callback"
        );
    }
    for s in streams {
        let mut unread = 0;
        loop {
            match s.read().now_or_never() {
                Some(Ok(_)) => unread += 1,
                Some(Err(zmqio_core::Error::Closed)) => break,
                Some(Err(e)) => panic!("{s:?}: read after the close: {e}"),
                None => panic!("{s:?}: a finished stream's read waits (after {unread} messages)"),
            }
        }
    }
}

/// The same tests for one runtime: `$runtime_dropped` says whether `$run` drops its runtime
/// (tasks included) when it returns.
macro_rules! shutdown_tests {
    ($module:ident, $zmqio:ident, $runtime_dropped:expr, $run:expr) => {
        mod $module {
            use std::future::Future;

            use super::*;

            fn run<F: Future + Send + 'static>(fut: F) -> F::Output
            where
                F::Output: Send + 'static,
            {
                #[allow(clippy::redundant_closure_call)]
                ($run)(fut)
            }

            /// Leaves every kind of transport and stream open (queued unsent messages, unread
            /// messages, a REP owing an answer, a protocol holding its own transport), then
            /// returns from the runtime (dropping it, where the runtime can be dropped), then
            /// drops every handle. Nothing may block or panic; where the runtime was dropped,
            /// every transport is closed and says so; elsewhere `abort()` still ends the ones
            /// that could never finish a graceful close. Either way each transport ends with
            /// exactly one `connection_lost(None)` (see [`check_everything_lost`]), and a
            /// stream dropped inside the runtime closes by itself (see
            /// [`leave_everything_open`]).
            #[test]
            fn dropping_everything_never_blocks_or_panics() {
                count_panics();
                let outcome = finishes_within(DEADLINE, || {
                    let (transports, mut streams, recorded) =
                        run(async { leave_everything_open!($zmqio) });
                    if $runtime_dropped {
                        for t in &transports {
                            assert!(t.is_closing(), "{t:?}");
                            assert!(matches!(t.write(["late"]), Err(zmqio_core::Error::Closed)));
                            assert!(t.pause_reading().is_err());
                            assert_eq!(futures::executor::block_on(t.wait_closed()), None);
                        }
                    } else {
                        run(async move {
                            for t in &transports {
                                t.abort();
                                assert_eq!(t.wait_closed().await, None, "{t:?}");
                                assert!(t.is_closing());
                            }
                        });
                    }
                    check_everything_lost(recorded, &mut streams);
                    drop(streams);
                });
                assert!(outcome.is_ok(), "shutdown blocked for {DEADLINE:?}");
                assert_no_panics();
            }

            /// A transport made in a context the caller does not keep holds the last
            /// reference to that context, so the driver that closes its socket also drops
            /// the context; with a message still pending for an absent peer and the default
            /// LINGER (-1), `zmq_ctx_term` would block that runtime thread until the peer
            /// comes (forever, if it never does). The driver hands the context to a thread of
            /// its own instead.
            #[test]
            fn closing_in_an_unkept_context_never_blocks_the_runtime() {
                count_panics();
                let endpoint = unused_tcp_endpoint();
                let ep = endpoint.clone();
                let outcome = finishes_within(DEADLINE, move || {
                    run(async move {
                        use $zmqio as zmqio;
                        let push = zmqio::create_zmq_stream(zmq::PUSH)
                            .context(zmq::Context::new())
                            .connect(ep)
                            .await
                            .unwrap();
                        // The connecting side has a pipe at once: libzmq accepts this.
                        push.write(["pending"]).unwrap();
                        push.close();
                        push.transport().wait_closed().await
                    })
                });
                if let Err(still_running) = outcome {
                    // Unblock the stuck thread before failing: give libzmq its peer.
                    assert_eq!(late_pull(&endpoint, 1), vec![b"pending".to_vec()]);
                    let _ = still_running.recv_timeout(DEADLINE);
                    panic!(
                        "closing a transport whose context nobody else holds blocked the \
                         runtime thread in zmq_ctx_term until the peer came"
                    );
                }
                assert_eq!(outcome.ok().flatten(), None);
                assert_no_panics();
            }
        }
    };
}

shutdown_tests!(tokio_current_thread, zmqio_tokio, true, |fut| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let out = rt.block_on(fut);
    drop(rt);
    out
});

shutdown_tests!(tokio_multi_thread, zmqio_tokio, true, |fut| {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let out = rt.block_on(fut);
    drop(rt);
    out
});

shutdown_tests!(smol, zmqio_smol, false, ::smol::block_on);

shutdown_tests!(
    async_std,
    zmqio_async_std,
    false,
    ::async_std::task::block_on
);

/// Runs `fut` on a fresh tokio current-thread runtime and drops the runtime.
fn on_tokio<F: Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(fut)
}

/// How `close_with_pending` hands the user's context to zmqio.
#[derive(Clone, Copy)]
enum Handover {
    /// `.context(ctx)`: zmqio makes the socket and holds a context handle of its own, which it
    /// releases on a thread of its own some time after the close.
    Context,
    /// `.zmq_sock(socket)`: the caller makes the socket; zmqio holds no context handle besides
    /// the socket's own, which is gone once `wait_closed` returned (the socket is closed).
    Socket,
}

/// Closes a PUSH made in the user's `ctx`, with `messages` pending for the absent peer at
/// `endpoint` and the given LINGER (`None`: libzmq's default).
fn close_with_pending(
    ctx: &zmq::Context,
    endpoint: &str,
    linger: Option<i32>,
    messages: usize,
    handover: Handover,
) {
    let (ctx, endpoint) = (ctx.clone(), endpoint.to_owned());
    on_tokio(async move {
        let builder = zmqio_tokio::create_zmq_stream(zmq::PUSH);
        let builder = match handover {
            Handover::Context => builder.context(ctx),
            Handover::Socket => builder.zmq_sock(ctx.socket(zmq::PUSH).unwrap()),
        };
        let push = builder.connect(endpoint).await.unwrap();
        assert_eq!(
            push.transport()
                .getsockopt(zmqio_tokio::opt::Linger)
                .unwrap(),
            -1
        );
        if let Some(linger) = linger {
            push.transport()
                .setsockopt(zmqio_tokio::opt::Linger, linger)
                .unwrap();
        }
        for i in 0..messages {
            push.write([format!("pending {i}")]).unwrap();
        }
        // libzmq took them all (under SNDHWM), so the graceful close finishes at once.
        assert_eq!(push.transport().get_write_buffer_size(), 0);
        push.close();
        assert_eq!(push.transport().wait_closed().await, None);
    });
}

/// libzmq's rule, which zmqio leaves as it is: with the default LINGER (-1), terminating a
/// context (dropping its last `zmq::Context`) waits until every message its closed sockets
/// accepted is sent; here, until the absent peer comes up and takes them. (Which thread runs
/// `zmq_ctx_term` is not fixed: the closed transport releases its own handle on a thread of
/// its own, which may be the last one. Either way the messages survive the close and the
/// termination, and the termination finishes once they are sent.)
#[test]
fn user_context_term_waits_for_pending_messages() {
    let ctx = zmq::Context::new();
    let endpoint = unused_tcp_endpoint();
    close_with_pending(&ctx, &endpoint, None, 3, Handover::Context);
    let (tx, rx) = mpsc::channel();
    let term = thread::spawn(move || {
        drop(ctx); // possibly the last reference: zmq_ctx_term
        let _ = tx.send(());
    });
    let got = late_pull(&endpoint, 3);
    assert_eq!(
        got,
        ["pending 0", "pending 1", "pending 2"].map(|s| s.as_bytes().to_vec())
    );
    rx.recv_timeout(DEADLINE)
        .expect("zmq_ctx_term returns once the pending messages are sent");
    term.join().unwrap();
}

/// With LINGER 0, the same termination returns at once and the pending messages are dropped.
///
/// The drop timed here must be the one that terminates the context: the socket is handed
/// over with `zmq_sock`, so zmqio's only context handle is the socket's own, which is gone
/// once `wait_closed` returned; the test's `ctx` is then the last handle. (With
/// `.context(ctx)`, zmqio's own handle is released on a thread of its own, which may run
/// after the test's drop and then be the one that blocks, unseen.)
#[test]
fn user_context_term_with_linger_zero_returns_at_once() {
    let ctx = zmq::Context::new();
    let endpoint = unused_tcp_endpoint();
    close_with_pending(&ctx, &endpoint, Some(0), 3, Handover::Socket);
    let outcome = finishes_within(Duration::from_secs(5), move || drop(ctx));
    if let Err(still_running) = outcome {
        // Unblock the stuck thread before failing: give libzmq its peer.
        late_pull(&endpoint, 3);
        let _ = still_running.recv_timeout(DEADLINE);
        panic!("zmq_ctx_term blocked despite LINGER 0");
    }
}
