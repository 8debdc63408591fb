//! The shared types: plain data used by the engine and the async shell alike.
//!
//! Nothing here calls libzmq on a socket, waits or knows a runtime: errors, messages,
//! monitor-event decoding, typed socket options, endpoint checks and version parsing.

pub(crate) mod endpoint;
pub(crate) mod error;
pub mod monitor;
pub(crate) mod multipart;
pub mod opt;
pub(crate) mod trace;
pub(crate) mod version;
