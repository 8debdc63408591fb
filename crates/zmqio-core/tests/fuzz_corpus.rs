//! Replays the committed fuzz corpora, `fuzz/corpus/<target>/`, through the checks the fuzz
//! targets run (`zmqio_core::fuzzing`), on stable Rust, as part of a plain `cargo test`.
//!
//! Only the files git tracks are replayed: what a local `cargo fuzz run` added and nobody
//! committed is not part of the test (outside a git checkout, every file of the folder is
//! replayed, and the test says so). Every input must be one the target really runs: an
//! `engine_ops` input that does not decode into an [`EngineCase`] fails the replay instead
//! of passing without running anything. Where `fuzz/` is absent (the packaged crate ships
//! without it), the replays skip, printing why.
//!
//! The seeds of the corpora are defined here too ([`seeds`]): `seeds_pass` runs them from
//! code, and `cargo test -p zmqio-core --test fuzz_corpus -- --ignored write_seed_corpus`
//! (re)writes them as `fuzz/corpus/<target>/seed-<name>` files, e.g. after a change of the
//! input encoding.

use std::fs;
use std::io::ErrorKind;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;

use zmqio_core::fuzzing::engine::MAX_FRAME_LEN;
use zmqio_core::fuzzing::{
    self, EngineCase, Errno, Frames, Limit, Op, ScriptCall, Scripted, SocketKind, Target, TARGETS,
};
use zmqio_core::monitor::MonitorEvent;

/// The repository root (where `fuzz/` lives in a checkout).
fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `fuzz/` folder, or `None` (after printing why the caller skips) when it is absent.
fn fuzz_dir() -> Option<PathBuf> {
    let dir = repo_root().join("fuzz");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "skipped: {} is absent (a packaged crate has no fuzz corpus); run the tests from \
             a checkout of the repository to replay it",
            dir.display()
        );
        None
    }
}

fn corpus_dir(target: &str) -> PathBuf {
    repo_root().join("fuzz/corpus").join(target)
}

/// The corpus files of `target` that git tracks, sorted; every file of the folder outside a
/// git checkout (saying so).
fn corpus_files(target: &str) -> Vec<PathBuf> {
    let root = repo_root();
    let dir = corpus_dir(target);
    let tracked = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["ls-files", "-z", "--"])
        .arg(Path::new("fuzz/corpus").join(target))
        .output();
    let mut files: Vec<PathBuf> = match tracked {
        Ok(out) if out.status.success() => out
            .stdout
            .split(|&b| b == 0)
            .filter(|name| !name.is_empty())
            .map(|name| root.join(String::from_utf8_lossy(name).as_ref()))
            .collect(),
        other => {
            println!(
                "not a git checkout ({}): replaying every file of {}, tracked or not",
                match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                    Err(e) => e.to_string(),
                },
                dir.display()
            );
            fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|entry| entry.expect("a directory entry").path())
                .filter(|path| path.is_file())
                .collect()
        }
    };
    files.sort();
    files
}

/// Whether `data` is an input the target runs in full: `engine_ops` ignores input that does
/// not decode into an [`EngineCase`]; the other targets take any bytes.
fn runs_in_full(target: &str, data: &[u8]) -> bool {
    match target {
        "engine_ops" => EngineCase::from_fuzz_input(data).is_some(),
        _ => true,
    }
}

/// Runs `check` on every tracked file of the target's corpus; names the file that fails or
/// that the target would not run.
fn replay(target: &str) {
    let check = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, check)| *check)
        .unwrap_or_else(|| panic!("no fuzz target {target}"));
    if fuzz_dir().is_none() {
        return;
    }
    let files = corpus_files(target);
    assert!(
        !files.is_empty(),
        "{} has no inputs",
        corpus_dir(target).display()
    );
    let mut replayed = 0;
    for path in files {
        let data = match fs::read(&path) {
            Ok(data) => data,
            // A fuzzer running on the corpus meanwhile replaces inputs with smaller ones.
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        assert!(
            runs_in_full(target, &data),
            "{target}: {} does not decode, so the target would run nothing; remove it",
            path.display()
        );
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            panic!("{target}: {} fails", path.display());
        }
        replayed += 1;
    }
    assert!(replayed > 0, "{target}: no input was replayed");
}

