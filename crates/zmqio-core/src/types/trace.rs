//! The `tracing` feature's instrumentation that both layers use: a span per transport and
//! events for what the engine drops. Without the feature every function here is empty and
//! inlined away, and `tracing` is not a dependency. The events about the shell's own types
//! (engine events on their way to the protocol, ZAP decisions) are in `shell::trace`, so
//! this layer imports nothing from the layers above it.
//!
//! Call sites (keep this list in step when moving code): `shell::driver::start` (the span,
//! `connection_made`), `engine::monitor` (malformed monitor frames dropped), `engine`
//! (`flush`: a queued message dropped as unroutable; `note_unroutable`: one a proxy dropped;
//! `handle_linger_expired`: messages dropped by a close's LINGER).

use std::future::Future;

use bytes::Bytes;

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

/// A monitor message that did not decode, dropped.
#[inline(always)]
pub(crate) fn monitor_frame_dropped(error: &Error) {
    #[cfg(feature = "tracing")]
    tracing::warn!(%error, "malformed socket-monitor message dropped");
    #[cfg(not(feature = "tracing"))]
    let _ = error;
}

/// A message dropped because libzmq refused its destination (per-message `EHOSTUNREACH`):
/// a queued one, or one a proxy forwarded; counted in `dropped_unroutable` (`total`, this
/// one included).
#[inline(always)]
pub(crate) fn message_unroutable(
    socket_type: zmq::SocketType,
    routing_id: Option<&Bytes>,
    total: u64,
) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        socket_type = ?socket_type,
        routing_id = ?routing_id,
        dropped_unroutable = total,
        "message dropped: destination unreachable (EHOSTUNREACH)"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (socket_type, routing_id, total);
}

/// A close's LINGER expired with `dropped` messages still queued (counted in
/// `dropped_on_close`, `total` in all). Nothing when none were dropped.
#[inline(always)]
pub(crate) fn dropped_on_close(socket_type: zmq::SocketType, dropped: usize, total: u64) {
    #[cfg(feature = "tracing")]
    if dropped > 0 {
        tracing::warn!(
            socket_type = ?socket_type,
            dropped,
            dropped_on_close = total,
            "close: LINGER expired, queued messages dropped"
        );
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (socket_type, dropped, total);
}
