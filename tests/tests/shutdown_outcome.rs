//! What `wait_closed()` reports when a tokio runtime shuts down before `connection_lost` could
//! run (a plain test: a scenario cannot watch its own runtime being dropped).
//!
//! Issue 11, item 7. Scenario: a REP's `write` fails fatally while the user holds the
//! protocol's mutex, then the runtime is dropped. Bug: the dropped driver skipped
//! `connection_lost` (it cannot block on the user's lock at shutdown) and `wait_closed()`
//! then said `None`, as if the transport had closed cleanly. Fix: `wait_closed()` reports the
//! error the transport recorded when it was lost, whether or not `connection_lost` ran.

use std::future::IntoFuture;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use zmqio_core::{Error, ZmqProtocol};

/// Counts `connection_lost` calls.
struct CountLost(Arc<Mutex<usize>>);

impl ZmqProtocol for CountLost {
    fn connection_lost(&mut self, _exc: Option<Error>) {
        *self.0.lock().unwrap() += 1;
    }
}

#[test]
fn wait_closed_reports_the_fatal_error_after_a_runtime_shutdown() {
    let efsm = Error::Zmq(zmq::Error::EFSM);
    // A current-thread runtime: dropping it drops the driver task on this thread, while
    // this thread holds the protocol's mutex.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lost = Arc::new(Mutex::new(0));
    let counter = CountLost(lost.clone());
    let (rep, protocol) = rt
        .block_on(zmqio_tokio::create_zmq_connection(move || counter, zmq::REP).into_future())
        .unwrap();
    let held = protocol.lock().unwrap();
    assert_eq!(rep.write(["no request yet"]), Err(efsm.clone()));
    assert_eq!(rep.drain().now_or_never(), Some(Err(efsm.clone())));
    drop(rt); // never blocks, although the protocol is held
    drop(held);
    assert_eq!(rep.wait_closed().now_or_never(), Some(Some(efsm.clone())));
    assert_eq!(rep.drain().now_or_never(), Some(Err(efsm)));
    // Documented: connection_lost was skipped rather than block the shutdown.
    assert_eq!(*lost.lock().unwrap(), 0);
    assert!(rep.is_closing());
}
