//! How messages and monitor events are printed.
//!
//! JSON is written with `serde_json`: escaping arbitrary text correctly (control characters,
//! lone surrogates never arise from `&str`, but every other case does) is what it is for, and
//! the tests parse the output back with it anyway.

use std::io::{self, Write};

use serde_json::{json, Value};

use crate::args::Format;
use crate::error::{failed, CliResult};
use crate::zmqio::{MonitorEvent, Multipart, SocketEvent};

/// Whether a frame is shown as text: valid UTF-8 without control characters (tabs allowed)
/// or line and paragraph separators (U+2028, U+2029), which would break the line.
fn printable(frame: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(frame).ok()?;
    let breaks = |c: char| (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}');
    (!s.chars().any(breaks)).then_some(s)
}

/// A frame as `--format text` shows it: as text where it is printable and cannot be
/// misread (as hex, when it starts with `0x`; as two frames, when it holds the separator),
/// else `0x` and its bytes in hex.
pub(crate) fn text_frame(frame: &[u8]) -> String {
    match printable(frame) {
        Some(s) if !s.starts_with("0x") && !s.contains(" | ") => s.to_owned(),
        _ => format!("0x{}", hex(frame)),
    }
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Parses hex (an optional `0x` prefix, an even number of digits).
pub(crate) fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if digits.len() % 2 != 0 {
        return Err(format!("'{s}' has an odd number of hex digits"));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            digits
                .get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| format!("'{s}' is not hex"))
        })
        .collect()
}

/// One message as one line (without the newline).
pub(crate) fn message_line(msg: &Multipart, format: Format) -> String {
    match format {
        Format::Text => {
            let frames: Vec<String> = msg.iter().map(|f| text_frame(f)).collect();
            frames.join(" | ")
        }
        Format::Hex => {
            let frames: Vec<String> = msg.iter().map(|f| hex(f)).collect();
            frames.join(" | ")
        }
        Format::Json => {
            let frames: Vec<Value> = msg
                .iter()
                .map(|f| match printable(f) {
                    Some(s) => json!({ "text": s }),
                    None => json!({ "hex": hex(f) }),
                })
                .collect();
            json!({ "frames": frames }).to_string()
        }
    }
}

/// libzmq's `ZMQ_PROTOCOL_ERROR_*` codes, the value of a `HandshakeFailedProtocol` event.
fn protocol_error(code: u32) -> &'static str {
    match code {
        0x1000_0000 => "ZMTP unspecified",
        0x1000_0001 => "unexpected command",
        0x1000_0002 => "invalid sequence",
        0x1000_0003 => "key exchange",
        0x1000_0011 => "malformed command",
        0x1000_0012 => "malformed MESSAGE command",
        0x1000_0013 => "malformed HELLO command",
        0x1000_0014 => "malformed INITIATE command",
        0x1000_0015 => "malformed ERROR command",
        0x1000_0016 => "malformed READY command",
        0x1000_0017 => "malformed WELCOME command",
        0x1000_0018 => "invalid metadata",
        0x1100_0001 => "cryptographic error (wrong key?)",
        0x1100_0002 => "mechanism mismatch (one side has no security, or another kind)",
        0x2000_0000 => "ZAP unspecified",
        0x2000_0001 => "malformed ZAP reply",
        0x2000_0002 => "bad ZAP request id",
        0x2000_0003 => "bad ZAP version",
        0x2000_0004 => "invalid ZAP status code",
        0x2000_0005 => "invalid ZAP metadata",
        0x3000_0000 => "WebSocket unspecified",
        _ => "unknown protocol error",
    }
}

fn errno_text(value: u32) -> String {
    let errno = i32::try_from(value).unwrap_or(i32::MAX);
    let mut text = io::Error::from_raw_os_error(errno).to_string();
    // "Connection refused (os error 111)" -> "Connection refused"
    if let Some(at) = text.find(" (os error") {
        text.truncate(at);
    }
    text
}

