//! The `zmqio` binary driven from outside, in pairs of processes: `send` into `recv`,
//! `send --type REQ` against a zmqio REP and a pyzmq REP, `monitor` seeing a connect, a proxy
//! between a REQ and a REP (and one that outlives a departed client), Ctrl-C, keygen, PLAIN
//! and CURVE servers with zmqio's authenticator (admitted and refused), bench, and bad
//! arguments.
//!
//! No fixed ports: a bind on tcp://127.0.0.1:* prints `bound ENDPOINT` as the first line of
//! the child's stderr, and the peer is started with that endpoint. Every test runs under a
//! watchdog, every wait on a child is bounded, and a child is killed when its handle drops.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use predicates::prelude::*;
use serde_json::{json, Value};

/// How long any one wait on a child may take (seconds, for a loaded machine).
const WAIT: Duration = Duration::from_secs(30);

/// The binary under test, for a run to completion (with a timeout).
fn zmqio() -> assert_cmd::Command {
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_zmqio"))
}

/// Runs `body` on a thread of its own; fails the test if it takes longer than `secs`.
fn watchdog(secs: u64, body: impl FnOnce() + Send + 'static) {
    let (tx, rx) = channel();
    let handle = thread::spawn(move || {
        body();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => handle.join().expect("test body"),
        // The body panicked: join() carries its panic out.
        Err(RecvTimeoutError::Disconnected) => {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(RecvTimeoutError::Timeout) => panic!("watchdog: the test took more than {secs} s"),
    }
}

/// A running `zmqio` (or any) child; killed when dropped.
struct Proc {
    child: Child,
    name: String,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    stderr_seen: Vec<String>,
}

fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Proc {
    fn spawn(mut cmd: Command, name: &str) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = lines_of(child.stdout.take().expect("piped stdout"));
        let stderr = lines_of(child.stderr.take().expect("piped stderr"));
        Self {
            stdin: child.stdin.take(),
            child,
            name: name.to_owned(),
            stdout,
            stderr,
            stderr_seen: Vec::new(),
        }
    }

    /// `zmqio ARGS...` in the background.
    fn zmqio(args: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zmqio"));
        cmd.args(args);
        Self::spawn(cmd, &format!("zmqio {}", args.join(" ")))
    }

    /// The next stderr line that contains `needle`.
    fn stderr_until(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.stderr_seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "{}: no stderr line with {needle:?} ({e:?}); saw {:?}",
                    self.name, self.stderr_seen
                ),
            }
        }
    }

    /// Reads stdout up to the first line that contains `needle`; checks it also has `also`.
    fn stdout_until(&mut self, needle: &str, also: &str) {
        loop {
            let line = self.stdout_line();
            if line.contains(needle) {
                assert!(line.contains(also), "{}: {line}", self.name);
                return;
            }
        }
    }

    /// The endpoint of the first bind: the first line on stderr.
    fn bound(&mut self) -> String {
        let line = self.stderr_until("");
        line.strip_prefix("bound ")
            .unwrap_or_else(|| panic!("{}: first stderr line {line:?}", self.name))
            .to_owned()
    }

    /// The next line on stdout.
    fn stdout_line(&mut self) -> String {
        self.stdout
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("{}: no stdout line ({e:?})", self.name))
    }

    /// Waits for the child to exit; its status, remaining stdout lines and stderr lines.
    fn finish(mut self) -> (ExitStatus, Vec<String>, Vec<String>) {
        drop(self.stdin.take());
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{}: still running after {WAIT:?}",
                self.name
            );
            thread::sleep(Duration::from_millis(10));
        };
        let out: Vec<String> = self.stdout.iter().collect();
        let mut err = std::mem::take(&mut self.stderr_seen);
        err.extend(self.stderr.iter());
        (status, out, err)
    }

    /// Sends SIGINT, as Ctrl-C does.
    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `zmqio ARGS...` run to completion (under a timeout).
fn run(args: &[&str]) -> assert_cmd::assert::Assert {
    zmqio().args(args).timeout(WAIT).assert()
}

#[test]
fn push_into_pull_delivers_every_message() {
    watchdog(60, || {
        let mut recv = Proc::zmqio(&[
            "recv",
            "--type",
            "PULL",
            "--bind",
            "tcp://127.0.0.1:*",
            "--count",
            "3",
        ]);
        let ep = recv.bound();
        run(&[
            "send",
            "--type",
            "PUSH",
            "--connect",
            &ep,
            "hello",
            "world",
            "--repeat",
            "3",
        ])
        .success();
        let (status, out, err) = recv.finish();
        assert!(status.success(), "{err:?}");
        assert_eq!(out, vec!["hello | world"; 3]);
    });
}

