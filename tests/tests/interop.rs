//! Interop: an independent ZeroMQ peer, pyzmq in a separate Python process
//! (`tests/interop/peer.py`), talks to zmqio sockets over tcp: REQ/REP, PUB/SUB,
//! DEALER/ROUTER and PUSH/PULL, each in both roles. Both sides exchange the same fixed script
//! (empty frames, 64 frames in one message, a 10 MB frame), DEALER/ROUTER also a burst of
//! 1,000 messages sent at once, and each side checks that exactly what the other sent arrives,
//! in order, and nothing more: a receiving side expects silence after the last message.
//!
//! pyzmq must be importable by `python3` (`pip install pyzmq`; CI installs it). If it is not,
//! every test here fails saying so: a missing peer is not a pass.

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use futures::{FutureExt, StreamExt};
use zmqio_core::Multipart;

/// How long the Python peer may take to finish after the Rust side is done.
const PEER_EXIT: Duration = Duration::from_secs(30);
/// Length of the big frame of the script.
const BIG_LEN: usize = 10 * 1024 * 1024;
/// Messages in the DEALER/ROUTER burst.
const BURST: usize = 1000;
/// How long a receiver listens for an extra message after the last one it expected (once the
/// peer has exited, so everything it sent is on its way).
const QUIET: Duration = Duration::from_millis(300);

/// The messages both sides exchange, in order (mirrors `script()` in `peer.py`).
fn script() -> Vec<Multipart> {
    let big: Vec<u8> = (0..BIG_LEN).map(|j| (j % 251) as u8).collect();
    let frames64: Vec<Vec<u8>> = (0..64)
        .map(|i| {
            if i % 3 == 0 {
                Vec::new()
            } else {
                format!("{i:02}").into_bytes()
            }
        })
        .collect();
    vec![
        Multipart::from(["hello"]),
        Multipart::from([""]),
        Multipart::from(["", "middle", ""]),
        Multipart::from(frames64),
        Multipart::from([(0..=255u8).collect::<Vec<u8>>()]),
        Multipart::from([b"big".to_vec(), big]),
        Multipart::from(["bye"]),
    ]
}

/// The burst DEALER/ROUTER exchange after the script, sent all at once (mirrors `burst()` in
/// `peer.py`): message `i` is `["burst", i in decimal, i % 50 bytes of value i % 256]`.
fn burst() -> Vec<Multipart> {
    (0..BURST)
        .map(|i| {
            Multipart::from([
                b"burst".to_vec(),
                i.to_string().into_bytes(),
                vec![(i % 256) as u8; i % 50],
            ])
        })
        .collect()
}

/// A short description of a message (big frames by length only).
fn describe(msg: &Multipart) -> String {
    let frames: Vec<String> = msg
        .iter()
        .map(|f| {
            if f.len() <= 16 {
                format!("{f:?}")
            } else {
                format!("<{} bytes>", f.len())
            }
        })
        .collect();
    format!("[{}]", frames.join(", "))
}

/// Panics unless `got` is exactly `want`, frame by frame.
fn same(got: &Multipart, want: &Multipart, what: &str) {
    assert!(
        got == want,
        "{what}: expected {}, got {}",
        describe(want),
        describe(got)
    );
}

/// Fails the test, with the reason, unless `python3` can import pyzmq.
fn require_pyzmq() {
    match Command::new("python3")
        .args(["-c", "import zmq"])
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "pyzmq is not importable by python3 (install it: python3 -m pip install pyzmq; CI \
             does): {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        ),
        Err(e) => panic!("cannot run python3 for the pyzmq interop peer: {e}"),
    }
}

