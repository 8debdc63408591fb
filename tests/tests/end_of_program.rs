//! A program that writes and returns from `main` after `shutdown` loses nothing.
//!
//! Bug: zmqio's process-wide context was never terminated, so what a program handed to
//! zmqio (or zmqio to libzmq) just before returning from `main` was still queued when the
//! process exited, and was lost: a peer missed the last messages in most runs.
//!
//! Fix: `shutdown(limit)` closes every transport of the process-wide context gracefully,
//! waits until they have flushed, then terminates the context off the runtime's threads,
//! which waits until libzmq has sent everything (LINGER). The child program
//! `src/bin/write_and_exit.rs` writes 10,000 messages to a PULL held here, calls it and
//! exits; this test receives every message, in order, on every runtime.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

const MESSAGES: u64 = 10_000;
/// How long the whole exchange may take on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(60);

fn run_child(runtime: &str) {
    let ctx = zmq::Context::new();
    let pull = ctx.socket(zmq::PULL).unwrap();
    pull.set_linger(0).unwrap();
    pull.set_rcvtimeo(1000).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = pull.get_last_endpoint().unwrap().unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_write_and_exit"))
        .args([runtime, &endpoint, &MESSAGES.to_string()])
        .spawn()
        .expect("start write_and_exit");
    let deadline = Instant::now() + DEADLINE;
    let mut exited_at: Option<Instant> = None;
    let mut next = 0;
    while next < MESSAGES {
        match pull.recv_string(0) {
            Ok(Ok(msg)) => {
                assert_eq!(msg, next.to_string(), "{runtime}: out of order");
                next += 1;
            }
            Ok(Err(_)) => panic!("{runtime}: a message that is not UTF-8"),
            Err(zmq::Error::EAGAIN) => {
                if exited_at.is_none() && exited(&mut child) {
                    exited_at = Some(Instant::now());
                }
                // Once the program is gone, what has not arrived within a few seconds is lost.
                let lost = exited_at.is_some_and(|t| t.elapsed() > Duration::from_secs(5));
                if lost || Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("{runtime}: received {next} of {MESSAGES} messages");
                }
            }
            Err(e) => panic!("{runtime}: recv failed: {e}"),
        }
    }
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{runtime}: the program did not exit after its shutdown");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{runtime}: the program failed: {status}");
}

fn exited(child: &mut Child) -> bool {
    child.try_wait().unwrap().is_some()
}

#[test]
fn written_then_shutdown_is_delivered_on_tokio_multi_thread() {
    run_child("tokio");
}

#[test]
fn written_then_shutdown_is_delivered_on_tokio_current_thread() {
    run_child("tokio-current");
}

#[test]
fn written_then_shutdown_is_delivered_on_smol() {
    run_child("smol");
}

#[test]
fn written_then_shutdown_is_delivered_on_async_std() {
    run_child("async-std");
}