#[test]
fn stdin_lines_are_hex_with_hex() {
    watchdog(60, || {
        let mut recv = Proc::zmqio(&[
            "recv",
            "--type",
            "PULL",
            "--bind",
            "tcp://127.0.0.1:*",
            "--count",
            "2",
        ]);
        let ep = recv.bound();
        let mut send = Proc::zmqio(&[
            "send",
            "--type",
            "PUSH",
            "--connect",
            &ep,
            "--stdin",
            "--hex",
        ]);
        let stdin = send.stdin.as_mut().expect("stdin");
        // The third line is not hex: an error naming it, after the first two went out.
        stdin.write_all(b"00ff\n0x6869\nzz\n").expect("write stdin");
        let (status, _, err) = send.finish();
        assert_eq!(status.code(), Some(2), "{err:?}");
        assert!(err.iter().any(|l| l.contains("line 3 of stdin")), "{err:?}");
        let (status, out, err) = recv.finish();
        assert!(status.success(), "{err:?}");
        assert_eq!(out, vec!["0x00ff", "hi"]);
    });
}

#[test]
fn pub_into_sub_sends_only_the_subscribed_topic() {
    watchdog(60, || {
        let mut recv = Proc::zmqio(&[
            "recv",
            "--type",
            "SUB",
            "--bind",
            "tcp://127.0.0.1:*",
            "--subscribe",
            "weather",
            "--count",
            "2",
        ]);
        let ep = recv.bound();
        // --wait-subscriber: the first message waits for the subscription (no slow joiner).
        let mut send = Proc::zmqio(&[
            "send",
            "--type",
            "PUB",
            "--connect",
            &ep,
            "--wait-subscriber",
            "--stdin",
        ]);
        let stdin = send.stdin.as_mut().expect("stdin");
        stdin
            .write_all(b"sport 1\nweather 1\nsport 2\nweather 2\n")
            .expect("write stdin");
        let (status, _, err) = send.finish();
        assert!(status.success(), "{err:?}");
        let (status, received, err) = recv.finish();
        assert!(status.success(), "{err:?}");
        assert_eq!(received, vec!["weather 1", "weather 2"]);
    });
}

#[test]
fn req_gets_the_replies_of_a_zmqio_rep() {
    watchdog(60, || {
        let mut rep = Proc::zmqio(&[
            "recv",
            "--type",
            "REP",
            "--bind",
            "tcp://127.0.0.1:*",
            "--reply",
            "pong",
            "--count",
            "2",
        ]);
        let ep = rep.bound();
        let output = zmqio()
            .args([
                "send",
                "--type",
                "REQ",
                "--connect",
                &ep,
                "ping",
                "--repeat",
                "2",
                "--format",
                "json",
            ])
            .timeout(WAIT)
            .output()
            .expect("send");
        assert!(output.status.success(), "{output:?}");
        let replies: Vec<Value> = String::from_utf8(output.stdout)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
            .collect();
        assert_eq!(replies, vec![json!({"frames": [{"text": "pong"}]}); 2]);
        let (status, requests, err) = rep.finish();
        assert!(status.success(), "{err:?}");
        assert_eq!(requests, vec!["ping"; 2]);
    });
}

