//! Typed socket options.
//!
//! Every libzmq option that the [`zmq`] crate can read or write has a zero-sized marker type
//! here, named after the option in CamelCase: `ZMQ_SNDHWM` is [`SndHwm`], `ZMQ_ROUTING_ID` is
//! [`RoutingId`]. A marker that libzmq can read implements [`GetSocketOpt`], one that it can
//! write implements [`SetSocketOpt`], and each names its value type. So reading a write-only
//! option ([`Subscribe`]), writing a read-only one ([`Events`]), or passing a value of the
//! wrong type is a compile error, not an `EINVAL` at run time.
//!
//! The transport's `getsockopt` / `setsockopt` take these markers, but they work directly on a
//! [`zmq::Socket`] as well:
//!
//! ```
//! use zmqio_core::opt::{GetSocketOpt, Linger, SetSocketOpt};
//!
//! let ctx = zmq::Context::new();
//! let s = ctx.socket(zmq::PUSH).unwrap();
//! Linger.set(&s, 0).unwrap();
//! assert_eq!(Linger.get(&s).unwrap(), 0);
//! ```
//!
//! Reading a write-only option does not compile:
//!
//! ```compile_fail,E0599
//! use zmqio_core::opt::{GetSocketOpt, Subscribe};
//!
//! let ctx = zmq::Context::new();
//! let s = ctx.socket(zmq::SUB).unwrap();
//! let _ = Subscribe.get(&s);
//! ```
//!
//! # Value types
//!
//! - Numbers are typed as libzmq has them: `i32` for most, `i64` for [`MaxMsgSize`], `u64`
//!   for [`Affinity`]; 0/1 flags are `bool`.
//! - Binary values ([`RoutingId`], [`Subscribe`], [`Unsubscribe`], the CURVE keys) are
//!   `Vec<u8>`.
//! - Text values are `String`. Reading one that is not UTF-8 fails with
//!   [`Error::InvalidArgument`].
//! - Text values that libzmq takes NULL for ([`SocksProxy`], [`PlainUsername`],
//!   [`PlainPassword`], [`XpubWelcomeMsg`]) are `Option<String>`, as the `zmq` crate's
//!   setters take them: `None` writes NULL, and reading an empty (never set) value gives
//!   `None`. What NULL does is up to libzmq: it clears [`SocksProxy`] and [`XpubWelcomeMsg`],
//!   but for the PLAIN options it only selects the NULL mechanism (see [`PlainUsername`]).
//!   `Some("")` is passed through as is; libzmq rejects it for all but [`XpubWelcomeMsg`].
//!
//! # Caveats
//!
//! - Many options only apply to some socket types, or only take effect for later `bind` and
//!   `connect` calls; libzmq reports misuse as [`Error::Zmq`] (usually `EINVAL`).
//! - [`RouterMandatory`], [`RouterHandover`] and [`ProbeRouter`] are write-only, although the
//!   `zmq` crate has getters for them: libzmq (4.3) rejects reading them with `EINVAL`.
//! - [`Type`] and [`Mechanism`] read through the `zmq` crate's getters, which panic on a value
//!   outside the set they know. libzmq never reports such a value for the socket types and
//!   mechanisms the `zmq` crate can create.

use crate::{Error, Result};

/// An option that can be read from a socket.
///
/// Implemented by the option markers of this module that libzmq can read.
pub trait GetSocketOpt {
    /// The option's value type.
    type Value;

    /// Reads this option from `socket`.
    ///
    /// # Errors
    ///
    /// [`Error::Zmq`] when libzmq refuses (e.g. `EINVAL` for an option this socket type does
    /// not have, `ETERM` once the context is terminated); [`Error::InvalidArgument`] when a
    /// text value is not UTF-8.
    fn get(&self, socket: &zmq::Socket) -> Result<Self::Value>;
}

/// An option that can be written to a socket.
///
/// Implemented by the option markers of this module that libzmq can write.
pub trait SetSocketOpt {
    /// The option's value type.
    type Value;

    /// What the transport must track when this option is set: [`OptKind::Subscribe`] and
    /// [`OptKind::Unsubscribe`] change the subscription set. Implementations that override it
    /// must also override [`as_bytes`](Self::as_bytes).
    #[doc(hidden)]
    const KIND: OptKind = OptKind::Other;

