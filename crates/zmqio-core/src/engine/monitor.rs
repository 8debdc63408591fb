//! The reading end of a socket monitor, driven by the same rules as the socket it watches.

use super::{retry, Backend, Engine, EngineEvent, Lifecycle, Step};
use crate::decode_monitor_event;

/// The reading end of a socket monitor.
///
/// libzmq's `zmq_socket_monitor` publishes a socket's events on an inproc PAIR socket. A
/// [`MonitorReader`] owns the other end of that pipe (as a [`Backend`]) and turns what it
/// receives into [`EngineEvent::SocketEvent`]s on the watched socket's [`Engine`], so the
/// protocol gets them through the same `poll_event` queue as everything else.
///
/// # Calling contract
///
/// Like [`Engine::handle_readiness`]: call [`handle_readiness`](Self::handle_readiness) whenever the
/// PAIR's `ZMQ_FD` fired, right after the reader was made (rule 5: a fresh inproc pipe may
/// never signal the fd), and again without waiting whenever it returned [`Step::Again`].
/// Then drain the engine's `poll_event`. On [`Step::Idle`] wait for the PAIR's `ZMQ_FD`; on
/// [`Step::Closed`] stop the monitor, deregister the PAIR's fd, then close the PAIR.
///
/// The reader keeps draining while the engine's *reading* is paused: monitor events are not
/// messages, and a paused protocol still wants to hear that its peer went away.
///
/// # Malformed messages
///
/// A message that [`decode_monitor_event`] rejects (wrong frame count, wrong head length,
/// an endpoint that is not UTF-8) is skipped and counted in
/// [`malformed`](Self::malformed); the reader and the engine stay healthy. libzmq
/// 4.3 never sends such a message, so a skipped one means a foreign sender on the pipe, which
/// must not be able to end the transport.
///
/// # Example
///
/// Over the scripted fake backend (behind the `testing` feature):
///
#[cfg_attr(feature = "testing", doc = "```")]
#[cfg_attr(not(feature = "testing"), doc = "```ignore")]
/// use zmqio_core::engine::fake::FakeBackend;
/// use zmqio_core::engine::{Engine, EngineEvent, MonitorReader, Step};
/// use zmqio_core::MonitorEvent;
///
/// let mut engine = Engine::new(FakeBackend::new(), zmq::DEALER);
/// let mut pair = FakeBackend::new();
/// let head = [MonitorEvent::Connected.code().to_ne_bytes().as_slice(), &9u32.to_ne_bytes()].concat();
/// pair.push_incoming([head, b"tcp://127.0.0.1:5555".to_vec()]);
/// let mut monitor = MonitorReader::new(pair);
///
/// assert_eq!(monitor.handle_readiness(64, &mut engine), Step::Idle);
/// match engine.poll_event() {
///     Some(EngineEvent::SocketEvent(ev)) => assert_eq!(ev.event, MonitorEvent::Connected),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug)]
pub struct MonitorReader<B> {
    backend: B,
    malformed: u64,
}

impl<B: Backend> MonitorReader<B> {
    /// A reader over `backend`, the PAIR socket connected to the monitor's endpoint.
    pub fn new(backend: B) -> Self {
        Self {
            backend,
            malformed: 0,
        }
    }

    /// How many malformed monitor messages were skipped.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// The PAIR's backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The PAIR's backend, mutably (e.g. to script a fake).
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// Gives the PAIR's backend back, to close it once its fd is deregistered.
    pub fn into_backend(self) -> B {
        self.backend
    }

    /// Receives every monitor message the PAIR has (up to `budget`), reading `ZMQ_EVENTS`
    /// again after every pass until it shows no `POLLIN`, and pushes each decoded event to
    /// `engine` (see [`Engine::push_socket_event`]).
    ///
    /// Returns [`Step::Idle`] (wait for the PAIR's fd), [`Step::Again`] (the budget ran out
    /// with messages left: yield and call again) or [`Step::Closed`]: the monitor is finished,
    /// either because `engine` is no longer open (its events would be dropped anyway) or
    /// because the PAIR failed with an errno other than `EAGAIN`/`EINTR`. Such a failure is
    /// fatal for `engine` too, like any other libzmq error of the transport: in practice it
    /// is `ETERM`, which the watched socket gets as well.
    pub fn handle_readiness<E: Backend>(&mut self, budget: usize, engine: &mut Engine<E>) -> Step {
        let mut received = 0;
        loop {
            if engine.lifecycle() != Lifecycle::Open {
                return Step::Closed;
            }
            let events = match retry(|| self.backend.events()) {
                Ok(events) => events,
                Err(e) => {
                    engine.fatal(e);
                    return Step::Closed;
                }
            };
            if !events.contains(zmq::POLLIN) {
                return Step::Idle;
            }
            while received < budget {
                match retry(|| self.backend.recv()) {
                    Ok(msg) => {
                        received += 1;
                        match decode_monitor_event(&msg[..]) {
                            Ok(event) => engine.push_socket_event(event),
                            Err(e) => {
                                crate::types::trace::monitor_frame_dropped(&e);
                                self.malformed += 1;
                            }
                        }
                    }
                    Err(zmq::Error::EAGAIN) => break,
                    Err(e) => {
                        engine.fatal(e);
                        return Step::Closed;
                    }
                }
            }
            if received >= budget {
                return Step::Again;
            }
        }
    }
}

