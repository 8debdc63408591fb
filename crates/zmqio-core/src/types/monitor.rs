//! Socket-monitor events: the event kinds, the event mask, and the decoder of libzmq's
//! monitor messages.
//!
//! # Wire format
//!
//! `zmq_socket_monitor` (event version 1, the only one libzmq 4.3 offers without draft
//! APIs) publishes every event on an inproc PAIR socket as one message of exactly two
//! frames:
//!
//! | frame | size | content |
//! | --- | --- | --- |
//! | 1 | 6 bytes | event id (`u16`), then value (`u32`), both in the host's native byte order |
//! | 2 | any | the endpoint the event is about, as UTF-8 text (may be empty) |
//!
//! The event id is one of libzmq's `ZMQ_EVENT_*` bits (see [`MonitorEvent::code`]). The
//! value depends on the event: a file descriptor for `Connected`, `Listening`, `Accepted`,
//! `Closed` and `Disconnected`; an errno for the `*Failed` events; the reconnect interval
//! in milliseconds for `ConnectRetried`; a ZMTP or ZAP status code for the handshake
//! failures.
//!
//! [`decode_monitor_event`] turns such a message into a [`SocketEvent`]. Any other shape
//! is an [`Error::InvalidArgument`], never a panic.
//!
//! # Example
//!
//! ```
//! use zmqio_core::monitor::{decode_monitor_event, MonitorEvent};
//!
//! let mut head = Vec::new();
//! head.extend_from_slice(&MonitorEvent::Accepted.code().to_ne_bytes());
//! head.extend_from_slice(&7u32.to_ne_bytes());
//! let event = decode_monitor_event(&[head, b"tcp://127.0.0.1:5555".to_vec()])?;
//! assert_eq!(event.event, MonitorEvent::Accepted);
//! assert_eq!(event.value, 7);
//! assert_eq!(event.endpoint, "tcp://127.0.0.1:5555");
//! # Ok::<(), zmqio_core::Error>(())
//! ```

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

use crate::{Error, Result};

/// One decoded socket-monitor event.
///
/// Delivered through `ZmqProtocol::event_received` and `ZmqStream::read_event` once the
/// monitor is enabled on a transport; [`decode_monitor_event`] builds it from the raw
/// frames.
///
/// # Example
///
/// ```
/// use zmqio_core::monitor::{MonitorEvent, SocketEvent};
///
/// let event = SocketEvent {
///     event: MonitorEvent::Disconnected,
///     value: 12,
///     endpoint: "tcp://127.0.0.1:5555".to_owned(),
/// };
/// assert_eq!(event.to_string(), "disconnected tcp://127.0.0.1:5555 (value 12)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketEvent {
    /// What happened.
    pub event: MonitorEvent,
    /// The event's value: a file descriptor, an errno, a retry interval or a protocol status
    /// code, depending on [`event`](Self::event) (see the [module docs](self)).
    pub value: u32,
    /// The endpoint the event is about, e.g. `tcp://127.0.0.1:5555`.
    pub endpoint: String,
}

