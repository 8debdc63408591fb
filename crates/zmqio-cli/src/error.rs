//! The tool's outcome: bad input (status 2), a failure while running (status 1), or queued
//! messages dropped on a second Ctrl-C (status 130).

use std::fmt;
use std::process::ExitCode;

use crate::zmqio;

/// Why a command stopped early.
#[derive(Debug)]
pub(crate) enum CliError {
    /// The command line asked for something impossible; the message names the argument.
    Usage(String),
    /// The command ran and failed: a lost connection, a missing capability, an I/O error.
    Failed(String),
    /// A second Ctrl-C dropped what was still waiting to be sent.
    Dropped(String),
}

/// What every command returns.
pub(crate) type CliResult<T = ()> = Result<T, CliError>;

impl CliError {
    /// The process exit status for this error.
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            Self::Usage(_) => ExitCode::from(2),
            Self::Failed(_) => ExitCode::from(1),
            Self::Dropped(_) => ExitCode::from(130),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(m) | Self::Failed(m) | Self::Dropped(m) => f.write_str(m),
        }
    }
}

/// A usage error: status 2.
pub(crate) fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

/// A failure: status 1.
pub(crate) fn failed(msg: impl Into<String>) -> CliError {
    CliError::Failed(msg.into())
}

/// Whether a libzmq error from a bind or connect means the endpoint itself is malformed
/// (as opposed to, say, the address being in use).
pub(crate) fn is_bad_endpoint(err: &zmqio::Error) -> bool {
    use zmqio::zmq::Error as Z;
    match err {
        zmqio::Error::Zmq(e) => matches!(
            e,
            Z::EINVAL | Z::EPROTONOSUPPORT | Z::ENODEV | Z::ENAMETOOLONG | Z::ENOCOMPATPROTO
        ),
        zmqio::Error::InvalidArgument(_) => true,
        _ => false,
    }
}

/// `err` as a short text: libzmq's message alone for libzmq errors.
pub(crate) fn describe(err: &zmqio::Error) -> String {
    match err {
        zmqio::Error::Zmq(e) => e.message().to_owned(),
        other => other.to_string(),
    }
}