#[test]
fn engine_ops_corpus() {
    replay("engine_ops");
}

#[test]
fn monitor_decode_corpus() {
    replay("monitor_decode");
}

#[test]
fn endpoint_corpus() {
    replay("endpoint");
}

#[test]
fn version_corpus() {
    replay("version");
}

/// Every target has its replay test above and a fuzz target file.
#[test]
fn every_target_is_replayed() {
    let names: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        ["engine_ops", "monitor_decode", "endpoint", "version"]
    );
    let Some(fuzz) = fuzz_dir() else {
        return;
    };
    for name in names {
        let target = fuzz.join("fuzz_targets").join(format!("{name}.rs"));
        assert!(target.is_file(), "{} is missing", target.display());
    }
}

// ----- seeds -----

fn engine(name: &'static str, socket: SocketKind, ops: Vec<Op>) -> Seed {
    Seed {
        target: "engine_ops",
        name,
        data: EngineCase { socket, ops }.to_fuzz_input(),
    }
}

fn frames(lens: &[u32]) -> Op {
    Op::Write(Frames(lens.to_vec()))
}

fn ready(writable: Option<bool>, incoming: u8, budget: u8) -> Op {
    Op::Readiness {
        writable,
        incoming,
        budget,
    }
}

fn monitor(name: &'static str, code: u16, value: u32, endpoint: &[u8]) -> Seed {
    let mut data = vec![1, 6];
    data.extend_from_slice(&code.to_ne_bytes());
    data.extend_from_slice(&value.to_ne_bytes());
    data.extend_from_slice(endpoint);
    Seed {
        target: "monitor_decode",
        name,
        data,
    }
}

fn text(target: &'static str, name: &'static str, text: &str) -> Seed {
    Seed {
        target,
        name,
        data: text.as_bytes().to_vec(),
    }
}

/// One named seed input of a target.
struct Seed {
    target: &'static str,
    name: &'static str,
    data: Vec<u8>,
}

