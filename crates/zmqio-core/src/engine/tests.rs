//! Engine unit tests against the fake backend.
//!
//! One group per row of the semantics table (DESIGN.md section 3, monitor row excepted), then
//! one scripted sequence per `ZMQ_FD` rule of section 2 that the engine is responsible for.
//! [`Probe`] wraps [`FakeBackend`] to record the order of calls and to model a socket whose
//! `POLLOUT` and send results can be steered independently.

use bytes::Bytes;

use super::fake::{Call, FakeBackend};
use super::*;

const BUDGET: usize = 64;

/// A [`FakeBackend`] that also logs every call in order, can limit how many frames it
/// accepts (`send_credit`), and can refuse every send while still reporting `POLLOUT`
/// (`refuse_sends`, as libzmq does for a ROUTER with `ROUTER_MANDATORY` whose peer is full).
#[derive(Debug)]
struct Probe {
    fake: FakeBackend,
    log: Vec<Call>,
    /// `Some(n)`: accept `n` more frames, then `EAGAIN` and no `POLLOUT`.
    send_credit: Option<usize>,
    refuse_sends: bool,
}

impl Probe {
    fn new() -> Self {
        Self {
            fake: FakeBackend::new(),
            log: Vec::new(),
            send_credit: None,
            refuse_sends: false,
        }
    }

    /// Forgets the call log, so the next assertions see only what follows.
    fn clear_log(&mut self) {
        self.log.clear();
    }
}

impl Backend for Probe {
    fn events(&mut self) -> zmq::Result<zmq::PollEvents> {
        self.log.push(Call::Events);
        assert!(
            self.log.len() < 10_000,
            "the engine spins: {:?}",
            &self.log[..8]
        );
        let mut ev = self.fake.events()?;
        if self.send_credit == Some(0) {
            ev.remove(zmq::POLLOUT);
        }
        Ok(ev)
    }

    fn send_frame(&mut self, frame: &Bytes, more: bool) -> zmq::Result<()> {
        self.log.push(Call::Send);
        if self.refuse_sends || self.send_credit == Some(0) {
            return Err(zmq::Error::EAGAIN);
        }
        self.fake.send_frame(frame, more)?;
        if let Some(credit) = self.send_credit.as_mut() {
            *credit -= 1;
        }
        Ok(())
    }

    fn recv(&mut self) -> zmq::Result<Multipart> {
        self.log.push(Call::Recv);
        self.fake.recv()
    }

    fn bind(&mut self, endpoint: &str) -> zmq::Result<String> {
        self.log.push(Call::Bind);
        self.fake.bind(endpoint)
    }

    fn unbind(&mut self, endpoint: &str) -> zmq::Result<()> {
        self.log.push(Call::Unbind);
        self.fake.unbind(endpoint)
    }

    fn connect(&mut self, endpoint: &str) -> zmq::Result<()> {
        self.log.push(Call::Connect);
        self.fake.connect(endpoint)
    }

    fn disconnect(&mut self, endpoint: &str) -> zmq::Result<()> {
        self.log.push(Call::Disconnect);
        self.fake.disconnect(endpoint)
    }

    fn set_subscription(&mut self, value: &[u8], on: bool) -> zmq::Result<()> {
        self.log.push(Call::Subscription);
        self.fake.set_subscription(value, on)
    }
}

fn engine(socket_type: zmq::SocketType) -> Engine<FakeBackend> {
    Engine::new(FakeBackend::new(), socket_type)
}

fn probe_engine(socket_type: zmq::SocketType) -> Engine<Probe> {
    Engine::new(Probe::new(), socket_type)
}

fn fake(e: &mut Engine<FakeBackend>) -> &mut FakeBackend {
    e.backend_mut().expect("backend still open")
}

fn probe(e: &mut Engine<Probe>) -> &mut Probe {
    e.backend_mut().expect("backend still open")
}

fn events<B: Backend>(e: &mut Engine<B>) -> Vec<EngineEvent> {
    std::iter::from_fn(|| e.poll_event()).collect()
}

fn msg(frames: &[&str]) -> Multipart {
    frames
        .iter()
        .map(|f| Bytes::copy_from_slice(f.as_bytes()))
        .collect()
}

fn lost(events: &[EngineEvent]) -> Vec<&Option<Error>> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::ConnectionLost(err) => Some(err),
            _ => None,
        })
        .collect()
}

fn is_errno(r: Result<impl std::fmt::Debug>, errno: zmq::Error) -> bool {
    matches!(r, Err(Error::Zmq(e)) if e == errno)
}

// ----- write -----

#[test]
fn write_of_empty_message_is_a_noop() {
    let mut e = engine(zmq::PUSH);
    e.write(Multipart::new()).unwrap();
    assert_eq!(fake(&mut e).calls(Call::Send), 0);
    assert_eq!(e.queued_messages(), 0);
    assert!(fake(&mut e).sent().is_empty());
    assert_eq!(events(&mut e), vec![]);

    // Not even queued behind a blocked message.
    fake(&mut e).set_writable(false);
    e.write(msg(&["x"])).unwrap();
    e.write(Multipart::new()).unwrap();
    assert_eq!(e.queued_messages(), 1);
}

#[test]
fn write_of_one_empty_frame_sends_one_empty_frame() {
    let mut e = engine(zmq::PUSH);
    e.write(Multipart::from([Bytes::new()])).unwrap();
    assert_eq!(fake(&mut e).sent(), &[Multipart::from([Bytes::new()])]);
    assert_eq!(fake(&mut e).sent()[0].len(), 1);
}

#[test]
fn write_with_empty_queue_sends_at_once() {
    let mut e = engine(zmq::PUSH);
    e.write(msg(&["a", "b"])).unwrap();
    // No handle_readiness needed: the send happened inside write.
    assert_eq!(fake(&mut e).sent(), &[msg(&["a", "b"])]);
    assert_eq!(e.queued_messages(), 0);
    assert_eq!(e.queued_bytes(), 0);
}

#[test]
fn write_on_eagain_queues_the_whole_multipart() {
    let mut e = engine(zmq::PUSH);
    fake(&mut e).set_writable(false);
    e.write(msg(&["one", "two", "three"])).unwrap();
    assert_eq!(e.queued_messages(), 1);
    assert_eq!(e.queued_bytes(), 11);
    assert!(fake(&mut e).sent().is_empty());
    assert!(fake(&mut e).partial().is_empty());

    fake(&mut e).set_writable(true);
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(fake(&mut e).sent(), &[msg(&["one", "two", "three"])]);
    assert_eq!(e.queued_bytes(), 0);
}

#[test]
fn write_behind_a_queued_message_keeps_fifo_order() {
    let mut e = engine(zmq::PUSH);
    fake(&mut e).set_writable(false);
    e.write(msg(&["1"])).unwrap();
    fake(&mut e).set_writable(true);
    // The queue is not empty: this one must not overtake the first.
    e.write(msg(&["2"])).unwrap();
    assert!(fake(&mut e).sent().is_empty());
    assert_eq!(e.queued_messages(), 2);
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(fake(&mut e).sent(), &[msg(&["1"]), msg(&["2"])]);
}

#[test]
fn eagain_on_second_frame_never_exposes_half_a_multipart() {
    let mut e = engine(zmq::PUSH);
    // Frame 1 is accepted, frame 2 is refused once.
    fake(&mut e).script(Call::Send, Ok(()));
    fake(&mut e).script(Call::Send, Err(zmq::Error::EAGAIN));
    e.write(msg(&["a", "b", "c"])).unwrap();
    e.write(msg(&["d"])).unwrap();
    // The peer sees nothing yet: no partial message among the complete ones.
    assert!(fake(&mut e).sent().is_empty());
    assert_eq!(e.queued_messages(), 2);
    assert_eq!(e.queued_bytes(), 4);

    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    // Whole, in order, and no frame sent twice: a, b(EAGAIN), b, c, d.
    assert_eq!(fake(&mut e).sent(), &[msg(&["a", "b", "c"]), msg(&["d"])]);
    assert!(fake(&mut e).partial().is_empty());
    assert_eq!(fake(&mut e).calls(Call::Send), 5);
    assert_eq!(e.queued_bytes(), 0);
}