const PY_REP: &str = r#"
import sys, zmq
ctx = zmq.Context()
rep = ctx.socket(zmq.REP)
rep.bind("tcp://127.0.0.1:*")
print(rep.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
for _ in range(int(sys.argv[1])):
    frames = rep.recv_multipart()
    rep.send_multipart([b"py:" + b"+".join(frames)])
rep.close(linger=-1)
ctx.term()
"#;

#[test]
fn req_gets_the_replies_of_a_pyzmq_rep() {
    watchdog(60, || {
        let ok = Command::new("python3")
            .args(["-c", "import zmq"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "this test needs python3 with pyzmq: python3 -m pip install pyzmq"
        );
        let mut py = Command::new("python3");
        py.args(["-c", PY_REP, "2"]);
        let mut rep = Proc::spawn(py, "pyzmq REP");
        let ep = rep.stdout_line();
        run(&[
            "send",
            "--type",
            "REQ",
            "--connect",
            &ep,
            "hi",
            "there",
            "--repeat",
            "2",
        ])
        .success()
        .stdout("py:hi+there\npy:hi+there\n");
        let (status, _, err) = rep.finish();
        assert!(status.success(), "{err:?}");
    });
}

#[test]
fn monitor_sees_a_connect() {
    watchdog(60, || {
        let mut pull = Proc::zmqio(&["recv", "--type", "PULL", "--bind", "tcp://127.0.0.1:*"]);
        let ep = pull.bound();
        let mut monitor = Proc::zmqio(&[
            "monitor",
            "--type",
            "PUSH",
            "--connect",
            &ep,
            "--format",
            "json",
        ]);
        let connected = loop {
            let line = monitor.stdout_line();
            let ev: Value = serde_json::from_str(&line).expect("one JSON object a line");
            if ev["event"] == "Connected" {
                break ev;
            }
        };
        assert_eq!(connected["endpoint"], ep.as_str());
        let time = connected["time"].as_str().expect("time");
        assert!(time.ends_with('Z') && time.len() == 24, "{time}");
        monitor.interrupt();
        let (status, _, err) = monitor.finish();
        assert!(
            status.success(),
            "Ctrl-C ends monitor cleanly: {status:?} {err:?}"
        );
        pull.interrupt();
        assert!(pull.finish().0.success());
    });
}

#[test]
fn json_output_parses_back_with_binary_and_quoted_frames() {
    watchdog(60, || {
        let mut recv = Proc::zmqio(&[
            "recv",
            "--type",
            "PULL",
            "--bind",
            "tcp://127.0.0.1:*",
            "--count",
            "2",
            "--format",
            "json",
        ]);
        let ep = recv.bound();
        run(&[
            "send",
            "--type",
            "PUSH",
            "--connect",
            &ep,
            "--hex",
            "00ff",
            "0x41",
            "",
        ])
        .success();
        run(&[
            "send",
            "--type",
            "PUSH",
            "--connect",
            &ep,
            "say \"hi\"\t\\",
            "é",
        ])
        .success();
        let (status, out, err) = recv.finish();
        assert!(status.success(), "{err:?}");
        let parsed: Vec<Value> = out
            .iter()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect();
        assert_eq!(
            parsed,
            vec![
                json!({"frames": [{"hex": "00ff"}, {"text": "A"}, {"text": ""}]}),
                json!({"frames": [{"text": "say \"hi\"\t\\"}, {"text": "é"}]}),
            ]
        );
    });
}

#[test]
fn req_timeout_with_no_peer_gives_up_and_exits() {
    watchdog(60, || {
        // Nothing listens there: the request never leaves libzmq. Giving up must not wait
        // for a peer to take it (LINGER's default is forever).
        let dir = tempfile::tempdir().expect("temp dir");
        let ep = format!("ipc://{}/nobody.sock", dir.path().display());
        let started = Instant::now();
        zmqio()
            .args([
                "send",
                "--type",
                "REQ",
                "--connect",
                &ep,
                "--timeout",
                "300",
                "ping",
            ])
            .timeout(Duration::from_secs(15))
            .assert()
            .code(1)
            .stderr(predicate::str::contains("no reply within 300 ms"));
        assert!(started.elapsed() < Duration::from_secs(15));
    });
}

#[test]
fn router_send_waits_for_its_peer_and_delivers() {
    watchdog(90, || {
        // Connecting: the first write comes before the handshake has finished.
        let mut dealer = Proc::zmqio(&[
            "recv",
            "--type",
            "DEALER",
            "--routing-id",
            "bob",
            "--bind",
            "tcp://127.0.0.1:*",
            "--count",
            "2",
        ]);
        let ep = dealer.bound();
        run(&[
            "send",
            "--type",
            "ROUTER",
            "--connect",
            &ep,
            "bob",
            "hello",
            "--repeat",
            "2",
        ])
        .success();
        let (status, out, err) = dealer.finish();
        assert!(status.success(), "{err:?}");
        assert_eq!(out, vec!["hello"; 2]);

        // Binding: the peer comes after the ROUTER has said it waits for it.
        let mut router = Proc::zmqio(&[
            "send",
            "--type",
            "ROUTER",
            "--bind",
            "tcp://127.0.0.1:*",
            "alice",
            "hi",
        ]);
        let ep = router.bound();
        router.stderr_until("no peer with routing id alice yet");
        let dealer = Proc::zmqio(&[
            "recv",
            "--type",
            "DEALER",
            "--routing-id",
            "alice",
            "--connect",
            &ep,
            "--count",
            "1",
        ]);
        let (status, out, err) = dealer.finish();
        assert!(status.success(), "{err:?}");
        assert_eq!(out, vec!["hi"]);
        let (status, _, err) = router.finish();
        assert!(status.success(), "{err:?}");

        // Ctrl-C while waiting: an error that names the routing id, status 1.
        let mut router = Proc::zmqio(&[
            "send",
            "--type",
            "ROUTER",
            "--bind",
            "tcp://127.0.0.1:*",
            "carol",
            "hi",
        ]);
        router.bound();
        router.stderr_until("no peer with routing id carol yet");
        router.interrupt();
        let (status, _, err) = router.finish();
        assert_eq!(status.code(), Some(1), "{err:?}");
        assert!(
            err.iter()
                .any(|l| l.contains("no peer with routing id carol: the message was not sent")),
            "{err:?}"
        );
    });
}

#[test]
fn send_says_what_its_linger_dropped() {
    watchdog(60, || {
        // Nothing listens there: within the LINGER no handshake happens, so libzmq drops the
        // message; the command says so instead of exiting 0.
        let dir = tempfile::tempdir().expect("temp dir");
        let ep = format!("ipc://{}/nobody.sock", dir.path().display());
        run(&[
            "send",
            "--type",
            "PUSH",
            "--connect",
            &ep,
            "--linger",
            "300",
            "x",
        ])
        .success()
        .stderr(predicate::str::contains(format!(
            "warning: no handshake with {ep} within --linger 300 ms"
        )))
        .stderr(predicate::str::contains("may not be delivered"));
    });
}

#[test]
fn send_waits_for_one_peer_and_reports_a_type_that_does_not_pair() {
    watchdog(90, || {
        let dir = tempfile::tempdir().expect("temp dir");
        let nobody = format!("ipc://{}/nobody.sock", dir.path().display());
        // One live peer and one endpoint where nobody listens: the live one took the
        // message; the command does not wait for the other.
        let mut pull = Proc::zmqio(&[
            "recv",
            "--type",
            "PULL",
            "--bind",
            "tcp://127.0.0.1:*",
            "--count",
            "1",
        ]);
        let ep = pull.bound();
        run(&[
            "send",
            "--type",
            "PUSH",
            "--connect",
            &ep,
            "--connect",
            &nobody,
            "hello",
        ])
        .success();
        let (status, out, err) = pull.finish();
        assert!(status.success(), "{err:?}");
        assert_eq!(out, vec!["hello"]);
        // A publisher keeps nothing for a peer that never subscribed: no wait at all.
        run(&["send", "--type", "PUB", "--connect", &nobody, "news"]).success();
        // A SUB does not pair with a PUSH: libzmq only closes the connection; the sender
        // says so with status 1 instead of waiting for ever (or exiting 0).
        let mut sub = Proc::zmqio(&["recv", "--type", "SUB", "--bind", "tcp://127.0.0.1:*"]);
        let ep = sub.bound();
        run(&["send", "--type", "PUSH", "--connect", &ep, "lost"])
            .code(1)
            .stderr(predicate::str::contains(format!(
                "the handshake failed with {ep}"
            )))
            .stderr(predicate::str::contains("not delivered"));
        sub.interrupt();
        assert!(sub.finish().0.success());
    });
}

#[test]
fn ctrl_c_on_send_still_delivers_what_was_accepted() {
    watchdog(60, || {
        // No peer yet: the first message waits in the queue; the second is 60 s away.
        let mut send = Proc::zmqio(&[
            "send",
            "--type",
            "PUSH",
            "--bind",
            "tcp://127.0.0.1:*",
            "-v",
            "hello",
            "--repeat",
            "2",
            "--interval",
            "60000",
        ]);
        let ep = send.bound();
        send.stderr_until("sent message 1");
        send.interrupt();
        // It waits for a peer to take the queued message rather than dropping it.
        send.stderr_until("waiting for a peer to take 5 queued bytes");
        let mut recv = Proc::zmqio(&["recv", "--type", "PULL", "--connect", &ep, "--count", "1"]);
        assert_eq!(recv.stdout_line(), "hello");
        let (status, _, err) = send.finish();
        assert!(status.success(), "{status:?} {err:?}");
        assert!(recv.finish().0.success());
    });
}

#[test]
fn send_exits_only_once_libzmq_delivered_what_it_accepted() {
    watchdog(60, || {
        // A connect with no listener: libzmq takes the message at once into the pipe of the
        // pending connection, and the process must not exit before it is delivered (LINGER
        // is libzmq's default, -1).
        let dir = tempfile::tempdir().expect("temp dir");
        let ep = format!("ipc://{}/later.sock", dir.path().display());
        let mut send = Proc::zmqio(&["send", "--type", "PUSH", "--connect", &ep, "late"]);
        send.stderr_until("waiting for a peer to take the connection to");
        let mut recv = Proc::zmqio(&["recv", "--type", "PULL", "--bind", &ep, "--count", "1"]);
        assert_eq!(recv.stdout_line(), "late");
        let (status, _, err) = send.finish();
        assert!(status.success(), "{status:?} {err:?}");
        assert!(recv.finish().0.success());
    });
}

#[test]
fn a_lost_connection_is_reported_on_stderr() {
    watchdog(60, || {
        let mut send = Proc::zmqio(&[
            "send",
            "--type",
            "PUSH",
            "--bind",
            "tcp://127.0.0.1:*",
            "one",
        ]);
        let ep = send.bound();
        let mut recv = Proc::zmqio(&["recv", "--type", "PULL", "--connect", &ep]);
        assert_eq!(recv.stdout_line(), "one");
        // The sender exits once its message is delivered; the receiver says so.
        assert!(send.finish().0.success());
        let line = recv.stderr_until("connection lost");
        assert!(line.contains(&ep), "{line}");
        recv.interrupt();
        assert!(recv.finish().0.success());
    });
}

#[test]
fn second_ctrl_c_drops_what_no_peer_took_with_status_130() {
    watchdog(60, || {
        let mut send = Proc::zmqio(&[
            "send",
            "--type",
            "PUSH",
            "--bind",
            "tcp://127.0.0.1:*",
            "lonely",
        ]);
        send.bound();
        send.stderr_until("waiting for a peer to take 6 queued bytes");
        send.interrupt();
        let (status, _, err) = send.finish();
        assert_eq!(status.code(), Some(130), "{err:?}");
        assert!(
            err.iter().any(|l| l.contains("dropped 6 queued bytes")),
            "{err:?}"
        );
    });
}

#[test]
fn ctrl_c_ends_recv_cleanly() {
    watchdog(60, || {
        let mut recv = Proc::zmqio(&["recv", "--type", "SUB", "--bind", "tcp://127.0.0.1:*"]);
        recv.bound();
        recv.interrupt();
        let (status, out, err) = recv.finish();
        assert!(status.success(), "{status:?} {err:?}");
        assert!(out.is_empty());
    });
}

#[test]
fn proxy_brokers_req_to_rep_and_captures_the_traffic() {
    watchdog(120, || {
        let mut proxy = Proc::zmqio(&[
            "proxy",
            "--frontend",
            "ROUTER:tcp://127.0.0.1:*",
            "--backend",
            "DEALER:tcp://127.0.0.1:*",
            "--capture",
            "tcp://127.0.0.1:*",
        ]);
        let front = proxy.bound();
        let back = proxy.stderr_until("bound ").replace("bound ", "");
        let capture = proxy.stderr_until("bound ").replace("bound ", "");
        let worker = Proc::zmqio(&[
            "recv",
            "--type",
            "REP",
            "--connect",
            &back,
            "--reply",
            "world",
        ]);
        let mut tap = Proc::zmqio(&["recv", "--type", "SUB", "--connect", &capture, "-v"]);
        tap.stderr_until("HandshakeSucceeded");
        // The tap's subscription reaches the capture PUB a moment after the handshake (the
        // slow joiner): ask until a request shows up on the tap.
        let mut attempts = 0;
        loop {
            attempts += 1;
            assert!(attempts <= 50, "the capture never showed a request");
            run(&["send", "--type", "REQ", "--connect", &front, "hello"])
                .success()
                .stdout("world\n");
            let seen = tap.stdout.recv_timeout(Duration::from_millis(200));
            if seen.is_ok_and(|line| line.ends_with(" |  | hello")) {
                break;
            }
        }
        // The copy of the reply follows its request: [routing id, "", "world"].
        loop {
            let line = tap.stdout_line();
            if line.ends_with(" |  | world") {
                break;
            }
        }
        for p in [&proxy, &worker, &tap] {
            p.interrupt();
        }
        for p in [proxy, worker, tap] {
            let (status, _, err) = p.finish();
            assert!(status.success(), "{status:?} {err:?}");
        }
    });
}

fn has_curve() -> bool {
    zmq::has("curve") == Some(true)
}

#[test]
fn keygen_prints_z85_keys_or_says_why_not() {
    watchdog(60, || {
        if !has_curve() {
            run(&["keygen"])
                .code(1)
                .stderr(predicate::str::contains("without CURVE"));
            return;
        }
        let out = run(&["keygen"]).success().get_output().stdout.clone();
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].starts_with("public: ") && lines[0].len() == 48,
            "{text}"
        );
        assert!(
            lines[1].starts_with("secret: ") && lines[1].len() == 48,
            "{text}"
        );
    });
}

