//! zmqio-core: the runtime-agnostic core of zmqio.
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod builder;
mod endpoint;
pub mod engine;
mod error;
#[cfg(feature = "arbitrary")]
#[doc(hidden)]
pub mod fuzzing;
pub mod monitor;
mod multipart;
pub mod opt;
mod protocol;
pub mod runtime;
mod shell;
mod stream;
mod transport;
mod transport_monitor;
mod version;

pub use builder::{default_context, ConnectionBuilder, IntoEndpoints};
#[doc(hidden)]
pub use endpoint::{format_tcp_endpoint, resolved_endpoint, tcp_host_to_resolve};
pub use error::{Error, Result};
pub use monitor::{decode_monitor_event, MonitorEvent, MonitorEvents, SocketEvent};
pub use multipart::{Multipart, MultipartIter};
pub use protocol::ZmqProtocol;
pub use stream::{StreamBuilder, ZmqStream, DEFAULT_EVENTS_BACKLOG};
pub use transport::ZmqTransport;
pub use version::{parse_version, version, version_info, ReleaseLevel, VersionInfo, VERSION};
pub use zmq;
pub use zmq::SocketType;