/// The kind of a socket-monitor event: libzmq 4.3's `ZMQ_EVENT_*` values.
///
/// Each known kind is one bit (see [`code`](Self::code)); a code that is not one of those
/// bits is kept as [`Unknown`](Self::Unknown) rather than rejected, so a newer libzmq cannot
/// break decoding.
///
/// # Example
///
/// ```
/// use zmqio_core::monitor::MonitorEvent;
///
/// assert_eq!(MonitorEvent::Connected.code(), 0x0001);
/// assert_eq!(MonitorEvent::from_code(0x0020), MonitorEvent::Accepted);
/// assert_eq!(MonitorEvent::from_code(0x8000), MonitorEvent::Unknown(0x8000));
/// assert_eq!(MonitorEvent::Accepted.to_string(), "accepted");
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MonitorEvent {
    /// `ZMQ_EVENT_CONNECTED` (0x0001): a connection to a peer was established; value is
    /// the socket's file descriptor.
    Connected,
    /// `ZMQ_EVENT_CONNECT_DELAYED` (0x0002): a connect could not complete at once and will
    /// be retried; value is an errno.
    ConnectDelayed,
    /// `ZMQ_EVENT_CONNECT_RETRIED` (0x0004): a connect is being retried; value is the
    /// reconnect interval in milliseconds.
    ConnectRetried,
    /// `ZMQ_EVENT_LISTENING` (0x0008): a bind succeeded; value is the listening file
    /// descriptor.
    Listening,
    /// `ZMQ_EVENT_BIND_FAILED` (0x0010): a bind failed; value is an errno.
    BindFailed,
    /// `ZMQ_EVENT_ACCEPTED` (0x0020): a connection from a peer was accepted; value is the
    /// accepted file descriptor.
    Accepted,
    /// `ZMQ_EVENT_ACCEPT_FAILED` (0x0040): accepting a connection failed; value is an errno.
    AcceptFailed,
    /// `ZMQ_EVENT_CLOSED` (0x0080): a connection's socket was closed; value is the file
    /// descriptor.
    Closed,
    /// `ZMQ_EVENT_CLOSE_FAILED` (0x0100): closing a socket failed; value is an errno.
    CloseFailed,
    /// `ZMQ_EVENT_DISCONNECTED` (0x0200): a session was broken unexpectedly; value is the
    /// file descriptor.
    Disconnected,
    /// `ZMQ_EVENT_MONITOR_STOPPED` (0x0400): monitoring of the socket stopped; the last
    /// event a monitor sends.
    MonitorStopped,
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL` (0x0800): the ZMTP handshake failed for an
    /// unspecified reason; value is an errno.
    HandshakeFailedNoDetail,
    /// `ZMQ_EVENT_HANDSHAKE_SUCCEEDED` (0x1000): the ZMTP handshake (including any
    /// authentication) succeeded.
    HandshakeSucceeded,
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL` (0x2000): the handshake failed because of a
    /// protocol error; value is a `ZMQ_PROTOCOL_ERROR_*` code.
    HandshakeFailedProtocol,
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_AUTH` (0x4000): the handshake failed because the ZAP
    /// handler refused the peer; value is the ZAP status code.
    HandshakeFailedAuth,
    /// Any other code, kept as received (e.g. an event of a newer libzmq, or a code that is
    /// not a single bit). `Unknown(c).code() == c`.
    Unknown(u16),
}

impl MonitorEvent {
    /// libzmq's `ZMQ_EVENT_*` value of this event; for [`Unknown`](Self::Unknown), the code
    /// it holds.
    ///
    /// ```
    /// use zmqio_core::monitor::MonitorEvent;
    ///
    /// assert_eq!(MonitorEvent::Disconnected.code(), 0x0200);
    /// assert_eq!(MonitorEvent::Unknown(3).code(), 3);
    /// ```
    pub const fn code(self) -> u16 {
        match self {
            Self::Connected => 0x0001,
            Self::ConnectDelayed => 0x0002,
            Self::ConnectRetried => 0x0004,
            Self::Listening => 0x0008,
            Self::BindFailed => 0x0010,
            Self::Accepted => 0x0020,
            Self::AcceptFailed => 0x0040,
            Self::Closed => 0x0080,
            Self::CloseFailed => 0x0100,
            Self::Disconnected => 0x0200,
            Self::MonitorStopped => 0x0400,
            Self::HandshakeFailedNoDetail => 0x0800,
            Self::HandshakeSucceeded => 0x1000,
            Self::HandshakeFailedProtocol => 0x2000,
            Self::HandshakeFailedAuth => 0x4000,
            Self::Unknown(code) => code,
        }
    }

    /// The event whose code is `code`; [`Unknown(code)`](Self::Unknown) when `code` is not
    /// one of the known single bits (0, 3 and 0x8000 are all unknown).
    ///
    /// ```
    /// use zmqio_core::monitor::MonitorEvent;
    ///
    /// assert_eq!(MonitorEvent::from_code(0x1000), MonitorEvent::HandshakeSucceeded);
    /// assert_eq!(MonitorEvent::from_code(0), MonitorEvent::Unknown(0));
    /// ```
    pub const fn from_code(code: u16) -> Self {
        match code {
            0x0001 => Self::Connected,
            0x0002 => Self::ConnectDelayed,
            0x0004 => Self::ConnectRetried,
            0x0008 => Self::Listening,
            0x0010 => Self::BindFailed,
            0x0020 => Self::Accepted,
            0x0040 => Self::AcceptFailed,
            0x0080 => Self::Closed,
            0x0100 => Self::CloseFailed,
            0x0200 => Self::Disconnected,
            0x0400 => Self::MonitorStopped,
            0x0800 => Self::HandshakeFailedNoDetail,
            0x1000 => Self::HandshakeSucceeded,
            0x2000 => Self::HandshakeFailedProtocol,
            0x4000 => Self::HandshakeFailedAuth,
            other => Self::Unknown(other),
        }
    }

    /// This event's bit in a [`MonitorEvents`] mask: its code for a known event, nothing
    /// for [`Unknown`](Self::Unknown).
    const fn mask_bits(self) -> u16 {
        match self {
            Self::Unknown(_) => 0,
            known => known.code(),
        }
    }
}