#[test]
fn eagain_mid_multipart_while_flushing_resumes_at_the_next_frame() {
    let mut e = probe_engine(zmq::PUSH);
    probe(&mut e).send_credit = Some(0);
    e.write(msg(&["a", "b", "c"])).unwrap();
    // Two frames go out, then the socket is full in the middle of the message.
    probe(&mut e).send_credit = Some(2);
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert!(probe(&mut e).fake.sent().is_empty());
    assert_eq!(e.queued_messages(), 1);

    probe(&mut e).send_credit = None;
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(probe(&mut e).fake.sent(), &[msg(&["a", "b", "c"])]);
    assert_eq!(probe(&mut e).fake.calls(Call::Send), 3);
}

#[test]
fn fatal_send_error_in_write_is_returned_and_loses_the_connection_once() {
    let mut e = engine(zmq::PUSH);
    fake(&mut e).script(Call::Send, Err(zmq::Error::ETERM));
    assert!(is_errno(e.write(msg(&["x"])), zmq::Error::ETERM));
    assert_eq!(e.lifecycle(), Lifecycle::Closed);
    assert_eq!(
        events(&mut e),
        vec![EngineEvent::ConnectionLost(Some(Error::Zmq(
            zmq::Error::ETERM
        )))]
    );
    assert_eq!(e.write(msg(&["y"])), Err(Error::Closed));
    assert_eq!(e.handle_readiness(BUDGET), Step::Closed);
    e.abort();
    e.close();
    assert_eq!(events(&mut e), vec![]);
}

#[test]
fn fatal_send_error_while_flushing_loses_the_connection_once() {
    let mut e = engine(zmq::PUSH);
    e.set_write_limits(Some(1), None).unwrap();
    fake(&mut e).set_writable(false);
    e.write(msg(&["queued"])).unwrap();
    assert_eq!(events(&mut e), vec![EngineEvent::PauseWriting]);

    fake(&mut e).set_writable(true);
    fake(&mut e).script(Call::Send, Err(zmq::Error::EHOSTUNREACH));
    assert_eq!(e.handle_readiness(BUDGET), Step::Closed);
    let evs = events(&mut e);
    // Lost once, with the error, and no resume_writing for the dropped queue.
    assert_eq!(
        evs,
        vec![EngineEvent::ConnectionLost(Some(Error::Zmq(
            zmq::Error::EHOSTUNREACH
        )))]
    );
    assert_eq!(e.queued_bytes(), 0);
    assert_eq!(e.handle_readiness(BUDGET), Step::Closed);
    assert_eq!(events(&mut e), vec![]);
    assert!(e.take_backend().is_some());
}

// ----- per-message send errors (issue 18) -----

/// A ROUTER's `EHOSTUNREACH` (no peer with that routing id) from a write with an empty queue
/// is that write's error only: returned, nothing queued, the transport open.
#[test]
fn unroutable_write_is_returned_and_keeps_the_router_open() {
    let mut e = engine(zmq::ROUTER);
    fake(&mut e).script(Call::Send, Err(zmq::Error::EHOSTUNREACH));
    assert!(is_errno(
        e.write(msg(&["nobody", "hello"])),
        zmq::Error::EHOSTUNREACH
    ));
    assert_eq!(e.lifecycle(), Lifecycle::Open);
    assert_eq!((e.queued_messages(), e.queued_bytes()), (0, 0));
    assert_eq!(e.dropped_unroutable(), 0, "returned, not dropped silently");
    assert_eq!(events(&mut e), vec![]);
    // The socket goes on serving.
    e.write(msg(&["peer", "answer"])).unwrap();
    assert_eq!(fake(&mut e).sent(), &[msg(&["peer", "answer"])]);
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
}

/// A queued message whose peer left meanwhile: dropped and counted, the flush goes on with
/// the next messages, the transport stays open, and the shrinking queue is progress.
#[test]
fn unroutable_queued_message_is_dropped_counted_and_the_flush_goes_on() {
    let mut e = engine(zmq::ROUTER);
    e.set_write_limits(Some(10), Some(0)).unwrap();
    fake(&mut e).set_writable(false);
    e.write(msg(&["gone", "a"])).unwrap();
    e.write(msg(&["peer", "b"])).unwrap();
    e.write(msg(&["gone", "c"])).unwrap();
    e.write(msg(&["peer", "d"])).unwrap();
    assert_eq!(events(&mut e), vec![EngineEvent::PauseWriting]);
    e.take_progress();

    fake(&mut e).set_writable(true);
    fake(&mut e).script(Call::Send, Err(zmq::Error::EHOSTUNREACH)); // "gone", "a"
    fake(&mut e).script(Call::Send, Ok(())); // "peer"
    fake(&mut e).script(Call::Send, Ok(())); // "b"
    fake(&mut e).script(Call::Send, Err(zmq::Error::EHOSTUNREACH)); // "gone", "c"
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(
        fake(&mut e).sent(),
        &[msg(&["peer", "b"]), msg(&["peer", "d"])]
    );
    assert_eq!(e.dropped_unroutable(), 2);
    assert_eq!(e.lifecycle(), Lifecycle::Open);
    assert_eq!((e.queued_messages(), e.queued_bytes()), (0, 0));
    assert!(e.take_progress());
    assert_eq!(events(&mut e), vec![EngineEvent::ResumeWriting]);
    // A close afterwards is graceful.
    e.close();
    assert_eq!(events(&mut e), vec![EngineEvent::ConnectionLost(None)]);
}

/// Only the per-message case is per message: `EHOSTUNREACH` on a socket that does not route
/// by id, or after a frame of the message was accepted (the message could not be abandoned
/// whole), and `EFSM` on REQ stay fatal.
#[test]
fn other_send_errors_stay_fatal() {
    let lost_with = |e: &mut Engine<FakeBackend>, errno| {
        assert_eq!(e.lifecycle(), Lifecycle::Closed);
        assert_eq!(
            events(e),
            vec![EngineEvent::ConnectionLost(Some(Error::Zmq(errno)))]
        );
    };
    let mut e = engine(zmq::DEALER);
    fake(&mut e).script(Call::Send, Err(zmq::Error::EHOSTUNREACH));
    assert!(is_errno(e.write(msg(&["x"])), zmq::Error::EHOSTUNREACH));
    lost_with(&mut e, zmq::Error::EHOSTUNREACH);

    let mut e = engine(zmq::ROUTER);
    fake(&mut e).script(Call::Send, Ok(()));
    fake(&mut e).script(Call::Send, Err(zmq::Error::EHOSTUNREACH));
    assert!(is_errno(
        e.write(msg(&["peer", "x"])),
        zmq::Error::EHOSTUNREACH
    ));
    lost_with(&mut e, zmq::Error::EHOSTUNREACH);

    let mut e = engine(zmq::ROUTER);
    fake(&mut e).script(Call::Send, Err(zmq::Error::ETERM));
    assert!(is_errno(e.write(msg(&["peer", "x"])), zmq::Error::ETERM));
    lost_with(&mut e, zmq::Error::ETERM);

    let mut e = engine(zmq::REQ);
    fake(&mut e).script(Call::Send, Err(zmq::Error::EFSM));
    assert!(is_errno(e.write(msg(&["again"])), zmq::Error::EFSM));
    lost_with(&mut e, zmq::Error::EFSM);
}

// ----- watermarks -----

