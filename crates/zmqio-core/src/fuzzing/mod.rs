//! The checks behind the fuzz targets in `fuzz/`, shared with their stable-Rust replay.
//!
//! Enabled by the `testing` feature; not part of the supported API. Each target is one
//! function taking the fuzzer's raw bytes and panicking when an invariant breaks:
//!
//! - [`engine_ops`]: an [`EngineCase`] (socket kind and [`Op`] sequence) applied to an
//!   [`Engine`](crate::engine::Engine) over the fake backend, checked against a reference
//!   [`Model`] and the invariants listed in [`engine`] after every step;
//! - [`monitor_decode`]: [`decode_monitor_event`](crate::decode_monitor_event) on arbitrary
//!   frames, and decode/encode round trips;
//! - [`endpoint`]: the endpoint checks never panic, agree with each other, and
//!   `tcp_host_to_resolve` / `format_tcp_endpoint` round-trip;
//! - [`version`]: [`parse_version`](crate::parse_version) never panics and round-trips
//!   through `Display`.
//!
//! `fuzz/fuzz_targets/<name>.rs` calls the function of the same name (see [`TARGETS`]);
//! `tests/fuzz_corpus.rs` replays every file of `fuzz/corpus/<name>/` through it.
//!
//! # Example
//!
//! ```
//! use zmqio_core::fuzzing::{self, EngineCase, Frames, Op, SocketKind};
//!
//! let case = EngineCase {
//!     socket: SocketKind::Dealer,
//!     ops: vec![Op::SetWritable(false), Op::Write(Frames(vec![3, 0, 70_000])), Op::Poll(0)],
//! };
//! fuzzing::engine::run(&case); // panics if the engine breaks an invariant
//! let bytes = case.to_fuzz_input();
//! assert_eq!(EngineCase::from_fuzz_input(&bytes), Some(case));
//! fuzzing::engine_ops(&bytes); // the same run, as the fuzz target does it
//! ```

pub mod engine;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use arbitrary::{Arbitrary, Unstructured};

pub use self::engine::{
    EngineCase, Errno, Frames, Harness, Limit, Model, Op, Outcome, ScriptCall, Scripted,
    SocketKind, Target,
};
use crate::monitor::{decode_monitor_event, MonitorEvent, SocketEvent};
use crate::types::endpoint::{
    check_connect_endpoint, check_endpoint_syntax, format_tcp_endpoint, resolved_endpoint,
    tcp_host_to_resolve,
};
use crate::types::version::{parse_version, ReleaseLevel, VersionInfo};
use crate::{Error, Result};

/// The check of a fuzz target: panics when the input breaks an invariant.
pub type Check = fn(&[u8]);

/// The fuzz targets: `(name, check)`. `fuzz/fuzz_targets/<name>.rs` runs `check` on each
/// input, and its corpus is `fuzz/corpus/<name>/`.
pub const TARGETS: [(&str, Check); 4] = [
    ("engine_ops", engine_ops),
    ("monitor_decode", monitor_decode),
    ("endpoint", endpoint),
    ("version", version),
];

/// Target `engine_ops`: decodes an [`EngineCase`] and runs it (see [`engine::run`]). Input
/// that does not decode is ignored.
///
/// # Panics
///
/// When the engine disagrees with the model or breaks an invariant.
pub fn engine_ops(data: &[u8]) {
    if let Some(case) = EngineCase::from_fuzz_input(data) {
        engine::run(&case);
    }
}

impl EngineCase {
    /// Decodes a fuzz input as `libfuzzer_sys::fuzz_target!(|case: EngineCase| ..)` does:
    /// `None` for input shorter than the size hint, else `arbitrary_take_rest`.
    pub fn from_fuzz_input(data: &[u8]) -> Option<Self> {
        if data.len() < Self::size_hint(0).0 {
            return None;
        }
        Self::arbitrary_take_rest(Unstructured::new(data)).ok()
    }

