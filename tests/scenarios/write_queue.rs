//! zmqio's own write queue: waiters woken by a change of the watermarks, bounds that weigh
//! every message (empty ones included), `close()` under the socket's LINGER, and messages
//! libzmq refuses for their destination only (EHOSTUNREACH on a ROUTER).

use std::time::{Duration, Instant};

use futures::{FutureExt, SinkExt};
use zmqio::opt;
use zmqio_core::Error;
use zmqio_tests::{Ev, Recorder};

use super::timeout;
use crate::{rt, zmqio};

/// A unique inproc endpoint for one scenario.
fn inproc(name: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "inproc://write-queue-{name}-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

// ----- a change of the watermarks wakes its waiters -----

scenario! {
    /// No peer, so nothing will ever be flushed: the only thing that can satisfy a pending
    /// `drain()` is raising the watermarks above what is queued, and that must wake it.
    async fn raising_the_watermarks_wakes_a_pending_drain() {
        let (p, _events) = Recorder::new();
        let (push, _) = zmqio::create_zmq_connection(move || p, zmq::PUSH).await.unwrap();
        push.set_write_buffer_limits(Some(1000), Some(100)).unwrap();
        for _ in 0..20 {
            push.write([vec![0u8; 100]]).unwrap();
        }
        assert!(push.get_write_buffer_size() > 1000);
        let drain = rt::spawn({
            let push = push.clone();
            async move { push.drain().await }
        });
        // Let the drain register as a waiter (it cannot be satisfied yet).
        rt::sleep(Duration::from_millis(50)).await;
        push.set_write_buffer_limits(Some(1 << 20), Some(1 << 18)).unwrap();
        let drained = timeout(Duration::from_secs(5), drain).await;
        assert!(matches!(drained, Some(Ok(()))), "drain never woke: {drained:?}");
        push.abort();
        push.wait_closed().await;
    }
}

scenario! {
    /// The same for a `Sink` waiting to be ready (queue above the high watermark).
    async fn raising_the_watermarks_wakes_a_pending_sink() {
        let mut push = zmqio::create_zmq_stream(zmq::PUSH)
            .write_buffer_limits(Some(1000), None)
            .await
            .unwrap();
        let transport = push.transport().clone();
        for _ in 0..20 {
            push.write([vec![0u8; 100]]).unwrap();
        }
        let send = rt::spawn(async move {
            let r = push.feed(["one more"].into()).await;
            (r, push)
        });
        rt::sleep(Duration::from_millis(50)).await;
        transport.set_write_buffer_limits(Some(1 << 20), None).unwrap();
        let (r, push) = timeout(Duration::from_secs(5), send)
            .await
            .expect("the sink never woke");
        r.unwrap();
        push.transport().abort();
        transport.wait_closed().await;
    }
}
