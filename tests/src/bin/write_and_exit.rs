//! A program that writes and exits, for the end-of-program test (`tests/end_of_program.rs`).
//!
//! `write_and_exit <runtime> <endpoint> <count>`: on `runtime` (`tokio`, `tokio-current`,
//! `smol` or `async-std`), connects a PUSH stream to `endpoint`, writes `count` messages
//! (`"0"`, `"1"`, ...), calls `shutdown`, checks that new sockets still work afterwards (in
//! a fresh process-wide context), shuts down again and returns from `main`. Exit status 0 when the
//! shutdown succeeded, 1 on any error (printed), 2 on bad arguments.

use std::process::ExitCode;
use std::time::Duration;

/// The bound given to `shutdown`.
const LIMIT: Duration = Duration::from_secs(30);

macro_rules! write_then_shutdown {
    ($zmqio:ident, $endpoint:expr, $count:expr) => {
        async {
            let push = $zmqio::create_zmq_stream($zmqio::zmq::PUSH)
                .connect($endpoint)
                .await?;
            for i in 0..$count {
                push.write([i.to_string()])?;
            }
            $zmqio::shutdown(LIMIT).await?;
            if !push.at_closing() {
                return Err($zmqio::Error::InvalidState(
                    "the shutdown left a stream open".into(),
                ));
            }
            // After a shutdown, new sockets work, in a fresh process-wide context.
            let mut pull = $zmqio::create_zmq_stream($zmqio::zmq::PULL)
                .bind("inproc://after-shutdown")
                .await?;
            let push = $zmqio::create_zmq_stream($zmqio::zmq::PUSH)
                .connect("inproc://after-shutdown")
                .await?;
            push.write(["again"])?;
            if &pull.read().await?[0][..] != b"again" {
                return Err($zmqio::Error::InvalidState(
                    "wrong message after shutdown".into(),
                ));
            }
            $zmqio::shutdown(LIMIT).await
        }
    };
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [runtime, endpoint, count] = args.as_slice() else {
        eprintln!("usage: write_and_exit <runtime> <endpoint> <count>");
        return ExitCode::from(2);
    };
    let Ok(count) = count.parse::<u64>() else {
        eprintln!("not a count: {count}");
        return ExitCode::from(2);
    };
    let endpoint = endpoint.as_str();
    let result = match runtime.as_str() {
        "tokio" => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(write_then_shutdown!(zmqio_tokio, endpoint, count)),
        "tokio-current" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(write_then_shutdown!(zmqio_tokio, endpoint, count)),
        "smol" => smol::block_on(write_then_shutdown!(zmqio_smol, endpoint, count)),
        "async-std" => {
            async_std::task::block_on(write_then_shutdown!(zmqio_async_std, endpoint, count))
        }
        other => {
            eprintln!("unknown runtime: {other}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("write_and_exit: {e}");
            ExitCode::FAILURE
        }
    }
}
