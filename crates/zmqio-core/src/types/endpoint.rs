//! Endpoint checks made before an endpoint reaches libzmq, and the helpers behind the
//! adapters' `resolve_endpoint`.
//!
//! Pure string work: no libzmq calls, no DNS. libzmq stays the judge of endpoint syntax;
//! these checks only catch what libzmq would get wrong or would do badly:
//!
//! - an interior NUL byte, which the `zmq` crate cannot pass on as a C string, and a tcp
//!   port that libzmq would silently misread ([`check_endpoint_syntax`]);
//! - a tcp connect to a host name, which libzmq would resolve with a blocking
//!   `getaddrinfo` inside its I/O thread ([`check_connect_endpoint`]).

use std::net::{IpAddr, SocketAddr};

use crate::{Error, Result};

/// The scheme prefix of tcp endpoints. libzmq compares it case-sensitively, and so do we:
/// `TCP://` is some other (unsupported) transport to libzmq.
const TCP_PREFIX: &str = "tcp://";

/// The endpoint libzmq sends ZAP requests to, on the socket's own context (RFC 27); what
/// `auth::ZAP_ENDPOINT` is.
pub(crate) const ZAP: &str = "inproc://zeromq.zap.01";

/// Checks what every endpoint given to bind, connect, unbind or disconnect must satisfy
/// before it is handed to the `zmq` crate: no interior NUL byte, and for `tcp://` a port
/// that libzmq reads as written.
///
/// Both are `Err(Error::Zmq(EINVAL))`, the error libzmq gives for any other malformed
/// endpoint.
///
/// - A NUL would make the call panic: `zmq` 0.10 converts the endpoint with
///   `CString::new(endpoint).unwrap()` (`Socket::bind`, `unbind`, `connect`, `disconnect`
///   and `monitor` alike), so `socket.bind("inproc://a\0b")` panics with a `NulError`
///   instead of returning an error (checked by the test `zmq_crate_panics_on_interior_nul`).
/// - libzmq 4.3 parses a tcp port with `atoi` and casts it to 16 bits, without an error:
///   `tcp://127.0.0.1:99999` binds (or connects to) port 34463, `:5555x` port 5555, and a
///   port too long for an `int` whatever the overflow gives. So the port of a tcp endpoint
///   (after the last `:` of the destination, the part after the last `;`) must be `*` or
///   decimal digits with a value that fits in 16 bits. An endpoint without a `:` is left to
///   libzmq, which rejects it.
///
/// Everything else passes; libzmq judges it.
pub(crate) fn check_endpoint_syntax(endpoint: &str) -> Result<()> {
    if endpoint.contains('\0') || has_misread_tcp_port(endpoint) {
        Err(Error::Zmq(zmq::Error::EINVAL))
    } else {
        Ok(())
    }
}

/// Whether `endpoint` is a tcp endpoint whose port libzmq would read as another number (see
/// [`check_endpoint_syntax`]).
fn has_misread_tcp_port(endpoint: &str) -> bool {
    let Some(address) = endpoint.strip_prefix(TCP_PREFIX) else {
        return false;
    };
    let destination = address.rsplit_once(';').map_or(address, |(_, dest)| dest);
    let Some((_, port)) = destination.rsplit_once(':') else {
        return false;
    };
    let decimal_u16 =
        !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok();
    port != "*" && !decimal_u16
}

