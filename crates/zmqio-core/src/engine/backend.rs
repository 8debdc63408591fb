//! The socket backend: the handful of non-blocking libzmq calls the engine makes.

use bytes::Bytes;

use crate::Multipart;

/// A frame payload at or above this size is received without copying: the [`Bytes`] keeps the
/// `zmq::Message` alive instead. Below it a copy is cheaper than the extra allocation.
const ZERO_COPY_RECV_MIN: usize = 512;

/// The non-blocking socket calls the [`Engine`](super::Engine) makes.
///
/// Every call returns at once: `EAGAIN` means "not now", `EINTR` is retried by the engine.
/// [`ZmqBackend`] is the real one; [`FakeBackend`](super::fake::FakeBackend) is scripted for
/// tests. The engine reads [`events`](Backend::events) again after every other call, as the
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
}

impl ZmqBackend {
    /// Wraps a socket.
    pub fn new(socket: zmq::Socket) -> Self {
        Self {
            socket,
            partial: Multipart::new(),
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

/// Owner of a received message, so its payload becomes a [`Bytes`] without a copy.
struct MessageOwner(zmq::Message);

impl AsRef<[u8]> for MessageOwner {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn message_into_bytes(msg: zmq::Message) -> Bytes {
    if msg.len() >= ZERO_COPY_RECV_MIN {
        Bytes::from_owner(MessageOwner(msg))
    } else {
        Bytes::copy_from_slice(&msg)
    }
}

impl Backend for ZmqBackend {
    fn events(&mut self) -> zmq::Result<zmq::PollEvents> {
        self.socket.get_events()
    }

    fn send_frame(&mut self, frame: &Bytes, more: bool) -> zmq::Result<()> {
        let flags = zmq::DONTWAIT | if more { zmq::SNDMORE } else { 0 };
        self.socket.send(&frame[..], flags)
    }

    fn recv(&mut self) -> zmq::Result<Multipart> {
        loop {
            let mut msg = zmq::Message::new();
            self.socket.recv(&mut msg, zmq::DONTWAIT)?;
            let more = msg.get_more();
            self.partial.push(message_into_bytes(msg));
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
