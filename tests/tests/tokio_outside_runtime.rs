//! zmqio-tokio used from outside a tokio runtime: an error, never a panic, and nothing left
//! behind.
//!
//! Bug: tokio's `AsyncFd` panics when there is no reactor in the calling context. Inside
//! `enable_monitor` that panic skipped the cleanup of a failed start, so libzmq's monitor
//! kept running with its PAIR closed, and its blocking send of the next event (here the
//! `Listening` of a bind) stalled the thread that caused it, for good. A create awaited
//! outside the runtime panicked the same way.
//!
//! Fix: the adapter's `register` returns an error outside a runtime (and the core turns any
//! panicking `register` into an error), so the failed start stops libzmq's monitor and the
//! failed create closes its socket.

use std::future::IntoFuture;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use zmqio_tests::{endpoint_of, Ev, Recorder};
use zmqio_tokio as zmqio;
use zmqio_tokio::{zmq, Error, MonitorEvent};

/// How long the blocking parts may take before the test calls them stuck.
const DEADLINE: Duration = Duration::from_secs(20);

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn enable_monitor_outside_the_runtime_is_an_error_and_the_socket_keeps_working() {
    let rt = tokio_runtime();
    let (server_proto, mut server_events) = Recorder::echo();
    let server = rt.block_on(async {
        zmqio::create_zmq_connection(move || server_proto, zmq::ROUTER)
            .bind("tcp://127.0.0.1:*")
            .await
            .expect("bind")
    });
    let server = server.0;

    // This thread is not in the runtime: no reactor to register the monitor's PAIR with.
    let outside = catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(server.enable_monitor(None))
    }));
    match outside {
        Ok(Err(Error::Io(e))) => assert!(e.to_string().contains("tokio runtime"), "{e}"),
        Ok(other) => panic!("expected an i/o error, got {other:?}"),
        Err(_) => panic!("enable_monitor panicked outside the runtime"),
    }

    zmqio_tests::with_watchdog(
        "enable_monitor_outside_the_runtime",
        zmqio_tests::WATCHDOG,
        async {
            // With libzmq's monitor left running, this bind's `Listening` event would block
            // this very call.
            server.bind("tcp://127.0.0.1:*").await.expect("second bind");
            let (client_proto, mut client_events) = Recorder::new();
            let (client, _) = zmqio::create_zmq_connection(move || client_proto, zmq::DEALER)
                .connect(endpoint_of(&server))
                .await
                .expect("connect");
            client.write(["ping"]).expect("write");
            assert_eq!(&server_events.msg().await[1][..], b"ping");
            assert_eq!(&client_events.msg().await[0][..], b"ping");

            // The monitor can still be started from inside the runtime, and it works.
            server
                .enable_monitor(None)
                .await
                .expect("enable_monitor inside");
            server.bind("tcp://127.0.0.1:*").await.expect("third bind");
            loop {
                if let Ev::Event(ev) = server_events.next().await {
                    if ev.event == MonitorEvent::Listening {
                        break;
                    }
                }
            }
            client.close();
            server.close();
            client.wait_closed().await;
            server.wait_closed().await;
        },
        |f| rt.block_on(f),
    );
}

#[test]
fn create_outside_the_runtime_is_an_error_and_closes_its_socket() {
    let ctx = zmq::Context::new();
    let created = catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(
            zmqio::create_zmq_stream(zmq::PULL)
                .context(ctx.clone())
                .bind("tcp://127.0.0.1:*")
                .into_future(),
        )
    }));
    match created {
        Ok(Err(Error::Io(e))) => assert!(e.to_string().contains("tokio runtime"), "{e}"),
        Ok(Ok(_)) => panic!("expected an i/o error, got a stream"),
        Ok(Err(other)) => panic!("expected an i/o error, got {other:?}"),
        Err(_) => panic!("the create panicked outside the runtime"),
    }
    // The socket was closed: the context terminates (it would wait for an open socket).
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        drop(ctx);
        let _ = tx.send(());
    });
    rx.recv_timeout(DEADLINE)
        .expect("the context did not terminate: the failed create left its socket open");
}
