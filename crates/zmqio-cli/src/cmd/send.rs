//! `zmqio send`: send messages given as arguments or read from stdin.

use std::convert::Infallible;
use std::future::pending;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::args::{type_name, SendArgs};
use crate::error::{failed, usage, CliError, CliResult};
use crate::output::{message_line, parse_hex, text_frame, Out, Printed};
use crate::socket::{lost_error, open, Extra, Sock, Spec, Waited};
use crate::zmqio::{self, opt, zmq, zmq::SocketType, Multipart};

/// Where the messages come from.
enum Source {
    /// The FRAMEs, this many more times.
    Frames(Multipart, u64),
    /// Lines of stdin, as bytes (a line need not be UTF-8).
    Stdin {
        lines: tokio::io::Split<BufReader<tokio::io::Stdin>>,
        /// Each line is hex (`--hex`), not the frame itself.
        hex: bool,
        /// Lines read so far, for messages.
        read: u64,
    },
}

impl Source {
    /// The next message; `Ok(None)` at the end.
    async fn next(&mut self) -> CliResult<Option<Multipart>> {
        match self {
            Self::Frames(_, 0) => Ok(None),
            Self::Frames(msg, left) => {
                *left -= 1;
                Ok(Some(msg.clone()))
            }
            Self::Stdin { lines, hex, read } => {
                let line = lines
                    .next_segment()
                    .await
                    .map_err(|e| failed(format!("cannot read stdin: {e}")))?;
                let Some(mut line) = line else {
                    return Ok(None);
                };
                *read += 1;
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if *hex {
                    let text = String::from_utf8_lossy(&line);
                    line = parse_hex(text.trim()).map_err(|e| {
                        usage(format!(
                            "invalid value on line {read} of stdin (--hex): {e}"
                        ))
                    })?;
                }
                Ok(Some(Multipart::from([line])))
            }
        }
    }
}

/// What the send loop ended with.
enum End {
    Done,
    Interrupted,
    TimedOut(u64),
}

/// Runs `zmqio send`.
pub(crate) async fn run(a: SendArgs) -> CliResult {
    let mut ty = a.socket_type;
    let label = type_name(ty);
    if a.wait_subscriber && !matches!(ty, SocketType::PUB | SocketType::XPUB) {
        return Err(usage(format!(
            "'--wait-subscriber' applies to PUB and XPUB, not {label}"
        )));
    }
    if a.timeout.is_some() && ty != SocketType::REQ {
        return Err(usage(format!("'--timeout' applies to REQ, not {label}")));
    }
    let frames: Vec<Vec<u8>> = if a.hex {
        a.frames
            .iter()
            .map(|f| {
                parse_hex(f).map_err(|e| usage(format!("invalid value for '[FRAME]...': {e}")))
            })
            .collect::<CliResult<_>>()?
    } else {
        a.frames.iter().map(|f| f.as_bytes().to_vec()).collect()
    };
    if ty == SocketType::ROUTER && !a.stdin && frames.len() < 2 {
        return Err(usage(
            "ROUTER sends ROUTING-ID FRAME...: '[FRAME]...' needs at least two frames",
        ));
    }
    if ty == SocketType::ROUTER && a.stdin {
        return Err(usage(
            "'--stdin' cannot give ROUTER a routing id; pass FRAMEs",
        ));
    }
    let mut extra = Vec::new();
    if ty == SocketType::ROUTER {
        // Refuse a message for a peer that is not there (yet) instead of dropping it: the
        // send loop retries it (`write_routed`).
        extra.push(Extra::RouterMandatory);
    }
    if a.wait_subscriber && ty == SocketType::PUB {
        // An XPUB publishes as a PUB does, and tells when a subscription arrives.
        ty = SocketType::XPUB;
    }
    let mut spec = Spec::new(ty, &a.endpoints, &a.security, &a.opts);
    spec.extra = &extra;
    spec.label = label;
    let mut sock = open(spec).await?;
    let mut source = if a.stdin {
        Source::Stdin {
            lines: BufReader::new(tokio::io::stdin()).split(b'\n'),
            hex: a.hex,
            read: 0,
        }
    } else {
        Source::Frames(Multipart::from(frames), a.repeat)
    };
    let mut sent = 0;
    let end = send_all(&mut sock, &a, label, &mut source, &mut sent).await;
    let end = match end {
        Ok(End::Done) if sent > 0 => confirm_handshakes(&mut sock, &a, label).await,
        other => other,
    };
    if let Ok(End::TimedOut(_)) = end {
        // Giving up drops the unanswered request: left in libzmq with the default LINGER
        // (forever), it would hold the end of the program until a peer came to take it.
        give_up(&sock);
    }
    let t = sock.transport().clone();
    let finished = sock.finish().await;
    // A message that waited in zmqio's queue (a slow peer) and whose peer then left.
    let unroutable = t.dropped_unroutable();
    if unroutable > 0 && end.is_ok() && finished.is_ok() {
        return Err(failed(format!(
            "{label}: dropped {unroutable} messages whose peer left before taking them"
        )));
    }
    match end? {
        End::TimedOut(ms) => Err(failed(format!("{label}: no reply within {ms} ms"))),
        End::Done | End::Interrupted => finished,
    }
}

