//! What every implementation shares: workload shapes, payloads, sockets, results.

use std::time::Duration;

use bytes::Bytes;

/// The endpoint every benchmark binds; the wildcard port is resolved after the bind.
pub(crate) const BIND: &str = "tcp://127.0.0.1:*";

/// Messages between two sleeps of the slow reader in workload M.
pub(crate) const M_BATCH: u64 = 64;
/// The slow reader's pause, every [`M_BATCH`] messages.
pub(crate) const M_PAUSE: Duration = Duration::from_millis(1);
/// Message size of workload M.
pub(crate) const M_MSG: usize = 8 * 1024;

/// A PUSH->PULL throughput workload: `count` messages of `frames` frames of `frame_len` bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tput {
    pub(crate) count: u64,
    pub(crate) frames: usize,
    pub(crate) frame_len: usize,
}

impl Tput {
    /// The frames of one message.
    pub(crate) fn payload(&self) -> Vec<Bytes> {
        (0..self.frames)
            .map(|i| Bytes::from(vec![b'a' + i as u8; self.frame_len]))
            .collect()
    }
}

/// Frame of the PUB->SUB workload: first byte the topic (`A` subscribed, `B` not), second
/// byte the kind (`p` probe, `d` data, `e` end), padded to 64 bytes.
pub(crate) fn pub_frame(topic: u8, kind: u8) -> Bytes {
    let mut v = vec![b'.'; 64];
    v[0] = topic;
    v[1] = kind;
    Bytes::from(v)
}

/// What the subscriber of workload P saw.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PubResult {
    pub(crate) elapsed: Duration,
    /// Data messages received (all of topic `A`).
    pub(crate) received: u64,
    /// Data messages published, both topics.
    pub(crate) sent: u64,
}

/// A context with `io_threads` I/O threads.
pub(crate) fn context(io_threads: i32) -> zmq::Context {
    let ctx = zmq::Context::new();
    ctx.set_io_threads(io_threads).expect("set io threads");
    ctx
}

/// A socket with `LINGER` 0, so closing it never waits.
pub(crate) fn socket(ctx: &zmq::Context, ty: zmq::SocketType) -> zmq::Socket {
    let s = ctx.socket(ty).expect("socket");
    s.set_linger(0).expect("linger");
    s
}

/// The endpoint a socket was last bound to.
pub(crate) fn last_endpoint(s: &zmq::Socket) -> String {
    s.get_last_endpoint()
        .expect("last endpoint")
        .expect("utf-8 endpoint")
}

/// A PUB socket with `SNDHWM` 0 (no limit: nothing dropped).
pub(crate) fn pub_socket(ctx: &zmq::Context) -> zmq::Socket {
    let s = socket(ctx, zmq::PUB);
    s.set_sndhwm(0).expect("sndhwm");
    s
}

/// A SUB socket with `RCVHWM` 0 (no limit: nothing dropped); not subscribed yet.
pub(crate) fn sub_socket(ctx: &zmq::Context) -> zmq::Socket {
    let s = socket(ctx, zmq::SUB);
    s.set_rcvhwm(0).expect("rcvhwm");
    s
}

/// Round-trip samples in nanoseconds, sorted, as `(p50, p99)` in microseconds.
pub(crate) fn percentiles(mut samples: Vec<u64>) -> (f64, f64) {
    samples.sort_unstable();
    let at = |q: usize| samples[(samples.len() * q / 100).min(samples.len() - 1)] as f64 / 1e3;
    (at(50), at(99))
}
