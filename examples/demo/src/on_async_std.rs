//! The demo on async-std (discontinued upstream in favour of smol; supported for programs that
//! still run on it).

use zmqio_async_std as zmqio;

// The same file is compiled once per runtime, on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "demo.rs"]
mod demo;

mod rt {
    use std::time::Duration;

    pub(super) async fn sleep(d: Duration) {
        async_std::task::sleep(d).await;
    }
}

/// Runs the demo; `false` if anything failed.
pub(crate) fn run() -> bool {
    async_std::task::block_on(demo::run("async-std"))
}
