//! The scenario suite on tokio's multi-thread runtime, with two workers.

use zmqio_tokio as zmqio;

mod rt {
    use std::future::Future;
    use std::time::Duration;

    pub(crate) fn run<F: Future + Send>(name: &str, fut: F) -> F::Output {
        zmqio_tests::with_watchdog(name, zmqio_tests::WATCHDOG, fut, |f| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime")
                .block_on(f)
        })
    }

    /// The adapter's runtime, for `ConnectionBuilder::new` / `StreamBuilder::new` (e.g.
    /// wrapped in a counting runtime).
    #[allow(dead_code)]
    pub(crate) fn runtime() -> std::sync::Arc<dyn zmqio_core::runtime::Runtime> {
        std::sync::Arc::new(zmqio_tokio::TokioRuntime)
    }

    #[allow(dead_code)]
    pub(crate) async fn sleep(d: Duration) {
        tokio::time::sleep(d).await;
    }

    #[allow(dead_code)]
    pub(crate) fn spawn<T: Send + 'static>(
        f: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> {
        let handle = tokio::spawn(f);
        async move { handle.await.expect("task panicked") }
    }
}

#[path = "../scenarios/mod.rs"]
mod scenarios;
