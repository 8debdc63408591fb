//! The `tracing` feature's instrumentation, in one place: a span per transport and events
//! for what happens to it. Without the feature every function here is empty and inlined
//! away, and `tracing` is not a dependency.
//!
//! Call sites (keep this list in step when moving code): `shell::driver::start` (the span,
//! `connection_made`), `shell::driver::deliver` (every engine event: connection lost, fatal
//! errors, pause/resume writing, monitor events), `engine::monitor` (malformed monitor
//! frames dropped).

use std::future::Future;

use crate::engine::EngineEvent;
use crate::Error;

/// Runs `driver` inside a span naming the transport: `zmqio.transport` with the socket type
/// and the endpoints bound and connected at creation.
#[cfg(feature = "tracing")]
pub(crate) fn instrument<F: Future>(
    driver: F,
    socket_type: zmq::SocketType,
    bindings: &std::collections::BTreeSet<String>,
    connections: &std::collections::BTreeSet<String>,
) -> impl Future<Output = F::Output> {
    use tracing::Instrument;
    let span = tracing::info_span!(
        "zmqio.transport",
        socket_type = ?socket_type,
        bindings = ?bindings,
        connections = ?connections,
    );
    span.in_scope(|| tracing::debug!("connection made"));
    driver.instrument(span)
}

#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(crate) fn instrument<F: Future>(
    driver: F,
    _socket_type: zmq::SocketType,
    _bindings: &std::collections::BTreeSet<String>,
    _connections: &std::collections::BTreeSet<String>,
) -> F {
    driver
}

/// An engine event on its way to the protocol.
#[inline(always)]
pub(crate) fn engine_event(event: &EngineEvent) {
    #[cfg(feature = "tracing")]
    match event {
        EngineEvent::Message(_) => {}
        EngineEvent::PauseWriting => {
            tracing::debug!("pause writing: write queue above high watermark")
        }
        EngineEvent::ResumeWriting => {
            tracing::debug!("resume writing: write queue at low watermark")
        }
        EngineEvent::SocketEvent(ev) => tracing::debug!(
            event = ?ev.event,
            value = ev.value,
            endpoint = %ev.endpoint,
            "monitor event"
        ),
        EngineEvent::ConnectionLost(None) => tracing::debug!("connection lost"),
        EngineEvent::ConnectionLost(Some(error)) => {
            tracing::warn!(%error, errno = ?error.errno(), "connection lost: fatal error")
        }
    }
    #[cfg(not(feature = "tracing"))]
    let _ = event;
}

/// A monitor message that did not decode, dropped.
#[inline(always)]
pub(crate) fn monitor_frame_dropped(error: &Error) {
    #[cfg(feature = "tracing")]
    tracing::warn!(%error, "malformed socket-monitor message dropped");
    #[cfg(not(feature = "tracing"))]
    let _ = error;
}