impl fmt::Display for MonitorEvent {
    /// Lowercase words, e.g. `connected`, `handshake failed (auth)`, `unknown (0x8000)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Connected => "connected",
            Self::ConnectDelayed => "connect delayed",
            Self::ConnectRetried => "connect retried",
            Self::Listening => "listening",
            Self::BindFailed => "bind failed",
            Self::Accepted => "accepted",
            Self::AcceptFailed => "accept failed",
            Self::Closed => "closed",
            Self::CloseFailed => "close failed",
            Self::Disconnected => "disconnected",
            Self::MonitorStopped => "monitor stopped",
            Self::HandshakeFailedNoDetail => "handshake failed (no detail)",
            Self::HandshakeSucceeded => "handshake succeeded",
            Self::HandshakeFailedProtocol => "handshake failed (protocol)",
            Self::HandshakeFailedAuth => "handshake failed (auth)",
            Self::Unknown(code) => return write!(f, "unknown ({code:#06x})"),
        };
        f.write_str(name)
    }
}

impl fmt::Display for SocketEvent {
    /// `<event> <endpoint> (value <value>)`, e.g. `accepted tcp://127.0.0.1:5555 (value 9)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} (value {})", self.event, self.endpoint, self.value)
    }
}

/// A set of [`MonitorEvent`]s: the mask telling libzmq which events to report.
///
/// Build one with `|` from events and masks in any combination, with
/// [`insert`](Self::insert), or from raw bits with
/// [`from_bits_truncate`](Self::from_bits_truncate).
///
/// # An empty mask means every event
///
/// The transport treats `enable_monitor(None)` and `enable_monitor(Some(mask))` with an
/// empty mask alike: both ask libzmq for every event (`ZMQ_EVENT_ALL`). A monitor that
/// reports nothing would be pointless, and libzmq's own convention is the same.
///
/// # Unknown events
///
/// A mask only holds the 15 known event bits ([`ALL`](Self::ALL) is `0x7FFF`). An
/// [`MonitorEvent::Unknown`] event contributes nothing to a mask: inserting it (or `|`-ing
/// it, or converting it with `From`) leaves the mask unchanged, and
/// [`contains`](Self::contains) is always `false` for it. Its code need not be a single
/// bit, and may even overlap known bits (`Unknown(3)`), so there is no faithful way to
/// store it; bits outside the known ones are dropped by
/// [`from_bits_truncate`](Self::from_bits_truncate) for the same reason.
///
/// # Example
///
/// ```
/// use zmqio_core::monitor::{MonitorEvent, MonitorEvents};
///
/// let mask = MonitorEvent::Connected | MonitorEvent::Disconnected;
/// assert!(mask.contains(MonitorEvent::Connected));
/// assert!(!mask.contains(MonitorEvent::Accepted));
/// assert_eq!(mask.bits(), 0x0201);
///
/// let mut all = MonitorEvents::empty();
/// assert!(all.is_empty());
/// all |= MonitorEvents::ALL;
/// assert_eq!(all, MonitorEvents::from_bits_truncate(0xFFFF));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MonitorEvents(u16);