/// Checks an endpoint given to connect (after [`check_endpoint_syntax`]).
///
/// For `tcp://` the destination host must be an IP literal: IPv4 (`tcp://127.0.0.1:5555`)
/// or IPv6, preferably in brackets (`tcp://[::1]:5555`), optionally with a zone
/// (`tcp://[fe80::1%eth0]:5555`). A host name (`tcp://localhost:5555`) is
/// [`Error::InvalidArgument`] pointing to `resolve_endpoint()`, because libzmq would
/// resolve it with a blocking `getaddrinfo` call inside its I/O thread. The wildcard host
/// `*` is [`Error::InvalidArgument`] too: it only means something to bind, and libzmq
/// would hand it to `getaddrinfo` as a name as well.
///
/// libzmq's source-address syntax, `tcp://<source>;<destination>`
/// (`tcp://192.168.1.17:5555;192.168.1.1:5555`), is understood: only the destination after
/// the last `;` is checked, since libzmq resolves the source without DNS and allows an
/// interface name there.
///
/// Everything else is passed through for libzmq to judge: other transports (`inproc`,
/// `ipc`, `pgm`, `epgm`, `vmci`, `ws`, `udp`, ...), and tcp endpoints that libzmq rejects
/// with EINVAL before any lookup (no port, a port not starting with a digit, characters
/// libzmq's syntax check refuses) or that need no DNS (an empty host).
///
/// # Caveats
///
/// IPv4 literals must be in the usual dotted-quad form that `std::net::Ipv4Addr` parses;
/// shorthand forms such as `127.1` are treated as host names.
pub(crate) fn check_connect_endpoint(endpoint: &str) -> Result<()> {
    let Some(address) = endpoint.strip_prefix(TCP_PREFIX) else {
        return Ok(());
    };
    let destination = address.rsplit_once(';').map_or(address, |(_, dest)| dest);
    let Some((host, port)) = destination.rsplit_once(':') else {
        return Ok(());
    };
    let Some(host) = unbracket(host) else {
        return Ok(());
    };
    if host.is_empty() || is_ip_literal(host) {
        return Ok(());
    }
    if host == "*" {
        return Err(Error::invalid_argument(
            "cannot connect to the wildcard host '*'; give an ip address",
        ));
    }
    if !passes_libzmq_tcp_check(address, port) {
        return Ok(());
    }
    Err(Error::invalid_argument(format!(
        "tcp connect needs an ip address, not the host name '{host}'; \
         resolve it first with resolve_endpoint()"
    )))
}

/// Splits `tcp://host:port` into `(host, port)` when it is a tcp endpoint whose host is
/// a name that needs resolving; the runtime adapters' `resolve_endpoint` resolves it and
/// rebuilds the endpoint with [`format_tcp_endpoint`].
///
/// Brackets around the host are removed (`tcp://[name]:1` gives `name`). Returns `None`
/// for non-tcp endpoints, IP literals, the wildcard `*`, an empty host, a port that is
/// not a decimal `u16` (including `*`), and the source-address syntax (`src;dest`), which
/// `format_tcp_endpoint` could not rebuild.
#[doc(hidden)]
pub fn tcp_host_to_resolve(endpoint: &str) -> Option<(&str, u16)> {
    let address = endpoint.strip_prefix(TCP_PREFIX)?;
    if address.contains(';') {
        return None;
    }
    let (host, port) = address.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        // `u16::from_str` alone would also take "+80".
        return None;
    }
    let port = port.parse::<u16>().ok()?;
    let host = unbracket(host)?;
    if host.is_empty() || host == "*" || is_ip_literal(host) {
        return None;
    }
    Some((host, port))
}

/// Builds a tcp endpoint from a resolved address: `tcp://127.0.0.1:5555` or
/// `tcp://[::1]:5555` (with `%<scope id>` inside the brackets when the IPv6 address has
/// one, which libzmq accepts).
#[doc(hidden)]
pub fn format_tcp_endpoint(addr: SocketAddr) -> String {
    format!("{TCP_PREFIX}{addr}")
}

/// Whether a bind or connect endpoint names an IPv6 literal host: a `tcp://` endpoint whose
/// destination, or source address (`tcp://<source>;<destination>`), is an IPv6 address, in
/// brackets (`tcp://[::1]:5555`, `tcp://[fe80::1%eth0]:*`, `tcp://[::]:*`) or not
/// (`tcp://::1:5555`). libzmq uses such an address only on a socket with `ZMQ_IPV6` set;
/// without it a bind fails and a connect never connects, so zmqio sets the option first.
///
/// Host names, IPv4 literals (bracketed too), interface names and `*` are not IPv6
/// literals; neither are other transports.
pub(crate) fn has_ipv6_literal(endpoint: &str) -> bool {
    let Some(address) = endpoint.strip_prefix(TCP_PREFIX) else {
        return false;
    };
    address.split(';').any(|part| {
        let host = match part.strip_prefix('[') {
            Some(rest) => rest.split_once(']').map_or(rest, |(host, _port)| host),
            // A bare address without a port (a source may have none), else host:port.
            None if is_ipv6(part) => part,
            None => part.rsplit_once(':').map_or(part, |(host, _port)| host),
        };
        is_ipv6(host)
    })
}

/// Whether `host` (no brackets) is an IPv6 address, with an optional `%zone` suffix.
fn is_ipv6(host: &str) -> bool {
    let addr = host.rsplit_once('%').map_or(host, |(addr, _zone)| addr);
    addr.parse::<std::net::Ipv6Addr>().is_ok()
}

