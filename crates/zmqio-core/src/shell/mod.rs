//! The async shell: the engine run as a task on a runtime, behind the public handles.
//!
//! - [`transport`]: [`ZmqTransport`](crate::ZmqTransport), the `Clone + Send + Sync` handle.
//!   Its methods lock the shared [`State`](driver::State), call the engine, and wake the
//!   driver (rule 6 of the `ZMQ_FD` rules).
//! - [`driver`]: the shared state behind every handle and the driver future, the one task
//!   per socket that waits on `ZMQ_FD`, runs the engine and delivers its events to the
//!   protocol.
//! - [`protocol`]: the [`ZmqProtocol`](crate::ZmqProtocol) callbacks.
//! - [`stream`]: [`ZmqStream`](crate::ZmqStream), a transport with a protocol that queues
//!   what arrives, as a reader/writer, `Stream` and `Sink`.
//! - [`builder`]: the builders that make or wrap the socket, bind, connect and start the
//!   driver.
//! - [`monitor`]: `enable_monitor`/`disable_monitor`: the monitor PAIR, registered beside the
//!   socket's fd and drained by the same driver.
//! - [`proxy`]: [`Proxy`](crate::proxy::Proxy), forwarding between two streams.
//! - [`auth`]: the ZAP handler (an ordinary transport bound at `inproc://zeromq.zap.01`),
//!   with its pure parts (request parsing and the policy in `auth/zap.rs`, certificates and
//!   Z85 keys in `auth/cert.rs`) beside it.
//! - [`runtime`]: the trait a runtime adapter implements: register a descriptor, spawn a task.
//! - [`shutdown`]: ending a program without losing what it wrote ([`shutdown`](crate::shutdown),
//!   [`shutdown_context`](crate::shutdown_context)), the process-wide context and the
//!   registry of live transports.
//!
//! # The driver loop
//!
//! One [`Driver`](driver) future per transport, spawned on the runtime. Each poll:
//!
//! 1. registers its waker, so a user call on another task can wake it (rule 6);
//! 2. under the state lock, drains the monitor PAIR, then calls
//!    [`Engine::handle_readiness`](crate::engine::Engine::handle_readiness), which reads
//!    `ZMQ_EVENTS`, flushes and receives until `ZMQ_EVENTS` shows no wanted bit (or the
//!    receive budget is spent), and wakes `drain()`/`wait_closed()` waiters on progress;
//! 3. with the lock released, delivers the engine's events to the protocol, in order, under
//!    the protocol's mutex, so a callback may call any method of its own transport;
//! 4. acts on the [`Step`](crate::engine::Step): `Again` yields and polls itself again;
//!    `Closed` deregisters the fd, closes the socket and ends; `Idle` waits on `ZMQ_FD` and
//!    the monitor's fd; `Blocked` waits on them and on a back-off timer as well.
//!
//! Waiting is only ever done right after `ZMQ_EVENTS` was read with no wanted bit, so an edge
//! consumed by that read cannot be lost (rules 3 and 7).
//!
//! Callbacks come from the driver only, except `pause_writing`, which runs inside the
//! `write()` (or `set_write_buffer_limits()`) that crossed the high watermark when the
//! protocol is free. Locks are taken in one order: the protocol's mutex, then the state lock;
//! `close()`/`abort()` wait for a `msg_received` running on another thread to return, so that
//! none begins after they return. The [`driver`] module docs say how and why.

pub mod auth;
pub(crate) mod builder;
pub(crate) mod driver;
pub(crate) mod monitor;
pub(crate) mod protocol;
pub mod proxy;
pub mod runtime;
pub(crate) mod shutdown;
pub(crate) mod stream;
pub(crate) mod trace;
pub(crate) mod transport;

pub(crate) use driver::{start, start_receiving_runs};

#[cfg(test)]
mod tests;