    /// The fuzz input that decodes to this case, for seeding the corpus with meaningful
    /// sequences (e.g. a case proptest shrank to). Frame lists longer than
    /// [`engine::MAX_FRAMES`] and lengths above [`engine::MAX_FRAME_LEN`] are cut.
    pub fn to_fuzz_input(&self) -> Vec<u8> {
        let mut out = Vec::new();
        tag(&mut out, self.socket as usize, SocketKind::ALL.len());
        for op in &self.ops {
            out.push(1); // "another element" of the take-rest `Vec`
            encode_op(&mut out, op);
        }
        out
    }
}

/// The variant tag `derive(Arbitrary)` reads: a little-endian `u32` `t` with
/// `(t * n) >> 32 == index`.
fn tag(out: &mut Vec<u8>, index: usize, n: usize) {
    let t = ((index as u64) << 32).div_ceil(n as u64) as u32;
    out.extend_from_slice(&t.to_le_bytes());
}

const OP_VARIANTS: usize = 28;

fn encode_op(out: &mut Vec<u8>, op: &Op) {
    let variant = |out: &mut Vec<u8>, index| tag(out, index, OP_VARIANTS);
    match *op {
        Op::Write(ref frames) => {
            variant(out, 0);
            let lens: Vec<u32> = frames.0.iter().take(engine::MAX_FRAMES).copied().collect();
            out.push(lens.len() as u8);
            for len in lens {
                out.extend_from_slice(&Frames::encode_len(len).to_le_bytes());
            }
        }
        Op::SetWritable(writable) => {
            variant(out, 1);
            out.push(writable.into());
        }
        Op::Script(call, result) => {
            variant(out, 2);
            tag(out, call as usize, ScriptCall::ALL.len());
            match result {
                Scripted::Pass => tag(out, 0, 2),
                Scripted::Fail(errno) => {
                    tag(out, 1, 2);
                    tag(out, errno as usize, ERRNO_VARIANTS);
                }
            }
        }
        Op::ClearScripts => variant(out, 3),
        Op::Incoming(n) => {
            variant(out, 4);
            out.push(n);
        }
        Op::Readiness {
            writable,
            incoming,
            budget,
        } => {
            variant(out, 5);
            match writable {
                None => out.push(0),
                Some(w) => out.extend_from_slice(&[1, w.into()]),
            }
            out.extend_from_slice(&[incoming, budget]);
        }
        Op::SetWriteLimits { high, low } => {
            variant(out, 6);
            for limit in [high, low] {
                match limit {
                    None => out.push(0),
                    Some(limit) => {
                        out.push(1);
                        encode_limit(out, limit);
                    }
                }
            }
        }
        Op::PauseReading => variant(out, 7),
        Op::ResumeReading => variant(out, 8),
        Op::Subscribe(i) => {
            variant(out, 9);
            out.push(i);
        }
        Op::Unsubscribe(i) => {
            variant(out, 10);
            out.push(i);
        }
        Op::NoteSubscription(i, on) => {
            variant(out, 11);
            out.extend_from_slice(&[i, on.into()]);
        }
        Op::Bind(i) => {
            variant(out, 12);
            out.push(i);
        }
        Op::Unbind(target) => {
            variant(out, 13);
            encode_target(out, target);
        }
        Op::Connect(i) => {
            variant(out, 14);
            out.push(i);
        }
        Op::Disconnect(target) => {
            variant(out, 15);
            encode_target(out, target);
        }
        Op::SocketEvent { code, value } => {
            variant(out, 16);
            out.extend_from_slice(&code.to_le_bytes());
            out.extend_from_slice(&value.to_le_bytes());
        }
        Op::Poll(n) => {
            variant(out, 17);
            out.push(n);
        }
        Op::TakeProgress => variant(out, 18),
        Op::Close => variant(out, 19),
        Op::Abort => variant(out, 20),
        Op::Fatal(errno) => {
            variant(out, 21);
            tag(out, errno as usize, ERRNO_VARIANTS);
        }
        Op::TakeBackend => variant(out, 22),
        Op::SetReadBackpressure(on) => {
            variant(out, 23);
            out.push(on.into());
        }
        Op::CloseKeepingReceived => variant(out, 24),
        Op::TakePauseWriting => variant(out, 25),
        Op::CloseWithLinger(ms) => {
            variant(out, 26);
            out.push(ms);
        }
        Op::LingerExpired => variant(out, 27),
    }
}