/// Sends every message of `source`, counting them in `sent`.
async fn send_all(
    sock: &mut Sock,
    a: &SendArgs,
    label: &str,
    source: &mut Source,
    sent: &mut u64,
) -> CliResult<End> {
    let ty = sock.socket_type();
    let xpub = ty == SocketType::XPUB;
    if a.wait_subscriber {
        loop {
            match sock.wait(pending::<Infallible>(), true).await {
                Waited::Msg(m) if m.first().is_some_and(|f| f.first() == Some(&1)) => {
                    if a.opts.verbose {
                        eprintln!("zmqio: {label}: a subscriber joined");
                    }
                    break;
                }
                Waited::Msg(_) => {}
                Waited::Interrupted => return Ok(End::Interrupted),
                Waited::Lost(e) => return Err(lost_error(label, e)),
                Waited::Done(never) => match never {},
            }
        }
    }
    if a.delay > 0 {
        if let Some(end) = pause(sock, a.delay, a, label).await? {
            return Ok(end);
        }
    }
    let out = Out::new();
    let mut first = true;
    loop {
        if !first && a.interval > 0 {
            if let Some(end) = pause(sock, a.interval, a, label).await? {
                return Ok(end);
            }
        }
        first = false;
        let msg = match sock.wait(source.next(), xpub).await {
            Waited::Done(next) => match next? {
                Some(msg) => msg,
                None => return Ok(End::Done),
            },
            Waited::Msg(m) => {
                note_subscription(&m, a.opts.verbose, label);
                continue;
            }
            Waited::Interrupted => return Ok(End::Interrupted),
            Waited::Lost(e) => return Err(lost_error(label, e)),
        };
        let t = sock.transport().clone();
        let bytes = msg.byte_len();
        if ty == SocketType::ROUTER {
            if let Some(end) = write_routed(sock, msg, a, label).await? {
                return Ok(end);
            }
        } else {
            t.write(msg).map_err(|e| lost_error(label, Some(e)))?;
        }
        *sent += 1;
        if a.opts.verbose {
            eprintln!("zmqio: {label}: sent message {sent} ({bytes} bytes)");
        }
        if ty == SocketType::REQ {
            let deadline = async {
                match a.timeout {
                    Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                    None => pending().await,
                }
            };
            match sock.wait(deadline, true).await {
                Waited::Msg(reply) => {
                    if out.line(&message_line(&reply, a.format))? == Printed::Closed {
                        return Ok(End::Done);
                    }
                }
                Waited::Done(()) => return Ok(End::TimedOut(a.timeout.unwrap_or_default())),
                Waited::Interrupted => return Ok(End::Interrupted),
                Waited::Lost(e) => return Err(lost_error(label, e)),
            }
        } else if t.get_write_buffer_size() > t.get_write_buffer_limits().1 {
            // Backpressure: a fast source (a big stdin) waits for the peer.
            loop {
                match sock.wait(t.drain(), xpub).await {
                    Waited::Done(r) => {
                        r.map_err(|e| lost_error(label, Some(e)))?;
                        break;
                    }
                    Waited::Msg(m) => note_subscription(&m, a.opts.verbose, label),
                    Waited::Interrupted => return Ok(End::Interrupted),
                    Waited::Lost(e) => return Err(lost_error(label, e)),
                }
            }
        }
    }
}

/// Drops what the socket still holds, in zmqio and in libzmq, and closes it: for a command
/// that gives up on delivering.
fn give_up(sock: &Sock) {
    let t = sock.transport();
    let _ = t.setsockopt(opt::Linger, 0);
    t.abort();
}