const PY_LOAD_CERTS: &str = r#"
import sys, zmq, zmq.auth
public, _ = zmq.auth.load_certificate(sys.argv[1] + ".key")
public2, secret = zmq.auth.load_certificate(sys.argv[1] + ".key_secret")
assert public == public2, (public, public2)
assert zmq.curve_public(secret) == public
print("ok")
"#;

#[test]
fn keygen_writes_certificates_pyzmq_reads() {
    watchdog(60, || {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("certs");
        let out = out.to_str().expect("utf-8 path");
        if !has_curve() {
            run(&["keygen", "--out", out, "server"]).code(1);
            return;
        }
        run(&["keygen", "--out", out, "server"]).success();
        let secret = std::fs::metadata(format!("{out}/server.key_secret")).expect("secret file");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(secret.permissions().mode() & 0o777, 0o600);
        let base = format!("{out}/server");
        let check = assert_cmd::Command::new("python3")
            .args(["-c", PY_LOAD_CERTS, &base])
            .timeout(WAIT)
            .output()
            .expect("python3");
        assert!(check.status.success(), "{check:?}");
    });
}

/// A key pair from `zmqio keygen`.
fn keygen() -> (String, String) {
    let out = run(&["keygen"]).success().get_output().stdout.clone();
    let text = String::from_utf8(out).expect("utf-8");
    let mut lines = text.lines();
    let public = lines.next().expect("public")["public: ".len()..].to_owned();
    let secret = lines.next().expect("secret")["secret: ".len()..].to_owned();
    (public, secret)
}

