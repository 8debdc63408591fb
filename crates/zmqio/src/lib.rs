#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use zmqio_core::*;

/// zmqio on tokio: the whole API, with entry points bound to tokio (the `zmqio-tokio` crate).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> zmqio::Result<()> {
/// let pull = zmqio::tokio::create_zmq_stream(zmqio::SocketType::PULL)
///     .bind("inproc://module-tokio")
///     .await?;
/// pull.close();
/// # Ok(()) }
/// ```
#[cfg(feature = "tokio")]
pub mod tokio {
    pub use zmqio_tokio::*;
}

/// zmqio on smol: the whole API, with entry points bound to smol (the `zmqio-smol` crate).
///
/// ```
/// # fn main() -> zmqio::Result<()> {
/// smol::block_on(async {
///     let pull = zmqio::smol::create_zmq_stream(zmqio::SocketType::PULL)
///         .bind("inproc://module-smol")
///         .await?;
///     pull.close();
///     Ok(())
/// })
/// # }
/// ```
#[cfg(feature = "smol")]
pub mod smol {
    pub use zmqio_smol::*;
}

/// zmqio on async-std: the whole API, with entry points bound to async-std (the
/// `zmqio-async-std` crate). async-std is discontinued upstream; prefer smol.
///
/// ```
/// # fn main() -> zmqio::Result<()> {
/// async_std::task::block_on(async {
///     let pull = zmqio::async_std::create_zmq_stream(zmqio::SocketType::PULL)
///         .bind("inproc://module-async-std")
///         .await?;
///     pull.close();
///     Ok(())
/// })
/// # }
/// ```
#[cfg(feature = "async-std")]
pub mod async_std {
    pub use zmqio_async_std::*;
}

// The root's entry points: smol, else async-std, else tokio. Features are additive (another
// crate in the graph may turn one on), so several may be on at once; a runtime asked for
// explicitly wins over the default one, so `features = ["smol"]` runs the root on smol even
// with tokio (the default) still on. Documented in the README ("Runtimes and features").

#[cfg(feature = "smol")]
pub use zmqio_smol::{
    create_zmq_connection, create_zmq_stream, resolve_endpoint, start_authenticator,
};

#[cfg(all(feature = "async-std", not(feature = "smol")))]
pub use zmqio_async_std::{
    create_zmq_connection, create_zmq_stream, resolve_endpoint, start_authenticator,
};

#[cfg(all(feature = "tokio", not(any(feature = "smol", feature = "async-std"))))]
pub use zmqio_tokio::{
    create_zmq_connection, create_zmq_stream, resolve_endpoint, start_authenticator,
};

/// The runtime the root's entry points ([`create_zmq_connection`], [`create_zmq_stream`],
/// [`resolve_endpoint`], [`start_authenticator`]) run on: `"smol"`, `"async-std"` or `"tokio"`, the first enabled of
/// the features in that order (a runtime enabled explicitly wins over the default, tokio).
///
/// ```
/// println!("zmqio's root API runs on {}", zmqio::RUNTIME);
/// ```
#[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
pub const RUNTIME: &str = if cfg!(feature = "smol") {
    "smol"
} else if cfg!(feature = "async-std") {
    "async-std"
} else {
    "tokio"
};