/// After the last message of a PUSH, DEALER or PAIR that connected: waits until a peer has
/// taken the socket (a handshake succeeded) or refused it, so that a refusal (a wrong
/// password or key, another security mechanism, a socket type that does not pair) is
/// reported with status 1, instead of libzmq dropping unseen what it accepted for that
/// peer. Said on stderr after a second, naming the endpoints; `--linger MS` ends the wait
/// after MS, as libzmq's own would, with a warning; a Ctrl-C drops what is left (status
/// 130). The other types need no wait: a REQ's reply proves delivery, `send` ROUTER waited
/// for its peer before writing, and a PUB or XPUB keeps nothing for a peer that has not
/// subscribed, which takes a handshake.
async fn confirm_handshakes(sock: &mut Sock, a: &SendArgs, label: &str) -> CliResult<End> {
    if !matches!(
        sock.socket_type(),
        SocketType::PUSH | SocketType::DEALER | SocketType::PAIR
    ) {
        return Ok(End::Done);
    }
    let started = Instant::now();
    let hint_at = started + Duration::from_secs(1);
    let linger = a.opts.linger.and_then(|ms| u64::try_from(ms).ok());
    let deadline = linger.map(|ms| started + Duration::from_millis(ms));
    let mut hinted = false;
    loop {
        let wake = match (hinted, deadline) {
            (false, Some(d)) => Some(d.min(hint_at)),
            (false, None) => Some(hint_at),
            (true, d) => d,
        };
        let timer = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => pending().await,
            }
        };
        let outcomes = match sock.handshakes(timer).await {
            Waited::Done(outcomes) => outcomes,
            // Not asked for: `handshakes` reads no message.
            Waited::Msg(_) => continue,
            Waited::Interrupted => {
                give_up(sock);
                return Err(CliError::Dropped(format!(
                    "{label}: dropped what no peer took"
                )));
            }
            Waited::Lost(e) => return Err(lost_error(label, e)),
        };
        if !outcomes.failed.is_empty() {
            give_up(sock);
            let why: Vec<String> = outcomes
                .failed
                .iter()
                .map(|(ep, why)| format!("{ep} ({why})"))
                .collect();
            return Err(failed(format!(
                "{label}: the handshake failed with {}: what was sent there is not delivered",
                why.join(", ")
            )));
        }
        if outcomes.settled() {
            return Ok(End::Done);
        }
        let pending = outcomes.pending.join(", ");
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // libzmq's LINGER ends the same way: what it still holds is dropped.
            eprintln!(
                "zmqio: {label}: warning: no handshake with {pending} within --linger {} ms: \
                 what was sent there may not be delivered",
                linger.unwrap_or_default()
            );
            return Ok(End::Done);
        }
        hinted = true;
        eprintln!(
            "zmqio: {label}: waiting for a peer to take the connection to {pending}; Ctrl-C \
             drops what was sent"
        );
    }
}

/// How often a ROUTER retries a message whose peer is not there yet, in ms.
const ROUTER_RETRY_MS: u64 = 10;

/// Writes a ROUTER's message once its peer is there; `Some` if the command must end first.
///
/// With `RouterMandatory`, libzmq refuses (`EHOSTUNREACH`) a message for a routing id that
/// has no connection, which is also the case for a connect whose handshake has not finished.
/// The message is retried until the peer comes (said on stderr after a second); Ctrl-C ends
/// the wait with an error naming the routing id.
async fn write_routed(
    sock: &mut Sock,
    msg: Multipart,
    a: &SendArgs,
    label: &str,
) -> CliResult<Option<End>> {
    let started = Instant::now();
    let mut hinted = false;
    loop {
        match sock.transport().write(msg.clone()) {
            Ok(()) => return Ok(None),
            Err(zmqio::Error::Zmq(zmq::Error::EHOSTUNREACH)) => {}
            Err(e) => return Err(lost_error(label, Some(e))),
        }
        let id = || text_frame(msg.first().map_or(&[][..], |f| &f[..]));
        if !hinted && started.elapsed() >= Duration::from_secs(1) {
            hinted = true;
            eprintln!(
                "zmqio: {label}: no peer with routing id {} yet; waiting for it (Ctrl-C ends)",
                id()
            );
        }
        match pause(sock, ROUTER_RETRY_MS, a, label).await? {
            None => {}
            Some(End::Interrupted) => {
                return Err(failed(format!(
                    "{label}: no peer with routing id {}: the message was not sent",
                    id()
                )))
            }
            Some(end) => return Ok(Some(end)),
        }
    }
}

/// Sleeps `ms`, watching the socket; `Some` if the command must end.
async fn pause(sock: &mut Sock, ms: u64, a: &SendArgs, label: &str) -> CliResult<Option<End>> {
    let xpub = sock.socket_type() == SocketType::XPUB;
    let sleep = tokio::time::sleep(Duration::from_millis(ms));
    let mut sleep = std::pin::pin!(sleep);
    loop {
        match sock.wait(sleep.as_mut(), xpub).await {
            Waited::Done(()) => return Ok(None),
            Waited::Msg(m) => note_subscription(&m, a.opts.verbose, label),
            Waited::Interrupted => return Ok(Some(End::Interrupted)),
            Waited::Lost(e) => return Err(lost_error(label, e)),
        }
    }
}

/// An XPUB's incoming message: a subscription (0x01 topic) or an unsubscription (0x00).
fn note_subscription(m: &Multipart, verbose: bool, label: &str) {
    if !verbose {
        return;
    }
    if let Some(frame) = m.first() {
        let (what, topic) = match frame.split_first() {
            Some((1, topic)) => ("subscribe", topic),
            Some((0, topic)) => ("unsubscribe", topic),
            _ => ("message", &frame[..]),
        };
        eprintln!(
            "zmqio: {label}: {what} {:?}",
            String::from_utf8_lossy(topic)
        );
    }
}
