//! Model-based property test of the sans-IO engine, in the manner of
//! `proptest-state-machine/examples/state_machine_heap.rs`.
//!
//! The reference state machine is `zmqio_core::fuzzing::engine::Model` (queued messages and
//! bytes, watermarks, paused flags, subscription, bind and connect sets, lifecycle, and the
//! fake backend as the environment); the system under test is an `Engine<FakeBackend>` in a
//! `Harness`. Random sequences of writes, scripted backend results, readiness, watermark
//! changes, read pausing, subscriptions, endpoint calls, polls, close and abort are applied
//! to both; after every step the engine must agree with the model and keep the invariants
//! listed in `zmqio_core::fuzzing::engine` (FIFO and whole multiparts to the backend,
//! exact watermark crossings, nothing after `ConnectionLost`, ...). Every case ends by letting
//! everything flow and closing gracefully, which must deliver `ConnectionLost` exactly once.
//!
//! The same model and harness run under the `engine_ops` fuzz target (`fuzz/`), and
//! `EngineCase::to_fuzz_input` turns a case shrunk here into a corpus file for it.
//!
//! 1,000 cases by default; `PROPTEST_CASES=100000 cargo test -p zmqio-core --test
//! engine_model --release` runs more. Failures are saved under `proptest-regressions/`.

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use zmqio_core::engine::fake::FakeBackend;
use zmqio_core::engine::{Engine, EngineEvent, Lifecycle, FRAME_OVERHEAD};
use zmqio_core::fuzzing::engine::{
    self, EngineCase, Errno, Frames, Harness, Limit, Model, Op, ScriptCall, Scripted, SocketKind,
    Target, MAX_FRAMES, MAX_FRAME_LEN,
};

/// 1,000 cases unless `PROPTEST_CASES` says otherwise; failures saved in
/// `crates/zmqio-core/proptest-regressions/<file>` (tests run in the package directory).
fn config(regressions: &'static str) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        ..Config::default()
    }
}

// ----- strategies -----

fn socket_kind() -> impl Strategy<Value = SocketKind> {
    // SUB is the one kind with different rules: give it a third of the cases.
    prop_oneof![
        2 => prop::sample::select(SocketKind::ALL.to_vec()),
        1 => Just(SocketKind::Sub),
    ]
}

/// Frame lengths weighted small, with an occasional large one (up to 1 MiB; frames are
/// slices of one shared buffer, so size costs no memory).
fn frame_len() -> impl Strategy<Value = u32> {
    prop_oneof![
        6 => 0u32..=16,
        3 => 17u32..=4096,
        1 => 4097u32..=MAX_FRAME_LEN as u32,
    ]
}

fn frames() -> impl Strategy<Value = Frames> {
    prop_oneof![
        6 => prop::collection::vec(frame_len(), 0..4),
        1 => prop::collection::vec(frame_len(), 0..=MAX_FRAMES),
    ]
    .prop_map(Frames)
}

fn errno() -> impl Strategy<Value = Errno> {
    prop::sample::select(vec![
        Errno::Again,
        Errno::Intr,
        Errno::Fsm,
        Errno::Term,
        Errno::NotSock,
        Errno::HostUnreach,
        Errno::Inval,
        Errno::AddrInUse,
        Errno::NoEnt,
        Errno::MThread,
    ])
}

/// A fatal errno for a send, receive or `ZMQ_EVENTS`.
fn fatal_errno() -> impl Strategy<Value = Errno> {
    errno().prop_filter("not a passing errno", |e| {
        !matches!(e, Errno::Again | Errno::Intr)
    })
}

/// A scripted result for `call`: for the calls whose failure ends the transport (send,
/// receive, `ZMQ_EVENTS`) mostly what a socket gives in passing (`EAGAIN`, `EINTR`, and
/// `Pass` so that a later step fails mid-multipart), rarely a fatal errno, because the
/// interesting sequences happen before that; for the endpoint and subscription calls, any
/// errno (they fail without ending the transport).
fn scripted(call: ScriptCall) -> BoxedStrategy<Scripted> {
    let fail = |e| Just(Scripted::Fail(e));
    match call {
        ScriptCall::Send => prop_oneof![
            4 => Just(Scripted::Pass),
            5 => fail(Errno::Again),
            2 => fail(Errno::Intr),
            1 => fatal_errno().prop_map(Scripted::Fail),
        ]
        .boxed(),
        ScriptCall::Recv => prop_oneof![
            2 => Just(Scripted::Pass),
            5 => fail(Errno::Again),
            3 => fail(Errno::Intr),
            2 => fail(Errno::Fsm),
            1 => fatal_errno().prop_map(Scripted::Fail),
        ]
        .boxed(),
        ScriptCall::Events => prop_oneof![
            3 => Just(Scripted::Pass),
            3 => fail(Errno::Intr),
            1 => fatal_errno().prop_map(Scripted::Fail),
        ]
        .boxed(),
        _ => prop_oneof![
            1 => Just(Scripted::Pass),
            4 => errno().prop_map(Scripted::Fail),
        ]
        .boxed(),
    }
}

