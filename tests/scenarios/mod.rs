//! The scenario suite, written once and compiled once per runtime (see `tests/*.rs`).
//!
//! Each file in `tests/` aliases its adapter crate as `crate::zmqio` and provides `crate::rt`
//! with `run` (block on a future under the watchdog), `sleep`, `spawn` and `runtime` (the
//! adapter's `Runtime`, for `ConnectionBuilder::new` / `StreamBuilder::new`).

/// Declares a scenario: a `#[test]` that runs the async body on this file's runtime under the
/// watchdog.
macro_rules! scenario {
    ($(#[$meta:meta])* async fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            crate::rt::run(stringify!($name), async move $body)
        }
    };
}

mod delivery;
mod end_of_program;
mod endpoints;
mod idle;
mod ipv6;
mod monitor;
mod proxy;
mod reliability;
mod security;
mod stream;
mod transport;
mod write_queue;

use std::future::Future;
use std::time::Duration;

use zmqio_tests::{Events, Recorder};

use crate::{rt, zmqio};

/// Runs stress test `name` on this runtime under the watchdog, one stress test at a time:
/// they share the process-wide context, whose socket limit (libzmq's `ZMQ_MAX_SOCKETS`,
/// 1,023) two of them at once can exhaust (`EMFILE`), and some count descriptors.
fn serial<F: Future<Output = ()> + Send>(name: &str, fut: F) {
    static STRESS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = STRESS.lock().unwrap_or_else(|p| p.into_inner());
    rt::run(name, fut);
}

/// `Some(output)` if `fut` finishes within `d`, else `None` (dropping it).
async fn timeout<F: Future>(d: Duration, fut: F) -> Option<F::Output> {
    let sleep = rt::sleep(d);
    futures::pin_mut!(fut);
    futures::pin_mut!(sleep);
    match futures::future::select(fut, sleep).await {
        futures::future::Either::Left((out, _)) => Some(out),
        futures::future::Either::Right(_) => None,
    }
}

/// A transport of type `t` with a fresh [`Recorder`], bound to `tcp://127.0.0.1:*`.
async fn recorded_bound(t: zmq::SocketType) -> (zmqio::ZmqTransport, Events) {
    let (p, events) = Recorder::new();
    let (transport, _) = zmqio::create_zmq_connection(move || p, t)
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap();
    (transport, events)
}

/// A transport of type `t` with a fresh [`Recorder`], connected to `endpoints`.
async fn recorded_connected(
    t: zmq::SocketType,
    endpoints: impl zmqio::IntoEndpoints,
) -> (zmqio::ZmqTransport, Events) {
    let (p, events) = Recorder::new();
    let (transport, _) = zmqio::create_zmq_connection(move || p, t)
        .connect(endpoints)
        .await
        .unwrap();
    (transport, events)
}