    /// Writes `value` to this option of `socket`.
    ///
    /// # Errors
    ///
    /// [`Error::Zmq`] when libzmq refuses, e.g. `EINVAL` for an out-of-range value or an option
    /// this socket type does not have.
    fn set(&self, socket: &zmq::Socket, value: Self::Value) -> Result<()>;

    /// The value as the subscription prefix it adds or removes; `Some` exactly when
    /// [`KIND`](Self::KIND) is not [`OptKind::Other`].
    #[doc(hidden)]
    fn as_bytes(value: &Self::Value) -> Option<&[u8]> {
        let _ = value;
        None
    }
}

/// Which options change state the transport tracks (see [`SetSocketOpt::KIND`]).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OptKind {
    /// Any option the transport does not track.
    Other,
    /// [`Subscribe`]: adds a prefix to the subscription set.
    Subscribe,
    /// [`Unsubscribe`]: removes a prefix from the subscription set.
    Unsubscribe,
}

/// The value type of [`Fd`]: the platform's socket handle, as the `zmq` crate returns it
/// (`RawFd` on Unix, `RawSocket` on Windows).
#[cfg(unix)]
pub type RawFd = std::os::unix::io::RawFd;

/// The value type of [`Fd`]: the platform's socket handle, as the `zmq` crate returns it
/// (`RawFd` on Unix, `RawSocket` on Windows).
#[cfg(windows)]
pub type RawFd = std::os::windows::io::RawSocket;

/// Defines the option markers and their trait impls.
///
/// Each entry is `Name(ZMQ_CONSTANT): ValueType { get: getter [as conv]; set: setter [as
/// conv] [, kind Kind]; }` with either line optional. Getter conversions: none (the `zmq`
/// getter returns the value), `utf8` (text), `opt_utf8` (text, empty is `None`). Setter
/// conversions: none (by value), `by_ref` (`&value`), `opt_str` (`value.as_deref()`),
/// `curve` and `curve_by_ref` (as none and `by_ref`, after checking that the linked libzmq
/// has CURVE).
macro_rules! socket_options {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident($zmq:ident): $ty:ty {
            $(get: $getter:ident $(as $get_conv:ident)?;)?
            $(set: $setter:ident $(as $set_conv:ident)? $(, kind $kind:ident)?;)?
        }
    )*) => {$(
        $(#[doc = $doc])*
        #[doc = ""]
        #[doc = concat!("libzmq option `", stringify!($zmq), "`.")]
        $(#[doc = concat!(
            " Readable ([`GetSocketOpt`], through `zmq::Socket::", stringify!($getter), "`).",
        )])?
        $(#[doc = concat!(
            " Writable ([`SetSocketOpt`], through `zmq::Socket::", stringify!($setter), "`).",
        )])?
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub struct $name;

        $(
            impl GetSocketOpt for $name {
                type Value = $ty;

                fn get(&self, socket: &zmq::Socket) -> Result<$ty> {
                    convert_get!($zmq, socket.$getter()? $(, $get_conv)?)
                }
            }
        )?

        $(
            impl SetSocketOpt for $name {
                type Value = $ty;

                $(
                    const KIND: OptKind = OptKind::$kind;

                    fn as_bytes(value: &$ty) -> Option<&[u8]> {
                        Some(&value[..])
                    }
                )?

                fn set(&self, socket: &zmq::Socket, value: $ty) -> Result<()> {
                    convert_set!(socket.$setter, value $(, $set_conv)?)?;
                    Ok(())
                }
            }
        )?
    )*};
}

/// Turns what a `zmq` getter returned into the option's value.
macro_rules! convert_get {
    ($zmq:ident, $raw:expr) => {
        Ok($raw)
    };
    ($zmq:ident, $raw:expr, utf8) => {
        utf8(stringify!($zmq), $raw)
    };
    ($zmq:ident, $raw:expr, opt_utf8) => {
        utf8(stringify!($zmq), $raw).map(non_empty)
    };
}

/// Calls a `zmq` setter with the option's value in the shape it takes.
macro_rules! convert_set {
    ($socket:ident.$setter:ident, $value:ident) => {
        $socket.$setter($value)
    };
    ($socket:ident.$setter:ident, $value:ident, by_ref) => {
        $socket.$setter(&$value)
    };
    ($socket:ident.$setter:ident, $value:ident, opt_str) => {
        $socket.$setter($value.as_deref())
    };
    ($socket:ident.$setter:ident, $value:ident, curve) => {{
        require_curve(stringify!($setter))?;
        $socket.$setter($value)
    }};
    ($socket:ident.$setter:ident, $value:ident, curve_by_ref) => {{
        require_curve(stringify!($setter))?;
        $socket.$setter(&$value)
    }};
}