impl MonitorEvents {
    /// Every known event: `0x7FFF`.
    ///
    /// ```
    /// use zmqio_core::monitor::{MonitorEvent, MonitorEvents};
    ///
    /// assert_eq!(MonitorEvents::ALL.bits(), 0x7FFF);
    /// assert!(MonitorEvents::ALL.contains(MonitorEvent::HandshakeFailedAuth));
    /// ```
    pub const ALL: Self = Self(0x7FFF);

    /// The empty mask. Given to a transport, it means every event (see the
    /// [type docs](Self#an-empty-mask-means-every-event)).
    ///
    /// ```
    /// use zmqio_core::monitor::MonitorEvents;
    ///
    /// assert_eq!(MonitorEvents::empty().bits(), 0);
    /// assert_eq!(MonitorEvents::empty(), MonitorEvents::default());
    /// ```
    pub const fn empty() -> Self {
        Self(0)
    }

    /// The mask with the known bits of `bits`; other bits are dropped.
    ///
    /// ```
    /// use zmqio_core::monitor::{MonitorEvent, MonitorEvents};
    ///
    /// let mask = MonitorEvents::from_bits_truncate(0x8021);
    /// assert_eq!(mask.bits(), 0x0021);
    /// assert_eq!(mask, MonitorEvent::Connected | MonitorEvent::Accepted);
    /// ```
    pub const fn from_bits_truncate(bits: u16) -> Self {
        Self(bits & Self::ALL.0)
    }

    /// The mask's bits, libzmq's `ZMQ_EVENT_*` values or-ed together.
    ///
    /// ```
    /// use zmqio_core::monitor::{MonitorEvent, MonitorEvents};
    ///
    /// assert_eq!(MonitorEvents::from(MonitorEvent::Listening).bits(), 0x0008);
    /// ```
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether the mask has no events.
    ///
    /// ```
    /// use zmqio_core::monitor::{MonitorEvent, MonitorEvents};
    ///
    /// assert!(MonitorEvents::empty().is_empty());
    /// assert!(MonitorEvents::from(MonitorEvent::Unknown(0x8000)).is_empty());
    /// assert!(!MonitorEvents::ALL.is_empty());
    /// ```
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether `event` is in the mask; always `false` for [`MonitorEvent::Unknown`].
    ///
    /// ```
    /// use zmqio_core::monitor::{MonitorEvent, MonitorEvents};
    ///
    /// assert!(MonitorEvents::ALL.contains(MonitorEvent::Closed));
    /// assert!(!MonitorEvents::ALL.contains(MonitorEvent::Unknown(1)));
    /// ```
    pub const fn contains(self, event: MonitorEvent) -> bool {
        let bits = event.mask_bits();
        bits != 0 && self.0 & bits == bits
    }

    /// Adds `event` to the mask; a no-op for [`MonitorEvent::Unknown`].
    ///
    /// ```
    /// use zmqio_core::monitor::{MonitorEvent, MonitorEvents};
    ///
    /// let mut mask = MonitorEvents::empty();
    /// mask.insert(MonitorEvent::BindFailed);
    /// assert!(mask.contains(MonitorEvent::BindFailed));
    /// ```
    pub fn insert(&mut self, event: MonitorEvent) {
        self.0 |= event.mask_bits();
    }

    /// The `events` argument for `zmq::Socket::monitor`: the bits, or `ZMQ_EVENT_ALL`
    /// when the mask is empty.
    pub(crate) fn to_zmq_mask(self) -> i32 {
        if self.is_empty() {
            i32::from(zmq::SocketEvent::ALL.to_raw())
        } else {
            i32::from(self.0)
        }
    }
}

impl From<MonitorEvent> for MonitorEvents {
    /// The mask with just `event`; empty for [`MonitorEvent::Unknown`].
    fn from(event: MonitorEvent) -> Self {
        Self(event.mask_bits())
    }
}

impl BitOr for MonitorEvents {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOr<MonitorEvent> for MonitorEvents {
    type Output = Self;