fn script() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => Just(ScriptCall::Send),
        3 => Just(ScriptCall::Recv),
        1 => Just(ScriptCall::Events),
        2 => prop::sample::select(ScriptCall::ALL.to_vec()),
    ]
    .prop_flat_map(|call| scripted(call).prop_map(move |result| Op::Script(call, result)))
}

fn limit() -> impl Strategy<Value = Limit> {
    prop_oneof![
        4 => any::<u8>().prop_map(Limit::Small),
        3 => any::<u16>().prop_map(Limit::Medium),
        2 => any::<u32>().prop_map(Limit::Large),
        1 => Just(Limit::Max),
    ]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        any::<u8>().prop_map(Target::Fixed),
        any::<u8>().prop_map(Target::Known),
    ]
}

fn budget() -> impl Strategy<Value = u8> {
    prop_oneof![1 => Just(0u8), 6 => 1u8..=4, 2 => any::<u8>()]
}

/// Any operation; subscription calls are likelier on a SUB socket. Closing operations are
/// rare enough that most of a sequence runs on an open transport.
fn op(sub: bool) -> BoxedStrategy<Op> {
    let subs = if sub { 3 } else { 1 };
    prop_oneof![
        14 => frames().prop_map(Op::Write),
        6 => any::<bool>().prop_map(Op::SetWritable),
        10 => script(),
        1 => Just(Op::ClearScripts),
        3 => any::<u8>().prop_map(Op::Incoming),
        12 => (prop::option::of(any::<bool>()), 0u8..4, budget()).prop_map(
            |(writable, incoming, budget)| Op::Readiness { writable, incoming, budget }
        ),
        6 => (prop::option::of(limit()), prop::option::of(limit()))
            .prop_map(|(high, low)| Op::SetWriteLimits { high, low }),
        2 => Just(Op::PauseReading),
        2 => Just(Op::ResumeReading),
        subs => any::<u8>().prop_map(Op::Subscribe),
        subs => any::<u8>().prop_map(Op::Unsubscribe),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(i, on)| Op::NoteSubscription(i, on)),
        1 => any::<u8>().prop_map(Op::Bind),
        1 => target().prop_map(Op::Unbind),
        1 => any::<u8>().prop_map(Op::Connect),
        1 => target().prop_map(Op::Disconnect),
        1 => (any::<u16>(), any::<u32>()).prop_map(|(code, value)| Op::SocketEvent { code, value }),
        8 => (0u8..4).prop_map(Op::Poll),
        1 => Just(Op::TakeProgress),
        1 => prop_oneof![
            Just(Op::Close),
            Just(Op::Abort),
            errno().prop_map(Op::Fatal),
            any::<u8>().prop_map(Op::CloseWithLinger),
        ],
        1 => Just(Op::LingerExpired),
        1 => Just(Op::TakeBackend),
        2 => any::<bool>().prop_map(Op::SetReadBackpressure),
        1 => Just(Op::CloseKeepingReceived),
        3 => Just(Op::TakePauseWriting),
    ]
    .boxed()
}

/// An operation that puts the queue's weight exactly at, or one off, a watermark: a
/// one-frame write of the weight left to the high watermark (a frame weighs its length plus
/// `FRAME_OVERHEAD`), or new watermarks at the queued weight. (Random sizes alone almost
/// never hit `queued == high` or `queued == low`.)
fn at_a_watermark(state: &Model) -> BoxedStrategy<Op> {
    let queued = state.queued_weight();
    let (_, high) = state.write_limits();
    let to_high = high.saturating_sub(queued).saturating_sub(FRAME_OVERHEAD);
    let near = |n: usize| {
        let n = n.min(u32::MAX as usize - 1) as u32;
        prop_oneof![Just(n.saturating_sub(1)), Just(n), Just(n + 1)]
    };
    let write = near(to_high.min(MAX_FRAME_LEN))
        .prop_map(|len| Op::Write(Frames(vec![len.min(MAX_FRAME_LEN as u32)])));
    let high_at_queue = near(queued).prop_map(|high| Op::SetWriteLimits {
        high: Some(Limit::Large(high)),
        low: Some(Limit::Small(0)),
    });
    let low_at_queue = near(queued).prop_map(|low| Op::SetWriteLimits {
        high: Some(Limit::Large(low.saturating_add(16))),
        low: Some(Limit::Large(low)),
    });
    prop_oneof![write, high_at_queue, low_at_queue].boxed()
}

