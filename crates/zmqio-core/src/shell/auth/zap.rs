//! The ZAP protocol (ZeroMQ RFC 27) without I/O: parsing a request, deciding with the
//! configured policy, and building the reply frames.
//!
//! Everything here is plain data in, plain data out; the handler in `auth/mod.rs` feeds it
//! the frames its ROUTER socket receives and sends back what it returns.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bytes::Bytes;

use super::cert::z85_encode_key;
use crate::Multipart;

/// The only ZAP version there is.
pub(crate) const ZAP_VERSION: &[u8] = b"1.0";

/// Frames before the credentials: version, request id, domain, address, routing id,
/// mechanism.
const HEADER_FRAMES: usize = 6;

/// Which client public keys a CURVE server admits for one domain.
///
/// ```
/// use std::collections::BTreeSet;
/// use zmqio_core::auth::CurveAllow;
///
/// let one = CurveAllow::Keys(BTreeSet::from([[7u8; 32]]));
/// assert_ne!(one, CurveAllow::Any);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CurveAllow {
    /// Any client key: the connection is encrypted, but every client is admitted.
    Any,
    /// Only these client long-term public keys (32 bytes each, not Z85).
    Keys(BTreeSet<[u8; 32]>),
}

/// The credentials of a ZAP request, by mechanism.
///
/// `Debug` never shows a PLAIN password.
///
/// ```
/// use zmqio_core::auth::Credentials;
///
/// let plain = Credentials::Plain { username: "admin".into(), password: "secret".into() };
/// assert!(!format!("{plain:?}").contains("secret")); // Debug never shows the password
/// ```
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// The NULL mechanism: no credentials (the server socket has a `ZapDomain`).
    Null,
    /// The PLAIN mechanism: a user name and a password, sent in clear text by the client.
    Plain {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// The CURVE mechanism: the client's long-term public key.
    Curve {
        /// The key, 32 bytes (not Z85).
        public_key: [u8; 32],
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("Null"),
            Self::Plain { username, .. } => f
                .debug_struct("Plain")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::Curve { public_key } => f
                .debug_struct("Curve")
                .field("public_key", &z85_encode_key(public_key))
                .finish(),
        }
    }
}

/// One well-formed authentication request, as a [`ZapHandler`](super::ZapHandler) sees it.
///
/// ```
/// use zmqio_core::auth::{Credentials, ZapRequest};
///
/// // What a custom handler (`ZapHandler`) receives.
/// let request = ZapRequest::new("global", "10.0.0.1", Credentials::Curve { public_key: [7; 32] });
/// assert_eq!((request.domain.as_str(), request.address.as_str()), ("global", "10.0.0.1"));
/// assert_eq!(request.mechanism(), "CURVE");
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZapRequest {
    /// The server socket's `ZapDomain` (empty when it has none).
    pub domain: String,
    /// The client's IP address, as text.
    pub address: String,
    /// The routing id the client announced, if any.
    pub routing_id: Bytes,
    /// The mechanism and its credentials.
    pub credentials: Credentials,
    /// Echoed in the reply.
    pub(crate) request_id: Bytes,
}

impl ZapRequest {
    /// A request as libzmq would send it, with no routing id (for testing a
    /// [`ZapHandler`](super::ZapHandler)).
    ///
    /// ```
    /// use zmqio_core::auth::{Credentials, Decision, ZapRequest};
    ///
    /// let request = ZapRequest::new("", "127.0.0.1", Credentials::Null);
    /// let handler = |r: ZapRequest| async move { Decision::Accept(r.address) };
    /// let decision = futures::executor::block_on(handler(request));
    /// assert_eq!(decision, Decision::Accept("127.0.0.1".into()));
    /// ```
    pub fn new(
        domain: impl Into<String>,
        address: impl Into<String>,
        credentials: Credentials,
    ) -> Self {
        Self {
            domain: domain.into(),
            address: address.into(),
            routing_id: Bytes::new(),
            credentials,
            request_id: Bytes::from_static(b"1"),
        }
    }

