//! The scenario suite on smol: `smol::block_on`, with drivers on smol's global executor.

use zmqio_smol as zmqio;

mod rt {
    use std::future::Future;
    use std::time::Duration;

    pub(crate) fn run<F: Future + Send>(name: &str, fut: F) -> F::Output {
        zmqio_tests::with_watchdog(name, zmqio_tests::WATCHDOG, fut, |f| smol::block_on(f))
    }

    /// The adapter's runtime, for `ConnectionBuilder::new` / `StreamBuilder::new` (e.g.
    /// wrapped in a counting runtime).
    #[allow(dead_code)]
    pub(crate) fn runtime() -> std::sync::Arc<dyn zmqio_core::runtime::Runtime> {
        std::sync::Arc::new(zmqio_smol::SmolRuntime)
    }

    #[allow(dead_code)]
    pub(crate) async fn sleep(d: Duration) {
        smol::Timer::after(d).await;
    }

    #[allow(dead_code)]
    pub(crate) fn spawn<T: Send + 'static>(
        f: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> {
        // A smol `Task` cancels its future when dropped; the scenarios expect tokio's
        // behaviour (the task runs on if its handle is dropped), so detach it and hand the
        // output over a channel. A panic in the task drops the sender.
        let (tx, rx) = futures::channel::oneshot::channel();
        smol::spawn(async move {
            let _ = tx.send(f.await);
        })
        .detach();
        async move { rx.await.expect("task panicked") }
    }
}

#[path = "../scenarios/mod.rs"]
mod scenarios;
