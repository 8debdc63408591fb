//! The floor: raw blocking libzmq, as in [`raw`](crate::raw), plus only the work that
//! zmqio's API itself implies for each message, each step done the cheapest way known here
//! (zmqio's own where it has one), with none of zmqio's machinery (no engine, no driver, no
//! runtime, no readiness of `ZMQ_FD`). A cheap implementation of the API's shapes, not a
//! proven lower bound: a cheaper way to do one of its steps would lower it.
//!
//! What the API implies, and so what this adds to the raw loop:
//!
//! - **send:** the caller builds a `Multipart` of `Bytes` (the same `message()` as the zmqio
//!   rows); the transport is shared with its driver, so a write takes a lock; the message is
//!   dropped once sent.
//! - **receive:** each frame becomes a `Bytes` that outlives the receive, copied into a
//!   shared chunk (the cheapest safe way found to get a `Bytes` without an allocation per
//!   frame; used-up chunks are reused as zmqio's receive arena reuses them); the frames become a `Multipart`; messages are received in
//!   runs under one lock (one `ZMQ_EVENTS` read per run, as the `ZMQ_FD` rules need at
//!   least) and handed, outside the lock, one by one to a callback through a trait object,
//!   which drops them.
//!
//! The libzmq calls are zmqio backend's own, which are cheaper than the `zmq` crate's that
//! the raw rows make (`zmq_send` copies a small frame into the message it makes; a received
//! frame is read from a `zmq_msg_t` kept for every receive, its size taken from
//! `zmq_msg_recv`'s return), so nothing here is dearer than zmqio's way of doing the same.
//!
//! The difference between this row and raw is the price of the API's shapes; between zmqio
//! and this row, the price of zmqio's machinery (engine, driver, runtime, wakers). Only for
//! `--instr`, T64 and T2F (small frames: zmqio sends a frame of 1 KiB or more without
//! copying it, which this does not model): `scripts/instructions.sh -v floor-1io`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use zmqio_core::Multipart;

use crate::common::{context, last_endpoint, socket, Tput, BIND};

/// Messages received per run at most, as zmqio's driver's budget.
const RUN: usize = 256;
/// The size of one chunk small frames are copied into (zmqio's receive arena's).
const CHUNK: usize = 8 * 1024;
/// Used-up chunks kept for reuse (zmqio's receive arena keeps as many).
const SPARES: usize = 7;

/// What a protocol's `msg_received` is to the floor: called through a trait object.
trait Receiver {
    fn msg_received(&mut self, msg: Multipart);
}

/// Counts the messages; in a debug build also checks each one's frames and bytes against
/// the workload's.
struct Count {
    received: u64,
    spec: Tput,
}

impl Receiver for Count {
    fn msg_received(&mut self, msg: Multipart) {
        debug_assert_eq!(msg.len(), self.spec.frames);
        // The payload of frame `i` is `frame_len` bytes of `b'a' + i` (`Tput::payload`).
        debug_assert!(msg.iter().enumerate().all(|(i, f)| {
            f.len() == self.spec.frame_len && f.iter().all(|&b| b == b'a' + i as u8)
        }));
        self.received += 1;
    }
}

/// A `zmq_msg_t` received into again and again, read with the fewest calls into libzmq (the
/// size from `zmq_msg_recv`'s return, `zmq_msg_more`, `zmq_msg_data`), as zmqio's backend
/// reads its own.
struct RecvMsg(zmq_sys::zmq_msg_t);

impl RecvMsg {
    fn new() -> Self {
        let mut msg = zmq_sys::zmq_msg_t::default();
        // SAFETY: `zmq_msg_init` makes `msg` an empty message; it cannot fail.
        unsafe { zmq_sys::zmq_msg_init(&mut msg) };
        Self(msg)
    }

