//! A scripted, in-memory [`Backend`] for testing the engine without libzmq.
//!
//! In the manner of rustls-test's `TestNonBlockIo`: results can be scripted per call and are
//! consumed in order; with nothing scripted the fake follows its flags (`writable`, the
//! inbox). Dropping a fake with scripted results left over panics (unless already panicking),
//! so a test cannot silently skip a step it meant to exercise.
//!
//! Test scaffolding: compiled only with the `testing` feature (and in the crate's own unit
//! tests), so no program that uses zmqio sees it.

use std::collections::{BTreeSet, HashMap, VecDeque};

use bytes::Bytes;

use super::Backend;
use crate::Multipart;

/// A call of the [`Backend`] trait, for scripting and counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// [`Backend::events`]
    Events,
    /// [`Backend::send_frame`]
    Send,
    /// [`Backend::recv`]
    Recv,
    /// [`Backend::bind`]
    Bind,
    /// [`Backend::unbind`]
    Unbind,
    /// [`Backend::connect`]
    Connect,
    /// [`Backend::disconnect`]
    Disconnect,
    /// [`Backend::set_subscription`]
    Subscription,
}

/// A scripted backend. See the [module docs](self).
///
/// ```
/// use zmqio_core::engine::fake::{Call, FakeBackend};
/// use zmqio_core::engine::Backend;
///
/// let mut fake = FakeBackend::new();
/// fake.script(Call::Send, Err(zmq::Error::EINTR));
/// assert_eq!(fake.send_frame(&"x".into(), false), Err(zmq::Error::EINTR));
/// assert_eq!(fake.send_frame(&"x".into(), false), Ok(()));
/// assert_eq!(fake.sent().len(), 1);
/// ```
#[derive(Debug, Default)]
pub struct FakeBackend {
    writable: bool,
    inbox: VecDeque<Multipart>,
    sent: Vec<Multipart>,
    partial: Vec<Bytes>,
    scripts: HashMap<Call, VecDeque<zmq::Result<()>>>,
    calls: HashMap<Call, usize>,
    bound: BTreeSet<String>,
    connected: BTreeSet<String>,
    subscribed: Vec<(Vec<u8>, bool)>,
    next_port: u16,
}

impl FakeBackend {
    /// A writable fake with an empty inbox and nothing scripted.
    pub fn new() -> Self {
        let mut fake = Self::default();
        fake.writable = true;
        fake.next_port = 40000;
        fake
    }

    /// Whether sends succeed (and `POLLOUT` is set) when nothing is scripted.
    pub fn set_writable(&mut self, writable: bool) {
        self.writable = writable;
    }

    /// Queues a message for `recv` (and sets `POLLIN` while the inbox is not empty).
    pub fn push_incoming(&mut self, msg: impl Into<Multipart>) {
        self.inbox.push_back(msg.into());
    }

    /// Scripts the result of the next unscripted call of `call`: `Err(e)` fails it with `e`,
    /// `Ok(())` lets it behave as the flags say.
    pub fn script(&mut self, call: Call, result: zmq::Result<()>) {
        self.scripts.entry(call).or_default().push_back(result);
    }

    /// Forgets every scripted result not consumed yet, so the fake can be dropped without
    /// its check. For randomised tests, whose operation sequences cannot promise that every
    /// scripted call happens; a hand-written test should let the `Drop` check judge it.
    ///
    /// ```
    /// use zmqio_core::engine::fake::{Call, FakeBackend};
    ///
    /// let mut fake = FakeBackend::new();
    /// fake.script(Call::Recv, Err(zmq::Error::EINTR));
    /// fake.clear_scripts();
    /// drop(fake); // no panic: nothing is left scripted
    /// ```
    pub fn clear_scripts(&mut self) {
        self.scripts.clear();
    }

    /// The messages completely sent, in order.
    pub fn sent(&self) -> &[Multipart] {
        &self.sent
    }

    /// Frames of a message whose last frame has not been sent yet.
    pub fn partial(&self) -> &[Bytes] {
        &self.partial
    }

    /// Messages still waiting in the inbox.
    pub fn inbox_len(&self) -> usize {
        self.inbox.len()
    }

    /// How often `call` was made.
    pub fn calls(&self, call: Call) -> usize {
        self.calls.get(&call).copied().unwrap_or(0)
    }

    /// Subscription calls made, in order: `(value, subscribe?)`.
    pub fn subscription_calls(&self) -> &[(Vec<u8>, bool)] {
        &self.subscribed
    }

    fn step(&mut self, call: Call) -> zmq::Result<()> {
        *self.calls.entry(call).or_default() += 1;
        match self.scripts.get_mut(&call).and_then(VecDeque::pop_front) {
            Some(r) => r,
            None => Ok(()),
        }
    }
}

impl Drop for FakeBackend {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let left: Vec<_> = self
            .scripts
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (*k, v.len()))
            .collect();
        assert!(
            left.is_empty(),
            "scripted backend steps never happened: {left:?}"
        );
    }
}

impl Backend for FakeBackend {
    fn events(&mut self) -> zmq::Result<zmq::PollEvents> {
        self.step(Call::Events)?;
        let mut ev = zmq::PollEvents::empty();
        if !self.inbox.is_empty() {
            ev |= zmq::POLLIN;
        }
        if self.writable {
            ev |= zmq::POLLOUT;
        }
        Ok(ev)
    }

    fn send_frame(&mut self, frame: &Bytes, more: bool) -> zmq::Result<()> {
        self.step(Call::Send)?;
        if !self.writable && self.partial.is_empty() {
            return Err(zmq::Error::EAGAIN);
        }
        self.partial.push(frame.clone());
        if !more {
            let msg: Multipart = std::mem::take(&mut self.partial).into_iter().collect();
            self.sent.push(msg);
        }
        Ok(())
    }

    fn recv(&mut self) -> zmq::Result<Multipart> {
        self.step(Call::Recv)?;
        self.inbox.pop_front().ok_or(zmq::Error::EAGAIN)
    }

    fn bind(&mut self, endpoint: &str) -> zmq::Result<String> {
        self.step(Call::Bind)?;
        let resolved = match endpoint.strip_suffix(":*") {
            Some(base) => {
                self.next_port += 1;
                format!("{base}:{}", self.next_port)
            }
            None => endpoint.to_owned(),
        };
        if !self.bound.insert(resolved.clone()) {
            return Err(zmq::Error::EADDRINUSE);
        }
        Ok(resolved)
    }

    fn unbind(&mut self, endpoint: &str) -> zmq::Result<()> {
        self.step(Call::Unbind)?;
        if self.bound.remove(endpoint) {
            Ok(())
        } else {
            Err(zmq::Error::ENOENT)
        }
    }

    fn connect(&mut self, endpoint: &str) -> zmq::Result<()> {
        self.step(Call::Connect)?;
        self.connected.insert(endpoint.to_owned());
        Ok(())
    }

    fn disconnect(&mut self, endpoint: &str) -> zmq::Result<()> {
        self.step(Call::Disconnect)?;
        if self.connected.remove(endpoint) {
            Ok(())
        } else {
            Err(zmq::Error::ENOENT)
        }
    }

    fn set_subscription(&mut self, value: &[u8], on: bool) -> zmq::Result<()> {
        self.step(Call::Subscription)?;
        self.subscribed.push((value.to_vec(), on));
        Ok(())
    }
}
