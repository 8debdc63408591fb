//! An idle transport costs no CPU: once a PUSH/PULL pair has exchanged a message and gone
//! quiet, their drivers are not polled again. Counted, not timed: the pair runs on a counting
//! wrapper of this runtime ([`zmqio_tests::counting`]), which counts every poll of a driver
//! task and every readiness poll of a `ZMQ_FD`.

use std::time::Duration;

use zmqio_tests::counting::CountingRuntime;
use zmqio_tests::{endpoint_of, Recorder};

use crate::{rt, zmqio};

/// How long the pair is watched while idle.
const QUIET_WINDOW: Duration = Duration::from_secs(1);

/// Polls allowed in the quiet window, for both drivers together: none are expected; one
/// leaves room for a late readiness edge of the connection's handshake. A periodic wake-up of
/// either driver every 500 ms or more often (two or more polls in the window) fails, and one
/// every 100 ms is ten times over.
const QUIET_POLLS_MAX: u64 = 1;

scenario! {
    async fn idle_transport_is_not_woken() {
        let (counting, counts) = CountingRuntime::wrap(rt::runtime());
        let (pull_proto, mut pull_events) = Recorder::new();
        let (pull, _) = zmqio::ConnectionBuilder::new(counting.clone(), move || pull_proto, zmq::PULL)
            .bind("tcp://127.0.0.1:*")
            .await
            .expect("bind");
        let (push_proto, _push_events) = Recorder::new();
        let (push, _) = zmqio::ConnectionBuilder::new(counting, move || push_proto, zmq::PUSH)
            .connect(endpoint_of(&pull))
            .await
            .expect("connect");

        // One exchange: both drivers run, the connection is up.
        push.write(["hello"]).expect("write");
        assert_eq!(&pull_events.msg().await[0][..], b"hello");
        assert!(counts.driver_polls() > 0, "the counting runtime must see the drivers");

        // Let anything the exchange left behind (handshake edges, the write's wake) settle.
        rt::sleep(Duration::from_millis(50)).await;
        let (drivers_before, readiness_before) = (counts.driver_polls(), counts.readiness_polls());
        rt::sleep(QUIET_WINDOW).await;
        let drivers = counts.driver_polls() - drivers_before;
        let readiness = counts.readiness_polls() - readiness_before;
        assert!(
            drivers <= QUIET_POLLS_MAX,
            "idle drivers were polled {drivers} times in {QUIET_WINDOW:?}"
        );
        assert!(
            readiness <= QUIET_POLLS_MAX,
            "idle readiness was polled {readiness} times in {QUIET_WINDOW:?}"
        );

        // Still alive and responsive after the quiet period.
        push.write(["again"]).expect("write");
        assert_eq!(&pull_events.msg().await[0][..], b"again");
        push.close();
        pull.close();
        assert_eq!(push.wait_closed().await, None);
        assert_eq!(pull.wait_closed().await, None);
    }
}