    fn bitor(self, rhs: MonitorEvent) -> Self {
        self | Self::from(rhs)
    }
}

impl BitOr<MonitorEvents> for MonitorEvent {
    type Output = MonitorEvents;

    fn bitor(self, rhs: MonitorEvents) -> MonitorEvents {
        MonitorEvents::from(self) | rhs
    }
}

impl BitOr for MonitorEvent {
    type Output = MonitorEvents;

    fn bitor(self, rhs: Self) -> MonitorEvents {
        MonitorEvents::from(self) | MonitorEvents::from(rhs)
    }
}

impl BitOrAssign for MonitorEvents {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl BitOrAssign<MonitorEvent> for MonitorEvents {
    fn bitor_assign(&mut self, rhs: MonitorEvent) {
        self.insert(rhs);
    }
}

/// Decodes one libzmq monitor message (see the [module docs](self) for the format).
///
/// # Errors
///
/// [`Error::InvalidArgument`] when the message does not have exactly two frames, when the
/// first frame is not exactly 6 bytes, or when the endpoint is not valid UTF-8. An unknown
/// event id is not an error: it decodes to [`MonitorEvent::Unknown`].
///
/// # Example
///
/// ```
/// use zmqio_core::monitor::{decode_monitor_event, MonitorEvent};
///
/// let head: Vec<u8> = [0x0200u16.to_ne_bytes().as_slice(), 42u32.to_ne_bytes().as_slice()].concat();
/// let event = decode_monitor_event(&[head.as_slice(), b"inproc://x"])?;
/// assert_eq!(event.event, MonitorEvent::Disconnected);
/// assert_eq!(event.value, 42);
///
/// assert!(decode_monitor_event(&[head.as_slice()]).is_err());
/// # Ok::<(), zmqio_core::Error>(())
/// ```
pub fn decode_monitor_event<F: AsRef<[u8]>>(frames: &[F]) -> Result<SocketEvent> {
    let [head, endpoint] = frames else {
        return Err(Error::invalid_argument(format!(
            "monitor message has {} frames, expected 2",
            frames.len()
        )));
    };
    let head = head.as_ref();
    let Ok(&[e0, e1, v0, v1, v2, v3]) = <&[u8; 6]>::try_from(head) else {
        return Err(Error::invalid_argument(format!(
            "monitor event frame has {} bytes, expected 6",
            head.len()
        )));
    };
    let Ok(endpoint) = std::str::from_utf8(endpoint.as_ref()) else {
        return Err(Error::invalid_argument(
            "monitor endpoint is not valid utf-8",
        ));
    };
    Ok(SocketEvent {
        event: MonitorEvent::from_code(u16::from_ne_bytes([e0, e1])),
        value: u32::from_ne_bytes([v0, v1, v2, v3]),
        endpoint: endpoint.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    const KNOWN: [(MonitorEvent, zmq::SocketEvent); 15] = [
        (MonitorEvent::Connected, zmq::SocketEvent::CONNECTED),
        (
            MonitorEvent::ConnectDelayed,
            zmq::SocketEvent::CONNECT_DELAYED,
        ),
        (
            MonitorEvent::ConnectRetried,
            zmq::SocketEvent::CONNECT_RETRIED,
        ),
        (MonitorEvent::Listening, zmq::SocketEvent::LISTENING),
        (MonitorEvent::BindFailed, zmq::SocketEvent::BIND_FAILED),
        (MonitorEvent::Accepted, zmq::SocketEvent::ACCEPTED),
        (MonitorEvent::AcceptFailed, zmq::SocketEvent::ACCEPT_FAILED),
        (MonitorEvent::Closed, zmq::SocketEvent::CLOSED),
        (MonitorEvent::CloseFailed, zmq::SocketEvent::CLOSE_FAILED),
        (MonitorEvent::Disconnected, zmq::SocketEvent::DISCONNECTED),
        (
            MonitorEvent::MonitorStopped,
            zmq::SocketEvent::MONITOR_STOPPED,
        ),
        (
            MonitorEvent::HandshakeFailedNoDetail,
            zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL,
        ),
        (
            MonitorEvent::HandshakeSucceeded,
            zmq::SocketEvent::HANDSHAKE_SUCCEEDED,
        ),
        (
            MonitorEvent::HandshakeFailedProtocol,
            zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL,
        ),
        (
            MonitorEvent::HandshakeFailedAuth,
            zmq::SocketEvent::HANDSHAKE_FAILED_AUTH,
        ),
    ];

    fn head(code: u16, value: u32) -> Vec<u8> {
        let mut head = code.to_ne_bytes().to_vec();
        head.extend_from_slice(&value.to_ne_bytes());
        head
    }

    fn assert_invalid_argument(result: Result<SocketEvent>) {
        match result {
            Err(Error::InvalidArgument(msg)) => {
                assert!(!msg.is_empty());
                assert_eq!(msg, msg.to_lowercase());
            }
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn known_codes_match_the_zmq_crate() {
        for (event, raw) in KNOWN {
            assert_eq!(event.code(), raw.to_raw(), "{event:?}");
            assert_eq!(MonitorEvent::from_code(raw.to_raw()), event);
        }
    }

    #[test]
    fn known_codes_round_trip_and_are_distinct_single_bits() {
        let mut seen = 0u16;
        for (event, _) in KNOWN {
            let code = event.code();
            assert_eq!(code.count_ones(), 1, "{event:?}");
            assert_eq!(seen & code, 0, "{event:?} reuses a bit");
            seen |= code;
            assert_eq!(MonitorEvent::from_code(code), event);
            assert!(!matches!(event, MonitorEvent::Unknown(_)));
        }
        assert_eq!(seen, MonitorEvents::ALL.bits());
        assert_eq!(seen, 0x7FFF);
    }

    #[test]
    fn unknown_codes_are_kept() {
        for code in [0, 3, 0x0030, 0x7FFF, 0x8000, 0xFFFF] {
            let event = MonitorEvent::from_code(code);
            assert_eq!(event, MonitorEvent::Unknown(code));
            assert_eq!(event.code(), code);
        }
        // Every u16 round-trips through from_code / code.
        for code in 0..=u16::MAX {
            assert_eq!(MonitorEvent::from_code(code).code(), code);
        }
    }

    #[test]
    fn display_is_lowercase() {
        assert_eq!(MonitorEvent::Connected.to_string(), "connected");
        assert_eq!(
            MonitorEvent::Unknown(0x8000).to_string(),
            "unknown (0x8000)"
        );
        for (event, _) in KNOWN {
            let text = event.to_string();
            assert_eq!(text, text.to_lowercase());
        }
    }

    #[test]
    fn mask_operations() {
        let a = MonitorEvent::Connected | MonitorEvent::Disconnected;
        assert_eq!(a.bits(), 0x0201);
        let b = a | MonitorEvent::Accepted;
        assert_eq!(b.bits(), 0x0221);
        let c = MonitorEvent::Listening | b;
        assert_eq!(c.bits(), 0x0229);
        let d = c | MonitorEvents::from(MonitorEvent::Closed);
        assert_eq!(d.bits(), 0x02A9);

        let mut e = MonitorEvents::empty();
        e |= MonitorEvent::BindFailed;
        e |= MonitorEvents::from(MonitorEvent::AcceptFailed);
        e.insert(MonitorEvent::CloseFailed);
        assert_eq!(e.bits(), 0x0150);
        assert!(e.contains(MonitorEvent::BindFailed));
        assert!(!e.contains(MonitorEvent::Connected));

        assert_eq!(MonitorEvents::default(), MonitorEvents::empty());
        assert_eq!(
            MonitorEvents::from_bits_truncate(0xFFFF),
            MonitorEvents::ALL
        );
        for (event, _) in KNOWN {
            assert!(MonitorEvents::ALL.contains(event));
            assert!(MonitorEvents::from(event).contains(event));
            assert!(!MonitorEvents::empty().contains(event));
        }
    }

    #[test]
    fn unknown_events_never_enter_a_mask() {
        for code in [0, 1, 3, 0x8000, 0xFFFF] {
            let unknown = MonitorEvent::Unknown(code);
            assert!(MonitorEvents::from(unknown).is_empty());
            assert!(!MonitorEvents::ALL.contains(unknown));
            let mut mask = MonitorEvent::Closed | unknown;
            assert_eq!(mask.bits(), MonitorEvent::Closed.code());
            mask.insert(unknown);
            mask |= unknown;
            assert_eq!(mask.bits(), MonitorEvent::Closed.code());
        }
    }

    #[test]
    fn zmq_mask_of_empty_is_all() {
        assert_eq!(MonitorEvents::empty().to_zmq_mask(), 0xFFFF);
        assert_eq!(MonitorEvents::ALL.to_zmq_mask(), 0x7FFF);
        assert_eq!(
            (MonitorEvent::Connected | MonitorEvent::Accepted).to_zmq_mask(),
            0x0021
        );
    }

    #[test]
    fn decodes_a_well_formed_message() {
        for (event, _) in KNOWN {
            let frames = [head(event.code(), 0xDEAD_BEEF), b"tcp://[::1]:1".to_vec()];
            let decoded = decode_monitor_event(&frames).unwrap();
            assert_eq!(
                decoded,
                SocketEvent {
                    event,
                    value: 0xDEAD_BEEF,
                    endpoint: "tcp://[::1]:1".to_owned(),
                }
            );
        }
        let decoded = decode_monitor_event(&[head(0x8000, 1), Vec::new()]).unwrap();
        assert_eq!(decoded.event, MonitorEvent::Unknown(0x8000));
        assert_eq!(decoded.endpoint, "");
    }

    #[test]
    fn wrong_frame_count_is_invalid_argument() {
        let none: [Vec<u8>; 0] = [];
        assert_invalid_argument(decode_monitor_event(&none));
        assert_invalid_argument(decode_monitor_event(&[head(1, 0)]));
        assert_invalid_argument(decode_monitor_event(&[
            head(1, 0),
            b"tcp://127.0.0.1:1".to_vec(),
            Vec::new(),
        ]));
    }

    #[test]
    fn wrong_head_length_is_invalid_argument() {
        for len in [0, 1, 5, 7, 10, 1000] {
            let frames = [vec![1u8; len], b"inproc://x".to_vec()];
            assert_invalid_argument(decode_monitor_event(&frames));
        }
        // libzmq's event version 2 head (8-byte event id) is not version 1.
        let frames = [0x20u64.to_ne_bytes().to_vec(), b"inproc://x".to_vec()];
        assert_invalid_argument(decode_monitor_event(&frames));
    }

    #[test]
    fn invalid_utf8_endpoint_is_invalid_argument() {
        let frames: [&[u8]; 2] = [&head(1, 0), b"tcp://\xff\xfe:1"];
        assert_invalid_argument(decode_monitor_event(&frames));
    }

    #[test]
    fn decodes_a_real_monitor() {
        let ctx = zmq::Context::new();
        let router = ctx.socket(zmq::ROUTER).unwrap();
        router.set_linger(0).unwrap();
        router.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = router.get_last_endpoint().unwrap().unwrap();

        // monitor() binds the inproc PAIR endpoint; our PAIR connects after that.
        router
            .monitor("inproc://mon-test", MonitorEvents::ALL.to_zmq_mask())
            .unwrap();
        let pair = ctx.socket(zmq::PAIR).unwrap();
        pair.set_linger(0).unwrap();
        pair.set_rcvtimeo(5000).unwrap();
        pair.connect("inproc://mon-test").unwrap();

        let dealer = ctx.socket(zmq::DEALER).unwrap();
        dealer.set_linger(0).unwrap();
        dealer.connect(&endpoint).unwrap();

        let deadline = Instant::now() + Duration::from_secs(10);
        let accepted = loop {
            assert!(Instant::now() < deadline, "no accepted event in time");
            let frames = pair.recv_multipart(0).expect("monitor event in time");
            let event = decode_monitor_event(&frames).unwrap();
            if event.event == MonitorEvent::Accepted {
                break event;
            }
        };
        assert!(
            accepted.endpoint.starts_with("tcp://127.0.0.1:"),
            "{accepted:?}"
        );
    }
}