    /// The mechanism's name as on the wire: `"NULL"`, `"PLAIN"` or `"CURVE"`.
    ///
    /// ```
    /// use zmqio_core::auth::{Credentials, ZapRequest};
    ///
    /// let request = ZapRequest::new("", "10.0.0.1", Credentials::Null);
    /// assert_eq!(request.mechanism(), "NULL");
    /// ```
    pub fn mechanism(&self) -> &'static str {
        match self.credentials {
            Credentials::Null => "NULL",
            Credentials::Plain { .. } => "PLAIN",
            Credentials::Curve { .. } => "CURVE",
        }
    }
}

/// What a handler answers to one request.
///
/// ```
/// use zmqio_core::auth::Decision;
///
/// assert_eq!(Decision::Accept("alice".into()).status_code(), 200);
/// assert_eq!(Decision::Refuse("unknown user".into()).status_code(), 400);
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Admit the client (status 200); the text is the user id the server's messages carry as
    /// their `User-Id` property.
    Accept(String),
    /// Refuse the client (status 400, authentication failure); the text says why (it stays
    /// in this process: libzmq sends the client only the status code).
    Refuse(String),
    /// Refuse the client for now (status 300, temporary error): libzmq drops the connection
    /// without telling the client why, and the client reconnects later.
    TemporaryError(String),
    /// The handler failed (status 500, internal error); the client is refused.
    InternalError(String),
}

impl Decision {
    /// The ZAP status code: 200, 400, 300 or 500.
    ///
    /// ```
    /// use zmqio_core::auth::Decision;
    ///
    /// assert_eq!(Decision::TemporaryError("busy".into()).status_code(), 300);
    /// assert_eq!(Decision::InternalError("database down".into()).status_code(), 500);
    /// ```
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Accept(_) => 200,
            Self::Refuse(_) => 400,
            Self::TemporaryError(_) => 300,
            Self::InternalError(_) => 500,
        }
    }
}

/// A reply to send: the request id it echoes and the decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) request_id: Bytes,
    pub(crate) decision: Decision,
}

impl Reply {
    fn new(request_id: Bytes, decision: Decision) -> Self {
        Self {
            request_id,
            decision,
        }
    }

    /// Whether the reply admits the client.
    pub(crate) fn accepts(&self) -> bool {
        matches!(self.decision, Decision::Accept(_))
    }

    /// The reply message: `envelope`, then version, request id, status code, status text,
    /// user id (empty unless accepted) and empty metadata.
    pub(crate) fn into_message(self, envelope: Vec<Bytes>) -> Multipart {
        let status = self.decision.status_code();
        let (text, user_id) = match self.decision {
            Decision::Accept(user) => ("OK".to_owned(), user),
            Decision::Refuse(t) | Decision::TemporaryError(t) | Decision::InternalError(t) => {
                (t, String::new())
            }
        };
        let mut msg: Multipart = envelope.into_iter().collect();
        msg.push(Bytes::from_static(ZAP_VERSION));
        msg.push(self.request_id);
        msg.push(status.to_string());
        msg.push(text);
        msg.push(user_id);
        msg.push(Bytes::new());
        msg
    }
}

/// Splits what a ROUTER received into the address envelope (routing ids up to and including
/// the empty delimiter) and the request. Without a delimiter, the envelope is the first
/// frame alone (the ROUTER's routing id of a peer that sent none).
pub(crate) fn split_envelope(mut frames: Vec<Bytes>) -> (Vec<Bytes>, Vec<Bytes>) {
    let cut = match frames.iter().skip(1).position(|f| f.is_empty()) {
        Some(i) => i + 2,
        None => frames.len().min(1),
    };
    let body = frames.split_off(cut);
    (frames, body)
}