#[test]
fn curve_gets_through_with_the_right_key_and_a_wrong_one_is_reported() {
    watchdog(90, || {
        if !has_curve() {
            let key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
            run(&[
                "recv",
                "--type",
                "PULL",
                "--bind",
                "tcp://127.0.0.1:*",
                "--curve-server",
                "--curve-secret-key",
                key,
            ])
            .code(1)
            .stderr(predicate::str::contains("without CURVE"));
            return;
        }
        let (server_public, server_secret) = keygen();
        let (wrong_public, _) = keygen();
        let mut server = Proc::zmqio(&[
            "recv",
            "--type",
            "PULL",
            "--bind",
            "tcp://127.0.0.1:*",
            "--curve-server",
            "--curve-secret-key",
            &server_secret,
            "--count",
            "1",
        ]);
        let ep = server.bound();
        // A client with the wrong server key fails the handshake; the server says so.
        let wrong = Proc::zmqio(&[
            "send",
            "--type",
            "PUSH",
            "--connect",
            &ep,
            "--curve-server-key",
            &wrong_public,
            "--linger",
            "0",
            "intruder",
        ]);
        server.stderr_until("handshake");
        drop(wrong);
        run(&[
            "send",
            "--type",
            "PUSH",
            "--connect",
            &ep,
            "--curve-server-key",
            &server_public,
            "secret",
        ])
        .success();
        let (status, out, err) = server.finish();
        assert!(status.success(), "{err:?}");
        assert_eq!(out, vec!["secret"]);
    });
}

