//! The scenario suite on async-std: `async_std::task::block_on`, drivers spawned with
//! `async_std::task::spawn`.

use zmqio_async_std as zmqio;

mod rt {
    use std::future::Future;
    use std::time::Duration;

    pub(crate) fn run<F: Future + Send>(name: &str, fut: F) -> F::Output {
        zmqio_tests::with_watchdog(name, zmqio_tests::WATCHDOG, fut, |f| {
            async_std::task::block_on(f)
        })
    }

    /// The adapter's runtime, for `ConnectionBuilder::new` / `StreamBuilder::new` (e.g.
    /// wrapped in a counting runtime).
    #[allow(dead_code)]
    pub(crate) fn runtime() -> std::sync::Arc<dyn zmqio_core::runtime::Runtime> {
        std::sync::Arc::new(zmqio_async_std::AsyncStdRuntime)
    }

    #[allow(dead_code)]
    pub(crate) async fn sleep(d: Duration) {
        async_std::task::sleep(d).await;
    }

    #[allow(dead_code)]
    pub(crate) fn spawn<T: Send + 'static>(
        f: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> {
        // Dropping an async-std `JoinHandle` detaches the task, as with tokio; awaiting it
        // resumes the task's panic, if any.
        async_std::task::spawn(f)
    }
}

#[path = "../scenarios/mod.rs"]
mod scenarios;