#[test]
fn default_limits_are_low_16k_high_64k() {
    let e = engine(zmq::PUSH);
    assert_eq!(e.write_limits(), (16384, 65536));
}

#[test]
fn only_low_gives_high_four_times_low_and_only_high_gives_low_a_quarter() {
    let mut e = engine(zmq::PUSH);
    e.set_write_limits(None, Some(100)).unwrap();
    assert_eq!(e.write_limits(), (100, 400));
    e.set_write_limits(Some(1000), None).unwrap();
    assert_eq!(e.write_limits(), (250, 1000));
    e.set_write_limits(None, None).unwrap();
    assert_eq!(e.write_limits(), (16384, 65536));
    e.set_write_limits(Some(0), Some(0)).unwrap();
    assert_eq!(e.write_limits(), (0, 0));
}

#[test]
fn high_below_low_is_invalid_argument_and_keeps_the_limits() {
    let mut e = engine(zmq::PUSH);
    e.set_write_limits(Some(100), Some(10)).unwrap();
    assert!(matches!(
        e.set_write_limits(Some(1), Some(2)),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(e.write_limits(), (10, 100));
}

#[test]
fn pause_writing_fires_once_when_strictly_above_high() {
    let mut e = engine(zmq::PUSH);
    // A frame weighs its bytes plus FRAME_OVERHEAD (32).
    e.set_write_limits(Some(42), Some(2)).unwrap();
    fake(&mut e).set_writable(false);
    e.write(msg(&["0123456789"])).unwrap(); // weighs exactly high: no pause
    assert_eq!(e.queued_bytes(), 10);
    assert_eq!(e.queued_weight(), 42);
    assert_eq!(events(&mut e), vec![]);
    assert!(!e.is_writing_paused());
    e.write(msg(&[""])).unwrap(); // 42 + 32 > 42
    assert_eq!(events(&mut e), vec![EngineEvent::PauseWriting]);
    e.write(msg(&["more"])).unwrap();
    e.write(msg(&["and more"])).unwrap();
    assert_eq!(events(&mut e), vec![]);
    assert!(e.is_writing_paused());
}

#[test]
fn resume_writing_fires_once_at_or_below_low() {
    let mut e = probe_engine(zmq::PUSH);
    // Each message weighs 2 + 32 = 34.
    e.set_write_limits(Some(170), Some(68)).unwrap();
    probe(&mut e).send_credit = Some(0);
    for _ in 0..6 {
        e.write(msg(&["ab"])).unwrap(); // 6 * 34 = 204 queued in the end
    }
    assert_eq!(events(&mut e), vec![EngineEvent::PauseWriting]);

    // 204 -> 102: still above low.
    probe(&mut e).send_credit = Some(3);
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!((e.queued_bytes(), e.queued_weight()), (6, 102));
    assert_eq!(events(&mut e), vec![]);
    // 102 -> 68 = low: resume.
    probe(&mut e).send_credit = Some(1);
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!((e.queued_bytes(), e.queued_weight()), (4, 68));
    assert_eq!(events(&mut e), vec![EngineEvent::ResumeWriting]);
    // 68 -> 0: no second resume.
    probe(&mut e).send_credit = None;
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(e.queued_bytes(), 0);
    assert_eq!(events(&mut e), vec![]);
    assert_eq!(probe(&mut e).fake.sent().len(), 6);
}

/// Issue 11.2: a message of empty frames weighs something, so a flood of them crosses the
/// high watermark like any other, and comes back under the low one as they are sent.
#[test]
fn empty_messages_weigh_something_and_pause_writing() {
    let mut e = engine(zmq::PUSH);
    fake(&mut e).set_writable(false);
    let mut written = 0;
    while !e.is_writing_paused() {
        e.write(msg(&[""])).unwrap();
        written += 1;
        assert!(
            written <= 10_000,
            "a flood of empty messages never paused writing"
        );
    }
    assert_eq!(e.queued_bytes(), 0);
    assert_eq!(written, DEFAULT_HIGH_WATER / FRAME_OVERHEAD + 1);
    assert_eq!(e.queued_weight(), written * FRAME_OVERHEAD);
    assert_eq!(events(&mut e), vec![EngineEvent::PauseWriting]);
    // Several empty frames weigh one overhead each.
    assert_eq!(message_weight(&msg(&["", "", ""])), 3 * FRAME_OVERHEAD);
    fake(&mut e).set_writable(true);
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(events(&mut e), vec![EngineEvent::ResumeWriting]);
    assert_eq!(e.queued_weight(), 0);
}

#[test]
fn pause_and_resume_alternate_over_several_rounds() {
    let mut e = engine(zmq::PUSH);
    e.set_write_limits(Some(3), Some(1)).unwrap();
    for _ in 0..3 {
        fake(&mut e).set_writable(false);
        e.write(msg(&["abcd"])).unwrap();
        e.write(msg(&["efgh"])).unwrap();
        fake(&mut e).set_writable(true);
        assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
        assert_eq!(
            events(&mut e),
            vec![EngineEvent::PauseWriting, EngineEvent::ResumeWriting]
        );
    }
}

#[test]
fn set_write_limits_applies_at_once() {
    let mut e = engine(zmq::PUSH);
    fake(&mut e).set_writable(false);
    e.write(msg(&[&"x".repeat(100)])).unwrap();
    assert_eq!(events(&mut e), vec![]);
    // Lowering high below what is queued (100 bytes + 32) pauses at once, without any send.
    e.set_write_limits(Some(50), None).unwrap();
    assert_eq!(events(&mut e), vec![EngineEvent::PauseWriting]);
    // Raising low to what is queued resumes at once.
    e.set_write_limits(Some(1000), Some(132)).unwrap();
    assert_eq!(events(&mut e), vec![EngineEvent::ResumeWriting]);
    // A rejected change emits nothing.
    assert!(e.set_write_limits(Some(1), Some(2)).is_err());
    assert_eq!(events(&mut e), vec![]);
    assert_eq!(fake(&mut e).calls(Call::Send), 1);
}

/// Issue 11.1: a `drain()` waits for the low watermark and a `Sink` for the high one; raising
/// them satisfies the waiter with no send at all, so the raise itself must say "progress"
/// (with no peer, nothing else ever would).
#[test]
fn raising_the_watermarks_is_progress_for_waiters() {
    let mut e = engine(zmq::PUSH);
    fake(&mut e).set_writable(false);
    e.write(msg(&[&"x".repeat(100)])).unwrap();
    e.take_progress();
    // Lowering satisfies no waiter.
    e.set_write_limits(Some(50), Some(10)).unwrap();
    assert!(!e.take_progress());
    // Raising high (a Sink waits for queued <= high) is progress.
    e.set_write_limits(Some(1000), Some(10)).unwrap();
    assert!(e.take_progress());
    // Raising low (drain waits for queued <= low) is progress.
    e.set_write_limits(Some(1000), Some(500)).unwrap();
    assert!(e.take_progress());
    // The same limits again change nothing; a rejected change neither.
    e.set_write_limits(Some(1000), Some(500)).unwrap();
    assert!(e.set_write_limits(Some(1), Some(2)).is_err());
    assert!(!e.take_progress());
}

// ----- close -----

#[test]
fn close_is_idempotent() {
    let mut e = engine(zmq::PUSH);
    e.close();
    e.close();
    assert_eq!(events(&mut e), vec![EngineEvent::ConnectionLost(None)]);
    e.close();
    assert_eq!(e.handle_readiness(BUDGET), Step::Closed);
    assert_eq!(events(&mut e), vec![]);
    assert_eq!(e.lifecycle(), Lifecycle::Closed);
}

#[test]
fn close_drops_received_but_undelivered_messages() {
    let mut e = engine(zmq::PULL);
    fake(&mut e).push_incoming(msg(&["1"]));
    fake(&mut e).push_incoming(msg(&["2"]));
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    // Received by the engine but not polled yet.
    assert!(e.has_events());
    fake(&mut e).push_incoming(msg(&["3"]));
    e.close();
    assert_eq!(events(&mut e), vec![EngineEvent::ConnectionLost(None)]);
}

#[test]
fn take_messages_takes_the_run_of_messages_at_the_front() {
    let mut e = engine(zmq::PULL);
    fake(&mut e).push_incoming(msg(&["1"]));
    fake(&mut e).push_incoming(msg(&["2", "two"]));
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    e.push_socket_event(SocketEvent {
        event: crate::MonitorEvent::Connected,
        value: 7,
        endpoint: "inproc://x".into(),
    });
    fake(&mut e).push_incoming(msg(&["3"]));
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    let mut run = VecDeque::new();
    assert_eq!(e.take_messages(&mut run), 2);
    assert_eq!(
        run,
        [
            EngineEvent::Message(msg(&["1"])),
            EngineEvent::Message(msg(&["2", "two"]))
        ]
    );
    // Stops at the monitor event, which poll_event gives next.
    assert_eq!(e.take_messages(&mut run), 0);
    assert!(matches!(e.poll_event(), Some(EngineEvent::SocketEvent(_))));
    assert_eq!(e.take_messages(&mut run), 1);
    assert_eq!(run.len(), 3);
    assert_eq!(run[2], EngineEvent::Message(msg(&["3"])));
    assert_eq!(e.poll_event(), None);
    // Only messages pending and nothing in `out`: the queues are swapped.
    fake(&mut e).push_incoming(msg(&["4"]));
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    let mut out = VecDeque::new();
    assert_eq!(e.take_messages(&mut out), 1);
    assert_eq!(out, [EngineEvent::Message(msg(&["4"]))]);
    assert!(!e.has_events());
}

/// What a dispatcher holding messages it took out must know: whether the engine dropped
/// the undelivered ones since (close, abort), not when it keeps them (a stream's close, a
/// fatal error).
#[test]
fn discards_messages_is_set_by_the_closes_that_drop_received_messages() {
    let mut e = engine(zmq::PULL);
    assert!(!e.discards_messages());
    e.fatal(zmq::Error::ETERM);
    assert!(
        !e.discards_messages(),
        "a fatal error still delivers what arrived"
    );
    e.abort();
    assert!(
        !e.discards_messages(),
        "an abort after the end changes nothing"
    );

    let mut e = engine(zmq::DEALER);
    fake(&mut e).set_writable(false);
    e.write(msg(&["queued"])).unwrap(); // keeps the close in Closing
    e.close_keeping_received();
    assert_eq!(e.lifecycle(), Lifecycle::Closing);
    assert!(!e.discards_messages());
    e.abort();
    assert!(
        e.discards_messages(),
        "an abort drops what a stream's close kept"
    );

    let mut e = engine(zmq::PULL);
    fake(&mut e).push_incoming(msg(&["1"]));
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    e.close();
    assert!(e.discards_messages());
    e.close();
    assert!(e.discards_messages());
}

#[test]
fn close_stops_reading_while_the_queue_flushes() {
    let mut e = engine(zmq::PAIR);
    fake(&mut e).set_writable(false);
    e.write(msg(&["out"])).unwrap();
    fake(&mut e).push_incoming(msg(&["in"]));
    e.close();
    assert_eq!(e.lifecycle(), Lifecycle::Closing);
    // POLLIN is set but nothing is received while closing; nothing to send yet either.
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(fake(&mut e).calls(Call::Recv), 0);
    assert_eq!(events(&mut e), vec![]);
    fake(&mut e).set_writable(true);
    assert_eq!(e.handle_readiness(BUDGET), Step::Closed);
    assert_eq!(fake(&mut e).calls(Call::Recv), 0);
    assert_eq!(events(&mut e), vec![EngineEvent::ConnectionLost(None)]);
}

#[test]
fn close_flushes_the_queue_then_loses_with_none() {
    let mut e = engine(zmq::PUSH);
    fake(&mut e).set_writable(false);
    for m in ["1", "2", "3"] {
        e.write(msg(&[m])).unwrap();
    }
    e.close();
    assert_eq!(e.lifecycle(), Lifecycle::Closing);
    assert_eq!(events(&mut e), vec![]);
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(events(&mut e), vec![]);

    fake(&mut e).set_writable(true);
    assert_eq!(e.handle_readiness(BUDGET), Step::Closed);
    assert_eq!(
        fake(&mut e).sent(),
        &[msg(&["1"]), msg(&["2"]), msg(&["3"])]
    );
    assert_eq!(events(&mut e), vec![EngineEvent::ConnectionLost(None)]);
    assert_eq!(e.lifecycle(), Lifecycle::Closed);
    assert!(e.take_backend().is_some());
}

#[test]
fn write_after_close_is_closed() {
    let mut e = engine(zmq::PUSH);
    fake(&mut e).set_writable(false);
    e.write(msg(&["pending"])).unwrap();
    e.close();
    // Closing (queue not flushed yet) ...
    assert_eq!(e.write(msg(&["late"])), Err(Error::Closed));
    fake(&mut e).set_writable(true);
    assert_eq!(e.handle_readiness(BUDGET), Step::Closed);
    // ... and closed.
    assert_eq!(e.write(msg(&["later"])), Err(Error::Closed));
    assert_eq!(fake(&mut e).sent(), &[msg(&["pending"])]);
    // Other commands refuse too.
    assert_eq!(e.bind("inproc://x"), Err(Error::Closed));
    assert_eq!(e.connect("inproc://x"), Err(Error::Closed));
}

/// Issue 17: LINGER 0 drops what is queued and finishes at once, counting the drops.
#[test]
fn close_with_linger_zero_drops_the_queue_and_finishes_at_once() {
    let mut e = engine(zmq::PUSH);
    e.set_write_limits(Some(1), None).unwrap();
    fake(&mut e).set_writable(false);
    e.write(msg(&[""])).unwrap();
    e.write(msg(&["a", "b"])).unwrap();
    assert_eq!(events(&mut e), vec![EngineEvent::PauseWriting]);
    e.close_with_linger(Some(Duration::ZERO));
    assert_eq!(e.lifecycle(), Lifecycle::Closed);
    assert_eq!(e.dropped_on_close(), 2);
    assert_eq!((e.queued_messages(), e.queued_bytes()), (0, 0));
    assert!(e.take_progress());
    // No resume_writing for a dropped queue (as with abort).
    assert_eq!(events(&mut e), vec![EngineEvent::ConnectionLost(None)]);
    assert_eq!(e.linger_timeout(), None);
    assert_eq!(fake(&mut e).calls(Call::Send), 1);
}

/// Issue 17: LINGER n asks the driver for a timer; while it runs the queue keeps flushing;
/// when it fires, the rest is dropped and counted, then `ConnectionLost(None)`.
#[test]
fn close_with_linger_flushes_until_the_deadline_then_drops_the_rest() {
    let mut e = engine(zmq::DEALER);
    fake(&mut e).set_writable(false);
    for m in ["a", "b", "c"] {
        e.write(msg(&[m])).unwrap();
    }
    e.close_with_linger(Some(Duration::from_millis(300)));
    assert_eq!(e.lifecycle(), Lifecycle::Closing);
    assert_eq!(e.linger_timeout(), Some(Duration::from_millis(300)));
    // A second close changes nothing.
    e.close_with_linger(Some(Duration::ZERO));
    e.close();
    assert_eq!(e.linger_timeout(), Some(Duration::from_millis(300)));
    assert_eq!(e.lifecycle(), Lifecycle::Closing);
    // One message goes out before the deadline.
    fake(&mut e).set_writable(true);
    fake(&mut e).script(Call::Send, Ok(()));
    fake(&mut e).script(Call::Send, Err(zmq::Error::EAGAIN));
    fake(&mut e).script(Call::Send, Err(zmq::Error::EAGAIN));
    assert_eq!(e.handle_readiness(BUDGET), Step::Blocked);
    assert_eq!(e.queued_messages(), 2);
    e.handle_linger_expired();
    assert_eq!(e.lifecycle(), Lifecycle::Closed);
    assert_eq!(e.dropped_on_close(), 2);
    assert_eq!(e.linger_timeout(), None);
    assert_eq!(events(&mut e), vec![EngineEvent::ConnectionLost(None)]);
    assert_eq!(fake(&mut e).sent(), &[msg(&["a"])]);
    // Too late to matter: nothing more happens.
    e.handle_linger_expired();
    assert_eq!(e.dropped_on_close(), 2);
    assert_eq!(events(&mut e), vec![]);
}

/// A queue flushed before the deadline finishes the close normally; the default close
/// (LINGER -1) asks for no timer; an expiry out of turn does nothing.
#[test]
fn linger_timer_only_while_closing_with_a_finite_linger_and_a_queue() {
    let mut e = engine(zmq::PUSH);
    e.handle_linger_expired();
    assert_eq!(e.lifecycle(), Lifecycle::Open);
    // Empty queue: finishes at once, no timer.
    e.close_with_linger(Some(Duration::from_secs(1)));
    assert_eq!(e.lifecycle(), Lifecycle::Closed);
    assert_eq!(e.linger_timeout(), None);

    let mut e = engine(zmq::PUSH);
    fake(&mut e).set_writable(false);
    e.write(msg(&["x"])).unwrap();
    e.close();
    assert_eq!(e.linger_timeout(), None, "LINGER -1 keeps trying: no timer");
    fake(&mut e).set_writable(true);
    assert_eq!(e.handle_readiness(BUDGET), Step::Closed);
    assert_eq!(e.dropped_on_close(), 0);

    let mut e = engine(zmq::PUSH);
    fake(&mut e).set_writable(false);
    e.write(msg(&["x"])).unwrap();
    e.close_with_linger(Some(Duration::from_secs(1)));
    fake(&mut e).set_writable(true);
    assert_eq!(e.handle_readiness(BUDGET), Step::Closed);
    assert_eq!(e.linger_timeout(), None);
    e.handle_linger_expired();
    assert_eq!(e.dropped_on_close(), 0);
    assert_eq!(events(&mut e), vec![EngineEvent::ConnectionLost(None)]);
}

// ----- abort -----

#[test]
fn abort_drops_the_queue_and_never_resumes_writing() {
    let mut e = engine(zmq::PUSH);
    e.set_write_limits(Some(4), None).unwrap();
    fake(&mut e).set_writable(false);
    e.write(msg(&["12345"])).unwrap();
    e.write(msg(&["6"])).unwrap();
    assert_eq!(events(&mut e), vec![EngineEvent::PauseWriting]);

    e.abort();
    assert_eq!(e.queued_bytes(), 0);
    assert_eq!(e.queued_messages(), 0);
    assert_eq!(events(&mut e), vec![EngineEvent::ConnectionLost(None)]);
    fake(&mut e).set_writable(true);
    assert_eq!(e.handle_readiness(BUDGET), Step::Closed);
    e.abort();
    e.close();
    assert_eq!(events(&mut e), vec![]);
    assert!(fake(&mut e).sent().is_empty());
}

#[test]
fn abort_while_closing_drops_the_rest_and_loses_once() {
    let mut e = engine(zmq::DEALER);
    fake(&mut e).set_writable(false);
    e.write(msg(&["never sent"])).unwrap();
    fake(&mut e).push_incoming(msg(&["in"]));
    e.close();
    e.abort();
    assert_eq!(events(&mut e), vec![EngineEvent::ConnectionLost(None)]);
    assert_eq!(e.handle_readiness(BUDGET), Step::Closed);
    assert_eq!(events(&mut e), vec![]);
    assert!(fake(&mut e).sent().is_empty());
}

#[test]
fn abort_drops_received_but_undelivered_messages() {
    let mut e = engine(zmq::PULL);
    fake(&mut e).push_incoming(msg(&["1"]));
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    e.abort();
    assert_eq!(events(&mut e), vec![EngineEvent::ConnectionLost(None)]);
}

// ----- fatal socket errors -----

#[test]
fn fatal_recv_error_loses_the_connection_with_it_once() {
    let mut e = engine(zmq::PULL);
    fake(&mut e).push_incoming(msg(&["ok"]));
    fake(&mut e).push_incoming(msg(&["never"]));
    fake(&mut e).script(Call::Recv, Ok(()));
    fake(&mut e).script(Call::Recv, Err(zmq::Error::ETERM));
    assert_eq!(e.handle_readiness(BUDGET), Step::Closed);
    assert_eq!(e.lifecycle(), Lifecycle::Closed);
    // The message received whole before the error is still delivered, then connection_lost.
    let evs = events(&mut e);
    assert_eq!(evs[0], EngineEvent::Message(msg(&["ok"])), "{evs:?}");
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert_eq!(
        lost(&evs),
        vec![&Some(Error::Zmq(zmq::Error::ETERM))],
        "{evs:?}"
    );
    assert_eq!(
        evs.last(),
        Some(&EngineEvent::ConnectionLost(Some(Error::Zmq(
            zmq::Error::ETERM
        ))))
    );
    assert_eq!(e.handle_readiness(BUDGET), Step::Closed);
    assert_eq!(events(&mut e), vec![]);
}

#[test]
fn fatal_events_error_loses_the_connection_with_it_once() {
    let mut e = engine(zmq::PULL);
    fake(&mut e).script(Call::Events, Err(zmq::Error::ETERM));
    assert_eq!(e.handle_readiness(BUDGET), Step::Closed);
    assert_eq!(
        events(&mut e),
        vec![EngineEvent::ConnectionLost(Some(Error::Zmq(
            zmq::Error::ETERM
        )))]
    );
    assert_eq!(e.handle_readiness(BUDGET), Step::Closed);
    assert_eq!(events(&mut e), vec![]);
}

// ----- pause/resume reading -----

#[test]
fn pause_reading_twice_is_invalid_state() {
    let mut e = engine(zmq::PULL);
    e.pause_reading().unwrap();
    assert!(matches!(e.pause_reading(), Err(Error::InvalidState(_))));
    assert!(e.is_reading_paused());
}

#[test]
fn pause_reading_while_closing_or_closed_is_invalid_state() {
    let mut e = engine(zmq::PULL);
    fake(&mut e).set_writable(false);
    e.write(msg(&["keeps it closing"])).unwrap();
    e.close();
    assert_eq!(e.lifecycle(), Lifecycle::Closing);
    assert!(matches!(e.pause_reading(), Err(Error::InvalidState(_))));
    e.abort();
    assert_eq!(e.lifecycle(), Lifecycle::Closed);
    assert!(matches!(e.pause_reading(), Err(Error::InvalidState(_))));
}

#[test]
fn resume_reading_when_not_paused_is_invalid_state() {
    let mut e = engine(zmq::PULL);
    assert!(matches!(e.resume_reading(), Err(Error::InvalidState(_))));
    e.pause_reading().unwrap();
    e.resume_reading().unwrap();
    assert!(matches!(e.resume_reading(), Err(Error::InvalidState(_))));
}

#[test]
fn resume_reading_after_close_is_a_noop() {
    let mut e = engine(zmq::PULL);
    e.pause_reading().unwrap();
    e.close();
    assert_eq!(e.resume_reading(), Ok(()));
    // Even when it was never paused.
    let mut e = engine(zmq::PULL);
    e.close();
    assert_eq!(e.resume_reading(), Ok(()));
}

#[test]
fn paused_reading_still_flushes_writes() {
    let mut e = engine(zmq::DEALER);
    e.pause_reading().unwrap();
    fake(&mut e).push_incoming(msg(&["waits"]));
    fake(&mut e).set_writable(false);
    e.write(msg(&["out"])).unwrap();
    fake(&mut e).set_writable(true);
    // POLLIN is set but paused; POLLOUT flushes; then Idle (no spin on POLLIN).
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(fake(&mut e).sent(), &[msg(&["out"])]);
    assert_eq!(fake(&mut e).calls(Call::Recv), 0);
    assert_eq!(fake(&mut e).inbox_len(), 1);
    assert_eq!(events(&mut e), vec![]);
}

#[test]
fn resume_reading_delivers_queued_messages_without_new_traffic() {
    let mut e = engine(zmq::PULL);
    e.pause_reading().unwrap();
    for m in ["1", "2", "3"] {
        fake(&mut e).push_incoming(msg(&[m]));
    }
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(events(&mut e), vec![]);
    e.resume_reading().unwrap();
    // The next pass (the shell makes one after every command) sees POLLIN again.
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(
        events(&mut e),
        vec![
            EngineEvent::Message(msg(&["1"])),
            EngineEvent::Message(msg(&["2"])),
            EngineEvent::Message(msg(&["3"])),
        ]
    );
}

// ----- bind / connect / unbind / disconnect -----

#[test]
fn bind_returns_and_records_the_resolved_endpoint() {
    let mut e = engine(zmq::PULL);
    let resolved = e.bind("tcp://127.0.0.1:*").unwrap();
    assert_eq!(resolved, "tcp://127.0.0.1:40001");
    assert!(e.bindings().contains(&resolved));
    assert!(!e.bindings().contains("tcp://127.0.0.1:*"));
    assert_eq!(e.bindings().len(), 1);
    e.unbind(&resolved).unwrap();
    assert!(e.bindings().is_empty());
}

#[test]
fn unbind_of_the_wildcard_fails_enoent_and_changes_nothing() {
    let mut e = engine(zmq::PULL);
    let resolved = e.bind("tcp://127.0.0.1:*").unwrap();
    let before = e.bindings().clone();
    assert!(is_errno(e.unbind("tcp://127.0.0.1:*"), zmq::Error::ENOENT));
    assert_eq!(e.bindings(), &before);
    e.unbind(&resolved).unwrap();
}

#[test]
fn connect_to_a_dns_name_is_invalid_argument() {
    let mut e = engine(zmq::PUSH);
    assert!(matches!(
        e.connect("tcp://localhost:5555"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(e.connections().is_empty());
    // Rejected before libzmq sees it.
    assert_eq!(fake(&mut e).calls(Call::Connect), 0);
}

#[test]
fn connect_records_the_endpoint_as_given() {
    let mut e = engine(zmq::PUSH);
    assert_eq!(
        e.connect("tcp://127.0.0.1:5555").unwrap(),
        "tcp://127.0.0.1:5555"
    );
    e.connect("inproc://a").unwrap();
    let want: BTreeSet<String> = ["inproc://a", "tcp://127.0.0.1:5555"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(e.connections(), &want);
    e.disconnect("inproc://a").unwrap();
    assert_eq!(e.connections().len(), 1);
}

#[test]
fn unbind_and_disconnect_of_unknown_endpoints_fail_enoent_and_change_nothing() {
    let mut e = engine(zmq::DEALER);
    e.bind("inproc://bound").unwrap();
    e.connect("inproc://connected").unwrap();
    let (b, c) = (e.bindings().clone(), e.connections().clone());
    assert!(is_errno(e.unbind("inproc://nope"), zmq::Error::ENOENT));
    assert!(is_errno(e.disconnect("inproc://nope"), zmq::Error::ENOENT));
    // Crossing the sets does not work either.
    assert!(is_errno(e.unbind("inproc://connected"), zmq::Error::ENOENT));
    assert!(is_errno(e.disconnect("inproc://bound"), zmq::Error::ENOENT));
    assert_eq!((e.bindings(), e.connections()), (&b, &c));
}

#[test]
fn failed_bind_records_nothing() {
    let mut e = engine(zmq::PULL);
    fake(&mut e).script(Call::Bind, Err(zmq::Error::EADDRINUSE));
    assert!(is_errno(
        e.bind("tcp://127.0.0.1:1"),
        zmq::Error::EADDRINUSE
    ));
    assert!(e.bindings().is_empty());
}

// ----- subscriptions -----

#[test]
fn subscriptions_are_sub_only() {
    for ty in [zmq::PUB, zmq::PULL, zmq::XSUB, zmq::DEALER] {
        let mut e = engine(ty);
        assert!(matches!(e.subscribe(b"a"), Err(Error::NotSupported(_))));
        assert!(matches!(e.unsubscribe(b"a"), Err(Error::NotSupported(_))));
        assert!(matches!(e.subscriptions(), Err(Error::NotSupported(_))));
        assert_eq!(fake(&mut e).calls(Call::Subscription), 0);
    }
}

#[test]
fn subscribe_twice_is_one_subscription() {
    let mut e = engine(zmq::SUB);
    e.subscribe(b"topic").unwrap();
    e.subscribe(b"topic").unwrap();
    assert_eq!(e.subscriptions().unwrap().len(), 1);
    assert_eq!(
        fake(&mut e).subscription_calls(),
        &[(b"topic".to_vec(), true)]
    );
    // One unsubscribe removes it (a set, not libzmq's multiset).
    e.unsubscribe(b"topic").unwrap();
    assert!(e.subscriptions().unwrap().is_empty());
}

#[test]
fn unsubscribe_of_an_unknown_value_is_fine() {
    let mut e = engine(zmq::SUB);
    e.subscribe(b"a").unwrap();
    e.unsubscribe(b"b").unwrap();
    assert_eq!(
        e.subscriptions().unwrap().iter().collect::<Vec<_>>(),
        vec![&Bytes::from_static(b"a")]
    );
    assert_eq!(fake(&mut e).calls(Call::Subscription), 1);
}

#[test]
fn noted_subscriptions_keep_the_set_in_sync() {
    let mut e = engine(zmq::SUB);
    e.note_subscription(b"x", true);
    e.note_subscription(b"x", true);
    assert_eq!(e.subscriptions().unwrap().len(), 1);
    // Already in the set: no second libzmq call.
    e.subscribe(b"x").unwrap();
    assert_eq!(fake(&mut e).calls(Call::Subscription), 0);
    e.note_subscription(b"x", false);
    assert!(e.subscriptions().unwrap().is_empty());
}

#[test]
fn failed_subscribe_records_nothing() {
    let mut e = engine(zmq::SUB);
    fake(&mut e).script(Call::Subscription, Err(zmq::Error::ETERM));
    assert!(is_errno(e.subscribe(b"a"), zmq::Error::ETERM));
    assert!(e.subscriptions().unwrap().is_empty());
}

// ----- the ZMQ_FD rules -----

/// Rule 6, for `write` (issue 11.14): the driver is woken exactly when the write made a
/// socket call that may have taken an edge the driver waits for.
#[test]
fn write_says_when_the_driver_must_be_woken() {
    let written = |queued, wake_driver| Written {
        queued,
        wake_driver,
    };
    for socket_type in [
        zmq::PUSH,
        zmq::PUB,
        zmq::DEALER,
        zmq::ROUTER,
        zmq::PAIR,
        zmq::XPUB,
    ] {
        let receives = !matches!(socket_type, zmq::PUSH | zmq::PUB);
        assert_eq!(socket_receives(socket_type), receives, "{socket_type:?}");
        let mut e = engine(socket_type);
        // Nothing to send: no socket call.
        assert_eq!(e.write(Multipart::new()), Ok(written(false, false)));
        // Sent at once: the queue stays empty, so only a socket that receives has a driver
        // waiting for an edge (POLLIN) the send may have taken.
        assert_eq!(e.write(msg(&["a"])), Ok(written(false, receives)));
        // Refused: the first queued message; the driver must now wait for POLLOUT.
        fake(&mut e).set_writable(false);
        assert_eq!(e.write(msg(&["b"])), Ok(written(true, true)));
        // Behind a queued message: no socket call, nothing new for the driver.
        let sends = fake(&mut e).calls(Call::Send);
        assert_eq!(e.write(msg(&["c"])), Ok(written(true, false)));
        assert_eq!(fake(&mut e).calls(Call::Send), sends);
        e.abort();
    }
}

/// Rule 3: after every libzmq call the engine reads `ZMQ_EVENTS` again before it decides to
/// wait, so the last call of a pass that returns `Idle` is always `events`.
#[test]
fn events_are_read_again_after_sends_and_recvs_before_going_idle() {
    let mut e = probe_engine(zmq::DEALER);
    probe(&mut e).send_credit = Some(0);
    e.write(msg(&["a", "b"])).unwrap();
    e.write(msg(&["c"])).unwrap();
    probe(&mut e).fake.push_incoming(msg(&["in1"]));
    probe(&mut e).fake.push_incoming(msg(&["in2"]));
    probe(&mut e).send_credit = None;
    probe(&mut e).clear_log();

    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    let log = probe(&mut e).log.clone();
    assert_eq!(log.first(), Some(&Call::Events), "{log:?}");
    assert_eq!(log.last(), Some(&Call::Events), "{log:?}");
    // Every run of sends or recvs is followed by an events read.
    for (i, call) in log.iter().enumerate() {
        if matches!(call, Call::Send | Call::Recv) {
            assert!(
                log[i + 1..].contains(&Call::Events),
                "no events read after call {i} in {log:?}"
            );
        }
    }
    assert_eq!(log.iter().filter(|c| **c == Call::Send).count(), 3);
    // Two messages and the EAGAIN that ends the batch.
    assert_eq!(log.iter().filter(|c| **c == Call::Recv).count(), 3);
    // One read to start, one after the flush, one after the receive batch.
    assert_eq!(log.iter().filter(|c| **c == Call::Events).count(), 3);
    assert_eq!(probe(&mut e).fake.sent().len(), 2);
    assert_eq!(events(&mut e).len(), 2);
}

/// Rule 2: a readable `ZMQ_FD` with no event set is normal; the pass reads `ZMQ_EVENTS` once
/// and parks, calling neither recv nor send.
#[test]
fn readable_fd_without_events_returns_idle_without_recv_or_send() {
    let mut e = probe_engine(zmq::DEALER);
    probe(&mut e).send_credit = Some(0); // no POLLOUT, no POLLIN
    for _ in 0..3 {
        probe(&mut e).clear_log();
        assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
        assert_eq!(probe(&mut e).log, vec![Call::Events]);
    }
    // POLLOUT alone with nothing queued is no work either.
    probe(&mut e).send_credit = None;
    probe(&mut e).clear_log();
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(probe(&mut e).log, vec![Call::Events]);
    assert_eq!(events(&mut e), vec![]);
}

/// Rule 3 and 6: a send made by a user command (here `write`) may consume the edge that
/// announced an incoming message; the pass the shell makes after the command still finds it.
#[test]
fn message_whose_edge_a_send_consumed_is_received_by_the_next_pass() {
    let mut e = engine(zmq::DEALER);
    fake(&mut e).push_incoming(msg(&["arrived"]));
    e.write(msg(&["out"])).unwrap();
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(
        events(&mut e),
        vec![EngineEvent::Message(msg(&["arrived"]))]
    );
}

/// Rule 5: a pass right after bind or connect reads `ZMQ_EVENTS` first, so a state that
/// exists already (aiozmq#157: a fresh inproc pipe that never signals the fd) is acted on.
#[test]
fn pass_after_bind_or_connect_reads_events_first() {
    let mut e = probe_engine(zmq::REP);
    e.bind("inproc://b").unwrap();
    e.connect("inproc://c").unwrap();
    probe(&mut e).fake.push_incoming(msg(&["request"]));
    probe(&mut e).clear_log();
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(probe(&mut e).log.first(), Some(&Call::Events));
    assert_eq!(
        events(&mut e),
        vec![EngineEvent::Message(msg(&["request"]))]
    );
}

/// Rule 8: `EINTR` is retried on every call and never reaches the user.
#[test]
fn eintr_is_retried_everywhere_and_never_returned() {
    let mut e = engine(zmq::SUB);
    let f = fake(&mut e);
    for call in [
        Call::Events,
        Call::Send,
        Call::Recv,
        Call::Bind,
        Call::Unbind,
        Call::Connect,
        Call::Disconnect,
        Call::Subscription,
    ] {
        f.script(call, Err(zmq::Error::EINTR));
        f.script(call, Err(zmq::Error::EINTR));
    }
    let ep = e.bind("inproc://eintr").unwrap();
    e.unbind(&ep).unwrap();
    e.connect("inproc://peer").unwrap();
    e.disconnect("inproc://peer").unwrap();
    e.subscribe(b"t").unwrap();
    e.write(msg(&["out"])).unwrap();
    fake(&mut e).push_incoming(msg(&["in"]));
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(events(&mut e), vec![EngineEvent::Message(msg(&["in"]))]);
    assert_eq!(fake(&mut e).sent(), &[msg(&["out"])]);
    assert_eq!(fake(&mut e).calls(Call::Send), 3);
    assert_eq!(fake(&mut e).calls(Call::Bind), 3);
    assert_eq!(e.lifecycle(), Lifecycle::Open);
}

#[test]
fn eintr_mid_multipart_does_not_resend_frames() {
    let mut e = engine(zmq::PUSH);
    fake(&mut e).script(Call::Send, Ok(()));
    fake(&mut e).script(Call::Send, Err(zmq::Error::EINTR));
    e.write(msg(&["a", "b", "c"])).unwrap();
    assert_eq!(fake(&mut e).sent(), &[msg(&["a", "b", "c"])]);
    assert_eq!(fake(&mut e).calls(Call::Send), 4);
}

/// Rule 4: the receive budget bounds one pass; the engine asks to be called again without
/// waiting for the fd, and loses nothing.
#[test]
fn budget_exhaustion_returns_again_and_loses_nothing() {
    let mut e = engine(zmq::PULL);
    for i in 0..5 {
        fake(&mut e).push_incoming(msg(&[&i.to_string()]));
    }
    assert_eq!(e.handle_readiness(2), Step::Again);
    assert_eq!(events(&mut e).len(), 2);
    assert_eq!(e.handle_readiness(2), Step::Again);
    assert_eq!(events(&mut e).len(), 2);
    assert_eq!(e.handle_readiness(2), Step::Idle);
    let last = events(&mut e);
    assert_eq!(last, vec![EngineEvent::Message(msg(&["4"]))]);
    assert_eq!(fake(&mut e).inbox_len(), 0);
}

#[test]
fn writes_flush_even_when_the_receive_budget_runs_out() {
    let mut e = engine(zmq::DEALER);
    for _ in 0..10 {
        fake(&mut e).push_incoming(msg(&["in"]));
    }
    fake(&mut e).set_writable(false);
    e.write(msg(&["out"])).unwrap();
    fake(&mut e).set_writable(true);
    assert_eq!(e.handle_readiness(3), Step::Again);
    assert_eq!(fake(&mut e).sent(), &[msg(&["out"])]);
}

/// REQ and REP refuse a second receive before the matching send (EFSM); that only ends the
/// batch.
#[test]
fn efsm_on_a_second_recv_in_a_batch_ends_the_batch() {
    let mut e = engine(zmq::REP);
    fake(&mut e).push_incoming(msg(&["request"]));
    fake(&mut e).script(Call::Recv, Ok(()));
    fake(&mut e).script(Call::Recv, Err(zmq::Error::EFSM));
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(e.lifecycle(), Lifecycle::Open);
    assert_eq!(
        events(&mut e),
        vec![EngineEvent::Message(msg(&["request"]))]
    );
}

#[test]
fn efsm_on_the_first_recv_is_fatal() {
    let mut e = engine(zmq::REQ);
    fake(&mut e).push_incoming(msg(&["reply"]));
    fake(&mut e).script(Call::Recv, Err(zmq::Error::EFSM));
    assert_eq!(e.handle_readiness(BUDGET), Step::Closed);
    assert_eq!(
        events(&mut e),
        vec![EngineEvent::ConnectionLost(Some(Error::Zmq(
            zmq::Error::EFSM
        )))]
    );
}

/// `POLLOUT` promises that *some* message can be sent, not the one at the head of the queue:
/// a ROUTER with `ROUTER_MANDATORY` whose peer is full, or an XPUB with `XPUB_NODROP`, keep
/// `POLLOUT` set while the send fails with `EAGAIN`. The pass must park, not spin, and say
/// `Blocked` (retry after a back-off): the peer's "writable again" signal may be consumed by
/// the `ZMQ_EVENTS` read that ends the pass, so the fd alone could wait forever.
#[test]
fn eagain_on_send_with_pollout_set_parks_blocked_instead_of_spinning() {
    let mut e = probe_engine(zmq::ROUTER);
    probe(&mut e).refuse_sends = true;
    e.write(msg(&["peer", "body"])).unwrap();
    assert_eq!(e.queued_messages(), 1);
    probe(&mut e).clear_log();
    assert_eq!(e.handle_readiness(BUDGET), Step::Blocked);
    let log = probe(&mut e).log.clone();
    assert!(log.len() <= 4, "handle_readiness spun: {} calls", log.len());
    assert_eq!(log.last(), Some(&Call::Events), "{log:?}");

    // Once the peer has room, the next pass (the fd fires) sends it.
    probe(&mut e).refuse_sends = false;
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(probe(&mut e).fake.sent(), &[msg(&["peer", "body"])]);
}

/// The same, with messages arriving: reading goes on while the send side is stuck.
#[test]
fn eagain_on_send_with_pollout_set_still_receives() {
    let mut e = probe_engine(zmq::ROUTER);
    probe(&mut e).refuse_sends = true;
    e.write(msg(&["peer", "body"])).unwrap();
    probe(&mut e).fake.push_incoming(msg(&["peer", "hello"]));
    assert_eq!(e.handle_readiness(BUDGET), Step::Blocked);
    assert_eq!(
        events(&mut e),
        vec![EngineEvent::Message(msg(&["peer", "hello"]))]
    );
    assert_eq!(e.queued_messages(), 1);
}

/// A refused head with `POLLOUT` clear is the ordinary case: the fd will fire when the
/// socket becomes writable, so plain `Idle`.
#[test]
fn eagain_on_send_without_pollout_is_idle_not_blocked() {
    let mut e = engine(zmq::PUSH);
    fake(&mut e).set_writable(false);
    e.write(msg(&["body"])).unwrap();
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
}

#[test]
fn subscription_calls_after_close_are_closed_even_without_a_change() {
    let mut e = engine(zmq::SUB);
    e.subscribe(b"topic").unwrap();
    e.close();
    // Already in the set (or absent, for unsubscribe): still Closed, not a silent Ok.
    assert_eq!(e.subscribe(b"topic"), Err(Error::Closed));
    assert_eq!(e.unsubscribe(b"absent"), Err(Error::Closed));
}

// ----- the two read pauses, the lost error, the inline pause, close keeping received -----

/// The user's pause and backpressure are independent: resuming one never lifts the other.
#[test]
fn user_pause_and_backpressure_are_independent() {
    let mut e = engine(zmq::PULL);
    e.set_read_backpressure(true);
    fake(&mut e).push_incoming(msg(&["1"]));
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(events(&mut e), vec![]);
    // The user may pause and resume while backpressure holds: reading stays stopped.
    e.pause_reading().unwrap();
    e.resume_reading().unwrap();
    assert!(e.is_read_backpressured() && !e.is_reading_paused());
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(events(&mut e), vec![]);
    // Backpressure ending does not lift the user's pause.
    e.pause_reading().unwrap();
    e.set_read_backpressure(false);
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(events(&mut e), vec![]);
    e.resume_reading().unwrap();
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    assert_eq!(events(&mut e), vec![EngineEvent::Message(msg(&["1"]))]);
}

/// The fatal error is kept where every waiter can read it, before `ConnectionLost` is
/// polled; a plain close or abort keeps none.
#[test]
fn lost_error_is_recorded_when_the_transport_is_lost() {
    let mut e = engine(zmq::DEALER);
    assert_eq!(e.lost_error(), None);
    e.fatal(zmq::Error::EFSM);
    assert_eq!(e.lost_error(), Some(&Error::Zmq(zmq::Error::EFSM)));
    // A later abort (a panicking connection_lost, say) keeps the first outcome.
    e.abort_with(Some(Error::Closed));
    assert_eq!(e.lost_error(), Some(&Error::Zmq(zmq::Error::EFSM)));

    let mut e = engine(zmq::DEALER);
    e.close();
    assert_eq!(e.lifecycle(), Lifecycle::Closed);
    assert_eq!(e.lost_error(), None);
}

/// `take_pause_writing` takes a pause ahead of messages, never ahead of a pending resume.
#[test]
fn take_pause_writing_overtakes_messages_but_not_a_resume() {
    let mut e = engine(zmq::DEALER);
    e.set_write_limits(Some(4), Some(0)).unwrap();
    fake(&mut e).push_incoming(msg(&["in"]));
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    fake(&mut e).set_writable(false);
    e.write(msg(&["12345"])).unwrap();
    assert!(e.take_pause_writing());
    assert!(!e.take_pause_writing());
    assert_eq!(events(&mut e), vec![EngineEvent::Message(msg(&["in"]))]);

    // Flushed (resume pending, undelivered), then paused again: both stay, in order.
    fake(&mut e).set_writable(true);
    assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
    fake(&mut e).set_writable(false);
    e.write(msg(&["12345"])).unwrap();
    assert!(!e.take_pause_writing());
    assert_eq!(
        events(&mut e),
        vec![EngineEvent::ResumeWriting, EngineEvent::PauseWriting]
    );
}

/// `close_keeping_received` keeps the messages already received, ahead of
/// `ConnectionLost`, and receives nothing more; `close` drops them.
#[test]
fn close_keeping_received_keeps_what_left_the_socket() {
    for keep in [true, false] {
        let mut e = engine(zmq::PULL);
        for m in ["0", "1", "2"] {
            fake(&mut e).push_incoming(msg(&[m]));
        }
        assert_eq!(e.handle_readiness(BUDGET), Step::Idle);
        assert_eq!(e.poll_event(), Some(EngineEvent::Message(msg(&["0"]))));
        fake(&mut e).push_incoming(msg(&["still in the socket"]));
        if keep {
            e.close_keeping_received();
        } else {
            e.close();
        }
        assert_eq!(e.handle_readiness(BUDGET), Step::Closed);
        let mut want = Vec::new();
        if keep {
            want.push(EngineEvent::Message(msg(&["1"])));
            want.push(EngineEvent::Message(msg(&["2"])));
        }
        want.push(EngineEvent::ConnectionLost(None));
        assert_eq!(events(&mut e), want, "keep = {keep}");
    }
}