/// The host without surrounding brackets; `None` when it opens a bracket it does not
/// close (e.g. the host part of `[::1]` without a port, split at its last colon).
fn unbracket(host: &str) -> Option<&str> {
    match host.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']'),
        None => Some(host),
    }
}

/// Whether `host` (brackets already removed) is an IPv4 or IPv6 literal, with an optional
/// `%zone` suffix that libzmq strips and resolves without DNS.
fn is_ip_literal(host: &str) -> bool {
    let addr = host.rsplit_once('%').map_or(host, |(addr, _zone)| addr);
    addr.parse::<IpAddr>().is_ok()
}

/// libzmq 4.3's syntax check of a tcp connect address (`socket_base.cpp`,
/// `connect_internal`): the first byte alphanumeric, `[` or `:`, the rest alphanumeric or
/// one of `.-:%;[]_*`, and the text after the last `:` starting with a digit. An address
/// that fails it gets EINVAL at once; one that passes is resolved later in the I/O thread.
fn passes_libzmq_tcp_check(address: &str, port: &str) -> bool {
    let mut bytes = address.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'[' || b == b':');
    first_ok
        && bytes.all(|b| b.is_ascii_alphanumeric() || b".-:%;[]_*".contains(&b))
        && port.bytes().next().is_some_and(|b| b.is_ascii_digit())
}