/// The Z85 value of `name = "..."` in a certificate file.
fn cert_key(path: &std::path::Path, name: &str) -> String {
    let text = std::fs::read_to_string(path).expect("certificate");
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {text}"));
    line.split('"').nth(1).expect("quoted key").to_owned()
}

#[test]
fn curve_allow_admits_the_certificates_of_a_directory_and_refuses_others() {
    watchdog(90, || {
        let dir = tempfile::tempdir().expect("temp dir");
        let clients = dir.path().join("clients");
        let clients = clients.to_str().expect("utf-8 path");
        if !has_curve() {
            // The refusal is clear, and comes before any socket: no CURVE, nothing else.
            std::fs::create_dir_all(clients).expect("dir");
            let key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
            run(&[
                "recv",
                "--type",
                "PULL",
                "--bind",
                "tcp://127.0.0.1:*",
                "--curve-server",
                "--curve-secret-key",
                key,
                "--curve-allow",
                clients,
            ])
            .code(1)
            .stderr(predicate::str::contains("without CURVE"));
            return;
        }
        let others = dir.path().join("others");
        let others = others.to_str().expect("utf-8 path");
        run(&["keygen", "--out", clients, "client"]).success();
        run(&["keygen", "--out", others, "intruder"]).success();
        let (server_public, server_secret) = keygen();
        let client = dir.path().join("clients/client.key_secret");
        let intruder = dir.path().join("others/intruder.key_secret");
        let mut server = Proc::zmqio(&[
            "recv",
            "--type",
            "PULL",
            "--bind",
            "tcp://127.0.0.1:*",
            "--curve-server",
            "--curve-secret-key",
            &server_secret,
            "--curve-allow",
            clients,
            "--count",
            "1",
        ]);
        let ep = server.bound();
        // A client with the right server key but a certificate not in the directory: the
        // server refuses it, and both sides say so with the ZAP status.
        let mut refused = Proc::zmqio(&[
            "monitor",
            "--type",
            "PUSH",
            "--connect",
            &ep,
            "--curve-server-key",
            &server_public,
            "--curve-public-key",
            &cert_key(&intruder, "public-key"),
            "--curve-secret-key",
            &cert_key(&intruder, "secret-key"),
        ]);
        let line = server.stderr_until("HandshakeFailedAuth");
        assert!(line.contains("ZAP status 400"), "{line}");
        refused.stdout_until("HandshakeFailedAuth", "ZAP status 400");
        drop(refused);
        run(&[
            "send",
            "--type",
            "PUSH",
            "--connect",
            &ep,
            "--curve-server-key",
            &server_public,
            "--curve-public-key",
            &cert_key(&client, "public-key"),
            "--curve-secret-key",
            &cert_key(&client, "secret-key"),
            "welcome",
        ])
        .success();
        let (status, out, err) = server.finish();
        assert!(status.success(), "{err:?}");
        assert_eq!(out, vec!["welcome"], "the intruder's message never arrives");
        assert!(
            !err.iter().any(|l| l.contains("admits ANY client key")),
            "{err:?}"
        );
    });
}

#[test]
fn a_curve_server_without_an_allow_option_says_it_admits_any_client() {
    watchdog(60, || {
        if !has_curve() {
            return; // the refusal is checked by the CURVE tests above
        }
        let (_, server_secret) = keygen();
        let mut server = Proc::zmqio(&[
            "recv",
            "--type",
            "PULL",
            "--bind",
            "tcp://127.0.0.1:*",
            "--curve-server",
            "--curve-secret-key",
            &server_secret,
        ]);
        server.bound();
        server.stderr_until("admits ANY client key");
        server.interrupt();
        assert!(server.finish().0.success());
    });
}