/// The running Python peer.
struct Peer {
    role: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Peer {
    /// Starts `peer.py ROLE ENDPOINT`.
    fn spawn(role: &'static str, endpoint: &str) -> Self {
        require_pyzmq();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/peer.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(role)
            .arg(endpoint)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start python3 interop/peer.py");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.unbounded_send(line);
            }
        });
        let stdin = child.stdin.take();
        Self {
            role,
            child,
            stdin,
            lines,
        }
    }

    /// The next line the peer printed.
    async fn line(&mut self) -> String {
        self.lines
            .next()
            .await
            .unwrap_or_else(|| panic!("peer {} closed its stdout", self.role))
    }

    /// Writes a line to the peer's stdin.
    fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to the peer");
        stdin.flush().expect("flush to the peer");
    }

    /// Runs `fut` (a read that the peer's next message completes), failing at once with the
    /// peer's reason if the peer fails first (it found a mismatch), instead of waiting for
    /// the watchdog. A peer that exits successfully (a sender done sending) changes nothing.
    async fn watch<F: Future>(&mut self, fut: F) -> F::Output {
        futures::pin_mut!(fut);
        let first = {
            let child = &mut self.child;
            let exited = async {
                loop {
                    if let Some(status) = child.try_wait().expect("wait for the peer") {
                        return status;
                    }
                    async_io::Timer::after(Duration::from_millis(20)).await;
                }
            };
            futures::pin_mut!(exited);
            match futures::future::select(fut.as_mut(), exited).await {
                futures::future::Either::Left((out, _)) => Ok(out),
                futures::future::Either::Right((status, _)) => Err(status),
            }
        };
        match first {
            Ok(out) => out,
            Err(status) if status.success() => fut.await,
            Err(status) => {
                let mut stderr = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut stderr);
                }
                panic!("peer {} failed ({status}): {}", self.role, stderr.trim())
            }
        }
    }

    /// Waits for the peer to exit and fails the test unless it succeeded (it checks what it
    /// received itself); kills it if it takes longer than [`PEER_EXIT`].
    async fn finish(mut self) {
        drop(self.stdin.take());
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the peer") {
                break Some(status);
            }
            if start.elapsed() > PEER_EXIT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            async_io::Timer::after(Duration::from_millis(5)).await;
        };
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        match status {
            Some(s) if s.success() => {}
            Some(s) => panic!("peer {} failed ({s}): {}", self.role, stderr.trim()),
            None => panic!(
                "peer {} still running after {PEER_EXIT:?}; killed: {}",
                self.role,
                stderr.trim()
            ),
        }
    }
}

/// `Some(output)` if `fut` finishes within `d`, else `None`.
async fn timeout<F: Future>(d: Duration, fut: F) -> Option<F::Output> {
    let timer = async_io::Timer::after(d);
    futures::pin_mut!(fut);
    futures::pin_mut!(timer);
    match futures::future::select(fut, timer).await {
        futures::future::Either::Left((out, _)) => Some(out),
        futures::future::Either::Right(_) => None,
    }
}

/// Fails if anything more arrives at `s` within [`QUIET`]: an extra or duplicated message.
async fn expect_silence(s: &mut zmqio_core::ZmqStream, what: &str) {
    async_io::Timer::after(QUIET).await;
    if let Some(extra) = s.read().now_or_never() {
        panic!("{what}: unexpected extra message {extra:?}");
    }
}

