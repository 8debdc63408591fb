//! An idle transport costs no CPU: once a PUSH/PULL pair has exchanged a message and gone
//! quiet, their drivers are not polled again. Counted, not timed: the runtime is tokio's,
//! wrapped so every poll of a driver task and every readiness poll is counted.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use zmqio_tests::{endpoint_of, Recorder};
use zmqio_tokio::runtime::{Readiness, Runtime, ZmqFd};
use zmqio_tokio::{zmq, ConnectionBuilder, TokioRuntime};

/// What the counting runtime saw.
#[derive(Default)]
struct Counts {
    /// Polls of driver tasks.
    driver_polls: AtomicU64,
    /// Calls of `poll_read_ready` on a `ZMQ_FD` registration.
    readiness_polls: AtomicU64,
}

impl Counts {
    fn snapshot(&self) -> (u64, u64) {
        (
            self.driver_polls.load(Ordering::SeqCst),
            self.readiness_polls.load(Ordering::SeqCst),
        )
    }
}

/// tokio, with counters around the driver task and the readiness registration.
struct CountingRuntime(Arc<Counts>);

struct CountingReadiness {
    inner: Box<dyn Readiness>,
    counts: Arc<Counts>,
}

impl Readiness for CountingReadiness {
    fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.counts.readiness_polls.fetch_add(1, Ordering::SeqCst);
        self.inner.poll_read_ready(cx)
    }
}

struct CountingTask {
    inner: Pin<Box<dyn Future<Output = ()> + Send + 'static>>,
    counts: Arc<Counts>,
}

impl Future for CountingTask {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.counts.driver_polls.fetch_add(1, Ordering::SeqCst);
        self.inner.as_mut().poll(cx)
    }
}

// SAFETY: registration is tokio's (`TokioRuntime` upholds the contract); its `Readiness` is
// kept only inside the `CountingReadiness`, so it is dropped exactly when that one is.
unsafe impl Runtime for CountingRuntime {
    fn register(&self, fd: ZmqFd) -> io::Result<Box<dyn Readiness>> {
        Ok(Box::new(CountingReadiness {
            inner: TokioRuntime.register(fd)?,
            counts: self.0.clone(),
        }))
    }

    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) {
        TokioRuntime.spawn(Box::pin(CountingTask {
            inner: future,
            counts: self.0.clone(),
        }));
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        TokioRuntime.sleep(duration)
    }
}

/// Polls allowed in the quiet window: none are expected; a couple leave room for a late
/// readiness edge of the connection handshake without letting a periodic wakeup through
/// (one every 10 ms would already be 20).
const QUIET_POLLS_MAX: u64 = 2;

#[test]
fn idle_transport_is_not_woken() {
    let fut = async {
        let counts = Arc::new(Counts::default());
        let rt: Arc<dyn Runtime> = Arc::new(CountingRuntime(counts.clone()));
        let (pull_proto, mut pull_events) = Recorder::new();
        let (pull, _) = ConnectionBuilder::new(rt.clone(), move || pull_proto, zmq::PULL)
            .bind("tcp://127.0.0.1:*")
            .await
            .expect("bind");
        let (push_proto, _push_events) = Recorder::new();
        let (push, _) = ConnectionBuilder::new(rt, move || push_proto, zmq::PUSH)
            .connect(endpoint_of(&pull))
            .await
            .expect("connect");

        // One exchange: both drivers run, the connection is up.
        push.write(["hello"]).expect("write");
        assert_eq!(&pull_events.msg().await[0][..], b"hello");
        let (busy, _) = counts.snapshot();
        assert!(busy > 0, "the counting runtime must see the drivers");

        // Let anything the exchange left behind (handshake edges, the write's wake) settle.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (drivers_before, readiness_before) = counts.snapshot();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (drivers_after, readiness_after) = counts.snapshot();
        assert!(
            drivers_after - drivers_before <= QUIET_POLLS_MAX,
            "idle drivers were polled {} times in 200 ms",
            drivers_after - drivers_before
        );
        assert!(
            readiness_after - readiness_before <= QUIET_POLLS_MAX,
            "idle readiness was polled {} times in 200 ms",
            readiness_after - readiness_before
        );

        // Still alive and responsive after the quiet period.
        push.write(["again"]).expect("write");
        assert_eq!(&pull_events.msg().await[0][..], b"again");
        push.close();
        pull.close();
        push.wait_closed().await;
        pull.wait_closed().await;
    };
    zmqio_tests::with_watchdog(
        "idle_transport_is_not_woken",
        zmqio_tests::WATCHDOG,
        fut,
        |f| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime")
                .block_on(f)
        },
    );
}