#[test]
fn plain_server_admits_its_users_and_reports_a_wrong_password() {
    watchdog(90, || {
        let dir = tempfile::tempdir().expect("temp dir");
        let users = dir.path().join("users.txt");
        std::fs::write(
            &users,
            "# who may send\nalice:s3cret:with:colons\n\nbob:hunter2\n",
        )
        .expect("users file");
        let mut server = Proc::zmqio(&[
            "recv",
            "--type",
            "PULL",
            "--bind",
            "tcp://127.0.0.1:*",
            "--plain-server",
            "--plain-users-file",
            users.to_str().expect("utf-8 path"),
            "--plain-users",
            "carol:pw1,dave:pw2",
            "--count",
            "3",
        ]);
        let ep = server.bound();
        // A wrong password: the server refuses it, and both sides say so.
        let mut wrong = Proc::zmqio(&[
            "monitor",
            "--type",
            "PUSH",
            "--connect",
            &ep,
            "--plain",
            "alice:wrong",
        ]);
        let line = server.stderr_until("HandshakeFailedAuth");
        assert!(
            line.contains("ZAP status 400 (authentication refused)"),
            "{line}"
        );
        wrong.stdout_until("HandshakeFailedAuth", "ZAP status 400");
        drop(wrong);
        // A sender the server refuses (a wrong password, no security at all) says that what
        // it sent is not delivered, with status 1, instead of exiting 0 as if it were.
        for security in [&["--plain", "bob:wrong"][..], &[]] {
            let mut args = vec!["send", "--type", "PUSH", "--connect", &ep, "lost"];
            args.extend_from_slice(security);
            run(&args)
                .code(1)
                .stderr(predicate::str::contains("the handshake failed with"))
                .stderr(predicate::str::contains("not delivered"));
        }
        for (user, text) in [
            ("alice:s3cret:with:colons", "from alice"),
            ("bob:hunter2", "from bob"),
            ("dave:pw2", "from dave"),
        ] {
            run(&[
                "send",
                "--type",
                "PUSH",
                "--connect",
                &ep,
                "--plain",
                user,
                text,
            ])
            .success();
        }
        let (status, out, err) = server.finish();
        assert!(status.success(), "{err:?}");
        assert_eq!(out, vec!["from alice", "from bob", "from dave"]);
    });
}

#[test]
fn proxy_survives_a_client_that_left_before_its_reply() {
    watchdog(120, || {
        let mut proxy = Proc::zmqio(&[
            "proxy",
            "--frontend",
            "ROUTER:tcp://127.0.0.1:*",
            "--backend",
            "DEALER:tcp://127.0.0.1:*",
        ]);
        let front = proxy.bound();
        let back = proxy.stderr_until("bound ").replace("bound ", "");
        // No worker yet: the request waits in the proxy; the client gives up and leaves.
        run(&[
            "send",
            "--type",
            "REQ",
            "--connect",
            &front,
            "--timeout",
            "300",
            "--linger",
            "0",
            "early",
        ])
        .code(1)
        .stderr(predicate::str::contains("no reply within 300 ms"));
        // The worker answers the request of the departed client; that reply has nowhere to
        // go and is dropped, and the proxy goes on.
        let mut worker = Proc::zmqio(&[
            "recv",
            "--type",
            "REP",
            "--connect",
            &back,
            "--reply",
            "world",
        ]);
        assert_eq!(worker.stdout_line(), "early");
        run(&["send", "--type", "REQ", "--connect", &front, "hello"])
            .success()
            .stdout("world\n");
        for p in [&proxy, &worker] {
            p.interrupt();
        }
        for p in [proxy, worker] {
            let (status, _, err) = p.finish();
            assert!(status.success(), "{status:?} {err:?}");
        }
    });
}

#[test]
fn bench_reports_rates_and_latency() {
    watchdog(120, || {
        run(&[
            "bench",
            "--type",
            "push-pull",
            "--count",
            "2000",
            "--size",
            "100",
        ])
        .success()
        .stdout(predicate::str::contains("msgs/s").and(predicate::str::contains("MB/s")));
        run(&[
            "bench",
            "--type",
            "pub-sub",
            "--count",
            "2000",
            "--transport",
            "inproc",
        ])
        .success()
        .stdout(predicate::str::contains("msgs/s"));
        run(&["bench", "--type", "req-rep", "--count", "200"])
            .success()
            .stdout(predicate::str::contains("p50").and(predicate::str::contains("p99")));
    });
}