/// Parses a request (the frames after the envelope). A request that is not well formed gets
/// the reply to send instead: status 500 when it breaks RFC 27's message format (too few
/// frames, a version other than 1.0, an empty mechanism, a domain or address that is not
/// text), status 400 when it is well formed but cannot be authenticated (a mechanism this
/// handler does not know, credentials of the wrong shape).
pub(crate) fn parse_request(body: &[Bytes]) -> Result<ZapRequest, Reply> {
    let request_id = body.get(1).cloned().unwrap_or_default();
    let malformed = |why: String| Reply::new(request_id.clone(), Decision::InternalError(why));
    let refused = |why: &str| Reply::new(request_id.clone(), Decision::Refuse(why.to_owned()));
    if body.len() < HEADER_FRAMES {
        return Err(malformed(format!(
            "malformed ZAP request: {} frames, at least {HEADER_FRAMES} expected",
            body.len()
        )));
    }
    if body[0] != ZAP_VERSION {
        return Err(malformed("unsupported ZAP version".to_owned()));
    }
    let text = |i: usize, what: &str| {
        String::from_utf8(body[i].to_vec())
            .map_err(|_| malformed(format!("malformed ZAP request: {what} is not text")))
    };
    let domain = text(2, "domain")?;
    let address = text(3, "address")?;
    let mechanism = &body[5];
    let creds = &body[HEADER_FRAMES..];
    let credentials = match &mechanism[..] {
        b"" => {
            return Err(malformed(
                "malformed ZAP request: empty mechanism".to_owned(),
            ))
        }
        b"NULL" if creds.is_empty() => Credentials::Null,
        b"PLAIN" if creds.len() == 2 => {
            match (
                String::from_utf8(creds[0].to_vec()),
                String::from_utf8(creds[1].to_vec()),
            ) {
                (Ok(username), Ok(password)) => Credentials::Plain { username, password },
                _ => return Err(refused("invalid credentials")),
            }
        }
        b"CURVE" if creds.len() == 1 => match <[u8; 32]>::try_from(&creds[0][..]) {
            Ok(public_key) => Credentials::Curve { public_key },
            Err(_) => return Err(refused("invalid credentials")),
        },
        b"NULL" | b"PLAIN" | b"CURVE" => return Err(refused("invalid credentials")),
        _ => return Err(refused("unsupported mechanism")),
    };
    Ok(ZapRequest {
        domain,
        address,
        routing_id: body[4].clone(),
        credentials,
        request_id,
    })
}

/// `address` in the one form the address lists are kept and compared in: an IP address
/// in its canonical text (`std`'s `Display`), an IPv4 address mapped into IPv6
/// (`::ffff:a.b.c.d`, how a dual-stack server, bound on `[::]`, sees an IPv4 client) as the
/// IPv4 address; anything else (not an IP address) as it is.
///
/// Without this a deny list's `10.0.0.1` would not refuse 10.0.0.1 connecting to a
/// dual-stack server, and an allow list's would refuse it.
pub(crate) fn canonical_address(address: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    use std::net::IpAddr;
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => Cow::Owned(v4.to_string()),
            None => Cow::Owned(v6.to_string()),
        },
        Ok(IpAddr::V4(v4)) => Cow::Owned(v4.to_string()),
        Err(_) => Cow::Borrowed(address),
    }
}

/// The configured rules: address lists, PLAIN passwords and CURVE keys per domain.
#[derive(Clone, Debug, Default)]
pub(crate) struct Policy {
    pub(crate) allow: BTreeSet<String>,
    pub(crate) deny: BTreeSet<String>,
    pub(crate) passwords: BTreeMap<String, BTreeMap<String, String>>,
    pub(crate) curve: BTreeMap<String, CurveAllow>,
}

/// What the policy says about a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Answer this.
    Reply(Reply),
    /// The address lists admit the client; the custom handler decides the rest.
    AskHandler,
}

