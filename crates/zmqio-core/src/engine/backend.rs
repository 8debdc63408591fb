//! The socket backend: the handful of non-blocking libzmq calls the engine makes.

use std::os::raw::c_void;

use bytes::Bytes;

use crate::Multipart;

/// A frame payload at or above this size is received without copying: the [`Bytes`] keeps the
/// `zmq::Message` alive instead. Below it a copy is cheaper than the extra allocation.
const ZERO_COPY_RECV_MIN: usize = 512;

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
    fn bind(&mut self, endpoint: &str) -> zmq::Result<String>;
    /// Undoes a bind.
    fn unbind(&mut self, endpoint: &str) -> zmq::Result<()>;
    /// Connects.
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
pub struct ZmqBackend {
    socket: zmq::Socket,
    partial: Multipart,
    /// Receives land here, so a small frame costs no `zmq_msg_init`/`zmq_msg_close` pair of
    /// its own (libzmq closes the previous content on the next receive).
    scratch: zmq::Message,
    /// The context the socket was made in, when known (the socket monitor needs it).
    context: Option<zmq::Context>,
}

impl ZmqBackend {
    /// Wraps a socket.
    pub fn new(socket: zmq::Socket) -> Self {
        Self {
            socket,
            partial: Multipart::new(),
            scratch: zmq::Message::new(),
            context: None,
        }
    }

    /// Wraps a socket known to belong to `context` (or to an unknown one, with `None`).
    pub(crate) fn with_context(socket: zmq::Socket, context: Option<zmq::Context>) -> Self {
        Self {
            context,
            ..Self::new(socket)
        }
    }

    /// Closes the socket now and releases the context handle it held, if any, on a thread of
    /// its own: when that was the last handle, `zmq_ctx_term` runs, and it blocks until the
    /// context's pending messages are sent or their `LINGER` expires (forever by default), so
    /// it must never run on a runtime thread. `zmq_close` itself never blocks.
    pub(crate) fn release(self) {
        let Self {
            socket, context, ..
        } = self;
        drop(socket);
        if let Some(ctx) = context {
            // Should no thread be had, the closure, and the handle with it, is dropped right
            // here: that may block, but leaking the context would be worse for a program that
            // waits for it to terminate.
            let _ = std::thread::Builder::new()
                .name("zmqio-context-release".into())
                .spawn(move || drop(ctx));
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

/// Owner of a received message, so its payload becomes a [`Bytes`] without a copy.
struct MessageOwner(zmq::Message);

impl AsRef<[u8]> for MessageOwner {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The frame just received into `scratch` as [`Bytes`]: copied when small (one `Deref`, which
/// is two FFI calls), otherwise the message itself becomes the owner and `scratch` is renewed.
fn take_frame(scratch: &mut zmq::Message) -> Bytes {
    let data: &[u8] = scratch;
    if data.len() < ZERO_COPY_RECV_MIN {
        return Bytes::copy_from_slice(data);
    }
    Bytes::from_owner(MessageOwner(std::mem::replace(
        scratch,
        zmq::Message::new(),
    )))
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

impl Backend for ZmqBackend {
    fn events(&mut self) -> zmq::Result<zmq::PollEvents> {
        self.socket.get_events()
    }

    fn send_frame(&mut self, frame: &Bytes, more: bool) -> zmq::Result<()> {
        let flags = zmq::DONTWAIT | if more { zmq::SNDMORE } else { 0 };
        if frame.len() >= ZERO_COPY_SEND_MIN {
            send_shared(&mut self.socket, frame, flags)
        } else {
            self.socket.send(&frame[..], flags)
        }
    }

    fn recv(&mut self) -> zmq::Result<Multipart> {
        loop {
            self.socket.recv(&mut self.scratch, zmq::DONTWAIT)?;
            let more = self.scratch.get_more();
            let frame = take_frame(&mut self.scratch);
            if !more && self.partial.is_empty() {
                // A one-frame message: a vector of exactly one, no growth.
                return Ok(Multipart::from(frame));
            }
            self.partial.push(frame);
            if !more {
                return Ok(std::mem::take(&mut self.partial));
            }
        }
    }

    fn bind(&mut self, endpoint: &str) -> zmq::Result<String> {
        self.socket.bind(endpoint)?;
        match self.socket.get_last_endpoint()? {
            Ok(resolved) => Ok(resolved),
            Err(_) => Ok(endpoint.to_owned()),
        }
    }

    fn unbind(&mut self, endpoint: &str) -> zmq::Result<()> {
        self.socket.unbind(endpoint)
    }

    fn connect(&mut self, endpoint: &str) -> zmq::Result<()> {
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

    use super::{Backend, ZmqBackend, ZERO_COPY_SEND_MIN};

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
}
