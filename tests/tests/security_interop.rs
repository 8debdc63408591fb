//! Security interop with pyzmq (`tests/interop/curve_peer.py`): certificate files written by
//! pyzmq's `zmq.auth` read by zmqio and the other way round, then CURVE connections between
//! a pyzmq peer and a zmqio peer in both roles, each side's authenticator admitting the
//! other's certificate from a directory.
//!
//! pyzmq must be importable by `python3` (CI installs it); if it is not, the tests fail
//! saying so. Where the linked libzmq has no CURVE, the connection tests check zmqio's loud
//! refusal instead (pyzmq's wheels have CURVE, so the certificate tests still run).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zmqio::auth::{load_certificates, z85_encode_key, Certificate, CurveAllow};
use zmqio::{opt, Error, MonitorEvent, Multipart};
use zmqio_tokio as zmqio;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/curve_peer.py");
/// How long a pyzmq peer may run.
const PEER_LIMIT: Duration = Duration::from_secs(40);

/// Whether the linked libzmq has CURVE. With `ZMQIO_REQUIRE_CURVE` set (CI's leg on the
/// system libzmq), a libzmq without CURVE fails the test instead of testing the refusal.
fn has_curve() -> bool {
    let curve = zmq::has("curve") == Some(true);
    assert!(
        curve || std::env::var_os("ZMQIO_REQUIRE_CURVE").is_none(),
        "ZMQIO_REQUIRE_CURVE is set, but the linked libzmq has no CURVE"
    );
    curve
}

fn run<F: std::future::Future + Send>(name: &str, fut: F) -> F::Output {
    zmqio_tests::with_watchdog(name, zmqio_tests::WATCHDOG, fut, |f| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(f)
    })
}