/// What an event's value means.
pub(crate) fn event_detail(ev: &SocketEvent) -> String {
    let v = ev.value;
    match ev.event {
        MonitorEvent::Connected
        | MonitorEvent::Accepted
        | MonitorEvent::Listening
        | MonitorEvent::Closed
        | MonitorEvent::Disconnected => format!("fd {v}"),
        MonitorEvent::ConnectRetried => format!("retry in {v} ms"),
        MonitorEvent::ConnectDelayed
        | MonitorEvent::BindFailed
        | MonitorEvent::AcceptFailed
        | MonitorEvent::CloseFailed
        | MonitorEvent::HandshakeFailedNoDetail => errno_text(v),
        MonitorEvent::HandshakeFailedProtocol => protocol_error(v).to_owned(),
        MonitorEvent::HandshakeFailedAuth => format!(
            "ZAP status {v}{}",
            match v {
                300 => " (temporary failure)",
                400 => " (authentication refused)",
                500 => " (internal error)",
                _ => "",
            }
        ),
        _ => format!("value {v}"),
    }
}

/// An event's name, e.g. `HandshakeFailedAuth`.
pub(crate) fn event_name(ev: &SocketEvent) -> String {
    match ev.event {
        MonitorEvent::Unknown(code) => format!("Unknown(0x{code:04x})"),
        other => format!("{other:?}"),
    }
}

/// One monitor event as a line, stamped with `time`.
pub(crate) fn event_line(ev: &SocketEvent, time: &str, format: Format) -> String {
    match format {
        Format::Json => json!({
            "time": time,
            "event": event_name(ev),
            "value": ev.value,
            "endpoint": ev.endpoint,
            "detail": event_detail(ev),
        })
        .to_string(),
        Format::Text | Format::Hex => format!(
            "{time} {} {} ({})",
            event_name(ev),
            ev.endpoint,
            event_detail(ev)
        ),
    }
}

/// Standard output, line by line, flushed after each line so a pipe sees messages as they
/// come. A closed pipe (`zmqio recv | head -1`) ends the command quietly.
pub(crate) struct Out {
    stdout: io::Stdout,
}

/// What printing a line found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Printed {
    /// The line was written.
    Ok,
    /// The reader went away: stop.
    Closed,
}

impl Out {
    pub(crate) fn new() -> Self {
        Self {
            stdout: io::stdout(),
        }
    }

    /// Writes `line` and a newline.
    pub(crate) fn line(&self, line: &str) -> CliResult<Printed> {
        let mut lock = self.stdout.lock();
        match writeln!(lock, "{line}").and_then(|()| lock.flush()) {
            Ok(()) => Ok(Printed::Ok),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Printed::Closed),
            Err(e) => Err(failed(format!("cannot write to stdout: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_shows_printable_frames_and_hex_for_the_rest() {
        let msg = Multipart::from(vec![b"hello".to_vec(), vec![0, 0xff], Vec::new()]);
        assert_eq!(message_line(&msg, Format::Text), "hello | 0x00ff | ");
        // Text that would read as hex, as two frames or as two lines is shown in hex.
        let tricky = Multipart::from(vec![
            b"0x00ff".to_vec(),
            b"a | b".to_vec(),
            "x\u{2028}y".as_bytes().to_vec(),
        ]);
        assert_eq!(
            message_line(&tricky, Format::Text),
            "0x307830306666 | 0x61207c2062 | 0x78e280a879"
        );
        assert_eq!(message_line(&msg, Format::Hex), "68656c6c6f | 00ff | ");
        let v: Value = serde_json::from_str(&message_line(&msg, Format::Json)).unwrap();
        assert_eq!(
            v,
            json!({"frames": [{"text": "hello"}, {"hex": "00ff"}, {"text": ""}]})
        );
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(parse_hex("0x00ff10").unwrap(), vec![0, 0xff, 0x10]);
        assert_eq!(parse_hex("ABcd").unwrap(), vec![0xab, 0xcd]);
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
        assert!(parse_hex("é1").is_err());
    }

    #[test]
    fn events_say_what_their_value_means() {
        let ev = |event, value| SocketEvent {
            event,
            value,
            endpoint: "tcp://127.0.0.1:1".into(),
        };
        assert_eq!(
            event_detail(&ev(MonitorEvent::HandshakeFailedAuth, 400)),
            "ZAP status 400 (authentication refused)"
        );
        assert_eq!(
            event_detail(&ev(MonitorEvent::HandshakeFailedProtocol, 0x1100_0002)),
            "mechanism mismatch (one side has no security, or another kind)"
        );
        assert_eq!(
            event_detail(&ev(MonitorEvent::ConnectDelayed, 111)),
            "Connection refused"
        );
        assert_eq!(
            event_line(&ev(MonitorEvent::Connected, 9), "T", Format::Text),
            "T Connected tcp://127.0.0.1:1 (fd 9)"
        );
    }
}
