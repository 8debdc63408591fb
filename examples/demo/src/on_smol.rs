//! The demo on smol: `smol::block_on`, socket drivers on smol's global executor.

use zmqio_smol as zmqio;

// The same file is compiled once per runtime, on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "demo.rs"]
mod demo;

mod rt {
    use std::time::Duration;

    pub(super) async fn sleep(d: Duration) {
        smol::Timer::after(d).await;
    }
}

/// Runs the demo; `false` if anything failed.
pub(crate) fn run() -> bool {
    smol::block_on(demo::run("smol"))
}
