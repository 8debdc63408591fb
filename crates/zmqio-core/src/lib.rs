//! zmqio-core: the runtime-agnostic core of zmqio.
//!
//! The crate is three layers, one folder each:
//!
//! - [`engine`] — the **sans-IO engine**: the state of one socket (write queue and
//!   watermarks, read pause, subscription/bind/connect sets, lifecycle) and the `ZMQ_FD`
//!   rules, over a [`Backend`](engine::Backend) trait. No async, no clock, no runtime; driven
//!   by `handle_*` inputs and drained with `poll_event`. The property tests and fuzzers drive
//!   it with a scripted fake socket (`engine::fake`, behind the `testing` feature: test
//!   scaffolding that programs never need).
//! - `shell/` — the **async shell**: [`ZmqTransport`], [`ZmqProtocol`], [`ZmqStream`], the
//!   builders, the socket monitor's plumbing and the driver task that runs an engine on a
//!   [`runtime`]. It is written once, here; a runtime adapter only lends the primitives of
//!   [`runtime::Runtime`].
//! - `types/` — the **shared types**: [`Error`], [`Multipart`], [`monitor`] events, typed
//!   socket options ([`opt`]), endpoint checks and version parsing. Plain data, used by both
//!   layers above.
//!
//! Most programs use the `zmqio` crate (or one adapter, `zmqio-tokio`, `zmqio-smol`,
//! `zmqio-async-std`), which re-exports all of this crate. Depend on this crate to run zmqio
//! on another executor: implement [`runtime::Runtime`] (that module's docs have a complete
//! one) and hand it to [`ConnectionBuilder::new`] or [`StreamBuilder::new`].
//!
//! # Run loop
//!
//! The shell's driver task is this loop, once per socket (see [`engine`] for the calling
//! contract). Here it runs by hand, on async-io's reactor, over a real PULL socket: wait for
//! `ZMQ_FD` only after the engine saw `ZMQ_EVENTS` with no wanted bit, drain the events after
//! every input, and call the engine again after every user command.
//!
//! ```
//! use std::os::fd::BorrowedFd;
//! use std::time::Duration;
//!
//! use async_io::{Async, Timer};
//! use zmqio_core::engine::{Engine, EngineEvent, Lifecycle, Step, ZmqBackend};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ctx = zmq::Context::new();
//! let pull = ctx.socket(zmq::PULL)?;
//! let fd = pull.get_fd()?;
//! let mut engine = Engine::new(ZmqBackend::new(pull), zmq::PULL);
//! engine.bind("inproc://run-loop")?;
//!
//! // A peer, with plain blocking libzmq calls.
//! let push = ctx.socket(zmq::PUSH)?;
//! push.connect("inproc://run-loop")?;
//! for i in 0..3 {
//!     push.send(format!("message {i}").as_bytes(), 0)?;
//! }
//!
//! let mut received = Vec::new();
//! async_io::block_on(async {
//!     // Watch ZMQ_FD for read readiness only; libzmq owns the descriptor.
//!     // SAFETY: `fd` is the ZMQ_FD of the socket `engine` holds; `readable` is dropped
//!     // before the socket is closed (after the loop), so the descriptor outlives it.
//!     let readable = Async::new_nonblocking(unsafe { BorrowedFd::borrow_raw(fd) })?;
//!     loop {
//!         // Input: read ZMQ_EVENTS, flush the write queue, receive up to a budget.
//!         let step = engine.handle_readiness(256);
//!         // Output: every event, before anything else.
//!         let mut commanded = false;
//!         while let Some(event) = engine.poll_event() {
//!             match event {
//!                 EngineEvent::Message(msg) => received.push(msg),
//!                 EngineEvent::ConnectionLost(error) => assert!(error.is_none()),
//!                 _ => {}
//!             }
//!             if received.len() == 3 && engine.lifecycle() == Lifecycle::Open {
//!                 engine.close(); // a user command: call the engine again before waiting
//!                 commanded = true;
//!             }
//!         }
//!         if commanded {
//!             continue;
//!         }
//!         match step {
//!             Step::Again => futures::future::ready(()).await, // yield, then go on
//!             Step::Idle => {
//!                 readable.readable().await?; // ZMQ_EVENTS may have changed
//!             }
//!             Step::Blocked => {
//!                 // Wait for the fd, but not for long: its edge may already be gone.
//!                 futures::future::select(
//!                     Box::pin(readable.readable()),
//!                     Box::pin(Timer::after(Duration::from_millis(1))),
//!                 )
//!                 .await;
//!             }
//!             Step::Closed => break,
//!         }
//!     }
//!     drop(readable); // deregister before closing the socket (rule 9)
//!     std::io::Result::Ok(())
//! })?;
//! let socket = engine.take_backend().map(ZmqBackend::into_socket);
//! drop(socket); // zmq_close
//! assert_eq!(received.len(), 3);
//! assert_eq!(&received[2][0][..], b"message 2");
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod engine;
#[cfg(feature = "testing")]
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
// Also at the root, where API.md lists them: `zmqio::GetSocketOpt` as well as `zmqio::opt::..`.
pub use types::opt::{GetSocketOpt, SetSocketOpt};
pub use types::version::{
    parse_version, version, version_info, ReleaseLevel, VersionInfo, VERSION,
};

pub use shell::auth;
pub use shell::builder::{
    default_context, set_default_io_threads, ConnectionBuilder, IntoEndpoints,
};
pub use shell::protocol::ZmqProtocol;
pub use shell::proxy;
pub use shell::runtime;
pub use shell::shutdown::{shutdown, shutdown_context};
pub use shell::stream::{StreamBuilder, ZmqStream, DEFAULT_EVENTS_BACKLOG};
pub use shell::transport::ZmqTransport;

pub use zmq;
pub use zmq::SocketType;
