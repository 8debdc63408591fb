//! `set_default_io_threads` after the process-wide context was used is refused: the context
//! keeps libzmq's default of 1. Its own test binary, so the context is fresh at the start.

use zmqio_core::{default_context, set_default_io_threads, Error};

#[test]
fn set_after_first_use_is_an_invalid_state() {
    let ctx = default_context();
    let _sock = ctx.socket(zmq::PAIR).expect("socket");
    let err = set_default_io_threads(2).expect_err("after first use");
    assert!(matches!(err, Error::InvalidState(_)), "{err:?}");
    assert!(err.to_string().contains("already in use"), "{err}");
    assert_eq!(ctx.get_io_threads().expect("io threads"), 1);
    // The count it already has is accepted: nothing to change.
    set_default_io_threads(1).expect("same count");
}