/// A fresh, empty directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zmqio-sec-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn subdir(dir: &Path, name: &str) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Runs `curve_peer.py ARGS` to completion; its stdout lines, or a failure with its reason.
fn py(args: &[&str]) -> Vec<String> {
    let out = Command::new("python3")
        .arg(SCRIPT)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 for the pyzmq peer: {e}"));
    assert!(
        out.status.success(),
        "curve_peer.py {args:?} failed (is pyzmq installed? python3 -m pip install pyzmq): {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The value of the line `name value`.
fn field(lines: &[String], name: &str) -> String {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
        .to_owned()
}

/// A running pyzmq peer.
struct Peer {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Peer {
    fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new("python3")
            .arg(SCRIPT)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start python3 curve_peer.py");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self { child, lines }
    }

    /// The next line the peer printed (the peer ends itself within its alarm).
    async fn line(&mut self) -> String {
        let start = Instant::now();
        loop {
            match self.lines.try_recv() {
                Ok(line) => return line,
                Err(std::sync::mpsc::TryRecvError::Empty) if start.elapsed() < PEER_LIMIT => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(_) => panic!("the peer printed nothing: {}", self.stderr()),
            }
        }
    }

    /// Ends the peer (if it still runs) and returns what it printed on stderr.
    fn stderr(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }

    /// Waits for the peer to exit successfully.
    async fn finish(mut self) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "peer failed ({status}): {}",
                    self.stderr()
                );
                return;
            }
            assert!(start.elapsed() < PEER_LIMIT, "peer hung: {}", self.stderr());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The refusal where libzmq has no CURVE.
fn assert_curve_refusal<T: std::fmt::Debug>(r: Result<T, Error>) {
    match r {
        Err(Error::NotSupported(m)) => assert!(m.contains("CURVE is missing"), "{m}"),
        other => panic!("expected the loud CURVE refusal, got {other:?}"),
    }
}

/// pyzmq's certificates read by zmqio, and zmqio's read by pyzmq, key for key.
#[test]
fn certificate_files_written_by_one_are_read_by_the_other() {
    let dir = scratch("certs");
    let from_py = subdir(&dir, "py");
    for name in ["server", "client"] {
        py(&["create", path(&from_py), name]);
        let secret_file = from_py.join(format!("{name}.key_secret"));
        let public_file = from_py.join(format!("{name}.key"));
        let theirs = py(&["load", path(&secret_file)]);
        let ours = Certificate::load(&secret_file).unwrap();
        assert_eq!(ours.public_z85(), field(&theirs, "public"));
        assert_eq!(
            z85_encode_key(&ours.secret_key.unwrap()),
            field(&theirs, "secret")
        );
        let public = Certificate::load(&public_file).unwrap();
        assert_eq!(public, ours.public());
        assert_eq!(field(&py(&["load", path(&public_file)]), "secret"), "None");
    }
    // Every public certificate of the directory, as both read it.
    let mut ours: Vec<String> = load_certificates(&from_py)
        .unwrap()
        .iter()
        .map(z85_encode_key)
        .collect();
    let mut theirs: Vec<String> = py(&["keys", path(&from_py)])
        .iter()
        .map(|l| l.strip_prefix("key ").unwrap().to_owned())
        .collect();
    ours.sort();
    theirs.sort();
    assert_eq!((ours.len(), ours), (2, theirs));

    // zmqio's files, read by pyzmq. Without CURVE, zmqio cannot make keys, so it writes
    // pyzmq's keys anew (with metadata), which tests the format all the same.
    let from_rs = subdir(&dir, "rs");
    let mut cert = if has_curve() {
        Certificate::generate().unwrap()
    } else {
        assert_curve_refusal(Certificate::generate());
        Certificate::load(from_py.join("client.key_secret")).unwrap()
    };
    cert.metadata = vec![("name".into(), "zmqio test".into())];
    cert.save_public(from_rs.join("mine.key")).unwrap();
    cert.save_secret(from_rs.join("mine.key_secret")).unwrap();
    let theirs = py(&["load", path(&from_rs.join("mine.key_secret"))]);
    assert_eq!(field(&theirs, "public"), cert.public_z85());
    assert_eq!(
        field(&theirs, "secret"),
        z85_encode_key(&cert.secret_key.unwrap())
    );
    let theirs = py(&["load", path(&from_rs.join("mine.key"))]);
    assert_eq!(field(&theirs, "secret"), "None");
    assert_eq!(
        py(&["keys", path(&from_rs)]),
        [format!("key {}", cert.public_z85())]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// zmqio CURVE client -> pyzmq CURVE server, whose ThreadAuthenticator admits the client
/// certificate zmqio wrote; the client uses the server certificate pyzmq wrote.
#[test]
fn zmqio_curve_client_to_pyzmq_server() {
    run("zmqio_curve_client_to_pyzmq_server", async {
        if !has_curve() {
            assert_curve_refusal(
                zmqio::create_zmq_stream(zmq::REQ)
                    .setsockopt(opt::CurveServerKey, vec![0; 32])
                    .connect("tcp://127.0.0.1:9")
                    .await,
            );
            return;
        }
        let dir = scratch("rs-client");
        let py_server = subdir(&dir, "py");
        let rs_clients = subdir(&dir, "clients");
        py(&["create", path(&py_server), "server"]);
        zmqio::auth::create_certificates(&rs_clients, "client").unwrap();

        let mut peer = Peer::spawn(&[
            "server",
            path(&py_server.join("server.key_secret")),
            path(&rs_clients),
        ]);
        let line = peer.line().await;
        let endpoint = line.strip_prefix("endpoint ").expect("endpoint line");
        let server = Certificate::load(py_server.join("server.key")).unwrap();
        let me = Certificate::load(rs_clients.join("client.key_secret")).unwrap();
        let mut req = zmqio::create_zmq_stream(zmq::REQ)
            .setsockopt(opt::Linger, 0)
            .setsockopt(opt::CurveServerKey, server.public_key.to_vec())
            .setsockopt(opt::CurvePublicKey, me.public_key.to_vec())
            .setsockopt(opt::CurveSecretKey, me.secret_key.unwrap().to_vec())
            .connect(endpoint)
            .await
            .unwrap();
        assert_eq!(
            req.transport().getsockopt(opt::Mechanism).unwrap(),
            zmq::Mechanism::ZMQ_CURVE
        );
        req.write(["hello from zmqio"]).unwrap();
        assert_eq!(
            req.read().await.unwrap(),
            Multipart::from(["hello from zmqio"])
        );
        peer.finish().await;
        req.close();
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

/// pyzmq CURVE client -> zmqio CURVE server, whose authenticator admits the client
/// certificates pyzmq wrote (read from their directory); the pyzmq client uses the server
/// certificate zmqio wrote. A pyzmq client with another key is refused.
#[test]
fn pyzmq_curve_client_to_zmqio_server() {
    run("pyzmq_curve_client_to_zmqio_server", async {
        let ctx = zmq::Context::new();
        let auth = zmqio::start_authenticator(&ctx).await.unwrap();
        if !has_curve() {
            assert_curve_refusal(
                zmqio::create_zmq_stream(zmq::REP)
                    .context(ctx.clone())
                    .setsockopt(opt::CurveServer, true)
                    .bind("tcp://127.0.0.1:*")
                    .await,
            );
            auth.stop().await;
            return;
        }
        let dir = scratch("rs-server");
        let rs_server = subdir(&dir, "rs");
        let py_clients = subdir(&dir, "clients");
        let py_other = subdir(&dir, "other");
        zmqio::auth::create_certificates(&rs_server, "server").unwrap();
        py(&["create", path(&py_clients), "client"]);
        py(&["create", path(&py_other), "stranger"]);
        auth.configure_curve("*", CurveAllow::from_directory(&py_clients).unwrap());

        let server = Certificate::load(rs_server.join("server.key_secret")).unwrap();
        let mut rep = zmqio::create_zmq_stream(zmq::REP)
            .context(ctx.clone())
            .setsockopt(opt::CurveServer, true)
            .setsockopt(opt::CurveSecretKey, server.secret_key.unwrap().to_vec())
            .bind("tcp://127.0.0.1:*")
            .await
            .unwrap();
        rep.transport()
            .enable_monitor(Some(MonitorEvent::HandshakeFailedAuth.into()))
            .await
            .unwrap();
        let endpoint = rep.transport().bindings().into_iter().next().unwrap();
        let server_public = rs_server.join("server.key");

        // The stranger first: refused, and the monitor says so with status 400.
        let stranger = Peer::spawn(&[
            "client",
            path(&server_public),
            path(&py_other.join("stranger.key_secret")),
            &endpoint,
        ]);
        let e = rep.read_event().await.unwrap();
        assert_eq!((e.event, e.value), (MonitorEvent::HandshakeFailedAuth, 400));
        let mut stranger = stranger;
        // It would wait for a reply that never comes: end it.
        let _ = stranger.stderr();
        assert_eq!(auth.accepted(), 0);

        let peer = Peer::spawn(&[
            "client",
            path(&server_public),
            path(&py_clients.join("client.key_secret")),
            &endpoint,
        ]);
        let msg = rep.read().await.unwrap();
        assert_eq!(msg, Multipart::from(["hello from pyzmq"]));
        rep.write(msg).unwrap();
        peer.finish().await;
        assert_eq!(auth.accepted(), 1);
        assert!(auth.refused() >= 1);
        rep.close();
        rep.transport().wait_closed().await;
        auth.stop().await;
        std::fs::remove_dir_all(&dir).unwrap();
    });
}