impl<B: Backend> Engine<B> {
    /// Drops the socket events queued for the protocol and not delivered yet; other events
    /// stay, in order. Used when the monitor is disabled, so no event arrives after that.
    pub fn discard_socket_events(&mut self) {
        self.events
            .retain(|e| !matches!(e, EngineEvent::SocketEvent(_)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::{Call, FakeBackend};
    use crate::{Error, MonitorEvent, Multipart, SocketEvent};

    fn frames(event: MonitorEvent, value: u32, endpoint: &str) -> Multipart {
        let head = [event.code().to_ne_bytes().as_slice(), &value.to_ne_bytes()].concat();
        Multipart::from([head, endpoint.as_bytes().to_vec()])
    }

    fn socket_event(event: MonitorEvent, value: u32, endpoint: &str) -> EngineEvent {
        EngineEvent::SocketEvent(SocketEvent {
            event,
            value,
            endpoint: endpoint.to_owned(),
        })
    }

    fn drain(engine: &mut Engine<FakeBackend>) -> Vec<EngineEvent> {
        std::iter::from_fn(|| engine.poll_event()).collect()
    }

    fn setup() -> (Engine<FakeBackend>, MonitorReader<FakeBackend>) {
        (
            Engine::new(FakeBackend::new(), zmq::DEALER),
            MonitorReader::new(FakeBackend::new()),
        )
    }

    #[test]
    fn idle_without_messages_reads_events_once() {
        let (mut engine, mut monitor) = setup();
        assert_eq!(monitor.handle_readiness(8, &mut engine), Step::Idle);
        assert_eq!(monitor.backend().calls(Call::Events), 1);
        assert_eq!(monitor.backend().calls(Call::Recv), 0);
        assert!(drain(&mut engine).is_empty());
    }

    #[test]
    fn decoded_events_reach_the_engine_in_order() {
        let (mut engine, mut monitor) = setup();
        let pair = monitor.backend_mut();
        pair.push_incoming(frames(
            MonitorEvent::ConnectDelayed,
            115,
            "tcp://127.0.0.1:1",
        ));
        pair.push_incoming(frames(MonitorEvent::Connected, 12, "tcp://127.0.0.1:1"));
        pair.push_incoming(frames(
            MonitorEvent::HandshakeSucceeded,
            0,
            "tcp://127.0.0.1:1",
        ));
        assert_eq!(monitor.handle_readiness(8, &mut engine), Step::Idle);
        assert_eq!(
            drain(&mut engine),
            vec![
                socket_event(MonitorEvent::ConnectDelayed, 115, "tcp://127.0.0.1:1"),
                socket_event(MonitorEvent::Connected, 12, "tcp://127.0.0.1:1"),
                socket_event(MonitorEvent::HandshakeSucceeded, 0, "tcp://127.0.0.1:1"),
            ]
        );
        // Drained to EAGAIN, then ZMQ_EVENTS read again before going idle (rule 3).
        assert_eq!(monitor.backend().calls(Call::Recv), 4);
        assert_eq!(monitor.backend().calls(Call::Events), 2);
    }

    #[test]
    fn events_flow_while_reading_is_paused() {
        let (mut engine, mut monitor) = setup();
        engine.pause_reading().unwrap();
        engine.backend_mut().unwrap().push_incoming(["held back"]);
        monitor.backend_mut().push_incoming(frames(
            MonitorEvent::Disconnected,
            7,
            "tcp://127.0.0.1:2",
        ));
        assert_eq!(monitor.handle_readiness(8, &mut engine), Step::Idle);
        assert_eq!(engine.handle_readiness(8), Step::Idle);
        assert_eq!(
            drain(&mut engine),
            vec![socket_event(
                MonitorEvent::Disconnected,
                7,
                "tcp://127.0.0.1:2"
            )]
        );
        assert_eq!(engine.backend().unwrap().inbox_len(), 1);
    }

    #[test]
    fn malformed_messages_are_skipped_and_counted() {
        let (mut engine, mut monitor) = setup();
        let pair = monitor.backend_mut();
        pair.push_incoming(["only one frame"]);
        pair.push_incoming([vec![1u8; 5], b"inproc://x".to_vec()]);
        let head = frames(MonitorEvent::Closed, 3, "")[0].to_vec();
        pair.push_incoming([head, b"tcp://\xff:1".to_vec()]);
        pair.push_incoming(["a", "b", "c"]);
        pair.push_incoming(frames(MonitorEvent::Accepted, 9, "tcp://127.0.0.1:3"));
        assert_eq!(monitor.handle_readiness(8, &mut engine), Step::Idle);
        assert_eq!(monitor.malformed(), 4);
        assert_eq!(engine.lifecycle(), Lifecycle::Open);
        assert_eq!(
            drain(&mut engine),
            vec![socket_event(MonitorEvent::Accepted, 9, "tcp://127.0.0.1:3")]
        );
    }

    #[test]
    fn unknown_event_codes_are_delivered() {
        let (mut engine, mut monitor) = setup();
        monitor
            .backend_mut()
            .push_incoming(frames(MonitorEvent::Unknown(0x8000), 1, "inproc://y"));
        assert_eq!(monitor.handle_readiness(8, &mut engine), Step::Idle);
        assert_eq!(
            drain(&mut engine),
            vec![socket_event(MonitorEvent::Unknown(0x8000), 1, "inproc://y")]
        );
    }

    #[test]
    fn budget_exhaustion_asks_to_be_called_again() {
        let (mut engine, mut monitor) = setup();
        for value in 0..5 {
            monitor.backend_mut().push_incoming(frames(
                MonitorEvent::Connected,
                value,
                "inproc://z",
            ));
        }
        assert_eq!(monitor.handle_readiness(2, &mut engine), Step::Again);
        assert_eq!(drain(&mut engine).len(), 2);
        assert_eq!(monitor.handle_readiness(2, &mut engine), Step::Again);
        assert_eq!(monitor.handle_readiness(2, &mut engine), Step::Idle);
        let values: Vec<u32> = drain(&mut engine)
            .into_iter()
            .map(|e| match e {
                EngineEvent::SocketEvent(ev) => ev.value,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(values, vec![2, 3, 4]);
    }

    #[test]
    fn eintr_is_retried() {
        let (mut engine, mut monitor) = setup();
        let pair = monitor.backend_mut();
        pair.script(Call::Events, Err(zmq::Error::EINTR));
        pair.script(Call::Recv, Err(zmq::Error::EINTR));
        pair.push_incoming(frames(MonitorEvent::Listening, 4, "tcp://127.0.0.1:4"));
        assert_eq!(monitor.handle_readiness(8, &mut engine), Step::Idle);
        assert_eq!(drain(&mut engine).len(), 1);
        assert_eq!(engine.lifecycle(), Lifecycle::Open);
    }

    #[test]
    fn a_failing_pair_is_fatal() {
        let (mut engine, mut monitor) = setup();
        monitor
            .backend_mut()
            .script(Call::Events, Err(zmq::Error::ETERM));
        assert_eq!(monitor.handle_readiness(8, &mut engine), Step::Closed);
        assert_eq!(
            drain(&mut engine),
            vec![EngineEvent::ConnectionLost(Some(Error::Zmq(
                zmq::Error::ETERM
            )))]
        );

        let (mut engine, mut monitor) = setup();
        let pair = monitor.backend_mut();
        pair.push_incoming(frames(MonitorEvent::Connected, 1, "inproc://a"));
        pair.script(Call::Recv, Err(zmq::Error::ENOTSOCK));
        assert_eq!(monitor.handle_readiness(8, &mut engine), Step::Closed);
        assert_eq!(engine.lifecycle(), Lifecycle::Closed);
        assert_eq!(
            drain(&mut engine),
            vec![EngineEvent::ConnectionLost(Some(Error::Zmq(
                zmq::Error::ENOTSOCK
            )))]
        );
    }

    #[test]
    fn a_closing_engine_ends_the_monitor_without_receiving() {
        let (mut engine, mut monitor) = setup();
        monitor
            .backend_mut()
            .push_incoming(frames(MonitorEvent::Connected, 1, "inproc://a"));
        engine.close();
        assert_eq!(monitor.handle_readiness(8, &mut engine), Step::Closed);
        assert_eq!(monitor.backend().calls(Call::Recv), 0);
        assert_eq!(drain(&mut engine), vec![EngineEvent::ConnectionLost(None)]);
    }

    #[test]
    fn discard_keeps_everything_but_socket_events() {
        let (mut engine, mut monitor) = setup();
        engine.set_write_limits(Some(1), None).unwrap();
        engine.backend_mut().unwrap().set_writable(false);
        monitor
            .backend_mut()
            .push_incoming(frames(MonitorEvent::Connected, 1, "inproc://a"));
        assert_eq!(monitor.handle_readiness(8, &mut engine), Step::Idle);
        engine.write(["xy"].into()).unwrap(); // over the high watermark
        engine.backend_mut().unwrap().push_incoming(["msg"]);
        assert_eq!(engine.handle_readiness(8), Step::Idle);
        engine.discard_socket_events();
        assert_eq!(
            drain(&mut engine),
            vec![
                EngineEvent::PauseWriting,
                EngineEvent::Message(Multipart::from(["msg"])),
            ]
        );
    }
}