/// The seed inputs: small, each exercising one path on purpose.
fn seeds() -> Vec<Seed> {
    use Op::*;
    let send = |result| Script(ScriptCall::Send, result);
    let recv = |result| Script(ScriptCall::Recv, result);
    vec![
        engine(
            "two-read-pauses",
            SocketKind::Pair,
            vec![
                SetReadBackpressure(true),
                ready(None, 2, 8),
                PauseReading,
                SetReadBackpressure(false),
                ready(None, 1, 8),
                ResumeReading,
                ready(None, 0, 8),
                Poll(1),
                CloseKeepingReceived,
                ready(None, 1, 8),
                Poll(0),
            ],
        ),
        engine(
            "pause-taken-inline",
            SocketKind::Dealer,
            vec![
                SetWriteLimits {
                    high: Some(Limit::Small(4)),
                    low: Some(Limit::Small(0)),
                },
                SetWritable(false),
                ready(None, 1, 8),
                frames(&[8]),
                TakePauseWriting,
                ready(Some(true), 0, 8),
                SetWritable(false),
                frames(&[8]),
                TakePauseWriting,
                Poll(0),
            ],
        ),
        engine(
            "queue-then-flush",
            SocketKind::Dealer,
            vec![
                SetWritable(false),
                frames(&[5, 3]),
                frames(&[100]),
                frames(&[]),
                ready(Some(true), 0, 8),
                Poll(0),
            ],
        ),
        engine(
            "watermarks-cross",
            SocketKind::Push,
            vec![
                SetWriteLimits {
                    high: Some(Limit::Small(10)),
                    low: Some(Limit::Small(4)),
                },
                SetWritable(false),
                frames(&[8]),
                frames(&[8]),
                Poll(0),
                ready(Some(true), 0, 1),
                Poll(0),
                SetWriteLimits {
                    high: Some(Limit::Small(3)),
                    low: None,
                },
                SetWriteLimits {
                    high: Some(Limit::Small(1)),
                    low: Some(Limit::Small(2)),
                },
                SetWriteLimits {
                    high: None,
                    low: Some(Limit::Max),
                },
                Poll(0),
            ],
        ),
        engine(
            "multipart-blocked-midway",
            SocketKind::Dealer,
            vec![
                send(Scripted::Pass),
                send(Scripted::Fail(Errno::Again)),
                frames(&[1, 2, 3]),
                frames(&[4]),
                send(Scripted::Fail(Errno::Intr)),
                ready(None, 0, 4),
                Poll(0),
            ],
        ),
        engine(
            "refused-send-with-pollout",
            SocketKind::Router,
            vec![
                SetWritable(false),
                frames(&[7]),
                send(Scripted::Fail(Errno::Again)),
                ready(Some(true), 0, 4),
                ready(None, 0, 4),
                Poll(0),
            ],
        ),
        engine(
            "receive-budget",
            SocketKind::Pair,
            vec![
                Incoming(2),
                ready(None, 3, 2),
                Poll(1),
                ready(None, 0, 0),
                ready(None, 0, 255),
                Poll(0),
            ],
        ),
        engine(
            "receive-errors",
            SocketKind::Dealer,
            vec![
                recv(Scripted::Fail(Errno::Intr)),
                recv(Scripted::Pass),
                recv(Scripted::Fail(Errno::Fsm)),
                recv(Scripted::Fail(Errno::Again)),
                ready(None, 3, 8),
                PauseReading,
                Incoming(0),
                ready(None, 0, 8),
                ResumeReading,
                ready(None, 0, 8),
                Poll(0),
                recv(Scripted::Fail(Errno::Fsm)),
                ready(None, 1, 8),
                Poll(0),
            ],
        ),
        engine(
            "close-flushes",
            SocketKind::Push,
            vec![
                SetWritable(false),
                frames(&[10, 0]),
                Incoming(1),
                ready(None, 0, 8),
                Close,
                Poll(0),
                frames(&[1]),
                ready(Some(true), 0, 8),
                Poll(0),
                TakeProgress,
                TakeBackend,
                ready(None, 1, 8),
                Poll(0),
            ],
        ),
        engine(
            "close-with-linger",
            SocketKind::Dealer,
            vec![
                SetWritable(false),
                frames(&[10, 0]),
                frames(&[3]),
                CloseWithLinger(50),
                TakeProgress,
                ready(None, 0, 8),
                LingerExpired,
                Poll(0),
                LingerExpired,
                TakeBackend,
            ],
        ),
        engine(
            "close-with-linger-zero",
            SocketKind::Push,
            vec![
                SetWritable(false),
                frames(&[0]),
                frames(&[0]),
                CloseWithLinger(0),
                Poll(0),
                TakeBackend,
            ],
        ),
        engine(
            "router-unroutable",
            SocketKind::Router,
            vec![
                send(Scripted::Fail(Errno::HostUnreach)),
                frames(&[4, 5]),
                SetWritable(false),
                frames(&[4, 1]),
                frames(&[4, 2]),
                frames(&[4, 3]),
                send(Scripted::Fail(Errno::HostUnreach)),
                send(Scripted::Pass),
                send(Scripted::Fail(Errno::HostUnreach)),
                ready(Some(true), 0, 8),
                Poll(0),
                TakeProgress,
            ],
        ),
        engine(
            "raised-limits-are-progress",
            SocketKind::Push,
            vec![
                SetWritable(false),
                frames(&[100]),
                TakeProgress,
                SetWriteLimits {
                    high: Some(Limit::Small(50)),
                    low: Some(Limit::Small(10)),
                },
                TakeProgress,
                SetWriteLimits {
                    high: Some(Limit::Medium(1000)),
                    low: Some(Limit::Small(200)),
                },
                TakeProgress,
                Poll(0),
            ],
        ),
        engine(
            // The bug the model test found: `set_write_limits` after the transport was lost
            // while writing was paused emitted `ResumeWriting` after `ConnectionLost`.
            "limits-after-abort-while-paused",
            SocketKind::Push,
            vec![
                SetWritable(false),
                frames(&[65537]),
                Abort,
                SetWriteLimits {
                    high: None,
                    low: None,
                },
                Poll(0),
            ],
        ),
        engine(
            "subscriptions",
            SocketKind::Sub,
            vec![
                Subscribe(1),
                Subscribe(1),
                Script(ScriptCall::Subscription, Scripted::Fail(Errno::Intr)),
                Subscribe(2),
                Script(ScriptCall::Subscription, Scripted::Fail(Errno::Inval)),
                Unsubscribe(1),
                Unsubscribe(1),
                NoteSubscription(3, true),
                Unsubscribe(4),
                Close,
                Subscribe(2),
                Subscribe(0),
            ],
        ),
        engine(
            "subscribe-on-non-sub",
            SocketKind::Pub,
            vec![Subscribe(0), Unsubscribe(0), NoteSubscription(1, true)],
        ),
        engine(
            "endpoints",
            SocketKind::Router,
            vec![
                Bind(0),
                Bind(0),
                Bind(1),
                Bind(1),
                Unbind(Target::Known(0)),
                Unbind(Target::Fixed(0)),
                Connect(6),
                Connect(7),
                Connect(8),
                Connect(3),
                Disconnect(Target::Known(0)),
                Disconnect(Target::Known(0)),
                Script(ScriptCall::Bind, Scripted::Fail(Errno::AddrInUse)),
                Bind(2),
                Script(ScriptCall::Connect, Scripted::Fail(Errno::Intr)),
                Connect(2),
                Abort,
                Bind(3),
                Unbind(Target::Known(1)),
            ],
        ),
        engine(
            "fatal-send",
            SocketKind::Push,
            vec![
                send(Scripted::Fail(Errno::Term)),
                frames(&[1]),
                Poll(0),
                frames(&[1]),
                Abort,
                Close,
            ],
        ),
        engine(
            "fatal-mid-flush",
            SocketKind::Dealer,
            vec![
                SetWriteLimits {
                    high: Some(Limit::Small(4)),
                    low: None,
                },
                SetWritable(false),
                frames(&[3]),
                frames(&[3, 3]),
                frames(&[3]),
                send(Scripted::Pass),
                send(Scripted::Pass),
                send(Scripted::Fail(Errno::HostUnreach)),
                ready(Some(true), 0, 8),
                Poll(0),
            ],
        ),
        engine(
            "events-errors",
            SocketKind::Pair,
            vec![
                Script(ScriptCall::Events, Scripted::Fail(Errno::Intr)),
                ready(None, 1, 8),
                SocketEvent {
                    code: MonitorEvent::Accepted.code(),
                    value: 9,
                },
                Script(ScriptCall::Events, Scripted::Fail(Errno::Term)),
                ready(None, 1, 8),
                SocketEvent { code: 1, value: 1 },
                Poll(0),
                TakeBackend,
                TakeBackend,
                ready(Some(true), 1, 8),
            ],
        ),
        engine(
            "user-fatal-and-abort",
            SocketKind::Dealer,
            vec![
                Incoming(0),
                ready(None, 0, 8),
                Fatal(Errno::MThread),
                Fatal(Errno::Term),
                Abort,
                Poll(2),
                Poll(0),
            ],
        ),
        engine(
            "large-frames",
            SocketKind::Push,
            vec![
                SetWritable(false),
                frames(&[MAX_FRAME_LEN as u32; 64]),
                frames(&[0; 64]),
                frames(&[4096, 4097, 16, 17, MAX_FRAME_LEN as u32 - 1]),
                ready(Some(true), 0, 1),
                Poll(0),
            ],
        ),
        monitor(
            "accepted",
            MonitorEvent::Accepted.code(),
            7,
            b"tcp://127.0.0.1:5555",
        ),
        monitor(
            "handshake-failed",
            MonitorEvent::HandshakeFailedProtocol.code(),
            0x1000_0001,
            b"tcp://[::1]:1",
        ),
        monitor("unknown-code", 0x8000, 0, b""),
        monitor("invalid-utf8", 1, 0, b"tcp://\xff\xfe:1"),
        Seed {
            target: "monitor_decode",
            name: "three-frames",
            data: vec![2, 6, 1, 0, 0, 0, 0, 0, 3, b'a', b'b', b'c', b'x'],
        },
        Seed {
            target: "monitor_decode",
            name: "long-head",
            data: vec![1, 8, 0x20, 0, 0, 0, 0, 0, 0, 0, b'x'],
        },
        Seed {
            target: "monitor_decode",
            name: "one-frame",
            data: vec![0, 1, 0, 0, 0, 0, 0],
        },
        text("endpoint", "ipv4", "tcp://127.0.0.1:5555"),
        text("endpoint", "ipv6-zone", "tcp://[fe80::1%eth0]:5555"),
        text("endpoint", "name", "tcp://localhost:5555"),
        text("endpoint", "bracketed-name", "tcp://[localhost]:1"),
        text("endpoint", "wildcard", "tcp://*:5555"),
        text("endpoint", "source-address", "tcp://eth0;example.com:80"),
        text("endpoint", "odd-port", "tcp://localhost:5555x"),
        text("endpoint", "ipv4-shorthand", "tcp://127.1:5555"),
        text("endpoint", "nul", "inproc://a\0b"),
        text("endpoint", "ipc", "ipc:///tmp/sock"),
        text("version", "final", "0.1.0"),
        text("version", "rc", "1.2.3-rc.5"),
        text("version", "alpha", "1.2.3-alpha"),
        text("version", "zero-serial", "1.2.3-beta.0"),
        text("version", "leading-zero", "01.2.3"),
        text("version", "overflow", "4294967296.0.0"),
        text("version", "build-metadata", "1.2.3+build.5"),
        text(
            "version",
            "max",
            "4294967295.4294967295.4294967295-rc.4294967295",
        ),
    ]
}

