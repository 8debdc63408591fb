//! A tokio runtime built without the I/O driver or without timers: zmqio-tokio needs both
//! (the I/O driver watches `ZMQ_FD`; the driver's back-off and a close's LINGER use the
//! timer). Creating a socket there fails with an error that says which, instead of a panic
//! now (no I/O) or later, inside the driver (no timers), which left a closing transport that
//! never closed.

use std::time::Duration;

use zmqio_tokio as zmqio;

/// Runs `body` on a thread of its own; fails the test if it takes longer than 20 s.
fn watchdog(body: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        body();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("watchdog: took over 20 s"),
    }
}

/// What creating a PUSH with LINGER 100, writing to nobody and closing it comes to.
async fn push_close_with_linger() -> zmqio::Result<()> {
    let push = zmqio::create_zmq_stream(zmq::PUSH)
        .setsockopt(zmqio::opt::Linger, 100)
        .bind("tcp://127.0.0.1:*")
        .await?;
    push.write(["nobody takes this"])?;
    push.close();
    // The LINGER deadline runs on the runtime's timer.
    push.transport().wait_closed().await;
    Ok(())
}

/// A current-thread runtime with the I/O driver and the timers as asked.
fn runtime(io: bool, time: bool) -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    if io {
        builder.enable_io();
    }
    if time {
        builder.enable_time();
    }
    builder.build().unwrap()
}

#[test]
fn without_timers_creating_a_socket_fails_and_says_enable_time() {
    watchdog(|| {
        let err = runtime(true, false)
            .block_on(push_close_with_linger())
            .unwrap_err();
        assert!(err.to_string().contains("enable_time"), "{err}");
    });
}

#[test]
fn without_io_creating_a_socket_fails_and_says_enable_io() {
    watchdog(|| {
        let err = runtime(false, true)
            .block_on(push_close_with_linger())
            .unwrap_err();
        assert!(err.to_string().contains("enable_io"), "{err}");
    });
}

#[test]
fn with_both_the_same_code_runs() {
    watchdog(|| {
        runtime(true, true)
            .block_on(push_close_with_linger())
            .unwrap()
    });
}
