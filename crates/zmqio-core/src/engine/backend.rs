//! The socket backend: the handful of non-blocking libzmq calls the engine makes.

use std::cell::UnsafeCell;
use std::os::raw::c_void;

use bytes::{Bytes, BytesMut};

use crate::types::endpoint;
use crate::Multipart;

/// A frame payload at or above this size is received without copying: the [`Bytes`] keeps the
/// `zmq::Message` alive instead. Below it the payload is copied into the receive arena
/// ([`RecvArena`]), which costs no allocation of its own, so every frame under 1 KiB is
/// received without a per-message allocation.
const ZERO_COPY_RECV_MIN: usize = 1024;

/// The size of one chunk of the receive arena. Small frames are copied into a chunk one after
/// the other and each becomes a [`Bytes`] sharing it (one allocation per chunk, not per
/// frame). A chunk is freed once every frame in it is dropped and the arena let go of it, so
/// a small frame kept alive keeps its whole chunk alive: at most this much memory per kept
/// frame (for frames of 64 bytes, 128 of them share a chunk). Small enough that keeping a few
/// received frames costs little.
const RECV_ARENA_CHUNK: usize = 8 * 1024;

/// How many used-up chunks the arena keeps to reuse (see [`RecvArena`]): a chunk whose frames
/// have all been dropped is filled again instead of freeing it and allocating a new one. A
/// driver receives up to 256 messages per wake and delivers them after, so the chunks of a
/// run are all alive until it is delivered; with seven spares, a run of messages of up to
/// about 200 bytes each (seven chunks) is received without any allocation at all once the
/// runs before it were dropped. The cost is memory, and only where it was needed once: a
/// socket keeps at most as many chunks as it ever had in use at one time, up to
/// `1 + RECV_ARENA_SPARES` (64 KiB).
const RECV_ARENA_SPARES: usize = 7;

/// A frame payload at or above this size is sent without copying: libzmq gets a pointer into
/// the [`Bytes`] and a clone of it to drop once sent. Below it a copy into a fresh
/// `zmq::Message` is cheaper than the clone, its box and libzmq's reference count. At 1 KiB
/// the shared send already costs about 30% fewer instructions than the copy (see
/// BENCHMARKS.md).
const ZERO_COPY_SEND_MIN: usize = 1024;

/// The non-blocking socket calls the [`Engine`](super::Engine) makes.
///
/// Every call returns at once: `EAGAIN` means "not now", `EINTR` is retried by the engine.
/// [`ZmqBackend`] is the real one; `engine::fake::FakeBackend`, behind the `testing` feature,
/// is scripted for tests. The engine reads [`events`](Backend::events) again after every other call, as the
/// `ZMQ_FD` rules require.
pub trait Backend: Send {
    /// `ZMQ_EVENTS`: whether a receive (`POLLIN`) or a send (`POLLOUT`) would succeed now.
    fn events(&mut self) -> zmq::Result<zmq::PollEvents>;
    /// Sends one frame without blocking; `more` marks that another frame of the same message
    /// follows.
    fn send_frame(&mut self, frame: &Bytes, more: bool) -> zmq::Result<()>;
    /// Receives one whole message without blocking. A backend that got part of a message
    /// before an error keeps the part and completes it on the next call.
    fn recv(&mut self) -> zmq::Result<Multipart>;
    /// Binds and returns the resolved endpoint (the wildcard port replaced by the real one).
    /// An endpoint with an IPv6 literal host must work as given (see [`ZmqBackend`]).
    fn bind(&mut self, endpoint: &str) -> zmq::Result<String>;
    /// Undoes a bind.
    fn unbind(&mut self, endpoint: &str) -> zmq::Result<()>;
    /// Connects. An endpoint with an IPv6 literal host must work as given.
    fn connect(&mut self, endpoint: &str) -> zmq::Result<()>;
    /// Undoes a connect.
    fn disconnect(&mut self, endpoint: &str) -> zmq::Result<()>;
    /// Sets `ZMQ_SUBSCRIBE` (`on`) or `ZMQ_UNSUBSCRIBE`.
    fn set_subscription(&mut self, value: &[u8], on: bool) -> zmq::Result<()>;
    /// The real socket, where there is one.
    fn socket(&self) -> Option<&zmq::Socket> {
        None
    }
}

/// The real backend: a `zmq::Socket` driven with `ZMQ_DONTWAIT`.
///
/// Before a bind or connect to an endpoint with an IPv6 literal host (`tcp://[::1]:*`,
/// `tcp://[fe80::1%eth0]:5555`), it sets `ZMQ_IPV6` on the socket unless it is set already:
/// libzmq ignores IPv6 addresses on a socket without it (a bind fails, a connect never
/// connects). The option then stays on, as libzmq's own default would be for such a socket;
/// it lets the socket's later tcp endpoints use IPv6 as well as IPv4. Endpoints without an
/// IPv6 literal leave the option as it is.
pub struct ZmqBackend {
    socket: zmq::Socket,
    partial: Multipart,
    /// Where small received frames are copied to (see [`RECV_ARENA_CHUNK`]).
    arena: RecvArena,
    /// Receives land here, so a small frame costs no `zmq_msg_init`/`zmq_msg_close` pair of
    /// its own (libzmq closes the previous content on the next receive).
    scratch: RecvMsg,
    /// The context the socket was made in, when known (the socket monitor needs it).
    context: Option<zmq::Context>,
    /// The generation of the process-wide context the socket was made in, if it was (see
    /// [`shutdown`](crate::shutdown)); no handle of that context is held.
    process_generation: Option<u64>,
}