socket_options! {
    // Socket state, read-only.

    /// The socket's type (PUB, SUB, ...).
    Type(ZMQ_TYPE): zmq::SocketType { get: get_socket_type; }
    /// Whether the last frame received is followed by more frames of the same message.
    RcvMore(ZMQ_RCVMORE): bool { get: get_rcvmore; }
    /// The file descriptor that signals (edge-triggered) that [`Events`] may have changed.
    /// Only poll it for readability; never read from or write to it.
    Fd(ZMQ_FD): RawFd { get: get_fd; }
    /// The events pending on the socket right now: `POLLIN` if a message can be received,
    /// `POLLOUT` if one can be sent without blocking.
    Events(ZMQ_EVENTS): zmq::PollEvents { get: get_events; }
    /// The endpoint of the last `bind` or `connect`, with wildcards resolved (e.g. the port
    /// picked for `tcp://127.0.0.1:*`).
    LastEndpoint(ZMQ_LAST_ENDPOINT): String { get: get_last_endpoint as utf8; }
    /// The security mechanism in use (NULL, PLAIN, CURVE or GSSAPI), chosen by the other
    /// security options.
    Mechanism(ZMQ_MECHANISM): zmq::Mechanism { get: get_mechanism; }

    // Queueing and message limits.

    /// How long, in milliseconds, unsent messages linger after the socket is closed; `-1`
    /// waits forever, `0` drops them at once.
    Linger(ZMQ_LINGER): i32 { get: get_linger; set: set_linger; }
    /// The high water mark for outbound messages, per peer; `0` means no limit.
    SndHwm(ZMQ_SNDHWM): i32 { get: get_sndhwm; set: set_sndhwm; }
    /// The high water mark for inbound messages, per peer; `0` means no limit.
    RcvHwm(ZMQ_RCVHWM): i32 { get: get_rcvhwm; set: set_rcvhwm; }
    /// The largest inbound message, in bytes, before the peer is disconnected; `-1` means no
    /// limit.
    MaxMsgSize(ZMQ_MAXMSGSIZE): i64 { get: get_maxmsgsize; set: set_maxmsgsize; }
    /// Queue messages only to completed connections (no queueing for peers still connecting).
    Immediate(ZMQ_IMMEDIATE): bool { get: is_immediate; set: set_immediate; }
    /// Keep only the last message in the queues (for PUB, SUB, PUSH, PULL, DEALER; no
    /// multipart messages).
    Conflate(ZMQ_CONFLATE): bool { get: is_conflate; set: set_conflate; }
    /// The I/O thread affinity bitmask for connections made after this is set.
    Affinity(ZMQ_AFFINITY): u64 { get: get_affinity; set: set_affinity; }
    /// Timeout of a blocking receive, in milliseconds; `-1` blocks forever. zmqio never blocks,
    /// so this only matters for direct use of the socket.
    RcvTimeo(ZMQ_RCVTIMEO): i32 { get: get_rcvtimeo; set: set_rcvtimeo; }
    /// Timeout of a blocking send, in milliseconds; `-1` blocks forever. zmqio never blocks,
    /// so this only matters for direct use of the socket.
    SndTimeo(ZMQ_SNDTIMEO): i32 { get: get_sndtimeo; set: set_sndtimeo; }

    // Identity, routing and subscriptions.

    /// The identity this socket presents to ROUTER peers (1 to 255 bytes, not starting with a
    /// zero byte); set it before `connect`. (`ZMQ_IDENTITY` is the older name.)
    RoutingId(ZMQ_ROUTING_ID): Vec<u8> {
        get: get_identity;
        set: set_identity as by_ref;
    }
    /// Adds a subscription prefix (SUB and XSUB); the empty prefix matches every message.
    /// Prefer the transport's `subscribe`; setting this through its `setsockopt` has the same
    /// effect.
    Subscribe(ZMQ_SUBSCRIBE): Vec<u8> { set: set_subscribe as by_ref, kind Subscribe; }
    /// Removes one subscription added with [`Subscribe`] (SUB and XSUB).
    Unsubscribe(ZMQ_UNSUBSCRIBE): Vec<u8> {
        set: set_unsubscribe as by_ref, kind Unsubscribe;
    }
    /// Fail sends to an unknown routing id with `EHOSTUNREACH` instead of dropping them
    /// (ROUTER).
    RouterMandatory(ZMQ_ROUTER_MANDATORY): bool { set: set_router_mandatory; }
    /// Let a new connection take over a routing id already in use (ROUTER).
    RouterHandover(ZMQ_ROUTER_HANDOVER): bool { set: set_router_handover; }
    /// Send an empty message to each new peer on connect (ROUTER, DEALER, REQ).
    ProbeRouter(ZMQ_PROBE_ROUTER): bool { set: set_probe_router; }
    /// Allow a REQ socket to send a new request before the reply to the last one arrived.
    ReqRelaxed(ZMQ_REQ_RELAXED): bool { set: set_req_relaxed; }
    /// Tag requests with an id and drop replies that do not match the last request (REQ).
    ReqCorrelate(ZMQ_REQ_CORRELATE): bool { set: set_req_correlate; }
    /// Pass every subscription message upstream, duplicates included (XPUB).
    XpubVerbose(ZMQ_XPUB_VERBOSE): bool { set: set_xpub_verbose; }
    /// A message sent to each new subscriber on connect (XPUB); `None` sends none.
    XpubWelcomeMsg(ZMQ_XPUB_WELCOME_MSG): Option<String> {
        set: set_xpub_welcome_msg as opt_str;
    }

    // Connections and transports.

    /// The initial delay before reconnecting to a lost peer, in milliseconds; `-1` disables
    /// reconnection.
    ReconnectIvl(ZMQ_RECONNECT_IVL): i32 { get: get_reconnect_ivl; set: set_reconnect_ivl; }
    /// The longest delay between reconnection attempts, in milliseconds (the delay doubles up
    /// to this); `0` keeps [`ReconnectIvl`].
    ReconnectIvlMax(ZMQ_RECONNECT_IVL_MAX): i32 {
        get: get_reconnect_ivl_max;
        set: set_reconnect_ivl_max;
    }
    /// How long a tcp connect may take, in milliseconds; `0` leaves it to the OS.
    ConnectTimeout(ZMQ_CONNECT_TIMEOUT): i32 {
        get: get_connect_timeout;
        set: set_connect_timeout;
    }
    /// How long the ZMTP handshake may take, in milliseconds; `0` means no limit.
    HandshakeIvl(ZMQ_HANDSHAKE_IVL): i32 { get: get_handshake_ivl; set: set_handshake_ivl; }
    /// The length of the queue of pending incoming connections.
    Backlog(ZMQ_BACKLOG): i32 { get: get_backlog; set: set_backlog; }
    /// Use IPv6 (and IPv4) on tcp sockets, instead of IPv4 only.
    Ipv6(ZMQ_IPV6): bool { get: is_ipv6; set: set_ipv6; }
    /// The kernel send buffer size, in bytes; `-1` (or `0` on older libzmq) keeps the OS
    /// default.
    SndBuf(ZMQ_SNDBUF): i32 { get: get_sndbuf; set: set_sndbuf; }
    /// The kernel receive buffer size, in bytes; `-1` (or `0` on older libzmq) keeps the OS
    /// default.
    RcvBuf(ZMQ_RCVBUF): i32 { get: get_rcvbuf; set: set_rcvbuf; }
    /// The IP type-of-service byte of outgoing packets.
    Tos(ZMQ_TOS): i32 { get: get_tos; set: set_tos; }
    /// `SO_KEEPALIVE` on tcp connections: `1` on, `0` off, `-1` the OS default.
    TcpKeepalive(ZMQ_TCP_KEEPALIVE): i32 { get: get_tcp_keepalive; set: set_tcp_keepalive; }
    /// `TCP_KEEPCNT`: unanswered probes before the connection is dropped; `-1` the OS default.
    TcpKeepaliveCnt(ZMQ_TCP_KEEPALIVE_CNT): i32 {
        get: get_tcp_keepalive_cnt;
        set: set_tcp_keepalive_cnt;
    }
    /// `TCP_KEEPIDLE`: idle seconds before the first probe; `-1` the OS default.
    TcpKeepaliveIdle(ZMQ_TCP_KEEPALIVE_IDLE): i32 {
        get: get_tcp_keepalive_idle;
        set: set_tcp_keepalive_idle;
    }
    /// `TCP_KEEPINTVL`: seconds between probes; `-1` the OS default.
    TcpKeepaliveIntvl(ZMQ_TCP_KEEPALIVE_INTVL): i32 {
        get: get_tcp_keepalive_intvl;
        set: set_tcp_keepalive_intvl;
    }
    /// The interval between ZMTP heartbeats, in milliseconds; `0` sends none.
    HeartbeatIvl(ZMQ_HEARTBEAT_IVL): i32 { get: get_heartbeat_ivl; set: set_heartbeat_ivl; }
    /// The time-to-live announced to the peer in heartbeats, in milliseconds (rounded down to
    /// tenths of a second).
    HeartbeatTtl(ZMQ_HEARTBEAT_TTL): i32 { get: get_heartbeat_ttl; set: set_heartbeat_ttl; }
    /// How long to wait for traffic after a heartbeat before dropping the connection, in
    /// milliseconds; `0` uses [`HeartbeatIvl`].
    HeartbeatTimeout(ZMQ_HEARTBEAT_TIMEOUT): i32 {
        get: get_heartbeat_timeout;
        set: set_heartbeat_timeout;
    }
    /// The SOCKS5 proxy (`host:port`) to connect through over tcp; `None` for none.
    SocksProxy(ZMQ_SOCKS_PROXY): Option<String> {
        get: get_socks_proxy as opt_utf8;
        set: set_socks_proxy as opt_str;
    }

    // Multicast (pgm, epgm).

    /// The maximum multicast data rate, in kilobits per second.
    Rate(ZMQ_RATE): i32 { get: get_rate; set: set_rate; }
    /// How far back, in milliseconds, a multicast receiver can recover lost data.
    RecoveryIvl(ZMQ_RECOVERY_IVL): i32 { get: get_recovery_ivl; set: set_recovery_ivl; }
    /// The time-to-live of multicast packets, in network hops.
    MulticastHops(ZMQ_MULTICAST_HOPS): i32 {
        get: get_multicast_hops;
        set: set_multicast_hops;
    }

    // Security.

    /// The ZAP domain used for authentication; empty for none.
    ZapDomain(ZMQ_ZAP_DOMAIN): String {
        get: get_zap_domain as utf8;
        set: set_zap_domain as by_ref;
    }
    /// Act as the server side of PLAIN authentication.
    PlainServer(ZMQ_PLAIN_SERVER): bool { get: is_plain_server; set: set_plain_server; }
    /// The PLAIN user name; setting it selects the PLAIN mechanism (client side).
    ///
    /// Setting `None` selects the NULL mechanism instead, but libzmq keeps the name, so
    /// reading still returns it.
    PlainUsername(ZMQ_PLAIN_USERNAME): Option<String> {
        get: get_plain_username as opt_utf8;
        set: set_plain_username as opt_str;
    }
    /// The PLAIN password; setting it selects the PLAIN mechanism (client side).
    ///
    /// Setting `None` selects the NULL mechanism instead, but libzmq keeps the password, so
    /// reading still returns it.
    PlainPassword(ZMQ_PLAIN_PASSWORD): Option<String> {
        get: get_plain_password as opt_utf8;
        set: set_plain_password as opt_str;
    }
    /// Act as the server side of CURVE security (needs [`CurveSecretKey`]).
    ///
    /// Where the linked libzmq has no CURVE, setting this (or any CURVE option) fails with
    /// [`Error::NotSupported`] saying so.
    CurveServer(ZMQ_CURVE_SERVER): bool {
        get: is_curve_server;
        set: set_curve_server as curve;
    }
    /// This socket's long-term CURVE public key: 32 bytes, or 40 bytes Z85-encoded when set
    /// (always read back as 32 bytes).
    CurvePublicKey(ZMQ_CURVE_PUBLICKEY): Vec<u8> {
        get: get_curve_publickey;
        set: set_curve_publickey as curve_by_ref;
    }
    /// This socket's long-term CURVE secret key: 32 bytes, or 40 bytes Z85-encoded when set
    /// (always read back as 32 bytes).
    CurveSecretKey(ZMQ_CURVE_SECRETKEY): Vec<u8> {
        get: get_curve_secretkey;
        set: set_curve_secretkey as curve_by_ref;
    }
    /// The server's CURVE public key, set on a client: 32 bytes, or 40 bytes Z85-encoded
    /// when set (always read back as 32 bytes).
    CurveServerKey(ZMQ_CURVE_SERVERKEY): Vec<u8> {
        get: get_curve_serverkey;
        set: set_curve_serverkey as curve_by_ref;
    }
    /// Act as the server side of GSSAPI authentication.
    GssapiServer(ZMQ_GSSAPI_SERVER): bool { get: is_gssapi_server; set: set_gssapi_server; }
    /// Disable GSSAPI encryption (authentication only).
    GssapiPlaintext(ZMQ_GSSAPI_PLAINTEXT): bool {
        get: is_gssapi_plaintext;
        set: set_gssapi_plaintext;
    }
    /// The name of this socket's own GSSAPI principal.
    GssapiPrincipal(ZMQ_GSSAPI_PRINCIPAL): String {
        get: get_gssapi_principal as utf8;
        set: set_gssapi_principal as by_ref;
    }
    /// The name of the GSSAPI principal of the server to connect to (client side).
    GssapiServicePrincipal(ZMQ_GSSAPI_SERVICE_PRINCIPAL): String {
        get: get_gssapi_service_principal as utf8;
        set: set_gssapi_service_principal as by_ref;
    }
}