    /// Receives a frame; returns its payload and whether more frames follow.
    fn recv(&mut self, socket: &mut zmq::Socket, flags: i32) -> zmq::Result<(&[u8], bool)> {
        // SAFETY: `self.0` is an initialised message (a receive, failed or not, leaves it
        // so) and `socket` is open for the call. The payload slice is `rc` bytes at
        // `zmq_msg_data`, valid until the next receive or the close, both of which need
        // `&mut self`, which the returned borrow holds.
        unsafe {
            let rc = zmq_sys::zmq_msg_recv(&mut self.0, socket.as_mut_ptr(), flags);
            if rc < 0 {
                return Err(zmq::Error::from_raw(zmq_sys::zmq_errno()));
            }
            let more = zmq_sys::zmq_msg_more(&self.0) != 0;
            if rc == 0 {
                return Ok((&[], more));
            }
            let data = zmq_sys::zmq_msg_data(&mut self.0).cast::<u8>();
            Ok((std::slice::from_raw_parts(data, rc as usize), more))
        }
    }
}

impl Drop for RecvMsg {
    fn drop(&mut self) {
        // SAFETY: an initialised message, closed once.
        unsafe { zmq_sys::zmq_msg_close(&mut self.0) };
    }
}

/// Sends a copy of `data` with `zmq_send` (one call, libzmq makes the message), as zmqio's
/// backend sends a small frame.
fn send(socket: &mut zmq::Socket, data: &[u8], flags: i32) {
    // SAFETY: `data` is valid for its length during the call and only read; `socket` is
    // open for the call.
    let rc =
        unsafe { zmq_sys::zmq_send(socket.as_mut_ptr(), data.as_ptr().cast(), data.len(), flags) };
    if rc < 0 {
        // SAFETY: reads this thread's errno, right after the failed call.
        let errno = unsafe { zmq_sys::zmq_errno() };
        panic!("send: {}", zmq::Error::from_raw(errno));
    }
}

/// Where received frames are copied to: the current chunk, and used-up chunks kept to be
/// filled again once their frames are all dropped (`try_reclaim`), as zmqio's receive arena
/// keeps them, so a chunk costs no allocation once the first few exist.
#[derive(Default)]
struct Chunks {
    current: BytesMut,
    spares: Vec<BytesMut>,
    /// Whether `current` is a chunk yet.
    in_chunk: bool,
}

impl Chunks {
    /// `data` as a `Bytes` in the current chunk, moving on to a reclaimed or new one when it
    /// does not fit.
    fn copy(&mut self, data: &[u8]) -> Bytes {
        if data.is_empty() {
            return Bytes::new();
        }
        if self.current.capacity() < data.len() {
            self.next(data.len());
        }
        self.current.extend_from_slice(data);
        self.current.split().freeze()
    }

    /// Moves on to the first spare whose frames are all dropped, else to a new chunk; the
    /// used-up one becomes a spare (at most [`SPARES`] are kept).
    #[cold]
    fn next(&mut self, len: usize) {
        let size = CHUNK.max(len);
        let used = std::mem::take(&mut self.current);
        let reclaimed = self.spares.iter_mut().position(|c| c.try_reclaim(size));
        self.current = match reclaimed {
            Some(i) => self.spares.remove(i),
            None => BytesMut::with_capacity(size),
        };
        // The first, empty handle is no chunk.
        if std::mem::replace(&mut self.in_chunk, true) {
            if self.spares.len() == SPARES {
                self.spares.remove(0);
            }
            self.spares.push(used);
        }
    }
}

/// The receive side's state, behind the lock.
struct State {
    socket: zmq::Socket,
    msg: RecvMsg,
    chunks: Chunks,
    queue: VecDeque<Multipart>,
}

