//! The [`ZmqProtocol`] trait: the callbacks of the transport/protocol pair.

use crate::{Error, Multipart, SocketEvent, ZmqTransport};

/// The callbacks a transport makes, as in aiozmq's `ZmqProtocol`.
///
/// All methods have empty defaults. Callbacks run on the transport's driver task, one at a
/// time, with the protocol's mutex held. The one exception is `pause_writing`, which runs
/// inside the `write` (or `set_write_buffer_limits`) call that crossed the high watermark,
/// on the caller's thread, when the protocol's mutex is free; no other callback ever runs
/// inside a user's call, so calling `write` while holding a lock that `msg_received` takes
/// is safe. Callbacks may call any method of their own transport (`write`, `close`,
/// `abort`, ...) without deadlock. Once `close()` or `abort()` has returned, on whatever
/// thread, no `msg_received` begins. A callback that panics aborts the transport:
/// `connection_lost(Some(Error::CallbackPanicked(..)))` follows and every pending future
/// resolves.
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
    /// `abort()`, `Some(error)` after a fatal error. Called at most once, last.
    ///
    /// It is called exactly once unless the runtime drops the transport's driver task
    /// (a tokio runtime shutting down) while the protocol's mutex is held elsewhere: then the
    /// socket is closed without it rather than block the shutdown.
    /// [`ZmqTransport::wait_closed`] reports the outcome either way.
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