impl Policy {
    /// Decides `request`, as pyzmq's authenticators do: a non-empty allow list admits only
    /// its addresses (the deny list is then not consulted); otherwise an address on the deny
    /// list is refused. An admitted address then needs valid credentials: NULL passes, PLAIN
    /// and CURVE are checked against the configuration of the request's domain, or of `"*"`
    /// where that domain has none. With `custom` set, a request the address lists admit goes
    /// to the custom handler instead of the credential checks.
    pub(crate) fn decide(&self, request: &ZapRequest, custom: bool) -> Verdict {
        let reply = |d| Verdict::Reply(Reply::new(request.request_id.clone(), d));
        let refuse = |why: &str| reply(Decision::Refuse(why.to_owned()));
        let address = canonical_address(&request.address);
        if !self.allow.is_empty() {
            if !self.allow.contains(address.as_ref()) {
                return refuse("address not in the allow list");
            }
        } else if self.deny.contains(address.as_ref()) {
            return refuse("address is denied");
        }
        if custom {
            return Verdict::AskHandler;
        }
        match &request.credentials {
            Credentials::Null => reply(Decision::Accept(String::new())),
            Credentials::Plain { username, password } => {
                match lookup(&self.passwords, &request.domain) {
                    None => refuse("no passwords for this domain"),
                    Some(users) => match users.get(username) {
                        Some(known) if same_secret(known.as_bytes(), password.as_bytes()) => {
                            reply(Decision::Accept(username.clone()))
                        }
                        _ => refuse("invalid user name or password"),
                    },
                }
            }
            Credentials::Curve { public_key } => match lookup(&self.curve, &request.domain) {
                None => refuse("no CURVE keys for this domain"),
                Some(CurveAllow::Keys(keys)) if !keys.contains(public_key) => {
                    refuse("unknown CURVE key")
                }
                Some(_) => reply(Decision::Accept(z85_encode_key(public_key))),
            },
        }
    }
}

/// The configuration of `domain`, else that of `"*"`.
fn lookup<'a, V>(map: &'a BTreeMap<String, V>, domain: &str) -> Option<&'a V> {
    map.get(domain).or_else(|| map.get("*"))
}