/// Every seed passes its target's check.
#[test]
fn seeds_pass() {
    for seed in seeds() {
        let check = TARGETS
            .iter()
            .find(|(name, _)| *name == seed.target)
            .map(|(_, check)| *check)
            .unwrap_or_else(|| panic!("no fuzz target {}", seed.target));
        if catch_unwind(AssertUnwindSafe(|| check(&seed.data))).is_err() {
            panic!("seed {}/{} fails", seed.target, seed.name);
        }
    }
}

/// The engine seeds decode to what they were built from.
#[test]
fn engine_seeds_decode() {
    for seed in seeds().iter().filter(|s| s.target == "engine_ops") {
        let case = EngineCase::from_fuzz_input(&seed.data).expect("a seed decodes");
        assert_eq!(case.to_fuzz_input(), seed.data, "{}", seed.name);
        fuzzing::engine::run(&case);
    }
}

/// Writes the seeds to `fuzz/corpus/<target>/seed-<name>`.
#[test]
#[ignore = "writes files: run on purpose to refresh the seed corpus"]
fn write_seed_corpus() {
    for seed in seeds() {
        let dir = corpus_dir(seed.target);
        fs::create_dir_all(&dir).expect("corpus directory");
        let path = dir.join(format!("seed-{}", seed.name));
        fs::write(&path, &seed.data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}
