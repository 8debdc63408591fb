//! The demo on tokio's multi-thread runtime, with two workers.

use zmqio_tokio as zmqio;

// The same file is compiled once per runtime, on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "demo.rs"]
mod demo;

mod rt {
    use std::time::Duration;

    pub(super) async fn sleep(d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// Runs the demo; `false` if anything failed.
pub(crate) fn run() -> bool {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            println!("tokio: cannot start the runtime: {e}\n");
            return false;
        }
    };
    runtime.block_on(demo::run("tokio (multi-thread, 2 workers)"))
}