/// Builds the resolved endpoint from the addresses a runtime's resolver returned for the host
/// named by [`tcp_host_to_resolve`]: the first IPv4 address, else the first one. Used by the
/// adapters' `resolve_endpoint`.
#[doc(hidden)]
pub fn resolved_endpoint(
    endpoint: &str,
    addrs: impl IntoIterator<Item = SocketAddr>,
) -> Result<String> {
    let addrs: Vec<_> = addrs.into_iter().collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .map(|a| format_tcp_endpoint(*a))
        .ok_or_else(|| {
            Error::from(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no address found for {endpoint}"),
            ))
        })
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};

    use super::*;

    fn assert_rejected(endpoint: &str) -> String {
        match check_connect_endpoint(endpoint) {
            Err(Error::InvalidArgument(msg)) => {
                assert_eq!(msg, msg.to_lowercase(), "{endpoint}");
                msg
            }
            other => panic!("{endpoint}: expected InvalidArgument, got {other:?}"),
        }
    }

    fn assert_passed(endpoint: &str) {
        assert_eq!(check_connect_endpoint(endpoint), Ok(()), "{endpoint}");
    }

    #[test]
    fn ip_literals_pass() {
        for endpoint in [
            "tcp://127.0.0.1:5555",
            "tcp://0.0.0.0:1",
            "tcp://[::1]:5555",
            "tcp://[fe80::1%eth0]:5555",
            "tcp://[fe80::1%2]:5555",
            "tcp://[::ffff:127.0.0.1]:5555",
            "tcp://::1:5555",
            "tcp://[127.0.0.1]:5555",
        ] {
            assert_passed(endpoint);
        }
    }

    #[test]
    fn dns_names_are_rejected() {
        for endpoint in [
            "tcp://localhost:5555",
            "tcp://example.com:1",
            "tcp://[localhost]:5555",
            "tcp://localhost%eth0:5555",
            "tcp://localhost:5555x",
            "tcp://127.1:5555",
        ] {
            let msg = assert_rejected(endpoint);
            assert!(msg.contains("resolve_endpoint()"), "{msg}");
        }
    }

    #[test]
    fn wildcard_is_rejected_for_connect() {
        assert_rejected("tcp://*:5555");
        assert_rejected("tcp://[*]:5555");
        assert_rejected("tcp://*:*");
        assert_rejected("tcp://eth0;*:5555");
    }

    #[test]
    fn source_address_syntax_checks_the_destination_only() {
        assert_passed("tcp://192.168.1.17:5555;192.168.1.1:5555");
        assert_passed("tcp://eth0:5555;192.168.1.1:5555");
        assert_passed("tcp://eth0;[::1]:5555");
        assert_passed("tcp://some-name:0;10.0.0.1:5555");
        assert_rejected("tcp://192.168.1.17:5555;localhost:5555");
        assert_rejected("tcp://eth0;example.com:80");
    }

    #[test]
    fn malformed_tcp_is_left_to_libzmq() {
        for endpoint in [
            "tcp://",
            "tcp://localhost",
            "tcp://[::1]",
            "tcp://:5555",
            "tcp://[]:5555",
            "tcp://localhost:",
            "tcp://localhost:abc",
            "tcp://localhost:*",
            "tcp://local host:5555",
            "tcp://-localhost:5555",
            "tcp://héllo:5555",
            "tcp://localhost/path:5555",
            "tcp://;",
        ] {
            assert_passed(endpoint);
        }
    }

    #[test]
    fn other_transports_pass_through() {
        for endpoint in [
            "inproc://localhost:5555",
            "ipc:///tmp/sock",
            "pgm://eth0;239.192.1.1:5555",
            "epgm://localhost;239.192.1.1:5555",
            "vmci://1:5555",
            "ws://localhost:80/path",
            "udp://localhost:5555",
            "TCP://localhost:5555",
            "nonsense",
            "",
        ] {
            assert_passed(endpoint);
        }
    }

    #[test]
    fn interior_nul_is_einval() {
        for endpoint in ["inproc://a\0b", "\0", "tcp://127.0.0.1:1\0"] {
            assert_eq!(
                check_endpoint_syntax(endpoint),
                Err(Error::Zmq(zmq::Error::EINVAL))
            );
        }
        for endpoint in ["", "inproc://ab", "tcp://localhost:1", "ipc:///tmp/é"] {
            assert_eq!(check_endpoint_syntax(endpoint), Ok(()));
        }
    }

    #[test]
    fn tcp_ports_libzmq_would_misread_are_einval() {
        for endpoint in [
            "tcp://127.0.0.1:99999",
            "tcp://127.0.0.1:65536",
            "tcp://127.0.0.1:5555x",
            "tcp://127.0.0.1:+80",
            "tcp://127.0.0.1:-1",
            "tcp://127.0.0.1:",
            "tcp://localhost:port",
            "tcp://[::1]:99999",
            "tcp://[::1]",
            "tcp://eth0;127.0.0.1:70000",
        ] {
            assert_eq!(
                check_endpoint_syntax(endpoint),
                Err(Error::Zmq(zmq::Error::EINVAL)),
                "{endpoint}"
            );
        }
        let long = format!("tcp://127.0.0.1:{}", "9".repeat(10 * 1024));
        assert_eq!(
            check_endpoint_syntax(&long),
            Err(Error::Zmq(zmq::Error::EINVAL))
        );
        for endpoint in [
            "tcp://127.0.0.1:*",
            "tcp://*:*",
            "tcp://127.0.0.1:0",
            "tcp://127.0.0.1:65535",
            "tcp://[::1]:5555",
            "tcp://[fe80::1%eth0]:5555",
            "tcp://eth0:*",
            "tcp://192.168.1.17:5555;192.168.1.1:5555",
            "tcp://eth0;192.168.1.1:5555",
            "tcp://127.0.0.1",
            "tcp://",
            "inproc://a:99999",
            "ipc:///tmp/a:b",
        ] {
            assert_eq!(check_endpoint_syntax(endpoint), Ok(()), "{endpoint}");
        }
    }

    /// Why `check_endpoint_syntax` exists: `zmq` 0.10 unwraps `CString::new(endpoint)`.
    #[test]
    fn zmq_crate_panics_on_interior_nul() {
        let ctx = zmq::Context::new();
        let socket = ctx.socket(zmq::PAIR).unwrap();
        let result = std::panic::catch_unwind(|| socket.bind("inproc://a\0b"));
        assert!(result.is_err(), "zmq::Socket::bind no longer panics on NUL");
    }

    #[test]
    fn long_and_odd_input_does_not_panic() {
        let long_host = "a".repeat(10 * 1024);
        let long = format!("tcp://{long_host}:5555");
        assert_rejected(&long);
        assert_eq!(tcp_host_to_resolve(&long), Some((long_host.as_str(), 5555)));
        assert_eq!(check_endpoint_syntax(&long), Ok(()));

        let long_digits = format!("tcp://127.0.0.1:{}", "9".repeat(10 * 1024));
        assert_passed(&long_digits);
        assert_eq!(tcp_host_to_resolve(&long_digits), None);

        for endpoint in [
            "tcp://é:1",
            "tcp://[é]:é",
            "tcp://:",
            "tcp://[",
            "tcp://]",
            "tcp://%:1",
            "tcp://[%]:1",
            "tcp://;;;",
            "tcp://é;é:é",
            "tcp://\u{10FFFF}:\u{10FFFF}",
        ] {
            let _ = check_connect_endpoint(endpoint);
            let _ = tcp_host_to_resolve(endpoint);
            let _ = check_endpoint_syntax(endpoint);
        }
    }

    #[test]
    fn host_to_resolve() {
        assert_eq!(
            tcp_host_to_resolve("tcp://localhost:5555"),
            Some(("localhost", 5555))
        );
        assert_eq!(
            tcp_host_to_resolve("tcp://example.com:0"),
            Some(("example.com", 0))
        );
        assert_eq!(
            tcp_host_to_resolve("tcp://[localhost]:1"),
            Some(("localhost", 1))
        );
        for endpoint in [
            "tcp://127.0.0.1:5555",
            "tcp://[::1]:5555",
            "tcp://[fe80::1%eth0]:5555",
            "tcp://*:5555",
            "tcp://:5555",
            "tcp://localhost",
            "tcp://localhost:*",
            "tcp://localhost:+80",
            "tcp://localhost:65536",
            "tcp://localhost:",
            "tcp://[localhost:1",
            "tcp://eth0;localhost:5555",
            "inproc://localhost:5555",
            "ipc://localhost:5555",
        ] {
            assert_eq!(tcp_host_to_resolve(endpoint), None, "{endpoint}");
        }
    }

    #[test]
    fn every_rejected_name_is_resolvable() {
        for endpoint in [
            "tcp://localhost:5555",
            "tcp://example.com:1",
            "tcp://[localhost]:5555",
        ] {
            assert_rejected(endpoint);
            assert!(tcp_host_to_resolve(endpoint).is_some(), "{endpoint}");
        }
    }

    #[test]
    fn ipv6_literals_are_recognised() {
        for endpoint in [
            "tcp://[::1]:5555",
            "tcp://[::1]:*",
            "tcp://[::]:*",
            "tcp://[fe80::1%eth0]:5555",
            "tcp://[fe80::1%2]:80",
            "tcp://[::ffff:127.0.0.1]:5555",
            "tcp://::1:5555",
            "tcp://eth0;[::1]:5555",
            "tcp://[::1]:0;127.0.0.1:5555",
            "tcp://::1;127.0.0.1:5555",
            "tcp://[::1]",
        ] {
            assert!(has_ipv6_literal(endpoint), "{endpoint}");
        }
        for endpoint in [
            "tcp://127.0.0.1:5555",
            "tcp://127.0.0.1:*",
            "tcp://[127.0.0.1]:5555",
            "tcp://*:*",
            "tcp://localhost:5555",
            "tcp://[localhost]:5555",
            "tcp://eth0:*",
            "tcp://eth0;192.168.1.1:5555",
            "tcp://",
            "tcp://[",
            "inproc://[::1]:5555",
            "ipc:///tmp/[::1]",
            "udp://[::1]:5555",
            "TCP://[::1]:5555",
            "",
        ] {
            assert!(!has_ipv6_literal(endpoint), "{endpoint}");
        }
        // What resolve_endpoint builds from an IPv6 address is recognised.
        let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, 5555));
        assert!(has_ipv6_literal(&format_tcp_endpoint(v6)));
        let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, 5555));
        assert!(!has_ipv6_literal(&format_tcp_endpoint(v4)));
    }

    #[test]
    fn a_resolved_ipv6_address_gives_a_bracketed_endpoint() {
        let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, 5555));
        assert_eq!(
            resolved_endpoint("tcp://ip6-host:5555", [v6]).unwrap(),
            "tcp://[::1]:5555"
        );
        // IPv4 first when the resolver gives both.
        let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, 5555));
        assert_eq!(
            resolved_endpoint("tcp://both:5555", [v6, v4]).unwrap(),
            "tcp://127.0.0.1:5555"
        );
    }

    #[test]
    fn format_round_trips() {
        let addrs = [
            SocketAddr::from((Ipv4Addr::LOCALHOST, 5555)),
            SocketAddr::from((Ipv6Addr::LOCALHOST, 5555)),
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 80, 0, 2)),
        ];
        assert_eq!(format_tcp_endpoint(addrs[0]), "tcp://127.0.0.1:5555");
        assert_eq!(format_tcp_endpoint(addrs[1]), "tcp://[::1]:5555");
        assert_eq!(format_tcp_endpoint(addrs[3]), "tcp://[fe80::1%2]:80");
        for addr in addrs {
            let endpoint = format_tcp_endpoint(addr);
            assert_passed(&endpoint);
            assert_eq!(tcp_host_to_resolve(&endpoint), None, "{endpoint}");
            let back: SocketAddr = endpoint.strip_prefix("tcp://").unwrap().parse().unwrap();
            assert_eq!(back, addr);
        }
    }
}
