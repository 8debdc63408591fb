//! The subcommands, one module each.

pub(crate) mod bench;
pub(crate) mod keygen;
pub(crate) mod monitor;
pub(crate) mod proxy;
pub(crate) mod recv;
pub(crate) mod send;