/// `Ok` where the linked libzmq has CURVE; otherwise the error every CURVE setter returns, so
/// that asking for CURVE never silently leaves a socket in clear text.
pub(crate) fn require_curve(what: &str) -> Result<()> {
    if zmq::has("curve") == Some(true) {
        return Ok(());
    }
    Err(Error::not_supported(format!(
        "{what}: CURVE is missing from the linked libzmq (built without libsodium, as the zmq \
         crate's vendored build is); link a libzmq with CURVE as the Security section of \
         zmqio's README explains"
    )))
}

/// A text option's value, or `InvalidArgument` naming the option if it is not UTF-8.
fn utf8(option: &str, raw: std::result::Result<String, Vec<u8>>) -> Result<String> {
    // The value itself stays out of the message: it may be a password.
    raw.map_err(|_| Error::invalid_argument(format!("socket option {option} is not valid utf-8")))
}

/// `None` for the empty string, which is how libzmq reports an unset text option.
fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(kind: zmq::SocketType) -> (zmq::Context, zmq::Socket) {
        let ctx = zmq::Context::new();
        let socket = ctx.socket(kind).unwrap();
        (ctx, socket)
    }

    #[test]
    fn numbers_round_trip() {
        let (_ctx, s) = socket(zmq::DEALER);
        Linger.set(&s, 0).unwrap();
        assert_eq!(Linger.get(&s).unwrap(), 0);
        Linger.set(&s, 250).unwrap();
        assert_eq!(Linger.get(&s).unwrap(), 250);
        SndHwm.set(&s, 17).unwrap();
        RcvHwm.set(&s, 23).unwrap();
        assert_eq!((SndHwm.get(&s).unwrap(), RcvHwm.get(&s).unwrap()), (17, 23));
        MaxMsgSize.set(&s, 1 << 40).unwrap();
        assert_eq!(MaxMsgSize.get(&s).unwrap(), 1 << 40);
        Affinity.set(&s, 3).unwrap();
        assert_eq!(Affinity.get(&s).unwrap(), 3);
        ReconnectIvl.set(&s, 42).unwrap();
        assert_eq!(ReconnectIvl.get(&s).unwrap(), 42);
        HeartbeatIvl.set(&s, 1000).unwrap();
        assert_eq!(HeartbeatIvl.get(&s).unwrap(), 1000);
        TcpKeepalive.set(&s, 1).unwrap();
        assert_eq!(TcpKeepalive.get(&s).unwrap(), 1);
    }

    #[test]
    fn flags_round_trip() {
        let (_ctx, s) = socket(zmq::PUSH);
        assert!(!Immediate.get(&s).unwrap());
        Immediate.set(&s, true).unwrap();
        assert!(Immediate.get(&s).unwrap());
        Ipv6.set(&s, true).unwrap();
        assert!(Ipv6.get(&s).unwrap());
        Conflate.set(&s, true).unwrap();
        assert!(Conflate.get(&s).unwrap());
    }

    #[test]
    fn bad_value_is_zmq_einval() {
        let (_ctx, s) = socket(zmq::PUSH);
        assert_eq!(Linger.set(&s, -2), Err(Error::Zmq(zmq::Error::EINVAL)));
    }

    #[test]
    fn routing_id_round_trip() {
        let (_ctx, s) = socket(zmq::DEALER);
        assert_eq!(RoutingId.get(&s).unwrap(), b"");
        RoutingId.set(&s, b"peer-\xff".to_vec()).unwrap();
        assert_eq!(RoutingId.get(&s).unwrap(), b"peer-\xff");
    }

    #[test]
    fn last_endpoint_after_bind() {
        let (_ctx, s) = socket(zmq::PULL);
        assert_eq!(LastEndpoint.get(&s).unwrap(), "");
        s.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = LastEndpoint.get(&s).unwrap();
        let port = endpoint.strip_prefix("tcp://127.0.0.1:").unwrap();
        assert_ne!(port.parse::<u16>().unwrap(), 0);
    }

    #[test]
    fn state_options() {
        let (ctx, pull) = socket(zmq::PULL);
        assert_eq!(Type.get(&pull).unwrap(), zmq::PULL);
        assert!(!RcvMore.get(&pull).unwrap());
        #[cfg(unix)]
        assert!(Fd.get(&pull).unwrap() >= 0);
        assert_eq!(Mechanism.get(&pull).unwrap(), zmq::Mechanism::ZMQ_NULL);
        assert!(!Events.get(&pull).unwrap().contains(zmq::POLLIN));

        pull.bind("inproc://zmqio-opt-events").unwrap();
        let push = ctx.socket(zmq::PUSH).unwrap();
        push.connect("inproc://zmqio-opt-events").unwrap();
        assert!(Events.get(&push).unwrap().contains(zmq::POLLOUT));
        push.send_multipart(["a", "b"], 0).unwrap();
        assert!(Events.get(&pull).unwrap().contains(zmq::POLLIN));
        assert_eq!(pull.recv_bytes(0).unwrap(), b"a");
        assert!(RcvMore.get(&pull).unwrap());
    }

    #[test]
    fn subscribe_on_sub() {
        let (_ctx, sub) = socket(zmq::SUB);
        Subscribe.set(&sub, b"topic".to_vec()).unwrap();
        Subscribe.set(&sub, Vec::new()).unwrap();
        Unsubscribe.set(&sub, b"topic".to_vec()).unwrap();

        let (_ctx, publisher) = socket(zmq::PUB);
        assert_eq!(
            Subscribe.set(&publisher, b"topic".to_vec()),
            Err(Error::Zmq(zmq::Error::EINVAL))
        );
    }

    #[test]
    fn subscription_options_expose_their_bytes() {
        assert_eq!(<Subscribe as SetSocketOpt>::KIND, OptKind::Subscribe);
        assert_eq!(<Unsubscribe as SetSocketOpt>::KIND, OptKind::Unsubscribe);
        assert_eq!(<Linger as SetSocketOpt>::KIND, OptKind::Other);
        assert_eq!(<RoutingId as SetSocketOpt>::KIND, OptKind::Other);
        let topic = b"topic".to_vec();
        assert_eq!(Subscribe::as_bytes(&topic), Some(&b"topic"[..]));
        assert_eq!(Unsubscribe::as_bytes(&topic), Some(&b"topic"[..]));
        assert_eq!(RoutingId::as_bytes(&topic), None);
        assert_eq!(Linger::as_bytes(&0), None);
    }

    #[test]
    fn optional_text_options() {
        let (_ctx, s) = socket(zmq::DEALER);
        assert_eq!(PlainUsername.get(&s).unwrap(), None);
        PlainUsername.set(&s, Some("admin".into())).unwrap();
        PlainPassword.set(&s, Some("secret".into())).unwrap();
        assert_eq!(PlainUsername.get(&s).unwrap().as_deref(), Some("admin"));
        assert_eq!(PlainPassword.get(&s).unwrap().as_deref(), Some("secret"));
        assert_eq!(Mechanism.get(&s).unwrap(), zmq::Mechanism::ZMQ_PLAIN);
        // NULL only switches the mechanism back; libzmq keeps the name.
        PlainUsername.set(&s, None).unwrap();
        assert_eq!(Mechanism.get(&s).unwrap(), zmq::Mechanism::ZMQ_NULL);
        assert_eq!(PlainUsername.get(&s).unwrap().as_deref(), Some("admin"));
        assert_eq!(
            PlainPassword.set(&s, Some(String::new())),
            Err(Error::Zmq(zmq::Error::EINVAL))
        );

        assert_eq!(SocksProxy.get(&s).unwrap(), None);
        SocksProxy.set(&s, Some("127.0.0.1:1080".into())).unwrap();
        assert_eq!(
            SocksProxy.get(&s).unwrap().as_deref(),
            Some("127.0.0.1:1080")
        );
        SocksProxy.set(&s, None).unwrap();
        assert_eq!(SocksProxy.get(&s).unwrap(), None);
    }

    #[test]
    fn text_round_trip() {
        let (_ctx, s) = socket(zmq::REP);
        ZapDomain.set(&s, "global".into()).unwrap();
        assert_eq!(ZapDomain.get(&s).unwrap(), "global");
    }

    #[test]
    fn curve_options_refused_without_curve() {
        if zmq::has("curve") == Some(true) {
            assert_eq!(require_curve("x"), Ok(()));
            return;
        }
        let (_ctx, s) = socket(zmq::DEALER);
        let refusals = [
            CurveServer.set(&s, true),
            CurvePublicKey.set(&s, vec![0; 32]),
            CurveSecretKey.set(&s, vec![0; 32]),
            CurveServerKey.set(&s, vec![0; 32]),
        ];
        for r in refusals {
            match r {
                Err(Error::NotSupported(m)) => {
                    assert!(
                        m.contains("CURVE is missing") && m.contains("README"),
                        "{m}"
                    )
                }
                other => panic!("expected the CURVE refusal, got {other:?}"),
            }
        }
        assert_eq!(Mechanism.get(&s).unwrap(), zmq::Mechanism::ZMQ_NULL);
    }

    #[test]
    fn curve_keys_round_trip() {
        if zmq::has("curve") != Some(true) {
            return;
        }
        let pair = zmq::CurveKeyPair::new().unwrap();
        let (_ctx, s) = socket(zmq::DEALER);
        CurveServer.set(&s, true).unwrap();
        assert!(CurveServer.get(&s).unwrap());
        CurveSecretKey.set(&s, pair.secret_key.to_vec()).unwrap();
        assert_eq!(CurveSecretKey.get(&s).unwrap(), pair.secret_key);
        // Z85 text in, raw bytes out.
        let z85 = zmq::z85_encode(&pair.public_key).unwrap();
        CurvePublicKey.set(&s, z85.into_bytes()).unwrap();
        assert_eq!(CurvePublicKey.get(&s).unwrap(), pair.public_key);
        assert_eq!(Mechanism.get(&s).unwrap(), zmq::Mechanism::ZMQ_CURVE);
    }

    #[test]
    fn socket_type_specific_setters() {
        let (_ctx, router) = socket(zmq::ROUTER);
        RouterMandatory.set(&router, true).unwrap();
        RouterHandover.set(&router, true).unwrap();
        ProbeRouter.set(&router, true).unwrap();
        let (_ctx, req) = socket(zmq::REQ);
        ReqRelaxed.set(&req, true).unwrap();
        ReqCorrelate.set(&req, true).unwrap();
        let (_ctx, xpub) = socket(zmq::XPUB);
        XpubVerbose.set(&xpub, true).unwrap();
        XpubWelcomeMsg.set(&xpub, Some("hello".into())).unwrap();
        XpubWelcomeMsg.set(&xpub, None).unwrap();
    }

    // Why RouterMandatory, RouterHandover and ProbeRouter have no GetSocketOpt: the `zmq`
    // crate has getters for them, but libzmq cannot read these options.
    #[test]
    fn libzmq_cannot_read_router_flags() {
        let (_ctx, router) = socket(zmq::ROUTER);
        RouterMandatory.set(&router, true).unwrap();
        assert_eq!(router.is_router_mandatory(), Err(zmq::Error::EINVAL));
        assert_eq!(router.is_router_handover(), Err(zmq::Error::EINVAL));
        assert_eq!(router.is_probe_router(), Err(zmq::Error::EINVAL));
    }

    // libzmq's text setters all take valid UTF-8 through the `zmq` crate, so a non-UTF-8
    // value cannot be produced on a real socket; check the conversion itself.
    #[test]
    fn non_utf8_text_is_invalid_argument() {
        let err = utf8("ZMQ_ZAP_DOMAIN", Err(vec![b'a', 0xff])).unwrap_err();
        match err {
            Error::InvalidArgument(msg) => assert!(msg.contains("ZMQ_ZAP_DOMAIN"), "{msg}"),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
        assert_eq!(utf8("ZMQ_ZAP_DOMAIN", Ok("x".into())).unwrap(), "x");
    }
}