#[test]
fn bench_survives_a_closed_stdout_and_a_huge_count() {
    watchdog(120, || {
        // Nobody reads the report: not a panic, not an error. (The watchdog bounds the wait.)
        let mut child = Command::new(env!("CARGO_BIN_EXE_zmqio"))
            .args(["bench", "--type", "req-rep", "--count", "20"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("zmqio bench");
        drop(child.stdout.take());
        let output = child.wait_with_output().expect("zmqio bench");
        assert!(output.status.success(), "{output:?}");

        // The largest count runs (until Ctrl-C) instead of reserving room for every sample.
        let max = u64::MAX.to_string();
        let bench = Proc::zmqio(&["bench", "--type", "req-rep", "--count", &max]);
        // Long enough for the sockets to connect and the round trips to start.
        thread::sleep(Duration::from_millis(500));
        bench.interrupt();
        let (status, _, err) = bench.finish();
        assert_eq!(status.code(), Some(130), "{err:?}");
        assert!(
            err.iter().any(|l| l.contains("bench: interrupted")),
            "{err:?}"
        );
    });
}

#[test]
fn bad_arguments_exit_2_with_one_line_naming_the_argument() {
    watchdog(120, || {
        let key39 = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf";
        let cases: &[(&[&str], &str)] = &[
            (
                &["recv", "--type", "FOO", "--bind", "tcp://127.0.0.1:*"],
                "--type",
            ),
            (
                &[
                    "send",
                    "--type",
                    "SUB",
                    "--connect",
                    "tcp://127.0.0.1:5555",
                    "x",
                ],
                "--type",
            ),
            (
                &["recv", "--type", "PUSH", "--bind", "tcp://127.0.0.1:*"],
                "--type",
            ),
            (
                &["recv", "--type", "PULL", "--bind", "127.0.0.1:5555"],
                "--bind",
            ),
            (&["recv", "--type", "PULL", "--bind", "bogus://x"], "--bind"),
            // Well formed, but libzmq refuses the port (EINVAL).
            (
                &["recv", "--type", "PULL", "--bind", "tcp://127.0.0.1:99999"],
                "--bind",
            ),
            (
                &[
                    "send",
                    "--type",
                    "PUSH",
                    "--connect",
                    "tcp://127.0.0.1:5555x",
                    "x",
                ],
                "--connect",
            ),
            (&["recv", "--type", "PULL"], "--bind"),
            (&["recv", "--bind", "tcp://127.0.0.1:*"], "--type"),
            (
                &[
                    "send",
                    "--type",
                    "PUSH",
                    "--connect",
                    "tcp://127.0.0.1:5555",
                    "--curve-server-key",
                    key39,
                    "x",
                ],
                "--curve-server-key",
            ),
            (
                &[
                    "recv",
                    "--type",
                    "PULL",
                    "--bind",
                    "tcp://127.0.0.1:*",
                    "--subscribe",
                    "x",
                ],
                "--subscribe",
            ),
            (
                &[
                    "send",
                    "--type",
                    "PUSH",
                    "--connect",
                    "tcp://127.0.0.1:5555",
                    "--hex",
                    "zz",
                ],
                "[FRAME]",
            ),
            (
                &[
                    "send",
                    "--type",
                    "PUSH",
                    "--connect",
                    "tcp://127.0.0.1:5555",
                ],
                "FRAME",
            ),
            (
                &[
                    "proxy",
                    "--frontend",
                    "REQ:tcp://127.0.0.1:*",
                    "--backend",
                    "DEALER:tcp://127.0.0.1:*",
                ],
                "--frontend",
            ),
            (
                &[
                    "recv",
                    "--type",
                    "PULL",
                    "--bind",
                    "tcp://127.0.0.1:*",
                    "--plain",
                    "nopass",
                ],
                "--plain",
            ),
            (&["keygen", "--out", "/tmp"], "NAME"),
            (
                &[
                    "send",
                    "--type",
                    "PUSH",
                    "--connect",
                    "tcp://127.0.0.1:5555",
                    "--plain",
                    "alice:",
                    "x",
                ],
                "--plain",
            ),
            (
                &[
                    "recv",
                    "--type",
                    "PULL",
                    "--bind",
                    "tcp://127.0.0.1:*",
                    "--count",
                    "-1",
                ],
                "--count",
            ),
            (
                &[
                    "bench",
                    "--type",
                    "push-pull",
                    "--size",
                    "18446744073709551615",
                ],
                "--size",
            ),
            (
                &[
                    "recv",
                    "--type",
                    "PULL",
                    "--bind",
                    "tcp://127.0.0.1:*",
                    "--plain-server",
                ],
                "--plain-users",
            ),
            (
                &[
                    "recv",
                    "--type",
                    "PULL",
                    "--bind",
                    "tcp://127.0.0.1:*",
                    "--plain-server",
                    "--plain-users-file",
                    "/nonexistent/users.txt",
                ],
                "--plain-users-file",
            ),
            (
                &[
                    "recv",
                    "--type",
                    "PULL",
                    "--bind",
                    "tcp://127.0.0.1:*",
                    "--curve-allow",
                    "/tmp",
                ],
                "--curve-server",
            ),
        ];
        for (args, arg) in cases {
            let output = zmqio().args(*args).timeout(WAIT).output().expect("zmqio");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
            assert_eq!(
                stderr.lines().count(),
                1,
                "{args:?}: one line, got {stderr:?}"
            );
            assert!(
                stderr.contains(arg),
                "{args:?}: {stderr:?} does not name {arg}"
            );
            assert!(output.stdout.is_empty(), "{args:?}");
        }
    });
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    watchdog(60, || {
        for sub in ["recv", "send", "monitor", "proxy", "keygen", "bench"] {
            run(&[sub, "--help"]).success().stdout(
                predicate::str::contains("Examples:")
                    .and(predicate::str::contains(format!("zmqio {sub}"))),
            );
        }
        run(&["send", "--help"])
            .success()
            .stdout(predicate::str::contains("slow joiner"));
        // No command at all: the help, with the list of commands, as an error.
        run(&[])
            .code(2)
            .stderr(predicate::str::contains("Commands:").and(predicate::str::contains("send")));
    });
}