impl State {
    /// Receives one whole message; `flags` for its first frame. One and two frames are
    /// built directly, as zmqio's backend builds them.
    fn recv(&mut self, flags: i32) -> zmq::Result<Multipart> {
        let (data, more) = self.msg.recv(&mut self.socket, flags)?;
        let first = self.chunks.copy(data);
        if !more {
            return Ok(Multipart::from(first));
        }
        let (data, more) = self.msg.recv(&mut self.socket, 0)?;
        let second = self.chunks.copy(data);
        let mut out = Multipart::from([first, second]);
        let mut more = more;
        while more {
            let (data, next) = self.msg.recv(&mut self.socket, 0)?;
            out.push(self.chunks.copy(data));
            more = next;
        }
        Ok(out)
    }

    /// Receives a run: the first message blocking, then what is there, up to [`RUN`].
    fn recv_run(&mut self) {
        let first = self.recv(0).expect("recv");
        self.queue.push_back(first);
        // The `ZMQ_EVENTS` read every pass of zmqio's driver makes at least once.
        let _ = self.socket.get_events().expect("events");
        while self.queue.len() < RUN {
            match self.recv(zmq::DONTWAIT) {
                Ok(msg) => self.queue.push_back(msg),
                Err(zmq::Error::EAGAIN) => break,
                Err(e) => panic!("recv: {e}"),
            }
        }
    }
}

/// PUSH->PULL: time from the first send to the last message received.
pub(crate) fn throughput(io_threads: i32, spec: Tput) -> Duration {
    let ctx = context(io_threads);
    let pull = socket(&ctx, zmq::PULL);
    pull.bind(BIND).expect("bind");
    let push = socket(&ctx, zmq::PUSH);
    push.connect(&last_endpoint(&pull)).expect("connect");
    let frames = spec.payload();
    let start = Instant::now();
    let rx = thread::spawn(move || {
        let state = Mutex::new(State {
            socket: pull,
            msg: RecvMsg::new(),
            chunks: Chunks::default(),
            queue: VecDeque::with_capacity(RUN),
        });
        // `black_box`: the call stays a call through the trait object, as a protocol's is.
        let mut receiver: Box<dyn Receiver> =
            std::hint::black_box(Box::new(Count { received: 0, spec }));
        let mut run = VecDeque::with_capacity(RUN);
        let mut received = 0;
        while received < spec.count {
            {
                let mut st = state.lock().expect("lock");
                st.recv_run();
                std::mem::swap(&mut run, &mut st.queue);
            }
            while let Some(msg) = run.pop_front() {
                receiver.msg_received(msg);
                received += 1;
            }
        }
        Instant::now()
    });
    let tx = thread::spawn(move || {
        let push = Mutex::new(push);
        for _ in 0..spec.count {
            let msg: Multipart = frames.iter().cloned().collect();
            {
                let mut push = push.lock().expect("lock");
                let last = msg.len() - 1;
                for (i, f) in msg.iter().enumerate() {
                    let flags = if i < last { zmq::SNDMORE } else { 0 };
                    send(&mut push, f, flags);
                }
            }
            drop(msg);
        }
        // Kept open until the receiver is done: LINGER 0 would drop what is in flight.
        push
    });
    let push = tx.join().expect("sender");
    let end = rx.join().expect("receiver");
    drop(push);
    end - start
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// Every message of one-, two- and three-frame workloads (the last of empty frames)
    /// arrives whole (each one's shape is checked in debug builds), through enough chunks to
    /// reuse them, and the run ends: a lost message would leave the receiver blocked, which
    /// the watchdog reports; a wrong one panics the run.
    #[test]
    fn the_floor_delivers_every_message_and_ends() {
        for (frames, frame_len) in [(1, 64), (2, 64), (3, 0)] {
            let spec = Tput {
                count: 5_000,
                frames,
                frame_len,
            };
            let (done, finished) = mpsc::channel();
            thread::spawn(move || {
                throughput(1, spec);
                let _ = done.send(());
            });
            match finished.recv_timeout(Duration::from_secs(60)) {
                Ok(()) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("{frames} x {frame_len} B: the run did not end within 60 s")
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("{frames} x {frame_len} B: the run panicked (see above)")
                }
            }
        }
    }
}