// ----- the state machine -----

/// The reference state machine: the model.
struct EngineMachine;

impl ReferenceStateMachine for EngineMachine {
    type State = Model;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<Model> {
        socket_kind().prop_map(Model::new).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Op> {
        prop_oneof![
            12 => op(state.socket() == SocketKind::Sub),
            1 => at_a_watermark(state),
        ]
        .boxed()
    }

    fn apply(mut state: Model, op: &Op) -> Model {
        state.apply(op);
        state
    }
}

/// The system under test: the engine over the fake, with the harness's checks.
struct EngineTest;

impl StateMachineTest for EngineTest {
    type SystemUnderTest = Harness;
    type Reference = EngineMachine;

    fn init_test(model: &Model) -> Harness {
        Harness::new(model.socket())
    }

    fn apply(mut harness: Harness, model: &Model, op: Op) -> Harness {
        harness.apply(&op, model);
        harness
    }

    fn check_invariants(harness: &Harness, model: &Model) {
        harness.check(model);
    }

    fn teardown(mut harness: Harness, mut model: Model) {
        harness.settle(&mut model);
    }
}

prop_state_machine! {
    #![proptest_config(config("proptest-regressions/engine_model.txt"))]

    /// The engine agrees with the model and keeps every invariant, whatever the sequence.
    #[test]
    fn engine_matches_model(sequential 1..64 => EngineTest);
}

proptest! {
    #![proptest_config(config("proptest-regressions/engine_model_encoding.txt"))]

    /// `EngineCase::to_fuzz_input` is what the `engine_ops` fuzz target decodes.
    #[test]
    fn fuzz_input_encoding_round_trips(
        socket in socket_kind(),
        ops in prop::collection::vec(op(true), 0..24),
    ) {
        let case = EngineCase { socket, ops };
        prop_assert_eq!(EngineCase::from_fuzz_input(&case.to_fuzz_input()), Some(case));
    }
}

// ----- regression tests -----

/// `set_write_limits` after `ConnectionLost` emits nothing.
///
/// Scenario: writing is paused (the queue is above the high watermark), the transport is
/// lost (`abort`, a fatal error, or a close that dropped the queue), then the watermarks are
/// set again, e.g. by `set_write_buffer_limits` from a protocol callback.
/// Bug: `Engine::set_write_limits` re-applied the watermarks to the emptied queue and emitted
/// `ResumeWriting` after `ConnectionLost`, which must be the last event: the protocol got
/// `resume_writing()` after `connection_lost()`. Found by `engine_matches_model`.
/// Fix: once closed, `set_write_limits` stores the limits and emits nothing.
#[test]
fn set_write_limits_after_connection_lost_emits_nothing() {
    let mut backend = FakeBackend::new();
    backend.set_writable(false);
    let mut engine = Engine::new(backend, zmq::PUSH);
    engine.write(vec![vec![0u8; 65537]].into()).unwrap();
    assert_eq!(engine.poll_event(), Some(EngineEvent::PauseWriting));
    engine.abort();
    assert_eq!(engine.lifecycle(), Lifecycle::Closed);
    engine.set_write_limits(None, None).unwrap();
    engine.set_write_limits(Some(1 << 20), Some(0)).unwrap();
    assert_eq!(engine.write_limits(), (0, 1 << 20));
    assert_eq!(engine.poll_event(), Some(EngineEvent::ConnectionLost(None)));
    assert_eq!(engine.poll_event(), None);

    // The sequence the model test shrank to, through the harness.
    engine::run(&EngineCase {
        socket: SocketKind::Push,
        ops: vec![
            Op::SetWritable(false),
            Op::Write(Frames(vec![65537])),
            Op::Abort,
            Op::SetWriteLimits {
                high: None,
                low: None,
            },
        ],
    });
}