/// Compares a client's `attempt` with the `known` secret in time that depends on the known
/// secret's length only: every byte of it is compared (with the attempt's byte, or 0 past
/// the attempt's end) and a difference in length folds into the result, so neither an early
/// exit at the first wrong byte nor a quick refusal of a wrong length tells a client how
/// close it came.
fn same_secret(known: &[u8], attempt: &[u8]) -> bool {
    let mut diff = known.len() ^ attempt.len();
    for (i, k) in known.iter().enumerate() {
        let a = attempt.get(i).copied().unwrap_or(0);
        diff |= usize::from(k ^ a);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(parts: &[&[u8]]) -> Vec<Bytes> {
        parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
    }

    fn request(domain: &str, address: &str, mechanism: &[u8], creds: &[&[u8]]) -> Vec<Bytes> {
        let mut v = frames(&[
            b"1.0",
            b"1",
            domain.as_bytes(),
            address.as_bytes(),
            b"",
            mechanism,
        ]);
        v.extend(frames(creds));
        v
    }

    fn decide(policy: &Policy, body: Vec<Bytes>) -> (u16, String) {
        let reply = match parse_request(&body) {
            Err(reply) => reply,
            Ok(req) => match policy.decide(&req, false) {
                Verdict::Reply(r) => r,
                Verdict::AskHandler => panic!("no handler was set"),
            },
        };
        let user = match &reply.decision {
            Decision::Accept(u) => u.clone(),
            _ => String::new(),
        };
        (reply.decision.status_code(), user)
    }

    #[test]
    fn envelope_split_at_first_delimiter() {
        let (env, body) = split_envelope(frames(&[b"id", b"", b"1.0", b"", b"x"]));
        assert_eq!(env, frames(&[b"id", b""]));
        assert_eq!(body, frames(&[b"1.0", b"", b"x"]));
        // Two routing ids (a proxy in between).
        let (env, body) = split_envelope(frames(&[b"a", b"b", b"", b"1.0"]));
        assert_eq!((env.len(), body.len()), (3, 1));
        // No delimiter: the routing id alone.
        let (env, body) = split_envelope(frames(&[b"id", b"1.0", b"2"]));
        assert_eq!((env, body.len()), (frames(&[b"id"]), 2));
        let (env, body) = split_envelope(Vec::new());
        assert!(env.is_empty() && body.is_empty());
    }

    #[test]
    fn malformed_requests_get_500() {
        let policy = Policy::default();
        for body in [
            Vec::new(),
            frames(&[b"1.0"]),
            frames(&[b"1.0", b"1", b"d", b"127.0.0.1", b""]),
            request("d", "127.0.0.1", b"", &[]),
        ] {
            assert_eq!(decide(&policy, body).0, 500);
        }
        let mut wrong_version = request("d", "127.0.0.1", b"NULL", &[]);
        wrong_version[0] = Bytes::from_static(b"2.0");
        assert_eq!(decide(&policy, wrong_version).0, 500);
        let mut not_text = request("d", "127.0.0.1", b"NULL", &[]);
        not_text[2] = Bytes::from_static(b"\xff");
        assert_eq!(decide(&policy, not_text).0, 500);
    }

    #[test]
    fn malformed_reply_echoes_request_id() {
        let err = parse_request(&frames(&[b"1.0", b"77"])).unwrap_err();
        assert_eq!(err.request_id, Bytes::from_static(b"77"));
        let msg = err.into_message(frames(&[b"id", b""]));
        let got: Vec<&[u8]> = msg.iter().map(|f| &f[..]).collect();
        assert_eq!(got[..5], [&b"id"[..], b"", b"1.0", b"77", b"500"]);
        assert_eq!(got.len(), 8);
        assert_eq!(got[6], b"", "no user id unless accepted");
    }

    #[test]
    fn unknown_mechanism_and_bad_credentials_get_400() {
        let mut policy = Policy::default();
        policy.curve.insert("*".into(), CurveAllow::Any);
        policy.passwords.insert(
            "*".into(),
            BTreeMap::from([("u".to_owned(), "p".to_owned())]),
        );
        for body in [
            request("d", "127.0.0.1", b"GSSAPI", &[b"token"]),
            request("d", "127.0.0.1", b"null", &[]),
            request("d", "127.0.0.1", b"NULL", &[b"extra"]),
            request("d", "127.0.0.1", b"PLAIN", &[b"u"]),
            request("d", "127.0.0.1", b"PLAIN", &[b"u", b"\xff"]),
            request("d", "127.0.0.1", b"CURVE", &[&[1; 31]]),
            request("d", "127.0.0.1", b"CURVE", &[&[1; 32], &[1; 32]]),
        ] {
            assert_eq!(decide(&policy, body).0, 400);
        }
    }

    #[test]
    fn address_lists_match_ipv4_clients_of_a_dual_stack_server() {
        // A server bound on [::] sees an IPv4 client as ::ffff:a.b.c.d.
        let mut deny = Policy::default();
        deny.deny.insert(canonical_address("10.0.0.1").into_owned());
        deny.deny
            .insert(canonical_address("0:0:0:0:0:0:0:1").into_owned());
        for (address, status) in [
            ("::ffff:10.0.0.1", 400),
            ("10.0.0.1", 400),
            ("::1", 400),
            ("::ffff:10.0.0.2", 200),
            ("10.0.0.2", 200),
        ] {
            let got = decide(&deny, request("", address, b"NULL", &[])).0;
            assert_eq!(got, status, "deny list, {address}");
        }
        let mut allow = Policy::default();
        allow
            .allow
            .insert(canonical_address("::ffff:10.0.0.1").into_owned());
        for (address, status) in [
            ("10.0.0.1", 200),
            ("::ffff:10.0.0.1", 200),
            ("10.0.0.2", 400),
        ] {
            let got = decide(&allow, request("", address, b"NULL", &[])).0;
            assert_eq!(got, status, "allow list, {address}");
        }
        assert_eq!(canonical_address("not an address"), "not an address");
    }

    #[test]
    fn allow_list_takes_precedence_over_deny() {
        let mut policy = Policy::default();
        policy.deny.insert("10.0.0.1".into());
        assert_eq!(
            decide(&policy, request("", "10.0.0.1", b"NULL", &[])).0,
            400
        );
        assert_eq!(
            decide(&policy, request("", "10.0.0.2", b"NULL", &[])).0,
            200
        );
        policy.allow.insert("10.0.0.1".into());
        assert_eq!(
            decide(&policy, request("", "10.0.0.1", b"NULL", &[])).0,
            200
        );
        assert_eq!(
            decide(&policy, request("", "10.0.0.2", b"NULL", &[])).0,
            400
        );
    }

    #[test]
    fn allowed_address_still_needs_credentials() {
        let mut policy = Policy::default();
        policy.allow.insert("10.0.0.1".into());
        assert_eq!(
            decide(&policy, request("", "10.0.0.1", b"PLAIN", &[b"u", b"p"])).0,
            400
        );
        assert_eq!(
            decide(&policy, request("", "10.0.0.1", b"CURVE", &[&[3; 32]])).0,
            400
        );
    }

    #[test]
    fn plain_by_domain_then_star() {
        let mut policy = Policy::default();
        policy.passwords.insert(
            "global".into(),
            BTreeMap::from([("admin".to_owned(), "secret".to_owned())]),
        );
        let plain = |domain, user: &str, pw: &str| {
            decide(
                &policy,
                request(
                    domain,
                    "1.2.3.4",
                    b"PLAIN",
                    &[user.as_bytes(), pw.as_bytes()],
                ),
            )
        };
        assert_eq!(plain("global", "admin", "secret"), (200, "admin".into()));
        assert_eq!(plain("global", "admin", "wrong").0, 400);
        assert_eq!(plain("global", "admin", "secre").0, 400);
        assert_eq!(plain("global", "nobody", "secret").0, 400);
        assert_eq!(plain("other", "admin", "secret").0, 400, "no '*' entry yet");
        assert_eq!(plain("", "admin", "secret").0, 400);
        policy.passwords.insert(
            "*".into(),
            BTreeMap::from([("guest".to_owned(), "guest".to_owned())]),
        );
        let plain = |domain, user: &str, pw: &str| {
            decide(
                &policy,
                request(
                    domain,
                    "1.2.3.4",
                    b"PLAIN",
                    &[user.as_bytes(), pw.as_bytes()],
                ),
            )
        };
        assert_eq!(plain("other", "guest", "guest").0, 200);
        assert_eq!(
            plain("", "guest", "guest").0,
            200,
            "'*' covers the empty domain"
        );
        // A configured domain does not fall back to '*'.
        assert_eq!(plain("global", "guest", "guest").0, 400);
    }

    #[test]
    fn curve_keys_any_and_domains() {
        let mut policy = Policy::default();
        let key = [9u8; 32];
        assert_eq!(
            decide(&policy, request("", "1.2.3.4", b"CURVE", &[&key])).0,
            400
        );
        policy
            .curve
            .insert("*".into(), CurveAllow::Keys(BTreeSet::from([key])));
        let (status, user) = decide(&policy, request("x", "1.2.3.4", b"CURVE", &[&key]));
        assert_eq!((status, user), (200, z85_encode_key(&key)));
        assert_eq!(
            decide(&policy, request("x", "1.2.3.4", b"CURVE", &[&[8; 32]])).0,
            400
        );
        policy.curve.insert("open".into(), CurveAllow::Any);
        assert_eq!(
            decide(&policy, request("open", "1.2.3.4", b"CURVE", &[&[8; 32]])).0,
            200
        );
    }

    #[test]
    fn custom_handler_after_address_lists() {
        let mut policy = Policy::default();
        policy.deny.insert("10.0.0.1".into());
        let req = |a: &str| parse_request(&request("", a, b"PLAIN", &[b"u", b"p"])).unwrap();
        assert_eq!(policy.decide(&req("10.0.0.2"), true), Verdict::AskHandler);
        match policy.decide(&req("10.0.0.1"), true) {
            Verdict::Reply(r) => assert_eq!(r.decision.status_code(), 400),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn password_stays_out_of_debug() {
        let c = Credentials::Plain {
            username: "admin".into(),
            password: "hunter2".into(),
        };
        let text = format!("{c:?}");
        assert!(
            text.contains("admin") && !text.contains("hunter2"),
            "{text}"
        );
    }

    #[test]
    fn secrets_compare() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"ab"));
        assert!(!same_secret(b"ab", b"abc"));
        assert!(
            !same_secret(b"ab\0", b"ab"),
            "0 stands in past the end, not a match"
        );
        assert!(!same_secret(b"", b"x"));
        assert!(same_secret(b"", b""));
    }
}
