//! Which runtime the facade's root entry points run on, for every combination of runtime
//! features (CI checks and tests the combinations): smol, else async-std, else tokio.
#![cfg(any(feature = "tokio", feature = "smol", feature = "async-std"))]

use std::future::Future;
use std::time::Duration;

use zmqio::SocketType;

/// The runtime the features say the root must use.
const EXPECTED: &str = if cfg!(feature = "smol") {
    "smol"
} else if cfg!(feature = "async-std") {
    "async-std"
} else {
    "tokio"
};

/// Runs `fut` on the runtime named `name`, failing after a watchdog of 30 s.
fn block_on_runtime<F: Future<Output = ()> + Send + 'static>(name: &str, fut: F) {
    let (tx, rx) = std::sync::mpsc::channel();
    let name = name.to_owned();
    std::thread::spawn(move || {
        match name.as_str() {
            "tokio" => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime")
                .block_on(fut),
            "smol" => smol::block_on(fut),
            "async-std" => async_std::task::block_on(fut),
            other => panic!("unknown runtime {other}"),
        }
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the bounce finished in time (a wrong runtime hangs or panics)");
}

/// A PUSH/PULL bounce over tcp through the root's entry points.
async fn bounce_through_the_root() {
    let mut pull = zmqio::create_zmq_stream(SocketType::PULL)
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap();
    let endpoint = zmqio::resolve_endpoint(&pull.bound_endpoint().unwrap())
        .await
        .unwrap();
    let push = zmqio::create_zmq_stream(SocketType::PUSH)
        .connect(endpoint)
        .await
        .unwrap();
    push.write("ping").unwrap();
    assert_eq!(pull.read().await.unwrap()[0], "ping");
}

#[test]
fn the_root_runs_on_the_documented_runtime() {
    assert_eq!(zmqio::RUNTIME, EXPECTED);
    block_on_runtime(EXPECTED, bounce_through_the_root());
}

#[cfg(feature = "tokio")]
#[test]
fn the_tokio_module_runs_on_tokio() {
    block_on_runtime("tokio", async {
        let s = zmqio::tokio::create_zmq_stream(SocketType::PAIR)
            .bind("inproc://facade-tokio")
            .await
            .unwrap();
        assert_eq!(s.bound_endpoint().as_deref(), Some("inproc://facade-tokio"));
    });
}

#[cfg(feature = "smol")]
#[test]
fn the_smol_module_runs_on_smol() {
    block_on_runtime("smol", async {
        let s = zmqio::smol::create_zmq_stream(SocketType::PAIR)
            .bind("inproc://facade-smol")
            .await
            .unwrap();
        assert_eq!(s.bound_endpoint().as_deref(), Some("inproc://facade-smol"));
    });
}

#[cfg(feature = "async-std")]
#[test]
fn the_async_std_module_runs_on_async_std() {
    block_on_runtime("async-std", async {
        let s = zmqio::async_std::create_zmq_stream(SocketType::PAIR)
            .bind("inproc://facade-async-std")
            .await
            .unwrap();
        assert_eq!(
            s.bound_endpoint().as_deref(),
            Some("inproc://facade-async-std")
        );
    });
}
