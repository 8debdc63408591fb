//! `set_default_io_threads` before the process-wide context is used: the count takes effect
//! (libzmq really starts that many I/O threads) and can no longer change afterwards.
//! Its own test binary, so no other test has made the process-wide context first.

use zmqio_core::{default_context, set_default_io_threads, Error};

/// The threads of this process. libzmq starts its I/O threads and its reaper when the first
/// socket of a context is made; not every build names them (`ZMQbg/IO/N`), so they are
/// counted as the threads that appear.
#[cfg(target_os = "linux")]
fn threads_running() -> usize {
    std::fs::read_dir("/proc/self/task").expect("tasks").count()
}

#[test]
fn set_before_first_use_takes_effect_then_is_fixed() {
    assert!(matches!(
        set_default_io_threads(0),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        set_default_io_threads(-1),
        Err(Error::InvalidArgument(_))
    ));

    set_default_io_threads(2).expect("before first use");
    let ctx = default_context();
    assert_eq!(ctx.get_io_threads().expect("io threads"), 2);
    #[cfg(target_os = "linux")]
    let threads_before = threads_running();

    // The context works: a message over tcp between two of its sockets.
    let pull = ctx.socket(zmq::PULL).expect("pull");
    pull.set_linger(0).expect("linger");
    pull.bind("tcp://127.0.0.1:*").expect("bind");
    let push = ctx.socket(zmq::PUSH).expect("push");
    push.set_linger(0).expect("linger");
    let endpoint = pull.get_last_endpoint().expect("endpoint").expect("utf-8");
    push.connect(&endpoint).expect("connect");
    push.send("hello", 0).expect("send");
    pull.set_rcvtimeo(10_000).expect("rcvtimeo");
    assert_eq!(pull.recv_bytes(0).expect("recv"), b"hello");
    // Two I/O threads and the reaper.
    #[cfg(target_os = "linux")]
    assert_eq!(threads_running() - threads_before, 2 + 1);

    // Asking again for the count it has is fine; another count is refused, and nothing changed.
    set_default_io_threads(2).expect("same count");
    assert!(matches!(
        set_default_io_threads(3),
        Err(Error::InvalidState(_))
    ));
    assert_eq!(default_context().get_io_threads().expect("io threads"), 2);
}