impl ZmqBackend {
    /// Wraps a socket.
    pub fn new(socket: zmq::Socket) -> Self {
        Self {
            socket,
            partial: Multipart::new(),
            arena: RecvArena::default(),
            scratch: RecvMsg::new(),
            context: None,
            process_generation: None,
        }
    }

    /// Wraps a socket known to belong to `context` (or to an unknown one, with `None`).
    pub(crate) fn with_context(socket: zmq::Socket, context: Option<zmq::Context>) -> Self {
        Self {
            context,
            ..Self::new(socket)
        }
    }

    /// Wraps a socket made in the process-wide context of generation `generation`.
    pub(crate) fn in_process_context(socket: zmq::Socket, generation: u64) -> Self {
        Self {
            process_generation: Some(generation),
            ..Self::new(socket)
        }
    }

    /// The generation of the process-wide context the socket was made in, if it was.
    pub(crate) fn process_generation(&self) -> Option<u64> {
        self.process_generation
    }

    /// Takes the context handle the backend holds, if any (a shutdown of that context holds
    /// one of its own, so dropping this one never blocks).
    pub(crate) fn take_context(&mut self) -> Option<zmq::Context> {
        self.context.take()
    }

    /// Waits until the context handles released so far are dropped (every one, except
    /// those of a closer thread busy terminating some other context for a while), or
    /// `deadline`.
    pub(crate) fn settle_releases(deadline: std::time::Instant) {
        closer::settle(deadline);
    }

    /// Closes the socket now and hands the context handle it held, if any, to the closer
    /// thread: when that was the last handle, `zmq_ctx_term` runs, and it blocks until the
    /// context's pending messages are sent or their `LINGER` expires (forever by default), so
    /// it must never run on a runtime thread. `zmq_close` itself never blocks.
    pub(crate) fn release(self) {
        let Self {
            socket, context, ..
        } = self;
        drop(socket);
        if let Some(ctx) = context {
            closer::release(ctx);
        }
    }

    /// The context the socket belongs to, when known.
    pub(crate) fn context(&self) -> Option<&zmq::Context> {
        self.context.as_ref()
    }

    /// Starts libzmq's socket monitor: `zmq_socket_monitor` binds an inproc PAIR to
    /// `endpoint` and publishes the events of `mask` on it.
    pub(crate) fn start_monitor(&mut self, endpoint: &str, mask: i32) -> zmq::Result<()> {
        self.socket.monitor(endpoint, mask)
    }

    /// Stops libzmq's socket monitor (a no-op when none runs): libzmq closes its PAIR.
    pub(crate) fn stop_monitor(&mut self) -> zmq::Result<()> {
        // The `zmq` crate's `Socket::monitor` takes a `&str`, but only a NULL address stops
        // a monitor: an empty one is EINVAL, and any other starts a new monitor socket.
        let socket = self.socket.as_mut_ptr();
        // SAFETY: `socket` is the live handle of `self.socket`, which this `&mut self`
        // borrow keeps open and unshared for the whole call; libzmq 4.3 takes a NULL address
        // as "stop monitoring" (`socket_base_t::monitor`) and reads nothing through it;
        // `zmq_errno` only reads this thread's errno.
        #[allow(unsafe_code)]
        let rc = unsafe { zmq_sys::zmq_socket_monitor(socket, std::ptr::null(), 0) };
        if rc == -1 {
            #[allow(unsafe_code)]
            let errno = unsafe { zmq_sys::zmq_errno() };
            return Err(zmq::Error::from_raw(errno));
        }
        Ok(())
    }

    /// Sets `ZMQ_IPV6` when `endpoint` has an IPv6 literal host and the option is off.
    fn enable_ipv6_for(&mut self, endpoint: &str) -> zmq::Result<()> {
        if endpoint::has_ipv6_literal(endpoint) && !self.socket.is_ipv6()? {
            self.socket.set_ipv6(true)?;
        }
        Ok(())
    }

    /// Why a bind of `endpoint` failed, when `zmq_bind` said `EAGAIN`.
    ///
    /// `EAGAIN` is not an error of `zmq_bind`: it is what is left in errno when libzmq
    /// (4.3) reports the failure to the socket's monitor (`ZMQ_EVENT_BIND_FAILED`) before it
    /// returns, because sending that event overwrites errno. The real reason is asked again
    /// of an unmonitored socket of the same type in a context of its own (a rare error path:
    /// the context's I/O thread is paid only here). If that bind succeeds (the address came
    /// free in between), `EAGAIN` stands.
    fn real_bind_error(&self, endpoint: &str) -> zmq::Error {
        let probe = || -> zmq::Result<()> {
            let ctx = zmq::Context::new();
            let socket = ctx.socket(self.socket.get_socket_type()?)?;
            socket.set_linger(0)?;
            if endpoint::has_ipv6_literal(endpoint) {
                socket.set_ipv6(true)?;
            }
            super::retry(|| socket.bind(endpoint))
        };
        match probe() {
            Ok(()) | Err(zmq::Error::EAGAIN) => zmq::Error::EAGAIN,
            Err(e) => e,
        }
    }