/// The interop tests on one runtime.
macro_rules! interop_tests {
    ($module:ident, $zmqio:ident, $block_on:expr) => {
        mod $module {
            use super::*;
            use $zmqio as zmqio;

            fn run<F: Future<Output = ()> + Send>(name: &str, fut: F) {
                #[allow(clippy::redundant_closure_call)]
                zmqio_tests::with_watchdog(name, zmqio_tests::WATCHDOG, fut, |f| ($block_on)(f))
            }

            async fn bound(kind: zmq::SocketType) -> zmqio::ZmqStream {
                zmqio::create_zmq_stream(kind)
                    .bind("tcp://127.0.0.1:*")
                    .await
                    .unwrap()
            }

            fn endpoint(s: &zmqio::ZmqStream) -> String {
                s.transport().bindings().into_iter().next().unwrap()
            }

            /// pyzmq REQ -> zmqio REP, which checks each request and echoes it.
            #[test]
            fn python_req_zmqio_rep() {
                run("python_req_zmqio_rep", async {
                    let mut rep = bound(zmq::REP).await;
                    let mut peer = Peer::spawn("req", &endpoint(&rep));
                    for (i, want) in script().iter().enumerate() {
                        let got = peer.watch(rep.read()).await.unwrap();
                        same(&got, want, &format!("request {i}"));
                        rep.write(got).unwrap();
                    }
                    peer.finish().await;
                    expect_silence(&mut rep, "after the last request").await;
                    rep.close();
                });
            }

            /// zmqio REQ -> pyzmq REP, which checks each request and echoes it.
            #[test]
            fn zmqio_req_python_rep() {
                run("zmqio_req_python_rep", async {
                    let mut req = bound(zmq::REQ).await;
                    let mut peer = Peer::spawn("rep", &endpoint(&req));
                    for (i, msg) in script().into_iter().enumerate() {
                        req.write(msg.clone()).unwrap();
                        let got = peer.watch(req.read()).await.unwrap();
                        same(&got, &msg, &format!("reply {i}"));
                    }
                    peer.finish().await;
                    expect_silence(&mut req, "after the last reply").await;
                    req.close();
                });
            }

            /// pyzmq DEALER -> zmqio ROUTER (with `RouterMandatory`), which checks each request
            /// and echoes it: the script one at a time, then the burst, sent by the peer all at
            /// once.
            #[test]
            fn python_dealer_zmqio_router() {
                run("python_dealer_zmqio_router", async {
                    let mut router = bound(zmq::ROUTER).await;
                    // Without it, libzmq's ROUTER silently drops an echo for a peer whose
                    // pipe is (or looks) full, which a burst can make happen; with it, zmqio
                    // queues the echo instead.
                    router
                        .transport()
                        .setsockopt(zmqio::opt::RouterMandatory, true)
                        .unwrap();
                    let mut peer = Peer::spawn("dealer", &endpoint(&router));
                    for (i, want) in script().iter().chain(&burst()).enumerate() {
                        let got = peer.watch(router.read()).await.unwrap();
                        let body: Multipart = got.iter().skip(1).cloned().collect();
                        same(&body, want, &format!("request {i}"));
                        router.write(got).unwrap();
                    }
                    peer.finish().await;
                    expect_silence(&mut router, "after the last request").await;
                    router.close();
                });
            }

            /// zmqio DEALER -> pyzmq ROUTER, which checks each request and echoes it: the
            /// script one at a time, then the burst, written all at once.
            #[test]
            fn zmqio_dealer_python_router() {
                run("zmqio_dealer_python_router", async {
                    let mut dealer = bound(zmq::DEALER).await;
                    let mut peer = Peer::spawn("router", &endpoint(&dealer));
                    for (i, msg) in script().into_iter().enumerate() {
                        dealer.write(msg.clone()).unwrap();
                        let got = peer.watch(dealer.read()).await.unwrap();
                        same(&got, &msg, &format!("reply {i}"));
                    }
                    for msg in burst() {
                        dealer.write(msg).unwrap();
                    }
                    for (i, want) in burst().iter().enumerate() {
                        let got = peer.watch(dealer.read()).await.unwrap();
                        same(&got, want, &format!("burst reply {i}"));
                    }
                    peer.finish().await;
                    expect_silence(&mut dealer, "after the last reply").await;
                    dealer.close();
                });
            }

            /// pyzmq PUSH -> zmqio PULL, which checks the script.
            #[test]
            fn python_push_zmqio_pull() {
                run("python_push_zmqio_pull", async {
                    let mut pull = bound(zmq::PULL).await;
                    let mut peer = Peer::spawn("push", &endpoint(&pull));
                    for (i, want) in script().iter().enumerate() {
                        let got = peer.watch(pull.read()).await.unwrap();
                        same(&got, want, &format!("message {i}"));
                    }
                    peer.finish().await;
                    expect_silence(&mut pull, "after the last message").await;
                    pull.close();
                });
            }

            /// zmqio PUSH -> pyzmq PULL, which checks the script.
            #[test]
            fn zmqio_push_python_pull() {
                run("zmqio_push_python_pull", async {
                    let push = bound(zmq::PUSH).await;
                    let peer = Peer::spawn("pull", &endpoint(&push));
                    for msg in script() {
                        push.write(msg).unwrap();
                    }
                    push.drain().await.unwrap();
                    peer.finish().await;
                    push.close();
                });
            }

            /// pyzmq PUB -> zmqio SUB (subscribed to everything), which checks the script
            /// after the "sync" messages the publisher sends until it is told READY.
            #[test]
            fn python_pub_zmqio_sub() {
                run("python_pub_zmqio_sub", async {
                    let mut sub = bound(zmq::SUB).await;
                    sub.transport().subscribe(b"").unwrap();
                    let mut peer = Peer::spawn("pub", &endpoint(&sub));
                    let sync = Multipart::from(["sync"]);
                    same(
                        &peer.watch(sub.read()).await.unwrap(),
                        &sync,
                        "first message",
                    );
                    peer.say("READY");
                    let mut got = peer.watch(sub.read()).await.unwrap();
                    while got == sync {
                        got = peer.watch(sub.read()).await.unwrap();
                    }
                    for (i, want) in script().iter().enumerate() {
                        if i > 0 {
                            got = peer.watch(sub.read()).await.unwrap();
                        }
                        same(&got, want, &format!("message {i}"));
                    }
                    peer.finish().await;
                    expect_silence(&mut sub, "after the last message").await;
                    sub.close();
                });
            }

            /// zmqio PUB -> pyzmq SUB: "sync" until the subscriber prints READY (it is
            /// connected and subscribed), then the script, which the subscriber checks.
            #[test]
            fn zmqio_pub_python_sub() {
                run("zmqio_pub_python_sub", async {
                    let publ = bound(zmq::PUB).await;
                    let mut peer = Peer::spawn("sub", &endpoint(&publ));
                    loop {
                        publ.write(["sync"]).unwrap();
                        match timeout(Duration::from_millis(10), peer.line()).await {
                            Some(line) if line == "READY" => break,
                            Some(line) => panic!("peer said {line:?}, expected READY"),
                            None => {}
                        }
                    }
                    for msg in script() {
                        publ.write(msg).unwrap();
                    }
                    publ.drain().await.unwrap();
                    peer.finish().await;
                    publ.close();
                });
            }
        }
    };
}

interop_tests!(tokio_multi_thread, zmqio_tokio, |f| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
});

interop_tests!(smol, zmqio_smol, ::smol::block_on);
