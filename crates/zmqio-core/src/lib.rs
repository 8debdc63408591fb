//! zmqio-core: the runtime-agnostic core of zmqio.
//!
//! The crate is three layers, one folder each:
//!
//! - [`engine`] — the **sans-IO engine**: the state of one socket (write queue and
//!   watermarks, read pause, subscription/bind/connect sets, lifecycle) and the `ZMQ_FD`
//!   rules, over a [`Backend`](engine::Backend) trait. No async, no clock, no runtime; driven
//!   by `handle_*` inputs and drained with `poll_event`. The property tests and fuzzers drive
//!   it with a scripted fake socket.
//! - `shell/` — the **async shell**: [`ZmqTransport`], [`ZmqProtocol`], [`ZmqStream`], the
//!   builders, the socket monitor's plumbing and the driver task that runs an engine on a
//!   [`runtime`]. It is written once, here; a runtime adapter only lends the primitives of
//!   [`runtime::Runtime`].
//! - `types/` — the **shared types**: [`Error`], [`Multipart`], [`monitor`] events, typed
//!   socket options ([`opt`]), endpoint checks and version parsing. Plain data, used by both
//!   layers above.
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod engine;
#[cfg(feature = "arbitrary")]
#[doc(hidden)]
pub mod fuzzing;
mod shell;
mod types;

#[doc(hidden)]
pub use types::endpoint::{format_tcp_endpoint, resolved_endpoint, tcp_host_to_resolve};
pub use types::error::{Error, Result};
pub use types::monitor::{self, decode_monitor_event, MonitorEvent, MonitorEvents, SocketEvent};
pub use types::multipart::{Multipart, MultipartIter};
pub use types::opt;
pub use types::version::{
    parse_version, version, version_info, ReleaseLevel, VersionInfo, VERSION,
};

pub use shell::builder::{
    default_context, set_default_io_threads, ConnectionBuilder, IntoEndpoints,
};
pub use shell::protocol::ZmqProtocol;
pub use shell::runtime;
pub use shell::stream::{StreamBuilder, ZmqStream, DEFAULT_EVENTS_BACKLOG};
pub use shell::transport::ZmqTransport;

pub use zmq;
pub use zmq::SocketType;