    /// Gives the socket back.
    pub fn into_socket(self) -> zmq::Socket {
        self.socket
    }
}

impl std::fmt::Debug for ZmqBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZmqBackend").finish_non_exhaustive()
    }
}

/// Where context handles are dropped: off the runtime's threads, without a thread per close.
///
/// One long-lived thread, started on first use, drops the handles it is sent, in order.
/// Dropping a handle is an atomic decrement, except for the last handle of a context, whose
/// drop terminates the context and waits for `LINGER`. So that one context that can never
/// terminate (a peer that never comes, `LINGER` -1) cannot hold up every later release, a
/// release that finds every closer thread busy since more than [`STUCK`] starts another
/// one; extra threads end once idle for [`IDLE_EXIT`]. The number of threads is therefore
/// bounded by one plus the number of contexts terminating at the same moment, never by the
/// number of sockets closed.
mod closer {
    use std::collections::VecDeque;
    use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
    use std::thread;
    use std::time::{Duration, Instant};

    /// A closer thread busy for longer than this is taken to be inside a context's
    /// termination, waiting for `LINGER`.
    pub(super) const STUCK: Duration = Duration::from_millis(100);
    /// A closer thread beyond the first ends once idle for this long.
    pub(super) const IDLE_EXIT: Duration = Duration::from_secs(5);

    #[derive(Default)]
    struct Closer {
        state: Mutex<State>,
        work: Condvar,
        /// Notified whenever a handle has been dropped.
        settled: Condvar,
    }

    #[derive(Default)]
    struct State {
        queue: VecDeque<zmq::Context>,
        /// Closer threads alive.
        threads: usize,
        /// Closer threads waiting for work.
        idle: usize,
        /// When a closer thread last finished dropping a handle (or started).
        last_progress: Option<Instant>,
        /// When each closer thread dropping a handle right now started it.
        busy: Vec<Instant>,
        /// Closer threads started, ever (for the tests).
        started: usize,
    }

