//! The [`ZmqProtocol`] trait: the callbacks of the transport/protocol pair.

use crate::{Error, Multipart, SocketEvent, ZmqTransport};

/// The callbacks a transport makes, as in aiozmq's `ZmqProtocol`.
///
/// All methods have empty defaults. Callbacks run on the transport's driver task (and
/// `pause_writing` may run inside the `write` call that crossed the high watermark), one at a
/// time, with the protocol's mutex held. They may call any method of their own transport
/// (`write`, `close`, `abort`, ...) without deadlock. A callback that panics aborts the
/// transport: `connection_lost(Some(Error::CallbackPanicked(..)))` follows and every pending
/// future resolves.
///
/// # Example
///
/// ```
/// use zmqio_core::{Multipart, ZmqProtocol, ZmqTransport};
///
/// /// Answers every request with the same frames (a REP echo server).
/// #[derive(Default)]
/// struct Echo {
///     transport: Option<ZmqTransport>,
/// }
///
/// impl ZmqProtocol for Echo {
///     fn connection_made(&mut self, transport: &ZmqTransport) {
///         self.transport = Some(transport.clone());
///     }
///     fn msg_received(&mut self, msg: Multipart) {
///         if let Some(t) = &self.transport {
///             let _ = t.write(msg);
///         }
///     }
/// }
/// ```
pub trait ZmqProtocol: Send + 'static {
    /// The transport is ready; called once, before the create future resolves.
    fn connection_made(&mut self, transport: &ZmqTransport) {
        let _ = transport;
    }

    /// The transport is finished: `None` after `close()` (once the queue is flushed) or
    /// `abort()`, `Some(error)` after a fatal error. Called exactly once, last.
    fn connection_lost(&mut self, exc: Option<Error>) {
        let _ = exc;
    }

    /// The write queue rose above the high watermark: stop writing until `resume_writing`.
    fn pause_writing(&mut self) {}

    /// The write queue fell to the low watermark.
    fn resume_writing(&mut self) {}

    /// A message arrived.
    fn msg_received(&mut self, msg: Multipart) {
        let _ = msg;
    }

    /// A socket monitor event arrived (see `ZmqTransport::enable_monitor`).
    fn event_received(&mut self, event: SocketEvent) {
        let _ = event;
    }
}
