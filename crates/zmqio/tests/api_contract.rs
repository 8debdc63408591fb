//! The API contract (`API.md`) through the facade: its root (whichever runtime it runs on)
//! and each runtime module enabled. Compiling is the test; the few assertions check what a
//! signature cannot say. The adapter crates are checked the same way by the scenario suite
//! (tests/tests/api_contract.rs).

// Without a runtime feature the root has no entry points, and this checks nothing.
#[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
mod contract;

#[cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]
mod root {
    super::contract::api_contract!(zmqio);
}

#[cfg(feature = "tokio")]
mod tokio_module {
    super::contract::api_contract!(zmqio::tokio);
}

#[cfg(feature = "smol")]
mod smol_module {
    super::contract::api_contract!(zmqio::smol);
}

#[cfg(feature = "async-std")]
mod async_std_module {
    super::contract::api_contract!(zmqio::async_std);
}
