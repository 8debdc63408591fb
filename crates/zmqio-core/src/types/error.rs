//! The one error type of zmqio.

use std::fmt;
use std::io;
use std::sync::Arc;

/// The result type of every fallible zmqio call.
///
/// ```
/// use zmqio_core::{Error, Result};
///
/// fn port(text: &str) -> Result<u16> {
///     text.parse()
///         .map_err(|_| Error::InvalidArgument(format!("bad port {text:?}")))
/// }
/// assert_eq!(port("5555"), Ok(5555));
/// assert!(port("x").is_err());
/// ```
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in zmqio.
///
/// Caller misuse ([`InvalidArgument`](Error::InvalidArgument),
/// [`NotSupported`](Error::NotSupported), [`InvalidState`](Error::InvalidState)) is kept
/// apart from faults that libzmq, the peer or the network cause ([`Zmq`](Error::Zmq)).
///
/// # Example
///
/// ```
/// use zmqio_core::Error;
///
/// let err = Error::Zmq(zmq::Error::ENOENT);
/// assert_eq!(err.errno(), Some(zmq::Error::ENOENT.to_raw()));
/// let io: std::io::Error = err.into();
/// assert_eq!(io.raw_os_error(), Some(zmq::Error::ENOENT.to_raw()));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum Error {
    /// libzmq refused the call; the errno is kept (see [`Error::errno`]).
    Zmq(zmq::Error),
    /// An argument had a bad value or shape: watermarks with `high < low`, a tcp connect to a
    /// DNS name, a wrapped socket of another type than asked, malformed monitor frames.
    InvalidArgument(String),
    /// The operation is not valid for this kind of socket, e.g. `subscribe` on a PUB socket.
    NotSupported(String),
    /// The call came in the wrong order, e.g. `pause_reading` twice.
    InvalidState(String),
    /// The transport or stream is closed (or closing) and takes no more work.
    Closed,
    /// A protocol callback panicked; the transport was aborted. The payload's message is kept
    /// where it was a string.
    CallbackPanicked(String),
    /// The runtime or the OS failed: registering the socket's descriptor with the reactor,
    /// or resolving a host name in `resolve_endpoint`.
    Io(Arc<io::Error>),
    /// A bounded wait ended before what it waited for: [`shutdown`](crate::shutdown) or
    /// [`shutdown_context`](crate::shutdown_context) ran out of time. The message says what
    /// was still pending. No errno; converts to an `io::Error` of kind `TimedOut`.
    ///
    /// ```
    /// # mod doc { include!("../shell/doctest_support.rs"); }
    /// # doc::run(async {
    /// use std::time::Duration;
    /// use zmqio_core::{Error, StreamBuilder};
    ///
    /// let ctx = zmq::Context::new();
    /// // A PUSH whose peer never comes: its message cannot be flushed.
    /// let push = StreamBuilder::new(doc::rt(), zmq::PUSH)
    ///     .context(ctx.clone())
    ///     .connect("tcp://127.0.0.1:9")
    ///     .await?;
    /// push.write("stuck")?;
    /// let err = zmqio_core::shutdown_context(ctx, Duration::from_millis(100))
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err, Error::TimedOut(_)), "{err}");
    /// assert_eq!(std::io::Error::from(err).kind(), std::io::ErrorKind::TimedOut);
    /// # Ok::<(), zmqio_core::Error>(())
    /// # });
    /// ```
    TimedOut(String),
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Zmq(a), Self::Zmq(b)) => a == b,
            (Self::InvalidArgument(a), Self::InvalidArgument(b))
            | (Self::NotSupported(a), Self::NotSupported(b))
            | (Self::InvalidState(a), Self::InvalidState(b))
            | (Self::CallbackPanicked(a), Self::CallbackPanicked(b))
            | (Self::TimedOut(a), Self::TimedOut(b)) => a == b,
            (Self::Closed, Self::Closed) => true,
            (Self::Io(a), Self::Io(b)) => {
                a.kind() == b.kind() && a.raw_os_error() == b.raw_os_error()
            }
            _ => false,
        }
    }
}

impl Eq for Error {}

impl Error {
    /// The errno behind this error, where libzmq or the OS reported one.
    ///
    /// ```
    /// use zmqio_core::Error;
    /// assert_eq!(Error::Closed.errno(), None);
    /// assert_eq!(Error::Zmq(zmq::Error::EINVAL).errno(), Some(zmq::Error::EINVAL.to_raw()));
    /// ```
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::Zmq(e) => Some(e.to_raw()),
            Self::Io(e) => e.raw_os_error(),
            _ => None,
        }
    }

    pub(crate) fn invalid_argument(msg: impl Into<String>) -> Self {
        Self::InvalidArgument(msg.into())
    }

    pub(crate) fn not_supported(msg: impl Into<String>) -> Self {
        Self::NotSupported(msg.into())
    }

    pub(crate) fn invalid_state(msg: impl Into<String>) -> Self {
        Self::InvalidState(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Zmq(e) => write!(f, "zmq error: {} (errno {})", e.message(), e.to_raw()),
            Self::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Self::NotSupported(m) => write!(f, "not supported: {m}"),
            Self::InvalidState(m) => write!(f, "invalid state: {m}"),
            Self::Closed => f.write_str("transport is closed"),
            Self::CallbackPanicked(m) => write!(f, "protocol callback panicked: {m}"),
            Self::Io(e) => write!(f, "i/o error: {e}"),
            Self::TimedOut(m) => write!(f, "timed out: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Zmq(e) => Some(e),
            Self::Io(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Self::Io(Arc::new(e))
    }
}

impl From<zmq::Error> for Error {
    fn from(e: zmq::Error) -> Self {
        Self::Zmq(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        use io::ErrorKind;
        match e {
            Error::Zmq(z) => Self::from_raw_os_error(z.to_raw()),
            Error::Io(ref io) if io.raw_os_error().is_some() => {
                Self::from_raw_os_error(io.raw_os_error().unwrap_or_default())
            }
            Error::InvalidArgument(_) => Self::new(ErrorKind::InvalidInput, e),
            Error::NotSupported(_) => Self::new(ErrorKind::Unsupported, e),
            Error::Closed => Self::new(ErrorKind::NotConnected, e),
            Error::TimedOut(_) => Self::new(ErrorKind::TimedOut, e),
            _ => Self::other(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_error_keeps_errno() {
        for z in [
            zmq::Error::EINVAL,
            zmq::Error::ENOENT,
            zmq::Error::EFSM,
            zmq::Error::ETERM,
        ] {
            let io = io::Error::from(Error::Zmq(z));
            assert_eq!(io.raw_os_error(), Some(z.to_raw()));
        }
        let io = io::Error::from(Error::Closed);
        assert_eq!(io.raw_os_error(), None);
        let timed_out = Error::TimedOut("1 transport still closing".into());
        assert_eq!(timed_out.errno(), None);
        let io = io::Error::from(timed_out);
        assert_eq!(io.kind(), io::ErrorKind::TimedOut);
        assert_eq!(io.raw_os_error(), None);
    }

    #[test]
    fn error_is_send_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }
}