const ERRNO_VARIANTS: usize = 10;

fn encode_limit(out: &mut Vec<u8>, limit: Limit) {
    match limit {
        Limit::Small(v) => {
            tag(out, 0, 4);
            out.push(v);
        }
        Limit::Medium(v) => {
            tag(out, 1, 4);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Limit::Large(v) => {
            tag(out, 2, 4);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Limit::Max => tag(out, 3, 4),
    }
}

fn encode_target(out: &mut Vec<u8>, target: Target) {
    let (index, i) = match target {
        Target::Fixed(i) => (0, i),
        Target::Known(i) => (1, i),
    };
    tag(out, index, 2);
    out.push(i);
}

// ----- monitor_decode -----

/// Target `monitor_decode`: [`decode_monitor_event`] never panics, fails only with
/// `InvalidArgument`, and round-trips with [`encode_monitor_event`] both ways.
///
/// The input is split into frames by [`split_frames`]; the same bytes also give an event
/// (code from bytes 0-1, value from 2-5, endpoint from the rest) that must survive
/// `decode(encode(event))`.
///
/// # Panics
///
/// When an invariant breaks.
pub fn monitor_decode(data: &[u8]) {
    let frames = split_frames(data);
    match decode_monitor_event(&frames) {
        Ok(event) => {
            assert_eq!(
                encode_monitor_event(&event).as_slice(),
                frames.as_slice(),
                "a decoded event encodes back to other frames"
            );
            let _ = event.to_string();
        }
        Err(Error::InvalidArgument(msg)) => {
            assert!(!msg.is_empty() && msg == msg.to_lowercase(), "{msg:?}");
        }
        Err(other) => panic!("decode failed with {other:?}, not InvalidArgument"),
    }

    let mut head = [0u8; 6];
    let n = data.len().min(6);
    head[..n].copy_from_slice(&data[..n]);
    let event = SocketEvent {
        event: MonitorEvent::from_code(u16::from_ne_bytes([head[0], head[1]])),
        value: u32::from_ne_bytes([head[2], head[3], head[4], head[5]]),
        endpoint: String::from_utf8_lossy(&data[n..]).into_owned(),
    };
    let decoded = decode_monitor_event(&encode_monitor_event(&event));
    assert_eq!(
        decoded.as_ref(),
        Ok(&event),
        "decode(encode(event)) != event"
    );
}

/// Splits fuzz input into frames: the first byte is a count `k` (`% 4`) of length-prefixed
/// frames (`[len: u8][len bytes]`) that follow; whatever is left is one last frame. Empty
/// input is no frames at all. A well-formed monitor message is therefore
/// `[1, 6, <6-byte head>, <endpoint>]`.
pub fn split_frames(data: &[u8]) -> Vec<Vec<u8>> {
    let Some((&count, mut rest)) = data.split_first() else {
        return Vec::new();
    };
    let mut frames = Vec::new();
    for _ in 0..count % 4 {
        let Some((&len, tail)) = rest.split_first() else {
            break;
        };
        let len = usize::from(len).min(tail.len());
        frames.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    frames.push(rest.to_vec());
    frames
}

/// The two frames libzmq's monitor sends for `event` (see [`crate::monitor`]).
pub fn encode_monitor_event(event: &SocketEvent) -> [Vec<u8>; 2] {
    let mut head = event.event.code().to_ne_bytes().to_vec();
    head.extend_from_slice(&event.value.to_ne_bytes());
    [head, event.endpoint.as_bytes().to_vec()]
}

// ----- endpoint -----

/// Target `endpoint`: the endpoint checks never panic and agree with each other, and a
/// resolved endpoint round-trips.
///
/// The input (as UTF-8, lossily) is the endpoint. Its bytes also make a socket address
/// (see [`socket_addr`]) for the `format_tcp_endpoint` round trip.
///
/// # Panics
///
/// When an invariant breaks.
pub fn endpoint(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_endpoint(&text);
    check_resolved(socket_addr(data));
}

/// The endpoint checks on one endpoint (see [`endpoint`]).
///
/// # Panics
///
/// When an invariant breaks.
pub fn check_endpoint(endpoint: &str) {
    // Refusals are EINVAL, like libzmq's own; a NUL is always refused, and only tcp
    // endpoints are refused for anything else (a port libzmq would misread).
    let syntax = check_endpoint_syntax(endpoint);
    if let Err(e) = &syntax {
        assert_eq!(e, &Error::Zmq(zmq::Error::EINVAL), "{endpoint:?}");
        assert!(
            endpoint.contains('\0') || endpoint.starts_with("tcp://"),
            "{endpoint:?} refused"
        );
    } else {
        assert!(
            !endpoint.contains('\0'),
            "{endpoint:?} has a NUL but passed"
        );
    }

    let connect = check_connect_endpoint(endpoint);
    if let Err(e) = &connect {
        let Error::InvalidArgument(msg) = e else {
            panic!("connect check of {endpoint:?} failed with {e:?}");
        };
        assert!(
            endpoint.starts_with("tcp://"),
            "non-tcp {endpoint:?} rejected"
        );
        // A rejected host name can be resolved with resolve_endpoint, as the message says,
        // unless it is not a plain host:port (source address, odd port).
        let plain_port = endpoint
            .rsplit_once(':')
            .is_some_and(|(_, port)| is_decimal_u16(port));
        if msg.contains("resolve_endpoint") && !endpoint.contains(';') && plain_port {
            assert!(
                tcp_host_to_resolve(endpoint).is_some(),
                "{endpoint:?} is rejected as a name but cannot be resolved"
            );
        }
    }

    if let Some((host, port)) = tcp_host_to_resolve(endpoint) {
        // What it returns is exactly what the endpoint holds.
        let address = endpoint.strip_prefix("tcp://").expect("tcp endpoint");
        let (host_part, port_part) = address.rsplit_once(':').expect("host:port");
        assert!(
            host_part == host || host_part == format!("[{host}]"),
            "{endpoint:?} gave host {host:?}"
        );
        assert_eq!(port_part.parse::<u16>().ok(), Some(port), "{endpoint:?}");
        assert!(
            !host.is_empty() && host != "*",
            "{endpoint:?} gave host {host:?}"
        );
        assert!(
            !is_ip_literal(host),
            "{endpoint:?}: an ip literal needs no resolving"
        );
        // Resolving it gives an endpoint that needs no more resolving and passes connect's
        // check.
        for ip in [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ] {
            let resolved = resolved_endpoint(endpoint, [SocketAddr::new(ip, port)])
                .expect("one address resolves");
            assert_eq!(tcp_host_to_resolve(&resolved), None, "{resolved}");
            assert_eq!(check_endpoint_syntax(&resolved), Ok(()), "{resolved}");
            assert_eq!(check_connect_endpoint(&resolved), Ok(()), "{resolved}");
        }
    }
}

/// `format_tcp_endpoint` round trip on one address (see [`endpoint`]).
///
/// # Panics
///
/// When an invariant breaks.
pub fn check_resolved(addr: SocketAddr) {
    let endpoint = format_tcp_endpoint(addr);
    assert_eq!(check_endpoint_syntax(&endpoint), Ok(()), "{endpoint}");
    assert_eq!(check_connect_endpoint(&endpoint), Ok(()), "{endpoint}");
    assert_eq!(tcp_host_to_resolve(&endpoint), None, "{endpoint}");
    let back: SocketAddr = endpoint
        .strip_prefix("tcp://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("{endpoint} does not parse back"));
    assert_eq!(back, addr, "{endpoint}");
    // The first IPv4 address wins; otherwise the first one.
    let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 1);
    let expected = if addr.is_ipv4() { addr } else { v6 };
    assert_eq!(
        resolved_endpoint("tcp://name:1", [v6, addr]),
        Ok(format_tcp_endpoint(expected))
    );
    let empty: [SocketAddr; 0] = [];
    assert!(matches!(
        resolved_endpoint("tcp://name:1", empty),
        Err(Error::Io(_))
    ));
}

/// A socket address from fuzz bytes: byte 0 picks IPv4 (even) or IPv6 (odd), then the
/// address bytes, two port bytes, and for IPv6 a scope id byte (missing bytes are zero).
pub fn socket_addr(data: &[u8]) -> SocketAddr {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    if byte(0) % 2 == 0 {
        let ip = Ipv4Addr::new(byte(1), byte(2), byte(3), byte(4));
        SocketAddr::new(IpAddr::V4(ip), u16::from_be_bytes([byte(5), byte(6)]))
    } else {
        let octets: [u8; 16] = std::array::from_fn(|i| byte(1 + i));
        let port = u16::from_be_bytes([byte(17), byte(18)]);
        SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(octets),
            port,
            0,
            byte(19).into(),
        ))
    }
}

fn is_decimal_u16(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u16>().is_ok()
}

fn is_ip_literal(host: &str) -> bool {
    let addr = host.rsplit_once('%').map_or(host, |(addr, _)| addr);
    addr.parse::<IpAddr>().is_ok()
}

// ----- version -----

/// Target `version`: [`parse_version`] never panics, fails only with `InvalidArgument`
/// naming the input, and what it parses prints back as written (but for an explicit `.0`
/// serial); a version built from the bytes round-trips through `Display`.
///
/// # Panics
///
/// When an invariant breaks.
pub fn version(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_version(&text);

    let mut u = Unstructured::new(data);
    let levels = [
        ReleaseLevel::Alpha,
        ReleaseLevel::Beta,
        ReleaseLevel::Candidate,
        ReleaseLevel::Final,
    ];
    let field = |u: &mut Unstructured<'_>| u32::arbitrary(u).unwrap_or(0);
    let (major, minor, micro) = (field(&mut u), field(&mut u), field(&mut u));
    let releaselevel = levels[field(&mut u) as usize % levels.len()];
    let serial = if releaselevel == ReleaseLevel::Final {
        0
    } else {
        field(&mut u)
    };
    let v = VersionInfo {
        major,
        minor,
        micro,
        releaselevel,
        serial,
    };
    assert_eq!(parse_version(&v.to_string()).as_ref(), Ok(&v), "{v}");
}

/// The `parse_version` checks on one string (see [`version`]).
///
/// # Panics
///
/// When an invariant breaks.
pub fn check_version(text: &str) {
    let parsed: Result<VersionInfo> = parse_version(text);
    match parsed {
        Ok(v) => {
            let printed = v.to_string();
            let expected = match text.strip_suffix(".0") {
                Some(short) if text.contains('-') => short,
                _ => text,
            };
            assert_eq!(printed, expected, "{text:?} parsed to {v:?}");
            assert_eq!(parse_version(&printed).as_ref(), Ok(&v), "{printed}");
        }
        Err(Error::InvalidArgument(msg)) => {
            assert!(
                msg.contains(&format!("{text:?}")),
                "{msg} does not name the input"
            );
        }
        Err(other) => panic!("{text:?} failed with {other:?}, not InvalidArgument"),
    }
}