    fn closer() -> &'static Closer {
        static CLOSER: OnceLock<Closer> = OnceLock::new();
        CLOSER.get_or_init(Closer::default)
    }

    fn lock(closer: &Closer) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; a poisoned state is still consistent.
        closer.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops `ctx` on a closer thread.
    pub(super) fn release(ctx: zmq::Context) {
        let closer = closer();
        let mut st = lock(closer);
        st.queue.push_back(ctx);
        if st.idle > 0 {
            drop(st);
            closer.work.notify_one();
            return;
        }
        let all_stuck = st.last_progress.map_or(true, |t| t.elapsed() > STUCK);
        if st.threads > 0 && !all_stuck {
            // A busy closer thread takes it next.
            return;
        }
        st.threads += 1;
        st.started += 1;
        st.last_progress = Some(Instant::now());
        drop(st);
        let spawned = thread::Builder::new()
            .name("zmqio-closer".into())
            .spawn(move || run(closer));
        if spawned.is_err() {
            // No thread to be had: drop what is queued right here. That may block, but
            // leaking the contexts would be worse for a program waiting for them to end.
            let mut st = lock(closer);
            st.threads -= 1;
            let queue = std::mem::take(&mut st.queue);
            drop(st);
            drop(queue);
        }
    }

    /// A closer thread: drops queued handles until idle for [`IDLE_EXIT`] while another
    /// closer thread lives.
    fn run(closer: &'static Closer) {
        let mut st = lock(closer);
        loop {
            if let Some(ctx) = st.queue.pop_front() {
                let started = Instant::now();
                st.busy.push(started);
                drop(st);
                drop(ctx);
                st = lock(closer);
                if let Some(i) = st.busy.iter().position(|t| *t == started) {
                    st.busy.swap_remove(i);
                }
                st.last_progress = Some(Instant::now());
                closer.settled.notify_all();
                continue;
            }
            st.idle += 1;
            let (guard, waited) = closer
                .work
                .wait_timeout(st, IDLE_EXIT)
                .unwrap_or_else(PoisonError::into_inner);
            st = guard;
            st.idle -= 1;
            if waited.timed_out() && st.queue.is_empty() && st.threads > 1 {
                st.threads -= 1;
                return;
            }
        }
    }

    /// Waits until the queue is empty and no closer thread is dropping a handle, except
    /// those busy for longer than [`STUCK`] (inside another context's termination), or
    /// until `deadline`.
    pub(super) fn settle(deadline: Instant) {
        let closer = closer();
        let mut st = lock(closer);
        loop {
            let now = Instant::now();
            let dropping = st
                .busy
                .iter()
                .any(|t| now.saturating_duration_since(*t) <= STUCK);
            if (st.queue.is_empty() && !dropping) || now >= deadline {
                return;
            }
            // Re-checked at least every STUCK, when a busy thread may turn out to be stuck.
            let wait = (deadline - now).min(STUCK);
            st = closer
                .settled
                .wait_timeout(st, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// How many closer threads were ever started.
    #[cfg(test)]
    pub(super) fn started() -> usize {
        lock(closer()).started
    }
}

/// The libzmq message receives land in. Through `zmq::Message` a received frame costs three
/// more calls into libzmq than it needs (its `Deref` asks for the size that `zmq_msg_recv`
/// has just returned, and each call checks the message again); this keeps the size from the
/// receive. It owns its `zmq_msg_t`: initialised when made, closed when dropped, and never
/// copied (`zmq_msg_t` is `Copy`; this is not).
///
/// It is also the owner of a large received frame's payload, which becomes a [`Bytes`]
/// without a copy ([`AsRef`]).
///
/// The message is in an [`UnsafeCell`] because `zmq_msg_data`, which `AsRef` needs through
/// `&self`, takes a `zmq_msg_t *`: libzmq's documented API does not promise that it leaves
/// the message unchanged, so the pointer is one that may be written through. Moving a
/// `RecvMsg` copies the `zmq_msg_t` bit for bit, as libzmq's own `zmq_msg_move` does
/// (`msg_t::move` assigns the struct).
struct RecvMsg(UnsafeCell<zmq_sys::zmq_msg_t>);

#[allow(unsafe_code)]
impl RecvMsg {
    fn new() -> Self {
        let mut msg = zmq_sys::zmq_msg_t::default();
        // SAFETY: `zmq_msg_init` makes `msg` an empty message; it has no failure case.
        unsafe { zmq_sys::zmq_msg_init(&mut msg) };
        Self(UnsafeCell::new(msg))
    }

    /// Receives the next frame into this message (libzmq closes what it held first) and
    /// returns its size.
    fn recv(&mut self, socket: &mut zmq::Socket, flags: i32) -> zmq::Result<usize> {
        // SAFETY: `self.0` is an initialised message (made so by `new`; a receive, failed or
        // not, leaves it initialised), and `socket.as_mut_ptr()` is the live socket this
        // `&mut` borrow keeps open. `zmq_errno` reads this thread's errno right after.
        let rc = unsafe { zmq_sys::zmq_msg_recv(self.0.get_mut(), socket.as_mut_ptr(), flags) };
        if rc < 0 {
            return Err(zmq::Error::from_raw(unsafe { zmq_sys::zmq_errno() }));
        }
        if rc == i32::MAX {
            // libzmq clamps the size it returns to `INT_MAX`: ask for the real one.
            return Ok(self.len());
        }
        Ok(rc as usize)
    }

    fn len(&self) -> usize {
        // SAFETY: an initialised message, only read.
        unsafe { zmq_sys::zmq_msg_size(self.0.get()) }
    }

    /// Whether more frames of the message follow this one.
    fn more(&self) -> bool {
        // SAFETY: an initialised message, only read.
        unsafe { zmq_sys::zmq_msg_more(self.0.get()) != 0 }
    }

    /// The payload of the frame just received, `len` bytes long as `recv` said.
    fn data(&self, len: usize) -> &[u8] {
        // SAFETY: `self.0` is an initialised message, and `zmq_msg_data` gets the `*mut` its
        // C signature asks for, from the cell (so nothing is assumed about what it does with
        // the struct). It returns where the message's content is: `len` bytes, the size the
        // last receive returned. The content is documented to change only with the message
        // (a receive or a close, both of which need `&mut self`), so not while the slice
        // borrows `self`. For an empty message the pointer may be null: no slice is made
        // from it then.
        unsafe {
            if len == 0 {
                return &[];
            }
            let data = zmq_sys::zmq_msg_data(self.0.get());
            std::slice::from_raw_parts(data.cast::<u8>(), len)
        }
    }
}

impl AsRef<[u8]> for RecvMsg {
    fn as_ref(&self) -> &[u8] {
        self.data(self.len())
    }
}

impl Drop for RecvMsg {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: an initialised message, closed once, here; it is not used after.
        unsafe { zmq_sys::zmq_msg_close(self.0.get_mut()) };
    }
}

/// The buffer small received frames are copied into: a chunk of [`RECV_ARENA_CHUNK`] bytes,
/// filled front to back, each frame split off as a frozen [`Bytes`] that shares the chunk
/// (a reference count, no allocation). A frame that does not fit in what is left of the chunk
/// moves on to another one: a used-up chunk none of whose frames is alive any more
/// (`BytesMut::try_reclaim`: only the arena's handle is left, so nothing can see its bytes
/// being overwritten), else a new one. The used-up chunk is kept for reuse, up to
/// [`RECV_ARENA_SPARES`] of them; the arena lets go of the oldest beyond that, which then
/// lives on until its last frame is dropped.
#[derive(Default)]
struct RecvArena {
    /// The unused rest of the current chunk (`len() == 0` between frames).
    buf: BytesMut,
    /// Used-up chunks, oldest first, each the arena's handle on a chunk (`len() == 0`); they
    /// are reused once their frames are gone.
    spares: Vec<BytesMut>,
    /// Whether `buf` is a chunk yet (a used-up chunk can have no capacity left either).
    in_chunk: bool,
}

impl RecvArena {
    /// `data` (shorter than [`RECV_ARENA_CHUNK`]) as a `Bytes` in the arena.
    #[inline]
    fn copy(&mut self, data: &[u8]) -> Bytes {
        if data.is_empty() {
            // No reference to a chunk for nothing.
            return Bytes::new();
        }
        if self.buf.capacity() < data.len() {
            self.next_chunk();
        }
        self.buf.extend_from_slice(data);
        self.buf.split().freeze()
    }

    /// Moves on from the current chunk: to the oldest spare whose frames are all dropped,
    /// else to a new chunk; the current one becomes a spare.
    #[cold]
    fn next_chunk(&mut self) {
        let used = std::mem::take(&mut self.buf);
        let reclaimed = self
            .spares
            .iter_mut()
            .position(|spare| spare.try_reclaim(RECV_ARENA_CHUNK));
        if let Some(i) = reclaimed {
            self.buf = self.spares.remove(i);
        } else {
            if self.spares.len() == RECV_ARENA_SPARES {
                self.spares.remove(0);
            }
            self.buf = BytesMut::with_capacity(RECV_ARENA_CHUNK);
        }
        // A chunk only; the arena's first, empty handle holds none.
        if std::mem::replace(&mut self.in_chunk, true) {
            self.spares.push(used);
        }
    }
}

/// The frame of `len` bytes just received into `scratch` as [`Bytes`]: copied into `arena`
/// when small, otherwise the message itself becomes the owner and `scratch` is renewed.
fn take_frame(scratch: &mut RecvMsg, len: usize, arena: &mut RecvArena) -> Bytes {
    if len < ZERO_COPY_RECV_MIN {
        return arena.copy(scratch.data(len));
    }
    Bytes::from_owner(std::mem::replace(scratch, RecvMsg::new()))
}

/// Sends `frame` without copying its payload: the message points into the `Bytes`, and a
/// clone of it, boxed, is the `hint` libzmq hands back to [`release_frame`] once the message
/// is sent or dropped. That clone is usually the last one, so a payload's owner (for a
/// `Bytes::from_owner`) is dropped on libzmq's I/O thread.
fn send_shared(socket: &mut zmq::Socket, frame: &Bytes, flags: i32) -> zmq::Result<()> {
    let owner = Box::into_raw(Box::new(frame.clone()));
    let mut msg = zmq_sys::zmq_msg_t::default();
    // SAFETY:
    // - `zmq_msg_init_data`: `frame`'s bytes stay where they are and stay alive while any
    //   clone of the `Bytes` lives (a `Bytes` never moves its data), and `owner` is such a
    //   clone, released only by `release_frame`, which libzmq calls exactly once when the
    //   message's content is freed. libzmq never writes through a sent message's data, so
    //   the `*mut` cast of shared bytes is sound. On failure libzmq takes nothing (no call
    //   of `release_frame`), so the box is reclaimed here.
    // - `zmq_msg_send`: `socket.as_mut_ptr()` is the live socket this `&mut` borrow keeps
    //   open; on success libzmq owns `msg`, on failure `msg` is still ours and
    //   `zmq_msg_close` releases it (calling `release_frame`). `zmq_errno` reads this
    //   thread's errno, before the close can touch it.
    #[allow(unsafe_code)]
    unsafe {
        let rc = zmq_sys::zmq_msg_init_data(
            &mut msg,
            frame.as_ptr() as *mut c_void,
            frame.len(),
            Some(release_frame),
            owner.cast(),
        );
        if rc == -1 {
            let errno = zmq_sys::zmq_errno();
            drop(Box::from_raw(owner));
            return Err(zmq::Error::from_raw(errno));
        }
        if zmq_sys::zmq_msg_send(&mut msg, socket.as_mut_ptr(), flags) == -1 {
            let errno = zmq_sys::zmq_errno();
            zmq_sys::zmq_msg_close(&mut msg);
            return Err(zmq::Error::from_raw(errno));
        }
    }
    Ok(())
}

/// Sends a copy of `data` with `zmq_send`, which copies it into a new message and, once the
/// message is sent, skips closing it (it is empty then). Through `zmq::Socket::send` the copy
/// costs two more calls into libzmq: `zmq_msg_data` to fill the message, `zmq_msg_close`
/// after the send.
fn send_copy(socket: &mut zmq::Socket, data: &[u8], flags: i32) -> zmq::Result<()> {
    // SAFETY: `data` is valid for `data.len()` bytes during the call, and libzmq only reads
    // them, copying them into its own message before `zmq_send` returns; on failure it closes
    // that message itself. `socket.as_mut_ptr()` is the live socket this `&mut` borrow keeps
    // open. `zmq_errno` reads this thread's errno right after.
    #[allow(unsafe_code)]
    unsafe {
        let rc = zmq_sys::zmq_send(socket.as_mut_ptr(), data.as_ptr().cast(), data.len(), flags);
        if rc < 0 {
            return Err(zmq::Error::from_raw(zmq_sys::zmq_errno()));
        }
    }
    Ok(())
}

/// libzmq's free callback for [`send_shared`]: drops the boxed `Bytes` clone in `hint`.
///
/// # Safety
///
/// `hint` must come from `Box::into_raw(Box::new(bytes))` and be passed here once.
#[allow(unsafe_code)]
unsafe extern "C" fn release_frame(_data: *mut c_void, hint: *mut c_void) {
    // SAFETY: per the contract above, `hint` is an unreleased `Box<Bytes>`; libzmq calls a
    // message's free function exactly once, from whichever thread drops the last reference
    // (`Bytes` is `Send + Sync`, so dropping it there is fine).
    drop(unsafe { Box::from_raw(hint.cast::<Bytes>()) });
}

impl ZmqBackend {
    /// Receives one frame: its payload and whether more frames follow.
    #[inline]
    fn recv_frame(&mut self) -> zmq::Result<(Bytes, bool)> {
        let len = self.scratch.recv(&mut self.socket, zmq::DONTWAIT)?;
        let more = self.scratch.more();
        Ok((take_frame(&mut self.scratch, len, &mut self.arena), more))
    }

    /// Receives the frames after those in `partial`, up to the last, and returns the whole
    /// message; on an error the frames received so far stay in `partial`.
    fn recv_rest(&mut self) -> zmq::Result<Multipart> {
        loop {
            let (frame, more) = self.recv_frame()?;
            self.partial.push(frame);
            if !more {
                return Ok(std::mem::take(&mut self.partial));
            }
        }
    }
}

impl Backend for ZmqBackend {
    fn events(&mut self) -> zmq::Result<zmq::PollEvents> {
        self.socket.get_events()
    }

    fn send_frame(&mut self, frame: &Bytes, more: bool) -> zmq::Result<()> {
        let flags = zmq::DONTWAIT | if more { zmq::SNDMORE } else { 0 };
        if frame.len() >= ZERO_COPY_SEND_MIN {
            send_shared(&mut self.socket, frame, flags)
        } else {
            send_copy(&mut self.socket, frame, flags)
        }
    }

    fn recv(&mut self) -> zmq::Result<Multipart> {
        if !self.partial.is_empty() {
            return self.recv_rest();
        }
        // The first two frames are built into the message directly (the common one- and
        // two-frame messages never go through `partial`); a frame after them, or an error
        // between frames, continues in `partial`.
        let (first, more) = self.recv_frame()?;
        if !more {
            return Ok(Multipart::from(first));
        }
        let (second, more) = match self.recv_frame() {
            Ok(frame) => frame,
            Err(e) => {
                self.partial = Multipart::from(first);
                return Err(e);
            }
        };
        let msg = Multipart::from_pair(first, second);
        if !more {
            return Ok(msg);
        }
        self.partial = msg;
        self.recv_rest()
    }

    fn bind(&mut self, endpoint: &str) -> zmq::Result<String> {
        self.enable_ipv6_for(endpoint)?;
        match self.socket.bind(endpoint) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN) => return Err(self.real_bind_error(endpoint)),
            Err(e) => return Err(e),
        }
        match self.socket.get_last_endpoint()? {
            Ok(resolved) => Ok(resolved),
            Err(_) => Ok(endpoint.to_owned()),
        }
    }

    fn unbind(&mut self, endpoint: &str) -> zmq::Result<()> {
        self.socket.unbind(endpoint)
    }

    fn connect(&mut self, endpoint: &str) -> zmq::Result<()> {
        self.enable_ipv6_for(endpoint)?;
        self.socket.connect(endpoint)
    }

    fn disconnect(&mut self, endpoint: &str) -> zmq::Result<()> {
        self.socket.disconnect(endpoint)
    }

    fn set_subscription(&mut self, value: &[u8], on: bool) -> zmq::Result<()> {
        if on {
            self.socket.set_subscribe(value)
        } else {
            self.socket.set_unsubscribe(value)
        }
    }

    fn socket(&self) -> Option<&zmq::Socket> {
        Some(&self.socket)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use bytes::Bytes;

    use super::{Backend, ZmqBackend, RECV_ARENA_CHUNK, ZERO_COPY_RECV_MIN, ZERO_COPY_SEND_MIN};

    /// A payload that records when its last `Bytes` is gone.
    struct Tracked(Vec<u8>, Arc<AtomicBool>);

    impl AsRef<[u8]> for Tracked {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.1.store(true, Ordering::SeqCst);
        }
    }

    fn tracked(len: usize) -> (Bytes, Vec<u8>, Arc<AtomicBool>) {
        let dropped = Arc::new(AtomicBool::new(false));
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let frame = Bytes::from_owner(Tracked(payload.clone(), dropped.clone()));
        (frame, payload, dropped)
    }

    /// A connected inproc PAIR: the sending socket and the receiving backend.
    fn inproc_pair(name: &str) -> (zmq::Context, zmq::Socket, ZmqBackend) {
        let ctx = zmq::Context::new();
        let server = ctx.socket(zmq::PAIR).unwrap();
        server.set_rcvhwm(0).unwrap();
        server.bind(&format!("inproc://{name}")).unwrap();
        let client = ctx.socket(zmq::PAIR).unwrap();
        client.set_sndhwm(0).unwrap();
        client.connect(&format!("inproc://{name}")).unwrap();
        (ctx, client, ZmqBackend::new(server))
    }

    fn recv_wait(rx: &mut ZmqBackend) -> crate::Multipart {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            match rx.recv() {
                Err(zmq::Error::EAGAIN) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                other => break other.unwrap(),
            }
        }
    }

    #[test]
    fn small_frames_share_one_arena_chunk() {
        let (_ctx, tx, mut rx) = inproc_pair("arena-share");
        tx.send(&b"first"[..], 0).unwrap();
        tx.send_multipart([&b"second"[..], b"", b"third"], 0)
            .unwrap();
        tx.send(&[7u8; ZERO_COPY_RECV_MIN - 1][..], 0).unwrap();
        let a = recv_wait(&mut rx);
        let b = recv_wait(&mut rx);
        let c = recv_wait(&mut rx);
        assert_eq!(&a[0][..], b"first");
        assert_eq!(&b[0][..], b"second");
        assert_eq!(&b[1][..], b"");
        assert_eq!(&b[2][..], b"third");
        assert_eq!(&c[0][..], &[7u8; ZERO_COPY_RECV_MIN - 1][..]);
        // One after the other in the same chunk: no allocation per frame.
        assert_eq!(a[0].as_ptr().wrapping_add(5), b[0].as_ptr());
        assert_eq!(b[0].as_ptr().wrapping_add(6), b[2].as_ptr());
        assert_eq!(b[2].as_ptr().wrapping_add(5), c[0].as_ptr());
    }

    #[test]
    fn frames_survive_the_arena_moving_on_to_new_chunks() {
        let (_ctx, tx, mut rx) = inproc_pair("arena-chunks");
        let count = 4 * RECV_ARENA_CHUNK / 100;
        for i in 0..count {
            tx.send(&[i as u8; 100][..], 0).unwrap();
        }
        let mut kept = Vec::new();
        for i in 0..count {
            let msg = recv_wait(&mut rx);
            assert_eq!(&msg[0][..], &[i as u8; 100][..]);
            // Keep every third one, drop the rest at once.
            if i % 3 == 0 {
                kept.push((i, msg));
            }
        }
        let chunks: std::collections::BTreeSet<usize> = kept
            .iter()
            .map(|(_, m)| m[0].as_ptr() as usize / RECV_ARENA_CHUNK)
            .collect();
        assert!(
            chunks.len() >= 4,
            "{} chunks for {count} frames",
            chunks.len()
        );
        for (i, msg) in kept {
            assert_eq!(&msg[0][..], &[i as u8; 100][..]);
        }
    }

    #[test]
    fn a_large_frame_is_shared_with_libzmq_and_released_after_use() {
        let ctx = zmq::Context::new();
        let server = ctx.socket(zmq::PAIR).unwrap();
        server.bind("inproc://zero-copy-send").unwrap();
        let client = ctx.socket(zmq::PAIR).unwrap();
        client.connect("inproc://zero-copy-send").unwrap();
        let (mut tx, mut rx) = (ZmqBackend::new(client), ZmqBackend::new(server));

        let (frame, payload, dropped) = tracked(4 * ZERO_COPY_SEND_MIN);
        tx.send_frame(&frame, true).unwrap();
        tx.send_frame(&Bytes::from_static(b"tail"), false).unwrap();
        let msg = loop {
            match rx.recv() {
                Err(zmq::Error::EAGAIN) => std::thread::sleep(std::time::Duration::from_millis(1)),
                other => break other.unwrap(),
            }
        };
        assert_eq!(&msg[0][..], &payload[..]);
        assert_eq!(&msg[1][..], b"tail");
        // inproc hands the very message over: the received frame still points into ours.
        drop(frame);
        assert!(!dropped.load(Ordering::SeqCst));
        drop(msg);
        assert!(dropped.load(Ordering::SeqCst));
    }

    /// Bug: every close of a socket in a user's context started an OS thread of its own to
    /// drop the context handle, so closing 10,000 sockets started 10,000 threads.
    #[test]
    fn closing_many_sockets_of_a_user_context_starts_no_thread_per_close() {
        const SOCKETS: usize = 2_000;
        let ctx = zmq::Context::new();
        let started_before = super::closer::started();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        for _ in 0..SOCKETS {
            // libzmq allows 1023 sockets per context, counting closed ones its reaper has
            // not finished yet: give it time to catch up.
            let socket = loop {
                match ctx.socket(zmq::PUSH) {
                    Err(zmq::Error::EMFILE) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    other => break other.unwrap(),
                }
            };
            ZmqBackend::with_context(socket, Some(ctx.clone())).release();
        }
        let started = super::closer::started() - started_before;
        // One thread, plus one more whenever all of them looked stuck for 100 ms (a loaded
        // machine can make a thread look so); never one per close.
        assert!(
            started < 20,
            "{started} closer threads for {SOCKETS} closes"
        );

        // Every handle is dropped in the end: the context terminates once the last goes.
        let terminated = watch_termination(&ctx);
        drop(ctx);
        terminated
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the context did not terminate after every socket was closed");
    }

    /// A context whose termination waits for `LINGER` keeps its closer thread busy; the
    /// handles released meanwhile are dropped by another one, not queued behind it.
    #[test]
    fn a_context_waiting_for_linger_does_not_hold_up_other_releases() {
        use std::time::Duration;
        // Context A: a message for a peer that never answers the ZMTP greeting (a listening
        // socket that never accepts), 10 s of LINGER.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = zmq::Context::new();
        let push = a.socket(zmq::PUSH).unwrap();
        push.set_linger(10_000).unwrap();
        push.connect(&format!("tcp://{}", silent.local_addr().unwrap()))
            .unwrap();
        push.send("stuck", zmq::DONTWAIT).unwrap();
        ZmqBackend::with_context(push, Some(a)).release(); // the last handle of A
                                                           // Let the closer thread enter A's termination and look stuck.
        std::thread::sleep(super::closer::STUCK * 3);

        let b = zmq::Context::new();
        let terminated = watch_termination(&b);
        ZmqBackend::with_context(b.socket(zmq::PUSH).unwrap(), Some(b.clone())).release();
        drop(b);
        terminated
            .recv_timeout(Duration::from_secs(8))
            .expect("context B waited for context A's termination");
    }

    /// Signals once `ctx` starts terminating (its last handle is gone), through a socket
    /// that holds no handle of it: a blocking receive on it fails with `ETERM` then.
    fn watch_termination(ctx: &zmq::Context) -> std::sync::mpsc::Receiver<()> {
        let raw = ctx.socket(zmq::PULL).unwrap().into_raw();
        // SAFETY: `raw` comes from `into_raw` just above and is owned by nothing else.
        #[allow(unsafe_code)]
        let sentinel = unsafe { zmq::Socket::from_raw(raw) };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            assert_eq!(sentinel.recv_bytes(0), Err(zmq::Error::ETERM));
            drop(sentinel); // lets the termination finish
            let _ = tx.send(());
        });
        rx
    }

    #[test]
    fn a_refused_shared_send_releases_the_frame() {
        let ctx = zmq::Context::new();
        let push = ctx.socket(zmq::PUSH).unwrap(); // no peer: every send is EAGAIN
        let mut tx = ZmqBackend::new(push);
        let (frame, _, dropped) = tracked(ZERO_COPY_SEND_MIN);
        assert_eq!(tx.send_frame(&frame, false), Err(zmq::Error::EAGAIN));
        drop(frame);
        assert!(dropped.load(Ordering::SeqCst));
    }

    #[test]
    fn frames_of_every_size_are_received_intact() {
        // Empty, libzmq's in-message sizes (up to 33 bytes), the arena's sizes, its limit,
        // and zero-copy sizes, as one-, two- and many-frame messages.
        let sizes = [
            0,
            1,
            33,
            34,
            64,
            ZERO_COPY_RECV_MIN - 1,
            ZERO_COPY_RECV_MIN,
            70_000,
        ];
        let (_ctx, tx, mut rx) = inproc_pair("every-size");
        let frame = |n: usize, tag: u8| (0..n).map(|i| (i as u8) ^ tag).collect::<Vec<u8>>();
        for (k, &n) in sizes.iter().enumerate() {
            tx.send(frame(n, 1), 0).unwrap();
            tx.send_multipart([frame(n, 2), frame(k, 3)], 0).unwrap();
            tx.send_multipart([frame(k, 4), frame(n, 5), frame(n, 6)], 0)
                .unwrap();
        }
        for (k, &n) in sizes.iter().enumerate() {
            let one = recv_wait(&mut rx);
            assert_eq!(one.len(), 1);
            assert_eq!(&one[0][..], &frame(n, 1)[..], "one frame of {n}");
            let two = recv_wait(&mut rx);
            assert_eq!(two.len(), 2);
            assert_eq!(&two[0][..], &frame(n, 2)[..], "first of two, {n}");
            assert_eq!(&two[1][..], &frame(k, 3)[..]);
            let three = recv_wait(&mut rx);
            assert_eq!(three.len(), 3);
            assert_eq!(&three[0][..], &frame(k, 4)[..]);
            assert_eq!(&three[1][..], &frame(n, 5)[..], "second of three, {n}");
            assert_eq!(&three[2][..], &frame(n, 6)[..], "third of three, {n}");
        }
        assert_eq!(rx.recv(), Err(zmq::Error::EAGAIN));
    }

    #[test]
    fn a_refused_send_reports_libzmqs_error() {
        let ctx = zmq::Context::new();
        // A REP must receive before it sends.
        let rep = ctx.socket(zmq::REP).unwrap();
        let mut rep = ZmqBackend::new(rep);
        assert_eq!(
            rep.send_frame(&Bytes::from_static(b"early"), false),
            Err(zmq::Error::EFSM)
        );
        // A PUSH with no peer takes nothing.
        let push = ctx.socket(zmq::PUSH).unwrap();
        let mut push = ZmqBackend::new(push);
        assert_eq!(
            push.send_frame(&Bytes::from_static(b"nobody"), false),
            Err(zmq::Error::EAGAIN)
        );
    }
}
